//! Tests that pin down what `verify`, `verify_against` and `VerifyReport` report where the
//! other suites did not look (issue #11, mutation testing): each one failed with a mutant of
//! src/verify.rs that every other test let through.
//!
//! The trails live in a [`MemorySink`]; a [`Probe`] store in front of it plays the store
//! faults verification must name (an unreadable row, a seq order that ends before the head,
//! a census that counts other rows, a storage check that finds damage).

use audit_log::chain::{self, BreakReason, ChainBreak, StorageCheck, VerifyOptions, VerifyReport};
use audit_log::{
    Actor, AuditLog, AuditStore, Census, ChainAlgorithm, EntityRef, Error, Event, Head,
    ManualClock, MemorySink, Preparer, PurgePoint, Query, RecordStream, RetentionExt, TenantId,
};
use chrono::{Duration, TimeZone, Utc};

fn tenant() -> TenantId {
    TenantId::default()
}

/// A memory store with `n` records (user i added to group i % 3), a minute apart.
fn memory_store(n: u64) -> MemorySink {
    let store = MemorySink::new();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for i in 1..=n {
        clock.advance(Duration::minutes(1));
        log.record(
            &Actor::user(1, "root"),
            Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(i % 3, "g")),
        )
        .unwrap();
    }
    store
}

/// `n` records, then a retention purge through `through`: the trail starts after `through`
/// and its `audit.purged` record is at `n + 1`.
fn purged_store(n: u64, through: u64) -> MemorySink {
    let store = memory_store(n);
    let report = store
        .purge(
            &Preparer::new(),
            &tenant(),
            PurgePoint::ThroughSeq(through),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(report.anchor.seq, through);
    assert_eq!(report.receipt.map(|r| r.seq), Some(n + 1));
    store
}

/// A store in front of a [`MemorySink`] with the faults a real store can have.
#[derive(Debug, Clone, Default)]
struct Probe {
    inner: MemorySink,
    /// The record at this seq comes out of every query as unreadable.
    corrupt: Option<u64>,
    /// Queries end after this seq (a damaged seq index); the head is still the real one.
    walk_ends_at: Option<u64>,
    /// What the store's second structure counts (`None`: the store has none).
    census: Option<Census>,
    /// A writer appends this many records just before the census is taken, which then
    /// counts the trail as it is.
    appended_during_census: u64,
    /// What the store's storage check finds (`None`: the store has none).
    storage: Option<Result<(), String>>,
}

impl Probe {
    fn new(inner: MemorySink) -> Probe {
        Probe {
            inner,
            ..Probe::default()
        }
    }
}

impl AuditStore for Probe {
    fn query<'a>(&'a self, query: &Query) -> audit_log::Result<RecordStream<'a>> {
        let (corrupt, end) = (self.corrupt, self.walk_ends_at.unwrap_or(u64::MAX));
        Ok(Box::new(
            self.inner
                .query(query)?
                .filter(move |item| item.as_ref().map_or(true, |r| r.seq <= end))
                .map(move |item| match item {
                    Ok(r) if Some(r.seq) == corrupt => {
                        Err(Error::corrupt(r.seq, "event_json: expected value"))
                    }
                    other => other,
                }),
        ))
    }

    fn head(&self, tenant: &TenantId) -> audit_log::Result<Option<Head>> {
        self.inner.head(tenant)
    }

    fn chain_algorithm(&self) -> ChainAlgorithm {
        self.inner.chain_algorithm()
    }

    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        self.inner.tenants()
    }

    fn anchor(&self, tenant: &TenantId) -> audit_log::Result<Head> {
        self.inner.anchor(tenant)
    }

    fn census(&self, tenant: &TenantId, through: u64) -> audit_log::Result<Option<Census>> {
        if self.appended_during_census == 0 {
            return Ok(self.census);
        }
        let log = AuditLog::builder(self.inner.clone()).build();
        for i in 0..self.appended_during_census {
            log.record(
                &Actor::user(2, "writer"),
                Event::user_added_to_group(EntityRef::new(100 + i, "u"), EntityRef::new(1, "g")),
            )?;
        }
        let records = self.inner.records_of(tenant);
        Ok(Some(Census {
            records_through: records.iter().filter(|r| r.seq <= through).count() as u64,
            last_seq: records.last().map(|r| r.seq),
        }))
    }

    fn check_storage(&self, _check: StorageCheck) -> audit_log::Result<Option<Result<(), String>>> {
        Ok(self.storage.clone())
    }
}

