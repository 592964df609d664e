//! The manifest written with each export, and [`verify_export`], the auditor's offline check.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::chain::{self, ChainAlgorithm};
use crate::error::{Error, Result};
use crate::query::{Order, Query};
use crate::record::{Head, Record, TenantId};

/// The version of the manifest format this crate writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The format of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExportFormat {
    /// CSV for spreadsheets ([`CsvExport`](super::CsvExport)).
    Csv,
    /// JSON Lines, lossless ([`JsonlExport`](super::JsonlExport)).
    Jsonl,
}

impl ExportFormat {
    /// The stable name: `csv` or `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a CSV export was laid out, so it can be read back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvLayout {
    /// The header names, in order (see [`Column`](super::Column)).
    pub columns: Vec<String>,
    /// The field delimiter (one ASCII character).
    pub delimiter: String,
    /// Whether the file starts with a UTF-8 byte order mark.
    pub bom: bool,
    /// Whether formula-looking cells were neutralised (see
    /// [`neutralize_formula`](super::neutralize_formula)).
    pub formula_escaping: bool,
    /// The zone times are shown in: `Z` for UTC, an offset (`+02:00`), or an IANA zone name
    /// (`Europe/Berlin`, each time then carrying the offset in effect at that moment); see
    /// [`Zone`](crate::Zone).
    pub time_zone: String,
}

