//! The detail view of one record.

use ::axum::extract::{Path, RawQuery, State};
use ::axum::response::Response;
use ::axum::Extension;
use askama::Template;

use super::timeline::enc;
use super::{page_context, render, Base, Layout};
use crate::web::params::{parse_seq, Params};
use crate::web::query::{self, RecordView};
use crate::web::{AppState, Viewing, WebError};

#[derive(Template)]
#[template(path = "viewer/record.html")]
struct RecordTemplate {
    l: Layout,
    v: RecordView,
    utc: String,
    outcome: &'static str,
    actor_kind: &'static str,
    actor_url: String,
    timeline_url: String,
    request: Option<(String, String)>,
    correlation: Option<(String, String)>,
    /// (role, label, address).
    entities: Vec<(String, String, String)>,
    prev_hash: String,
    hash: String,
    seal: Option<String>,
    previous_url: Option<String>,
    next_url: Option<String>,
}

pub(super) async fn page(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    Path(seq): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let (tenant, zone) = page_context(&params, &viewing)?;
    let seq = parse_seq("seq", &seq)?;
    let v = query::record(&shared, &tenant, seq, &zone).await?;
    let l = Layout::of(
        &shared,
        &viewing,
        &base,
        &tenant,
        &zone,
        "timeline",
        format!("Record #{seq}"),
    )
    .await?;
    let filtered = |name: &str, value: &str| {
        let mut s =
            form_urlencoded::Serializer::new(crate::web::params::context_query(&tenant, &zone));
        s.append_pair(name, value);
        format!("{}?{}", l.home, s.finish())
    };
    let record_url = |s: u64| format!("{}/records/{s}{}", l.base, l.ctx);
    let r = &v.record;
    let page = RecordTemplate {
        utc: r.occurred_at.to_rfc3339(),
        outcome: r.outcome.as_str(),
        actor_kind: r.actor.kind.as_str(),
        actor_url: filtered("actor", &r.actor.id),
        timeline_url: l.home.clone() + &l.ctx,
        request: r
            .context
            .request_id
            .as_ref()
            .map(|id| (id.clone(), filtered("request_id", id))),
        correlation: r
            .context
            .correlation_id
            .as_ref()
            .map(|id| (id.clone(), filtered("correlation_id", id))),
        entities: v
            .entities
            .iter()
            .map(|e| {
                (
                    format!("{} ({})", e.kind.replace('_', " "), e.role),
                    format!("{} — {}", e.label, e.id),
                    format!(
                        "{}/entities/{}/{}{}",
                        l.base,
                        enc(&e.kind),
                        enc(&e.id),
                        l.ctx
                    ),
                )
            })
            .collect(),
        prev_hash: r.prev_hash.to_hex(),
        hash: r.hash.to_hex(),
        seal: r.seal.map(|s| s.to_hex()),
        previous_url: v.previous.map(record_url),
        next_url: v.next.map(record_url),
        v,
        l,
    };
    Ok(render(&page))
}
