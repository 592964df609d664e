//! `access`: a user's effective access at a point, with every path and the records behind
//! each link.

use audit_log::history::{AccessFilter, History};
use audit_log::EntityKey;

use super::{not_found, purge_note, record_ref, record_said, Ctx};
use crate::fail::Fail;
use crate::filter::parse_user;
use crate::render::{self, Out, Span, Style};
use crate::when::parse_point;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A point is a seq (57), head, or a time: RFC 3339, a date, a date and time in --tz, or an age
(7d). A scope is system, workspace:ID or application:ID.")]
pub struct Args {
    /// The user's id (42 or user:42)
    #[arg(value_name = "USER")]
    pub user: String,

    /// At this point (default: the head)
    #[arg(long, value_name = "POINT", default_value = "head")]
    pub at: String,

    /// Only permission groups in this scope: system, workspace:ID or application:ID
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
}

/// `--scope`.
pub fn parse_scope(s: Option<&str>) -> Result<AccessFilter, Fail> {
    Ok(match s.map(str::trim) {
        None => AccessFilter::Any,
        Some("system") => AccessFilter::System,
        Some(s) => match s.split_once(':') {
            Some(("workspace", id)) if !id.is_empty() => AccessFilter::Workspace(id.into()),
            Some(("application", id)) if !id.is_empty() => AccessFilter::Application(id.into()),
            _ => {
                return Err(Fail::Usage(format!(
                    "--scope {s:?}: use system, workspace:ID or application:ID"
                )))
            }
        },
    })
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let user = parse_user(&args.user)?;
    let filter = parse_scope(args.scope.as_deref())?;
    let at = parse_point(&args.at, out.zone(), ctx.now)
        .map_err(|e| Fail::Usage(format!("--at: {e}")))?;
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    if let Some(note) = purge_note(store, &tenant, out)? {
        render::note(&format!("note: {note}"));
    }
    let history = History::new(store).tenant(tenant.clone());
    let state = history.state_at(at)?;
    if state.entity(&EntityKey::user(user.clone())).is_none() {
        return Err(not_found(format!(
            "the trail does not name user {user} up to #{}",
            state.seq()
        )));
    }
    let access = state.access(&user, &filter);
    let when = match state.at() {
        Some(t) => format!("#{} ({})", access.seq, out.time(t)),
        None => format!("#{}", access.seq),
    };
    out.spans(&[
        Span::new(
            format!("user {} \"{}\"", access.user.id, access.user.label()),
            Style::Bold,
        ),
        Span::plain(format!(" at {when}")),
    ])?;
    if let Some(d) = &access.user_deleted {
        out.spans(&[
            Span::new("  deleted", Style::Red),
            Span::plain(format!(" by {}: no access", record_ref(out, d))),
        ])?;
        return Ok(());
    }
    if access.grants.is_empty() {
        out.line("  no permission groups")?;
    }
    for g in &access.grants {
        out.spans(&[
            Span::new(format!("  {}", g.permission_group.label()), Style::Cyan),
            Span::plain(format!(
                " ({}), id {}",
                g.scope.describe(),
                g.permission_group.id
            )),
        ])?;
        for p in &g.paths {
            out.spans(&[Span::new(format!("    {p}"), Style::Plain)])?;
            for l in &p.links {
                let said = record_said(store, &tenant, out, l);
                out.spans(&[Span::new(format!("      {said}"), Style::Dim)])?;
            }
        }
    }
    for c in &access.cycles {
        out.spans(&[
            Span::new("  note: ", Style::Yellow),
            Span::plain(format!("nested groups loop: {c}")),
        ])?;
    }
    Ok(())
}
