//! `tail`: the newest records, then (with `--follow`) each new one as it is committed, until
//! interrupted. Following polls the store's head ([`audit_log::Follow`]): it sees what any
//! process appends, on SQLite and on PostgreSQL.

use std::time::Duration;

use audit_log::{Follow, Record};

use super::{record_row, Ctx};
use crate::fail::Fail;
use crate::filter::Filters;
use crate::render::{self, Align, Out};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filters: Filters,

    /// How many of the newest records to show first
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    pub lines: usize,

    /// Then wait for new records and show each as it is committed (Ctrl-C stops)
    #[arg(short, long)]
    pub follow: bool,

    /// How often to look for new records when following, in milliseconds
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub interval: u64,

    /// JSON Lines (one full record per line) instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let q = args.filters.query(tenant.clone(), out.zone(), ctx.now)?;
    // The head first: the newest records up to it, then following from it, so nothing is
    // shown twice or missed between the two.
    let head = store.head(&tenant)?.map_or(0, |h| h.seq);
    let mut newest: Vec<Record> = store
        .query(&q.clone().through_seq(head).descending().limit(args.lines))?
        .collect::<Result<_, _>>()?;
    newest.reverse();

    // Rows are printed as they come: the columns are sized once, for the head's seq and the
    // usual event names, and the summary takes the rest of the line.
    let seq_width = head.max(9_999).to_string().len() + 1;
    let event_width = newest
        .iter()
        .map(|r| r.event.name().len())
        .max()
        .unwrap_or(0)
        .max(24);
    let time_width = out.time(ctx.now).len().max(4 + out.zone_label().len() + 3);
    let widths = [
        seq_width,
        time_width,
        7,
        event_width,
        out.width().map_or(usize::MAX / 2, |w| {
            w.saturating_sub(seq_width + time_width + 7 + event_width + 8)
                .max(20)
        }),
    ];
    let aligns = [
        Align::Right,
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Left,
    ];
    if !args.json {
        out.table_row(&header_spans(out), &widths, &aligns, 4)?;
    }
    let show = |out: &mut Out, r: &Record| -> Result<(), Fail> {
        if args.json {
            out.json_line(r)?;
        } else {
            out.table_row(&record_row(out, r), &widths, &aligns, 4)?;
        }
        Ok(())
    };
    for r in &newest {
        show(out, r)?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    let follow =
        Follow::after(store, &q, head).interval(Duration::from_millis(args.interval.max(10)));
    for item in follow {
        match item {
            Ok(r) => {
                show(out, &r)?;
                out.flush()?;
            }
            // One unreadable record, or the store away for a moment: say so and go on.
            Err(e @ audit_log::Error::Corrupt { .. })
            | Err(e @ audit_log::Error::Verification(_)) => {
                render::diagnostic("warning", &e.to_string())
            }
            Err(e) if e.is_transient() => render::diagnostic("warning", &Fail::from(e).to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The header of the table `list` prints, for rows printed one at a time.
fn header_spans(out: &Out) -> Vec<crate::render::Span> {
    use crate::render::{Span, Style};
    [
        "SEQ".to_owned(),
        format!("TIME ({})", out.zone_label()),
        "OUTCOME".to_owned(),
        "EVENT".to_owned(),
        "SUMMARY".to_owned(),
    ]
    .into_iter()
    .map(|h| Span::new(h, Style::Bold))
    .collect()
}
