//! Where a purged trail starts: the retention purge that removed its beginning
//! ([`PurgeInfo`], what people are shown as "purged through N on DATE by ACTOR") and the state
//! its record kept, from which [`History`] folds on.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{RecordRef, State};
use super::History;
use crate::error::{Error, Result};
use crate::event::{AuditPurged, Event};
use crate::record::{Head, Record};

/// The retention purge a trail starts after, as its `audit.purged` record tells it:
/// [`History::purged`].
///
/// Its [`Display`](fmt::Display) is the line a command line or a page shows above answers
/// about a purged trail: `purged through 1200 on 2026-03-04 10:12 UTC by retention-job`.
/// The actor's label is stored text: neutralise it where a person reads it
/// ([`text::for_terminal`](crate::text::for_terminal), HTML escaping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeInfo {
    /// The last seq removed: the trail starts after it (the store's
    /// [`anchor`](crate::AuditStore::anchor)).
    pub through_seq: u64,
    /// The purge's own `audit.purged` record: its seq, when the purge ran and who ran it.
    /// `None` when no readable record accounts for the purge point (an unreadable record, or a
    /// trail imported from after its start).
    pub record: Option<RecordRef>,
    /// How many records the purge removed, as its record says.
    pub removed: Option<u64>,
    /// The time bound the purge was asked for, when it was given as a time.
    pub before: Option<DateTime<Utc>>,
    /// Whether the record keeps the state at the purge point, so answers about points after
    /// it are what they were before the purge. When `false`, [`History`] answers only when
    /// asked to answer from what remains ([`History::from_what_remains`]), and says so.
    pub state_kept: bool,
}

impl fmt::Display for PurgeInfo {
    /// `purged through 1200 on 2026-03-04 10:12 UTC by retention-job`, followed by `(the
    /// state before it was not kept)` when it was not; without a readable purge record,
    /// `purged through 1200 (no readable purge record says when or by whom)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "purged through {}", self.through_seq)?;
        match &self.record {
            Some(r) => write!(
                f,
                " on {} by {}",
                r.at.format("%Y-%m-%d %H:%M UTC"),
                r.actor.label()
            )?,
            None => f.write_str(" (no readable purge record says when or by whom)")?,
        }
        if self.record.is_some() && !self.state_kept {
            f.write_str(" (the state before it was not kept)")?;
        }
        Ok(())
    }
}

/// What the trail holds about the purge it starts after.
pub(super) enum Found {
    /// Its `audit.purged` record.
    Record(Box<Record>),
    /// No readable record matches, and this unreadable `audit.purged` record may be it.
    Unreadable { seq: u64, reason: String },
    /// No `audit.purged` record matches the purge point.
    Missing,
}

fn purge_of(r: &Record) -> Option<&AuditPurged> {
    match &r.event {
        Event::AuditPurged(p) => Some(p),
        _ => None,
    }
}

/// [`Error::StartUnknown`] for a trail starting after `through_seq`.
fn unknown(through_seq: u64, reason: impl Into<String>) -> Error {
    Error::StartUnknown {
        through_seq,
        reason: reason.into(),
    }
}

