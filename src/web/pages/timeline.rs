//! The first page: the timeline, newest first, with its filters and Get Audit Log.

use ::axum::extract::{RawQuery, State};
use ::axum::response::Response;
use ::axum::Extension;
use askama::Template;

use super::{render, Base, Layout};
use crate::web::params::{question, EntityFilter, Filters, Params};
use crate::web::query::{self, TimelinePage};
use crate::web::{AppState, Viewing, WebError};

/// The event names offered in the filter, by family, with their family wildcard first.
const EVENTS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "user.*",
            "user.created",
            "user.edited",
            "user.deleted",
            "user.added_to_group",
            "user.removed_from_group",
        ],
    ),
    (
        "group",
        &[
            "group.*",
            "group.created",
            "group.edited",
            "group.deleted",
            "group.added_to_group",
            "group.removed_from_group",
        ],
    ),
    (
        "application",
        &[
            "application.*",
            "application.created",
            "application.edited",
            "application.deleted",
        ],
    ),
    (
        "workspace",
        &[
            "workspace.*",
            "workspace.created",
            "workspace.edited",
            "workspace.deleted",
        ],
    ),
    (
        "permission",
        &[
            "permission.*",
            "permission.user_added",
            "permission.user_removed",
            "permission.group_added",
            "permission.group_removed",
        ],
    ),
    (
        "the trail itself",
        &["audit.*", "audit.purged", "audit.exported"],
    ),
];

/// What the filter form shows (as given).
struct Form {
    tenant: String,
    entity: String,
    actor: String,
    since: String,
    until: String,
    request_id: String,
    correlation_id: String,
    tz: String,
}

struct RowView {
    seq: u64,
    url: String,
    time: String,
    utc: String,
    summary: String,
    actor: String,
    outcome: &'static str,
    /// The request id and the address of every record of that request.
    request: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "viewer/timeline.html")]
struct TimelineTemplate {
    l: Layout,
    heading: String,
    form: Form,
    event_groups: Vec<(&'static str, Vec<(&'static str, bool)>)>,
    outcomes: Vec<(&'static str, bool)>,
    ranges: Vec<(&'static str, &'static str, bool)>,
    unmatched: Option<String>,
    candidates: Vec<(String, String)>,
    entity_line: Option<(String, String)>,
    count_line: String,
    /// CSV, JSON Lines, and their manifests.
    downloads: (String, String, String, String),
    rows: Vec<RowView>,
    newer_url: Option<String>,
    older_url: Option<String>,
}

pub(super) async fn page(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let filters = Filters::from_params(&params, &viewing.0, chrono::Utc::now())?;
    let page = query::timeline(&shared, filters).await?;
    let f = &page.filters;
    let l = Layout::of(
        &shared, &viewing, &base, &f.tenant, &f.zone, "timeline", "Timeline",
    )
    .await?;
    let view = view(l, &params, &page);
    Ok(render(&view))
}

fn view(l: Layout, params: &Params, page: &TimelinePage) -> TimelineTemplate {
    let f = &page.filters;
    let home = l.home.clone();
    let here = |extra: &[(&str, &str)]| format!("{home}{}", question(&f.to_query_string(extra)));
    let with_entity = |c: &crate::web::query::Candidate| {
        let mut g = f.clone();
        g.entity = Some(EntityFilter::Key(c.key()));
        format!("{home}{}", question(&g.to_query_string(&[])))
    };
    let rows = page
        .records
        .iter()
        .map(|r| {
            let rec = &r.record;
            let request = rec.context.request_id.as_ref().map(|id| {
                let q = crate::web::params::context_query(&f.tenant, &f.zone);
                let mut s = form_urlencoded::Serializer::new(q);
                s.append_pair("request_id", id);
                (id.clone(), format!("{home}?{}", s.finish()))
            });
            RowView {
                seq: rec.seq,
                url: format!("{}/records/{}{}", l.base, rec.seq, l.ctx),
                time: r.time.clone(),
                utc: rec.occurred_at.to_rfc3339(),
                summary: r.summary.clone(),
                actor: r.actor().to_owned(),
                outcome: r.outcome(),
                request,
            }
        })
        .collect();
    let through = page
        .head
        .map(|h| h.to_string())
        .unwrap_or_else(|| "0".to_owned());
    let pinned = {
        let mut g = f.clone();
        g.through = g.through.or(page.head);
        g.to_query_string(&[])
    };
    let download = |path: &str| format!("{}/{path}{}", l.base, question(&pinned));
    let selected: Vec<&str> = f.events.iter().map(String::as_str).collect();
    let heading = match &page.entity {
        Some(e) => format!("Timeline of {} {}", e.kind.replace('_', " "), e.label),
        None => "Timeline".to_owned(),
    };
    let count_line = match (page.records.first(), page.records.last()) {
        (Some(a), Some(b)) => format!(
            "Records #{} to #{} of this filter, newest first (the trail's newest is #{through}).",
            a.record.seq, b.record.seq
        ),
        _ => format!("The trail's newest record is #{through}."),
    };
    let range = f.range.map(|r| r.as_str()).unwrap_or("custom");
    TimelineTemplate {
        heading,
        form: Form {
            tenant: f.tenant.as_str().to_owned(),
            entity: f.entity.as_ref().map(|e| e.text()).unwrap_or_default(),
            actor: f.actors.join(" "),
            since: if f.range.is_some() {
                String::new()
            } else {
                f.since
                    .map(|t| f.zone.format(t, "%Y-%m-%dT%H:%M"))
                    .unwrap_or_default()
            },
            until: f
                .until
                .map(|t| f.zone.format(t, "%Y-%m-%dT%H:%M"))
                .unwrap_or_default(),
            request_id: f.request_ids.join(" "),
            correlation_id: f.correlation_ids.join(" "),
            tz: params.get("tz").unwrap_or_default().to_owned(),
        },
        event_groups: EVENTS
            .iter()
            .map(|(family, names)| {
                (
                    *family,
                    names.iter().map(|n| (*n, selected.contains(n))).collect(),
                )
            })
            .collect(),
        outcomes: ["any", "success", "failure", "denied"]
            .into_iter()
            .map(|o| (o, f.outcome.map_or(o == "any", |x| x.as_str() == o)))
            .collect(),
        ranges: [
            ("custom", "Any time, or the dates below"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ]
        .into_iter()
        .map(|(v, label)| (v, label, v == range))
        .collect(),
        unmatched: page.unmatched.clone(),
        candidates: page
            .candidates
            .iter()
            .map(|c| {
                let deleted = if c.deleted { " (deleted)" } else { "" };
                (
                    format!(
                        "{} {} — {}{deleted}",
                        c.kind.replace('_', " "),
                        c.label,
                        c.id
                    ),
                    with_entity(c),
                )
            })
            .collect(),
        entity_line: page.entity.as_ref().map(|e| {
            (
                format!("{} {} ({})", e.kind.replace('_', " "), e.label, e.id),
                format!(
                    "{}/entities/{}/{}{}",
                    l.base,
                    enc(&e.kind),
                    enc(&e.id),
                    l.ctx
                ),
            )
        }),
        count_line,
        downloads: (
            download("export.csv"),
            download("export.jsonl"),
            download("export.csv.manifest.json"),
            download("export.jsonl.manifest.json"),
        ),
        rows,
        newer_url: page.newer.map(|s| here(&[("after", &s.to_string())])),
        older_url: page.older.map(|s| here(&[("before", &s.to_string())])),
        l,
    }
}

/// A path segment, percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
