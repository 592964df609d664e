//! The `audit-log` command line, run as an operator runs it: the real binary against stores
//! the tests build through the library (a SQLite file; a PostgreSQL schema when
//! `AUDIT_LOG_POSTGRES_URL` names a server, NOT RUN otherwise). Each command and filter, the
//! exit codes (0 ok, 1 a failed check or nothing found, 2 usage and store errors) with one
//! line on stderr, bad paths and URLs, a newer schema, a tampered store, exports read back by
//! the library's import and by a CSV reader, a purge refused without confirmation and
//! recorded with one, reading commands that write nothing, and hostile display names shown
//! inert.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use audit_log::rusqlite::Connection;
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, EntityRef, Event, Import, MemorySink, Query,
    Record, SqliteOptions, SqliteSink, TenantId,
};
use cli_support::*;

/// No control character of a record may reach the terminal: no ESC, BEL, C1 control or bidi
/// override in what a command printed, and the hostile name shows as its escapes.
#[track_caller]
fn assert_inert(text: &str) {
    for (i, c) in text.char_indices() {
        assert!(
            !audit_log::text::is_control_like(c) || c == '\n',
            "control character U+{:04X} at byte {i} of:\n{text}",
            u32::from(c)
        );
    }
}

fn seqs_of_table(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn seqs_of_json(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Record>(l).unwrap().seq)
        .collect()
}

/// Every filter of `list`, on any store holding the story.
fn filters_narrow_the_list(t: &Target) {
    let list = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["list", "--format", "json"];
        all.extend_from_slice(args);
        seqs_of_json(t.run(&all).ok())
    };
    assert_eq!(list(&[]), (1..=13).collect::<Vec<_>>());
    assert_eq!(list(&["--since", "2026-03-03"]), [10, 11, 12, 13]);
    assert_eq!(
        list(&["--until", "2026-03-03"]),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(list(&["--since", "2026-03-03T10:06:00Z"]), [11, 12, 13]);
    assert_eq!(list(&["--since", "2026-03-03T10:07:00Z"]), [12, 13]);
    assert_eq!(
        list(&["--since", "2026-03-03 11:07", "--tz", "Europe/Berlin"]),
        [12, 13]
    );
    // An age: the whole story is older than a day before now.
    assert_eq!(list(&["--since", "1d"]), Vec::<u64>::new());
    assert_eq!(list(&["--until", "36h"]).len(), 13);
    assert_eq!(list(&["--actor", "2"]), [10, 13]);
    assert_eq!(list(&["--actor", "2", "--actor", "43"]), [9, 10, 13]);
    assert_eq!(list(&["--event", "group.*"]), [4, 5, 6, 10]);
    assert_eq!(
        list(&["--event", "user.*", "--event", "application.deleted"]),
        [3, 7, 11, 13]
    );
    assert_eq!(list(&["--event", "billing.*"]), [12]);
    assert_eq!(list(&["--entity", "group:g-acc"]), [4, 6, 7, 10]);
    assert_eq!(list(&["--entity", "invoice:inv-1"]), [12]);
    assert_eq!(list(&["--outcome", "denied"]), [9]);
    assert_eq!(list(&["--request-id", "req-1"]), [1]);
    assert_eq!(
        list(&["--request-id", "req-2", "--request-id", "req-3"]),
        [9, 10]
    );
    assert_eq!(list(&["--correlation-id", "job-7"]), [1, 10]);
    assert_eq!(list(&["--ip", "192.0.2.9"]), [9]);
    assert_eq!(list(&["--ip", "10.0.0.17", "--ip", "192.0.2.9"]), [1, 9]);
    assert_eq!(list(&["--event", "group.*", "--actor", "1"]), [4, 5, 6]);
    // Pages and order.
    assert_eq!(list(&["--limit", "3"]), [1, 2, 3]);
    assert_eq!(list(&["--after", "3", "--limit", "2"]), [4, 5]);
    assert_eq!(list(&["--before", "3"]), [1, 2]);
    assert_eq!(list(&["--desc", "--limit", "3"]), [13, 12, 11]);
    assert_eq!(list(&["--desc", "--before", "11", "--limit", "2"]), [10, 9]);
    assert_eq!(list(&["--desc", "--after", "10"]), [13, 12, 11]);
    assert_eq!(list(&["--after", "5", "--before", "8"]), [6, 7]);
    let paged = t.run(&["list", "--limit", "5"]);
    assert!(
        paged.stderr.contains("the next page is --after 5"),
        "{paged:?}"
    );
    let last = t.run(&["list", "--after", "10"]);
    assert!(last.stderr.is_empty(), "{last:?}");
    let desc = t.run(&["list", "--desc", "--limit", "5"]);
    assert!(desc.stderr.contains("--desc --before 9"), "{desc:?}");
    assert_eq!(list(&["--all", "--event", "user.*"]), [3, 7, 11]);
    // Bad filters are usage errors.
    for bad in [
        vec!["list", "--since", "yesterday"],
        vec!["list", "--entity", "nokind"],
        vec!["list", "--ip", "not-an-ip"],
        vec!["list", "--outcome", "maybe"],
        vec!["list", "--tz", "Mars/Olympus"],
    ] {
        let r = t.run(&bad);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
    }
}

