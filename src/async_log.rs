//! The async front door, for hosts on tokio (feature `tokio`).
//!
//! [`AsyncAuditLog`] records, [`AsyncStore`] reads (records as a [`Stream`], heads,
//! verification) and [`AsyncHistory`] answers history questions, all without blocking the
//! runtime's worker threads: the stores are sync (SQLite, and a PostgreSQL client with a
//! connection pool), so each call runs on tokio's blocking pool
//! ([`spawn_blocking`](tokio::task::spawn_blocking)) and the future waits for it.
//!
//! ```
//! use audit_log::async_log::{AsyncAuditLog, AsyncStore};
//! use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink, Query};
//! use futures_util::StreamExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), audit_log::Error> {
//! let store = MemorySink::new();
//! let log = AsyncAuditLog::new(AuditLog::builder(store.clone()).build());
//! let reader = AsyncStore::new(store);
//!
//! let admin = Actor::user(1, "root");
//! log.record(&admin, Event::user_deleted(EntityRef::new(42, "bob"))).await?;
//!
//! let mut records = reader.query(Query::new());
//! while let Some(record) = records.next().await {
//!     println!("{}", record?.summary());
//! }
//! assert!(reader.verify(log.default_tenant().clone()).await?.is_intact());
//! # Ok(())
//! # }
//! ```
//!
//! # Why a type of its own
//!
//! [`AuditLog`]'s methods block until the store has committed. Async methods of the same
//! names cannot sit beside them, and methods with other names (`record_async`) would leave the
//! blocking ones one typo away in a handler. So an async host holds an `AsyncAuditLog` (it
//! wraps the same `AuditLog`: one preparer, one store, one group commit) and reaches the sync
//! log through [`AsyncAuditLog::sync`] where blocking is fine.
//!
//! # Group commit
//!
//! Each awaited append is a call to the store on the blocking pool, and the store's group
//! commit merges calls that arrive while a commit is under way: 64 tasks recording at once
//! share a few commits, as 64 threads would.
//!
//! # Contract
//!
//! - **Cancellation.** A future of [`AsyncAuditLog::record`] (and of every method here that
//!   appends) does nothing until it is first polled. Once polled, the append has been handed
//!   to the blocking pool and runs to its end whatever happens to the future: dropping it
//!   (a `select!` that took another branch, a timeout, a client that went away) neither loses
//!   nor duplicates the record; only the receipt goes undelivered. The one exception is the
//!   runtime shutting down before the pool started the append (tokio drops blocking work it
//!   has not started on shutdown): await outstanding records before shutting a runtime down.
//! - **Errors and panics.** Each method returns what the sync method would; a panic in the
//!   store resumes in the awaiting task. An append the shutting-down runtime would not start
//!   is [`Error::Unavailable`].
//! - **Reads** hold no connection or transaction between pages: [`AsyncStore::query`] reads a
//!   page (500 records) per blocking call and continues after the last seq it saw, so memory
//!   stays flat and a slow consumer holds nothing open.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use tokio::task::JoinHandle;

use crate::chain::{self, VerifyOptions, VerifyReport};
use crate::error::{Error, Result};
use crate::event::{EntityId, EntityKey, Event};
use crate::history::{Access, EntityDiff, History, Point, State, TimelineEntry, Window};
use crate::log::{AuditLog, ScopedLog};
use crate::prepare::Entry;
use crate::query::Query;
use crate::record::{Actor, Context, Head, Outcome, Receipt, Record, TenantId};
use crate::sink::{AuditStore, PreparedRecord};

/// Runs `f` on tokio's blocking pool and waits for it.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    join(spawn(f)).await
}

fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> JoinHandle<Result<T>> {
    tokio::task::spawn_blocking(move || crate::runtime::blocking_section(f))
}

async fn join<T>(handle: JoinHandle<Result<T>>) -> Result<T> {
    match handle.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(shutting_down()),
    }
}

fn shutting_down() -> Error {
    Error::Unavailable {
        source: "the tokio runtime is shutting down".into(),
    }
}

/// [`AuditLog`] for async hosts: the same log, with methods that await the commit instead of
/// blocking. See the [module docs](self), and its `# Contract` on cancellation.
///
/// Cheap to clone (clones share the log).
#[derive(Debug, Clone)]
pub struct AsyncAuditLog {
    log: AuditLog,
}

impl From<AuditLog> for AsyncAuditLog {
    fn from(log: AuditLog) -> Self {
        AsyncAuditLog::new(log)
    }
}

impl AsyncAuditLog {
    /// The async front of `log`.
    pub fn new(log: AuditLog) -> Self {
        AsyncAuditLog { log }
    }

