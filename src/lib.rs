//! # audit-log
//!
//! A typed, tamper-evident audit trail for the administrative changes of a host application:
//! users, user groups, applications, workspaces and permission-group memberships.
//!
//! Call [`AuditLog::record`] wherever the host creates, edits or deletes one of them. Each
//! call becomes a [`Record`]: a typed [`Event`] with who did it ([`Actor`]), whether it
//! worked ([`Outcome`]), where from ([`Context`]), when (UTC, microseconds), a gapless `seq`
//! per tenant, and a hash chaining it to the record before, so any later edit, deletion or
//! truncation of the trail is detectable ([`chain::verify`]).
//!
//! ## Quick start
//!
//! ```
//! use audit_log::{
//!     Actor, AuditLog, AuditStoreExt, Context, EntityKey, EntityRef, Event, MemorySink,
//!     Query, UserChange, UserCreated,
//! };
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//!
//! let admin = Actor::user(1, "root");
//! let alice = EntityRef::new(42, "alice");
//! let ops = EntityRef::new(7, "Operations");
//!
//! log.record(&admin, UserCreated::new(alice.clone()).login_name("alice").email("alice@example.com"))?;
//! log.record(&admin, Event::user_added_to_group(alice.clone(), ops))?;
//! // A password change is recorded as "changed": there is no way to pass the value.
//! log.record(&admin, Event::user_edited(alice, vec![UserChange::password_changed()]))?;
//!
//! // Who did what to alice?
//! for r in store.query(&Query::new().entity(EntityKey::user(42)))? {
//!     let r = r?;
//!     println!("#{} {} {}", r.seq, r.occurred_at, r.summary());
//! }
//!
//! // Has anyone tampered with the trail?
//! let report = store.verify(log.default_tenant())?;
//! assert!(report.is_intact());
//! assert_eq!(report.count, 3);
//! # use audit_log::AuditStore;
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! The [`cookbook`] has a recipe for each common task (assertions in host tests, appends
//! inside your own transaction, investigating lost access, the CSV download, checkpoints,
//! redaction, moving a trail, retention), each mirrored by a runnable example where it is
//! longer than a page.
//!
//! ## Stores
//!
//! | store | feature | for |
//! | --- | --- | --- |
//! | [`MemorySink`] | always | tests of host applications (with assertion helpers), small tools |
//! | [`SqliteSink`] | `sqlite` (default) | most hosts: one file, WAL, group commit, several processes, append-only triggers, atomic with the host's own SQLite transaction, online backup, retention purge |
//! | `PostgresSink` | `postgres` | several host instances writing one trail (see the `postgres` module) |
//!
//! Every store implements [`AuditSink`] (append) and [`AuditStore`] (read), whose docs state
//! the contract, and passes the same conformance suite (`audit_log::conformance`, with the `conformance` feature).
//!
//! ## Features
//!
//! - `sqlite` (default): the embedded SQLite store (bundled; needs nothing installed).
//! - `postgres`: the PostgreSQL store.
//! - `conformance`: the store conformance suite, for third-party stores.
//! - `forward`: the `audit_log::forward` module: a follower delivering every record, at least once
//!   and in order, to files, syslog and host-defined destinations (tokio).
//! - `nats`, `webhook`: the NATS JetStream and HTTP webhook destinations (imply `forward`).
//! - `tracing`: `forward::Mirror`, one `tracing` event per committed record (no runtime).
//! - `tokio`: the async front door (`audit_log::async_log`): `AsyncAuditLog`, `AsyncStore`
//!   (records as a `Stream`), `AsyncHistory`.
//! - `axum`: `audit_log::axum`, a tower layer filling each request's context, and the handler
//!   extractor (implies `tokio`).
//! - `sqlx-postgres`, `sqlx-sqlite` (both: `sqlx`): `audit_log::sqlx`, appends inside the
//!   host's own sqlx transaction.
//! - `tz`: named time zones for [`Zone`] (`Europe/Berlin`, the system's own), for the CSV
//!   export's times and the command line.
//! - `cli`: the `audit-log` command line for operators and auditors (`cargo install
//!   audit-log --features cli`): list, show, history, diff, access, blame, tail --follow,
//!   export, verify-export, import, verify, checkpoint, purge, stats, forward, completions.
//!   Brings the SQL stores, forwarding and `tz`; see the README's walk-through.
//!
//! ## Guarantees
//!
//! - **Append-only and tamper-evident**: no API edits a record; [`chain::verify`] names the
//!   first bad seq; [`Checkpoint`]s kept elsewhere catch truncation and rollback, and
//!   [`SignedCheckpoint`]s (the [`signed`] module) make that evidence unforgeable by anyone
//!   without the host's key.
//! - **No secret at rest**: a user's password cannot be expressed; fields the
//!   [`RedactionPolicy`] names are replaced by a marker (optionally a keyed fingerprint)
//!   before anything is encoded.
//! - **Clear errors**: bad input is an [`Error::InvalidInput`] naming the field; nothing is
//!   written, nothing panics.
//! - **Nothing lost to what a user typed**: display names, reasons and user agents are kept
//!   exactly as given (over-long ones cut and marked, never refused); identifiers stay
//!   strict. Show stored text through [`text::for_terminal`]. The rule: [`text`].
//! - **Forward compatible**: events from a newer version read back as [`Event::Unknown`] with
//!   their raw JSON, and still verify.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// The README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod async_log;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod canonical;
pub mod chain;
#[cfg(any(test, feature = "conformance"))]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod cookbook;
mod digest;

mod error;
pub mod event;
pub mod export;
mod follow;
#[cfg(any(feature = "forward", feature = "tracing"))]
pub mod forward;
pub mod history;
mod limits;
mod log;
mod prepare;
mod purge;
mod query;
mod record;
mod redact;
#[cfg(any(feature = "postgres", feature = "tokio"))]
mod runtime;
pub mod signed;
mod sink;
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlx-postgres", feature = "sqlx-sqlite")))
)]
pub mod sqlx;
mod stats;
mod store_ext;
pub mod text;
mod verify;
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod web;
mod zone;

