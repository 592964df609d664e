//! `History`: who did what, when, and what it meant for access, answered from the trail alone.
//!
//! The product's question is *a user lost access to a crucial application, or cannot log
//! in, or an application vanished: who did it, when, and how?* [`History`] answers it over
//! any store, reading only through [`AuditStore`] and never writing:
//!
//! - [`History::timeline`]: every record naming one entity, in order.
//! - [`History::state_at`]: the organisation at a point ([`State`]): users, groups with
//!   members and nested groups, applications, workspaces, permission groups; deleted
//!   entities keep their last known state and who deleted them.
//! - [`History::access`]: a user's permission groups at a point, each with the paths that
//!   give it (direct, via group G, via nested groups H -> G) and the records behind each link.
//! - [`History::blame`]: the records that changed a user's access between two points,
//!   including indirect ones (a group removed from a parent, a group or scope deleted).
//! - [`History::access_changes`]: the same records, and also those that only took away or
//!   added a path while the user kept the access ("access kept, a path lost"), each change
//!   marked ([`Change::AccessLost`], [`Change::PathLost`], ...).
//! - [`History::diff`]: what changed about one entity between two points.
//!
//! ```
//! use audit_log::history::{History, Point};
//! use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink, PermissionGroupRef, Scope};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! let (admin, bob) = (Actor::user(1, "root"), Actor::user(2, "bob"));
//! let alice = EntityRef::new(42, "alice");
//! let accounting = EntityRef::new(7, "Accounting");
//! let payroll = EntityRef::new(3, "Payroll");
//! let editors = PermissionGroupRef::new(
//!     9,
//!     "Payroll editors",
//!     Scope::application(payroll, EntityRef::new(1, "Finance")),
//! );
//! log.record(&admin, Event::user_added_to_group(alice.clone(), accounting.clone()))?;
//! log.record(&admin, Event::permission_group_added(accounting.clone(), editors.clone()))?;
//! let granted = log.record(&bob, Event::permission_group_removed(accounting, editors))?;
//!
//! let history = History::new(&store);
//! let before = history.access(42, Point::Seq(2))?;
//! assert_eq!(before.grants[0].paths[0].to_string(), "via Accounting");
//!
//! let blame = history.blame(42, &Default::default(), Point::Seq(2), Point::Head)?;
//! assert_eq!(blame[0].record.seq, granted.seq);
//! assert_eq!(blame[0].record.actor.label(), "bob");
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! ## Deleted and re-created entities
//!
//! One rule, for every kind of entity:
//!
//! - **Deleting an entity ends every link it took part in**: a user's memberships and
//!   permission groups; a group's members, nested groups, parent groups and permission
//!   groups. An application or a workspace holds no links itself, but the permission groups
//!   scoped to it live only as long as it does: deleting it deletes them, which ends their
//!   members and their groups. A workspace contains its applications (as the events model
//!   it: every application is created in one), so deleting a workspace deletes the
//!   applications in it too, and their permission groups. A permission group also ends when
//!   a record moves it, or its application, into a scope that no longer exists.
//! - **A deleted entity takes part in no new link.** A membership or grant recorded while
//!   one of its ends is deleted stays in the trail and in both timelines, but links nothing.
//! - **Creating it again starts a new life with nothing**: no links, the attributes of the
//!   new `*.created` record, no password change. Re-creating an application or a workspace
//!   brings back neither its applications nor its permission groups: a permission group
//!   (which no event creates) starts a new life when a record names it again while its
//!   scope exists, with only the links recorded from then on. So access that came through a
//!   deleted scope is gone for good, even once the scope exists again.
//! - **The old life stays readable**: [`History::timeline`] shows every record of every
//!   life; [`History::state_at`] and [`History::entity_at`] at a point inside it show it as
//!   it was; after the deletion, [`Deletion`] says which record ended it (for a permission
//!   group, the deletion of its scope) and what it was linked to then. Deleting an entity
//!   that is already deleted changes nothing: the first deletion stays its record.
//!
//! The same holds for links: **the record that made a link stays its record until the link
//! ends**. Recording a grant, a membership or a nesting that already exists changes nothing,
//! so [`History::access`] and [`History::blame`] name the same record. A `*.created` record
//! for an entity that is live changes its attributes, not its links.
//!
//! ## Retention purges
//!
//! A retention purge ([`RetentionExt::purge`](crate::RetentionExt::purge)) removes a trail's
//! oldest records and keeps, in its own `audit.purged` record, the [`State`] they folded to
//! (its [snapshot](#snapshots)). A history starts its fold there, so every answer about a
//! point after the purge point is the one it was before the purge. A point before it is
//! [`Error::Purged`]; a window asked to start before it ([`History::blame`],
//! [`History::access_changes`], [`History::timeline_between`], [`History::diff`]) starts there
//! and says so (`starts_after_purge`). [`History::purged`] tells which purge, when and by
//! whom: its [`PurgeInfo`] reads "purged through 1200 on 2026-03-04 10:12 UTC by
//! retention-job", the line to show above answers about a purged trail.
//!
//! ### When the start is unknown
//!
//! Sometimes nothing readable says what a trail's missing beginning held: its purge record
//! was written before purges kept the state, or it cannot be read, or the trail was imported
//! from after its start (or records were removed behind the store's back). Answering from
//! what remains would leave out every membership and grant those records made: an access
//! review would come back clean when it is not. So every question that needs the state is
//! [`Error::StartUnknown`] instead, naming the seq and why; [`History::timeline`] still lists
//! the records that remain, and [`History::purged`] what is known of the purge.
//!
//! An administrator who accepts incomplete answers asks for them:
//! [`History::from_what_remains`] folds from an empty state after the purge point, and every
//! answer says it is incomplete ([`State::unknown_through`], [`Access::unknown_through`],
//! [`Window::unknown_through`], [`EntityDiff::unknown_through`]). A later purge of such a trail
//! keeps that state with its mark, so the answers after it stay marked.
//!
//! ## Cost, and keeping it warm
//!
//! A question folds the trail from its start (or purge point) to the point asked, as a
//! stream: memory grows with the number of entities, not records. For repeated questions,
//! make the history [`warm`](History::warm): it keeps the newest state it folded and only
//! reads records appended since, so a question at the head costs the new records plus the
//! question itself. [`snapshot_every`](History::snapshot_every) also keeps a copy of the state
//! every N records, so questions about the past start from the nearest one. A [`State`] is
//! `Serialize + Deserialize` (as its [snapshot](#snapshots)): save it and
//! [`resume`](History::resume) from it later.
//!
//! ## Snapshots
//!
//! [`State::to_snapshot`] encodes the state at a point as one JSON value, for a host (or a
//! retention purge) that keeps it where the records it folds are no longer kept;
//! [`State::from_snapshot`] reads it back to an equal state, and [`History::resume`] goes on
//! from it: at every point from the snapshot's seq on, `state_at`, `entity_at`, `access`,
//! `blame`, `access_changes` and `diff` give what a history folding the whole trail gives.
//! [`State::to_snapshot_bytes`] writes it as canonical text. `Serialize` and `Deserialize` of
//! [`State`] are this encoding too.
//!
//! The layout, version 1 (`?`: left out when absent or empty):
//!
//! ```text
//! {
//!   "version": 1,
//!   "tenant": "acme",
//!   "seq": 1200,                            the last record folded
//!   "at"?: "2026-03-04T10:12:00.000000Z",   its time
//!   "started_after": 0,                     State::started_after
//!   "unknown_events": 0,
//!   "unreadable"?: [17],
//!   "purged_through"?: 30,
//!   "actors": [{"kind": "user", "id": "1", "display": "root"}, ...],
//!   "users": [E, ...], "groups": [E, ...], "applications": [E, ...],
//!   "workspaces": [E, ...], "permission_groups": [E, ...],
//!   "memberships": [["42", "g-acct", R], ...],        user in group
//!   "nestings": [["g-acct", "g-fin", R], ...],        group in parent group
//!   "user_grants": [["42", "pg-payroll", R], ...],    user in permission group
//!   "group_grants": [["g-fin", "pg-payroll", R], ...] group in permission group
//! }
//! E = {"id": "42", "display"?: "alice", "attributes"?: {...}, "workspace"?: {"id", "display"?},
//!      "scope"?: {...}, "first_seen": R, "created"?: R, "password_changed"?: R,
//!      "deleted"?: {"by": R, "member_of"?: [[id, R], ...], "members"?: [...],
//!                   "member_groups"?: [...], "permission_groups"?: [...]},
//!      "last_changed": 1187}
//! R = [seq, "2026-03-02T09:14:00.000000Z", actor]    a record: seq, time, index into "actors"
//! ```
//!
//! - Each field means what the [`Entity`] field of the same name does; `workspace` and
//!   `scope` are written as events write entity references and scopes, times as records
//!   write them (RFC 3339, UTC, six fractional digits).
//! - Each live link is listed once (the state keeps it on both ends; reading rebuilds them).
//!   A deleted entity's links at its deletion go with its `deleted`.
//! - It is canonical: entities in id order, links in (member id, container id) order,
//!   actors (only those a record reference names) sorted by kind, id and display; the text
//!   has no whitespace and object keys in byte order. States that are equal give identical
//!   bytes, however they were built.
//! - Its size follows the directory, not the trail: 4.4 MB (436 bytes per user) for 10,000
//!   users in 3 of 500 nested groups each, with 100 permission groups, after 42,559 records,
//!   and 0.1% more after 20,000 more records that left the directory as it was
//!   (`a_snapshot_is_as_large_as_the_directory_not_the_trail` in `tests/history.rs`).
//! - Reading accepts exactly this layout: another `version` is
//!   [`SnapshotError::UnknownVersion`]; a missing, mistyped or unknown field, an entity or a
//!   link listed twice, a link to an entity the snapshot does not hold or to a deleted one
//!   is [`SnapshotError::Malformed`] (both inside [`Error::Snapshot`]). A later layout
//!   gets a new version number.

