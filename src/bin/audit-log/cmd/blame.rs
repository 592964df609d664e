//! `blame`: the records that changed a user's access between two points, each in a sentence.

use audit_log::history::{AccessPath, Grant, History};
use audit_log::Record;

use super::access::parse_scope;
use super::{phrase, purge_note, Ctx};
use crate::fail::Fail;
use crate::filter::parse_user;
use crate::render::{self, Out, Span, Style};
use crate::when::parse_point;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A point is a seq (57), head, or a time: RFC 3339, a date, a date and time in --tz, or an age
(7d).")]
pub struct Args {
    /// The user's id (42 or user:42)
    #[arg(value_name = "USER")]
    pub user: String,

    /// Only permission groups in this scope: system, workspace:ID or application:ID
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,

    /// From this point (default: the start of the trail)
    #[arg(long, value_name = "POINT", default_value = "0")]
    pub from: String,

    /// To this point (default: the head)
    #[arg(long, value_name = "POINT", default_value = "head")]
    pub to: String,
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let user = parse_user(&args.user)?;
    let filter = parse_scope(args.scope.as_deref())?;
    let from = parse_point(&args.from, out.zone(), ctx.now)
        .map_err(|e| Fail::Usage(format!("--from: {e}")))?;
    let to = parse_point(&args.to, out.zone(), ctx.now)
        .map_err(|e| Fail::Usage(format!("--to: {e}")))?;
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let history = History::new(store).tenant(tenant.clone());
    let window = history.blame(user.clone(), &filter, from, to)?;
    if let Some(p) = window.starts_after_purge {
        let why = purge_note(store, &tenant, out)?.unwrap_or_default();
        render::note(&format!(
            "note: the window starts at the purge point #{p}: {why}"
        ));
    }
    let name = history
        .entity_at(
            &audit_log::EntityKey::user(user.clone()),
            audit_log::history::Point::Head,
        )?
        .map_or_else(|| user.to_string(), |e| e.label().to_owned());
    if window.is_empty() {
        out.line(format!("no record changed {name}'s access in this window"))?;
        return Ok(());
    }
    for b in window.iter() {
        sentence(out, &name, &b.record, &b.lost, &b.gained)?;
    }
    Ok(())
}

/// `#12 2026-03-02 09:40:00: bob removed group Accounting from group Finance staff, so alice
/// lost Payroll editors (application Payroll), held via Accounting -> Finance staff (reason
/// given: "reorg")`.
fn sentence(
    out: &mut Out,
    user: &str,
    r: &Record,
    lost: &[Grant],
    gained: &[Grant],
) -> Result<(), Fail> {
    let mut s = format!("{}, so", phrase(r));
    let mut first = true;
    for (verb, grants) in [("lost", lost), ("gained", gained)] {
        for g in grants {
            if !first {
                s.push_str(" and");
            }
            first = false;
            s.push_str(&format!(
                " {user} {verb} {} ({}), {} {}",
                g.permission_group.label(),
                g.scope.describe(),
                if verb == "lost" { "held" } else { "now held" },
                paths(&g.paths)
            ));
        }
    }
    if let Some(reason) = &r.context.reason {
        s.push_str(&format!(" (reason given: \"{reason}\")"));
    }
    out.spans(&[
        Span::new(
            format!("#{} {}", r.seq, out.time(r.occurred_at)),
            Style::Bold,
        ),
        Span::plain(format!(": {s}")),
    ])?;
    Ok(())
}

fn paths(p: &[AccessPath]) -> String {
    p.iter()
        .map(|p| {
            if p.is_direct() {
                "directly".to_owned()
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