    /// The sync log behind it, for code where blocking is fine (a `spawn_blocking` closure, a
    /// CLI command, a test).
    pub fn sync(&self) -> &AuditLog {
        &self.log
    }

    /// The tenant records go to when an entry names none.
    pub fn default_tenant(&self) -> &TenantId {
        self.log.default_tenant()
    }

    /// Records `event` by `actor` with outcome success and an empty context; resolves once
    /// it is committed. See [`AuditLog::record`].
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record(
        &self,
        actor: &Actor,
        event: impl Into<Event>,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        self.record_entry(Entry::new(actor.clone(), event))
    }

    /// Records a fully specified entry (outcome, context, tenant). See
    /// [`AuditLog::record_entry`].
    ///
    /// # Errors
    /// As [`AuditLog::record_entry`].
    pub fn record_entry(
        &self,
        entry: Entry,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        let log = self.log.clone();
        async move {
            let prepared = log.prepare(entry)?;
            let sink = Arc::clone(log.sink());
            let mut receipts = blocking(move || sink.append(vec![prepared])).await?;
            receipts
                .pop()
                .ok_or_else(|| Error::store("sink", "append returned no receipt"))
        }
    }

    /// Records several entries atomically: all or none. See [`AuditLog::record_batch`].
    ///
    /// # Errors
    /// As [`AuditLog::record_batch`].
    pub fn record_batch(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> impl Future<Output = Result<Vec<Receipt>>> + Send + 'static {
        let log = self.log.clone();
        let entries: Vec<Entry> = entries.into_iter().collect();
        async move {
            let prepared = log.prepare_batch(entries)?;
            let sink = Arc::clone(log.sink());
            blocking(move || sink.append(prepared)).await
        }
    }

    /// Appends records made with this log's preparer ([`AuditLog::prepare`]), for a host
    /// that prepares ahead of appending; resolves once they are committed. The same contract
    /// as [`record`](Self::record).
    ///
    /// # Errors
    /// As [`AuditSink::append`](crate::AuditSink::append).
    pub fn append(
        &self,
        batch: Vec<PreparedRecord>,
    ) -> impl Future<Output = Result<Vec<Receipt>>> + Send + 'static {
        let sink = Arc::clone(self.log.sink());
        async move { blocking(move || sink.append(batch)).await }
    }

    /// A handle that records as `actor`, with a context set once (what a request handler
    /// holds). See [`AuditLog::scoped`].
    pub fn scoped(&self, actor: Actor) -> AsyncScopedLog {
        AsyncScopedLog {
            scoped: self.log.scoped(actor),
        }
    }
}

/// [`ScopedLog`] for async hosts: records as one actor with one context (typically a
/// request's), each call one line: `audit.record(Event::user_deleted(..)).await?`.
///
/// With the `axum` feature this is also the extractor a handler takes
/// (`audit_log::axum`). Cheap to clone, so it can move into work the handler spawns.
#[derive(Debug, Clone)]
pub struct AsyncScopedLog {
    scoped: ScopedLog,
}

impl AsyncScopedLog {
    /// The same handle with this context.
    #[must_use]
    pub fn with_context(self, context: Context) -> Self {
        AsyncScopedLog {
            scoped: self.scoped.with_context(context),
        }
    }

    /// The same handle recording into `tenant`.
    #[must_use]
    pub fn with_tenant(self, tenant: impl Into<TenantId>) -> Self {
        AsyncScopedLog {
            scoped: self.scoped.with_tenant(tenant),
        }
    }

    /// The entry `record` would append for `event` (to adjust before
    /// [`record_entry`](Self::record_entry)).
    pub fn entry(&self, event: impl Into<Event>) -> Entry {
        self.scoped.entry(event)
    }

    /// Records `event` with outcome success.
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record(
        &self,
        event: impl Into<Event>,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        self.record_entry(self.entry(event))
    }

    /// Records `event` with the given outcome (a denied or failed attempt).
    ///
    /// # Errors
    /// As [`AuditLog::record`].
    pub fn record_outcome(
        &self,
        event: impl Into<Event>,
        outcome: Outcome,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        self.record_entry(self.entry(event).outcome(outcome))
    }

    /// Records an entry made with [`entry`](Self::entry).
    ///
    /// # Errors
    /// As [`AuditLog::record_entry`].
    pub fn record_entry(
        &self,
        entry: Entry,
    ) -> impl Future<Output = Result<Receipt>> + Send + 'static {
        AsyncAuditLog::new(self.scoped.log().clone()).record_entry(entry)
    }

    /// Records several events atomically.
    ///
    /// # Errors
    /// As [`AuditLog::record_batch`].
    pub fn record_batch(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> impl Future<Output = Result<Vec<Receipt>>> + Send + 'static {
        let entries: Vec<Entry> = events.into_iter().map(|e| self.entry(e)).collect();
        AsyncAuditLog::new(self.scoped.log().clone()).record_batch(entries)
    }

    /// The sync handle behind it.
    pub fn sync(&self) -> &ScopedLog {
        &self.scoped
    }
}

