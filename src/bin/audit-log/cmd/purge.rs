//! `purge`: removes the oldest records under a retention policy. Says what it will remove and
//! asks first (unless `--yes`); the purge records itself as `audit.purged` with the operator
//! as its actor, and the rest of the trail still verifies.

use audit_log::{
    Actor, AuditStore, AuditStoreExt, Preparer, PurgePoint, PurgeReport, Query, RetentionExt,
};

use super::Ctx;
use crate::fail::Fail;
use crate::render::{self, Out};
use crate::store::Opened;
use crate::when::parse_time;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("point").required(true).args(["before", "through"])))]
#[command(after_help = "\
Only a prefix of the trail is ever removed, and only one that verifies. Without --yes the
purge asks on the terminal; with no terminal to ask on it refuses (exit 2).")]
pub struct Args {
    /// Remove the records before this time (RFC 3339, a date, a date and time in --tz, or an
    /// age such as 365d)
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,

    /// Remove the records up to and including this seq
    #[arg(long, value_name = "SEQ")]
    pub through: Option<u64>,

    /// Do not ask
    #[arg(long)]
    pub yes: bool,

    /// Who runs the purge, recorded as its actor (default: AUDIT_LOG_OPERATOR, then USER)
    #[arg(long, value_name = "ID")]
    pub operator: Option<String>,
}

/// What a purge would remove, as a reader sees it now.
struct Plan {
    first: u64,
    through: u64,
}

fn operator(args: &Args) -> Result<Actor, Fail> {
    let id = args
        .operator
        .clone()
        .or_else(|| std::env::var("AUDIT_LOG_OPERATOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Fail::Usage(
                "who runs the purge? pass --operator ID (or set AUDIT_LOG_OPERATOR)".to_owned(),
            )
        })?;
    Ok(Actor::user(id.as_str(), id.as_str()))
}

fn plan(
    store: &dyn AuditStore,
    tenant: &audit_log::TenantId,
    point: PurgePoint,
) -> Result<Option<Plan>, Fail> {
    let anchor = store.anchor(tenant)?.seq;
    let Some(head) = store.head(tenant)? else {
        return Ok(None);
    };
    let through = match point {
        PurgePoint::ThroughSeq(n) => n.min(head.seq),
        PurgePoint::Before(t) => {
            let first_kept = store
                .query(&Query::for_tenant(tenant.clone()).since(t).limit(1))?
                .next()
                .transpose()?;
            first_kept.map_or(head.seq, |r| r.seq.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    Ok((through > anchor).then_some(Plan {
        first: anchor + 1,
        through,
    }))
}

pub fn run(args: Args, ctx: &Ctx<'_>, out: &mut Out) -> Result<(), Fail> {
    let actor = operator(&args)?;
    let point = match (&args.before, args.through) {
        (Some(t), _) => PurgePoint::Before(
            parse_time(t, out.zone(), ctx.now)
                .map_err(|e| Fail::Usage(format!("--before: {e}")))?,
        ),
        (None, Some(n)) => PurgePoint::ThroughSeq(n),
        (None, None) => {
            return Err(Fail::Usage(
                "give --before TIME or --through SEQ".to_owned(),
            ))
        }
    };
    let opened = ctx.store.open_existing()?;
    let store = opened.store();
    let tenant = ctx.store.tenant();
    let Some(p) = plan(store, &tenant, point)? else {
        let anchor = store.anchor(&tenant)?.seq;
        out.line(format!(
            "nothing to purge: tenant {tenant} holds no record in that range (its trail starts after seq {anchor})"
        ))?;
        return Ok(());
    };
    let count = p.through - p.first + 1;
    let time = |seq| -> Result<String, Fail> {
        Ok(store
            .get(&tenant, seq)?
            .map_or_else(|| "?".to_owned(), |r| out.time(r.occurred_at)))
    };
    let what = format!(
        "This removes {count} records of tenant {tenant}: seq {} to {} ({} to {}, {}). \
         The trail will start after seq {}, and an audit.purged record by {} will say so.",
        p.first,
        p.through,
        time(p.first)?,
        time(p.through)?,
        out.zone_label(),
        p.through,
        actor.id
    );
    out.line(&what)?;
    out.flush()?;
    if !args.yes {
        if !render::stdin_is_terminal() {
            return Err(Fail::Usage(
                "purge needs confirmation: run it on a terminal to answer, or pass --yes"
                    .to_owned(),
            ));
        }
        let answer = render::ask(&format!(
            "Remove these {count} records? Type yes to go on: "
        ))?;
        if !matches!(answer.as_str(), "yes" | "y" | "YES" | "Yes") {
            return Err(Fail::Check(
                "purge not confirmed: nothing was removed".to_owned(),
            ));
        }
    }
    // The plan as seen, so records appended meanwhile are never part of it.
    let point = PurgePoint::ThroughSeq(p.through);
    let preparer = Preparer::new();
    let report: PurgeReport = match &opened {
        Opened::Sqlite(s) => s.purge(&preparer, &tenant, point, &actor),
        Opened::Postgres(s) => s.purge(&preparer, &tenant, point, &actor),
    }?;
    match report.receipt {
        Some(r) => out.line(format!(
            "removed {} records; the trail now starts after seq {}; recorded as audit.purged #{} by {}",
            report.removed, report.anchor.seq, r.seq, actor.id
        ))?,
        None => out.line("nothing was removed (another purge ran meanwhile)")?,
    }
    Ok(())
}
