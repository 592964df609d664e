//! CSV export: one row per record, for people with a spreadsheet. The format is documented
//! on [`CsvExport`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::Value;

use super::manifest::{is_full, CsvLayout, ExportFormat, Manifest, MANIFEST_VERSION};
use super::{record_export, snapshot, stream, Common, HashingWriter, Progress};
use crate::error::{Error, Result};
use crate::event::{Attributes, Carried, Event, FieldChange, FieldValue, Role, UserChange};
use crate::log::AuditLog;
use crate::query::Query;
use crate::record::{Actor, Record};
use crate::sink::AuditStore;
use crate::zone::Zone;

/// One CSV column. See [`CsvExport`'s column table](CsvExport#columns) for what each holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Column {
    /// `seq`
    Seq,
    /// `time`
    Time,
    /// `tenant`
    Tenant,
    /// `actor_type`
    ActorType,
    /// `actor_id`
    ActorId,
    /// `actor`
    Actor,
    /// `event`
    Event,
    /// `outcome`
    Outcome,
    /// `target_type`
    TargetType,
    /// `target_id`
    TargetId,
    /// `target`
    Target,
    /// `related_type`
    RelatedType,
    /// `related_id`
    RelatedId,
    /// `related`
    Related,
    /// `scope`
    Scope,
    /// `changes`
    Changes,
    /// `reason`
    Reason,
    /// `ip`
    Ip,
    /// `user_agent`
    UserAgent,
    /// `request_id`
    RequestId,
    /// `correlation_id`
    CorrelationId,
    /// `record_id`
    RecordId,
    /// `hash`
    Hash,
    /// `summary` (not in the default set)
    Summary,
    /// `event_json` (not in the default set)
    EventJson,
    /// `schema_version` (not in the default set)
    SchemaVersion,
    /// `chain` (not in the default set)
    Chain,
    /// `prev_hash` (not in the default set)
    PrevHash,
}

/// How many of [`Column::ALL`] are default columns.
const DEFAULT_COLUMN_COUNT: usize = 23;

/// Every column, the defaults first, so the default set is a prefix and is written once.
const ALL_COLUMNS: [Column; 28] = [
    Column::Seq,
    Column::Time,
    Column::Tenant,
    Column::ActorType,
    Column::ActorId,
    Column::Actor,
    Column::Event,
    Column::Outcome,
    Column::TargetType,
    Column::TargetId,
    Column::Target,
    Column::RelatedType,
    Column::RelatedId,
    Column::Related,
    Column::Scope,
    Column::Changes,
    Column::Reason,
    Column::Ip,
    Column::UserAgent,
    Column::RequestId,
    Column::CorrelationId,
    Column::RecordId,
    Column::Hash,
    Column::Summary,
    Column::EventJson,
    Column::SchemaVersion,
    Column::Chain,
    Column::PrevHash,
];

impl Column {
    /// The default columns, in their documented order: the first
    /// 23 of [`Column::ALL`].
    pub const DEFAULT: &'static [Column] = ALL_COLUMNS.split_at(DEFAULT_COLUMN_COUNT).0;

    /// Every column: the default ones, then the others.
    pub const ALL: &'static [Column] = &ALL_COLUMNS;

    /// The stable header name.
    pub fn header(self) -> &'static str {
        match self {
            Column::Seq => "seq",
            Column::Time => "time",
            Column::Tenant => "tenant",
            Column::ActorType => "actor_type",
            Column::ActorId => "actor_id",
            Column::Actor => "actor",
            Column::Event => "event",
            Column::Outcome => "outcome",
            Column::TargetType => "target_type",
            Column::TargetId => "target_id",
            Column::Target => "target",
            Column::RelatedType => "related_type",
            Column::RelatedId => "related_id",
            Column::Related => "related",
            Column::Scope => "scope",
            Column::Changes => "changes",
            Column::Reason => "reason",
            Column::Ip => "ip",
            Column::UserAgent => "user_agent",
            Column::RequestId => "request_id",
            Column::CorrelationId => "correlation_id",
            Column::RecordId => "record_id",
            Column::Hash => "hash",
            Column::Summary => "summary",
            Column::EventJson => "event_json",
            Column::SchemaVersion => "schema_version",
            Column::Chain => "chain",
            Column::PrevHash => "prev_hash",
        }
    }

    /// The column with this header name.
    pub fn from_header(name: &str) -> Option<Column> {
        Column::ALL.iter().copied().find(|c| c.header() == name)
    }
}

