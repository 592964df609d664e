//! The entity view: its state now (or last known, and who deleted it), at a chosen point, the
//! diff between two points, and its history.

use ::axum::extract::{Path, RawQuery, State};
use ::axum::response::Response;
use ::axum::Extension;
use askama::Template;

use super::timeline::enc;
use super::{page_context, render, Base, Layout};
use crate::history::{Entity, EntityDiff, Point, RecordRef};
use crate::web::params::{key, Params};
use crate::web::query::{self, local_time, EntityView};
use crate::web::{AppState, Viewing, WebError};
use crate::zone::Zone;

/// (actor, time, record address, seq).
type Made = (String, String, String, u64);

struct EntityShow {
    deleted: Option<Made>,
    created: Option<Made>,
    first_seen: Made,
    attributes: Vec<(String, String)>,
    /// (relation, other entity, its address, the record's address, its seq).
    links: Vec<(String, String, String, String, u64)>,
}

/// The state at a point: (as given, seq, fields).
type AtShow = (String, u64, Vec<(String, String)>);

#[derive(Template)]
#[template(path = "viewer/entity.html")]
struct EntityTemplate {
    l: Layout,
    v: EntityView,
    kind_label: String,
    timeline_url: String,
    self_url: String,
    now: Option<EntityShow>,
    at_value: String,
    from_value: String,
    to_value: String,
    at: Option<AtShow>,
    /// (from seq, to seq, lines, starts after purge).
    diff: Option<(u64, u64, Vec<String>, Option<u64>)>,
    /// (seq, address, time, summary, role, outcome).
    rows: Vec<(u64, String, String, String, &'static str, &'static str)>,
}

struct Links<'a> {
    base: &'a str,
    ctx: &'a str,
    zone: &'a Zone,
    /// `kind:id` → name.
    names: &'a std::collections::BTreeMap<String, String>,
}

impl Links<'_> {
    fn record(&self, seq: u64) -> String {
        format!("{}/records/{seq}{}", self.base, self.ctx)
    }

    fn entity(&self, kind: &str, id: &str) -> String {
        format!(
            "{}/entities/{}/{}{}",
            self.base,
            enc(kind),
            enc(id),
            self.ctx
        )
    }

    fn made(&self, r: &RecordRef) -> Made {
        (
            r.actor.label().to_owned(),
            local_time(r.at, self.zone),
            self.record(r.seq),
            r.seq,
        )
    }

    /// The fields a person reads of an entity's state.
    fn fields(&self, e: &Entity) -> Vec<(String, String)> {
        let mut out = vec![("name".to_owned(), e.label().to_owned())];
        out.extend(e.attributes.iter().map(|(k, v)| (k.clone(), v.display())));
        if let Some(w) = &e.workspace {
            out.push(("workspace".to_owned(), w.label().to_owned()));
        }
        if let Some(s) = &e.scope {
            out.push(("scope".to_owned(), s.describe()));
        }
        if let Some(p) = &e.password_changed {
            out.push((
                "password".to_owned(),
                format!(
                    "changed by {} at {} (record #{})",
                    p.actor.label(),
                    local_time(p.at, self.zone),
                    p.seq
                ),
            ));
        }
        if let Some(d) = &e.deleted {
            out.push((
                "deleted".to_owned(),
                format!(
                    "by {} at {} (record #{})",
                    d.by.actor.label(),
                    local_time(d.by.at, self.zone),
                    d.by.seq
                ),
            ));
        }
        out
    }

    fn show(&self, e: &Entity) -> EntityShow {
        EntityShow {
            deleted: e.deleted.as_ref().map(|d| self.made(&d.by)),
            created: e.created.as_ref().map(|c| self.made(c)),
            first_seen: self.made(&e.first_seen),
            attributes: self.fields(e).into_iter().skip(1).collect(),
            links: e
                .last_known_links()
                .iter()
                .map(|(relation, other, made)| {
                    let name = self
                        .names
                        .get(&other.to_string())
                        .map_or(other.id.as_str(), String::as_str);
                    (
                        relation.as_str().to_owned(),
                        format!("{} {name}", other.kind.as_str().replace('_', " ")),
                        self.entity(other.kind.as_str(), other.id.as_str()),
                        self.record(made.seq),
                        made.seq,
                    )
                })
                .collect(),
        }
    }

    fn diff_lines(&self, d: &EntityDiff) -> Vec<String> {
        let mut lines = Vec::new();
        if d.status_before != d.status_after {
            lines.push(
                format!("status: {:?} → {:?}", d.status_before, d.status_after).to_lowercase(),
            );
        }
        for f in &d.fields {
            let show = |v: &Option<crate::event::FieldValue>| {
                v.as_ref()
                    .map_or_else(|| "(unset)".to_owned(), |v| v.display())
            };
            lines.push(format!(
                "{}: {} → {}",
                f.field,
                show(&f.before),
                show(&f.after)
            ));
        }
        for a in &d.appeared {
            lines.push(format!(
                "+ {} {} (record #{})",
                a.relation.as_str(),
                a.other,
                a.made_by.seq
            ));
        }
        for w in &d.went {
            lines.push(format!(
                "− {} {} (made by record #{})",
                w.relation.as_str(),
                w.other,
                w.made_by.seq
            ));
        }
        lines
    }
}

