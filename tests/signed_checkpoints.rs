//! Signed checkpoints (`audit_log::signed`): what a signature covers, what verifying a store
//! against one catches (a rewrite with recomputed hashes, a rollback to an older backup) and
//! what it does not (a forged tail after the newest one), the cadence of `Checkpointing`, and
//! the checkpoint file.
#![cfg(feature = "sqlite")]

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_log::chain::{verify, BreakReason, ChainBreak};
use audit_log::conformance::t0;
use audit_log::{
    verify_against_signed, Actor, AuditLog, AuditSink, AuditStore, AuditStoreExt, ChainAlgorithm,
    Checkpoint, CheckpointFile, CheckpointSigner, CheckpointTarget, CheckpointVerifier,
    Checkpointing, Digest, EntityRef, Entry, Error, Event, ManualClock, MemorySink, PurgePoint,
    Record, RetentionExt, SealedSink, SignedCheckpoint, SqliteSink, TenantId,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_bytes("audit-2026", &[7; 32]).unwrap()
}

fn other_signer() -> CheckpointSigner {
    CheckpointSigner::from_bytes("audit-2026", &[8; 32]).unwrap()
}

fn deleted(i: u64) -> Event {
    Event::user_deleted(EntityRef::id_only(i))
}

fn record_n(log: &AuditLog, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        log.record(&Actor::system(), deleted(i)).unwrap();
    }
}

/// The seqs of `tenant`'s checkpoints in the file, in file order.
fn seqs_in(file: &CheckpointFile, tenant: &str) -> Vec<u64> {
    file.read_all()
        .unwrap()
        .into_iter()
        .filter(|c| c.checkpoint.tenant.as_str() == tenant)
        .map(|c| c.checkpoint.seq)
        .collect()
}

/// A log over `Checkpointing<S>` that writes to a checkpoint file in a fresh directory, on a
/// manual clock shared by the log and the wrapper.
struct Rig<S> {
    _dir: tempfile::TempDir,
    file: Arc<CheckpointFile>,
    sink: Arc<Checkpointing<S>>,
    log: AuditLog,
    clock: ManualClock,
}

fn rig<S: AuditSink + AuditStore>(
    store: S,
    configure: impl FnOnce(Checkpointing<S>) -> Checkpointing<S>,
) -> Rig<S> {
    let dir = tempfile::tempdir().unwrap();
    let file = Arc::new(CheckpointFile::open(dir.path().join("checkpoints.jsonl")).unwrap());
    let clock = ManualClock::new(t0());
    let sink = Arc::new(configure(
        Checkpointing::new(store, signer(), file.clone()).clock(clock.clone()),
    ));
    let log = AuditLog::builder(sink.clone()).clock(clock.clone()).build();
    Rig {
        _dir: dir,
        file,
        sink,
        log,
        clock,
    }
}

// ---------------------------------------------------------------------------------------
// The signature

