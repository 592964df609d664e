//! Export a trail for people (CSV) and for machines (JSON Lines), import it into another
//! store, and let an auditor check an export offline with its manifest.
//!
//! Everything here reads through [`AuditStore`] and [`Query`] only, so it works the same on
//! every store.
//!
//! | what | how | for |
//! | --- | --- | --- |
//! | [`CsvExport`] | one row per record, [documented columns](Column), formula-safe | administrators opening the trail in a spreadsheet |
//! | [`JsonlExport`] | one record per line, every field and hash, lossless | auditors, archives, moving a trail between stores |
//! | [`Import`] | JSON Lines into any store, chain checked before anything is written | restoring an archive, SQLite to PostgreSQL |
//! | [`Manifest`] | a sidecar `<file>.manifest.json` for each export | checking offline that an export is complete and unaltered |
//! | [`verify_export`] | re-reads an export against its manifest | the auditor's check |
//!
//! # The administrator's download
//!
//! ```
//! use audit_log::{Actor, AuditLog, CsvExport, EntityRef, Event, MemorySink, Query};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! log.record(&Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "=cmd|' /C calc'!A0")))?;
//!
//! let mut csv = Vec::new();
//! let manifest = CsvExport::new().write(&store, &Query::new(), &mut csv)?;
//! let text = String::from_utf8(csv).unwrap();
//! assert!(text.starts_with("seq,time,tenant,actor_type,actor_id,actor,event,outcome,"));
//! // The user's display name would start a formula: it is neutralised with a quote.
//! assert!(text.contains(",'=cmd|' /C calc'!A0,"));
//! assert_eq!(manifest.count, 1);
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! [`CsvExport::to_file`] and [`JsonlExport::to_file`] write the file and its manifest
//! sidecar next to it.
//!
//! # Consistency: what an export contains
//!
//! An export reads the store's [`head`](AuditStore::head) first, then streams the query's
//! records **up to that seq** (it narrows the query's `through_seq`). Records appended while
//! the export runs are not in it, so the manifest's head, count and last seq always describe
//! the same snapshot, and an export that records itself (see below) never contains its own
//! `audit.exported` record.
//!
//! A record the store cannot read ([`Error::Corrupt`]) stops the
//! export with that error: an export that skipped a record silently could not claim to be
//! complete. Run [`chain::verify`](crate::chain::verify) to locate the damage.
//!
//! # Streaming and progress
//!
//! Exports hold one record at a time: memory stays flat whatever the size of the trail
//! (`benches/export.rs` measures it). [`CsvExport::on_progress`] and
//! [`JsonlExport::on_progress`] receive a [`Progress`] (rows written so far, and the total
//! when the store can [count](AuditStore::count) it) at the start, every
//! [`PROGRESS_EVERY`] rows and at the end: enough to draw a progress bar.
//!
//! # Exporting is itself recorded
//!
//! With [`CsvExport::record_to`] / [`JsonlExport::record_to`], a successful export records
//! an [`audit.exported`](crate::AuditExported) event (format, query, count, first and last
//! seq) by the given actor, in the exported tenant, through the given [`AuditLog`]. If that
//! record cannot be written the export returns the error: an export nobody can see happened
//! is what an audit trail exists to prevent.
//!
//! # Import
//!
//! See [`Import`]: a first streaming pass checks every line (JSON, chain, hashes, that the
//! file continues the store's trail) and writes nothing; only then a second pass appends
//! the records in chunks through [`SealedSink::append_sealed`](crate::SealedSink::append_sealed),
//! byte for byte. A broken file leaves the store unchanged; an import interrupted by the
//! store itself resumes by running it again.

mod csv;
mod import;
mod jsonl;
mod manifest;

use std::io::{self, Write};

use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::event::{AuditExported, Event};
use crate::log::AuditLog;
use crate::prepare::Entry;
use crate::query::Query;
use crate::record::{Actor, Head, Record, TenantId};
use crate::sink::AuditStore;

pub use self::csv::{neutralize_formula, Column, CsvExport};
pub use self::import::{Import, ImportSummary};
pub use self::jsonl::JsonlExport;
pub use self::manifest::{
    verify_export, verify_export_file, CsvLayout, ExportFormat, ExportProblem, ExportReport,
    Manifest, MANIFEST_VERSION,
};

/// How often (in rows) progress callbacks are called, besides the start and the end.
pub const PROGRESS_EVERY: u64 = 1024;

/// How far an export or import has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Rows (records) written so far.
    pub written: u64,
    /// How many rows there will be, when the store could count them.
    pub total: Option<u64>,
}

