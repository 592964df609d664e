//! Recipes for the common tasks. Every recipe is a runnable example in `examples/`
//! (`cargo run --example NAME`), shown here from its file, compiled and run as a doctest, and
//! run again by `tests/examples.rs`, which checks what it prints.
//!
//! - [Record at every call site, one line each](#record-at-every-call-site-one-line-each)
//!   (`examples/record_call_sites.rs`)
//! - [Assert on the trail in your application's tests](#assert-on-the-trail-in-your-applications-tests)
//!   (`examples/assert_in_tests.rs`)
//! - [Append inside your own SQLite transaction](#append-inside-your-own-sqlite-transaction)
//!   (`examples/sqlite_host_transaction.rs`)
//! - [Answer "who removed Alice's access to Payroll?"](#answer-who-removed-alices-access-to-payroll)
//!   (`examples/investigate_access.rs`)
//! - [Give administrators the CSV download](#give-administrators-the-csv-download)
//!   (`examples/export_csv.rs`)
//! - [Prove nobody edited, truncated or rolled back the trail](#prove-nobody-edited-truncated-or-rolled-back-the-trail)
//!   (`examples/verify_checkpoint.rs`)
//! - [Keep secrets out](#keep-secrets-out) (`examples/keep_secrets.rs`)
//! - [Move a trail to another store](#move-a-trail-to-another-store) (`examples/move_trail.rs`)
//! - [Purge old records under a retention policy](#purge-old-records-under-a-retention-policy)
//!   (`examples/purge_retention.rs`)
//! - [Record from an async web service](#record-from-an-async-web-service)
//!   (`examples/axum_admin.rs`)
//!
//! The main demo, `cargo run --example demo`, strings most of these together.
//!
//! # Record at every call site, one line each
//!
//! Build one [`AuditLog`](crate::AuditLog) at start-up and give each request a
//! [`ScopedLog`](crate::ScopedLog) carrying who is acting and from where:
//!
//! ```
#![doc = include_str!("../examples/record_call_sites.rs")]
//! ```
//!
//! (`examples/record_call_sites.rs`: `cargo run --example record_call_sites`)
//!
//! # Assert on the trail in your application's tests
//!
//! Give your code a log over a [`MemorySink`](crate::MemorySink) and assert with a
//! [`Query`](crate::Query); a failed assertion prints everything that was recorded instead.
//!
//! ```
#![doc = include_str!("../examples/assert_in_tests.rs")]
//! ```
//!
//! (`examples/assert_in_tests.rs`: `cargo run --example assert_in_tests`)
//!
//! # Append inside your own SQLite transaction
//!
//! When your data lives in the same SQLite file, the audit record can commit or roll back
//! with the change it describes: see
//! [`SqliteSink::append_in`](crate::SqliteSink::append_in) and
//! `examples/sqlite_host_transaction.rs`. For PostgreSQL the same is
//! `PostgresSink::append_in` (feature `postgres`).
//!
//! # Answer "who removed Alice's access to Payroll?"
//!
//! ```
//! use audit_log::{AccessFilter, Actor, AuditLog, EntityRef, Event, History, MemorySink,
//!                 PermissionGroupRef, Point, Scope};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! let (root, bob) = (Actor::user(1, "root"), Actor::user(2, "bob"));
//! let alice = EntityRef::new(42, "alice");
//! let accounting = EntityRef::new("g-acc", "Accounting");
//! let finance = EntityRef::new("g-fin", "Finance staff");
//! let payroll = EntityRef::new("app-payroll", "Payroll");
//! let editors = PermissionGroupRef::new("pg-1", "Payroll editors",
//!     Scope::application(payroll, EntityRef::new("ws-1", "Finance")));
//! log.record(&root, Event::user_added_to_group(alice, accounting.clone()))?;
//! log.record(&root, Event::group_added_to_group(accounting.clone(), finance.clone()))?;
//! let before = log.record(&root, Event::permission_group_added(finance.clone(), editors))?;
//! log.record(&bob, Event::group_removed_from_group(accounting, finance))?;
//!
//! let history = History::new(&store);
//! let changes = history.blame(42, &AccessFilter::Any, Point::Seq(before.seq), Point::Head)?;
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes[0].record.actor.label(), "bob");
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! `examples/investigate_access.rs` tells the whole story and prints the answer as a person
//! reads it: the paths (direct, via groups), the records behind each link, a deleted
//! application's last known state, timelines and diffs.
//!
//! # Give administrators the CSV download
//!
//! ```
//! use audit_log::{Actor, AuditLog, CsvExport, EntityRef, Event, MemorySink, Query};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! log.record(&Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "=HYPERLINK()")))?;
//!
//! let mut csv = Vec::new();
//! let manifest = CsvExport::new().write(&store, &Query::new(), &mut csv)?;
//! assert_eq!(manifest.count, 1);
//! // The display name cannot start a formula in a spreadsheet.
//! assert!(String::from_utf8_lossy(&csv).contains("'=HYPERLINK()"));
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! [`CsvExport::to_file`](crate::CsvExport::to_file) also writes the manifest beside the file,
//! which [`verify_export`](crate::verify_export) checks offline. `examples/export_csv.rs`.
//!
//! # Prove nobody edited, truncated or rolled back the trail
//!
//! Verify the chain, and keep a [`Checkpoint`](crate::Checkpoint) somewhere the store's
//! operators cannot rewrite: a truncated tail or a restore from an older backup then shows
//! too.
//!
//! ```
#![doc = include_str!("../examples/verify_checkpoint.rs")]
//! ```
//!
//! (`examples/verify_checkpoint.rs`: `cargo run --example verify_checkpoint`)
//!
//! # Keep secrets out
//!
//! A password change has no value to record ([`UserChange::password_changed`](crate::UserChange::password_changed)).
//! Other fields go through the [`RedactionPolicy`](crate::RedactionPolicy): secret-looking
//! names by default, plus your own, optionally with a keyed fingerprint so equal values can
//! still be matched.
//!
//! ```
#![doc = include_str!("../examples/keep_secrets.rs")]
//! ```
//!
//! (`examples/keep_secrets.rs`: `cargo run --example keep_secrets`)
//!
//! # Move a trail to another store
//!
//! Export JSON Lines from one store and [`Import`](crate::Import) them into another: the
//! records keep their seqs and hashes, the chain is checked before anything is written, and
//! running the same import again does nothing.
//!
//! ```
#![doc = include_str!("../examples/move_trail.rs")]
//! ```
//!
//! (`examples/move_trail.rs`: `cargo run --example move_trail`)
//!
//! # Purge old records under a retention policy
//!
//! Only through one explicit call, which records an `audit.purged` event of its own; the
//! rest of the trail still verifies from the purge point.
//!
//! ```
#![doc = include_str!("../examples/purge_retention.rs")]
//! ```
//!
//! (`examples/purge_retention.rs`: `cargo run --example purge_retention`)
//!
//! # Record from an async web service
//!
//! With the `axum` feature, `audit_log::axum::AuditLayer` fills each request's context and a
//! handler takes an `audit_log::async_log::AsyncScopedLog`; with `sqlx-sqlite` or
//! `sqlx-postgres`, the record joins the handler's own sqlx transaction (`audit_log::sqlx`). `examples/axum_admin.rs` is a whole service built so: its change and
//! record in one transaction, refused changes on record as denied.
//!
//! ```text
//! cargo run --example axum_admin --features axum,sqlx-sqlite
//! ```
