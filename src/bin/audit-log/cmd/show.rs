//! `show`: one record in full.

use audit_log::event::Carried;
use audit_log::{chain, AuditStore, AuditStoreExt, FieldValue, Record, Role, TenantId, UserChange};
use serde_json::Value;
use uuid::Uuid;

use super::{actor, not_found, outcome, purge_note, Ctx};
use crate::fail::Fail;
use crate::render::{Out, Span, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record: its seq (57 or #57) or its id (a UUID)
    #[arg(value_name = "SEQ|ID")]
    pub record: String,

    /// Print the record as one line of JSON instead
    #[arg(long)]
    pub json: bool,
}

/// The width of the labels in the detail view.
const PAD: usize = 12;

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let opened = ctx.store.open_read()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let wanted = args.record.trim();
    let found = if let Ok(seq) = wanted.strip_prefix('#').unwrap_or(wanted).parse::<u64>() {
        match store.get(&tenant, seq)? {
            Some(r) => r,
            None => return Err(missing(store, &tenant, seq, out)?),
        }
    } else if let Ok(id) = Uuid::parse_str(wanted) {
        store
            .find_by_id(&tenant, id)?
            .ok_or_else(|| not_found(format!("no record with id {id} in tenant {tenant}")))?
    } else {
        return Err(Fail::Usage(format!(
            "{wanted:?} is neither a seq (57) nor a record id (a UUID)"
        )));
    };
    if args.json {
        out.json_line(&found)?;
        return Ok(());
    }
    detail(store, &found, out)
}

/// Why there is no record at `seq`: purged, or past the head.
fn missing(store: &dyn AuditStore, tenant: &TenantId, seq: u64, out: &Out) -> Result<Fail, Fail> {
    let anchor = store.anchor(tenant)?.seq;
    if seq > 0 && seq <= anchor {
        let why = purge_note(store, tenant, out)?.unwrap_or_default();
        return Ok(not_found(format!("record #{seq} is gone: {why}")));
    }
    let head = store.head(tenant)?.map_or(0, |h| h.seq);
    Ok(not_found(format!(
        "no record #{seq} in tenant {tenant} (its newest is #{head})"
    )))
}

fn detail(store: &dyn AuditStore, r: &Record, out: &mut Out) -> Result<(), Fail> {
    out.spans(&[
        Span::new(format!("Record #{}", r.seq), Style::Bold),
        Span::plain(format!("  tenant {}", r.tenant)),
    ])?;
    out.field("id", r.id.hyphenated().to_string(), PAD)?;
    let mut when = out.time_full(r.occurred_at);
    if !matches!(out.zone(), audit_log::Zone::Utc) {
        when.push_str(&format!(
            "  ({})",
            audit_log::Zone::Utc.to_rfc3339(r.occurred_at)
        ));
    }
    out.field("time", when, PAD)?;
    out.field("actor", actor(&r.actor), PAD)?;
    out.field("event", r.event.name(), PAD)?;
    let marked = match r.outcome {
        audit_log::Outcome::Success => Span::new(r.outcome.as_str(), Style::Green),
        other => Span::new(other.as_str(), outcome(other).style()),
    };
    out.spans(&[
        Span::new(format!("  {:<PAD$}  ", "outcome"), Style::Dim),
        marked,
    ])?;
    out.field("summary", r.summary(), PAD)?;
    for m in r.event.mentions() {
        let role = match m.role {
            Role::Target => "target",
            Role::Related => "related",
            _ => "scope",
        };
        let name = match m.display {
            Some(d) => format!("{} {} \"{d}\"", m.kind, m.id),
            None => format!("{} {}", m.kind, m.id),
        };
        out.field(role, name, PAD)?;
    }
    if let Some(pg) = r.event.permission_group() {
        out.field("in scope", pg.scope.describe(), PAD)?;
    }

    let c = &r.context;
    if !c.is_empty() {
        out.blank()?;
        out.styled("Context", Style::Bold)?;
        if let Some(ip) = c.ip {
            out.field("ip", ip.to_string(), PAD)?;
        }
        for (label, v) in [
            ("user agent", &c.user_agent),
            ("request id", &c.request_id),
            ("correlation", &c.correlation_id),
            ("reason", &c.reason),
        ] {
            if let Some(v) = v {
                out.field(label, v, PAD)?;
            }
        }
    }

    changes(r, out)?;

    out.blank()?;
    out.styled("Event JSON", Style::Bold)?;
    out.json_pretty(&r.event.to_value(), "  ")?;

    out.blank()?;
    out.styled("Chain", Style::Bold)?;
    out.field("algorithm", r.chain.as_str(), PAD)?;
    out.field("prev hash", r.prev_hash.to_string(), PAD)?;
    out.field("hash", r.hash.to_string(), PAD)?;
    if let Some(seal) = r.seal {
        out.field("seal", seal.to_string(), PAD)?;
    }
    let (ok, why) = verifies_in_place(store, r)?;
    out.spans(&[
        Span::new(format!("  {:<PAD$}  ", "verifies"), Style::Dim),
        if ok {
            Span::new("yes", Style::Green)
        } else {
            Span::new("NO", Style::Red)
        },
        Span::plain(format!(": {why}")),
    ])?;
    Ok(())
}