fn a_table_is_aligned_and_names_the_zone(t: &Target) {
    let out = t.run(&["list"]).ok().to_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 14, "{out}");
    assert!(lines[0].starts_with("SEQ  TIME (UTC)"), "{out}");
    // Every row's summary starts in the same column as the header's.
    let col = lines[0].find("SUMMARY").unwrap();
    for l in &lines[1..] {
        assert_eq!(
            l.char_indices().nth(col).map(|(_, c)| c != ' '),
            Some(true),
            "{l}"
        );
    }
    assert!(out.contains("  9  2026-03-02 09:22:00  DENIED "), "{out}");
    assert!(out.contains("bob removed group Accounting from group Finance staff"));
    // Not a terminal: no colour.
    assert!(!out.contains('\u{1b}'));
    let berlin = t.run(&["list", "--tz", "Europe/Berlin", "--limit", "1"]);
    assert!(
        berlin.ok().contains("TIME (Europe/Berlin)")
            && berlin.stdout.contains("2026-03-02 09:58:00"),
        "{berlin:?}"
    );
    let local = command()
        .args(&t.args)
        .args(["list", "--tz", "local", "--limit", "1"])
        .env("TZ", "America/New_York")
        .output()
        .unwrap();
    let local = String::from_utf8(local.stdout).unwrap();
    assert!(
        local.contains("TIME (America/New_York)") && local.contains("2026-03-02 03:58:00"),
        "{local}"
    );
    // Colour when asked for, never in what the record holds.
    let coloured = t.run(&["list", "--color", "always", "--outcome", "denied"]);
    assert!(
        coloured.ok().contains("\u{1b}[31mDENIED\u{1b}[0m"),
        "{coloured:?}"
    );
    let csv = t.run(&["list", "--format", "csv", "--limit", "2"]);
    let mut rows = csv::Reader::from_reader(csv.ok().as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq");
    let records: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(&records[1][6], "application.created");
}

