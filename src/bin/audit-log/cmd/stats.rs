//! `stats`: counts by event, actor, outcome and day, and the entities named most.

use audit_log::Stats;

use super::Ctx;
use crate::fail::Fail;
use crate::filter::Filters;
use crate::render::{Align, Out, Span, Style, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filters: Filters,

    /// How many actors, events and entities to list
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let opened = ctx.store.open_read()?;
    let q = args
        .filters
        .query(ctx.store.tenant(), out.zone(), ctx.now)?;
    let s = Stats::collect(opened.store(), &q, *out.zone())?;
    let span = match s.span {
        Some((a, b)) => format!(
            ", {} to {} ({})",
            out.time(a),
            out.time(b),
            out.zone_label()
        ),
        None => String::new(),
    };
    out.spans(&[
        Span::new(format!("{} records", s.records), Style::Bold),
        Span::plain(format!(
            "{span}; {} actors, {} entities",
            s.actors(),
            s.entities()
        )),
    ])?;
    if !s.unreadable.is_empty() {
        out.styled(
            format!(
                "{} unreadable records not counted (run verify)",
                s.unreadable.len()
            ),
            Style::Yellow,
        )?;
    }
    if s.records == 0 {
        return Ok(());
    }
    section(
        out,
        "By outcome",
        ("OUTCOME", "RECORDS"),
        s.by_outcome.iter().map(|(k, v)| (k.clone(), *v)),
    )?;
    section(
        out,
        &format!("By event (top {})", args.top),
        ("EVENT", "RECORDS"),
        s.top_events(args.top)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    )?;
    section(
        out,
        &format!("By actor (top {})", args.top),
        ("ACTOR", "RECORDS"),
        s.top_actors(args.top)
            .into_iter()
            .map(|a| (super::actor(&a.actor), a.count)),
    )?;
    section(
        out,
        &format!("By day ({})", out.zone_label()),
        ("DAY", "RECORDS"),
        s.by_day.iter().map(|(d, n)| (d.to_string(), *n)),
    )?;
    section(
        out,
        &format!("Entities named most (top {})", args.top),
        ("ENTITY", "RECORDS"),
        s.top_entities(args.top).into_iter().map(|e| {
            let name = match &e.display {
                Some(d) => format!("{} \"{d}\"", e.key),
                None => e.key.to_string(),
            };
            (name, e.count)
        }),
    )?;
    Ok(())
}

fn section(
    out: &mut Out,
    title: &str,
    header: (&str, &str),
    rows: impl Iterator<Item = (String, u64)>,
) -> Result<(), Fail> {
    out.blank()?;
    out.styled(title, Style::Bold)?;
    // The name column is the one cut to the terminal's width.
    let mut t = Table::new(&[(header.0, Align::Left), (header.1, Align::Right)]).flex(0);
    let mut any = false;
    for (k, v) in rows {
        t.row(vec![Span::plain(k), Span::plain(v.to_string())]);
        any = true;
    }
    if any {
        out.table(&t)?;
    }
    Ok(())
}