/// Whether a spreadsheet would read a cell starting with `c` as a formula (see the
/// [formula rule](CsvExport#safe-to-open-in-a-spreadsheet)).
fn starts_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+'
            | '-'
            | '@'
            | '\t'
            | '\r'
            | '\n'
            | '\u{FF1D}'
            | '\u{FF0B}'
            | '\u{FF0D}'
            | '\u{FF20}'
    )
}

/// The cell as the exporter writes it by default: with a `'` in front when its first
/// character is one a spreadsheet would start a formula with (`= + - @`, tab, carriage
/// return, line feed, and the full-width `＝ ＋ － ＠`), unchanged otherwise.
///
/// ```
/// use audit_log::export::neutralize_formula;
///
/// assert_eq!(neutralize_formula("=1+1"), "'=1+1");
/// assert_eq!(neutralize_formula("-42"), "'-42");
/// assert_eq!(neutralize_formula("\u{FF1D}SUM(A1)"), "'\u{FF1D}SUM(A1)");
/// assert_eq!(neutralize_formula("alice"), "alice");
/// assert_eq!(neutralize_formula("a=b"), "a=b");
/// ```
pub fn neutralize_formula(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some(c) if starts_formula(c) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Exports records as CSV. Build it, then [`write`](CsvExport::write) to any writer or
/// [`to_file`](CsvExport::to_file) with a manifest next to it.
///
/// # Columns
///
/// A header row names the columns. The default set and order ([`Column::DEFAULT`]) is
/// stable: new columns are only ever added to [`Column`] outside the default set, or at its
/// end in a new major version.
///
/// | # | header | content |
/// | --- | --- | --- |
/// | 1 | `seq` | position in the tenant's trail: 1, 2, 3, ... |
/// | 2 | `time` | when it happened, RFC 3339 with microseconds, UTC (`2026-03-01T09:00:00.000000Z`) unless [`CsvExport::time_zone`] says otherwise (then with the offset in effect at that moment: `2026-03-01T10:00:00.000000+01:00`) |
/// | 3 | `tenant` | the tenant |
/// | 4 | `actor_type` | `user`, `service` or `system` |
/// | 5 | `actor_id` | the actor's id in the host |
/// | 6 | `actor` | the actor's display name at the time (its id when it had none) |
/// | 7 | `event` | the event name: `user.created`, `permission.user_added`, a custom name, ... |
/// | 8 | `outcome` | `success`, `failure` or `denied` |
/// | 9 | `target_type` | the kind of entity the event is about: `user`, `group`, `application`, ... |
/// | 10 | `target_id` | its id |
/// | 11 | `target` | its display name at the time |
/// | 12 | `related_type` | the other entity's kind (the group joined, the permission group, an application's workspace) |
/// | 13 | `related_id` | its id |
/// | 14 | `related` | its display name at the time |
/// | 15 | `scope` | where a permission group lives: `system`, `workspace Finance`, `application Payroll` |
/// | 16 | `changes` | the changes in words: `name: Ops -> Operations; password: changed`; attributes of a creation as `email = a@example.com`; a custom event's payload as JSON |
/// | 17 | `reason` | the reason the actor gave |
/// | 18 | `ip` | the client's IP address |
/// | 19 | `user_agent` | the client's user agent |
/// | 20 | `request_id` | the host's request id |
/// | 21 | `correlation_id` | the host's correlation id |
/// | 22 | `record_id` | the record's UUID |
/// | 23 | `hash` | the record's hash in the chain (64 hex digits) |
///
/// Not in the default set, available through [`CsvExport::columns`]: `summary` (the record in
/// one sentence, [`Record::summary`]), `event_json` (the event's wire JSON), `schema_version`,
/// `chain` (the hash algorithm) and `prev_hash`.
///
/// Empty cells mean "none" (no reason given, no related entity). Values a host recorded are
/// written as they are; only the formula rule below changes them.
///
/// # Safe to open in a spreadsheet
///
/// A cell that starts with `=`, `+`, `-` or `@` is taken as a formula by Excel, LibreOffice
/// and Google Sheets, which lets whoever chose a user name or a reason run a formula on the
/// administrator's machine ("CSV injection"). Following OWASP's guidance, by default the
/// exporter prefixes a single quote `'` to **every cell whose first character is one of**:
///
/// | character | code point |
/// | --- | --- |
/// | `=` `+` `-` `@` | U+003D, U+002B, U+002D, U+0040 |
/// | tab, carriage return, line feed | U+0009, U+000D, U+000A |
/// | full-width `＝` `＋` `－` `＠` | U+FF1D, U+FF0B, U+FF0D, U+FF20 |
///
/// and changes nothing else: a spreadsheet shows the cell as text, with the quote. Cells the
/// crate itself writes (seq, times, hashes, ids of the record) never start with those, so in
/// practice only host-supplied text is ever prefixed. See [`neutralize_formula`].
///
/// Machine consumers that want the values exactly as recorded turn this off with
/// [`CsvExport::raw`] (or [`CsvExport::formula_escaping(false)`](CsvExport::formula_escaping));
/// the manifest records which was used. For a lossless copy prefer [`JsonlExport`](super::JsonlExport).
///
/// Quoting follows RFC 4180: a cell holding the delimiter, a quote, a carriage return or a
/// line feed is enclosed in double quotes, with quotes doubled, so line breaks inside a
/// field never split a record.
///
/// # Options
///
/// ```
/// use audit_log::{Column, CsvExport, MemorySink, Query};
/// use chrono::FixedOffset;
///
/// // With the `tz` feature, a named zone with its daylight-saving rules:
/// // `.time_zone("Europe/Berlin".parse::<audit_log::Zone>()?)`.
///
/// let store = MemorySink::new();
/// let export = CsvExport::new()
///     .delimiter(b';')                       // for locales where ',' is the decimal mark
///     .bom(true)                             // so spreadsheets read non-ASCII names right
///     .time_zone(FixedOffset::east_opt(3600).unwrap())
///     .columns([Column::Time, Column::Actor, Column::Event, Column::Target, Column::Changes])
///     .on_progress(|p| eprintln!("{} of {:?}", p.written, p.total));
/// let mut out = Vec::new();
/// export.write(&store, &Query::new().event("user.*"), &mut out)?;
/// assert_eq!(out, b"\xEF\xBB\xBFtime;actor;event;target;changes\n");
/// # Ok::<(), audit_log::Error>(())
/// ```
#[must_use]
#[derive(Debug)]
pub struct CsvExport<'a> {
    columns: Vec<Column>,
    delimiter: u8,
    bom: bool,
    escape: bool,
    zone: Zone,
    common: Common<'a>,
}

