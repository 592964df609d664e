//! JSON Lines export: one record per line, every field and both hashes, lossless.
//!
//! Each line is a [`Record`] serialized as JSON (the same form as `serde_json::to_string`
//! of a record), terminated by `\n`; no header, no trailer (the [`Manifest`] is a sidecar).
//! Reading a line back with `serde_json::from_str::<Record>` gives the record exactly: its
//! hash recomputes, so [`Import`](super::Import) re-imports the file into any store and the
//! chain verifies there as it did in the source.

use std::io::Write;

use super::manifest::{is_full, ExportFormat, Manifest, MANIFEST_VERSION};
use super::{record_export, snapshot, stream, Common, HashingWriter, Progress};
use crate::error::{Error, Result};
use crate::log::AuditLog;
use crate::query::Query;
use crate::record::{Actor, Record};
use crate::sink::AuditStore;

/// Exports records as JSON Lines. Build it, then [`write`](JsonlExport::write) to any
/// writer or [`to_file`](JsonlExport::to_file) with a manifest next to it.
///
/// ```
/// use audit_log::{Actor, AuditLog, EntityRef, Event, JsonlExport, MemorySink, Query, Record};
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(store.clone()).build();
/// log.record(&Actor::system(), Event::group_deleted(EntityRef::new(7, "Ops")))?;
///
/// let mut out = Vec::new();
/// let manifest = JsonlExport::new().write(&store, &Query::new(), &mut out)?;
/// let line = String::from_utf8(out).unwrap();
/// let back: Record = serde_json::from_str(line.trim_end()).unwrap();
/// assert_eq!(back, store.records()[0]);
/// assert_eq!(manifest.head.map(|h| h.hash), Some(back.hash));
/// # Ok::<(), audit_log::Error>(())
/// ```
#[must_use]
#[derive(Debug, Default)]
pub struct JsonlExport<'a> {
    common: Common<'a>,
}

impl<'a> JsonlExport<'a> {
    /// A JSON Lines exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` with the progress at the start, every
    /// [`PROGRESS_EVERY`](super::PROGRESS_EVERY) records and at the end.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + 'a) -> Self {
        self.common.progress = Some(Box::new(f));
        self
    }

    /// Records an `audit.exported` event by `actor` through `log` when the export succeeds.
    pub fn record_to(mut self, log: &'a AuditLog, actor: Actor) -> Self {
        self.common.recorder = Some((log, actor));
        self
    }

    /// Writes the records `query` selects, one JSON object per line, into `out`, and
    /// returns the manifest.
    ///
    /// `out` receives one write per line: wrap a file in a `BufWriter`.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails; the store's errors, including
    /// [`Error::Corrupt`] for a record it cannot read; errors recording the export.
    pub fn write(
        mut self,
        store: &dyn AuditStore,
        query: &Query,
        out: impl Write,
    ) -> Result<Manifest> {
        let exported_at = self.common.now();
        let snap = snapshot(store, query, self.common.progress.is_some())?;
        let mut w = HashingWriter::new(out);
        let mut line = Vec::with_capacity(1024);
        let span = stream(store, &snap, &mut self.common, |r: &Record| {
            line.clear();
            serde_json::to_writer(&mut line, r)
                .map_err(|e| Error::corrupt(r.seq, format!("cannot serialize: {e}")))?;
            line.push(b'\n');
            w.write_all(&line)?;
            Ok(())
        })?;
        let (mut out, sha256, bytes) = w.finish();
        out.flush()?;
        let mut manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            format: ExportFormat::Jsonl,
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at,
            tenant: snap.tenant.clone(),
            query: query.clone().tenant(snap.tenant.clone()),
            full: is_full(query),
            count: span.count,
            first_seq: span.first_seq,
            last_seq: span.last_seq,
            head: snap.head,
            anchor: snap.anchor,
            chain: store.chain_algorithm(),
            sha256,
            bytes,
            csv: None,
            recorded_seq: None,
        };
        record_export(&self.common, &mut manifest)?;
        Ok(manifest)
    }

    /// Writes the JSON Lines to `file` and its manifest to `<file>.manifest.json`.
    ///
    /// # Errors
    /// As [`JsonlExport::write`]; [`Error::Io`] when a file cannot be written.
    pub fn to_file(
        self,
        store: &dyn AuditStore,
        query: &Query,
        file: impl AsRef<std::path::Path>,
    ) -> Result<Manifest> {
        super::to_file(file.as_ref(), |w| self.write(store, query, w))
    }
}
