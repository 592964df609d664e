//! `AuditLog`: the front door hosts call at every administrative change.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::chain::encode_body;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::limits::Limits;
use crate::query::Query;
use crate::record::{
    truncate_to_micros, Actor, Context, Outcome, Receipt, TenantId, SCHEMA_VERSION,
};
use crate::redact::RedactionPolicy;
use crate::sink::{AuditSink, PreparedRecord};

/// Where the log's timestamps come from. Inject one in tests to control time.
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

/// Builds an [`AuditLog`].
#[must_use]
pub struct AuditLogBuilder {
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
    redaction: RedactionPolicy,
    limits: Limits,
}

impl fmt::Debug for AuditLogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogBuilder")
            .field("sink", &self.sink)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl AuditLogBuilder {
    /// Uses `clock` for timestamps (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Records into `tenant` when an entry names none (default: `"default"`).
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Uses this redaction policy (default: [`RedactionPolicy::default`]).
    pub fn redaction(mut self, policy: RedactionPolicy) -> Self {
        self.redaction = policy;
        self
    }

    /// Uses these input limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The log.
    pub fn build(self) -> AuditLog {
        AuditLog {
            inner: Arc::new(Inner {
                sink: self.sink,
                clock: self.clock,
                tenant: self.tenant,
                redaction: self.redaction,
                limits: self.limits,
            }),
        }
    }
}

struct Inner {
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
    redaction: RedactionPolicy,
    limits: Limits,
}

/// The front door: records events into a store.
///
/// Cheap to clone (an `Arc`), `Send + Sync`: build one at start-up and hand clones to every
/// part of the host. Each call stamps the record (UUIDv7 id, time from the clock, tenant),
/// applies the redaction policy, validates it against the limits and appends it; the store
/// assigns its seq and chains it.
///
/// ```
/// use audit_log::{Actor, AuditLog, Context, EntityRef, Event, MemorySink, Scope, PermissionGroupRef};
///
/// let log = AuditLog::builder(MemorySink::new()).build();
/// let admin = Actor::user(1, "root");
///
/// // One line per call site, with a scoped handle per request:
/// let req = log.scoped(admin).with_context(Context::new().request_id("req-1"));
/// let payroll = EntityRef::new(3, "Payroll");
/// let finance = EntityRef::new(1, "Finance");
/// req.record(Event::application_created(payroll.clone(), finance.clone()))?;
/// let editors = PermissionGroupRef::new(9, "Payroll editors", Scope::application(payroll, finance));
/// let receipt = req.record(Event::permission_user_added(EntityRef::new(42, "alice"), editors))?;
/// assert_eq!(receipt.seq, 2);
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("sink", &self.inner.sink)
            .field("tenant", &self.inner.tenant)
            .field("clock", &self.inner.clock)
            .field("redaction", &self.inner.redaction)
            .finish()
    }
}

impl AuditLog {
    /// Starts building a log that appends to `sink`.
    pub fn builder(sink: impl AuditSink) -> AuditLogBuilder {
        Self::builder_arc(Arc::new(sink))
    }

    /// Starts building a log over a sink that is already shared.
    pub fn builder_arc(sink: Arc<dyn AuditSink>) -> AuditLogBuilder {
        AuditLogBuilder {
            sink,
            clock: Arc::new(SystemClock),
            tenant: TenantId::default(),
            redaction: RedactionPolicy::default(),
            limits: Limits::default(),
        }
    }

    /// The tenant used when an entry names none.
    pub fn default_tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The sink records go to.
    pub fn sink(&self) -> &Arc<dyn AuditSink> {
        &self.inner.sink
    }

    /// `query` with its tenant set to this log's default tenant when it names none.
    pub fn query(&self, query: Query) -> Query {
        if query.tenant.is_some() {
            query
        } else {
            query.tenant(self.inner.tenant.clone())
        }
    }

    /// Records a successful `event` by `actor`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field when the entry breaks the limits (nothing is
    /// written); the store's errors otherwise.
    pub fn record(&self, actor: &Actor, event: impl Into<Event>) -> Result<Receipt> {
        self.record_entry(Entry::new(actor.clone(), event))
    }

    /// Records one entry.
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record_entry(&self, entry: Entry) -> Result<Receipt> {
        let prepared = self.prepare(entry)?;
        let mut receipts = self.inner.sink.append(vec![prepared])?;
        receipts
            .pop()
            .ok_or_else(|| Error::store("sink", "append returned no receipt"))
    }

    /// Records several entries atomically: all or none.
    ///
    /// # Errors
    /// As [`AuditLog::record`]; an invalid entry anywhere in the batch fails the whole batch
    /// before anything is written, and its field path starts with `batch[i]`.
    pub fn record_batch(&self, entries: impl IntoIterator<Item = Entry>) -> Result<Vec<Receipt>> {
        let prepared = self.prepare_batch(entries)?;
        self.inner.sink.append(prepared)
    }