impl Default for CsvExport<'_> {
    fn default() -> Self {
        CsvExport {
            columns: Column::DEFAULT.to_vec(),
            delimiter: b',',
            bom: false,
            escape: true,
            zone: Zone::Utc,
            common: Common::default(),
        }
    }
}

impl<'a> CsvExport<'a> {
    /// The default: every [default column](Column::DEFAULT), comma-separated, no BOM, UTC,
    /// formula-looking cells neutralised.
    pub fn new() -> Self {
        Self::default()
    }

    /// The field delimiter (default `,`). Must be an ASCII character other than a quote,
    /// carriage return or line feed; checked when writing.
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Whether to start the file with a UTF-8 byte order mark (default: no). Excel on
    /// Windows needs it to read non-ASCII names correctly.
    pub fn bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// Shows times in this zone instead of UTC: a fixed offset (a `chrono::FixedOffset`) or
    /// any [`Zone`], such as a named one with its daylight-saving rules (feature `tz`). Still
    /// RFC 3339, each time with the offset in effect at that moment; the manifest records the
    /// zone (`+01:00`, `Europe/Berlin`).
    pub fn time_zone(mut self, zone: impl Into<Zone>) -> Self {
        self.zone = zone.into();
        self
    }

    /// Which columns, in which order (default [`Column::DEFAULT`]).
    pub fn columns(mut self, columns: impl IntoIterator<Item = Column>) -> Self {
        self.columns = columns.into_iter().collect();
        self
    }

