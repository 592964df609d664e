//! One module per subcommand, and what several of them show the same way.

pub mod access;
pub mod blame;
pub mod checkpoint;
pub mod completions;
pub mod diff;
pub mod export;
pub mod forward;
pub mod history;
pub mod import;
pub mod list;
pub mod purge;
pub mod serve;
pub mod show;
pub mod stats;
pub mod tail;
pub mod verify;
pub mod verify_export;

use audit_log::history::RecordRef;
use audit_log::{Actor, AuditStore, Event, Outcome, Query, Record, TenantId};
use chrono::{DateTime, Utc};

use crate::fail::Fail;
use crate::render::{Align, Out, Span, Style, Table};
use crate::store::StoreArgs;

/// What every command gets.
pub struct Ctx<'a> {
    pub store: &'a StoreArgs,
    /// The time the command started: ages (`7d`) count back from it.
    pub now: DateTime<Utc>,
}

/// `--format` of the commands that print records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table (on a terminal: cut to its width, coloured)
    #[default]
    Table,
    /// JSON Lines: one full record per line
    Json,
    /// CSV with the export's columns
    Csv,
}

/// The table of records `list`, `tail` and `history` print.
pub fn record_table(out: &Out) -> Table {
    let time = format!("TIME ({})", out.zone_label());
    Table::new(&[
        ("SEQ", Align::Right),
        (time.as_str(), Align::Left),
        ("OUTCOME", Align::Left),
        ("EVENT", Align::Left),
        ("SUMMARY", Align::Left),
    ])
}

/// One record as a row of [`record_table`].
pub fn record_row(out: &Out, r: &Record) -> Vec<Span> {
    vec![
        Span::plain(r.seq.to_string()),
        Span::plain(out.time(r.occurred_at)),
        outcome(r.outcome),
        Span::new(r.event.name(), Style::Cyan),
        Span::plain(phrase(r)),
    ]
}

/// What the record says happened, without its outcome: `root added user alice to group
/// Accounting`.
pub fn phrase(r: &Record) -> String {
    format!("{} {}", r.actor.label(), r.event.describe())
}

/// The outcome, marked: quiet for a success, loud for a refusal or a failure.
pub fn outcome(o: Outcome) -> Span {
    match o {
        Outcome::Success => Span::new("ok", Style::Dim),
        Outcome::Failure => Span::new("FAILED", Style::Yellow),
        Outcome::Denied => Span::new("DENIED", Style::Red),
        other => Span::new(other.as_str(), Style::Yellow),
    }
}

/// `user 2 "bob"`.
pub fn actor(a: &Actor) -> String {
    match &a.display {
        Some(d) if *d != a.id => format!("{} {} \"{d}\"", a.kind.as_str(), a.id),
        _ => format!("{} {}", a.kind.as_str(), a.id),
    }
}

/// `#5 2026-03-02 09:05:00 root`: the record behind a link or a state.
pub fn record_ref(out: &Out, r: &RecordRef) -> String {
    format!("#{} {} {}", r.seq, out.time(r.at), r.actor.label())
}

/// `#8 2026-03-02 09:07:00 root added user alice to group Accounting`: a record behind a link,
/// read back so its sentence can be shown (its pointer alone when it cannot be read).
pub fn record_said(store: &dyn AuditStore, tenant: &TenantId, out: &Out, r: &RecordRef) -> String {
    match audit_log::AuditStoreExt::get(store, tenant, r.seq) {
        Ok(Some(rec)) => format!("#{} {} {}", r.seq, out.time(r.at), phrase(&rec)),
        _ => record_ref(out, r),
    }
}

/// What the trail's start says when a retention purge removed its oldest records: `the trail
/// was purged through seq 120 on 2026-03-02 09:00:00 by retention (record #121)`. `None` for a
/// trail that starts at seq 1.
pub fn purge_note(
    store: &dyn AuditStore,
    tenant: &TenantId,
    out: &Out,
) -> Result<Option<String>, Fail> {
    let anchor = store.anchor(tenant)?;
    if anchor.seq == 0 {
        return Ok(None);
    }
    let q = Query::for_tenant(tenant.clone())
        .event("audit.purged")
        .after_seq(anchor.seq);
    for item in store.query(&q)? {
        let Ok(r) = item else { continue };
        if let Event::AuditPurged(p) = &r.event {
            if p.through_seq == anchor.seq && p.anchor_hash == anchor.hash {
                return Ok(Some(format!(
                    "the trail was purged through seq {} on {} by {} (record #{}, {} records removed)",
                    anchor.seq,
                    out.time(r.occurred_at),
                    r.actor.label(),
                    r.seq,
                    p.count
                )));
            }
        }
    }
    Ok(Some(format!(
        "the trail starts after seq {} and no audit.purged record accounts for it (run verify)",
        anchor.seq
    )))
}

/// Builds a [`Record`]-less fail for a required thing that is not there (exit 1).
pub fn not_found(what: impl Into<String>) -> Fail {
    Fail::Check(what.into())
}