#[test]
fn a_signed_checkpoint_round_trips_through_one_json_line_and_verifies() {
    let checkpoint = Checkpoint {
        tenant: TenantId::new("acme"),
        seq: 1_000,
        hash: Digest([0x5a; 32]),
        chain: ChainAlgorithm::Blake3,
    };
    let signed = checkpoint.sign(&signer(), t0());
    let line = signed.to_json();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains(r#""version":1"#), "{line}");
    assert!(line.contains(&hex::encode(signed.signature)), "{line}");
    let back = SignedCheckpoint::from_json(&line).unwrap();
    assert_eq!(back, signed);
    assert_eq!(
        back.verify_signature(&signer().verifier()).unwrap(),
        &checkpoint
    );
}

#[test]
fn json_that_is_not_a_signed_checkpoint_of_this_version_is_refused() {
    let line = Checkpoint {
        tenant: TenantId::default(),
        seq: 1,
        hash: Digest::ZERO,
        chain: ChainAlgorithm::Sha256,
    }
    .sign(&signer(), t0())
    .to_json();
    let cases = [
        (
            line.replace(r#""version":1"#, r#""version":2"#),
            "version 2 is not supported",
        ),
        (
            line.replace(r#""version":1,"#, r#""version":1,"extra":0,"#),
            "unknown field",
        ),
        (
            line.replace(r#""signature":""#, r#""signature":"00"#),
            "signature is not 128 hex digits",
        ),
        (line.replace(r#""hash":""#, r#""hash":"zz"#), "hex"),
        ("{}".to_owned(), "missing field"),
        ("not json".to_owned(), "expected"),
    ];
    for (text, why) in cases {
        match SignedCheckpoint::from_json(&text) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "signed checkpoint");
                assert!(reason.contains(why), "{text}: {reason}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// One change to a signed checkpoint.
#[derive(Debug, Clone)]
enum Flip {
    Tenant,
    Seq(u32),
    Hash(u8),
    Chain,
    SignedAt(i64),
    KeyId,
    SignatureBit(u16),
}

fn flip() -> impl Strategy<Value = Flip> {
    prop_oneof![
        Just(Flip::Tenant),
        (0u32..64).prop_map(Flip::Seq),
        (0u8..=255).prop_map(Flip::Hash),
        Just(Flip::Chain),
        prop_oneof![Just(-1i64), Just(1), any::<i32>().prop_map(i64::from)]
            .prop_filter("a change", |d| *d != 0)
            .prop_map(Flip::SignedAt),
        Just(Flip::KeyId),
        (0u16..512).prop_map(Flip::SignatureBit),
    ]
}

fn checkpoint() -> impl Strategy<Value = (Checkpoint, DateTime<Utc>)> {
    (
        "[a-z0-9_-]{1,24}",
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<bool>(),
        // From 1970 to about 2096, in microseconds.
        0i64..4_000_000_000_000_000,
    )
        .prop_map(|(tenant, seq, hash, blake3, micros)| {
            (
                Checkpoint {
                    tenant: TenantId::new(tenant),
                    seq,
                    hash: Digest(hash),
                    chain: if blake3 {
                        ChainAlgorithm::Blake3
                    } else {
                        ChainAlgorithm::Sha256
                    },
                },
                Utc.timestamp_micros(micros).unwrap(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every field of the signed message is covered: changing the tenant, the seq, one bit of
    /// the hash, the algorithm, the time or the key id, or flipping one bit of the signature,
    /// fails verification, also after a round trip through JSON.
    #[test]
    fn changing_any_signed_field_or_one_signature_bit_fails_verification(
        (cp, at) in checkpoint(),
        key in any::<[u8; 32]>(),
        key_id in "[a-z0-9-]{1,16}",
        flip in flip(),
    ) {
        let signer = CheckpointSigner::from_bytes(key_id.clone(), &key).unwrap();
        let verifier = signer.verifier();
        let signed = SignedCheckpoint::from_json(&cp.sign(&signer, at).to_json()).unwrap();
        prop_assert_eq!(signed.verify_signature(&verifier).unwrap(), &cp);

        let mut bad = signed.clone();
        match &flip {
            Flip::Tenant => bad.checkpoint.tenant = TenantId::new(format!("{}x", cp.tenant)),
            Flip::Seq(bit) => bad.checkpoint.seq ^= 1 << bit,
            Flip::Hash(bit) => bad.checkpoint.hash.0[usize::from(bit / 8)] ^= 1 << (bit % 8),
            Flip::Chain => {
                bad.checkpoint.chain = match cp.chain {
                    ChainAlgorithm::Sha256 => ChainAlgorithm::Blake3,
                    _ => ChainAlgorithm::Sha256,
                }
            }
            Flip::SignedAt(d) => bad.signed_at += TimeDelta::microseconds(*d),
            Flip::KeyId => bad.key_id.push('x'),
            Flip::SignatureBit(bit) => bad.signature[usize::from(bit / 8)] ^= 1 << (bit % 8),
        }
        prop_assert_ne!(&bad, &signed);
        let err = bad.verify_signature(&verifier).unwrap_err().to_string();
        match flip {
            Flip::KeyId => {
                prop_assert!(err.contains("wrong key id"), "{}", err);
                // The key id is signed too, not only compared: under a verifier that holds
                // the same public key with the changed id, the signature still fails.
                let renamed =
                    CheckpointVerifier::from_bytes(bad.key_id.clone(), &verifier.public_key()).unwrap();
                let err = bad.verify_signature(&renamed).unwrap_err().to_string();
                prop_assert!(err.contains("bad signature"), "{}", err);
            }
            Flip::SignatureBit(_) => prop_assert!(
                err.contains("bad signature") || err.contains("malformed signature"),
                "{}", err
            ),
            _ => prop_assert!(err.contains("bad signature"), "{}", err),
        }
        // What a reader of the file gets: the same refusal.
        let reread = SignedCheckpoint::from_json(&bad.to_json()).unwrap();
        prop_assert!(reread.verify_signature(&verifier).is_err());
    }
}

#[test]
fn a_verifier_with_another_key_refuses_the_signature() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    record_n(&log, 1..=3);
    let signed = store
        .checkpoint(&TenantId::default())
        .unwrap()
        .unwrap()
        .sign(&signer(), t0());
    // Same key id, another key: what an impostor's checkpoint looks like to the auditor.
    let impostor = other_signer().verifier();
    assert_eq!(impostor.key_id(), signer().key_id());
    for result in [
        signed.verify_signature(&impostor).map(|_| ()),
        verify_against_signed(&store, &signed, &impostor).map(|_| ()),
        store.verify_against_signed(&signed, &impostor).map(|_| ()),
    ] {
        match result {
            Err(Error::Verification(why)) => assert!(why.contains("bad signature"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(verify_against_signed(&store, &signed, &signer().verifier())
        .unwrap()
        .is_intact());
}

// ---------------------------------------------------------------------------------------
// Against a store

/// A second store with the same first `k - 1` records (imported byte for byte) and other
/// records from seq `k` on: a trail rewritten with every hash recomputed.
fn rewritten_from(original: &MemorySink, k: u64, len: u64) -> MemorySink {
    let forged = MemorySink::new();
    let kept: Vec<Record> = original
        .records()
        .into_iter()
        .filter(|r| r.seq < k)
        .collect();
    forged.append_sealed(kept).unwrap();
    let log = AuditLog::builder(forged.clone()).build();
    for i in k..=len {
        log.record(&Actor::user(666, "mallory"), deleted(1000 + i))
            .unwrap();
    }
    forged
}

#[test]
fn a_trail_rewritten_with_recomputed_hashes_passes_verify_but_not_the_newest_signed_checkpoint() {
    let r = rig(MemorySink::new(), |c| c.every_records(4));
    record_n(&r.log, 1..=10);
    assert_eq!(seqs_in(&r.file, "default"), [1, 5, 9]);
    let tenant = TenantId::default();
    let newest = r.file.newest(&tenant).unwrap().unwrap();
    let verifier = signer().verifier();
    assert!(verify_against_signed(r.sink.inner(), &newest, &verifier)
        .unwrap()
        .is_intact());

    let forged = rewritten_from(r.sink.inner(), 3, 10);
    // The chain alone cannot tell: it has no secret.
    let plain = verify(&forged, &tenant).unwrap();
    assert!(plain.is_intact(), "{plain}");
    assert_eq!(plain.count, 10);
    let report = verify_against_signed(&forged, &newest, &verifier).unwrap();
    assert!(!report.is_intact());
    assert_eq!(
        report.first_break,
        Some(ChainBreak {
            seq: 9,
            reason: BreakReason::Diverged
        })
    );
    // A checkpoint from before the rewrite's first seq still holds: it proves only its prefix.
    let first = r.file.read_all().unwrap().remove(0);
    assert_eq!(first.checkpoint.seq, 1);
    assert!(verify_against_signed(&forged, &first, &verifier)
        .unwrap()
        .is_intact());
}

#[test]
fn a_forged_tail_after_the_newest_checkpoint_is_not_caught() {
    // The documented limit: records after the newest signed seq verify like real ones.
    let r = rig(MemorySink::new(), |c| c.every_records(5));
    record_n(&r.log, 1..=6);
    let newest = r.file.newest(&TenantId::default()).unwrap().unwrap();
    assert_eq!(newest.checkpoint.seq, 6);
    let forged = rewritten_from(r.sink.inner(), 7, 9);
    let report = verify_against_signed(&forged, &newest, &signer().verifier()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.count, 9);
}

#[test]
fn a_store_rolled_back_to_an_older_backup_fails_against_the_newest_checkpoint_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteSink::open(dir.path().join("audit.db")).unwrap();
    let r = rig(store.clone(), |c| c.every_records(2));
    record_n(&r.log, 1..=3);
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup).unwrap();
    record_n(&r.log, 4..=7);
    assert_eq!(seqs_in(&r.file, "default"), [1, 3, 5, 7]);

    // The auditor reads the file (a copy, read-only) and checks the store the host now runs.
    let file = CheckpointFile::open_read_only(r.file.path()).unwrap();
    let tenant = TenantId::default();
    let newest = file.newest(&tenant).unwrap().unwrap();
    let verifier = signer().verifier();
    assert!(verify_against_signed(&store, &newest, &verifier)
        .unwrap()
        .is_intact());

    let restored = SqliteSink::open(&backup).unwrap();
    assert!(restored.verify(&tenant).unwrap().is_intact());
    let report = verify_against_signed(&restored, &newest, &verifier).unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak {
            seq: 4,
            reason: BreakReason::Truncated { checkpoint_seq: 7 }
        })
    );

    // Restored and written again past the checkpoint: the hash there differs.
    let log = AuditLog::builder(restored.clone()).build();
    record_n(&log, 100..=104);
    let report = verify_against_signed(&restored, &newest, &verifier).unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak {
            seq: 7,
            reason: BreakReason::Diverged
        })
    );
}

// ---------------------------------------------------------------------------------------
// Cadence

#[test]
fn a_tenant_is_signed_every_n_records() {
    let r = rig(MemorySink::new(), |c| {
        c.every_records(3).every(Duration::from_secs(3600))
    });
    record_n(&r.log, 1..=10);
    assert_eq!(seqs_in(&r.file, "default"), [1, 4, 7, 10]);
    assert_eq!(r.sink.emitted(), 4);
    // Each is the store's own checkpoint at that seq, signed by the key.
    let verifier = signer().verifier();
    for signed in r.file.read_all().unwrap() {
        let cp = signed.verify_signature(&verifier).unwrap();
        let at = r.sink.get(&cp.tenant, cp.seq).unwrap().unwrap();
        assert_eq!(cp, &at.checkpoint());
    }
    // A batch that crosses several multiples is one checkpoint, of its head.
    r.log
        .record_batch((11..=18).map(|i| Entry::new(Actor::system(), deleted(i))))
        .unwrap();
    assert_eq!(seqs_in(&r.file, "default"), [1, 4, 7, 10, 18]);
}

#[test]
fn a_tenant_is_signed_when_the_period_has_passed_since_its_last_checkpoint() {
    let r = rig(MemorySink::new(), |c| {
        c.every_records(u64::MAX).every(Duration::from_secs(60))
    });
    let mut at = Vec::new();
    for (i, offset) in [0, 30, 61, 90, 120, 130].into_iter().enumerate() {
        r.clock.set(t0() + TimeDelta::seconds(offset));
        r.log.record(&Actor::system(), deleted(i as u64)).unwrap();
        at.push(t0() + TimeDelta::seconds(offset));
    }
    let all = r.file.read_all().unwrap();
    let got: Vec<(u64, DateTime<Utc>)> = all
        .iter()
        .map(|c| (c.checkpoint.seq, c.signed_at))
        .collect();
    // seq 1 at once; seq 3 at 61 s (61 s after 0); seq 6 at 130 s (69 s after 61; 120 s was
    // only 59 s after it).
    assert_eq!(got, [(1, at[0]), (3, at[2]), (6, at[5])]);
}

#[test]
fn each_tenant_has_its_own_cadence() {
    let r = rig(MemorySink::new(), |c| {
        c.every_records(2).every(Duration::from_secs(3600))
    });
    let rec = |tenant: &str, i: u64| {
        r.log
            .record_entry(Entry::new(Actor::system(), deleted(i)).tenant(tenant))
            .unwrap();
    };
    rec("a", 1); // a:1 first
    rec("b", 2); // b:1 first
    rec("a", 3); // a:2, one past
    rec("a", 4); // a:3, two past: signed
    rec("b", 5); // b:2, one past: a's appends do not count for b
                 // One batch with both tenants: one checkpoint per tenant, of its head.
    r.log
        .record_batch([
            Entry::new(Actor::system(), deleted(6)).tenant("b"),
            Entry::new(Actor::system(), deleted(7)).tenant("a"),
            Entry::new(Actor::system(), deleted(8)).tenant("b"),
        ])
        .unwrap();
    assert_eq!(seqs_in(&r.file, "a"), [1, 3]); // a:4 is one past a:3
    assert_eq!(seqs_in(&r.file, "b"), [1, 4]);

    // At shut-down: every head not yet signed, once.
    assert_eq!(r.sink.checkpoint_now().unwrap(), 1);
    assert_eq!(seqs_in(&r.file, "a"), [1, 3, 4]);
    assert_eq!(r.sink.checkpoint_now().unwrap(), 0);
    let verifier = signer().verifier();
    for tenant in ["a", "b"] {
        let newest = r.file.newest(&TenantId::new(tenant)).unwrap().unwrap();
        assert_eq!(newest.checkpoint.seq, 4);
        let report = verify_against_signed(r.sink.as_ref(), &newest, &verifier).unwrap();
        assert!(report.is_intact(), "{report}");
    }
}

#[test]
fn concurrent_appenders_get_checkpoints_in_seq_order_each_of_a_real_head() {
    let r = rig(MemorySink::new(), |c| {
        c.every_records(10).every(Duration::from_secs(3600))
    });
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let log = r.log.clone();
            s.spawn(move || record_n(&log, t * 100..=t * 100 + 49));
        }
    });
    r.sink.checkpoint_now().unwrap();
    let seqs = seqs_in(&r.file, "default");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.last(), Some(&400));
    // Every one is the store's own record at its seq, signed by the key. (How far apart they
    // are depends on the disk: appends go on while a checkpoint is being synced.)
    let verifier = signer().verifier();
    for signed in r.file.read_all().unwrap() {
        let cp = signed.verify_signature(&verifier).unwrap();
        assert_eq!(
            cp,
            &r.sink
                .get(&cp.tenant, cp.seq)
                .unwrap()
                .unwrap()
                .checkpoint()
        );
    }
    assert_eq!(seqs[0], 1);
}

#[test]
fn imports_and_purges_through_the_wrapper_are_signed() {
    let source = MemorySink::new();
    record_n(&AuditLog::builder(source.clone()).build(), 1..=5);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteSink::open(dir.path().join("audit.db")).unwrap();
    let r = rig(store, |c| c.every_records(1000));
    r.sink.append_sealed(source.records()).unwrap();
    assert_eq!(seqs_in(&r.file, "default"), [5]);

    // A purge is signed at once, whatever the cadence.
    let tenant = TenantId::default();
    let report = r
        .sink
        .purge(
            r.log.preparer(),
            &tenant,
            PurgePoint::ThroughSeq(3),
            &Actor::system(),
        )
        .unwrap();
    assert_eq!(report.receipt.map(|x| x.seq), Some(6));
    assert_eq!(seqs_in(&r.file, "default"), [5, 6]);
    let newest = r.file.newest(&tenant).unwrap().unwrap();
    assert!(
        verify_against_signed(r.sink.as_ref(), &newest, &signer().verifier())
            .unwrap()
            .is_intact()
    );
}

// ---------------------------------------------------------------------------------------
// Failures

/// A target that fails while `down` is set, and keeps what it accepted.
#[derive(Debug, Default)]
struct Flaky {
    down: AtomicBool,
    kept: Mutex<Vec<SignedCheckpoint>>,
}

impl CheckpointTarget for Flaky {
    fn append(&self, checkpoint: &SignedCheckpoint) -> audit_log::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Io(std::io::Error::other("checkpoint disk is gone")));
        }
        self.kept.lock().unwrap().push(checkpoint.clone());
        Ok(())
    }
}

#[test]
fn a_failing_target_neither_fails_nor_loses_the_append_and_is_retried() {
    let target = Arc::new(Flaky::default());
    target.down.store(true, Ordering::SeqCst);
    let store = MemorySink::new();
    let sink =
        Arc::new(Checkpointing::new(store.clone(), signer(), target.clone()).every_records(100));
    let log = AuditLog::builder(sink.clone()).build();
    for i in 1..=3 {
        let receipt = log.record(&Actor::system(), deleted(i)).unwrap();
        assert_eq!(receipt.seq, i);
    }
    assert_eq!(store.records().len(), 3);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    assert_eq!((sink.emitted(), sink.failed()), (0, 3));
    let err = sink.last_error().unwrap();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(format!("{err}: {:?}", std::error::Error::source(&err)).contains("i/o error"));

    // Back up: the next append is signed, though the cadence (100) is far off, because no
    // checkpoint of the tenant was ever written.
    target.down.store(false, Ordering::SeqCst);
    log.record(&Actor::system(), deleted(4)).unwrap();
    let kept: Vec<u64> = target
        .kept
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.checkpoint.seq)
        .collect();
    assert_eq!(kept, [4]);
    assert_eq!((sink.emitted(), sink.failed()), (1, 3));
    // And a failure of `checkpoint_now` is the caller's to see.
    log.record(&Actor::system(), deleted(5)).unwrap();
    target.down.store(true, Ordering::SeqCst);
    assert!(matches!(sink.checkpoint_now(), Err(Error::Io(_))));
    assert_eq!(sink.failed(), 4);
}

// ---------------------------------------------------------------------------------------
// The checkpoint file

fn line(seq: u64, tenant: &str) -> String {
    line_at(seq, tenant, seq as i64)
}

fn line_at(seq: u64, tenant: &str, second: i64) -> String {
    Checkpoint {
        tenant: TenantId::new(tenant),
        seq,
        hash: Digest([seq as u8; 32]),
        chain: ChainAlgorithm::Sha256,
    }
    .sign(&signer(), t0() + TimeDelta::seconds(second))
    .to_json()
}

#[test]
fn the_newest_checkpoint_of_a_tenant_is_its_highest_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n{}\n{}\n",
            line_at(9, "a", 1),
            line(3, "a"),
            line(12, "b"),
            line_at(9, "a", 2)
        ),
    )
    .unwrap();
    let file = CheckpointFile::open_read_only(&path).unwrap();
    assert_eq!(file.read_all().unwrap().len(), 4);
    // The highest seq; of two at one seq, the later line.
    let a = file.newest(&TenantId::new("a")).unwrap().unwrap();
    assert_eq!(
        (a.checkpoint.seq, a.signed_at),
        (9, t0() + TimeDelta::seconds(2))
    );
    assert_eq!(
        file.newest(&TenantId::new("b"))
            .unwrap()
            .unwrap()
            .checkpoint
            .seq,
        12
    );
    assert!(file.newest(&TenantId::new("c")).unwrap().is_none());
    // Appending needs a file opened for it.
    let signed = SignedCheckpoint::from_json(&line(13, "a")).unwrap();
    assert!(matches!(file.append(&signed), Err(Error::ReadOnly { .. })));
}

