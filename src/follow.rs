//! [`Follow`]: the records of a trail as they are committed.

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::query::{Order, Query};
use crate::record::{Record, TenantId};
use crate::sink::AuditStore;

/// How many records one look reads at most: a burst of appends is handed over in pages, in
/// constant memory, without waiting between pages.
const PAGE: usize = 1000;

/// Follows one tenant's trail: each record matching a query's filters, once, in seq order,
/// as it is committed.
///
/// What `tail -f` is to a log file: a reader that waits for new records and hands each over
/// once, in seq order, whoever appended it (this process, another process, another host of a
/// PostgreSQL trail). It needs nothing but the [`AuditStore`] contract: a query started after
/// [`head`](AuditStore::head) returned sees every record up to that head, and a reader never
/// sees a gap that is later filled, so reading up to the head it just saw, then waiting for
/// the head to move, misses nothing and repeats nothing.
///
/// ```
/// use std::time::Duration;
/// use audit_log::{Actor, AuditLog, EntityRef, Event, Follow, MemorySink, Query};
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(store.clone()).build();
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))?;
///
/// // From the head on: record 1 is history, not news.
/// let mut follow = Follow::new(&store, &Query::new().event("user.*"))?
///     .interval(Duration::from_millis(10));
/// assert!(follow.try_next().is_none());
/// log.record(&Actor::system(), Event::group_deleted(EntityRef::id_only(7)))?;
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(2)))?;
/// // The iterator waits for records; this one is there already.
/// let next = follow.next().transpose()?.map(|r| r.seq);
/// assert_eq!(next, Some(3));
/// assert_eq!(follow.cursor(), 3);
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// As an [`Iterator`] it blocks, polling the store's head every
/// [`interval`](Follow::interval) until a record comes (it never ends by itself: stop
/// iterating to stop); [`try_next`](Follow::try_next) looks once and does not wait.
///
/// Items are `Err` for a record the store cannot read ([`Error::Corrupt`], the next item goes
/// on after it) and for a failure of the store (the next call tries again from the same
/// place); and once, as [`Error::Verification`], when the trail's head moves back (a store
/// restored from an older backup): following then goes on from the new head.
pub struct Follow<'a> {
    store: &'a dyn AuditStore,
    query: Query,
    tenant: TenantId,
    cursor: u64,
    interval: Duration,
    pending: VecDeque<Result<Record>>,
    /// The last look stopped at a page boundary: more records are there already.
    behind: bool,
}