/// What an export contains, written next to it as `<file>.manifest.json`.
///
/// An auditor who keeps the manifest (or finds its `audit.exported` record in the trail) can
/// check offline with [`verify_export`] that the file is the one exported (SHA-256 of its
/// bytes), holds `count` records from `first_seq` to `last_seq`, and, for a full export of a
/// tenant, that it is the whole trail up to `head`: for JSON Lines the chain is re-verified
/// from `anchor` and must end at `head`'s hash.
///
/// ```json
/// {
///   "manifest_version": 1,
///   "format": "jsonl",
///   "crate_version": "0.1.0",
///   "exported_at": "2026-03-01T09:00:00.000000Z",
///   "tenant": "default",
///   "query": {"tenant": "default"},
///   "full": true,
///   "count": 3,
///   "first_seq": 1,
///   "last_seq": 3,
///   "head": {"seq": 3, "hash": "9f2c...e1"},
///   "anchor": {"seq": 0, "hash": "0000...00"},
///   "chain": "sha256",
///   "sha256": "5d1b...7a",
///   "bytes": 1873
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`] at the time of writing.
    pub manifest_version: u32,
    /// The file's format.
    pub format: ExportFormat,
    /// The version of audit-log that wrote the export.
    pub crate_version: String,
    /// When the export started (UTC).
    #[serde(with = "crate::record::micros")]
    pub exported_at: DateTime<Utc>,
    /// The tenant exported.
    pub tenant: TenantId,
    /// The query as the caller gave it (with its tenant filled in).
    pub query: Query,
    /// Whether the query selects the whole trail (no filter, cursor or limit): then the
    /// export must hold every record from `anchor` to `head`.
    pub full: bool,
    /// How many records the file holds.
    pub count: u64,
    /// The seq of the first record in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// The seq of the last record in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// The tenant's head when the export started: the export holds nothing after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    /// Where the tenant's chain starts (seq 0 and the zero hash, or a purge point).
    pub anchor: Head,
    /// The trail's hash algorithm.
    pub chain: ChainAlgorithm,
    /// SHA-256 of the export file's bytes, lowercase hex.
    pub sha256: String,
    /// The export file's size in bytes.
    pub bytes: u64,
    /// The CSV layout, for CSV exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvLayout>,
    /// The seq of the `audit.exported` record this export wrote, when it recorded itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_seq: Option<u64>,
}

impl Manifest {
    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain strings, integers and a Query: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a manifest written by [`Manifest::to_json`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with field `manifest` when the text is not a manifest, or is
    /// of a newer manifest version.
    pub fn from_json(s: &str) -> Result<Self> {
        let m: Manifest = serde_json::from_str(s).map_err(|e| Error::invalid("manifest", e))?;
        if m.manifest_version > MANIFEST_VERSION {
            return Err(Error::invalid(
                "manifest",
                format!(
                    "manifest version {} is newer than this version of audit-log supports ({MANIFEST_VERSION})",
                    m.manifest_version
                ),
            ));
        }
        Ok(m)
    }

    /// Reads a manifest file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; as [`Manifest::from_json`].
    pub fn read(path: &Path) -> Result<Self> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// Writes the manifest to `path`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_to(&self, path: &Path) -> Result<()> {
        let mut text = self.to_json();
        text.push('\n');
        std::fs::write(path, text)?;
        Ok(())
    }

    /// The query as JSON, as the `audit.exported` event records it.
    pub(crate) fn query_value(&self) -> Value {
        serde_json::to_value(&self.query).unwrap_or(Value::Null)
    }
}

/// Whether a query selects a tenant's whole trail.
pub(crate) fn is_full(q: &Query) -> bool {
    // Destructured without `..`: a filter added to `Query` does not compile until it is
    // decided here whether it narrows the selection.
    let Query {
        tenant: _,
        since,
        until,
        actors,
        events,
        entity,
        outcome,
        request_ids,
        correlation_ids,
        ips,
        after_seq,
        through_seq,
        limit,
        order: _,
    } = q;
    since.is_none()
        && until.is_none()
        && actors.is_empty()
        && events.is_empty()
        && entity.is_none()
        && outcome.is_none()
        && request_ids.is_empty()
        && correlation_ids.is_empty()
        && ips.is_empty()
        && after_seq.is_none()
        && through_seq.is_none()
        && limit.is_none()
}

/// One thing [`verify_export`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportProblem {
    /// The file's bytes are not the ones exported.
    FileChanged {
        /// The manifest's SHA-256.
        expected: String,
        /// The file's SHA-256.
        found: String,
    },
    /// The file holds another number of records than the manifest says.
    Count {
        /// The manifest's count.
        expected: u64,
        /// Records found in the file.
        found: u64,
    },
    /// The first or last seq in the file is not the manifest's.
    SeqRange {
        /// The manifest's first and last seq.
        expected: (Option<u64>, Option<u64>),
        /// The file's.
        found: (Option<u64>, Option<u64>),
    },
    /// A line or row could not be read.
    Unreadable {
        /// The 1-based line.
        line: u64,
        /// Why.
        reason: String,
    },
    /// The CSV header is not the manifest's column list.
    Header {
        /// The manifest's columns.
        expected: Vec<String>,
        /// The header found.
        found: Vec<String>,
    },
    /// A record does not verify: altered, out of order, from another tenant, or (in a full
    /// export) not linked to the record before it.
    Chain {
        /// The 1-based line.
        line: u64,
        /// The record's seq.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A full export does not cover the trail from its anchor to its head.
    Incomplete {
        /// What is missing.
        reason: String,
    },
}

impl fmt::Display for ExportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportProblem::FileChanged { expected, found } => write!(
                f,
                "file sha-256 is {found}, the manifest says {expected} (the file was changed)"
            ),
            ExportProblem::Count { expected, found } => {
                write!(
                    f,
                    "file holds {found} records, the manifest says {expected}"
                )
            }
            ExportProblem::SeqRange { expected, found } => write!(
                f,
                "file spans seq {:?}..{:?}, the manifest says {:?}..{:?}",
                found.0, found.1, expected.0, expected.1
            ),
            ExportProblem::Unreadable { line, reason } => {
                write!(f, "line {line} is unreadable: {reason}")
            }
            ExportProblem::Header { expected, found } => write!(
                f,
                "header is [{}], the manifest says [{}]",
                found.join(", "),
                expected.join(", ")
            ),
            ExportProblem::Chain { line, seq, reason } => {
                write!(f, "line {line} (seq {seq}): {reason}")
            }
            ExportProblem::Incomplete { reason } => write!(f, "incomplete export: {reason}"),
        }
    }
}

/// What [`verify_export`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Records found in the file.
    pub count: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Whether the chain itself was re-verified (JSON Lines), not only counted (CSV).
    pub chain_checked: bool,
    /// Everything found wrong, in the order found; empty when the export is intact.
    pub problems: Vec<ExportProblem>,
}

impl ExportReport {
    /// Whether nothing was found wrong.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.is_empty() {
            write!(
                f,
                "export intact: {} records, sha-256 {}{}",
                self.count,
                self.sha256,
                if self.chain_checked {
                    ", chain verified"
                } else {
                    ""
                }
            )
        } else {
            write!(f, "export not intact ({} records read):", self.count)?;
            for p in &self.problems {
                write!(f, "\n  - {p}")?;
            }
            Ok(())
        }
    }
}

/// A reader that hashes every byte read through it.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Checks an export against its manifest, offline: the file's SHA-256, its record count
/// and seq range; for CSV the header; for JSON Lines every record's hash, its tenant and
/// order, and for a full export the whole chain from the manifest's anchor to its head.
///
/// Reads the file once, streaming: memory stays flat.
///
/// ```
/// use audit_log::{export, Actor, AuditLog, EntityRef, Event, JsonlExport, MemorySink, Query};
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(store.clone()).build();
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::new(42, "bob")))?;
/// let mut file = Vec::new();
/// let manifest = JsonlExport::new().write(&store, &Query::new(), &mut file)?;
///
/// assert!(export::verify_export(&file[..], &manifest)?.is_intact());
/// file[20] ^= 1;
/// assert!(!export::verify_export(&file[..], &manifest)?.is_intact());
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::InvalidInput`] when the manifest
/// describes a CSV export without its layout. Problems with the file's content are not
/// errors: they are in the report.
pub fn verify_export(data: impl Read, manifest: &Manifest) -> Result<ExportReport> {
    let mut reader = HashingReader {
        inner: data,
        hasher: sha2::Sha256::new(),
    };
    let mut problems = Vec::new();
    let mut seqs = SeqTracker::default();
    let chain_checked = match manifest.format {
        ExportFormat::Jsonl => {
            check_jsonl(&mut reader, manifest, &mut problems, &mut seqs)?;
            true
        }
        ExportFormat::Csv => {
            check_csv(&mut reader, manifest, &mut problems, &mut seqs)?;
            false
        }
    };
    // Whatever a parser left unread still counts for the file hash.
    io::copy(&mut reader, &mut io::sink())?;
    let sha256 = hex::encode(reader.hasher.finalize());
    if sha256 != manifest.sha256 {
        problems.insert(
            0,
            ExportProblem::FileChanged {
                expected: manifest.sha256.clone(),
                found: sha256.clone(),
            },
        );
    }
    if seqs.count != manifest.count {
        problems.push(ExportProblem::Count {
            expected: manifest.count,
            found: seqs.count,
        });
    }
    if seqs.seen_seq && (seqs.first, seqs.last) != (manifest.first_seq, manifest.last_seq) {
        problems.push(ExportProblem::SeqRange {
            expected: (manifest.first_seq, manifest.last_seq),
            found: (seqs.first, seqs.last),
        });
    }
    if manifest.full {
        let expected = manifest
            .head
            .map_or(0, |h| h.seq.saturating_sub(manifest.anchor.seq));
        if manifest.count != expected {
            problems.push(ExportProblem::Incomplete {
                reason: format!(
                    "the trail holds {expected} records from seq {} to the head, the export {}",
                    manifest.anchor.seq + 1,
                    manifest.count
                ),
            });
        }
    }
    Ok(ExportReport {
        count: seqs.count,
        sha256,
        chain_checked,
        problems,
    })
}

/// [`verify_export`] on a file and its sidecar manifest (`<file>.manifest.json`).
///
/// # Errors
/// As [`verify_export`] and [`Manifest::read`].
pub fn verify_export_file(file: &Path) -> Result<ExportReport> {
    let manifest = Manifest::read(&super::manifest_path(file))?;
    let f = std::fs::File::open(file)?;
    verify_export(f, &manifest)
}

/// Counts records and follows their seqs in file order.
#[derive(Debug, Default)]
struct SeqTracker {
    count: u64,
    seen_seq: bool,
    first: Option<u64>,
    last: Option<u64>,
}

impl SeqTracker {
    /// Notes a seq; returns why it is out of the manifest's order, if it is.
    fn note(&mut self, seq: u64, order: Order, full: bool) -> Option<String> {
        self.seen_seq = true;
        let why = self.last.and_then(|prev| {
            let (ok, step) = match order {
                Order::Ascending => (seq > prev, seq == prev + 1),
                Order::Descending => (seq < prev, seq + 1 == prev),
            };
            if !ok {
                Some(format!("out of order after seq {prev}"))
            } else if full && !step {
                Some(format!("records missing between seq {prev} and {seq}"))
            } else {
                None
            }
        });
        self.first.get_or_insert(seq);
        self.last = Some(seq);
        why
    }
}

fn check_jsonl(
    reader: &mut impl Read,
    m: &Manifest,
    problems: &mut Vec<ExportProblem>,
    seqs: &mut SeqTracker,
) -> Result<()> {
    let order = m.query.order;
    let mut lines = BufReader::new(reader);
    let mut line = String::new();
    let mut n = 0u64;
    let mut prev: Option<Record> = None;
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            break;
        }
        n += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        let r: Record = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                seqs.count += 1;
                problems.push(ExportProblem::Unreadable {
                    line: n,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        seqs.count += 1;
        let mut bad = |reason: String| {
            problems.push(ExportProblem::Chain {
                line: n,
                seq: r.seq,
                reason,
            })
        };
        if let Some(why) = seqs.note(r.seq, order, m.full) {
            bad(why);
        }
        if r.tenant != m.tenant {
            bad(format!("record of tenant {}, not {}", r.tenant, m.tenant));
        }
        if r.chain != m.chain {
            bad(format!("record uses {}, the trail {}", r.chain, m.chain));
        } else if chain::compute_hash(&r) != r.hash {
            bad("content does not match its hash (altered)".to_owned());
        }
        if m.full {
            let link_ok = match (&prev, order) {
                (None, Order::Ascending) => r.prev_hash == m.anchor.hash,
                (None, Order::Descending) => m.head.is_some_and(|h| h.hash == r.hash),
                (Some(p), Order::Ascending) => r.prev_hash == p.hash,
                (Some(p), Order::Descending) => p.prev_hash == r.hash,
            };
            if !link_ok {
                bad(match (&prev, order) {
                    (None, Order::Ascending) => "does not link to the manifest's anchor",
                    (None, Order::Descending) => "is not the manifest's head",
                    _ => "does not link to the record before it",
                }
                .to_owned());
            }
        }
        prev = Some(r);
    }
    if m.full {
        let end_ok = match (&prev, order) {
            (None, _) => m.head.is_none(),
            (Some(last), Order::Ascending) => m.head.is_some_and(|h| h.hash == last.hash),
            (Some(last), Order::Descending) => last.prev_hash == m.anchor.hash,
        };
        if !end_ok {
            problems.push(ExportProblem::Incomplete {
                reason: match order {
                    Order::Ascending => "the last record is not the manifest's head".to_owned(),
                    Order::Descending => {
                        "the last record does not link to the manifest's anchor".to_owned()
                    }
                },
            });
        }
    }
    Ok(())
}

fn check_csv(
    reader: &mut impl Read,
    m: &Manifest,
    problems: &mut Vec<ExportProblem>,
    seqs: &mut SeqTracker,
) -> Result<()> {
    let layout = m
        .csv
        .as_ref()
        .ok_or_else(|| Error::invalid("manifest.csv", "a csv manifest needs its layout"))?;
    let delimiter = match layout.delimiter.as_bytes() {
        [d] => *d,
        _ => {
            return Err(Error::invalid(
                "manifest.csv.delimiter",
                "must be one ascii character",
            ))
        }
    };
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(reader);
    let mut row = ::csv::StringRecord::new();
    let mut header_done = false;
    let seq_col = layout.columns.iter().position(|c| c == "seq");
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let ::csv::ErrorKind::Io(_) = e.kind() {
                    return Err(Error::Io(io::Error::other(e)));
                }
                if header_done {
                    seqs.count += 1;
                }
                header_done = true;
                problems.push(ExportProblem::Unreadable {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        }
        if !header_done {
            header_done = true;
            let found: Vec<String> = row.iter().map(str::to_owned).collect();
            if found != layout.columns {
                problems.push(ExportProblem::Header {
                    expected: layout.columns.clone(),
                    found,
                });
            }
            continue;
        }
        seqs.count += 1;
        if let Some(i) = seq_col {
            match row.get(i).and_then(|s| s.parse::<u64>().ok()) {
                Some(seq) => {
                    if let Some(why) = seqs.note(seq, m.query.order, m.full) {
                        problems.push(ExportProblem::Chain {
                            line,
                            seq,
                            reason: why,
                        });
                    }
                }
                None => problems.push(ExportProblem::Unreadable {
                    line,
                    reason: "the seq cell is not a number".to_owned(),
                }),
            }
        }
    }
    Ok(())
}