pub(super) async fn page(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    Path((kind, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let (tenant, zone) = page_context(&params, &viewing)?;
    let key = key(&kind, &id)?;
    let at = params.point("at", &zone)?;
    let diff = match (params.point("from", &zone)?, params.point("to", &zone)?) {
        (Some((_, from)), to) => Some((from, to.map_or(Point::Head, |t| t.1))),
        (None, Some(_)) => {
            return Err(WebError::BadRequest(
                "The parameter to needs a from.".to_owned(),
            ))
        }
        (None, None) => None,
    };
    let v = query::entity(&shared, &tenant, key, at.clone(), diff).await?;
    let kind_label = {
        let k = v.key.kind.as_str().replace('_', " ");
        let mut c = k.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    };
    let l = Layout::of(
        &shared,
        &viewing,
        &base,
        &tenant,
        &zone,
        "timeline",
        format!("{kind_label} {}", v.label),
    )
    .await?;
    let links = Links {
        base: &l.base,
        ctx: &l.ctx,
        zone: &zone,
        names: &v.names,
    };
    let timeline_url = {
        let mut s =
            form_urlencoded::Serializer::new(crate::web::params::context_query(&tenant, &zone));
        s.append_pair(
            "entity",
            &format!("{}:{}", v.key.kind.as_str(), v.key.id.as_str()),
        );
        format!("{}?{}", l.home, s.finish())
    };
    let page = EntityTemplate {
        kind_label,
        timeline_url,
        self_url: format!(
            "{}/entities/{}/{}",
            l.base,
            enc(v.key.kind.as_str()),
            enc(v.key.id.as_str())
        ),
        now: v.now.as_ref().map(|e| links.show(e)),
        at_value: params.get("at").unwrap_or_default().to_owned(),
        from_value: params.get("from").unwrap_or_default().to_owned(),
        to_value: params.get("to").unwrap_or_default().to_owned(),
        at: v.at.as_ref().map(|a| {
            (
                a.point.clone(),
                a.seq,
                a.entity
                    .as_ref()
                    .map(|e| links.fields(e))
                    .unwrap_or_default(),
            )
        }),
        diff: v.diff.as_ref().map(|d| {
            (
                d.from_seq,
                d.to_seq,
                links.diff_lines(d),
                d.starts_after_purge,
            )
        }),
        rows: v
            .timeline
            .iter()
            .rev()
            .map(|t| {
                (
                    t.record.seq,
                    links.record(t.record.seq),
                    local_time(t.record.occurred_at, &zone),
                    t.record.summary(),
                    query::role_name(t.role),
                    t.record.outcome.as_str(),
                )
            })
            .collect(),
        v,
        l,
    };
    Ok(render(&page))
}