impl History<'_> {
    /// The `audit.purged` record that made the trail start after `anchor`: the one naming
    /// that seq and hash (a later purge leaves earlier purge records after its point).
    ///
    /// # Errors
    /// Store failures.
    pub(super) fn find_purge(&self, anchor: Head) -> Result<Found> {
        let q = self.query().event("audit.purged").after_seq(anchor.seq);
        let mut unreadable = None;
        for item in self.store().query(&q)? {
            match item {
                Ok(r) => {
                    if purge_of(&r).is_some_and(|p| {
                        p.through_seq == anchor.seq && p.anchor_hash == anchor.hash
                    }) {
                        return Ok(Found::Record(Box::new(r)));
                    }
                }
                Err(Error::Corrupt { seq, reason }) => {
                    unreadable.get_or_insert(Found::Unreadable { seq, reason });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(unreadable.unwrap_or(Found::Missing))
    }

    /// The retention purge this tenant's trail starts after, if it was purged: through which
    /// seq, when and by whom (from its `audit.purged` record), and whether the state before
    /// it was kept. `Display` gives "purged through N on DATE by ACTOR".
    ///
    /// ```
    /// use audit_log::{Actor, AuditLog, EntityRef, Event, History, MemorySink, PurgePoint,
    ///                 RetentionExt, TenantId};
    ///
    /// let store = MemorySink::new();
    /// let log = AuditLog::builder(store.clone()).build();
    /// for u in 1..=5 {
    ///     log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(u)))?;
    /// }
    /// let history = History::new(&store);
    /// assert_eq!(history.purged()?, None);
    /// store.purge(log.preparer(), &TenantId::default(), PurgePoint::ThroughSeq(3), &Actor::service("retention-job"))?;
    /// let purge = history.purged()?.expect("purged");
    /// assert_eq!((purge.through_seq, purge.removed, purge.state_kept), (3, Some(3), true));
    /// assert!(purge.to_string().starts_with("purged through 3 on "));
    /// assert!(purge.to_string().ends_with(" by retention-job"));
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// Store failures.
    pub fn purged(&self) -> Result<Option<PurgeInfo>> {
        let anchor = self.store().anchor(&self.tenant)?;
        if anchor.seq == 0 {
            return Ok(None);
        }
        let mut info = PurgeInfo {
            through_seq: anchor.seq,
            record: None,
            removed: None,
            before: None,
            state_kept: false,
        };
        if let Found::Record(r) = self.find_purge(anchor)? {
            if let Some(p) = purge_of(&r) {
                info.removed = Some(p.count);
                info.before = p.before;
                info.state_kept = p.state.is_some();
            }
            info.record = Some(RecordRef::of(&r));
        }
        Ok(Some(info))
    }

    /// The state where this trail starts: empty for a whole trail; after a retention purge,
    /// the state the purge kept in its `audit.purged` record (so every answer about a point
    /// after the purge point is what it was before the purge).
    ///
    /// # Errors
    /// [`Error::StartUnknown`] when nothing (readable) says what the removed records held,
    /// unless the history answers [from what remains](History::from_what_remains) (then an
    /// empty state that starts after the purge point, and says so); [`Error::Snapshot`] for
    /// a kept state that does not read, or is not of this tenant at the purge point (also
    /// answered from what remains when asked to); store failures.
    pub(super) fn fresh(&self) -> Result<State> {
        let anchor = self.store().anchor(&self.tenant)?;
        if anchor.seq == 0 {
            return Ok(State::new(self.tenant.clone()));
        }
        let kept = match self.find_purge(anchor)? {
            Found::Record(r) => match purge_of(&r).and_then(|p| p.state.as_ref()) {
                Some(snapshot) => self.kept_state(&r, snapshot, anchor),
                None => Err(unknown(
                    anchor.seq,
                    format!(
                        "its purge record #{} keeps no state (written before purges kept it, \
                         or by hand)",
                        r.seq
                    ),
                )),
            },
            Found::Unreadable { seq, reason } => Err(unknown(
                anchor.seq,
                format!("the purge record #{seq} that would keep it is unreadable: {reason}"),
            )),
            Found::Missing => Err(unknown(
                anchor.seq,
                "no audit.purged record accounts for it (a trail imported from after its \
                 start, or records removed without a purge)",
            )),
        };
        match kept {
            Err(Error::StartUnknown { .. } | Error::Snapshot(_)) if self.from_what_remains => {
                Ok(State::after_purge(self.tenant.clone(), anchor.seq))
            }
            other => other,
        }
    }

    /// The state a purge record keeps, checked to be this tenant's at the purge point.
    fn kept_state(
        &self,
        record: &Record,
        snapshot: &serde_json::Value,
        anchor: Head,
    ) -> Result<State> {
        let state = State::from_snapshot(snapshot)?;
        if *state.tenant() != self.tenant || state.seq() != anchor.seq {
            return Err(Error::Snapshot(super::SnapshotError::Malformed {
                reason: format!(
                    "the snapshot of purge record #{} is of tenant {} at seq {}, not of \
                     tenant {} at the anchor {}",
                    record.seq,
                    state.tenant(),
                    state.seq(),
                    self.tenant,
                    anchor.seq
                ),
            }));
        }
        Ok(state)
    }

    /// The time of the last record a purge removed, as the state it kept says, without
    /// reading that state whole; `None` when nothing readable says.
    ///
    /// # Errors
    /// Store failures.
    pub(super) fn purge_time(&self, anchor: Head) -> Result<Option<DateTime<Utc>>> {
        let Found::Record(r) = self.find_purge(anchor)? else {
            return Ok(None);
        };
        Ok(purge_of(&r)
            .and_then(|p| p.state.as_ref())
            .and_then(|s| s.get("at"))
            .and_then(|at| at.as_str())
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc)))
    }

    /// Checks that `state` knows where its trail started, unless this history answers from
    /// what remains.
    ///
    /// # Errors
    /// [`Error::StartUnknown`] for a state that starts after a seq with nothing known before
    /// it ([`State::unknown_through`]), unless the history answers from what remains.
    pub(super) fn check_start(&self, state: &State) -> Result<()> {
        match state.unknown_through() {
            Some(through_seq) if !self.from_what_remains => Err(unknown(
                through_seq,
                "the records through it are not in the store and no state of them was kept",
            )),
            _ => Ok(()),
        }
    }
}
