//! `list`: records, filtered, one page at a time.

use audit_log::{CsvExport, Query};

use super::{record_row, record_table, Ctx, Format};
use crate::fail::Fail;
use crate::filter::Filters;
use crate::render::{self, Out};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints at most --limit records (default 100); when more match, a note on stderr says how to
get the next page (--after SEQ, or --before SEQ with --desc). Times are in --tz.")]
pub struct Args {
    #[command(flatten)]
    pub filters: Filters,

    /// Records after this seq
    #[arg(long, value_name = "SEQ")]
    pub after: Option<u64>,

    /// Records before this seq
    #[arg(long, value_name = "SEQ")]
    pub before: Option<u64>,

    /// Newest first
    #[arg(long)]
    pub desc: bool,

    /// At most this many records
    #[arg(long, default_value_t = 100, value_name = "N", conflicts_with = "all")]
    pub limit: usize,

    /// Every matching record (no page limit)
    #[arg(long)]
    pub all: bool,

    /// How to print them
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The query for a page: the filters, the seq bounds in the page's order, and one more
/// record than the page holds (to tell whether there is a next page).
fn page_query(args: &Args, filters: Query) -> Query {
    let mut q = filters;
    if args.desc {
        q = q.descending();
        if let Some(b) = args.before {
            q = q.after_seq(b);
        }
    } else {
        if let Some(a) = args.after {
            q = q.after_seq(a);
        }
        if let Some(b) = args.before {
            q = q.through_seq(b.saturating_sub(1));
        }
    }
    if !args.all {
        q = q.limit(args.limit.saturating_add(1));
    }
    q
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let filters = args
        .filters
        .query(ctx.store.tenant(), out.zone(), ctx.now)?;
    let q = page_query(&args, filters);
    // Newest first, `--after` is a lower bound the query cannot express: the stream stops at
    // the first record at or below it.
    let floor = if args.desc { args.after } else { None };
    let limit = if args.all { usize::MAX } else { args.limit };
    let mut page = Page {
        records: store.query(&q)?,
        floor,
        limit,
        shown: 0,
        last: None,
        more: false,
        done: false,
        error: None,
    };
    match args.format {
        Format::Json => {
            for r in page.by_ref() {
                out.json_line(&r)?;
            }
        }
        Format::Csv => {
            // The export's CSV (columns, formula rule) of exactly these records, streamed.
            let csv = CsvExport::new().time_zone(*out.zone());
            csv.write_records(page.by_ref(), out.lines())?;
        }
        Format::Table => {
            // Column widths need every row first: a table holds its page.
            let records: Vec<_> = page.by_ref().collect();
            if let Some(e) = page.error.take() {
                return Err(e.into());
            }
            if records.is_empty() {
                render::note("no records match");
            } else {
                let mut t = record_table(out);
                for r in &records {
                    t.row(record_row(out, r));
                }
                out.table(&t)?;
            }
        }
    }
    if let Some(e) = page.error.take() {
        return Err(e.into());
    }
    hint(&args, page.more, page.last);
    Ok(())
}

/// The page's records as they stream: stops at the limit (noting whether more match) and at
/// the first error (kept for the caller).
struct Page<'a> {
    records: audit_log::RecordStream<'a>,
    floor: Option<u64>,
    limit: usize,
    shown: usize,
    last: Option<u64>,
    more: bool,
    done: bool,
    error: Option<audit_log::Error>,
}

impl Iterator for Page<'_> {
    type Item = audit_log::Record;

    fn next(&mut self) -> Option<audit_log::Record> {
        if self.done {
            return None;
        }
        match self.records.next()? {
            Ok(r) if self.floor.is_some_and(|f| r.seq <= f) => {
                self.done = true;
                None
            }
            Ok(_) if self.shown == self.limit => {
                self.more = true;
                self.done = true;
                None
            }
            Ok(r) => {
                self.shown += 1;
                self.last = Some(r.seq);
                Some(r)
            }
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                None
            }
        }
    }
}

/// Tells the person where the next page starts.
fn hint(args: &Args, more: bool, last: Option<u64>) {
    if let (true, Some(seq)) = (more, last) {
        if args.desc {
            render::note(&format!(
                "more records match: the next page is --desc --before {seq} (or --all)"
            ));
        } else {
            render::note(&format!(
                "more records match: the next page is --after {seq} (or --all)"
            ));
        }
    }
}