#[test]
fn a_file_with_a_line_that_is_not_a_checkpoint_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let good = line(1, "a");
    let cases = [
        (format!("{good}\nnot json\n{good}\n"), "line 2", "expected"),
        (format!("{good}\n\n"), "line 2", "EOF"),
        (
            format!(
                "{good}\n{}\n",
                good.replace(r#""version":1"#, r#""version":7"#)
            ),
            "line 2",
            "version 7",
        ),
        (format!("{good}\n{good}"), "line 2", "incomplete"),
        (format!("{}\n", "x".repeat(70_000)), "line 1", "longer than"),
    ];
    for (content, at, why) in cases {
        std::fs::write(&path, &content).unwrap();
        let field = format!("{} {at}", path.display());
        for result in [
            CheckpointFile::open_read_only(&path).map(|_| ()),
            CheckpointFile::open(&path).map(|_| ()),
        ] {
            match result {
                Err(Error::InvalidInput { field: f, reason }) => {
                    assert_eq!(f, field);
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("{content:.80}: {other:?}"),
            }
        }
        // Refused, not repaired: the file is as it was.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    }
    let mut bytes = good.into_bytes();
    bytes[5] = 0xff;
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
    let err = CheckpointFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("line 1: not UTF-8"), "{err}");
}

#[test]
fn an_append_after_an_incomplete_last_line_is_refused_not_glued_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let file = CheckpointFile::open(&path).unwrap();
    let signed = SignedCheckpoint::from_json(&line(1, "a")).unwrap();
    file.append(&signed).unwrap();
    // A write cut short (by another process, or a full disk).
    let cut = &line(2, "a")[..40];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(cut.as_bytes())
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = file.append(&signed).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let err = file.newest(&TenantId::new("a")).unwrap_err().to_string();
    assert!(err.contains("line 2: incomplete"), "{err}");
}

