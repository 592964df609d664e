//! The [`Forwarder`]: follows a store and feeds every route, each from its own cursors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::cursor::{check_destination_name, CursorStore, Cursors, DeadLetter};
use super::destination::{Batch, Delivery, DeliveryError};
use super::route::{OnPurged, OnReject, Route, Start, Tenants};
use super::status::{DestinationStatus, PurgeGap, RouteState, StatusHandle, TenantPosition};
use crate::error::{Error, Result};
use crate::query::Query;
use crate::record::{Record, TenantId};
use crate::sink::AuditStore;

/// Follows a store and delivers every record to each of its routes: in seq order per
/// tenant, at least once, from durable cursors.
///
/// ```no_run
/// # async fn demo() -> audit_log::Result<()> {
/// use std::sync::Arc;
/// use audit_log::forward::{FileCursors, Format, Forwarder, JsonLinesFile, Route, Start, Syslog};
/// use audit_log::SqliteSink;
///
/// let store = Arc::new(SqliteSink::open("audit.db")?);
/// let forwarder = Forwarder::new(store, FileCursors::new("forward-state")?)
///     .route(Route::new("siem", Syslog::tcp("127.0.0.1:6514")).format(Format::Cef))
///     .route(Route::new("lake", JsonLinesFile::new("audit-out")).start(Start::Beginning));
/// let status = forwarder.status();
/// tokio::spawn(async move {
///     loop {
///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///         for s in status.snapshot() {
///             eprintln!("{}", s.line());
///         }
///     }
/// });
/// // Runs until the signal; the batch in flight is finished first.
/// let report = forwarder.run(async { let _ = wait_for_ctrl_c().await; }).await?;
/// # Ok(()) }
/// # async fn wait_for_ctrl_c() {}
/// ```
///
/// See the [module docs](super) for the delivery guarantees.
#[must_use]
pub struct Forwarder<S: ?Sized> {
    store: Arc<S>,
    cursors: Arc<dyn CursorStore>,
    routes: Vec<(Route, Arc<Mutex<DestinationStatus>>)>,
    shutdown_grace: Duration,
    lease_poll: Duration,
    status: StatusHandle,
}

impl<S: ?Sized> std::fmt::Debug for Forwarder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("cursors", &self.cursors)
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|(r, _)| r.name())
                    .collect::<Vec<_>>(),
            )
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

/// What a forwarder did, returned when it stops: each route's final status.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardReport {
    /// Each route's status when it stopped.
    pub routes: Vec<DestinationStatus>,
}

/// The shutdown signal, and when it came (for the grace period).
#[derive(Clone)]
struct Stop {
    rx: watch::Receiver<bool>,
    at: Arc<OnceLock<Instant>>,
}

impl Stop {
    fn requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Sleeps `d`, or less if the stop signal comes. Returns whether stop was requested.
    async fn sleep(&mut self, d: Duration) -> bool {
        if self.requested() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.rx.changed() => {}
        }
        self.requested()
    }
}

/// Runs a blocking store or cursor call off the async worker threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::store("forward", e.to_string())),
    }
}

