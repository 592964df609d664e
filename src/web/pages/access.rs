//! The access view: a user's effective access now or at a point, each permission group with
//! its scope and every path, the records behind each link; and what changed it between two
//! points, each change a sentence with its record, actor and reason.

use ::axum::extract::{RawQuery, State};
use ::axum::response::Response;
use ::axum::Extension;
use askama::Template;

use super::timeline::enc;
use super::{page_context, render, Base, Layout};
use crate::history::Point;
use crate::web::params::Params;
use crate::web::query::{self, local_time};
use crate::web::{AppState, Viewing, WebError};

/// A path to a permission group, and the records behind its links: (text, address).
type PathShow = (String, Vec<(String, String)>);
/// A permission group held: (name, address, scope, paths).
type GrantShow = (String, String, String, Vec<PathShow>);
/// A record that changed the access: (seq, address, time, summary, reason, what it changed).
type ChangeShow = (u64, String, String, String, Option<String>, Vec<String>);
/// What changed it: (from, to, entries, starts after purge).
type ChangesShow = (String, String, Vec<ChangeShow>, Option<u64>);

#[derive(Template)]
#[template(path = "viewer/access.html")]
struct AccessTemplate {
    l: Layout,
    heading: String,
    user_value: String,
    at_value: String,
    from_value: String,
    to_value: String,
    tz: String,
    unmatched: Option<String>,
    candidates: Vec<(String, String)>,
    /// (label, address).
    user: Option<(String, String)>,
    point: String,
    seq: Option<u64>,
    deleted: Option<String>,
    grants: Vec<GrantShow>,
    cycles: Vec<String>,
    changes: Option<ChangesShow>,
}

pub(super) async fn page(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let (tenant, zone) = page_context(&params, &viewing)?;
    let at = params
        .point("at", &zone)?
        .unwrap_or(("now".to_owned(), Point::Head));
    let window = match (params.point("from", &zone)?, params.point("to", &zone)?) {
        (Some(from), to) => Some((from, to.unwrap_or(("now".to_owned(), Point::Head)))),
        (None, Some(_)) => {
            return Err(WebError::BadRequest(
                "The parameter to needs a from.".to_owned(),
            ))
        }
        (None, None) => None,
    };
    let user = params.get("user");
    if user.is_some_and(|u| u.len() > 256) {
        return Err(WebError::BadRequest(
            "The parameter user is too long (at most 256 characters).".to_owned(),
        ));
    }
    let v = query::access(&shared, &tenant, user, at, window).await?;
    let l = Layout::of(&shared, &viewing, &base, &tenant, &zone, "access", "Access").await?;
    let record = |seq: u64| format!("{}/records/{seq}{}", l.base, l.ctx);
    let entity =
        |kind: &str, id: &str| format!("{}/entities/{}/{}{}", l.base, enc(kind), enc(id), l.ctx);
    let candidates = v
        .candidates
        .iter()
        .map(|c| {
            let mut s =
                form_urlencoded::Serializer::new(crate::web::params::context_query(&tenant, &zone));
            s.append_pair("user", &c.id);
            for name in ["at", "from", "to"] {
                if let Some(x) = params.get(name) {
                    s.append_pair(name, x);
                }
            }
            (
                format!("{} — {}", c.label, c.id),
                format!("{}/access?{}", l.base, s.finish()),
            )
        })
        .collect();
    let grants = v
        .access
        .iter()
        .flat_map(|a| a.grants.iter())
        .map(|g| {
            let paths = g
                .paths
                .iter()
                .map(|p| {
                    let links = p
                        .links
                        .iter()
                        .map(|r| {
                            (
                                format!(
                                    "#{} by {} at {}",
                                    r.seq,
                                    r.actor.label(),
                                    local_time(r.at, &zone)
                                ),
                                record(r.seq),
                            )
                        })
                        .collect();
                    (p.to_string(), links)
                })
                .collect();
            (
                g.permission_group.label().to_owned(),
                entity("permission_group", g.permission_group.id.as_str()),
                g.scope.describe(),
                paths,
            )
        })
        .collect();
    let heading = match &v.user {
        Some(u) => format!("Access of {}", u.label),
        None => "Who has access, and why".to_owned(),
    };
    let page = AccessTemplate {
        heading,
        user_value: params.get("user").unwrap_or_default().to_owned(),
        at_value: params.get("at").unwrap_or_default().to_owned(),
        from_value: params.get("from").unwrap_or_default().to_owned(),
        to_value: params.get("to").unwrap_or_default().to_owned(),
        tz: params.get("tz").unwrap_or_default().to_owned(),
        unmatched: v.unmatched.clone(),
        candidates,
        user: v
            .user
            .as_ref()
            .map(|u| (format!("{} ({})", u.label, u.id), entity("user", &u.id))),
        point: v.point.clone(),
        seq: v.access.as_ref().map(|a| a.seq),
        deleted: v
            .access
            .as_ref()
            .and_then(|a| a.user_deleted.as_ref())
            .map(|d| {
                format!(
                    "by {} at {}, record #{}",
                    d.actor.label(),
                    local_time(d.at, &zone),
                    d.seq
                )
            }),
        grants,
        cycles: v
            .access
            .iter()
            .flat_map(|a| a.cycles.iter())
            .map(ToString::to_string)
            .collect(),
        changes: v.changes.as_ref().map(|c| {
            (
                c.from.clone(),
                c.to.clone(),
                c.entries
                    .iter()
                    .map(|e| {
                        (
                            e.record.seq,
                            record(e.record.seq),
                            local_time(e.record.occurred_at, &zone),
                            e.record.summary(),
                            e.record.context.reason.clone(),
                            e.changes.iter().map(ToString::to_string).collect(),
                        )
                    })
                    .collect(),
                c.starts_after_purge,
            )
        }),
        l,
    };
    Ok(render(&page))
}