#[test]
fn checkpoints_appended_to_a_file_read_back_exactly_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-dir-is-not-created.jsonl");
    let signed: Vec<SignedCheckpoint> = (1..=3)
        .map(|i| SignedCheckpoint::from_json(&line(i, "a")).unwrap())
        .collect();
    {
        let file = CheckpointFile::open(&path).unwrap();
        assert!(file.read_all().unwrap().is_empty());
        for s in &signed {
            file.append(s).unwrap();
        }
    }
    let file = CheckpointFile::open(&path).unwrap();
    assert_eq!(file.read_all().unwrap(), signed);
    assert!(matches!(
        CheckpointFile::open(dir.path().join("missing/c.jsonl")),
        Err(Error::Io(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Keys

#[test]
fn a_key_file_holds_32_raw_bytes_or_64_hex_digits_and_only_its_owner_may_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let want = signer().verifier();
    let write = |name: &str, content: &[u8], mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    };
    let raw = write("raw.key", &[7; 32], 0o600);
    let text = write(
        "hex.key",
        format!("{}\n", "07".repeat(32)).as_bytes(),
        0o400,
    );
    for path in [&raw, &text] {
        let s = CheckpointSigner::from_key_file("audit-2026", path).unwrap();
        assert_eq!(s.verifier(), want);
    }
    for (name, content) in [
        ("short.key", &b"0707"[..]),
        ("long.key", &[7u8; 33][..]),
        ("nothex.key", "zz".repeat(32).as_bytes()),
    ] {
        let path = write(name, content, 0o600);
        match CheckpointSigner::from_key_file("k", &path) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, format!("key file {}", path.display()));
                assert!(
                    reason.contains("neither 32 raw bytes nor 64 hex digits"),
                    "{reason}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    #[cfg(unix)]
    for mode in [0o644, 0o640, 0o604, 0o660] {
        let path = write("open.key", &[7; 32], mode);
        let err = CheckpointSigner::from_key_file("k", &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("permissions {mode:03o}")), "{err}");
    }
    assert!(matches!(
        CheckpointSigner::from_key_file("k", dir.path().join("absent.key")),
        Err(Error::Io(_))
    ));
}

#[test]
fn the_secret_key_is_never_in_debug_output() {
    let secret_hex = "07".repeat(32);
    let sink = Checkpointing::new(MemorySink::new(), signer(), Flaky::default());
    for shown in [
        format!("{:?}", signer()),
        format!("{sink:?}"),
        format!("{:#?}", sink),
    ] {
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            shown.contains(&signer().verifier().public_key_hex()),
            "{shown}"
        );
    }
}

#[test]
fn the_new_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<CheckpointSigner>();
    check::<CheckpointVerifier>();
    check::<SignedCheckpoint>();
    check::<CheckpointFile>();
    check::<Checkpointing<MemorySink>>();
    check::<Checkpointing<Arc<dyn audit_log::Store>>>();
    check::<Box<dyn CheckpointTarget>>();
}
