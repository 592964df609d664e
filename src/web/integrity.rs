//! The tenant's chain status, shown on every page.
//!
//! A full verification reads the whole trail (seconds for a million records), so it is not
//! run per page, nor does a page wait for one: the first page of a tenant starts one in the
//! background (and waits up to two seconds for it: a small trail's page shows its answer, a
//! large one's says the check is running); later pages reuse its answer and check only the
//! records appended since (each one's hash and its link to the one before); a full
//! verification starts again once the last is older than [`REVERIFY`]. A break found either
//! way stays on every page until a full verification finds the trail intact again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

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
    /// `intact`, `broken`, or `checking` while the first verification runs.
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
            _ if self.state == "checking" => format!(
                "Checking the chain of {} records: the result shows on the next page",
                self.through_seq
            ),
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

/// One tenant's status, and its full verification when one runs.
#[derive(Debug)]
struct Tenant {
    checked: tokio::sync::Mutex<Option<Checked>>,
    /// Whether a full verification is under way.
    running: AtomicBool,
    /// Bumped when a full verification ends.
    done: watch::Sender<u64>,
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            checked: tokio::sync::Mutex::new(None),
            running: AtomicBool::new(false),
            done: watch::channel(0).0,
        }
    }
}

/// The statuses of the tenants seen so far.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    tenants: Mutex<HashMap<TenantId, Arc<Tenant>>>,
}

/// How long the first page of a tenant waits for its first verification: a small trail's page
/// shows the answer, a large one's says the check is running (a million records take seconds).
const FIRST_WAIT: Duration = Duration::from_secs(2);

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

/// What a page says while the first verification of its tenant runs.
fn checking(head: Option<Head>) -> Status {
    Status {
        state: "checking",
        through_seq: head.map_or(0, |h| h.seq),
        verified_records: 0,
        break_seq: None,
        break_reason: None,
        verified_at: Utc::now(),
        purged: None,
    }
}

/// The trail's purge, as a phrase.
async fn purged(shared: &Shared, tenant: &TenantId) -> Result<Option<String>, WebError> {
    let info = shared.history(tenant).ask(|h| h.purged()).await?;
    Ok(info.map(|p| p.to_string()))
}

/// Runs a full verification of `tenant` in the background, unless one already runs.
fn start_full(shared: &Arc<Shared>, tenant: &TenantId, t: &Arc<Tenant>) {
    if t.running.swap(true, Ordering::AcqRel) {
        return;
    }
    let (shared, tenant, t) = (Arc::clone(shared), tenant.clone(), Arc::clone(t));
    tokio::spawn(async move {
        let outcome = async {
            let report = shared.reader.verify(tenant.clone()).await?;
            let mut status = from_report(&report);
            status.purged = purged(&shared, &tenant).await?;
            Ok::<_, WebError>((status, report.head))
        }
        .await;
        match outcome {
            Ok((status, head)) => {
                *t.checked.lock().await = Some(Checked {
                    status,
                    head,
                    full_at: Instant::now(),
                });
            }
            // Said on the next page (the status stays as it was); the detail goes to the log.
            Err(WebError::Store(e)) => super::log_store_error(&e),
            Err(_) => {}
        }
        t.running.store(false, Ordering::Release);
        t.done.send_modify(|n| *n += 1);
    });
}

/// The chain status of `tenant`, verifying what is needed: see the [module docs](self).
pub(crate) async fn status(shared: &Arc<Shared>, tenant: &TenantId) -> Result<Status, WebError> {
    let t = {
        let mut map = shared
            .integrity
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(tenant.clone()).or_default())
    };
    let (first, stale) = {
        let checked = t.checked.lock().await;
        (
            checked.is_none(),
            checked
                .as_ref()
                .is_none_or(|c| c.full_at.elapsed() > REVERIFY),
        )
    };
    if stale {
        let mut done = t.done.subscribe();
        start_full(shared, tenant, &t);
        if first {
            let _ = tokio::time::timeout(FIRST_WAIT, done.changed()).await;
        }
    }
    let head = shared.reader.head(tenant.clone()).await?;
    let mut checked = t.checked.lock().await;
    let Some(c) = checked.as_mut() else {
        return Ok(checking(head));
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
