//! `AuditLog`: the front door hosts call at every administrative change.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::limits::Limits;
use crate::prepare::{Clock, Entry, Preparer};
use crate::query::Query;
use crate::record::{Actor, Context, Outcome, Receipt, TenantId};
use crate::redact::RedactionPolicy;
use crate::sink::{AuditSink, PreparedRecord};

/// Builds an [`AuditLog`]: a [`Preparer`] (clock, default tenant, redaction, limits) and the
/// sink records go to.
#[must_use]
pub struct AuditLogBuilder {
    sink: Arc<dyn AuditSink>,
    preparer: Preparer,
}

impl fmt::Debug for AuditLogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogBuilder")
            .field("sink", &self.sink)
            .field("preparer", &self.preparer)
            .finish()
    }
}

impl AuditLogBuilder {
    /// Uses `clock` for timestamps (default: [`SystemClock`](crate::SystemClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.preparer = self.preparer.clock(clock);
        self
    }

    /// Records into `tenant` when an entry names none (default: `"default"`).
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.preparer = self.preparer.tenant(tenant);
        self
    }

    /// Uses this redaction policy (default: [`RedactionPolicy::default`]).
    pub fn redaction(mut self, policy: RedactionPolicy) -> Self {
        self.preparer = self.preparer.redaction(policy);
        self
    }

    /// Uses these input limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.preparer = self.preparer.limits(limits);
        self
    }

    /// Uses `preparer` as it is (replacing what the methods above set).
    pub fn preparer(mut self, preparer: Preparer) -> Self {
        self.preparer = preparer;
        self
    }

    /// The log.
    pub fn build(self) -> AuditLog {
        AuditLog {
            inner: Arc::new(Inner {
                sink: self.sink,
                preparer: self.preparer,
            }),
        }
    }
}

struct Inner {
    sink: Arc<dyn AuditSink>,
    preparer: Preparer,
}

/// The front door: records events into a store.
///
/// A [`Preparer`] plus a sink. Cheap to clone (an `Arc`), `Send + Sync`: build one at
/// start-up and hand clones to every part of the host. Each call stamps the record (UUIDv7
/// id, time from the clock, tenant), applies the redaction policy, validates it against the
/// limits and appends it; the store assigns its seq and chains it.
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
            .field("preparer", &self.inner.preparer)
            .finish()
    }
}

impl AuditLog {
    /// Starts building a log that appends to `sink` (any store, or an `Arc` of one).
    pub fn builder(sink: impl AuditSink) -> AuditLogBuilder {
        AuditLogBuilder {
            sink: Arc::new(sink),
            preparer: Preparer::default(),
        }
    }

    /// The tenant used when an entry names none.
    pub fn default_tenant(&self) -> &TenantId {
        self.inner.preparer.default_tenant()
    }

    /// The preparer that stamps, redacts, checks and encodes this log's records: hand it to
    /// code that appends in its own way (a host transaction, a retention purge), so those
    /// records get this log's clock, tenant, redaction and limits.
    pub fn preparer(&self) -> &Preparer {
        &self.inner.preparer
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
            query.tenant(self.default_tenant().clone())
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
        let prepared = self.inner.preparer.prepare(entry)?;
        self.append_one(prepared)
    }

    /// Appends one record prepared by this crate (a host's entry, or `audit.exported`).
    pub(crate) fn append_one(&self, prepared: PreparedRecord) -> Result<Receipt> {
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
        let prepared = self.inner.preparer.prepare_batch(entries)?;
        self.inner.sink.append(prepared)
    }

    /// [`Preparer::prepare`] with this log's preparer.
    ///
    /// # Errors
    /// As [`Preparer::prepare`].
    pub fn prepare(&self, entry: Entry) -> Result<PreparedRecord> {
        self.inner.preparer.prepare(entry)
    }

    /// [`Preparer::prepare_batch`] with this log's preparer.
    ///
    /// # Errors
    /// As [`Preparer::prepare_batch`].
    pub fn prepare_batch(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<PreparedRecord>> {
        self.inner.preparer.prepare_batch(entries)
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
    use crate::prepare::Entry;
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
}
