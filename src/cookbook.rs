//! Recipes for the common tasks, each a complete program that compiles and runs as a test.
//! The longer ones are also runnable examples (`cargo run --example NAME`).
//!
//! - [Record at every call site, one line each](#record-at-every-call-site-one-line-each)
//! - [Assert on the trail in your application's tests](#assert-on-the-trail-in-your-applications-tests)
//! - [Append inside your own SQLite transaction](#append-inside-your-own-sqlite-transaction)
//!   (`examples/sqlite_host_transaction.rs`)
//! - [Answer "who removed Alice's access to Payroll?"](#answer-who-removed-alices-access-to-payroll)
//!   (`examples/investigate_access.rs`)
//! - [Give administrators the CSV download](#give-administrators-the-csv-download)
//!   (`examples/export_csv.rs`)
//! - [Prove nobody edited, truncated or rolled back the trail](#prove-nobody-edited-truncated-or-rolled-back-the-trail)
//! - [Keep secrets out](#keep-secrets-out)
//! - [Move a trail to another store](#move-a-trail-to-another-store)
//! - [Purge old records under a retention policy](#purge-old-records-under-a-retention-policy)
//!
//! The main demo, `cargo run --example demo`, strings most of these together.
//!
//! # Record at every call site, one line each
//!
//! Build one [`AuditLog`](crate::AuditLog) at start-up and give each request a
//! [`ScopedLog`](crate::ScopedLog) carrying who is acting and from where:
//!
//! ```
//! use audit_log::{Actor, AuditLog, Context, EntityRef, Event, FieldChange, Outcome, SqliteSink};
//!
//! let log = AuditLog::builder(SqliteSink::open_in_memory()?).build();
//!
//! // In the request handler:
//! let audit = log
//!     .scoped(Actor::user(7, "root"))
//!     .with_context(Context::new().request_id("req-42").reason("ticket OPS-1234"));
//! let ops = EntityRef::new("g-ops", "Operations");
//! audit.record(Event::group_edited(ops.clone(), vec![FieldChange::new("name", "Ops", "Operations")]))?;
//! // A refused attempt is worth recording too.
//! audit.record_outcome(Event::group_deleted(ops), Outcome::Denied)?;
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! # Assert on the trail in your application's tests
//!
//! Give your code a log over a [`MemorySink`](crate::MemorySink) and assert with a
//! [`Query`](crate::Query); a failed assertion prints everything that was recorded instead.
//!
//! ```
//! use audit_log::{Actor, AuditLog, EntityKey, EntityRef, Event, MemorySink, Query};
//!
//! fn delete_user(log: &AuditLog, admin: &Actor, id: u64) -> audit_log::Result<()> {
//!     // ... the application's own work ...
//!     log.record(admin, Event::user_deleted(EntityRef::new(id, "bob")))?;
//!     Ok(())
//! }
//!
//! let sink = MemorySink::new();
//! let log = AuditLog::builder(sink.clone()).build();
//! delete_user(&log, &Actor::user(7, "root"), 42)?;
//! sink.assert_one(&Query::new().event("user.deleted").entity(EntityKey::user(42)).actor("7"));
//! # Ok::<(), audit_log::Error>(())
//! ```
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
//! use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, MemorySink, TenantId};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))?;
//!
//! let tenant = TenantId::default();
//! let checkpoint = store.checkpoint(&tenant)?.expect("a non-empty trail");
//! let saved = checkpoint.to_json(); // e-mail it, put it in a ticket, sign it
//!
//! log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(2)))?;
//! let report = store.verify_against(&audit_log::Checkpoint::from_json(&saved)?)?;
//! assert!(report.is_intact(), "{report}");
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! # Keep secrets out
//!
//! A password change has no value to record ([`UserChange::password_changed`](crate::UserChange::password_changed)).
//! Other fields go through the [`RedactionPolicy`](crate::RedactionPolicy): secret-looking
//! names by default, plus your own, optionally with a keyed fingerprint so equal values can
//! still be matched.
//!
//! ```
//! use audit_log::{Actor, AuditLog, EntityRef, Event, FieldChange, MemorySink, RedactionPolicy};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone())
//!     .redaction(RedactionPolicy::default().redact("iban").fingerprint_key(b"from-your-vault"))
//!     .build();
//! log.record(&Actor::user(1, "root"), Event::workspace_edited(
//!     EntityRef::new(1, "Finance"),
//!     vec![FieldChange::new("iban", "DE89 3704 0044", "DE02 1203 0000")],
//! ))?;
//! let stored = serde_json::to_string(&store.records())?;
//! assert!(!stored.contains("DE89") && stored.contains("hmac-sha256:"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Move a trail to another store
//!
//! Export JSON Lines from one store and [`Import`](crate::Import) them into another: the
//! records keep their seqs and hashes, the chain is checked before anything is written, and
//! running the same import again does nothing.
//!
//! ```
//! use std::io::Cursor;
//! use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, Import, JsonlExport,
//!                 MemorySink, Query, SqliteSink, TenantId};
//!
//! let old = MemorySink::new();
//! let log = AuditLog::builder(old.clone()).build();
//! log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))?;
//!
//! let mut file = Vec::new();
//! JsonlExport::new().write(&old, &Query::new(), &mut file)?;
//! let new = SqliteSink::open_in_memory()?;
//! let summary = Import::new().from_reader(&new, Cursor::new(file))?;
//! assert_eq!(summary.imported, 1);
//! assert_eq!(new.head(&TenantId::default())?, old.head(&TenantId::default())?);
//! # use audit_log::AuditStore;
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! # Purge old records under a retention policy
//!
//! Only through one explicit call, which records an `audit.purged` event of its own; the
//! rest of the trail still verifies from the purge point.
//!
//! ```
//! use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, PurgePoint, RetentionExt,
//!                 SqliteSink, TenantId};
//!
//! let store = SqliteSink::open_in_memory()?;
//! let log = AuditLog::builder(store.clone()).build();
//! for i in 0..5 {
//!     log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
//! }
//! let tenant = TenantId::default();
//! // The log's preparer stamps the `audit.purged` record (its clock, its limits).
//! store.purge(log.preparer(), &tenant, PurgePoint::ThroughSeq(3), &Actor::user(1, "dpo"))?;
//! assert!(store.verify(&tenant)?.is_intact());
//! # Ok::<(), audit_log::Error>(())
//! ```
