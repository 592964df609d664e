//! The tenant's chain status, shown on every page.
//!
//! A full verification reads the whole trail (seconds for a million records), so it is not
//! run per page: the first page of a tenant runs one, later pages reuse it and check only the
//! records appended since (each one's hash and its link to the one before), and a full
//! verification runs again once the last is older than [`REVERIFY`]. A break found either
//! way stays on every page until a full verification finds the trail intact again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::Serialize;

use super::{Shared, WebError};
use crate::canonical::compute_hash;
use crate::chain::VerifyReport;
use crate::query::Query;
use crate::record::{Head, TenantId};

/// How long a full verification's answer is trusted before another runs.
pub(crate) const REVERIFY: Duration = Duration::from_secs(600);

/// What the page says about the chain.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    /// `intact`, `broken`.
    pub(crate) state: &'static str,
    /// The newest record covered.
    pub(crate) through_seq: u64,
    /// How many records the last full verification read.
    pub(crate) verified_records: u64,
    /// The first break: its seq and why.
    pub(crate) break_seq: Option<u64>,
    pub(crate) break_reason: Option<String>,
    /// When the last full verification ran.
    pub(crate) verified_at: DateTime<Utc>,
    /// When the trail was purged: `purged through N on DATE by ACTOR`.
    pub(crate) purged: Option<String>,
}

impl Status {
    /// The line every page shows.
    pub(crate) fn line(&self) -> String {
        let line = match (self.break_seq, &self.break_reason) {
            (Some(seq), Some(why)) => format!("Chain broken at seq {seq}: {why}"),
            _ if self.through_seq == 0 => "The trail is empty.".to_owned(),
            _ => format!("Chain intact up to seq {}", self.through_seq),
        };
        match &self.purged {
            Some(p) => format!("{line} · {p}"),
            None => line,
        }
    }
}

#[derive(Debug)]
struct Checked {
    status: Status,
    /// The head the status covers.
    head: Option<Head>,
    full_at: Instant,
}

/// The statuses of the tenants seen so far.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    tenants: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<Option<Checked>>>>>,
}

fn from_report(report: &VerifyReport) -> Status {
    Status {
        state: if report.is_intact() {
            "intact"
        } else {
            "broken"
        },
        through_seq: report.head.map_or(0, |h| h.seq),
        verified_records: report.count,
        break_seq: report.first_break.as_ref().map(|b| b.seq),
        break_reason: report
            .first_break
            .as_ref()
            .map(|b| b.reason.to_string())
            .or_else(|| match &report.storage {
                Some(Err(why)) => Some(format!("storage check: {why}")),
                _ => None,
            }),
        verified_at: Utc::now(),
        purged: None,
    }
}

/// The trail's purge, as a phrase.
async fn purged(shared: &Shared, tenant: &TenantId) -> Result<Option<String>, WebError> {
    let info = shared.history(tenant).ask(|h| h.purged()).await?;
    Ok(info.map(|p| p.to_string()))
}

/// The chain status of `tenant`, verifying what is needed.
pub(crate) async fn status(shared: &Shared, tenant: &TenantId) -> Result<Status, WebError> {
    let slot = {
        let mut map = shared
            .integrity
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(tenant.clone()).or_default())
    };
    // One verification per tenant at a time: concurrent pages wait for it.
    let mut checked = slot.lock().await;
    let head = shared.reader.head(tenant.clone()).await?;
    let stale = checked
        .as_ref()
        .is_none_or(|c| c.full_at.elapsed() > REVERIFY);
    if stale {
        let report = shared.reader.verify(tenant.clone()).await?;
        let mut status = from_report(&report);
        status.purged = purged(shared, tenant).await?;
        *checked = Some(Checked {
            status,
            head: report.head,
            full_at: Instant::now(),
        });
    }
    let Some(c) = checked.as_mut() else {
        return Err(WebError::NotFound);
    };
    if c.status.break_seq.is_none() && head != c.head {
        extend(shared, tenant, c).await?;
    }
    Ok(c.status.clone())
}

/// Checks the records appended since `c` was made: each hash recomputes and links to the one
/// before.
async fn extend(shared: &Shared, tenant: &TenantId, c: &mut Checked) -> Result<(), WebError> {
    let mut prev = c.head;
    let after = prev.map_or(0, |h| h.seq);
    let mut records = shared
        .reader
        .query(Query::for_tenant(tenant.clone()).after_seq(after));
    let mut purge_seen = false;
    while let Some(item) = records.next().await {
        if let Ok(r) = &item {
            purge_seen |= r.event.name() == "audit.purged";
        }
        let brk = match item {
            Err(crate::Error::Corrupt { seq, reason }) => {
                Some((seq, format!("unreadable: {reason}")))
            }
            Err(e) => return Err(e.into()),
            Ok(r) => {
                let expected = prev.map_or(1, |h| h.seq + 1);
                if r.seq != expected {
                    Some((
                        expected,
                        format!("missing (next record found is {})", r.seq),
                    ))
                } else if compute_hash(&r) != r.hash {
                    Some((
                        r.seq,
                        "content does not match its hash (altered)".to_owned(),
                    ))
                } else if prev.is_some_and(|h| h.hash != r.prev_hash) {
                    Some((
                        r.seq,
                        "prev_hash does not link to the previous record".to_owned(),
                    ))
                } else {
                    prev = Some(Head {
                        seq: r.seq,
                        hash: r.hash,
                    });
                    None
                }
            }
        };
        if let Some((seq, why)) = brk {
            c.status.state = "broken";
            c.status.break_seq = Some(seq);
            c.status.break_reason = Some(why);
            return Ok(());
        }
    }
    c.head = prev;
    c.status.through_seq = prev.map_or(0, |h| h.seq);
    if purge_seen {
        c.status.purged = purged(shared, tenant).await?;
    }
    Ok(())
}
