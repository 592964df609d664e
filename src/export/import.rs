//! Import of JSON Lines exports into any store, checked before anything is written.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::Progress;
use crate::error::{Error, Result};
use crate::record::{Head, Record, TenantId};
use crate::sink::{check_continuation, AuditStore, SealedSink};
use crate::store_ext::AuditStoreExt;

/// The longest line an import reads (64 MiB): far above any record the
/// [`Limits`](crate::Limits) let through, low enough that a file without line breaks cannot
/// exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Imports a [JSON Lines export](super::JsonlExport) into a store, byte for byte.
///
/// # What is checked, and the guarantee
///
/// The import reads the file **twice**, streaming, so memory stays flat whatever its size:
///
/// 1. **Check** (writes nothing): every line must be a JSON record; per tenant, the records
///    must form an unbroken chain (next seq, linked to the previous hash, each hash
///    recomputing, the store's algorithm) that continues the store's trail. A problem stops
///    the import with [`Error::InvalidInput`] whose `field` is `line N` (1-based): a truncated
///    line, invalid JSON, an altered field, a record out of order or missing, a file of
///    another format. **The store is unchanged.**
/// 2. **Write**: the records go to [`SealedSink::append_sealed`](crate::SealedSink::append_sealed)
///    in chunks of [`chunk_size`](Import::chunk_size) records (default 10 000), each chunk
///    atomic. The store checks every record again as it appends.
///
/// If the store fails during the write pass (disk full, connection lost), the chunks
/// already appended stay, and the store's [`head`](AuditStore::head) is the exact position
/// reached: **running the same import again resumes** there. Records the store already
/// holds are skipped, after checking that they are the same trail: the file's record at the
/// store's head seq must carry the store's head hash (the chain then vouches for every
/// record before it). So importing a file twice is harmless, and a file that diverges from
/// the store is refused.
///
/// For an all-or-nothing import, use `chunk_size(usize::MAX)`: one atomic append, at the
/// cost of holding the whole file's records in memory.
///
/// A file cut exactly at a line break cannot be told from a shorter export by its content:
/// check it against its manifest with [`verify_export`](super::verify_export) first.
///
/// ```
/// use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, Import, JsonlExport, MemorySink, Query};
///
/// let source = MemorySink::new();
/// let log = AuditLog::builder(source.clone()).build();
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::new(42, "bob")))?;
/// let mut file = Vec::new();
/// JsonlExport::new().write(&source, &Query::new(), &mut file)?;
///
/// let target = MemorySink::new();
/// let summary = Import::new().from_reader(&target, std::io::Cursor::new(&file))?;
/// assert_eq!(summary.imported, 1);
/// assert_eq!(target.records(), source.records());
/// assert!(target.verify(&Default::default())?.is_intact());
///
/// // Once more: nothing to do, nothing duplicated.
/// let again = Import::new().from_reader(&target, std::io::Cursor::new(&file))?;
/// assert_eq!((again.imported, again.skipped), (0, 1));
/// # Ok::<(), audit_log::Error>(())
/// ```
#[must_use]
pub struct Import<'a> {
    chunk_size: usize,
    progress: Option<Box<dyn FnMut(Progress) + 'a>>,
}

impl std::fmt::Debug for Import<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("chunk_size", &self.chunk_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for Import<'_> {
    fn default() -> Self {
        Import {
            chunk_size: 10_000,
            progress: None,
        }
    }
}

/// What an [`Import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Lines read (records in the file).
    pub lines: u64,
    /// Records appended.
    pub imported: u64,
    /// Records skipped because the store already held them.
    pub skipped: u64,
    /// Each tenant's head after the import, in tenant order.
    pub heads: Vec<(TenantId, Head)>,
}

/// What the check pass knows about one tenant.
#[derive(Debug, Clone, Copy)]
struct TenantState {
    /// The store's last record, if any.
    store_head: Option<Head>,
    /// What the first new record must continue: the store's head, or its anchor after a
    /// purge, or nothing for an empty trail.
    continues: Option<Head>,
    /// The file's previous record of this tenant.
    prev: Option<Head>,
    /// Whether the file's records that the store already holds were matched to it.
    overlap_checked: bool,
    /// The file's last record that the store already holds.
    last_skipped: Option<(u64, Head)>,
}