    /// Whether to neutralise formula-looking cells (default: yes; see the
    /// [formula rule](CsvExport#safe-to-open-in-a-spreadsheet)).
    pub fn formula_escaping(mut self, on: bool) -> Self {
        self.escape = on;
        self
    }

    /// Values exactly as recorded, for machine consumers: no formula escaping.
    pub fn raw(self) -> Self {
        self.formula_escaping(false)
    }

    /// Calls `f` with the progress at the start, every
    /// [`PROGRESS_EVERY`](super::PROGRESS_EVERY) rows and at the end.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + 'a) -> Self {
        self.common.progress = Some(Box::new(f));
        self
    }

    /// Records an `audit.exported` event by `actor` through `log` when the export succeeds.
    pub fn record_to(mut self, log: &'a AuditLog, actor: Actor) -> Self {
        self.common.recorder = Some((log, actor));
        self
    }

    /// Writes the records `query` selects as CSV into `out` and returns the manifest.
    ///
    /// `out` is written in chunks of a few kilobytes; wrapping a file in a `BufWriter` is
    /// not needed.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad delimiter or an empty column list;
    /// [`Error::Io`] when writing fails; the store's errors, including
    /// [`Error::Corrupt`] for a record it cannot read; errors recording the export.
    pub fn write(
        mut self,
        store: &dyn AuditStore,
        query: &Query,
        out: impl Write,
    ) -> Result<Manifest> {
        if !self.delimiter.is_ascii() || matches!(self.delimiter, b'"' | b'\r' | b'\n') {
            return Err(Error::invalid(
                "delimiter",
                "must be an ascii character other than a quote or a line break",
            ));
        }
        if self.columns.is_empty() {
            return Err(Error::invalid("columns", "at least one column is needed"));
        }
        let exported_at = self.common.now();
        let snap = snapshot(store, query, self.common.progress.is_some())?;
        let mut hashing = HashingWriter::new(out);
        if self.bom {
            hashing.write_all("\u{FEFF}".as_bytes())?;
        }
        let mut w = ::csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .terminator(::csv::Terminator::Any(b'\n'))
            .from_writer(hashing);
        w.write_record(self.columns.iter().map(|c| c.header()))
            .map_err(csv_error)?;
        let mut cells = Cells::default();
        let columns = &self.columns;
        let escape = self.escape;
        let zone = self.zone;
        let span = stream(store, &snap, &mut self.common, |r| {
            cells.fill(r, columns, &zone);
            for cell in &cells.values {
                if escape {
                    w.write_field(neutralize_formula(cell).as_bytes())
                } else {
                    w.write_field(cell.as_bytes())
                }
                .map_err(csv_error)?;
            }
            w.write_record(None::<&[u8]>).map_err(csv_error)
        })?;
        let hashing = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
        let (mut out, sha256, bytes) = hashing.finish();
        out.flush()?;
        let mut manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            format: ExportFormat::Csv,
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
            csv: Some(CsvLayout {
                columns: self.columns.iter().map(|c| c.header().to_owned()).collect(),
                delimiter: char::from(self.delimiter).to_string(),
                bom: self.bom,
                formula_escaping: self.escape,
                time_zone: self.zone.to_string(),
            }),
            recorded_seq: None,
        };
        record_export(&self.common, &mut manifest)?;
        Ok(manifest)
    }

    /// Writes the CSV to `file` and its manifest to `<file>.manifest.json`.
    ///
    /// # Errors
    /// As [`CsvExport::write`]; [`Error::Io`] when a file cannot be written.
    pub fn to_file(
        self,
        store: &dyn AuditStore,
        query: &Query,
        file: impl AsRef<std::path::Path>,
    ) -> Result<Manifest> {
        super::to_file(file.as_ref(), |w| self.write(store, query, w))
    }
}

