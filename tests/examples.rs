#![cfg(feature = "sqlite")]
//! Every example (each mirrors a cookbook recipe) runs and prints what its recipe promises.
//!
//! `cargo test` builds the examples next to the tests; the binaries are found beside this
//! test's own (`target/<profile>/examples/`). When a filtered run did not build one, it is
//! built here with the same cargo, so the check never passes by not looking.

use std::path::PathBuf;
use std::process::Command;

/// The example binary `name`, built if missing.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/examples-HASH -> target/<profile>/examples/NAME
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join("examples");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--example", name, "--all-features"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building example {name}");
    }
    bin
}

/// Runs example `name` in a fresh directory (some write files there) and returns what it
/// printed; panics with its output when it fails.
fn run(name: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let out = Command::new(example(name))
        .args(args)
        .current_dir(dir.path())
        .env_remove("AUDIT_LOG_POSTGRES_URL")
        .output()
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_prints(name: &str, out: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(out.contains(w), "example {name} should print {w:?}:\n{out}");
    }
}

#[test]
fn record_call_sites_prints_both_records_of_the_request() {
    let out = run("record_call_sites", &[]);
    assert_prints(
        "record_call_sites",
        &out,
        &[
            "#1 2026-03-02 09:00 [req-42] root edited group Operations: name 'Ops' -> 'Operations'",
            "#2 2026-03-02 09:00 [req-42] root deleted group Operations (denied)",
        ],
    );
}

#[test]
fn assert_in_tests_shows_the_assertion_and_a_failure_message() {
    let out = run("assert_in_tests", &[]);
    assert_prints(
        "assert_in_tests",
        &out,
        &[
            "asserted: #1 root deleted user bob",
            "expected 0 record(s) matching event user.*, found 1",
            "recorded in tenant default (1):\n  #1 root deleted user bob",
        ],
    );
}

#[test]
fn sqlite_host_transaction_commits_and_rolls_back_with_the_host() {
    let out = run("sqlite_host_transaction", &[]);
    assert_prints(
        "sqlite_host_transaction",
        &out,
        &[
            "committed: user 42 and audit record #1",
            "rolled back: UNIQUE constraint failed: users.login",
            "users: 1; audit trail: [\"#1 root created user alice\"]",
            "1 records intact",
        ],
    );
}

#[test]
fn investigate_access_names_who_removed_alices_access() {
    let out = run("investigate_access", &[]);
    assert_prints(
        "investigate_access",
        &out,
        &[
            "alice lost access to Payroll",
            "bob removed group Accounting from group Finance-Staff (record #82)",
            "as a new application: nobody's access came back with it",
            "reorg ticket FIN-88",
        ],
    );
}

#[test]
fn export_csv_writes_a_file_its_manifest_vouches_for() {
    let out = run("export_csv", &["."]);
    assert_prints(
        "export_csv",
        &out,
        &["\"formula_escaping\": true", "export intact: 6 records"],
    );
}

#[test]
fn verify_checkpoint_catches_a_restored_backup() {
    let out = run("verify_checkpoint", &[]);
    assert_prints(
        "verify_checkpoint",
        &out,
        &[
            "tenant default: 5 records intact, head seq 5",
            "restored: tenant default: chain broken at seq 4: trail ends before checkpoint seq 5",
            "intact after the restore? false",
        ],
    );
}

#[test]
fn keep_secrets_stores_no_secret_value() {
    let out = run("keep_secrets", &[]);
    assert_prints(
        "keep_secrets",
        &out,
        &[
            r#"{"changes":[{"field":"password"}],"event":"user.edited""#,
            r#""field":"api_key","new":{"redacted":{"fingerprint":"hmac-sha256:"#,
            "secret values stored: false",
            "candidate matches: true",
        ],
    );
}

#[test]
fn move_trail_imports_once_and_keeps_the_chain() {
    let out = run("move_trail", &[]);
    assert_prints(
        "move_trail",
        &out,
        &[
            "exported 3 records",
            "imported 3, skipped 0",
            "again: imported 0, skipped 3",
            "same head in both stores: true",
            "3 records intact",
        ],
    );
}

#[test]
fn purge_retention_removes_the_old_records_on_record() {
    let out = run("purge_retention", &[]);
    assert_prints(
        "purge_retention",
        &out,
        &[
            "removed 1 records; the trail now starts after seq 1",
            "#7 2026-06-25 retention purged 1 record(s) through seq 1",
            "6 records intact, head seq 7",
            "against the checkpoint from before: tenant default: 6 records intact",
        ],
    );
}

#[test]
fn the_demo_tells_its_story_and_leaves_a_complete_db_file() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let out = Command::new(example("demo"))
        .current_dir(dir.path())
        .env_remove("AUDIT_LOG_POSTGRES_URL")
        .output()
        .expect("the demo starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_prints(
        "demo",
        &stdout,
        &[
            "The trail (13 records):",
            "carol added user carol to permission group Payroll editors (application Payroll) (denied)",
            "Verification: tenant default: 13 records intact, head seq 13",
            "Downloaded 13 records as audit-demo.csv",
        ],
    );
    // The .db file alone (what a person copies as a backup) holds the whole trail.
    let copy = dir.path().join("copy.db");
    std::fs::copy(dir.path().join("audit-demo.db"), &copy).expect("copy");
    let store = audit_log::SqliteOptions::new()
        .read_only(true)
        .open(&copy)
        .expect("the copy is a store");
    let report =
        audit_log::AuditStoreExt::verify(&store, &audit_log::TenantId::default()).expect("verify");
    assert_eq!(report.count, 13, "{report}");
    assert!(report.is_intact());
}

#[cfg(all(feature = "axum", feature = "sqlx-sqlite"))]
#[test]
fn axum_admin_records_each_change_in_its_own_transaction() {
    let out = run("axum_admin", &["--self-test"]);
    assert_prints(
        "axum_admin",
        &out,
        &[
            "bob deleting alice: 403 Forbidden",
            "root deleting user 999: 404 Not Found",
            "bob deleted user 1 (denied)",
            "root added user alice to group Accounting",
            "root created user alice",
        ],
    );
}
