//! [`Stats`]: a trail's records, counted.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{Error, Result};
use crate::event::EntityKey;
use crate::query::Query;
use crate::record::Actor;
use crate::sink::AuditStore;
use crate::zone::Zone;

/// How many records one actor made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorCount {
    /// The actor, with the newest display snapshot seen.
    pub actor: Actor,
    /// Records by it.
    pub count: u64,
}

/// How many records name one entity (as target, related entity or scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityCount {
    /// The entity.
    pub key: EntityKey,
    /// Its newest display snapshot seen.
    pub display: Option<String>,
    /// Records naming it.
    pub count: u64,
}

/// Counts over the records a query selects: by event, actor, outcome and day, and the
/// entities named most.
///
/// ```
/// use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink, Query, Stats, Zone};
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(store.clone()).build();
/// let alice = EntityRef::new(42, "alice");
/// log.record(&Actor::user(1, "root"), Event::user_created(alice.clone()))?;
/// log.record(&Actor::user(1, "root"), Event::user_deleted(alice))?;
///
/// let stats = Stats::collect(&store, &Query::new(), Zone::Utc)?;
/// assert_eq!(stats.records, 2);
/// assert_eq!(stats.by_event["user.created"], 1);
/// assert_eq!(stats.top_actors(1)[0].actor.label(), "root");
/// assert_eq!(stats.top_entities(1)[0].count, 2);
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// Counting reads the records once, as a stream: memory grows with the number of distinct
/// events, actors, days and entities, not with the number of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records counted.
    pub records: u64,
    /// Seqs of records the store could not read (not counted).
    pub unreadable: Vec<u64>,
    /// The first and last record's time, when any was counted.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Records per event name.
    pub by_event: BTreeMap<String, u64>,
    /// Records per outcome, by wire name (`success`, `failure`, `denied`).
    pub by_outcome: BTreeMap<String, u64>,
    /// Records per calendar day, in the zone counted in.
    pub by_day: BTreeMap<NaiveDate, u64>,
    /// Records per actor, by actor id.
    by_actor: BTreeMap<String, ActorCount>,
    /// Records naming each entity.
    entities: HashMap<EntityKey, EntityCount>,
}

impl Stats {
    /// Counts the records `query` selects (its limit and order apply), their days taken in
    /// `zone`.
    ///
    /// # Errors
    /// Store failures; an unreadable record is noted in [`Stats::unreadable`], not an error.
    pub fn collect(store: &dyn AuditStore, query: &Query, zone: Zone) -> Result<Stats> {
        let mut stats = Stats::default();
        for item in store.query(query)? {
            let r = match item {
                Ok(r) => r,
                Err(Error::Corrupt { seq, .. }) => {
                    stats.unreadable.push(seq);
                    continue;
                }
                Err(e) => return Err(e),
            };
            stats.records += 1;
            stats.span = Some(match stats.span {
                None => (r.occurred_at, r.occurred_at),
                Some((a, b)) => (a.min(r.occurred_at), b.max(r.occurred_at)),
            });
            *stats.by_event.entry(r.event.name().to_owned()).or_default() += 1;
            *stats
                .by_outcome
                .entry(r.outcome.as_str().to_owned())
                .or_default() += 1;
            *stats.by_day.entry(zone.date_of(r.occurred_at)).or_default() += 1;
            let actor = stats
                .by_actor
                .entry(r.actor.id.clone())
                .or_insert_with(|| ActorCount {
                    actor: r.actor.clone(),
                    count: 0,
                });
            actor.count += 1;
            if r.actor.display.is_some() {
                actor.actor = r.actor.clone();
            }
            for m in r.event.mentions() {
                let e = stats
                    .entities
                    .entry(m.key())
                    .or_insert_with(|| EntityCount {
                        key: m.key(),
                        display: None,
                        count: 0,
                    });
                e.count += 1;
                if let Some(d) = m.display {
                    e.display = Some(d.to_owned());
                }
            }
        }
        Ok(stats)
    }

    /// Every event name with its count, most frequent first (ties by name), at most `n`.
    pub fn top_events(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self
            .by_event
            .iter()
            .map(|(k, c)| (k.as_str(), *c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// The actors who made the most records, most first (ties by id), at most `n`.
    pub fn top_actors(&self, n: usize) -> Vec<&ActorCount> {
        let mut v: Vec<&ActorCount> = self.by_actor.values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.actor.id.cmp(&b.actor.id)));
        v.truncate(n);
        v
    }

    /// How many distinct actors made records.
    pub fn actors(&self) -> usize {
        self.by_actor.len()
    }

    /// The entities named by the most records, most first (ties by key), at most `n`.
    pub fn top_entities(&self, n: usize) -> Vec<&EntityCount> {
        let mut v: Vec<&EntityCount> = self.entities.values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        v.truncate(n);
        v
    }

    /// How many distinct entities the records name.
    pub fn entities(&self) -> usize {
        self.entities.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditLog, EntityRef, Event, ManualClock, MemorySink, Outcome};
    use chrono::TimeZone;

    #[test]
    fn counts_add_up_by_every_key() {
        let store = MemorySink::new();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 22, 30, 0).unwrap());
        let log = AuditLog::builder(store.clone())
            .clock(clock.clone())
            .build();
        let (root, bob) = (Actor::user(1, "root"), Actor::user(2, "bob"));
        let ops = EntityRef::new("g", "Ops");
        for i in 0..3 {
            log.record(
                &root,
                Event::user_added_to_group(EntityRef::new(i, "u"), ops.clone()),
            )
            .unwrap();
            clock.advance(chrono::Duration::hours(1));
        }
        log.record_entry(
            crate::Entry::new(bob.clone(), Event::group_deleted(ops.clone()))
                .outcome(Outcome::Denied),
        )
        .unwrap();

        let s = Stats::collect(&store, &Query::new(), Zone::Utc).unwrap();
        assert_eq!(s.records, 4);
        assert_eq!(
            s.top_events(9),
            [("user.added_to_group", 3), ("group.deleted", 1)]
        );
        assert_eq!(s.by_outcome["denied"], 1);
        assert_eq!(s.by_outcome["success"], 3);
        let days: Vec<u64> = s.by_day.values().copied().collect();
        assert_eq!(days, [2, 2], "22:30 and 23:30 on the 1st, then the 2nd");
        assert_eq!(s.top_actors(1)[0].actor, root);
        assert_eq!((s.actors(), s.entities()), (2, 4));
        let top = s.top_entities(1);
        assert_eq!(
            (top[0].key.clone(), top[0].count),
            (EntityKey::group("g"), 4)
        );
        assert_eq!(top[0].display.as_deref(), Some("Ops"));

        // The same records counted in UTC+02:00 fall on one day later for the late ones.
        let east = Stats::collect(&store, &Query::new(), Zone::parse("+02:00").unwrap()).unwrap();
        let days: Vec<u64> = east.by_day.values().copied().collect();
        assert_eq!(days, [4]);
        // A query narrows what is counted.
        let mine = Stats::collect(&store, &Query::new().actor("2"), Zone::Utc).unwrap();
        assert_eq!(mine.records, 1);
    }
}