/// The read side of a store for async hosts: records as a [`Stream`], heads, counts,
/// verification, and any other sync question run on the blocking pool
/// ([`run`](Self::run)).
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncStore {
    store: Arc<dyn AuditStore>,
}

impl AsyncStore {
    /// Reads `store`.
    pub fn new(store: impl AuditStore) -> Self {
        AsyncStore {
            store: Arc::new(store),
        }
    }

    /// Reads a store the host already shares.
    pub fn from_arc(store: Arc<dyn AuditStore>) -> Self {
        AsyncStore { store }
    }

    /// The store, for sync use.
    pub fn sync(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// The records matching `query`, in its order, as a stream that reads a page at a time
    /// on the blocking pool. Items are as [`AuditStore::query`]'s: an unreadable record is an
    /// `Err(Error::Corrupt { .. })` item and the stream goes on; a failed read is a last
    /// `Err` item.
    pub fn query(&self, query: Query) -> RecordStream {
        RecordStream {
            store: Arc::clone(&self.store),
            remaining: query.limit,
            next: Some(query),
            buffer: VecDeque::new(),
            pending: None,
        }
    }

    /// Runs `f` with the store on the blocking pool: any sync question (an export, a
    /// `History` built for one answer, a count) without blocking the runtime.
    ///
    /// # Errors
    /// What `f` returns.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AuditStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = Arc::clone(&self.store);
        blocking(move || f(store.as_ref())).await
    }

    /// The newest record of `tenant`'s trail.
    ///
    /// # Errors
    /// Store failures.
    pub async fn head(&self, tenant: TenantId) -> Result<Option<Head>> {
        self.run(move |s| s.head(&tenant)).await
    }

    /// Where `tenant`'s trail starts (after a retention purge, the purge point).
    ///
    /// # Errors
    /// Store failures.
    pub async fn anchor(&self, tenant: TenantId) -> Result<Head> {
        self.run(move |s| s.anchor(&tenant)).await
    }

    /// The tenants with at least one record.
    ///
    /// # Errors
    /// Store failures.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        self.run(|s| s.tenants()).await
    }

    /// How many records match `query`, when the store can tell cheaply.
    ///
    /// # Errors
    /// Store failures.
    pub async fn count(&self, query: Query) -> Result<Option<u64>> {
        self.run(move |s| s.count(&query)).await
    }

    /// Verifies `tenant`'s trail ([`chain::verify`]).
    ///
    /// # Errors
    /// Store failures; a broken trail is a report, not an error.
    pub async fn verify(&self, tenant: TenantId) -> Result<VerifyReport> {
        self.run(move |s| chain::verify(s, &tenant)).await
    }

    /// Verifies `tenant`'s trail with options (a checkpoint, a chain key, a storage check):
    /// [`chain::verify_with`].
    ///
    /// # Errors
    /// Store failures; a broken trail is a report, not an error.
    pub async fn verify_with(
        &self,
        tenant: TenantId,
        options: VerifyOptions,
    ) -> Result<VerifyReport> {
        self.run(move |s| chain::verify_with(s, &tenant, &options))
            .await
    }

    /// A history of `tenant`'s trail for async questions, cold: each question reads the
    /// trail up to its point.
    pub fn history(&self, tenant: impl Into<TenantId>) -> AsyncHistory {
        AsyncHistory::new(History::shared(Arc::clone(&self.store)).tenant(tenant))
    }

    /// A warm history of `tenant`'s trail ([`History::warm`]): it keeps the newest folded
    /// state, so a question about the present folds only the records appended since the last
    /// one. Share it (clones share the state) rather than making one per question.
    pub fn warm_history(&self, tenant: impl Into<TenantId>) -> AsyncHistory {
        AsyncHistory::new(
            History::shared(Arc::clone(&self.store))
                .tenant(tenant)
                .warm(),
        )
    }
}

/// Records read a page at a time on the blocking pool: see [`AsyncStore::query`].
#[must_use = "a stream does nothing unless polled"]
pub struct RecordStream {
    store: Arc<dyn AuditStore>,
    /// The query of the next page, `None` once the last page was read.
    next: Option<Query>,
    /// Records still to yield under the query's limit.
    remaining: Option<usize>,
    buffer: VecDeque<Result<Record>>,
    pending: Option<JoinHandle<Result<Page>>>,
}