fn first_break(report: &VerifyReport) -> Option<(u64, BreakReason)> {
    report.first_break.clone().map(|b| (b.seq, b.reason))
}

/// `VerifyReport::note` keeps the lowest seq: a break found after the walk (the start no
/// purge record accounts for) at a lower seq than one the walk found replaces it.
/// (Mutant: the match guard of `note` replaced by `true`, keeping the first break noted.)
#[test]
fn a_lower_break_noted_later_is_the_first_break() {
    let store = purged_store(10, 5);
    store.tamper(&tenant(), |records| {
        // The audit.purged record removed, and the record at 8 altered.
        assert_eq!(records.pop().map(|r| r.seq), Some(11));
        let r = records.iter_mut().find(|r| r.seq == 8).unwrap();
        r.occurred_at += Duration::seconds(1);
    });
    let report = chain::verify(&store, &tenant()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(
        first_break(&report),
        Some((6, BreakReason::UnaccountedStart { anchor_seq: 5 }))
    );
    assert_eq!(report.count, 5);
}

/// What a report says in words: intact (count, head seq and hash), empty, broken (where,
/// why, and how many records were read), and a failed storage check after either.
/// (Mutants: `Display for VerifyReport` replaced by `Ok(())`, and its storage arm deleted.)
#[test]
fn a_report_says_what_it_found() {
    let store = Probe::new(memory_store(3));
    let report = chain::verify(&store, &tenant()).unwrap();
    let head = report.head.unwrap();
    assert_eq!(
        report.to_string(),
        format!(
            "tenant default: 3 records intact, head seq 3 hash {}",
            head.hash
        )
    );

    let empty = chain::verify(&store, &TenantId::new("nobody")).unwrap();
    assert!(empty.is_intact());
    assert_eq!(empty.to_string(), "tenant nobody: empty trail");

    let broken = Probe {
        corrupt: Some(2),
        ..store.clone()
    };
    let report = chain::verify(&broken, &tenant()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(
        report.to_string(),
        "tenant default: chain broken at seq 2: unreadable: event_json: expected value \
         (3 records read)"
    );

    let damaged = Probe {
        storage: Some(Err("page 7: btree cell overflow".into())),
        ..store.clone()
    };
    let options = VerifyOptions::new().storage(StorageCheck::Quick);
    let report = chain::verify_with(&damaged, &tenant(), &options).unwrap();
    assert_eq!(report.first_break, None);
    assert!(!report.is_intact(), "a failed storage check is not intact");
    assert_eq!(
        report.to_string(),
        format!(
            "tenant default: 3 records intact, head seq 3 hash {}; storage check failed: \
             page 7: btree cell overflow",
            head.hash
        )
    );
    let sound = Probe {
        storage: Some(Ok(())),
        ..store
    };
    let report = chain::verify_with(&sound, &tenant(), &options).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.storage, Some(Ok(())));
    assert!(!report.to_string().contains("storage"), "{report}");
}

/// A walk that ends before the store's head (a damaged seq order) names the first seq it
/// could not read, even with no census to tell. (Mutant: `reached < head` replaced by
/// `reached > head` in `verify_with`.)
#[test]
fn a_walk_that_ends_before_the_head_is_a_missing_tail() {
    let store = Probe {
        walk_ends_at: Some(7),
        ..Probe::new(memory_store(10))
    };
    let report = chain::verify(&store, &tenant()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.count, 7);
    assert_eq!(report.head.map(|h| h.seq), Some(7));
    assert_eq!(
        first_break(&report),
        Some((8, BreakReason::MissingTail { head_seq: 10 }))
    );
}

/// A census that counts more records through the head than the walk read names the seq after
/// the last one read. (Mutant: `reached + 1` replaced by `reached * 1` for the census count.)
#[test]
fn a_census_that_counts_more_records_names_the_seq_after_the_walk() {
    let store = Probe {
        census: Some(Census {
            records_through: 6,
            last_seq: Some(5),
        }),
        ..Probe::new(memory_store(5))
    };
    let report = chain::verify(&store, &tenant()).unwrap();
    assert_eq!(report.count, 5);
    assert_eq!(
        first_break(&report),
        Some((6, BreakReason::MissingTail { head_seq: 5 }))
    );
    let agreeing = Probe {
        census: Some(Census {
            records_through: 5,
            last_seq: Some(5),
        }),
        ..store
    };
    assert!(chain::verify(&agreeing, &tenant()).unwrap().is_intact());
}

/// After an unreadable row the walk resumes at the next seq: the record after it is checked
/// (not a gap), still accounts for the trail's start, and is counted. (Mutants: the resume
/// arithmetic `seq + 1` after a corrupt row.)
#[test]
fn the_walk_resumes_after_a_corrupt_row() {
    // Records 6..=10 after a purge through 5; the audit.purged record is 11.
    let store = Probe {
        corrupt: Some(10),
        ..Probe::new(purged_store(10, 5))
    };
    let report = chain::verify(&store, &tenant()).unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak {
            seq: 10,
            reason: BreakReason::Corrupt("event_json: expected value".into()),
        })
    );
    assert_eq!(report.count, 6);
    assert_eq!(report.head.map(|h| h.seq), Some(11));
}