/// What the event carries, as a person reads it: field changes as old → new, attributes,
/// a custom payload pretty-printed.
fn changes(r: &Record, out: &mut Out) -> Result<(), Fail> {
    let value = |v: Option<&FieldValue>, none: &str| match v {
        None | Some(FieldValue::Value(Value::Null)) => none.to_owned(),
        Some(v) => v.display(),
    };
    match r.event.carried() {
        Carried::Nothing => {}
        Carried::Attributes { attributes, .. } if !attributes.is_empty() => {
            out.blank()?;
            out.styled("Attributes", Style::Bold)?;
            for (name, v) in attributes.iter() {
                out.field(name, v.display(), PAD)?;
            }
        }
        Carried::Attributes { .. } => {}
        Carried::Changes(changes) => {
            out.blank()?;
            out.styled("Changes", Style::Bold)?;
            for c in changes {
                arrow(
                    out,
                    &c.field,
                    &value(c.old.as_ref(), "(none)"),
                    &value(c.new.as_ref(), "(cleared)"),
                )?;
            }
        }
        Carried::UserChanges(changes) => {
            out.blank()?;
            out.styled("Changes", Style::Bold)?;
            for c in changes {
                match c {
                    UserChange::PasswordChanged => {
                        out.field(c.field(), "changed (the trail never holds a password)", PAD)?
                    }
                    UserChange::Field(f) => arrow(
                        out,
                        &f.field,
                        &value(f.old.as_ref(), "(none)"),
                        &value(f.new.as_ref(), "(cleared)"),
                    )?,
                    other => out.field(other.field(), "changed", PAD)?,
                }
            }
        }
        Carried::Custom(payload) if !payload.is_null() => {
            out.blank()?;
            out.styled("Payload", Style::Bold)?;
            out.json_pretty(payload, "  ")?;
        }
        Carried::Custom(_) => {}
        Carried::Purge(p) => {
            out.blank()?;
            out.styled("Purge", Style::Bold)?;
            out.field(
                "removed",
                format!("{} records, through seq {}", p.count, p.through_seq),
                PAD,
            )?;
            out.field("anchor hash", p.anchor_hash.to_string(), PAD)?;
            if let Some(b) = p.before {
                out.field("before", out.time_full(b), PAD)?;
            }
            if p.state.is_some() {
                out.field(
                    "state",
                    "kept (the history of the removed records resumes from it)",
                    PAD,
                )?;
            }
        }
        Carried::Export(e) => {
            out.blank()?;
            out.styled("Export", Style::Bold)?;
            out.field("format", &e.format, PAD)?;
            let range = match (e.first_seq, e.last_seq) {
                (Some(a), Some(b)) => format!("{} records, seq {a} to {b}", e.count),
                _ => format!("{} records", e.count),
            };
            out.field("records", range, PAD)?;
            if !e.query.is_null() {
                out.field("query", e.query.to_string(), PAD)?;
            }
        }
        Carried::Unknown(_) => {
            out.blank()?;
            out.styled(
                "An event this version does not know: its JSON is below",
                Style::Yellow,
            )?;
        }
        // A kind of data newer than this program: the event's JSON below shows it.
        _ => {}
    }
    Ok(())
}

fn arrow(out: &mut Out, field: &str, old: &str, new: &str) -> Result<(), Fail> {
    out.spans(&[
        Span::new(format!("  {field:<PAD$}  "), Style::Dim),
        Span::plain(old),
        Span::new(" → ", Style::Dim),
        Span::plain(new),
    ])?;
    Ok(())
}

/// Whether the record verifies where it stands: its content matches its hash, it links to
/// the record before it (or the trail's start), and the record after it links to it.
fn verifies_in_place(store: &dyn AuditStore, r: &Record) -> Result<(bool, String), Fail> {
    if chain::compute_hash(r) != r.hash {
        return Ok((
            false,
            "its content does not match its hash (altered)".to_owned(),
        ));
    }
    if r.chain != store.chain_algorithm() {
        return Ok((
            false,
            format!("it uses {}, the trail {}", r.chain, store.chain_algorithm()),
        ));
    }
    let anchor = store.anchor(&r.tenant)?;
    let before = if r.seq == anchor.seq + 1 {
        Some((anchor.hash, "the trail's start".to_owned()))
    } else {
        store
            .get(&r.tenant, r.seq - 1)?
            .map(|p| (p.hash, format!("#{}", p.seq)))
    };
    let Some((prev, name)) = before else {
        return Ok((false, format!("record #{} before it is missing", r.seq - 1)));
    };
    if prev != r.prev_hash {
        return Ok((false, format!("its prev hash is not the hash of {name}")));
    }
    let mut why = format!("its content matches its hash and it links to {name}");
    match store.get(&r.tenant, r.seq + 1) {
        Ok(Some(next)) if next.prev_hash != r.hash => {
            return Ok((false, format!("#{} does not link to it", next.seq)));
        }
        Ok(Some(next)) => why.push_str(&format!("; #{} links to it", next.seq)),
        Ok(None) => why.push_str("; it is the newest record"),
        Err(_) => why.push_str(&format!("; #{} after it is unreadable", r.seq + 1)),
    }
    if r.seal.is_some() {
        why.push_str(" (its seal needs the chain key: verify checks it)");
    }
    Ok((true, why))
}
