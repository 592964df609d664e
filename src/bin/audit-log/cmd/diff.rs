//! `diff`: what changed about one entity between two points.

use audit_log::history::{EntityStatus, History};
use audit_log::FieldValue;
use serde_json::Value;

use super::{purge_note, record_ref, Ctx};
use crate::fail::Fail;
use crate::filter::parse_entity;
use crate::render::{self, Out, Span, Style};
use crate::when::parse_point;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A point is a seq (57), head, or a time: RFC 3339, a date, a date and time in --tz, or an age
(7d).")]
pub struct Args {
    /// The entity, as KIND:ID (user:42, group:g-ops, ...)
    #[arg(value_name = "KIND:ID")]
    pub entity: String,

    /// From this point
    #[arg(long, value_name = "POINT", default_value = "0")]
    pub from: String,

    /// To this point
    #[arg(long, value_name = "POINT", default_value = "head")]
    pub to: String,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let key = parse_entity(&args.entity)?;
    let from = parse_point(&args.from, out.zone(), ctx.now).map_err(|e| flag("--from", e))?;
    let to = parse_point(&args.to, out.zone(), ctx.now).map_err(|e| flag("--to", e))?;
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let d = History::new(store)
        .tenant(tenant.clone())
        .diff(&key, from, to)?;
    if let Some(p) = d.starts_after_purge {
        let why = purge_note(store, &tenant, out)?.unwrap_or_default();
        render::note(&format!("note: starting at the purge point #{p}: {why}"));
    }
    out.spans(&[
        Span::new(key.to_string(), Style::Bold),
        Span::plain(format!(" from #{} to #{}", d.from_seq, d.to_seq)),
    ])?;
    if d.is_empty() {
        out.line("  no change")?;
        return Ok(());
    }
    let status = |s: EntityStatus| match s {
        EntityStatus::Unknown => "not yet in the trail",
        EntityStatus::Live => "live",
        EntityStatus::Deleted => "deleted",
    };
    if d.status_before != d.status_after {
        out.spans(&[
            Span::new("  status  ", Style::Dim),
            Span::plain(status(d.status_before)),
            Span::new(" → ", Style::Dim),
            Span::plain(status(d.status_after)),
        ])?;
    }
    let value = |v: Option<&FieldValue>| match v {
        None | Some(FieldValue::Value(Value::Null)) => "(none)".to_owned(),
        Some(v) => v.display(),
    };
    for f in &d.fields {
        out.spans(&[
            Span::new(format!("  {}: ", f.field), Style::Dim),
            Span::plain(value(f.before.as_ref())),
            Span::new(" → ", Style::Dim),
            Span::plain(value(f.after.as_ref())),
        ])?;
    }
    for l in &d.appeared {
        out.spans(&[
            Span::new("  + ", Style::Green),
            Span::plain(format!(
                "{} {} (made by {})",
                l.relation.as_str(),
                l.other,
                record_ref(out, &l.made_by)
            )),
        ])?;
    }
    for l in &d.went {
        out.spans(&[
            Span::new("  - ", Style::Red),
            Span::plain(format!(
                "{} {} (made by {})",
                l.relation.as_str(),
                l.other,
                record_ref(out, &l.made_by)
            )),
        ])?;
    }
    Ok(())
}

fn flag(name: &str, e: Fail) -> Fail {
    Fail::Usage(format!("{name}: {e}"))
}