mod access;
mod blame;
mod diff;
mod purged;
mod snapshot;
mod state;
mod table;
mod timeline;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::{EntityId, EntityKey};
use crate::query::Query;
use crate::record::{Record, TenantId};
use crate::sink::AuditStore;

pub use access::{Access, AccessFilter, AccessPath, Cycle, Grant};
pub use blame::{AccessChange, BlameEntry, Change, PathChange, Window};
pub use diff::{EntityDiff, EntityStatus, FieldDiff, LinkChange};
pub use purged::PurgeInfo;
pub use snapshot::SnapshotError;
pub use state::{Deletion, Entity, Links, RecordRef, Relation, State};
pub use timeline::TimelineEntry;

/// A point in a trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "at", rename_all = "snake_case")]
pub enum Point {
    /// Just after the record with this seq (0: before the first record).
    Seq(u64),
    /// Just after the last record (by seq) that occurred at or before this time.
    Time(DateTime<Utc>),
    /// Just after the newest record.
    Head,
}

impl From<u64> for Point {
    fn from(seq: u64) -> Self {
        Point::Seq(seq)
    }
}

impl From<DateTime<Utc>> for Point {
    fn from(t: DateTime<Utc>) -> Self {
        Point::Time(t)
    }
}

enum Store<'a> {
    Borrowed(&'a dyn AuditStore),
    Shared(Arc<dyn AuditStore>),
}

