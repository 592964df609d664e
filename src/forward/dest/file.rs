//! JSON Lines files, rotated by size.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::forward::destination::{Batch, BoxFuture, DeliveryError, Destination};

/// Appends one encoded record per line to `<dir>/<name>.jsonl`, synced before each batch is
/// acknowledged; when the file would grow past the size limit it is renamed to
/// `<dir>/<name>.<UTC time>.jsonl` and a new one started. Rotated files are never deleted:
/// that is the host's retention to decide.
///
/// With [`Format::Cef`](crate::forward::Format::Cef) the lines are CEF lines, not JSON.
#[derive(Debug, Clone)]
#[must_use]
pub struct JsonLinesFile {
    dir: PathBuf,
    name: String,
    max_bytes: u64,
    state: Arc<Mutex<Option<(File, u64)>>>,
}

impl JsonLinesFile {
    /// Files in `dir` (created on first delivery), named `audit.jsonl`, rotated at 64 MiB.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        JsonLinesFile {
            dir: dir.as_ref().to_path_buf(),
            name: "audit".to_owned(),
            max_bytes: 64 << 20,
            state: Arc::new(Mutex::new(None)),
        }
    }

    /// The file's base name (default `audit`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The size at which the file is rotated (at least 1 byte; a line longer than the limit
    /// gets a file of its own).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n.max(1);
        self
    }

    /// The file being written.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.name))
    }

    fn rotate(&self, slot: &mut Option<(File, u64)>) -> std::io::Result<()> {
        if let Some((f, _)) = slot.take() {
            f.sync_all()?;
        }
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let mut target = self.dir.join(format!("{}.{stamp}.jsonl", self.name));
        let mut n = 1;
        while target.exists() {
            target = self.dir.join(format!("{}.{stamp}-{n}.jsonl", self.name));
            n += 1;
        }
        fs::rename(self.current_path(), &target)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Writes `lines` (each ending in a line break), rotating between lines as needed.
    fn write(&self, lines: &[u8], ends: &[usize]) -> Result<(), DeliveryError> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let io =
            |e: std::io::Error| DeliveryError::transient(format!("{}: {e}", self.dir.display()));
        if guard.is_none() {
            fs::create_dir_all(&self.dir).map_err(io)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.current_path())
                .map_err(io)?;
            let len = f.metadata().map_err(io)?.len();
            *guard = Some((f, len));
        }
        let mut start = 0;
        let mut chunk_start = 0;
        for &end in ends {
            let written = guard.as_ref().map_or(0, |(_, s)| *s);
            let pending = (start - chunk_start) as u64;
            let line = (end - start) as u64;
            if written + pending > 0 && written + pending + line > self.max_bytes {
                self.append(&mut guard, &lines[chunk_start..start])
                    .map_err(io)?;
                chunk_start = start;
                self.rotate(&mut guard).map_err(io)?;
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.current_path())
                    .map_err(io)?;
                *guard = Some((f, 0));
            }
            start = end;
        }
        let r = self
            .append(&mut guard, &lines[chunk_start..start])
            .and_then(|()| match guard.as_mut() {
                Some((f, _)) => f.sync_data(),
                None => Ok(()),
            });
        if let Err(e) = r {
            // The file may hold part of the batch: reopen, and let the retry append the
            // batch again (receivers drop duplicates by id).
            *guard = None;
            return Err(io(e));
        }
        Ok(())
    }

    fn append(&self, slot: &mut Option<(File, u64)>, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((f, s)) = slot.as_mut() {
            f.write_all(bytes)?;
            *s += bytes.len() as u64;
        }
        Ok(())
    }
}

impl Destination for JsonLinesFile {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let mut lines =
                Vec::with_capacity(batch.deliveries.iter().map(|d| d.payload.len() + 1).sum());
            let mut ends = Vec::with_capacity(batch.len());
            // A payload with a line break would split into two lines: refuse it, after
            // writing the records before it (so the error's index tells the truth).
            let mut refused = None;
            for (i, d) in batch.deliveries.iter().enumerate() {
                if d.payload.contains(&b'\n') {
                    refused = Some(i);
                    break;
                }
                lines.extend_from_slice(&d.payload);
                lines.push(b'\n');
                ends.push(lines.len());
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.write(&lines, &ends)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(DeliveryError::transient(e)),
            }
            match refused {
                Some(i) => Err(DeliveryError::rejected_at(i, "payload holds a line break")),
                None => Ok(()),
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((f, _)) = guard.take() {
                f.sync_all().map_err(DeliveryError::transient)?;
            }
            Ok(())
        })
    }
}