/// The progress callback type.
type ProgressFn<'a> = Box<dyn FnMut(Progress) + 'a>;

/// What both exporters share: progress reporting and optional self-recording.
#[derive(Default)]
struct Common<'a> {
    progress: Option<ProgressFn<'a>>,
    recorder: Option<(&'a AuditLog, Actor)>,
}

impl std::fmt::Debug for Common<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Common")
            .field("progress", &self.progress.is_some())
            .field("recorder", &self.recorder.as_ref().map(|(_, a)| a))
            .finish()
    }
}

impl Common<'_> {
    /// The export's time: the recording log's clock when there is one (a host's injected
    /// clock stamps the manifest as it stamps the `audit.exported` record), else the system
    /// clock.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.recorder {
            Some((log, _)) => log.preparer().now(),
            None => crate::record::truncate_to_micros(chrono::Utc::now()),
        }
    }

    fn report(&mut self, p: Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }
}

/// The part of a trail an export reads: the query bounded by the head seen at the start.
struct Snapshot {
    tenant: TenantId,
    bounded: Query,
    head: Option<Head>,
    anchor: Head,
    total: Option<u64>,
}

/// `want_total`: whether to ask the store for a count, which only progress reporting needs
/// and which some stores can only answer by a second scan.
fn snapshot(store: &dyn AuditStore, query: &Query, want_total: bool) -> Result<Snapshot> {
    let tenant = query.tenant_or_default();
    let head = store.head(&tenant)?;
    let anchor = store.anchor(&tenant)?;
    let mut bounded = query.clone().tenant(tenant.clone());
    let top = head.map_or(anchor.seq, |h| h.seq);
    bounded.through_seq = Some(bounded.through_seq.map_or(top, |t| t.min(top)));
    let total = if want_total {
        store
            .count(&bounded)?
            .map(|n| query.limit.map_or(n, |l| n.min(l as u64)))
    } else {
        None
    };
    Ok(Snapshot {
        tenant,
        bounded,
        head,
        anchor,
        total,
    })
}

/// What an export streamed.
#[derive(Debug, Default, Clone, Copy)]
struct Span {
    count: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
}

/// Streams the snapshot's records into `write`, reporting progress.
fn stream(
    store: &dyn AuditStore,
    snap: &Snapshot,
    common: &mut Common<'_>,
    mut write: impl FnMut(&Record) -> Result<()>,
) -> Result<Span> {
    let mut span = Span::default();
    common.report(Progress {
        written: 0,
        total: snap.total,
    });
    for item in store.query(&snap.bounded)? {
        let record = item?;
        write(&record)?;
        span.count += 1;
        span.first_seq.get_or_insert(record.seq);
        span.last_seq = Some(record.seq);
        if span.count % PROGRESS_EVERY == 0 {
            common.report(Progress {
                written: span.count,
                total: snap.total,
            });
        }
    }
    common.report(Progress {
        written: span.count,
        total: snap.total,
    });
    Ok(span)
}

/// Records `audit.exported` when the exporter was asked to.
fn record_export(common: &Common<'_>, manifest: &mut Manifest) -> Result<()> {
    let Some((log, actor)) = &common.recorder else {
        return Ok(());
    };
    let event = Event::AuditExported(AuditExported {
        format: manifest.format.as_str().to_owned(),
        query: manifest.query_value(),
        count: manifest.count,
        first_seq: manifest.first_seq,
        last_seq: manifest.last_seq,
    });
    let entry = Entry::new(actor.clone(), event).tenant(manifest.tenant.clone());
    let receipt = log.record_entry(entry)?;
    manifest.recorded_seq = Some(receipt.seq);
    Ok(())
}

/// A writer that hashes (SHA-256) and counts every byte passing through, for the manifest.
struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The sidecar path of an export file: `<file>.manifest.json`.
pub fn manifest_path(file: &std::path::Path) -> std::path::PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".manifest.json");
    std::path::PathBuf::from(name)
}

/// Writes `file` through `f`, then its manifest next to it.
fn to_file(
    file: &std::path::Path,
    f: impl FnOnce(&mut io::BufWriter<std::fs::File>) -> Result<Manifest>,
) -> Result<Manifest> {
    let out = std::fs::File::create(file)?;
    let mut w = io::BufWriter::new(out);
    let manifest = f(&mut w)?;
    let out = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    out.sync_all()?;
    manifest.write_to(&manifest_path(file))?;
    Ok(manifest)
}