impl<S: AuditStore + Send + Sync + ?Sized + 'static> Forwarder<S> {
    /// A forwarder over `store`, keeping its cursors (and dead letters, and leases) in
    /// `cursors`. Add routes with [`route`](Self::route).
    pub fn new(store: Arc<S>, cursors: impl CursorStore) -> Self {
        Self::with_cursors(store, Arc::new(cursors))
    }

    /// [`Forwarder::new`] with a cursor store already shared.
    pub fn with_cursors(store: Arc<S>, cursors: Arc<dyn CursorStore>) -> Self {
        Forwarder {
            store,
            cursors,
            routes: Vec::new(),
            shutdown_grace: Duration::from_secs(30),
            lease_poll: Duration::from_millis(500),
            status: StatusHandle::default(),
        }
    }

    /// Adds a route.
    pub fn route(mut self, route: Route) -> Self {
        let slot = self.status.add(route.name());
        self.routes.push((route, slot));
        self
    }

    /// How long, after the stop signal, a route keeps retrying the batch it has in flight
    /// before it gives up on it (it is then delivered again at the next start). Default 30 s.
    pub fn shutdown_grace(mut self, d: Duration) -> Self {
        self.shutdown_grace = d;
        self
    }

    /// How often a standby forwarder tries to take a lease another one holds. Default 500 ms.
    pub fn lease_poll(mut self, d: Duration) -> Self {
        self.lease_poll = d.max(Duration::from_millis(10));
        self
    }

    /// A handle on every route's status, usable while [`run`](Self::run) runs.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    fn check(&self) -> Result<()> {
        let mut names = BTreeSet::new();
        for (r, _) in &self.routes {
            check_destination_name(r.name())?;
            if !names.insert(r.name()) {
                return Err(Error::invalid(
                    "route",
                    format!(
                        "two routes are named {:?}: each needs its own cursors",
                        r.name()
                    ),
                ));
            }
        }
        if self.routes.is_empty() {
            return Err(Error::invalid(
                "route",
                "a forwarder needs at least one route",
            ));
        }
        Ok(())
    }

    /// Runs every route until `shutdown` completes, then lets each finish (or, past the
    /// grace period, abandon) the batch it has in flight, releases leases, closes the
    /// destinations, and returns each route's final status.
    ///
    /// Store, cursor-store and destination failures do not end the run: the route retries
    /// with backoff and shows the failure in its status.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid or duplicate route name, or no route.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<ForwardReport> {
        self.check()?;
        let (tx, rx) = watch::channel(false);
        let stop = Stop {
            rx,
            at: Arc::new(OnceLock::new()),
        };
        let mut handles = Vec::new();
        for (route, slot) in self.routes {
            let follower = Follower {
                store: self.store.clone(),
                cursors: self.cursors.clone(),
                route,
                status: slot,
                stop: stop.clone(),
                grace: self.shutdown_grace,
                lease_poll: self.lease_poll,
                positions: None,
                heads: BTreeMap::new(),
                heads_at: None,
                next_time: HashMap::new(),
                tenants_at: None,
                tenants: Vec::new(),
                rr: 0,
                leased: false,
                held: BTreeMap::new(),
            };
            handles.push(tokio::spawn(follower.follow()));
        }
        shutdown.await;
        let _ = stop.at.set(Instant::now());
        let _ = tx.send(true);
        let mut routes = Vec::new();
        for h in handles {
            match h.await {
                Ok(s) => routes.push(s),
                Err(e) => return Err(Error::store("forward", e.to_string())),
            }
        }
        Ok(ForwardReport { routes })
    }

    /// Runs the forwarder on a runtime of its own, on a thread of its own, for hosts and
    /// tools without an async runtime. Stop it with [`RunningForwarder::stop`].
    ///
    /// # Errors
    /// As [`run`](Self::run); [`Error::Io`] if the runtime or thread cannot be made.
    pub fn spawn(self) -> Result<RunningForwarder> {
        self.check()?;
        let status = self.status();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("audit-log-forward")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("audit-log-forward".to_owned())
            .spawn(move || {
                runtime.block_on(self.run(async move {
                    let _ = rx.await;
                }))
            })?;
        Ok(RunningForwarder {
            status,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

/// A forwarder running on its own thread ([`Forwarder::spawn`]). Dropping it stops it the
/// same way as [`stop`](Self::stop) and waits.
#[derive(Debug)]
pub struct RunningForwarder {
    status: StatusHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<ForwardReport>>>,
}

impl RunningForwarder {
    /// The routes' status.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Signals shutdown and waits for the routes to finish their batches in flight.
    ///
    /// # Errors
    /// As [`Forwarder::run`].
    pub fn stop(mut self) -> Result<ForwardReport> {
        self.finish()
    }

    fn finish(&mut self) -> Result<ForwardReport> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::store("forward", "the forwarder thread panicked"))?,
            None => Ok(ForwardReport { routes: Vec::new() }),
        }
    }
}

