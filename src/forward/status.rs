//! What a forwarder is doing, per destination: state, counts and lag.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::record::TenantId;

/// What a route is doing now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteState {
    /// Not started yet.
    Starting,
    /// Another forwarder holds this destination's lease; this one waits to take over.
    Standby,
    /// Delivering records that are behind the head.
    CatchingUp,
    /// Caught up with every tenant's head, polling for more.
    Following,
    /// The last attempt failed and the batch will be retried.
    Retrying {
        /// Failed attempts of this batch so far.
        attempt: u32,
        /// The last failure.
        reason: String,
    },
    /// A record was rejected and the route is set to [`OnReject::Block`](super::OnReject):
    /// it retries that record and delivers nothing after it.
    Blocked {
        /// The record's tenant.
        tenant: TenantId,
        /// The record's seq.
        seq: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// A retention purge removed records of a tenant before this route delivered them, and
    /// the route is set to [`OnPurged::Hold`](super::OnPurged): it delivers nothing more of
    /// that tenant (the others go on) until an operator decides. Shown while nothing else is
    /// in progress; [`DestinationStatus::gaps`] lists every gap.
    Held {
        /// The (first) gap that holds the route.
        gap: PurgeGap,
    },
    /// The store or the cursor store failed; the route retries.
    Error {
        /// What failed.
        reason: String,
    },
    /// Stopped.
    Stopped,
}

/// Records a retention purge removed before a route delivered them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeGap {
    /// The tenant.
    pub tenant: TenantId,
    /// The first seq removed before delivery (the one after the route's cursor).
    pub first: u64,
    /// The last seq removed (the trail's anchor).
    pub last: u64,
    /// The seq of the `audit.purged` record that removed them, when found.
    pub purge_record: Option<u64>,
    /// Whether the route skipped the gap ([`OnPurged::Skip`](super::OnPurged): recorded as a
    /// dead letter) or holds the tenant before it.
    pub skipped: bool,
}

impl std::fmt::Display for PurgeGap {
    /// `acme#6..=100 removed by a retention purge (audit.purged #121) before delivery`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}#{}..={} removed by a retention purge",
            self.tenant, self.first, self.last
        )?;
        if let Some(seq) = self.purge_record {
            write!(f, " (audit.purged #{seq})")?;
        }
        f.write_str(" before delivery")
    }
}

/// One tenant's position on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TenantPosition {
    /// The last settled seq (delivered or dead-lettered).
    pub cursor: u64,
    /// The tenant's head when last looked at.
    pub head: u64,
}

/// A route's status: a snapshot, taken by [`StatusHandle::snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DestinationStatus {
    /// The route's name.
    pub name: String,
    /// What it is doing.
    #[serde(flatten)]
    pub state: RouteState,
    /// Records delivered since this forwarder started (redeliveries count again).
    pub delivered: u64,
    /// Failed delivery attempts since this forwarder started.
    pub failed_attempts: u64,
    /// Records set aside as dead letters since this forwarder started.
    pub dead_lettered: u64,
    /// Records behind the heads (sum over tenants), as of the last look at the heads.
    pub lag_records: u64,
    /// Age of the oldest record not yet delivered, in seconds (its `occurred_at` to now;
    /// 0 when caught up).
    pub lag_seconds: f64,
    /// When a batch was last delivered.
    pub last_delivery: Option<DateTime<Utc>>,
    /// The last error, delivery or store, kept after recovery for the operator.
    pub last_error: Option<String>,
    /// Cursor and head per tenant.
    pub tenants: BTreeMap<TenantId, TenantPosition>,
    /// Records removed by a retention purge before this route delivered them, found since
    /// this forwarder started: held ([`RouteState::Held`]) or skipped.
    pub gaps: Vec<PurgeGap>,
}

impl DestinationStatus {
    pub(crate) fn new(name: &str) -> Self {
        DestinationStatus {
            name: name.to_owned(),
            state: RouteState::Starting,
            delivered: 0,
            failed_attempts: 0,
            dead_lettered: 0,
            lag_records: 0,
            lag_seconds: 0.0,
            last_delivery: None,
            last_error: None,
            tenants: BTreeMap::new(),
            gaps: Vec::new(),
        }
    }

    /// One line for a terminal: `siem following delivered=120 failed=0 dead=0 lag=0 (0.0s)`,
    /// with `gaps=N` after it when a purge removed records before delivery.
    pub fn line(&self) -> String {
        let state = match &self.state {
            RouteState::Starting => "starting".to_owned(),
            RouteState::Standby => "standby".to_owned(),
            RouteState::CatchingUp => "catching-up".to_owned(),
            RouteState::Following => "following".to_owned(),
            RouteState::Retrying { attempt, .. } => format!("retrying(attempt {attempt})"),
            RouteState::Blocked { tenant, seq, .. } => format!("blocked({tenant}#{seq})"),
            RouteState::Held { gap } => {
                format!("held({}#{}..={})", gap.tenant, gap.first, gap.last)
            }
            RouteState::Error { .. } => "error".to_owned(),
            RouteState::Stopped => "stopped".to_owned(),
        };
        let mut line = format!(
            "{} {} delivered={} failed={} dead={} lag={} ({:.1}s)",
            self.name,
            state,
            self.delivered,
            self.failed_attempts,
            self.dead_lettered,
            self.lag_records,
            self.lag_seconds
        );
        if !self.gaps.is_empty() {
            line.push_str(&format!(" gaps={}", self.gaps.len()));
        }
        line
    }
}

/// A cheap, cloneable view of a forwarder's routes, usable while it runs (from another
/// task or thread): for a status line, a health endpoint, metrics.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle {
    slots: Arc<Mutex<Vec<Arc<Mutex<DestinationStatus>>>>>,
}

impl StatusHandle {
    pub(crate) fn add(&self, name: &str) -> Arc<Mutex<DestinationStatus>> {
        let slot = Arc::new(Mutex::new(DestinationStatus::new(name)));
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot.clone());
        slot
    }

    /// Every route's status, in the order routes were added.
    pub fn snapshot(&self) -> Vec<DestinationStatus> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// One route's status by name.
    pub fn get(&self, name: &str) -> Option<DestinationStatus> {
        self.snapshot().into_iter().find(|s| s.name == name)
    }
}