fn csv_error(e: ::csv::Error) -> Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => Error::Io(e),
        other => Error::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

/// The cells of one row, reused from row to row.
#[derive(Debug, Default)]
struct Cells {
    values: Vec<String>,
}

impl Cells {
    fn fill(&mut self, r: &Record, columns: &[Column], zone: &Zone) {
        self.values.resize_with(columns.len(), String::new);
        let mentions = r.event.mentions();
        let find = |role: Role| mentions.iter().find(|m| m.role == role);
        let target = find(Role::Target);
        let related = find(Role::Related);
        for (cell, col) in self.values.iter_mut().zip(columns) {
            cell.clear();
            // `write!` into a String cannot fail.
            let _ = match col {
                Column::Seq => write!(cell, "{}", r.seq),
                Column::Time => push(cell, &zone.to_rfc3339(r.occurred_at)),
                Column::Tenant => push(cell, r.tenant.as_str()),
                Column::ActorType => push(cell, r.actor.kind.as_str()),
                Column::ActorId => push(cell, &r.actor.id),
                Column::Actor => push(cell, r.actor.label()),
                Column::Event => push(cell, r.event.name()),
                Column::Outcome => push(cell, r.outcome.as_str()),
                Column::TargetType => opt(cell, target.map(|m| m.kind.as_str())),
                Column::TargetId => opt(cell, target.map(|m| m.id.as_str())),
                Column::Target => opt(cell, target.map(|m| m.label())),
                Column::RelatedType => opt(cell, related.map(|m| m.kind.as_str())),
                Column::RelatedId => opt(cell, related.map(|m| m.id.as_str())),
                Column::Related => opt(cell, related.map(|m| m.label())),
                Column::Scope => {
                    if let Some(pg) = r.event.permission_group() {
                        cell.push_str(&pg.scope.describe());
                    }
                    Ok(())
                }
                Column::Changes => {
                    changes(cell, &r.event);
                    Ok(())
                }
                Column::Reason => opt(cell, r.context.reason.as_deref()),
                Column::Ip => match r.context.ip {
                    Some(ip) => write!(cell, "{ip}"),
                    None => Ok(()),
                },
                Column::UserAgent => opt(cell, r.context.user_agent.as_deref()),
                Column::RequestId => opt(cell, r.context.request_id.as_deref()),
                Column::CorrelationId => opt(cell, r.context.correlation_id.as_deref()),
                Column::RecordId => write!(cell, "{}", r.id.hyphenated()),
                Column::Hash => write!(cell, "{}", r.hash),
                Column::Summary => push(cell, &r.summary()),
                Column::EventJson => push(cell, &r.event.to_value().to_string()),
                Column::SchemaVersion => write!(cell, "{}", r.schema_version),
                Column::Chain => push(cell, r.chain.as_str()),
                Column::PrevHash => write!(cell, "{}", r.prev_hash),
            };
        }
    }
}

fn push(cell: &mut String, s: &str) -> std::fmt::Result {
    cell.push_str(s);
    Ok(())
}

fn opt(cell: &mut String, s: Option<&str>) -> std::fmt::Result {
    if let Some(s) = s {
        cell.push_str(s);
    }
    Ok(())
}