impl Drop for RunningForwarder {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// What one step of a route did.
enum Step {
    /// Settled some records.
    Worked,
    /// Nothing to do: caught up.
    Idle,
    /// Another forwarder holds the lease.
    Standby,
    /// Stop was requested and the batch in flight could not be finished within the grace.
    Abandoned,
}

/// What became of one delivery (with its retries).
enum Outcome {
    Delivered,
    Rejected {
        index: Option<usize>,
        reason: String,
    },
    Abandoned,
}

/// One route's loop and state.
struct Follower<S: ?Sized> {
    store: Arc<S>,
    cursors: Arc<dyn CursorStore>,
    route: Route,
    status: Arc<Mutex<DestinationStatus>>,
    stop: Stop,
    grace: Duration,
    lease_poll: Duration,
    /// The cursors, once loaded under the lease, with positions of new tenants added.
    positions: Option<Cursors>,
    heads: BTreeMap<TenantId, u64>,
    heads_at: Option<Instant>,
    /// The `occurred_at` of the oldest record read but not yet settled, per tenant.
    next_time: HashMap<TenantId, DateTime<Utc>>,
    tenants_at: Option<Instant>,
    tenants: Vec<TenantId>,
    rr: usize,
    leased: bool,
    /// Tenants held before a purge gap ([`OnPurged::Hold`]): nothing more of them is
    /// delivered in this run.
    held: BTreeMap<TenantId, PurgeGap>,
}

/// How often the tenant list and the heads are refreshed while records keep coming.
const REFRESH: Duration = Duration::from_secs(1);

impl<S: AuditStore + Send + Sync + ?Sized + 'static> Follower<S> {
    fn update(&self, f: impl FnOnce(&mut DestinationStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    fn set_state(&self, state: RouteState) {
        self.update(|s| s.state = state);
    }

    async fn follow(mut self) -> DestinationStatus {
        let mut errors = 0u32;
        loop {
            if self.stop.requested() {
                break;
            }
            match self.step().await {
                Ok(Step::Worked) => errors = 0,
                Ok(Step::Idle) => {
                    errors = 0;
                    match self.held.values().next() {
                        Some(gap) => self.set_state(RouteState::Held { gap: gap.clone() }),
                        None => self.set_state(RouteState::Following),
                    }
                    let d = self.route.poll_interval;
                    if self.stop.sleep(d).await {
                        break;
                    }
                }
                Ok(Step::Standby) => {
                    self.set_state(RouteState::Standby);
                    let d = self.lease_poll;
                    if self.stop.sleep(d).await {
                        break;
                    }
                }
                Ok(Step::Abandoned) => break,
                Err(e) => {
                    let reason = error_chain(&e);
                    self.update(|s| {
                        s.state = RouteState::Error {
                            reason: reason.clone(),
                        };
                        s.last_error = Some(reason);
                    });
                    // Positions are reloaded after an error: what was saved is the truth.
                    self.positions = None;
                    let d = self.route.backoff.delay(errors);
                    errors = errors.saturating_add(1);
                    if self.stop.sleep(d).await {
                        break;
                    }
                }
            }
        }
        if self.leased {
            let (c, name) = (self.cursors.clone(), self.route.name.clone());
            let _ = blocking(move || c.release(&name)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.route.destination.close()).await;
        self.set_state(RouteState::Stopped);
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes or checks the lease; `false` means standby.
    async fn lease(&mut self) -> Result<bool> {
        let (c, name) = (self.cursors.clone(), self.route.name.clone());
        if self.leased {
            let holds = blocking(move || c.holds(&name)).await?;
            if !holds {
                self.leased = false;
                self.positions = None;
            }
            return Ok(holds);
        }
        let got = blocking(move || c.acquire(&name)).await?;
        if got {
            self.leased = true;
            // Whoever held the lease before may have moved the cursors.
            self.positions = None;
        }
        Ok(got)
    }

    async fn refresh_tenants(&mut self) -> Result<()> {
        let fresh = self.tenants_at.is_some_and(|t| t.elapsed() < REFRESH);
        if fresh && self.heads_at.is_some_and(|t| t.elapsed() < REFRESH) {
            return Ok(());
        }
        let store = self.store.clone();
        let wanted = self.route.tenants.clone();
        let tenants = self.tenants.clone();
        let (tenants, heads) = blocking(move || {
            let tenants = if fresh {
                tenants
            } else {
                match wanted {
                    Tenants::All => store.tenants()?,
                    Tenants::Only(list) => list,
                }
            };
            let mut heads = BTreeMap::new();
            for t in &tenants {
                if let Some(h) = store.head(t)? {
                    heads.insert(t.clone(), h.seq);
                }
            }
            Ok((tenants, heads))
        })
        .await?;
        if !fresh {
            self.tenants_at = Some(Instant::now());
        }
        self.tenants = tenants;
        self.heads = heads;
        self.heads_at = Some(Instant::now());
        Ok(())
    }

    /// Where a tenant without a cursor starts.
    async fn start_position(&self, tenant: &TenantId, first_run: bool) -> Result<u64> {
        let store = self.store.clone();
        let tenant = tenant.clone();
        let start = self.route.start;
        blocking(move || {
            let anchor = store.anchor(&tenant)?.seq;
            Ok(match start {
                Start::Now if first_run => store.head(&tenant)?.map_or(anchor, |h| h.seq),
                Start::Now | Start::Beginning => anchor,
                Start::Seq(n) => n.saturating_sub(1).max(anchor),
                Start::Time(t) => {
                    let q = Query::for_tenant(tenant.clone()).since(t).limit(1);
                    match store.query(&q)?.next() {
                        Some(Ok(r)) => r.seq - 1,
                        Some(Err(Error::Corrupt { seq, .. })) if seq > 0 => seq - 1,
                        Some(Err(e)) => return Err(e),
                        None => store.head(&tenant)?.map_or(anchor, |h| h.seq),
                    }
                    .max(anchor)
                }
            })
        })
        .await
    }

    /// Loads the cursors (first run: decides them from the route's start) and gives new
    /// tenants a position.
    async fn ensure_positions(&mut self) -> Result<()> {
        if self.positions.is_none() {
            let (c, name) = (self.cursors.clone(), self.route.name.clone());
            let loaded = blocking(move || c.load(&name)).await?;
            let positions = match loaded {
                Some(p) => p,
                None => {
                    let mut p = Cursors::default();
                    for t in self.tenants.clone() {
                        let seq = self.start_position(&t, true).await?;
                        p.positions.insert(t, seq);
                    }
                    let (c, name, init) =
                        (self.cursors.clone(), self.route.name.clone(), p.clone());
                    blocking(move || c.init(&name, &init)).await?;
                    p
                }
            };
            self.next_time.clear();
            self.positions = Some(positions);
        }
        for t in self.tenants.clone() {
            let known = self
                .positions
                .as_ref()
                .is_some_and(|p| p.positions.contains_key(&t));
            if !known {
                let seq = self.start_position(&t, false).await?;
                if let Some(p) = self.positions.as_mut() {
                    p.positions.insert(t, seq);
                }
            }
        }
        Ok(())
    }

    fn cursor(&self, tenant: &TenantId) -> u64 {
        self.positions
            .as_ref()
            .and_then(|p| p.get(tenant))
            .unwrap_or(0)
    }

    fn publish_lag(&self) {
        let now = Utc::now();
        let mut lag = 0u64;
        let mut oldest: f64 = 0.0;
        let mut tenants = BTreeMap::new();
        for (t, head) in &self.heads {
            let cursor = self.cursor(t);
            let behind = head.saturating_sub(cursor);
            lag += behind;
            if behind > 0 {
                if let Some(at) = self.next_time.get(t) {
                    let age = (now - *at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                    oldest = oldest.max(age);
                }
            }
            tenants.insert(
                t.clone(),
                TenantPosition {
                    cursor,
                    head: *head,
                },
            );
        }
        self.update(|s| {
            s.lag_records = lag;
            s.lag_seconds = oldest.max(0.0);
            s.tenants = tenants;
        });
    }

    async fn step(&mut self) -> Result<Step> {
        if !self.lease().await? {
            return Ok(Step::Standby);
        }
        self.refresh_tenants().await?;
        self.ensure_positions().await?;
        // The next tenant with records past its cursor, round robin, so one busy tenant
        // does not starve the others.
        let pending: Vec<TenantId> = self
            .tenants
            .iter()
            .filter(|t| !self.held.contains_key(*t))
            .filter(|t| self.heads.get(*t).is_some_and(|h| *h > self.cursor(t)))
            .cloned()
            .collect();
        if pending.is_empty() {
            self.next_time.clear();
            self.publish_lag();
            // Look at the heads again at the next poll.
            self.heads_at = None;
            return Ok(Step::Idle);
        }
        self.rr = self.rr.wrapping_add(1);
        let tenant = pending[self.rr % pending.len()].clone();
        self.set_state(RouteState::CatchingUp);
        let step = self.forward_tenant(&tenant).await;
        self.publish_lag();
        step
    }

    /// Reads the next batch of `tenant` and settles it.
    async fn forward_tenant(&mut self, tenant: &TenantId) -> Result<Step> {
        let after = self.cursor(tenant);
        let store = self.store.clone();
        let q = Query::for_tenant(tenant.clone())
            .after_seq(after)
            .limit(self.route.batch_size);
        let items = blocking(move || {
            let mut out = Vec::new();
            for item in store.query(&q)? {
                let stop = matches!(&item, Err(e) if !matches!(e, Error::Corrupt { .. }));
                out.push(item);
                if stop {
                    break;
                }
            }
            Ok(out)
        })
        .await?;
        // The first record read (readable or not) is the one after the cursor, unless a
        // retention purge removed what lies between since the cursor was saved.
        let first = items.iter().find_map(|item| match item {
            Ok(r) => Some(r.seq),
            Err(Error::Corrupt { seq, .. }) if *seq > 0 => Some(*seq),
            Err(_) => None,
        });
        if let Some(next) = first.filter(|next| *next > after + 1) {
            return self.gap(tenant, after, next).await;
        }
        let mut records = Vec::with_capacity(items.len());
        let mut bad: Option<(u64, String)> = None;
        for item in items {
            match item {
                Ok(r) => records.push(r),
                Err(Error::Corrupt { seq, reason }) => {
                    bad = Some((seq, format!("unreadable record: {reason}")));
                    break;
                }
                Err(e) if records.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        if records.is_empty() {
            return match bad {
                Some((seq, reason)) if seq > after => self.reject(tenant, seq, None, reason).await,
                // A corrupt row that does not even say its seq: nothing can be settled
                // without skipping blindly, so the route stops there and says why.
                Some((_, reason)) => Err(Error::corrupt(after + 1, reason)),
                None => {
                    // The head moved under us (a purge); look again next time.
                    self.heads_at = None;
                    Ok(Step::Idle)
                }
            };
        }
        if let Some(first) = records.first() {
            self.next_time
                .entry(tenant.clone())
                .or_insert(first.occurred_at);
        }
        // Before delivering, so the lag shows while a destination is down.
        self.publish_lag();
        // Encode; a record that cannot be encoded is settled like a rejected one.
        let mut deliveries = Vec::with_capacity(records.len());
        let mut unencodable = None;
        for r in records {
            match self.route.format.encode(&r, &self.route.product) {
                Ok(payload) => deliveries.push(Delivery { record: r, payload }),
                Err(e) => {
                    unencodable = Some((r, error_chain(&e)));
                    break;
                }
            }
        }
        if deliveries.is_empty() {
            if let Some((r, reason)) = unencodable {
                let seq = r.seq;
                return self.reject(tenant, seq, Some(r), reason).await;
            }
            return Ok(Step::Idle);
        }
        let batch = Batch {
            tenant: tenant.clone(),
            deliveries,
        };
        self.settle(batch).await
    }

    /// The records after the cursor (`after`) up to the anchor are gone: a retention purge
    /// removed them before this route delivered them. Holds the tenant there, or records the
    /// gap and skips it, as the route says ([`OnPurged`]). `next` is the first record the
    /// store still holds.
    async fn gap(&mut self, tenant: &TenantId, after: u64, next: u64) -> Result<Step> {
        let (store, t) = (self.store.clone(), tenant.clone());
        let (anchor, purge_record) = blocking(move || {
            let anchor = store.anchor(&t)?;
            let q = Query::for_tenant(t)
                .event("audit.purged")
                .after_seq(anchor.seq);
            let mut purge = None;
            for r in store.query(&q)?.flatten() {
                if matches!(&r.event, crate::event::Event::AuditPurged(p) if p.through_seq == anchor.seq)
                {
                    purge = Some(r.seq);
                    break;
                }
            }
            Ok((anchor, purge))
        })
        .await?;
        if anchor.seq <= after {
            // No purge accounts for it: the store lost records it should hold. Nothing can be
            // settled without skipping blindly, so the route stops here and says why.
            return Err(Error::corrupt(
                after + 1,
                format!(
                    "missing: the store returned seq {next} after seq {after}, and no purge \
                     accounts for the records between"
                ),
            ));
        }
        let skip = self.route.on_purged == OnPurged::Skip;
        let gap = PurgeGap {
            tenant: tenant.clone(),
            first: after + 1,
            last: anchor.seq,
            purge_record,
            skipped: skip,
        };
        if !skip {
            self.held.insert(tenant.clone(), gap.clone());
            self.update(|s| {
                s.last_error = Some(format!(
                    "{gap}: {tenant} held (deliver nothing more of it until an operator \
                     decides; on_purged = skip goes on past it)"
                ));
                s.state = RouteState::Held { gap: gap.clone() };
                s.gaps.push(gap);
            });
            return Ok(Step::Worked);
        }
        let letter = DeadLetter {
            destination: self.route.name.clone(),
            tenant: tenant.clone(),
            seq: anchor.seq,
            purged_from: Some(after + 1),
            id: None,
            hash: Some(anchor.hash),
            reason: gap.to_string(),
            at: crate::record::truncate_to_micros(Utc::now()),
            record: None,
        };
        let c = self.cursors.clone();
        blocking(move || c.settle(&letter)).await?;
        self.advance(tenant, anchor.seq);
        self.next_time.remove(tenant);
        self.update(|s| {
            s.last_error = Some(format!("{gap}: skipped"));
            s.gaps.push(gap);
        });
        Ok(Step::Worked)
    }

    /// Delivers a batch, with retries, and moves the cursor for what was settled.
    async fn settle(&mut self, batch: Batch) -> Result<Step> {
        match self.deliver(&batch).await {
            Outcome::Delivered => {
                self.delivered(&batch, batch.len()).await?;
                Ok(Step::Worked)
            }
            Outcome::Abandoned => Ok(Step::Abandoned),
            Outcome::Rejected {
                index: Some(i),
                reason,
            } if i < batch.len() => {
                self.delivered(&batch, i).await?;
                let d = &batch.deliveries[i];
                self.reject(&batch.tenant, d.record.seq, Some(d.record.clone()), reason)
                    .await
            }
            Outcome::Rejected { reason, .. } if batch.len() == 1 => {
                let d = &batch.deliveries[0];
                self.reject(&batch.tenant, d.record.seq, Some(d.record.clone()), reason)
                    .await
            }
            Outcome::Rejected { .. } => {
                // The batch was refused without naming the record: deliver one at a time to
                // find it, so the good records around it still go out.
                for d in batch.deliveries {
                    let single = Batch {
                        tenant: batch.tenant.clone(),
                        deliveries: vec![d],
                    };
                    match Box::pin(self.settle(single)).await? {
                        Step::Abandoned => return Ok(Step::Abandoned),
                        Step::Worked | Step::Idle | Step::Standby => {}
                    }
                }
                Ok(Step::Worked)
            }
        }
    }

    /// Saves the cursor after the first `n` records of `batch` were delivered.
    async fn delivered(&mut self, batch: &Batch, n: usize) -> Result<()> {
        let Some(last) = n.checked_sub(1).and_then(|i| batch.deliveries.get(i)) else {
            return Ok(());
        };
        let seq = last.record.seq;
        let (c, name, tenant) = (
            self.cursors.clone(),
            self.route.name.clone(),
            batch.tenant.clone(),
        );
        blocking(move || c.save(&name, &tenant, seq)).await?;
        self.advance(&batch.tenant, seq);
        match batch.deliveries.get(n) {
            Some(next) => {
                self.next_time
                    .insert(batch.tenant.clone(), next.record.occurred_at);
            }
            None => {
                // The record after the batch has not been read: the last one delivered is
                // the best lower bound for its age.
                self.next_time
                    .insert(batch.tenant.clone(), last.record.occurred_at);
            }
        }
        let now = Utc::now();
        self.update(|s| {
            s.delivered += n as u64;
            s.last_delivery = Some(now);
        });
        Ok(())
    }

    fn advance(&mut self, tenant: &TenantId, seq: u64) {
        if let Some(p) = self.positions.as_mut() {
            super::cursor::advance(p, tenant, seq);
        }
    }

    /// Settles a record the destination refused for good, or that cannot be read or encoded.
    async fn reject(
        &mut self,
        tenant: &TenantId,
        seq: u64,
        record: Option<Record>,
        reason: String,
    ) -> Result<Step> {
        match self.route.on_reject {
            OnReject::DeadLetter => {
                let letter = DeadLetter {
                    destination: self.route.name.clone(),
                    tenant: tenant.clone(),
                    seq,
                    purged_from: None,
                    id: record.as_ref().map(|r| r.id),
                    hash: record.as_ref().map(|r| r.hash),
                    reason: reason.clone(),
                    at: crate::record::truncate_to_micros(Utc::now()),
                    record,
                };
                let c = self.cursors.clone();
                blocking(move || c.settle(&letter)).await?;
                self.advance(tenant, seq);
                self.next_time.remove(tenant);
                self.update(|s| {
                    s.dead_lettered += 1;
                    s.last_error = Some(format!("{tenant}#{seq} dead-lettered: {reason}"));
                });
                Ok(Step::Worked)
            }
            OnReject::Block => {
                let Some(record) = record else {
                    // Blocking on a record that cannot be read can only end with a repaired
                    // store: report it as an error and try again later.
                    return Err(Error::corrupt(seq, reason));
                };
                self.set_state(RouteState::Blocked {
                    tenant: tenant.clone(),
                    seq,
                    reason: reason.clone(),
                });
                self.update(|s| s.last_error = Some(format!("{tenant}#{seq} blocked: {reason}")));
                let payload = match self.route.format.encode(&record, &self.route.product) {
                    Ok(p) => p,
                    Err(e) => return Err(e),
                };
                let batch = Batch {
                    tenant: tenant.clone(),
                    deliveries: vec![Delivery { record, payload }],
                };
                let mut attempt = 0u32;
                loop {
                    match self.deliver(&batch).await {
                        Outcome::Delivered => {
                            self.delivered(&batch, 1).await?;
                            return Ok(Step::Worked);
                        }
                        Outcome::Abandoned => return Ok(Step::Abandoned),
                        Outcome::Rejected { reason, .. } => {
                            self.update(|s| {
                                s.failed_attempts += 1;
                                s.state = RouteState::Blocked {
                                    tenant: tenant.clone(),
                                    seq,
                                    reason,
                                };
                            });
                            let d = self.route.backoff.delay(attempt);
                            attempt = attempt.saturating_add(1);
                            if self.stop.sleep(d).await {
                                return Ok(Step::Abandoned);
                            }
                        }
                    }
                }
            }
        }
    }

    /// One delivery with retries for transient failures. After the stop signal, retries go
    /// on only until the grace period ends.
    async fn deliver(&mut self, batch: &Batch) -> Outcome {
        let mut attempt = 0u32;
        loop {
            let result = tokio::time::timeout(
                self.route.attempt_timeout,
                self.route.destination.deliver(batch),
            )
            .await;
            let reason = match result {
                Ok(Ok(())) => return Outcome::Delivered,
                Ok(Err(DeliveryError::Rejected { index, reason })) => {
                    self.update(|s| s.failed_attempts += 1);
                    return Outcome::Rejected { index, reason };
                }
                Ok(Err(DeliveryError::Transient { reason })) => reason,
                Err(_) => format!(
                    "no answer within {} ms",
                    self.route.attempt_timeout.as_millis()
                ),
            };
            attempt = attempt.saturating_add(1);
            self.update(|s| {
                s.failed_attempts += 1;
                s.last_error = Some(reason.clone());
                s.state = RouteState::Retrying { attempt, reason };
            });
            let mut delay = self.route.backoff.delay(attempt - 1);
            if self.stop.requested() {
                let deadline =
                    self.stop.at.get().copied().unwrap_or_else(Instant::now) + self.grace;
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Outcome::Abandoned;
                }
                delay = delay.min(left);
                tokio::time::sleep(delay).await;
            } else {
                // A stop signal during the wait does not abandon the batch: the next
                // attempt runs, within the grace period.
                self.stop.sleep(delay).await;
            }
        }
    }
}

/// The error's message with its sources, for a status line.
fn error_chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(src) = next {
        s.push_str(": ");
        s.push_str(&src.to_string());
        next = src.source();
    }
    s
}
