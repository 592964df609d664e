//! `history`: an entity's timeline, or (with `--at`) its state at a point.

use audit_log::history::{Entity, History, Links, Point, State};
use audit_log::{EntityKey, Role};

use super::{not_found, purge_note, record_ref, record_row, record_table, Ctx};
use crate::fail::Fail;
use crate::filter::parse_entity;
use crate::render::{self, Out, Span, Style};
use crate::when::parse_point;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A point is a seq (57), head, or a time: RFC 3339, a date, a date and time in --tz, or an age
(7d). A deleted entity shows its last known state and who deleted it.")]
pub struct Args {
    /// The entity, as KIND:ID (user:42, group:g-ops, application:app-1, ...)
    #[arg(value_name = "KIND:ID")]
    pub entity: String,

    /// Show the entity's state at this point instead of its timeline
    #[arg(long, value_name = "POINT")]
    pub at: Option<String>,
}

/// The width of the labels in the state view.
const PAD: usize = 18;

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let key = parse_entity(&args.entity)?;
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let history = History::new(store).tenant(tenant.clone());
    if let Some(note) = purge_note(store, &tenant, out)? {
        render::note(&format!("note: {note}"));
    }
    match &args.at {
        None => timeline(&history, &key, out),
        Some(at) => {
            let point = parse_point(at, out.zone(), ctx.now)?;
            let state = history.state_at(point)?;
            state_view(&state, &key, point, out)
        }
    }
}

fn timeline(history: &History<'_>, key: &EntityKey, out: &mut Out) -> Result<(), Fail> {
    let entries = history.timeline(key)?;
    if entries.is_empty() {
        return Err(not_found(format!("the trail does not name {key}")));
    }
    let latest = history.entity_at(key, Point::Head)?;
    let name = latest
        .as_ref()
        .and_then(|e| e.display.clone())
        .map(|d| format!("{key} \"{d}\""))
        .unwrap_or_else(|| key.to_string());
    out.spans(&[
        Span::new(name, Style::Bold),
        Span::plain(format!(": {} records", entries.len())),
    ])?;
    let mut t = record_table(out);
    for e in &entries {
        let mut row = record_row(out, &e.record);
        if e.role != Role::Target {
            // Named as the group joined, the permission group, the scope: say so.
            if let Some(last) = row.last_mut() {
                let role = match e.role {
                    Role::Related => "related",
                    _ => "scope",
                };
                *last = Span::plain(format!("{} [{role}]", super::phrase(&e.record)));
            }
        }
        t.row(row);
    }
    out.table(&t)?;
    if let Some(e) = latest {
        if let Some(d) = &e.deleted {
            out.spans(&[
                Span::new("deleted", Style::Red),
                Span::plain(format!(" by {}", record_ref(out, &d.by))),
            ])?;
        }
    }
    Ok(())
}

fn state_view(state: &State, key: &EntityKey, point: Point, out: &mut Out) -> Result<(), Fail> {
    let at = match state.at() {
        Some(t) => format!("#{} ({})", state.seq(), out.time(t)),
        None => format!("#{}", state.seq()),
    };
    let Some(e) = state.entity(key) else {
        let asked = match point {
            Point::Seq(s) => format!("#{s}"),
            Point::Time(t) => out.time(t),
            Point::Head => "the head".to_owned(),
        };
        return Err(not_found(format!(
            "the trail does not name {key} up to {asked} (state at {at})"
        )));
    };
    out.spans(&[
        Span::new(format!("{key} \"{}\"", e.label()), Style::Bold),
        Span::plain(format!(" at {at}")),
    ])?;
    match &e.deleted {
        Some(d) => {
            out.spans(&[
                Span::new(format!("  {:<PAD$}  ", "status"), Style::Dim),
                Span::new("deleted", Style::Red),
                Span::plain(format!(
                    " by {} (below: its last known state)",
                    record_ref(out, &d.by)
                )),
            ])?;
        }
        None => {
            out.spans(&[
                Span::new(format!("  {:<PAD$}  ", "status"), Style::Dim),
                Span::new("live", Style::Green),
            ])?;
        }
    }
    match &e.created {
        Some(c) => out.field("created", record_ref(out, c), PAD)?,
        None => out.field(
            "created",
            format!(
                "before the trail (first named by {})",
                record_ref(out, &e.first_seen)
            ),
            PAD,
        )?,
    }
    out.field("last changed", format!("#{}", e.last_changed), PAD)?;
    entity_fields(e, out)?;
    links(state, e.last_known_links(), out)?;
    if let Some(p) = state.purged_through() {
        out.field(
            "note",
            format!("records through #{p} were purged; this state includes what they said"),
            PAD,
        )?;
    }
    Ok(())
}

fn entity_fields(e: &Entity, out: &mut Out) -> Result<(), Fail> {
    if let Some(w) = &e.workspace {
        out.field("workspace", format!("{} \"{}\"", w.id, w.label()), PAD)?;
    }
    if let Some(s) = &e.scope {
        out.field("scope", s.describe(), PAD)?;
    }
    for (name, v) in &e.attributes {
        out.field(name, v.display(), PAD)?;
    }
    if let Some(p) = &e.password_changed {
        out.field("password changed", record_ref(out, p), PAD)?;
    }
    Ok(())
}

fn links(state: &State, l: &Links, out: &mut Out) -> Result<(), Fail> {
    for (relation, other, made_by) in l.iter() {
        let name = match state.entity(&other).and_then(|o| o.display.as_deref()) {
            Some(d) => format!("{other} \"{d}\""),
            None => other.to_string(),
        };
        out.field(
            relation.as_str(),
            format!("{name} (since {})", record_ref(out, made_by)),
            PAD,
        )?;
    }
    Ok(())
}