    /// Stamps, redacts, validates and encodes an entry without appending it: for stores that
    /// append inside a host's own transaction.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field.
    pub fn prepare(&self, entry: Entry) -> Result<PreparedRecord> {
        self.prepare_checked(entry, true)
    }

    /// [`prepare`](Self::prepare) for a record a store writes about itself (`audit.purged`),
    /// which hosts may not record: the envelope is checked, the event's origin is not.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn prepare_store_event(&self, entry: Entry) -> Result<PreparedRecord> {
        self.prepare_checked(entry, false)
    }

    fn prepare_checked(&self, entry: Entry, host_event: bool) -> Result<PreparedRecord> {
        let Inner {
            clock,
            tenant: default_tenant,
            redaction,
            limits,
            ..
        } = &*self.inner;
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
        let id = new_v7(occurred_at);
        let body = encode_body(
            &tenant,
            &id,
            micros,
            &actor,
            outcome,
            &context,
            SCHEMA_VERSION,
            &event,
        );
        limits.check_size(body.len())?;
        Ok(PreparedRecord {
            id,
            occurred_at,
            tenant,
            actor,
            event,
            event_value: OnceLock::new(),
            outcome,
            context,
            schema_version: SCHEMA_VERSION,
            body,
        })
    }

    /// [`prepare`](Self::prepare) for a batch.
    ///
    /// # Errors
    /// As [`AuditLog::record_batch`].
    pub fn prepare_batch(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<PreparedRecord>> {
        let mut out = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            if i >= self.inner.limits.max_batch {
                return Err(Error::invalid(
                    "batch",
                    format!("more than {} entries", self.inner.limits.max_batch),
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

    /// A handle that records as `actor`, for one request or job.
    pub fn scoped(&self, actor: Actor) -> ScopedLog {
        ScopedLog {
            log: self.clone(),
            actor,
            context: Context::default(),
            tenant: None,
        }
    }
}

/// A UUIDv7 from the log's clock, so ids sort with `occurred_at` even under a test clock.
fn new_v7(t: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(t.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, t.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

/// An [`AuditLog`] with an actor, a context and optionally a tenant fixed: what a request
/// handler holds so each call site is one line.
#[derive(Debug, Clone)]
pub struct ScopedLog {
    log: AuditLog,
    actor: Actor,
    context: Context,
    tenant: Option<TenantId>,
}

impl ScopedLog {
    /// Uses `context` for every record.
    #[must_use]
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Records into `tenant`.
    #[must_use]
    pub fn with_tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The entry this handle would record for `event`.
    pub fn entry(&self, event: impl Into<Event>) -> Entry {
        Entry {
            event: event.into(),
            actor: self.actor.clone(),
            outcome: Outcome::Success,
            context: self.context.clone(),
            tenant: self.tenant.clone(),
        }
    }

    /// Records a successful `event`.
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record(&self, event: impl Into<Event>) -> Result<Receipt> {
        self.log.record_entry(self.entry(event))
    }

    /// Records `event` with an outcome (a refused or failed attempt).
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record_outcome(&self, event: impl Into<Event>, outcome: Outcome) -> Result<Receipt> {
        self.log.record_entry(self.entry(event).outcome(outcome))
    }

    /// Records several events atomically.
    ///
    /// # Errors
    /// As [`AuditLog::record_batch`].
    pub fn record_batch(&self, events: impl IntoIterator<Item = Event>) -> Result<Vec<Receipt>> {
        let entries: Vec<Entry> = events.into_iter().map(|e| self.entry(e)).collect();
        self.log.record_batch(entries)
    }

    /// The log behind this handle.
    pub fn log(&self) -> &AuditLog {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditStore, EntityRef, MemorySink};

    #[test]
    fn log_is_send_sync_and_cheap_to_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<AuditLog>();
        check::<ScopedLog>();
    }

    #[test]
    fn an_invalid_entry_in_a_batch_writes_nothing_and_names_its_index() {
        let sink = MemorySink::new();
        let log = AuditLog::builder(sink.clone()).build();
        let a = Actor::system();
        let err = log
            .record_batch([
                Entry::new(a.clone(), Event::user_deleted(EntityRef::new(1, "ok"))),
                Entry::new(a, Event::user_deleted(EntityRef::new("", "bad"))),
            ])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid batch[1].event.user.id: must not be empty"
        );
        assert_eq!(sink.head(&TenantId::default()).unwrap(), None);
    }

    #[test]
    fn the_clock_stamps_records_to_the_microsecond() {
        use chrono::TimeZone;
        let t = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
        let sink = MemorySink::new();
        let log = AuditLog::builder(sink.clone())
            .clock(ManualClock::new(t))
            .build();
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
            .unwrap();
        let r = &sink.records()[0];
        assert_eq!(r.occurred_at.timestamp_subsec_nanos(), 123_456_000);
        let (secs, _) = r.id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_800_000_000);
        assert_eq!(r.id.get_version_num(), 7);
    }
}