/// The `changes` cell: what an event changed, in words.
fn changes(cell: &mut String, event: &Event) {
    // No wildcard: a new kind of data an event carries must say here how it reads.
    match event.carried() {
        Carried::Nothing => {}
        Carried::Attributes { attributes: a, .. } => attributes(cell, a),
        Carried::UserChanges(changes) => {
            for (i, c) in changes.iter().enumerate() {
                if i > 0 {
                    cell.push_str("; ");
                }
                match c {
                    UserChange::PasswordChanged => {
                        cell.push_str(c.field());
                        cell.push_str(": changed");
                    }
                    UserChange::Field(f) => field_change(cell, f),
                }
            }
        }
        Carried::Changes(changes) => field_changes(cell, changes),
        Carried::Purge(e) => {
            let _ = write!(
                cell,
                "purged {} records through seq {}",
                e.count, e.through_seq
            );
        }
        Carried::Export(e) => {
            let _ = write!(cell, "exported {} records as {}", e.count, e.format);
        }
        Carried::Custom(payload) => {
            if !payload.is_null() {
                let _ = write!(cell, "{payload}");
            }
        }
        Carried::Unknown(raw) => {
            let _ = write!(cell, "{raw}");
        }
    }
}

fn attributes(cell: &mut String, attrs: &Attributes) {
    for (i, (name, value)) in attrs.iter().enumerate() {
        if i > 0 {
            cell.push_str("; ");
        }
        cell.push_str(name);
        cell.push_str(" = ");
        cell.push_str(&value.display());
    }
}

fn field_changes(cell: &mut String, changes: &[FieldChange]) {
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            cell.push_str("; ");
        }
        field_change(cell, c);
    }
}

fn field_change(cell: &mut String, c: &FieldChange) {
    fn value(v: Option<&FieldValue>, none: &str) -> String {
        match v {
            None => none.to_owned(),
            Some(FieldValue::Value(Value::Null)) => none.to_owned(),
            Some(v) => v.display(),
        }
    }
    cell.push_str(&c.field);
    cell.push_str(": ");
    cell.push_str(&value(c.old.as_ref(), "(none)"));
    cell.push_str(" -> ");
    cell.push_str(&value(c.new.as_ref(), "(cleared)"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntityRef, FieldChange};

    #[test]
    fn every_formula_start_is_neutralised_and_nothing_else() {
        for c in ['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'] {
            let cell = format!("{c}x");
            assert_eq!(neutralize_formula(&cell), format!("'{cell}"));
        }
        for s in ["", "x", " =1", "1-2", "'=x", "é", "2026-03-01", "a@b"] {
            assert_eq!(neutralize_formula(s), s);
        }
    }

    #[test]
    fn headers_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Column::ALL {
            assert!(seen.insert(c.header()), "duplicate header {}", c.header());
            assert_eq!(Column::from_header(c.header()), Some(*c));
        }
        assert!(Column::DEFAULT.iter().all(|c| Column::ALL.contains(c)));
        assert_eq!(&Column::ALL[..Column::DEFAULT.len()], Column::DEFAULT);
    }

    #[test]
    fn changes_read_as_words() {
        let mut s = String::new();
        changes(
            &mut s,
            &Event::group_edited(
                EntityRef::new(1, "Ops"),
                vec![
                    FieldChange::new("name", "Ops", "Operations"),
                    FieldChange::set("description", "On call"),
                    FieldChange::cleared("archived_at", "2026-01-01"),
                ],
            ),
        );
        assert_eq!(
            s,
            "name: Ops -> Operations; description: (none) -> On call; archived_at: 2026-01-01 -> (cleared)"
        );
        s.clear();
        changes(
            &mut s,
            &Event::user_edited(
                EntityRef::new(1, "a"),
                vec![
                    UserChange::email("a@x", "b@x"),
                    UserChange::password_changed(),
                ],
            ),
        );
        assert_eq!(s, "email: a@x -> b@x; password: changed");
    }
}
