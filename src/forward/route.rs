//! A [`Route`]: one destination with its name (the cursor key), format, start position,
//! batching, retry and rejection policy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::destination::Destination;
use super::format::{Format, Product};
use super::retry::Backoff;
use crate::record::TenantId;

/// Where a destination starts the first time it runs (later runs continue from its cursors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Start {
    /// Only records appended after the destination first started: tenants that exist then
    /// start at their head; a tenant that appears later (all its records are newer) starts
    /// at its beginning.
    #[default]
    Now,
    /// Every record, from the start of each trail (its anchor after a purge).
    Beginning,
    /// Backfill from this seq in every tenant (records before it are skipped).
    Seq(u64),
    /// Backfill from the first record at or after this time, in every tenant.
    Time(#[serde(with = "crate::record::micros")] DateTime<Utc>),
}

/// What happens to a record that a destination refuses for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnReject {
    /// Stored as a [`DeadLetter`](super::DeadLetter) with the reason, in the cursor store
    /// (atomically with moving the cursor past it), and the records after it go on. The
    /// default.
    #[default]
    DeadLetter,
    /// Retried with backoff until the destination takes it: nothing is ever skipped, and
    /// nothing after it is delivered meanwhile (the route's status says `blocked`).
    Block,
}

/// What a route does when a retention purge removed records it had not delivered yet (its
/// cursor is behind the trail's [anchor](crate::AuditStore::anchor)): those records are gone
/// from the store, so "every record delivered" cannot hold for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnPurged {
    /// Deliver nothing more of that tenant (the other tenants go on): its cursor stays
    /// before the gap, the route's status shows it ([`RouteState::Held`](super::RouteState),
    /// [`DestinationStatus::gaps`](super::DestinationStatus), the last error), and a restart
    /// finds it again. An operator decides: restart the route with [`OnPurged::Skip`], or
    /// recover the records from a backup or an export first. The default: a loss is never
    /// passed over without a word.
    #[default]
    Hold,
    /// Record the gap, with the purged range and the purge's own record, as a
    /// [`DeadLetter`](super::DeadLetter) (`purged_from`), atomically with moving the cursor
    /// past it; list it in the status; and go on with the records that remain.
    Skip,
}

/// Which tenants a route forwards.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tenants {
    /// Every tenant of the store, including ones that appear while the forwarder runs.
    #[default]
    All,
    /// Only these.
    Only(Vec<TenantId>),
}

/// One destination and how to feed it. Build with [`Route::new`] and the setters.
///
/// ```
/// use std::time::Duration;
/// use audit_log::forward::{Format, JsonLinesFile, OnReject, Route, Start};
///
/// let route = Route::new("lake", JsonLinesFile::new("/var/log/app/audit"))
///     .format(Format::Record)
///     .start(Start::Beginning)
///     .batch_size(1000)
///     .on_reject(OnReject::Block)
///     .attempt_timeout(Duration::from_secs(10));
/// # let _ = route;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Route {
    pub(crate) name: String,
    pub(crate) destination: Arc<dyn Destination>,
    pub(crate) format: Format,
    pub(crate) product: Product,
    pub(crate) start: Start,
    pub(crate) batch_size: usize,
    pub(crate) on_reject: OnReject,
    pub(crate) on_purged: OnPurged,
    pub(crate) backoff: Backoff,
    pub(crate) attempt_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) tenants: Tenants,
}

impl Route {
    /// A route named `name` (1 to 64 of `A-Z a-z 0-9 . _ -`: the key of its cursors, so keep
    /// it stable) to `destination`, with the defaults: [`Format::Record`], [`Start::Now`],
    /// batches of 500, [`OnReject::DeadLetter`], [`OnPurged::Hold`], [`Backoff::default`],
    /// 30 s per attempt, polling the store every 100 ms, every tenant.
    pub fn new(name: impl Into<String>, destination: impl Destination) -> Self {
        Self::with_arc(name, Arc::new(destination))
    }

    /// [`Route::new`] with a destination already shared.
    pub fn with_arc(name: impl Into<String>, destination: Arc<dyn Destination>) -> Self {
        Route {
            name: name.into(),
            destination,
            format: Format::default(),
            product: Product::default(),
            start: Start::default(),
            batch_size: 500,
            on_reject: OnReject::default(),
            on_purged: OnPurged::default(),
            backoff: Backoff::default(),
            attempt_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            tenants: Tenants::default(),
        }
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How each record is encoded.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Who the events say produced them (CEF header, OCSF product, CloudEvents type).
    pub fn product(mut self, product: Product) -> Self {
        self.product = product;
        self
    }

    /// Where the route starts the first time it runs.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// The most records per delivery (at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// What to do with a record the destination refuses for good.
    pub fn on_reject(mut self, policy: OnReject) -> Self {
        self.on_reject = policy;
        self
    }

    /// What to do when a retention purge removed records the route had not delivered yet.
    pub fn on_purged(mut self, policy: OnPurged) -> Self {
        self.on_purged = policy;
        self
    }

    /// The retry delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long one delivery attempt may take before it counts as a transient failure.
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// How often the store is polled for new records when caught up.
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d.max(Duration::from_millis(1));
        self
    }

    /// Which tenants to forward.
    pub fn tenants(mut self, tenants: Tenants) -> Self {
        self.tenants = tenants;
        self
    }
}