impl std::fmt::Debug for RecordStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("next", &self.next)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

/// Records per blocking call.
const PAGE: usize = 500;

struct Page {
    items: Vec<Result<Record>>,
    /// The last seq read (the keyset cursor of the next page).
    last_seq: Option<u64>,
    /// Whether the store has nothing after this page.
    last: bool,
}

fn read_page(store: &dyn AuditStore, query: &Query) -> Result<Page> {
    let want = query.limit.unwrap_or(PAGE);
    let mut items = Vec::with_capacity(want.min(PAGE));
    let mut last_seq = None;
    let mut failed = false;
    for item in store.query(query)? {
        match &item {
            Ok(r) => last_seq = Some(r.seq),
            Err(Error::Corrupt { seq, .. }) => last_seq = Some(*seq),
            // A failed read ends the store's stream; end ours after it too.
            Err(_) => failed = true,
        }
        items.push(item);
        if failed {
            break;
        }
    }
    let last = failed || items.len() < want || last_seq.is_none();
    Ok(Page {
        items,
        last_seq,
        last,
    })
}

impl Stream for RecordStream {
    type Item = Result<Record>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.buffer.pop_front() {
                return Poll::Ready(Some(item));
            }
            if let Some(handle) = &mut this.pending {
                let page = match Pin::new(handle).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(page))) => page,
                    Poll::Ready(Ok(Err(e))) => {
                        this.pending = None;
                        this.next = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Err(e)) if e.is_panic() => {
                        std::panic::resume_unwind(e.into_panic())
                    }
                    Poll::Ready(Err(_)) => {
                        this.pending = None;
                        this.next = None;
                        return Poll::Ready(Some(Err(shutting_down())));
                    }
                };
                this.pending = None;
                if let Some(n) = &mut this.remaining {
                    *n = n.saturating_sub(page.items.len());
                }
                let done = page.last || this.remaining == Some(0);
                this.next = match (done, page.last_seq, this.next.take()) {
                    (false, Some(seq), Some(q)) => Some(q.after_seq(seq)),
                    _ => None,
                };
                this.buffer.extend(page.items);
                continue;
            }
            let Some(query) = &this.next else {
                return Poll::Ready(None);
            };
            let want = this.remaining.map_or(PAGE, |n| n.min(PAGE));
            let query = query.clone().limit(want);
            let store = Arc::clone(&this.store);
            this.pending = Some(spawn(move || read_page(store.as_ref(), &query)));
        }
    }
}

/// [`History`] for async hosts: each question runs on the blocking pool. Made from any
/// `History<'static>` ([`History::shared`], warm, with snapshots or resumed), or by
/// [`AsyncStore::history`] / [`AsyncStore::warm_history`].
///
/// Cheap to clone (clones share the history and its warm state).
#[derive(Debug, Clone)]
pub struct AsyncHistory {
    history: Arc<History<'static>>,
}

impl AsyncHistory {
    /// Asks `history`'s questions without blocking the runtime. A warm history's state is
    /// shared by every clone.
    pub fn new(history: History<'static>) -> Self {
        AsyncHistory {
            history: Arc::new(history),
        }
    }

    /// Runs any question of [`History`] on the blocking pool.
    ///
    /// # Errors
    /// What `f` returns.
    pub async fn ask<T: Send + 'static>(
        &self,
        f: impl FnOnce(&History<'static>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let history = Arc::clone(&self.history);
        blocking(move || f(&history)).await
    }

    /// The history, for sync use.
    pub fn sync(&self) -> &History<'static> {
        &self.history
    }

    /// A user's effective access at a point: [`History::access`].
    ///
    /// # Errors
    /// As [`History::access`].
    pub async fn access(&self, user: impl Into<EntityId>, at: Point) -> Result<Access> {
        let user = user.into();
        self.ask(move |h| h.access(user, at)).await
    }

    /// The state of the tenant's directory at a point: [`History::state_at`].
    ///
    /// # Errors
    /// As [`History::state_at`].
    pub async fn state_at(&self, at: Point) -> Result<State> {
        self.ask(move |h| h.state_at(at)).await
    }

    /// Every record that names an entity, in order: [`History::timeline`].
    ///
    /// # Errors
    /// As [`History::timeline`].
    pub async fn timeline(&self, entity: EntityKey) -> Result<Window<TimelineEntry>> {
        self.ask(move |h| h.timeline(&entity)).await
    }

    /// How an entity changed between two points: [`History::diff`].
    ///
    /// # Errors
    /// As [`History::diff`].
    pub async fn diff(&self, entity: EntityKey, from: Point, to: Point) -> Result<EntityDiff> {
        self.ask(move |h| h.diff(&entity, from, to)).await
    }
}
