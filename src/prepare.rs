//! Preparing a record: everything that happens before a store sees it (see [`Preparer`]).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::canonical::encode_body;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::limits::Limits;
use crate::record::{truncate_to_micros, Actor, Context, Outcome, TenantId, RECORD_FORMAT_VERSION};
use crate::redact::RedactionPolicy;
use crate::sink::PreparedRecord;

/// Where a [`Preparer`]'s timestamps come from. Inject one in tests to control time.
///
/// The clock stamps every record a host records, and the records a store writes about itself
/// through the host's preparer (`audit.purged`, `audit.exported`).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; clones share the time.
///
/// ```
/// use audit_log::{Clock, ManualClock};
/// use chrono::{Duration, TimeZone, Utc};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap());
/// clock.advance(Duration::minutes(5));
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 1, 9, 5, 0).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Moves the time forward (or back, with a negative duration).
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One record to be: an event with its actor, outcome, context and tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Entry {
    /// What happened.
    pub event: Event,
    /// Who did it.
    pub actor: Actor,
    /// Whether it succeeded (default: success).
    pub outcome: Outcome,
    /// Where from and why.
    pub context: Context,
    /// The tenant; `None` uses the log's default tenant.
    pub tenant: Option<TenantId>,
}

impl Entry {
    /// A successful `event` by `actor`, with an empty context, in the log's default tenant.
    pub fn new(actor: Actor, event: impl Into<Event>) -> Self {
        Entry {
            event: event.into(),
            actor,
            outcome: Outcome::Success,
            context: Context::default(),
            tenant: None,
        }
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Sets the context.
    pub fn context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// Preparing a record: everything that happens before a store sees it.
///
/// A [`Preparer`] stamps an [`Entry`] (a UUIDv7 id and the time from its [`Clock`], the
/// tenant), applies the [`RedactionPolicy`], checks it against the [`Limits`] and encodes it
/// canonically, giving a [`PreparedRecord`] that any store appends by assigning its seq and
/// linking it into the chain. It knows no store: [`AuditLog`](crate::AuditLog) is a preparer
/// plus a store, and code that appends in its own way (inside a host's transaction with
/// [`SqliteSink::append_in`](crate::SqliteSink::append_in), a retention purge, a test suite)
/// uses a preparer directly.
///
/// ```
/// use audit_log::{Actor, EntityRef, Entry, Event, ManualClock, Preparer};
/// use chrono::{TimeZone, Utc};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap());
/// let preparer = Preparer::new().clock(clock).tenant("acme");
/// let record = preparer.prepare(Entry::new(Actor::system(), Event::user_deleted(EntityRef::new(42, "bob"))))?;
/// assert_eq!(record.tenant().as_str(), "acme");
/// assert_eq!(record.occurred_at(), Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap());
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// Configured by value (`Preparer::new().clock(..).tenant(..)`); cheap to clone.
#[derive(Clone)]
#[must_use]
pub struct Preparer {
    clock: Arc<dyn Clock>,
    tenant: TenantId,
    redaction: RedactionPolicy,
    limits: Limits,
}

impl Default for Preparer {
    fn default() -> Self {
        Preparer {
            clock: Arc::new(SystemClock),
            tenant: TenantId::default(),
            redaction: RedactionPolicy::default(),
            limits: Limits::default(),
        }
    }
}

impl fmt::Debug for Preparer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Preparer")
            .field("clock", &self.clock)
            .field("tenant", &self.tenant)
            .field("redaction", &self.redaction)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Preparer {
    /// The defaults: the [`SystemClock`], tenant `"default"`, [`RedactionPolicy::default`],
    /// [`Limits::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `clock` for timestamps.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Uses a clock that is already shared.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Prepares into `tenant` when an entry names none (default: `"default"`).
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Uses this redaction policy.
    pub fn redaction(mut self, policy: RedactionPolicy) -> Self {
        self.redaction = policy;
        self
    }

    /// Uses these input limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The tenant used when an entry names none.
    pub fn default_tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The input limits entries are checked against.
    pub fn input_limits(&self) -> &Limits {
        &self.limits
    }

    /// The time now on this preparer's clock, to the microsecond the trail keeps: what it
    /// stamps on a record prepared at this moment.
    pub fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(self.clock.now())
    }

    /// Stamps, redacts, checks and encodes one entry.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field when the entry breaks the limits.
    pub fn prepare(&self, entry: Entry) -> Result<PreparedRecord> {
        self.prepare_checked(entry, true)
    }

    /// [`prepare`](Self::prepare) for a batch, checking its size first.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a batch over [`Limits::max_batch`] or an invalid entry,
    /// whose field path then starts with `batch[i]`.
    pub fn prepare_batch(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<PreparedRecord>> {
        let mut out = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            if i >= self.limits.max_batch {
                return Err(Error::invalid(
                    "batch",
                    format!("more than {} entries", self.limits.max_batch),
                ));
            }
            out.push(self.prepare(entry).map_err(|e| match e {
                Error::InvalidInput { field, reason } => Error::InvalidInput {
                    field: format!("batch[{i}].{field}"),
                    reason,
                },
                other => other,
            })?);
        }
        Ok(out)
    }

    /// [`prepare`](Self::prepare) for a record the crate writes about the trail itself
    /// (`audit.purged`, `audit.exported`), which hosts may not record: the envelope is
    /// checked, the event's origin is not.
    pub(crate) fn prepare_store_event(&self, entry: Entry) -> Result<PreparedRecord> {
        self.prepare_checked(entry, false)
    }

    fn prepare_checked(&self, entry: Entry, host_event: bool) -> Result<PreparedRecord> {
        let Preparer {
            clock,
            tenant: default_tenant,
            redaction,
            limits,
        } = self;
        let Entry {
            mut event,
            mut actor,
            outcome,
            mut context,
            tenant,
        } = entry;
        let tenant = tenant.unwrap_or_else(|| default_tenant.clone());
        // Identifiers are checked; display text is kept, or cut and marked (`crate::text`).
        limits.check_tenant(&tenant)?;
        limits.admit_actor(&mut actor)?;
        limits.admit_context(&mut context)?;
        if host_event {
            limits.admit_event(&mut event)?;
        }
        redaction.apply(&mut event);

        let occurred_at = truncate_to_micros(clock.now());
        let micros = occurred_at.timestamp_micros();
        let id = new_v7(occurred_at)?;
        let body = encode_body(
            &tenant,
            &id,
            micros,
            &actor,
            outcome,
            &context,
            RECORD_FORMAT_VERSION,
            &event,
        );
        // A record the crate writes about the trail (a purge's state snapshot can be megabytes
        // for a large directory) is bounded by what it describes, not by the host's limit.
        if host_event {
            limits.check_size(body.len())?;
        }
        Ok(PreparedRecord {
            id,
            occurred_at,
            tenant,
            actor,
            event,
            event_value: OnceLock::new(),
            outcome,
            context,
            schema_version: RECORD_FORMAT_VERSION,
            body,
        })
    }
}

/// A UUIDv7 from the preparer's clock, so ids sort with `occurred_at` even under a test clock.
///
/// Its 74 random bits come from the operating system for every id. A generator seeded once
/// per thread would save the system call (about a tenth of recording into memory), but
/// `rand`'s no longer reseeds after `fork`: a host that records and then forks workers would
/// have them draw the same bits and, within a millisecond, the same ids. Asking `getrandom`
/// here (not through `uuid`, whose `fast-rng` feature any crate in the host's tree may turn
/// on) keeps that so, and turns the OS's refusal into an error instead of `uuid`'s panic.
fn new_v7(t: DateTime<Utc>) -> Result<Uuid> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "the operating system gave no random bits for a record's id: {e}"
        )))
    })?;
    let millis = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    Ok(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntityRef;

    #[test]
    fn the_clock_stamps_records_to_the_microsecond() {
        use chrono::TimeZone;
        let t = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
        let p = Preparer::new().clock(ManualClock::new(t));
        let r = p
            .prepare(Entry::new(
                Actor::system(),
                Event::user_deleted(EntityRef::id_only(1)),
            ))
            .unwrap();
        assert_eq!(r.occurred_at().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(p.now(), r.occurred_at());
        let (secs, _) = r.id().get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_800_000_000);
        assert_eq!(r.id().get_version_num(), 7);
    }

    /// Ids made in the same microsecond still differ (their random bits), and each is a
    /// version 7, RFC 9562 variant UUID carrying the clock's millisecond.
    #[test]
    fn ids_of_one_instant_differ_and_are_version_7() {
        use chrono::TimeZone;
        let t = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
        let p = Preparer::new().clock(ManualClock::new(t));
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1_000 {
            let e = Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(1)));
            let id = p.prepare(e).unwrap().id();
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
            assert_eq!((secs, nanos), (1_800_000_000, 123_000_000));
            ids.insert(id);
        }
        assert_eq!(ids.len(), 1_000);
    }

    #[test]
    fn an_invalid_entry_in_a_batch_names_its_index() {
        let a = Actor::system();
        let err = Preparer::new()
            .prepare_batch([
                Entry::new(a.clone(), Event::user_deleted(EntityRef::new(1, "ok"))),
                Entry::new(a, Event::user_deleted(EntityRef::new("", "bad"))),
            ])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid batch[1].event.user.id: must not be empty"
        );
    }
}