fn show_prints_one_record_in_full(t: &Target) {
    let out = t.run(&["show", "10"]).ok().to_owned();
    for want in [
        "Record #10",
        "user 2 \"bob\"",
        "group.removed_from_group",
        "target        group g-acc \"Accounting\"",
        "related       group g-fin \"Finance staff\"",
        "reason        ticket OPS-1234: reorganise finance",
        "request id    req-3",
        "\"event\": \"group.removed_from_group\"",
        "verifies      yes: its content matches its hash and it links to #9; #11 links to it",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    // By id, and as JSON.
    let json = t.run(&["show", "#3", "--json"]);
    let r: Record = serde_json::from_str(json.ok().trim()).unwrap();
    assert_eq!(r.seq, 3);
    let by_id = t.run(&["show", &r.id.to_string()]);
    assert!(by_id.ok().contains("Record #3"), "{by_id:?}");
    assert!(by_id.stdout.contains("login_name    alice"), "{by_id:?}");
    // Nothing there: exit 1; not a seq or id: exit 2.
    assert!(t.run(&["show", "99"]).fails(1).contains("no record #99"));
    assert!(t
        .run(&["show", "00000000-0000-7000-8000-000000000000"])
        .fails(1)
        .contains("no record with id"));
    t.run(&["show", "alice"]).fails(2);
}

fn history_diff_access_and_blame_answer(t: &Target) {
    let timeline = t.run(&["history", "group:g-acc"]).ok().to_owned();
    assert!(
        timeline.starts_with("group:g-acc \"Accounting\": 4 records"),
        "{timeline}"
    );
    assert_eq!(
        seqs_of_table(&timeline.lines().skip(1).collect::<Vec<_>>().join("\n")),
        [4, 6, 7, 10]
    );
    assert!(timeline.contains("root added user alice to group Accounting [related]"));
    // A deleted application: its last known state and who deleted it.
    let gone = t
        .run(&["history", "application:app-payroll", "--at", "head"])
        .ok()
        .to_owned();
    assert!(
        gone.contains("deleted by #13 2026-03-03 10:12:00 bob"),
        "{gone}"
    );
    assert!(
        gone.contains("workspace           ws-fin \"Finance\""),
        "{gone}"
    );
    let before = t
        .run(&["history", "group:g-acc", "--at", "2026-03-02T09:30:00Z"])
        .ok()
        .to_owned();
    assert!(
        before.contains("member of           group:g-fin \"Finance staff\""),
        "{before}"
    );
    assert!(t
        .run(&["history", "group:nope"])
        .fails(1)
        .contains("does not name group:nope"));
    assert!(t
        .run(&["history", "group:g-acc", "--at", "2"])
        .fails(1)
        .contains("up to #2"));
    t.run(&["history", "group"]).fails(2);

    let diff = t
        .run(&["diff", "group:g-acc", "--from", "7", "--to", "head"])
        .ok()
        .to_owned();
    assert!(
        diff.contains("- member of group:g-fin (made by #6"),
        "{diff}"
    );

    let access = t.run(&["access", "42", "--at", "9"]).ok().to_owned();
    for want in [
        "Payroll editors (application Payroll)",
        "via Accounting -> Finance staff",
        "#7 2026-03-02 09:16:00 root added user alice to group Accounting",
        "#6 2026-03-02 09:13:00 root added group Accounting to group Finance staff",
        "#8 2026-03-02 09:19:00 root added group Finance staff to permission group Payroll editors",
    ] {
        assert!(access.contains(want), "{want:?} in\n{access}");
    }
    let now = t.run(&["access", "user:42"]).ok().to_owned();
    assert!(now.contains("no permission groups"), "{now}");
    assert!(t
        .run(&["access", "404"])
        .fails(1)
        .contains("does not name user 404"));
    t.run(&["access", "42", "--scope", "planet:1"]).fails(2);

    let blame = t
        .run(&["blame", "42", "--from", "2026-03-02", "--to", "head"])
        .ok()
        .to_owned();
    assert!(
        blame.contains(
            "#10 2026-03-03 10:03:00: bob removed group Accounting from group Finance staff, so alice lost Payroll editors (application Payroll), held via Accounting -> Finance staff (reason given: \"ticket OPS-1234: reorganise finance\")"
        ),
        "{blame}"
    );
    assert!(
        blame.contains("#8 2026-03-02 09:19:00: root added group Finance staff"),
        "{blame}"
    );
    let scoped = t
        .run(&["blame", "42", "--scope", "application:other"])
        .ok()
        .to_owned();
    assert!(
        scoped.contains("no record changed alice's access"),
        "{scoped}"
    );
}

fn stats_tail_and_completions(t: &Target) {
    let stats = t.run(&["stats"]).ok().to_owned();
    for want in [
        "13 records",
        "denied         1",
        "user 1 \"root\"",
        "2026-03-02        9",
        "group:g-acc \"Accounting\"",
    ] {
        assert!(stats.contains(want), "{want:?} in\n{stats}");
    }
    let tail = t.run(&["tail", "-n", "2"]).ok().to_owned();
    assert_eq!(seqs_of_table(&tail), [12, 13]);
    let tail = t.run(&["tail", "-n", "2", "--event", "group.*", "--json"]);
    assert_eq!(seqs_of_json(tail.ok()), [6, 10]);
    let bash = run(&["completions", "bash"]);
    assert!(bash.ok().contains("audit-log"));
}

/// A display name, a reason, a user agent and a payload that attack the terminal come out of
/// every command inert.
fn hostile_text_is_shown_inert(t: &Target) {
    let outputs = [
        t.run(&["list"]),
        t.run(&["list", "--format", "json"]),
        t.run(&["list", "--format", "csv"]),
        t.run(&["list", "--color", "always", "--actor", "66"]),
        t.run(&["show", "11"]),
        t.run(&["show", "12"]),
        t.run(&["history", "user:66"]),
        t.run(&["history", "user:66", "--at", "head"]),
        t.run(&["history", "invoice:inv-1"]),
        t.run(&["stats"]),
        t.run(&["tail", "-n", "5"]),
        t.run(&["blame", "42"]),
    ];
    for o in &outputs {
        let out = o.ok();
        // Colour codes of the program's own (after --color always) are the only ESC allowed.
        let without_colours = out
            .replace("\u{1b}[0m", "")
            .replace("\u{1b}[1m", "")
            .replace("\u{1b}[2m", "")
            .replace("\u{1b}[31m", "")
            .replace("\u{1b}[32m", "")
            .replace("\u{1b}[33m", "")
            .replace("\u{1b}[36m", "");
        assert_inert(&without_colours);
        assert_inert(&o.stderr);
    }
    // The name is shown, as its escapes.
    assert!(outputs[0]
        .stdout
        .contains(&format!("root created user {HOSTILE_SHOWN}")));
    assert!(outputs[5]
        .stdout
        .contains(&format!("user agent    {HOSTILE_SHOWN}")));
    assert!(
        outputs[5]
            .stdout
            .contains(&format!("\"note\": \"{HOSTILE_SHOWN}\"")),
        "{}",
        outputs[5].stdout
    );
    // JSON stays JSON, with the same meaning.
    let r: Record = serde_json::from_str(outputs[1].stdout.lines().nth(10).unwrap()).unwrap();
    assert_eq!(r.event.target().unwrap().display, Some(HOSTILE));
    // The hostile colour did not leak into the table: no red before the program's own.
    assert!(!outputs[3].stdout.contains("\u{1b}[31mlory"));
}

fn exports_read_back(t: &Target, dir: &std::path::Path) {
    let csv_file = dir.join("trail.csv");
    let out = t.run(&[
        "export",
        "--format",
        "csv",
        "-o",
        csv_file.to_str().unwrap(),
    ]);
    assert!(
        out.ok().contains("exported 13 records (seq 1 to 13)"),
        "{out:?}"
    );
    assert!(
        out.stderr.is_empty(),
        "no progress bar without a terminal: {out:?}"
    );
    // A CSV reader sees 13 rows, the hostile name exactly as recorded (the file is data),
    // and the formula rule applied.
    let mut reader = csv::Reader::from_path(&csv_file).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 13);
    assert_eq!(&rows[10][10], HOSTILE);
    assert_eq!(&rows[9][16], "ticket OPS-1234: reorganise finance");
    assert!(t
        .run(&["verify-export", csv_file.to_str().unwrap()])
        .ok()
        .contains("intact"));
    // Not over an existing file.
    t.run(&[
        "export",
        "--format",
        "csv",
        "-o",
        csv_file.to_str().unwrap(),
    ])
    .fails(2);

    let jsonl = dir.join("trail.jsonl");
    t.run(&["export", "--format", "jsonl", "-o", jsonl.to_str().unwrap()])
        .ok();
    let v = t.run(&["verify-export", jsonl.to_str().unwrap()]);
    assert!(
        v.ok().contains("every record's hash and link verified"),
        "{v:?}"
    );
    // The library's import reads it back into another store, identical and intact.
    let copy = MemorySink::new();
    let summary = Import::new().from_path(&copy, &jsonl).unwrap();
    assert_eq!(summary.imported, 13);
    assert!(copy.verify(&TenantId::default()).unwrap().is_intact());
    // So does the command's, into a new SQLite file.
    let imported = dir.join("imported.db");
    let target = Target::sqlite(&imported);
    let r = target.run(&["import", jsonl.to_str().unwrap()]);
    assert!(r.ok().contains("imported 13 records"), "{r:?}");
    assert!(target
        .run(&["verify"])
        .ok()
        .contains("intact: tenant default, 13 records"));
    assert_eq!(
        target.run(&["list", "--format", "json"]).stdout,
        t.run(&["list", "--format", "json"]).stdout
    );

    // A filtered export, in Berlin time, then a changed byte: verify-export says so (exit 1).
    let part = dir.join("part.csv");
    t.run(&[
        "export",
        "--format",
        "csv",
        "-o",
        part.to_str().unwrap(),
        "--event",
        "group.*",
        "--tz",
        "Europe/Berlin",
        "--columns",
        "seq,time,event",
    ])
    .ok();
    let text = std::fs::read_to_string(&part).unwrap();
    assert_eq!(
        text,
        "seq,time,event\n4,2026-03-02T10:07:00.000000+01:00,group.created\n5,2026-03-02T10:10:00.000000+01:00,group.created\n6,2026-03-02T10:13:00.000000+01:00,group.added_to_group\n10,2026-03-03T11:03:00.000000+01:00,group.removed_from_group\n"
    );
    std::fs::write(&part, text.replace("group.created", "group.deleted")).unwrap();
    let bad = t.run(&["verify-export", part.to_str().unwrap()]);
    assert!(
        bad.fails(1).contains("does not match its manifest"),
        "{bad:?}"
    );
    assert!(bad.stdout.contains("NOT INTACT"), "{bad:?}");
}