#[derive(Debug, Default)]
struct Cache {
    /// The newest state folded so far.
    head: Option<State>,
    /// Copies of the state at every `every`-th seq.
    snapshots: BTreeMap<u64, State>,
    every: u64,
}

/// A state's snapshot without what depends on where its trail starts (an earlier purge of
/// the trail, or its absence): what two copies of one history agree on.
pub(crate) fn directory(state: &State) -> serde_json::Value {
    let mut v = state.to_snapshot();
    if let Some(m) = v.as_object_mut() {
        m.remove("started_after");
        m.remove("purged_through");
    }
    v
}

/// Questions about one tenant's trail, answered by folding its records.
///
/// Cold by default (each question reads the trail up to its point); see the
/// [module docs](self) for warm use. `Send + Sync`: a warm history can be shared by threads.
pub struct History<'a> {
    store: Store<'a>,
    tenant: TenantId,
    cache: Option<Mutex<Cache>>,
    from_what_remains: bool,
}

impl std::fmt::Debug for History<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("tenant", &self.tenant)
            .field("warm", &self.cache.is_some())
            .field("from_what_remains", &self.from_what_remains)
            .finish_non_exhaustive()
    }
}

impl<'a> History<'a> {
    /// A history of the default tenant of `store`.
    pub fn new(store: &'a dyn AuditStore) -> Self {
        History {
            store: Store::Borrowed(store),
            tenant: TenantId::default(),
            cache: None,
            from_what_remains: false,
        }
    }