/// A trail with a purge point and no record at all after it: nothing accounts for the start
/// (a purge always leaves its own record), named at the seq after the anchor. (Mutants: the
/// `anchor.seq > 0` test and the `anchor.seq + 1` seq of the walk's no-head case.)
#[test]
fn a_purge_point_with_no_record_after_it_is_an_unaccounted_start() {
    let store = purged_store(10, 5);
    store.tamper(&tenant(), Vec::clear);
    assert_eq!(store.head(&tenant()).unwrap(), None);
    let report = chain::verify(&store, &tenant()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.count, 0);
    assert_eq!(report.head, None);
    assert_eq!(
        first_break(&report),
        Some((6, BreakReason::UnaccountedStart { anchor_seq: 5 }))
    );
}

/// Records appended while a verification runs are for the next one: a census that sees
/// them, with a head that has moved on to them, is no missing tail. (Mutant: `head_now <
/// last` replaced by `head_now <= last` in `verify_with`.)
#[test]
fn records_appended_during_verification_are_no_missing_tail() {
    let store = Probe {
        appended_during_census: 2,
        ..Probe::new(memory_store(5))
    };
    let report = chain::verify(&store, &tenant()).unwrap();
    assert_eq!(report.first_break, None);
    assert!(report.is_intact(), "{report}");
    assert_eq!((report.count, report.head.map(|h| h.seq)), (5, Some(5)));
    assert_eq!(store.inner.head(&tenant()).unwrap().map(|h| h.seq), Some(7));
}

/// A record rewritten to link elsewhere, its hash recomputed so that its content checks out,
/// is named by its link. (Mutant: `!link_unknown` replaced by `link_unknown` in `walk`,
/// which checked links only after an unreadable row.)
#[test]
fn a_rehashed_record_that_links_elsewhere_is_a_wrong_link() {
    let store = memory_store(8);
    store.tamper(&tenant(), |records| {
        let r = records.iter_mut().find(|r| r.seq == 5).unwrap();
        r.prev_hash = audit_log::Digest::ZERO;
        r.hash = chain::compute_hash(r);
    });
    let report = chain::verify(&store, &tenant()).unwrap();
    assert!(!report.is_intact());
    assert_eq!(first_break(&report), Some((5, BreakReason::WrongLink)));
    assert_eq!(report.count, 8);
}