impl<'a> Import<'a> {
    /// An import with the default chunk size.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records each atomic append holds (default 10 000; at least 1).
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }

    /// Calls `f` with the records written so far and the total to write, at the start of
    /// the write pass and after each chunk.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Imports the file at `path`.
    ///
    /// # Errors
    /// As [`Import::from_reader`]; [`Error::Io`] when the file cannot be opened.
    pub fn from_path<S: SealedSink + AuditStore + ?Sized>(
        self,
        store: &S,
        path: impl AsRef<Path>,
    ) -> Result<ImportSummary> {
        let f = std::fs::File::open(path)?;
        self.from_reader(store, f)
    }

    /// Imports JSON Lines from `reader`, which is read twice (hence `Seek`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with field `line N` for a line that is not a record or does
    /// not continue the trail (nothing written); [`Error::Io`] when reading fails; the
    /// store's errors during the write pass (see the type's docs for what stays written).
    pub fn from_reader<S: SealedSink + AuditStore + ?Sized, R: Read + Seek>(
        mut self,
        store: &S,
        reader: R,
    ) -> Result<ImportSummary> {
        let algorithm = store.chain_algorithm();
        let mut lines = Lines::new(reader);

        // Pass 1: check everything, write nothing.
        let mut tenants: BTreeMap<TenantId, TenantState> = BTreeMap::new();
        let mut to_import = 0u64;
        let mut skipped = 0u64;
        while let Some((n, record)) = lines.next_record()? {
            let at = |why: String| Error::invalid(format!("line {n}"), why);
            let state = match tenants.get_mut(&record.tenant) {
                Some(s) => s,
                None => {
                    let s = tenant_state(store, &record.tenant)?;
                    tenants.entry(record.tenant.clone()).or_insert(s)
                }
            };
            let held = state.store_head.is_some_and(|h| record.seq <= h.seq);
            let after = match state.prev {
                Some(prev) => Some(prev),
                None if held => None,
                None => {
                    if record.seq <= state.continues.map_or(0, |c| c.seq) {
                        return Err(at(format!(
                            "seq {} lies before the store's purge point (seq {})",
                            record.seq,
                            state.continues.map_or(0, |c| c.seq)
                        )));
                    }
                    state.continues
                }
            };
            check_continuation(algorithm, after, &record).map_err(at)?;
            let here = Head {
                seq: record.seq,
                hash: record.hash,
            };
            if held {
                if state.store_head == Some(here) {
                    state.overlap_checked = true;
                } else if state.store_head.is_some_and(|h| h.seq == record.seq) {
                    return Err(at(format!(
                        "seq {} differs from the record the store holds at that seq",
                        record.seq
                    )));
                }
                state.last_skipped = Some((n, here));
                skipped += 1;
            } else {
                // The first new record continues the store's head: either it was checked
                // against it above, or it follows the file's record at the head's seq, which
                // matched the store's hash.
                to_import += 1;
            }
            state.prev = Some(here);
        }
        // A file that ends inside what the store holds: match its last record to the store.
        for (tenant, state) in &tenants {
            if let (false, Some((n, last))) = (state.overlap_checked, state.last_skipped) {
                let stored = store.get(tenant, last.seq)?;
                if stored.map(|r| r.hash) != Some(last.hash) {
                    return Err(Error::invalid(
                        format!("line {n}"),
                        format!(
                            "seq {} differs from the record the store holds at that seq",
                            last.seq
                        ),
                    ));
                }
            }
        }
        let lines_read = lines.line;

        // Pass 2: write, in atomic chunks.
        lines.rewind()?;
        let mut imported = 0u64;
        let mut report = |imported| {
            if let Some(f) = self.progress.as_mut() {
                f(Progress {
                    written: imported,
                    total: Some(to_import),
                });
            }
        };
        report(0);
        let chunk_cap = self.chunk_size.min(65_536);
        let mut chunk: Vec<Record> = Vec::with_capacity(chunk_cap);
        let mut chunk_lines: Vec<u64> = Vec::with_capacity(chunk_cap);
        let flush = |chunk: &mut Vec<Record>, chunk_lines: &mut Vec<u64>| -> Result<u64> {
            let n = chunk.len() as u64;
            store
                .append_sealed(std::mem::take(chunk))
                .map_err(|e| relabel(e, chunk_lines))?;
            chunk_lines.clear();
            Ok(n)
        };
        while let Some((n, record)) = lines.next_record()? {
            let held = tenants
                .get(&record.tenant)
                .and_then(|s| s.store_head)
                .is_some_and(|h| record.seq <= h.seq);
            if held {
                continue;
            }
            chunk.push(record);
            chunk_lines.push(n);
            if chunk.len() >= self.chunk_size {
                imported += flush(&mut chunk, &mut chunk_lines)?;
                report(imported);
            }
        }
        if !chunk.is_empty() {
            imported += flush(&mut chunk, &mut chunk_lines)?;
            report(imported);
        }
        if imported != to_import || lines.line != lines_read {
            return Err(Error::Verification(format!(
                "the file changed during the import: {to_import} records checked, {imported} written"
            )));
        }
        let mut heads = Vec::new();
        for tenant in tenants.keys() {
            if let Some(h) = store.head(tenant)? {
                heads.push((tenant.clone(), h));
            }
        }
        Ok(ImportSummary {
            lines: lines_read,
            imported,
            skipped,
            heads,
        })
    }
}

fn tenant_state<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<TenantState> {
    let store_head = store.head(tenant)?;
    let anchor = store.anchor(tenant)?;
    let continues = store_head.or((anchor.seq > 0).then_some(anchor));
    Ok(TenantState {
        store_head,
        continues,
        prev: None,
        overlap_checked: false,
        last_skipped: None,
    })
}

/// Names the file's line in the store's `records[i]` refusal.
fn relabel(e: Error, lines: &[u64]) -> Error {
    match e {
        Error::InvalidInput { field, reason } => {
            let line = field
                .strip_prefix("records[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| lines.get(i));
            match line {
                Some(n) => Error::invalid(
                    format!("line {n}"),
                    format!("{reason} (the store changed since the file was checked)"),
                ),
                None => Error::InvalidInput { field, reason },
            }
        }
        other => other,
    }
}

/// Reads records line by line with a bound on line length.
struct Lines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    line: u64,
}

impl<R: Read + Seek> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(1 << 16, reader),
            buf: Vec::with_capacity(4096),
            line: 0,
        }
    }

    fn rewind(&mut self) -> Result<()> {
        self.reader.seek(SeekFrom::Start(0))?;
        self.line = 0;
        Ok(())
    }

    /// The next record and its line number, `None` at the end of the file.
    fn next_record(&mut self) -> Result<Option<(u64, Record)>> {
        self.buf.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        let n = self.line;
        let at = |why: String| Error::invalid(format!("line {n}"), why);
        if self.buf.last() != Some(&b'\n') && self.buf.len() > MAX_LINE_BYTES {
            return Err(at(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        let mut text = &self.buf[..];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        if text.is_empty() {
            return Err(at("empty line".to_owned()));
        }
        let record: Record = serde_json::from_slice(text)
            .map_err(|e| at(format!("not an audit record in JSON: {e}")))?;
        Ok(Some((n, record)))
    }
}