    /// A history that owns a handle on its store, for a host that keeps it (warm) for the
    /// life of the process.
    pub fn shared(store: Arc<dyn AuditStore>) -> History<'static> {
        History {
            store: Store::Shared(store),
            tenant: TenantId::default(),
            cache: None,
            from_what_remains: false,
        }
    }

    /// Reads `tenant`'s trail instead of the default one (drops any warm state).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = tenant.into();
        if self.cache.is_some() {
            self.cache = Some(Mutex::default());
        }
        self
    }

    /// Answers from the records that remain when nothing says what a trail's removed
    /// beginning held (a purge record without the state it removed, an unreadable one, a trail
    /// imported from after its start), instead of [`Error::StartUnknown`]. Every such answer
    /// says it is incomplete: [`State::unknown_through`], [`Access::unknown_through`],
    /// [`Window::unknown_through`], [`EntityDiff::unknown_through`]. Links made by the removed
    /// records are missing from them. See [the module docs](self#when-the-start-is-unknown).
    #[must_use]
    pub fn from_what_remains(mut self) -> Self {
        if self.cache.is_some() {
            self.cache = Some(Mutex::default());
        }
        self.from_what_remains = true;
        self
    }

    /// Keeps the newest folded state between questions and catches up with only the records
    /// appended since.
    #[must_use]
    pub fn warm(mut self) -> Self {
        if self.cache.is_none() {
            self.cache = Some(Mutex::default());
        }
        self
    }

    /// Warm, and also keeps a copy of the state at every `n`-th seq, so questions about past
    /// points fold from the nearest copy instead of the start. Each copy costs as much memory
    /// as the state; `0` keeps none.
    #[must_use]
    pub fn snapshot_every(self, n: u64) -> Self {
        let h = self.warm();
        if let Some(mut c) = h.lock() {
            c.every = n;
        }
        h
    }

    /// Warm, starting from a saved state (of this tenant), such as a
    /// [snapshot](self#snapshots) read back, instead of the start of the trail.
    ///
    /// Questions at its seq and after fold from it, including those about points between it
    /// and the newest state folded since (it keeps a copy for them); questions about points
    /// before it fold from the start of the trail.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the state belongs to another tenant.
    pub fn resume(self, state: State) -> Result<Self> {
        if *state.tenant() != self.tenant {
            return Err(Error::invalid(
                "state.tenant",
                format!(
                    "state of tenant {} resumed on tenant {}",
                    state.tenant(),
                    self.tenant
                ),
            ));
        }
        let h = self.warm();
        if let Some(mut c) = h.lock() {
            // Without the copy, a question about a point before the head (once it has moved
            // on) would fold from the start of the trail, which may no longer hold what the
            // state knows.
            c.snapshots.insert(state.seq(), state.clone());
            c.head = Some(state);
        }
        Ok(h)
    }

    /// The store read.
    pub fn store(&self) -> &dyn AuditStore {
        match &self.store {
            Store::Borrowed(s) => *s,
            Store::Shared(s) => s.as_ref(),
        }
    }

    /// The tenant read.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant
    }

    /// The warm cache, if the history is warm.
    fn lock(&self) -> Option<MutexGuard<'_, Cache>> {
        // Folding never panics halfway through a record, so a poisoned cache is consistent.
        self.cache
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn query(&self) -> Query {
        Query::for_tenant(self.tenant.clone())
    }

    /// The seq a point stands for: the state at the point is the state after that record.
    ///
    /// # Errors
    /// [`Error::Purged`] for a point before the trail's purge point (a seq before it, or a
    /// time before its last purged record); store failures.
    pub fn resolve(&self, point: Point) -> Result<u64> {
        let anchor = self.store().anchor(&self.tenant)?.seq;
        let purged = || Error::Purged {
            through_seq: anchor,
        };
        Ok(match point {
            Point::Seq(n) if n < anchor => return Err(purged()),
            Point::Seq(n) => n,
            Point::Head => self.store().head(&self.tenant)?.map_or(anchor, |h| h.seq),
            Point::Time(t) => {
                let q = self
                    .query()
                    .until(t + Duration::microseconds(1))
                    .descending()
                    .limit(1);
                let mut found = None;
                for item in self.store().query(&q)? {
                    match item {
                        Ok(r) => {
                            found = Some(r.seq);
                            break;
                        }
                        Err(Error::Corrupt { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                match found {
                    Some(seq) => seq,
                    // Before every record left: the state at the purge point, unless the time
                    // is before the last purged record too.
                    None if anchor > 0 => {
                        let head = self.store().anchor(&self.tenant)?;
                        if self.purge_time(head)?.is_some_and(|at| t < at) {
                            return Err(purged());
                        }
                        anchor
                    }
                    None => anchor,
                }
            }
        })
    }

    /// Whether `purge_record` (an `audit.purged` record, say from this trail's purged copy)
    /// keeps exactly the state this history's trail folds to at its purge point: what proves,
    /// against a copy taken before the purge (an export, a backup), that the purge kept what
    /// it removed. A record without a snapshot, or of another kind, does not match.
    ///
    /// ```
    /// use audit_log::{Actor, AuditLog, EntityRef, Event, History, MemorySink, Preparer,
    ///                 PurgePoint, Query, RetentionExt, SealedSink, TenantId};
    ///
    /// let store = MemorySink::new();
    /// let log = AuditLog::builder(store.clone()).build();
    /// for g in 1..=3 {
    ///     log.record(&Actor::system(), Event::user_added_to_group(EntityRef::id_only(7), EntityRef::id_only(g)))?;
    /// }
    /// let before = MemorySink::new();
    /// before.append_sealed(store.records())?; // the copy an auditor kept
    /// let report = store.purge(log.preparer(), &TenantId::default(), PurgePoint::ThroughSeq(2), &Actor::system())?;
    /// let purge = store.find(&Query::new().event("audit.purged")).remove(0);
    /// assert_eq!(purge.seq, report.receipt.map_or(0, |r| r.seq));
    /// assert!(History::new(&before).matches_purge(&purge)?);
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Snapshot`] for a snapshot that does not read; store failures.
    pub fn matches_purge(&self, purge_record: &Record) -> Result<bool> {
        let crate::event::Event::AuditPurged(p) = &purge_record.event else {
            return Ok(false);
        };
        let Some(snapshot) = &p.state else {
            return Ok(false);
        };
        let kept = State::from_snapshot(snapshot)?;
        let folded = self.state_at(Point::Seq(p.through_seq))?;
        Ok(directory(&kept) == directory(&folded))
    }

    /// The seq a window starting at `from` starts from, and the purge point when the window
    /// asked to start before it (it then starts there: what is known).
    fn resolve_start(&self, from: Point) -> Result<(u64, Option<u64>)> {
        match self.resolve(from) {
            Err(Error::Purged { through_seq }) => Ok((through_seq, Some(through_seq))),
            other => other.map(|seq| (seq, None)),
        }
    }

    /// Folds records after `state.seq()` through `through` into `state`, calling `each` after
    /// every record, and taking snapshots when asked.
    fn advance(
        &self,
        state: &mut State,
        through: u64,
        mut snapshots: Option<(&mut BTreeMap<u64, State>, u64)>,
        mut each: impl FnMut(&State, &Record),
    ) -> Result<()> {
        if state.seq() >= through {
            return Ok(());
        }
        let q = self.query().after_seq(state.seq()).through_seq(through);
        for item in self.store().query(&q)? {
            match item {
                Ok(r) => {
                    state.apply(&r)?;
                    each(state, &r);
                    if let Some((snaps, every)) = snapshots.as_mut() {
                        if *every > 0 && r.seq % *every == 0 {
                            snaps.entry(r.seq).or_insert_with(|| state.clone());
                        }
                    }
                }
                Err(Error::Corrupt { seq, .. }) if seq > state.seq() => state.note_unreadable(seq),
                Err(Error::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs `f` on the state at seq `seq`, without copying it when the warm head is there.
    fn with_seq<R>(&self, seq: u64, f: impl FnOnce(&State) -> R) -> Result<R> {
        let Some(mut guard) = self.lock() else {
            let mut s = self.fresh()?;
            self.advance(&mut s, seq, None, |_, _| {})?;
            self.check_start(&s)?;
            return Ok(f(&s));
        };
        let Cache {
            head,
            snapshots,
            every,
        } = &mut *guard;
        let every = *every;
        if head.as_ref().is_none_or(|h| h.seq() > seq) {
            let mut s = match snapshots.range(..=seq).next_back() {
                Some((_, s)) => s.clone(),
                None => self.fresh()?,
            };
            self.advance(&mut s, seq, Some((snapshots, every)), |_, _| {})?;
            if head.is_some() {
                self.check_start(&s)?;
                return Ok(f(&s));
            }
            *head = Some(s);
        }
        let Some(h) = head.as_mut() else {
            return Err(Error::invalid("history", "no state"));
        };
        self.advance(h, seq, Some((snapshots, every)), |_, _| {})?;
        self.check_start(h)?;
        Ok(f(h))
    }

    /// The state at seq `seq`: a copy when warm, the folded state itself when cold.
    fn state_seq(&self, seq: u64) -> Result<State> {
        if self.cache.is_none() {
            let mut s = self.fresh()?;
            self.advance(&mut s, seq, None, |_, _| {})?;
            self.check_start(&s)?;
            return Ok(s);
        }
        self.with_seq(seq, State::clone)
    }

    /// The organisation as the trail describes it at `at`.
    ///
    /// # Errors
    /// Store failures; [`Error::InvalidInput`] if the store returns records out of order.
    pub fn state_at(&self, at: Point) -> Result<State> {
        let seq = self.resolve(at)?;
        self.state_seq(seq)
    }

    /// Runs `f` on the state at `at`; with a warm history at the head this copies nothing.
    ///
    /// # Errors
    /// As [`History::state_at`].
    pub fn with_state<R>(&self, at: Point, f: impl FnOnce(&State) -> R) -> Result<R> {
        let seq = self.resolve(at)?;
        self.with_seq(seq, f)
    }

    /// Continues folding a saved `state` with the records after its seq, through `to`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the state belongs to another tenant; store failures.
    pub fn fold_from(&self, mut state: State, to: Point) -> Result<State> {
        if *state.tenant() != self.tenant {
            return Err(Error::invalid(
                "state.tenant",
                format!(
                    "state of tenant {} folded on tenant {}",
                    state.tenant(),
                    self.tenant
                ),
            ));
        }
        let seq = self.resolve(to)?;
        self.advance(&mut state, seq, None, |_, _| {})?;
        Ok(state)
    }

    /// The effective access of a user at `at`: every permission group, with its paths.
    ///
    /// # Errors
    /// As [`History::state_at`].
    pub fn access(&self, user: impl Into<EntityId>, at: Point) -> Result<Access> {
        self.access_filtered(user, &AccessFilter::Any, at)
    }

    /// [`History::access`] restricted to a scope.
    ///
    /// # Errors
    /// As [`History::state_at`].
    pub fn access_filtered(
        &self,
        user: impl Into<EntityId>,
        filter: &AccessFilter,
        at: Point,
    ) -> Result<Access> {
        let user = user.into();
        self.with_state(at, |s| s.access(&user, filter))
    }

    /// One entity at `at`, if the trail names it by then.
    ///
    /// # Errors
    /// As [`History::state_at`].
    pub fn entity_at(&self, key: &EntityKey, at: Point) -> Result<Option<state::Entity>> {
        self.with_state(at, |s| s.entity(key).cloned())
    }
}