fn verify_and_checkpoints(t: &Target, dir: &std::path::Path) {
    let v = t.run(&["verify"]);
    assert!(
        v.ok().contains("intact: tenant default, 13 records"),
        "{v:?}"
    );
    assert!(v.stdout.contains("start         seq 1 (nothing purged)"));
    let cp = dir.join("cp.json");
    t.run(&["checkpoint", "-o", cp.to_str().unwrap()]).ok();
    assert!(t
        .run(&["verify", "--checkpoint", cp.to_str().unwrap()])
        .ok()
        .contains("checkpoint    seq 13"));
    // Not over an existing checkpoint.
    t.run(&["checkpoint", "-o", cp.to_str().unwrap()]).fails(2);
    // A checkpoint from a later head (a trail since truncated or rolled back): exit 1.
    let mut later: audit_log::Checkpoint =
        audit_log::Checkpoint::from_json(std::fs::read_to_string(&cp).unwrap().trim()).unwrap();
    later.seq = 20;
    let later_file = dir.join("later.json");
    std::fs::write(&later_file, later.to_json()).unwrap();
    let rolled = t.run(&["verify", "--checkpoint", later_file.to_str().unwrap()]);
    assert!(
        rolled.fails(1).contains("truncated or rolled back"),
        "{rolled:?}"
    );

    // Signed checkpoints: appended with a key file, checked with the public key.
    let key = dir.join("signing.key");
    std::fs::write(&key, "07".repeat(32)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let signed = dir.join("checkpoints.jsonl");
    for _ in 0..2 {
        t.run(&[
            "checkpoint",
            "-o",
            signed.to_str().unwrap(),
            "--sign",
            key.to_str().unwrap(),
            "--key-id",
            "ops-2026",
        ])
        .ok();
    }
    let public = audit_log::CheckpointSigner::from_bytes("ops-2026", &[7; 32])
        .unwrap()
        .verifier()
        .public_key_hex();
    let ok = t.run(&[
        "verify",
        "--checkpoint",
        signed.to_str().unwrap(),
        "--public-key",
        &public,
    ]);
    assert!(ok.ok().contains("signed by ops-2026"), "{ok:?}");
    t.run(&["verify", "--checkpoint", signed.to_str().unwrap()])
        .fails(2);
    let other = audit_log::CheckpointSigner::from_bytes("ops-2026", &[8; 32])
        .unwrap()
        .verifier()
        .public_key_hex();
    assert!(t
        .run(&[
            "verify",
            "--checkpoint",
            signed.to_str().unwrap(),
            "--public-key",
            &other
        ])
        .fails(1)
        .contains("signature"));
}

fn purge_asks_and_records_the_operator(t: &Target) {
    // No terminal to ask on, no --yes: refused, nothing removed.
    let refused = t.run(&["purge", "--through", "5", "--operator", "ops-alice"]);
    assert!(
        refused.fails(2).contains("needs confirmation"),
        "{refused:?}"
    );
    assert!(
        refused
            .stdout
            .contains("This removes 5 records of tenant default: seq 1 to 5"),
        "{refused:?}"
    );
    assert_eq!(
        seqs_of_json(t.run(&["list", "--format", "json"]).ok()).len(),
        13
    );
    t.run(&["purge", "--yes", "--operator", "x"]).fails(2);

    let done = t.run(&[
        "purge",
        "--before",
        "2026-03-02T09:10:00Z",
        "--yes",
        "--operator",
        "ops-alice",
    ]);
    assert!(
        done.ok().contains("removed 4 records; the trail now starts after seq 4; recorded as audit.purged #14 by ops-alice"),
        "{done:?}"
    );
    let json = t.run(&["show", "14", "--json"]);
    let r: Record = serde_json::from_str(json.ok().trim()).unwrap();
    assert_eq!(r.actor, Actor::user("ops-alice", "ops-alice"));
    assert_eq!(r.event.name(), "audit.purged");
    let v = t.run(&["verify"]);
    assert!(
        v.ok().contains("intact: tenant default, 10 records"),
        "{v:?}"
    );
    assert!(
        v.stdout.contains("the trail was purged through seq 4 on ")
            && v.stdout
                .contains(" by ops-alice (record #14, 4 records removed)"),
        "{v:?}"
    );
    assert!(t
        .run(&["show", "2"])
        .fails(1)
        .contains("record #2 is gone: the trail was purged through seq 4"));
    let h = t.run(&["history", "group:g-acc"]);
    assert!(
        h.stderr
            .contains("note: the trail was purged through seq 4"),
        "{h:?}"
    );
    assert!(t
        .run(&["access", "42", "--at", "9"])
        .ok()
        .contains("via Accounting -> Finance staff"));
    let again = t.run(&[
        "purge",
        "--through",
        "3",
        "--yes",
        "--operator",
        "ops-alice",
    ]);
    assert!(again.ok().contains("nothing to purge"), "{again:?}");
}

fn follow_sees_another_process_append(t: &Target, append: impl FnOnce()) {
    let mut child = command()
        .args(&t.args)
        .args([
            "tail",
            "-n",
            "1",
            "--follow",
            "--json",
            "--interval",
            "50",
            "--event",
            "user.*",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(serde_json::from_str::<Record>(&first).unwrap().seq, 11);
    append();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(serde_json::from_str::<Record>(&l).unwrap().seq);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // The appended group event is filtered out; the two user events come, in order.
    assert_eq!(seen, [15, 16]);
}

/// Appends a group event and two user events to the store, through the library.
fn append_three(store: impl audit_log::Store) {
    let log = AuditLog::builder(store).build();
    log.record(
        &Actor::system(),
        Event::group_created(EntityRef::new("g-new", "New")),
    )
    .unwrap();
    for i in 0..2 {
        log.record(
            &Actor::system(),
            Event::user_deleted(EntityRef::id_only(100 + i)),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------- SQLite

fn sqlite() -> (tempfile::TempDir, Target) {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    (dir, Target::sqlite(&path))
}

#[test]
fn sqlite_filters_narrow_the_list() {
    let (_dir, t) = sqlite();
    filters_narrow_the_list(&t);
}

#[test]
fn sqlite_a_table_is_aligned_and_names_the_zone() {
    let (_dir, t) = sqlite();
    a_table_is_aligned_and_names_the_zone(&t);
}

#[test]
fn sqlite_show_prints_one_record_in_full() {
    let (_dir, t) = sqlite();
    show_prints_one_record_in_full(&t);
}

#[test]
fn sqlite_history_diff_access_and_blame_answer() {
    let (_dir, t) = sqlite();
    history_diff_access_and_blame_answer(&t);
}

#[test]
fn sqlite_stats_tail_and_completions() {
    let (_dir, t) = sqlite();
    stats_tail_and_completions(&t);
}

#[test]
fn sqlite_hostile_text_is_shown_inert() {
    let (_dir, t) = sqlite();
    hostile_text_is_shown_inert(&t);
}

#[test]
fn sqlite_exports_read_back() {
    let (dir, t) = sqlite();
    exports_read_back(&t, dir.path());
}

#[test]
fn sqlite_verify_and_checkpoints() {
    let (dir, t) = sqlite();
    verify_and_checkpoints(&t, dir.path());
}

#[test]
fn sqlite_purge_asks_and_records_the_operator() {
    let (_dir, t) = sqlite();
    purge_asks_and_records_the_operator(&t);
}

#[test]
fn sqlite_follow_sees_another_process_append() {
    let (dir, t) = sqlite();
    // Two user events after the story's head (seq 13): the group event (14) is filtered out.
    let path = dir.path().join("audit.db");
    follow_sees_another_process_append(&t, || append_three(SqliteSink::open(&path).unwrap()));
}

/// Reading commands never write: the file's bytes and modification time stay, and SQLite's
/// write-ahead log holds nothing.
#[test]
fn sqlite_reading_commands_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let t = Target::sqlite(&path);
    let wal = dir.path().join("audit.db-wal");
    assert!(!wal.exists());
    let bytes = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let out = dir.path().join("out.csv");
    let cp = dir.path().join("cp.json");
    for args in [
        vec!["list"],
        vec!["list", "--format", "json", "--all"],
        vec!["show", "3"],
        vec!["history", "user:42"],
        vec!["history", "user:42", "--at", "5"],
        vec!["diff", "group:g-acc"],
        vec!["access", "42"],
        vec!["blame", "42"],
        vec!["tail"],
        vec!["stats"],
        vec!["verify", "--storage", "full"],
        vec!["checkpoint", "-o", cp.to_str().unwrap()],
        vec!["export", "--format", "csv", "-o", out.to_str().unwrap()],
    ] {
        t.run(&args).ok();
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the database file changed"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
}

#[test]
fn sqlite_a_tampered_store_fails_verify_naming_the_seq() {
    let (dir, t) = sqlite();
    let conn = Connection::open(dir.path().join("audit.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_records_no_update; \
         UPDATE audit_records SET actor_display = 'mallory' WHERE seq = 7",
    )
    .unwrap();
    drop(conn);
    let v = t.run(&["verify"]);
    assert!(
        v.fails(1)
            .contains("verification failed at seq 7: content does not match its hash (altered)"),
        "{v:?}"
    );
    assert!(
        v.stdout.contains("BROKEN: tenant default, first bad seq 7"),
        "{v:?}"
    );
    let shown = t.run(&["show", "7"]);
    assert!(
        shown
            .ok()
            .contains("verifies      NO: its content does not match its hash"),
        "{shown:?}"
    );
}

#[test]
fn sqlite_bad_paths_and_store_names_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.db");
    let m = Target::sqlite(&missing).run(&["list"]);
    let line = m.fails(2);
    assert!(
        line.contains(&missing.display().to_string()) && line.contains("missing"),
        "{line}"
    );
    assert!(!missing.exists(), "a reading command created the file");
    // A file that is not a store.
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "hello, this is not a database at all, not even close to one",
    )
    .unwrap();
    assert!(Target::sqlite(&text)
        .run(&["verify"])
        .fails(2)
        .contains("not an audit store"));
    // No store at all, an unknown scheme, an empty path.
    assert!(run(&["list"]).fails(2).contains("no store given"));
    assert!(run(&["--store", "mysql://x", "list"])
        .fails(2)
        .contains("not a store"));
    run(&["--store", "sqlite:", "list"]).fails(2);
    // The environment names the store too.
    let path = sqlite_story(dir.path());
    let via_env = command()
        .env("AUDIT_LOG_STORE", format!("sqlite:{}", path.display()))
        .args(["list", "--limit", "1"])
        .output()
        .unwrap();
    assert_eq!(via_env.status.code(), Some(0));
    // A tenant without records: an empty list, and nothing to checkpoint (exit 1).
    let t = Target::sqlite(&path);
    let other = t.run(&["--tenant", "acme", "list"]);
    assert!(
        other.ok().is_empty() && other.stderr.contains("no records match"),
        "{other:?}"
    );
    t.run(&["--tenant", "acme", "checkpoint", "-o", "-"])
        .fails(1);
    // Importing a file that is not there creates no store.
    let fresh = dir.path().join("fresh.db");
    let r =
        Target::sqlite(&fresh).run(&["import", dir.path().join("gone.jsonl").to_str().unwrap()]);
    assert!(r.fails(2).contains("gone.jsonl"), "{r:?}");
    assert!(!fresh.exists());
    // Usage errors from clap: exit 2, no backtrace.
    let r = run(&["list", "--no-such-flag"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("panicked"));
    let help = run(&["--help"]);
    assert!(help.ok().contains("Exit codes"));
}

#[test]
fn sqlite_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE audit_meta SET value = '9' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let r = Target::sqlite(&path).run(&["list"]);
    assert!(
        r.fails(2)
            .contains("newer than this version of audit-log supports"),
        "{r:?}"
    );
    // A writing command refuses it too, and changes nothing.
    Target::sqlite(&path)
        .run(&["purge", "--through", "1", "--yes", "--operator", "x"])
        .fails(2);
    let conn = Connection::open(&path).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, "9");
}

/// Runs `forward` with `config` until its file destination holds the story's 13 records, then
/// stops it with SIGINT: a clean stop (exit 0) that prints each route's final status.
fn forward_delivers_and_stops_on_a_signal(
    t: &Target,
    config: &std::path::Path,
    out_dir: &std::path::Path,
) {
    let child = command()
        .args(&t.args)
        .arg("forward")
        .arg("--config")
        .arg(config)
        .args(["--status-every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let delivered = || -> usize {
        std::fs::read_dir(out_dir)
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .map(|t| t.lines().count())
                    .sum()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered() < 13 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(delivered(), 13);
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("archive stopped delivered=13"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn sqlite_forward_delivers_from_a_config_and_stops_on_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    let out_dir = dir.path().join("out");
    let config = dir.path().join("forward.toml");
    std::fs::write(
        &config,
        format!(
            "cursors = {{ files = {:?} }}\n\n[[routes]]\nname = \"archive\"\nstart = \"beginning\"\ndestination = {{ kind = \"file\", dir = {:?} }}\n",
            dir.path().join("cursors").display().to_string(),
            out_dir.display().to_string()
        ),
    )
    .unwrap();
    let t = Target::sqlite(&path);
    forward_delivers_and_stops_on_a_signal(&t, &config, &out_dir);
    // A configuration that does not read: exit 2, one line naming the file.
    std::fs::write(&config, "routes = 7").unwrap();
    let bad = t.run(&["forward", "--config", config.to_str().unwrap()]);
    assert!(bad.fails(2).contains("forward.toml"), "{bad:?}");
}

/// On PostgreSQL, with the cursors beside the trail: the stop closes the store's and the
/// cursors' synchronous clients off the runtime's threads (they panicked there before).
#[test]
fn postgres_forward_delivers_from_a_config_and_stops_on_a_signal() {
    let Some(url) = pg_url("postgres_forward_delivers_from_a_config_and_stops_on_a_signal") else {
        return;
    };
    let s = PgSchema::with_story(&url, "forward");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let config = dir.path().join("forward.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "cursors": {"postgres": {"url": url, "schema": s.name}},
            "routes": [{"name": "archive", "start": "beginning",
                        "destination": {"kind": "file", "dir": out_dir}}]
        })
        .to_string(),
    )
    .unwrap();
    forward_delivers_and_stops_on_a_signal(&s.target(), &config, &out_dir);
}

// ------------------------------------------------------------- PostgreSQL

macro_rules! pg_test {
    ($name:ident, $check:ident) => {
        #[test]
        fn $name() {
            let Some(url) = pg_url(stringify!($name)) else {
                return;
            };
            let s = PgSchema::with_story(&url, "cli");
            $check(&s.target());
        }
    };
    ($name:ident, $check:ident, dir) => {
        #[test]
        fn $name() {
            let Some(url) = pg_url(stringify!($name)) else {
                return;
            };
            let s = PgSchema::with_story(&url, "cli");
            let dir = tempfile::tempdir().unwrap();
            $check(&s.target(), dir.path());
        }
    };
}

pg_test!(postgres_filters_narrow_the_list, filters_narrow_the_list);
pg_test!(
    postgres_a_table_is_aligned_and_names_the_zone,
    a_table_is_aligned_and_names_the_zone
);
pg_test!(
    postgres_show_prints_one_record_in_full,
    show_prints_one_record_in_full
);
pg_test!(
    postgres_history_diff_access_and_blame_answer,
    history_diff_access_and_blame_answer
);
pg_test!(
    postgres_stats_tail_and_completions,
    stats_tail_and_completions
);
pg_test!(
    postgres_hostile_text_is_shown_inert,
    hostile_text_is_shown_inert
);
pg_test!(
    postgres_purge_asks_and_records_the_operator,
    purge_asks_and_records_the_operator
);
pg_test!(postgres_exports_read_back, exports_read_back, dir);
pg_test!(postgres_verify_and_checkpoints, verify_and_checkpoints, dir);

#[test]
fn postgres_follow_sees_another_process_append() {
    let Some(url) = pg_url("postgres_follow_sees_another_process_append") else {
        return;
    };
    let s = PgSchema::with_story(&url, "follow");
    follow_sees_another_process_append(&s.target(), || append_three(s.sink()));
}

#[test]
fn postgres_a_tampered_store_fails_verify_naming_the_seq() {
    let Some(url) = pg_url("postgres_a_tampered_store_fails_verify_naming_the_seq") else {
        return;
    };
    let s = PgSchema::with_story(&url, "tamper");
    let r = format!("\"{}\".audit_records", s.name);
    s.admin()
        .batch_execute(&format!(
            "ALTER TABLE {r} DISABLE TRIGGER USER; \
             UPDATE {r} SET actor_display = 'mallory' WHERE seq = 7"
        ))
        .unwrap();
    let v = s.target().run(&["verify"]);
    assert!(v.fails(1).contains("verification failed at seq 7"), "{v:?}");
}

/// A missing schema, an older or newer one, a bad URL, a server that is not there: exit 2,
/// one line, no password shown, and nothing created.
#[test]
fn postgres_bad_urls_and_schemas_are_clear_errors() {
    let Some(url) = pg_url("postgres_bad_urls_and_schemas_are_clear_errors") else {
        return;
    };
    let missing = PgSchema::new(&url, "missing");
    let r = missing.target().run(&["list"]);
    assert!(r.fails(2).contains(&missing.name), "{r:?}");
    let exists: bool = missing
        .admin()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&missing.name],
        )
        .unwrap()
        .get(0);
    assert!(!exists, "a reading command created the schema");

    let newer = PgSchema::with_story(&url, "newer");
    newer
        .admin()
        .batch_execute(&format!(
            "UPDATE \"{}\".audit_meta SET value = '99' WHERE key = 'schema_version'",
            newer.name
        ))
        .unwrap();
    assert!(newer
        .target()
        .run(&["verify"])
        .fails(2)
        .contains("newer than this version"));

    // Nobody listens on port 1; the password must not be shown.
    let down = run(&[
        "--store",
        "postgres://app:s3cret@127.0.0.1:1/x",
        "--connect-timeout",
        "1",
        "list",
    ]);
    let line = down.fails(2);
    assert!(
        line.contains("postgres://app:***@127.0.0.1:1/x") && line.contains("unavailable"),
        "{line}"
    );
    assert!(!down.stderr.contains("s3cret"));
    let malformed = run(&["--store", "postgres://[nope", "list"]);
    assert!(malformed.fails(2).contains("invalid url"), "{malformed:?}");
}

/// Reading commands on PostgreSQL run in read-only sessions: the trail's tables are
/// unchanged (same rows, no new objects) after every one of them.
#[test]
fn postgres_reading_commands_write_nothing() {
    let Some(url) = pg_url("postgres_reading_commands_write_nothing") else {
        return;
    };
    let s = PgSchema::with_story(&url, "ro");
    let fingerprint = |s: &PgSchema| -> (i64, i64, String) {
        let mut c = s.admin();
        let row = c
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM \"{0}\".audit_records), \
                     (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1), \
                     (SELECT string_agg(encode(hash, 'hex'), ',' ORDER BY seq) FROM \"{0}\".audit_records) \
                     || (SELECT string_agg(tenant || seq || encode(hash, 'hex'), ',') FROM \"{0}\".audit_heads) \
                     || (SELECT string_agg(key || value, ',' ORDER BY key) FROM \"{0}\".audit_meta)",
                    s.name
                ),
                &[&s.name],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    let before = fingerprint(&s);
    let t = s.target();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    for args in [
        vec!["list"],
        vec!["show", "3"],
        vec!["history", "user:42"],
        vec!["access", "42"],
        vec!["blame", "42"],
        vec!["tail"],
        vec!["stats"],
        vec!["verify"],
        vec!["export", "--format", "jsonl", "-o", out.to_str().unwrap()],
    ] {
        t.run(&args).ok();
    }
    assert_eq!(fingerprint(&s), before);
}

/// The store the library reads is the one the command line wrote: a purge done with the
/// command line leaves a trail the library verifies, with the operator on record.
#[test]
fn the_library_reads_what_the_command_line_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_story(dir.path());
    Target::sqlite(&path)
        .run(&["purge", "--through", "3", "--yes", "--operator", "ops"])
        .ok();
    let store = SqliteOptions::new().read_only(true).open(&path).unwrap();
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    let purged: Vec<Record> = store
        .query(&Query::new().event("audit.purged"))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].actor.id, "ops");
}

/// `serve` shows the viewer to this machine: the timeline answers on the loopback address,
/// Ctrl-C (SIGINT) stops it cleanly; any other address is refused before anything starts.
#[test]
fn sqlite_serve_shows_the_viewer_on_the_loopback_address_only() {
    let (_dir, t) = sqlite();
    let refused = t.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("loopback"), "{}", refused.stderr);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut args: Vec<String> = t.args.clone();
    args.extend(
        [
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--base",
            "/admin/audit",
        ]
        .map(String::from),
    );
    let mut child = command()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}/admin/audit")),
        "{first}"
    );
    let page = fetch(port, "/admin/audit?entity=alice");
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("Timeline of user alice"));
    assert!(page.contains("Chain intact up to seq"));
    // SIGINT, as Ctrl-C sends it: a clean stop.
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// A GET over a plain TCP connection (no HTTP client in the CLI's tests): the status line,
/// headers and body as text.
fn fetch(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut last = None;
    for _ in 0..50 {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                write!(
                    s,
                    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut text = String::new();
                s.read_to_string(&mut text).unwrap();
                return text;
            }
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    panic!("no server on port {port}: {last:?}");
}