#[doc(inline)]
pub use chain::{ChainAlgorithm, ChainKey, Checkpoint, Digest, VerifyReport};
pub use error::{BoxError, Error, Result};
#[doc(inline)]
pub use event::{
    user_fields, ApplicationCreated, ApplicationDeleted, ApplicationEdited, Attributes,
    AuditExported, AuditPurged, CustomEntity, CustomEvent, EntityId, EntityKey, EntityKind,
    EntityRef, Event, FieldChange, FieldValue, GroupCreated, GroupDeleted, GroupEdited,
    GroupNesting, GroupPermission, Mention, PermissionGroupRef, Role, Scope, UnknownEvent,
    UserChange, UserCreated, UserDeleted, UserEdited, UserMembership, UserPermission,
    WorkspaceCreated, WorkspaceDeleted, WorkspaceEdited,
};
#[doc(inline)]
pub use export::{
    verify_export, Column, CsvExport, ExportFormat, ExportReport, Import, ImportSummary,
    JsonlExport, Manifest, Progress,
};
pub use follow::Follow;
#[doc(inline)]
pub use history::{
    Access, AccessFilter, AccessPath, BlameEntry, Entity, EntityDiff, Grant, History, Point,
    PurgeInfo, RecordRef, State, TimelineEntry,
};
pub use limits::Limits;
pub use log::{AuditLog, AuditLogBuilder, ScopedLog};
pub use prepare::{Clock, Entry, ManualClock, Preparer, SystemClock};
pub use purge::RetentionExt;
pub use query::{EventPattern, Order, Query};
pub use record::{
    Actor, ActorKind, Context, Head, Outcome, Receipt, Record, TenantId, RECORD_FORMAT_VERSION,
};
pub use redact::RedactionPolicy;
/// The `rusqlite` this crate links, for [`SqliteSink::append_in`] and
/// [`SqliteSink::install_schema`] (use it so the host's `Connection` is the same type).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use rusqlite;
#[doc(inline)]
pub use signed::{
    verify_against_signed, CheckpointFile, CheckpointSigner, CheckpointTarget, CheckpointVerifier,
    Checkpointing, SignedCheckpoint,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sink::postgres::{self, PgPool, PostgresOptions, PostgresSink};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sink::sqlite::{self, Durability, SqliteOptions, SqliteSink};
pub use sink::{
    check_continuation, AuditSink, AuditStore, Census, MemorySink, MentionRow, PreparedRecord,
    PurgePlan, PurgePoint, PurgeReport, RecordStream, Retention, SealedSink, Store,
};
pub use stats::{ActorCount, EntityCount, Stats};
pub use store_ext::{AuditStoreExt, Page};
pub use zone::Zone;
