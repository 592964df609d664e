//! Exponential backoff with jitter, for retrying a destination that is down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long to wait before retry number `attempt` (0 for the first retry): exponential
/// growth from `initial` by `multiplier`, capped at `max`, with "equal jitter": the wait is
/// drawn uniformly from `[d/2, d]` where `d` is the capped exponential delay.
///
/// Jitter keeps many forwarders that lost one receiver at once from retrying in lockstep;
/// the lower half keeps the growth (a retry never comes sooner than half the nominal delay).
///
/// ```
/// use std::time::Duration;
/// use audit_log::forward::Backoff;
///
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
/// for attempt in 0..20 {
///     let d = b.delay(attempt);
///     let nominal = b.nominal(attempt);
///     assert!(d >= nominal / 2 && d <= nominal);
///     assert!(nominal <= Duration::from_secs(10));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[must_use]
pub struct Backoff {
    /// The nominal delay of the first retry.
    #[serde(with = "millis")]
    pub initial: Duration,
    /// The longest nominal delay.
    #[serde(with = "millis")]
    pub max: Duration,
    /// The growth factor per attempt (at least 1).
    pub multiplier: f64,
}

impl Default for Backoff {
    /// 200 ms, doubling, at most 30 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            multiplier: 2.0,
        }
    }
}

impl Backoff {
    /// Doubling from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
        }
    }

    /// Sets the growth factor (values below 1 count as 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 2.0 };
        self
    }

    /// The capped exponential delay of retry `attempt`, before jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let m = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            2.0
        };
        let max = self.max.max(self.initial).as_secs_f64();
        let d = self.initial.as_secs_f64() * m.powi(attempt.min(1024) as i32);
        Duration::from_secs_f64(if d.is_finite() { d.min(max) } else { max })
    }

    /// The delay of retry `attempt`, with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let d = self.nominal(attempt);
        let half = d / 2;
        // A fraction in [0, 1] from 53 random bits.
        let f = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        half + (d - half).mul_f64(f)
    }
}

/// A xorshift generator seeded from the clock and a counter: jitter only needs to differ
/// between processes and calls, not to be unpredictable.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ (u64::from(std::process::id()) << 32)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// Serde for durations as whole milliseconds, the unit configuration files use.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(1000));
        assert_eq!(b.nominal(0), Duration::from_millis(10));
        assert_eq!(b.nominal(1), Duration::from_millis(20));
        assert_eq!(b.nominal(3), Duration::from_millis(80));
        assert_eq!(b.nominal(30), Duration::from_millis(1000));
        assert_eq!(b.nominal(u32::MAX), Duration::from_millis(1000));
        let draws: Vec<Duration> = (0..50).map(|_| b.delay(5)).collect();
        assert!(draws
            .iter()
            .all(|d| *d >= Duration::from_millis(160) && *d <= Duration::from_millis(320)));
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(distinct.len() > 10, "jitter varies the delay: {distinct:?}");
    }

    #[test]
    fn silly_multipliers_are_tamed() {
        let b =
            Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).multiplier(f64::NAN);
        assert_eq!(b.nominal(1), Duration::from_millis(20));
        let b = b.multiplier(0.1);
        assert_eq!(b.nominal(5), Duration::from_millis(10));
    }
}
