//! Forwarding: every record delivered, at least once, to the systems security teams
//! already run (a SIEM, a log pipeline, a data lake).
//!
//! A [`Forwarder`] follows a store through its read side only ([`AuditStore::query`](crate::AuditStore::query),
//! `head`, `tenants`, `anchor`) and feeds one or more [`Route`]s. Each route has a
//! [`Destination`], a [`Format`] and its own durable cursors in a [`CursorStore`]:
//!
//! ```text
//!  AuditStore ──query(after cursor)──> Forwarder ──Batch──> Destination ──> SIEM / pipeline
//!      ▲                                   │  (ok: save cursor; rejected: dead letter)
//!      └───── head(), tenants() ───────────┴──> CursorStore (cursors, dead letters, lease)
//! ```
//!
//! # Guarantees
//!
//! - **At least once.** A record's cursor moves only after its destination acknowledged it
//!   (or it was stored as a dead letter). A crash, a kill, a timeout or a lost lease can make
//!   a destination see a batch again, never miss one.
//! - **In seq order per tenant.** A route delivers one tenant's records in seq order, one
//!   batch at a time; tenants are interleaved round robin. Every delivered record carries its
//!   tenant, seq, id and hash (and the record JSON its `prev_hash`), so a receiver drops
//!   duplicates by id and verifies the chain from what it received.
//! - **Outages lose nothing.** Transient failures are retried with exponential backoff and
//!   jitter ([`Backoff`]) for as long as it takes; the route then catches up in batches.
//! - **A poisoned record does not block the rest**: a record the destination refuses for
//!   good is stored as a [`DeadLetter`] with the reason, atomically with moving the cursor
//!   past it. [`OnReject::Block`] holds the route on it instead.
//! - **A purge is never passed over in silence.** If a retention purge removed records a
//!   route had not delivered yet, the route sees its cursor fall behind the trail's anchor and
//!   holds that tenant there ([`OnPurged::Hold`], the default: the status shows the gap as a
//!   [`PurgeGap`]) or, if the host allowed it ([`OnPurged::Skip`]), records the purged range
//!   as a dead letter and goes on.
//! - **Graceful shutdown.** [`Forwarder::run`] returns after each route finished the batch
//!   it had in flight (retrying for up to [`Forwarder::shutdown_grace`]).
//! - **One deliverer per destination** with [`PgCursors`] (feature `postgres`): a lease per
//!   destination, taken over by a standby when the holder dies.
//!
//! # Starting
//!
//! The first time a route runs, [`Start`] decides where it begins: [`Start::Now`] (the
//! default; only records appended from then on), [`Start::Beginning`], [`Start::Seq`] or
//! [`Start::Time`] (backfill). Every later run continues from the cursors.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> audit_log::Result<()> {
//! use std::sync::Arc;
//! use audit_log::forward::{Format, Forwarder, JsonLinesFile, Route, SqliteCursors, Start, Syslog};
//! use audit_log::SqliteSink;
//!
//! let store = Arc::new(SqliteSink::open("audit.db")?);
//! let cursors = SqliteCursors::beside(&store)?; // tables of its own in the same file
//! let report = Forwarder::new(store, cursors)
//!     .route(Route::new("siem", Syslog::tcp("127.0.0.1:6514")).format(Format::Cef))
//!     .route(Route::new("archive", JsonLinesFile::new("audit-archive")).start(Start::Beginning))
//!     .run(async { /* until the host's shutdown signal */ })
//!     .await?;
//! for route in report.routes {
//!     println!("{}", route.line());
//! }
//! # Ok(()) }
//! ```
//!
//! A CLI or a service reads the same from a file: [`ForwardConfig`] (serde) builds the
//! forwarder. A host without an async runtime uses [`Forwarder::spawn`], which runs on a thread of
//! its own and returns a handle with [`status`](RunningForwarder::status) and
//! [`stop`](RunningForwarder::stop).
//!
//! # Destinations and formats
//!
//! | destination | feature | acknowledged when |
//! | --- | --- | --- |
//! | [`JsonLinesFile`] (rotated by size) | `forward` | written and synced |
//! | [`Syslog`] (RFC 5424, TCP octet counting or UDP) | `forward` | written to the socket |
//! | `JetStream` (NATS, `Nats-Msg-Id` = record id) | `nats` | JetStream acknowledged each message |
//! | `Webhook` (signed JSON batch) | `webhook` | a 2xx answer |
//! | your own: implement [`Destination`] | `forward` | as you decide |
//!
//! Formats: [`Format::Record`] (lossless), [`Format::CloudEvents`], [`Format::Ocsf`],
//! [`Format::Cef`]. Webhook signatures are checked with [`signature::verify`].
//!
//! # Progress
//!
//! [`Forwarder::status`] returns a [`StatusHandle`]: per route its [`RouteState`],
//! delivered / failed / dead-lettered counts, and lag in records and seconds behind the
//! heads.
//!
//! # Mirror
//!
//! [`Mirror`] (feature `tracing`) wraps a sink and emits one `tracing` event per committed
//! record: a mirror for observability pipelines, never the record of truth.
//!
//! See also `docs/forwarding.md` in the repository for the wire formats in full.

#[cfg(feature = "forward")]
mod config;
#[cfg(feature = "forward")]
mod cursor;
#[cfg(feature = "forward")]
mod dest;
#[cfg(feature = "forward")]
mod destination;
#[cfg(feature = "forward")]
mod format;
#[cfg(feature = "forward")]
mod forwarder;
#[cfg(feature = "tracing")]
mod mirror;
#[cfg(feature = "forward")]
mod retry;
#[cfg(feature = "forward")]
mod route;
#[cfg(feature = "forward")]
pub mod signature;
#[cfg(feature = "forward")]
mod status;

#[cfg(feature = "forward")]
pub use config::{CursorConfig, DestinationConfig, ForwardConfig, RouteConfig, SyslogTransport};
#[cfg(all(feature = "forward", feature = "postgres"))]
pub use cursor::PgCursors;
#[cfg(all(feature = "forward", feature = "sqlite"))]
pub use cursor::SqliteCursors;
#[cfg(feature = "forward")]
pub use cursor::{
    check_destination_name, CursorStore, Cursors, DeadLetter, FileCursors, MemoryCursors,
};
#[cfg(feature = "forward")]
pub use dest::file::JsonLinesFile;
#[cfg(feature = "nats")]
pub use dest::nats::JetStream;
#[cfg(feature = "forward")]
pub use dest::syslog::{Syslog, DEFAULT_SD_ID, FACILITY_LOG_AUDIT};
#[cfg(feature = "webhook")]
pub use dest::webhook::Webhook;
#[cfg(feature = "forward")]
pub use destination::{Batch, BoxFuture, Delivery, DeliveryError, Destination};
#[cfg(feature = "forward")]
pub use format::{escape_cef_extension, escape_cef_header, Format, Product, OCSF_VERSION};
#[cfg(feature = "forward")]
pub use forwarder::{ForwardReport, Forwarder, RunningForwarder};
#[cfg(feature = "tracing")]
pub use mirror::Mirror;
#[cfg(feature = "forward")]
pub use retry::Backoff;
#[cfg(feature = "forward")]
pub use route::{OnPurged, OnReject, Route, Start, Tenants};
#[cfg(feature = "forward")]
pub use status::{DestinationStatus, PurgeGap, RouteState, StatusHandle, TenantPosition};