impl std::fmt::Debug for Follow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("tenant", &self.tenant)
            .field("cursor", &self.cursor)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<'a> Follow<'a> {
    /// Follows the records committed from now on (after the tenant's current head) that match
    /// `query`'s filters. The query's order, limit and seq bounds do not apply: following
    /// goes forward, without end.
    ///
    /// # Errors
    /// Store failures reading the head.
    pub fn new(store: &'a dyn AuditStore, query: &Query) -> Result<Self> {
        let tenant = query.tenant_or_default();
        let head = store.head(&tenant)?.map_or(0, |h| h.seq);
        Ok(Self::after(store, query, head))
    }

    /// Follows the records after `seq` (those already in the trail first, then new ones): to
    /// go on where an earlier reader stopped.
    pub fn after(store: &'a dyn AuditStore, query: &Query, seq: u64) -> Self {
        let mut query = query.clone();
        query.order = Order::Ascending;
        query.limit = None;
        query.after_seq = None;
        query.through_seq = None;
        Follow {
            store,
            tenant: query.tenant_or_default(),
            query,
            cursor: seq,
            interval: Duration::from_millis(500),
            pending: VecDeque::new(),
            behind: false,
        }
    }

    /// How long the iterator waits between looks at the head when nothing is new (default
    /// 500 ms). Each look is one indexed read of the head; the records are read only when it
    /// moved.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The seq up to which the trail has been read: every matching record up to it has been
    /// handed over or is waiting in this follower.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The next record if one is there now: looks at the head at most once, never waits.
    pub fn try_next(&mut self) -> Option<Result<Record>> {
        if self.pending.is_empty() {
            if let Err(e) = self.look() {
                return Some(Err(e));
            }
        }
        self.pending.pop_front()
    }

    /// One look: reads the records after the cursor, up to the head seen now (a page at most).
    fn look(&mut self) -> Result<()> {
        let head = self.store.head(&self.tenant)?.map_or(0, |h| h.seq);
        if head < self.cursor {
            let was = self.cursor;
            self.cursor = head;
            self.behind = false;
            return Err(Error::Verification(format!(
                "the trail's head moved back from seq {was} to seq {head} (restored from an \
                 older backup, or rolled back): following on from seq {head}"
            )));
        }
        if head == self.cursor {
            self.behind = false;
            return Ok(());
        }
        let mut q = self.query.clone();
        q.tenant = Some(self.tenant.clone());
        q.after_seq = Some(self.cursor);
        q.through_seq = Some(head);
        q.limit = Some(PAGE);
        let mut read = 0;
        let mut last = self.cursor;
        for item in self.store.query(&q)? {
            read += 1;
            match &item {
                Ok(r) => last = r.seq,
                Err(Error::Corrupt { seq, .. }) if *seq > last => last = *seq,
                Err(Error::Corrupt { .. }) => {}
                // The stream stopped: what was read stays handed over; the rest next time.
                Err(_) => {
                    self.cursor = last;
                    self.pending.push_back(item);
                    return Ok(());
                }
            }
            self.pending.push_back(item);
        }
        // A full page may have stopped before the head; otherwise nothing else matches up
        // to it.
        self.behind = read >= PAGE;
        self.cursor = if self.behind { last } else { head };
        Ok(())
    }
}

impl Iterator for Follow<'_> {
    type Item = Result<Record>;

    /// Waits for the next matching record (or error); never returns `None`.
    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(item) = self.try_next() {
                return Some(item);
            }
            if !self.behind {
                std::thread::sleep(self.interval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, AuditLog, EntityRef, Event, MemorySink};

    fn deleted(log: &AuditLog, n: u64) {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(n)))
            .unwrap();
    }

    #[test]
    fn new_records_come_once_in_order_filtered() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        deleted(&log, 1);
        let mut f =
            Follow::new(&store, &Query::new().event("user.*").descending().limit(1)).unwrap();
        assert_eq!(f.cursor(), 1);
        assert!(f.try_next().is_none());
        log.record(
            &Actor::system(),
            Event::group_deleted(EntityRef::id_only(9)),
        )
        .unwrap();
        deleted(&log, 2);
        deleted(&log, 3);
        let seqs: Vec<u64> = std::iter::from_fn(|| f.try_next())
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(seqs, [3, 4]);
        assert_eq!(f.cursor(), 4);
        assert!(f.try_next().is_none());
    }

    #[test]
    fn a_burst_comes_in_pages_without_waiting() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let f = Follow::after(&store, &Query::new(), 0).interval(Duration::from_secs(3600));
        log.record_batch((0..(2 * PAGE as u64 + 5)).map(|i| {
            crate::Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
        }))
        .unwrap();
        // With an hour between looks, this finishes only if full pages do not wait.
        let seqs: Vec<u64> = f.take(2 * PAGE + 5).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, (1..=(2 * PAGE as u64 + 5)).collect::<Vec<_>>());
    }

    #[test]
    fn a_head_that_moves_back_is_reported_once() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        deleted(&log, 1);
        let mut f = Follow::after(&store, &Query::new(), 5);
        match f.try_next() {
            Some(Err(Error::Verification(m))) => assert!(m.contains("from seq 5 to seq 1"), "{m}"),
            other => panic!("expected the head moving back, got {other:?}"),
        }
        assert_eq!(f.cursor(), 1);
        assert!(f.try_next().is_none());
    }
}
