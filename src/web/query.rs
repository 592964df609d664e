//! The query layer: what each page (and its JSON twin) shows, read from the store and the
//! warm history. Pages render these values; the API serializes them.

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::Value;

use super::params::{Cursor, EntityFilter, Filters};
use super::{Shared, WebError};
use crate::canonical::compute_hash;
use crate::event::{EntityKey, EntityKind, Role};
use crate::history::{AccessChange, Entity, EntityDiff, Point, TimelineEntry};
use crate::query::Query;
use crate::record::{Record, TenantId};
use crate::zone::Zone;

/// Times as a person in `zone` reads them: `2026-03-02 09:55:12`.
pub(crate) fn local_time(t: DateTime<Utc>, zone: &Zone) -> String {
    zone.format(t, "%Y-%m-%d %H:%M:%S")
}

/// An entity found by name.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Candidate {
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) deleted: bool,
}

impl Candidate {
    fn of(e: &Entity) -> Self {
        Candidate {
            kind: e.key.kind.as_str().to_owned(),
            id: e.key.id.as_str().to_owned(),
            label: e.label().to_owned(),
            deleted: e.is_deleted(),
        }
    }

    pub(crate) fn key(&self) -> EntityKey {
        EntityKey::new(EntityKind::parse(&self.kind), self.id.as_str())
    }
}

const KINDS: [EntityKind; 5] = [
    EntityKind::User,
    EntityKind::Group,
    EntityKind::Application,
    EntityKind::Workspace,
    EntityKind::PermissionGroup,
];

/// The entities whose name (or id) is `name`, or, when none is, those whose name contains it
/// (case-insensitively), at most 20.
pub(crate) async fn find_by_name(
    shared: &Shared,
    tenant: &TenantId,
    name: &str,
) -> Result<Vec<Candidate>, WebError> {
    let wanted = name.to_lowercase();
    let found = shared
        .history(tenant)
        .ask(move |h| {
            h.with_state(Point::Head, |state| {
                let all = || KINDS.iter().flat_map(|k| state.entities(k));
                let exact: Vec<Candidate> = all()
                    .filter(|e| {
                        e.label().to_lowercase() == wanted
                            || e.key.id.as_str().to_lowercase() == wanted
                    })
                    .map(Candidate::of)
                    .collect();
                if !exact.is_empty() {
                    return exact;
                }
                all()
                    .filter(|e| e.label().to_lowercase().contains(&wanted))
                    .take(20)
                    .map(Candidate::of)
                    .collect()
            })
        })
        .await?;
    Ok(found)
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    #[serde(flatten)]
    pub(crate) record: Record,
    pub(crate) summary: String,
    #[serde(skip)]
    pub(crate) time: String,
}

impl Row {
    fn of(record: Record, zone: &Zone) -> Self {
        Row {
            time: local_time(record.occurred_at, zone),
            summary: record.summary(),
            record,
        }
    }

    pub(crate) fn outcome(&self) -> &'static str {
        self.record.outcome.as_str()
    }

    pub(crate) fn actor(&self) -> &str {
        self.record.actor.label()
    }
}

/// A page of the timeline.
#[derive(Debug, Serialize)]
pub(crate) struct TimelinePage {
    #[serde(skip)]
    pub(crate) filters: Filters,
    /// The entity the filter resolved to.
    pub(crate) entity: Option<Candidate>,
    /// When a name matched several entities: each of them, to pick from (no records then).
    pub(crate) candidates: Vec<Candidate>,
    /// When a name matched nothing.
    pub(crate) unmatched: Option<String>,
    pub(crate) records: Vec<Row>,
    /// The cursor of the next older page (`before=`).
    pub(crate) older: Option<u64>,
    /// The cursor of the next newer page (`after=`).
    pub(crate) newer: Option<u64>,
    /// The tenant's newest seq when the page was read (a download's `through`).
    pub(crate) head: Option<u64>,
}

pub(crate) async fn timeline(shared: &Shared, filters: Filters) -> Result<TimelinePage, WebError> {
    let head = shared
        .reader
        .head(filters.tenant.clone())
        .await?
        .map(|h| h.seq);
    let mut page = TimelinePage {
        filters,
        entity: None,
        candidates: Vec::new(),
        unmatched: None,
        records: Vec::new(),
        older: None,
        newer: None,
        head,
    };
    let key = match page.filters.entity.clone() {
        None => None,
        Some(EntityFilter::Key(k)) => {
            page.entity = Some(Candidate {
                kind: k.kind.as_str().to_owned(),
                id: k.id.as_str().to_owned(),
                label: k.id.as_str().to_owned(),
                deleted: false,
            });
            Some(k)
        }
        Some(EntityFilter::Name(name)) => {
            let mut found = find_by_name(shared, &page.filters.tenant, &name).await?;
            match found.len() {
                0 => {
                    page.unmatched = Some(name);
                    return Ok(page);
                }
                1 => {
                    let c = found.remove(0);
                    let k = c.key();
                    page.entity = Some(c);
                    Some(k)
                }
                _ => {
                    page.candidates = found;
                    return Ok(page);
                }
            }
        }
    };
    let f = &page.filters;
    let base = f.query(key.as_ref());
    // One more than a page, to know whether there is another.
    let want = f.limit + 1;
    let (query, newest_first) = match f.cursor {
        Cursor::Newest => (base.descending().limit(want), true),
        Cursor::Before(seq) => (base.descending().after_seq(seq).limit(want), true),
        Cursor::After(seq) => (base.ascending().after_seq(seq).limit(want), false),
    };
    let mut rows: Vec<Record> = read_all(shared, query).await?;
    let more = rows.len() > f.limit;
    rows.truncate(f.limit);
    if !newest_first {
        rows.reverse();
    }
    let (first, last) = (rows.first().map(|r| r.seq), rows.last().map(|r| r.seq));
    // Older: there is more beyond the last row going back, or we came from a newer page.
    page.older = match f.cursor {
        Cursor::After(_) => last,
        _ if more => last,
        _ => None,
    };
    page.newer = match f.cursor {
        Cursor::Newest => None,
        Cursor::Before(_) => first,
        Cursor::After(_) if more => first,
        Cursor::After(_) => None,
    };
    page.records = rows
        .into_iter()
        .map(|r| Row::of(r, &page.filters.zone))
        .collect();
    Ok(page)
}

/// Reads every record of `query` (which has a limit) through the async store.
async fn read_all(shared: &Shared, query: Query) -> Result<Vec<Record>, WebError> {
    let mut stream = shared.reader.query(query);
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push(item?);
    }
    Ok(out)
}

/// The record `seq` of `tenant`, if the tenant holds it.
pub(crate) async fn find(
    shared: &Shared,
    tenant: &TenantId,
    seq: u64,
) -> Result<Option<Record>, WebError> {
    if seq == 0 {
        return Ok(None);
    }
    let q = Query::for_tenant(tenant.clone())
        .after_seq(seq - 1)
        .through_seq(seq)
        .limit(1);
    Ok(read_all(shared, q).await?.pop())
}

/// One field change as the detail view shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChangeRow {
    pub(crate) field: String,
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
}

/// A JSON value as a cell: strings as they are, anything else as compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The field changes (and attributes at creation) an event carries, read from its wire form
/// so that custom and unknown events show theirs too.
fn changes_of(event: &Value) -> Vec<ChangeRow> {
    let mut rows = Vec::new();
    if let Some(list) = event.get("changes").and_then(Value::as_array) {
        for c in list {
            let field = c
                .get("field")
                .map(cell)
                .unwrap_or_else(|| "(change)".to_owned());
            let (old, new) = (c.get("old").map(cell), c.get("new").map(cell));
            let new = new
                .or_else(|| (old.is_none()).then(|| "changed (no value is recorded)".to_owned()));
            rows.push(ChangeRow { field, old, new });
        }
    }
    if let Some(attrs) = event.get("attributes").and_then(Value::as_object) {
        for (k, v) in attrs {
            rows.push(ChangeRow {
                field: k.clone(),
                old: None,
                new: Some(cell(v)),
            });
        }
    }
    rows
}

/// How a record names an entity, in a word.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Target => "target",
        Role::Related => "related",
        Role::Scope => "scope",
    }
}

/// An entity a record names, with how.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Named {
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) role: &'static str,
}

/// The detail view of one record.
#[derive(Debug, Serialize)]
pub(crate) struct RecordView {
    pub(crate) record: Record,
    pub(crate) summary: String,
    #[serde(skip)]
    pub(crate) time: String,
    pub(crate) changes: Vec<ChangeRow>,
    #[serde(skip)]
    pub(crate) payload: String,
    /// Its hash recomputes from its content.
    pub(crate) hash_verifies: bool,
    /// Its `prev_hash` is the hash of the record before it (or of the trail's anchor);
    /// `None` when the record before cannot be read.
    pub(crate) links_to_previous: Option<bool>,
    pub(crate) entities: Vec<Named>,
    pub(crate) previous: Option<u64>,
    pub(crate) next: Option<u64>,
}

impl RecordView {
    pub(crate) fn verifies(&self) -> bool {
        self.hash_verifies && self.links_to_previous != Some(false)
    }
}

pub(crate) async fn record(
    shared: &Shared,
    tenant: &TenantId,
    seq: u64,
    zone: &Zone,
) -> Result<RecordView, WebError> {
    let record = find(shared, tenant, seq).await?.ok_or(WebError::NotFound)?;
    let before = read_all(
        shared,
        Query::for_tenant(tenant.clone())
            .descending()
            .after_seq(seq)
            .limit(1),
    )
    .await?
    .pop();
    let after = read_all(
        shared,
        Query::for_tenant(tenant.clone()).after_seq(seq).limit(1),
    )
    .await?
    .pop();
    let anchor = shared.reader.anchor(tenant.clone()).await?;
    let links_to_previous = match &before {
        Some(b) if b.seq + 1 == seq => Some(b.hash == record.prev_hash),
        // The first record after the anchor links to it.
        _ if anchor.seq + 1 == seq => Some(anchor.hash == record.prev_hash),
        _ => None,
    };
    let value = record.event.to_value();
    let entities = record
        .event
        .mentions()
        .into_iter()
        .map(|m| Named {
            kind: m.kind.as_str().to_owned(),
            id: m.id.as_str().to_owned(),
            label: m.display.unwrap_or(m.id.as_str()).to_owned(),
            role: role_name(m.role),
        })
        .collect();
    Ok(RecordView {
        summary: record.summary(),
        time: local_time(record.occurred_at, zone),
        changes: changes_of(&value),
        payload: serde_json::to_string_pretty(&value).unwrap_or_default(),
        hash_verifies: compute_hash(&record) == record.hash,
        links_to_previous,
        entities,
        previous: before.map(|b| b.seq),
        next: after.map(|a| a.seq),
        record,
    })
}

/// The entity view: its state now (or last known), at a chosen point, a diff, its history.
#[derive(Debug, Serialize)]
pub(crate) struct EntityView {
    pub(crate) key: EntityKey,
    pub(crate) label: String,
    /// The names of the entities it is linked to (`kind:id` → name).
    pub(crate) names: std::collections::BTreeMap<String, String>,
    /// What the trail knows of it at the head (a deleted entity keeps its last known state).
    pub(crate) now: Option<Entity>,
    /// Its state at the asked point, when a point was asked.
    pub(crate) at: Option<PointState>,
    pub(crate) diff: Option<EntityDiff>,
    pub(crate) timeline: Vec<TimelineEntry>,
    /// Whether the trail was purged before its first record: older history is gone.
    pub(crate) purged_through: Option<u64>,
}

/// An entity's state at a point.
#[derive(Debug, Serialize)]
pub(crate) struct PointState {
    pub(crate) point: String,
    pub(crate) seq: u64,
    pub(crate) entity: Option<Entity>,
}

pub(crate) async fn entity(
    shared: &Shared,
    tenant: &TenantId,
    key: EntityKey,
    at: Option<(String, Point)>,
    diff: Option<(Point, Point)>,
) -> Result<EntityView, WebError> {
    let history = shared.history(tenant);
    let k = key.clone();
    let (now, purged_through, names) = history
        .ask(move |h| {
            h.with_state(Point::Head, |s| {
                let now = s.entity(&k).cloned();
                // The names of what it is linked to, as the state knows them now.
                let names = now
                    .iter()
                    .flat_map(|e| e.last_known_links().iter())
                    .filter_map(|(_, other, _)| {
                        let label = s.entity(&other)?.label().to_owned();
                        Some((other.to_string(), label))
                    })
                    .collect();
                (now, s.purged_through(), names)
            })
        })
        .await?;
    let timeline = history.timeline(key.clone()).await?.entries;
    if now.is_none() && timeline.is_empty() {
        return Err(WebError::NotFound);
    }
    let at = match at {
        None => None,
        Some((text, point)) => {
            let k = key.clone();
            let (seq, entity) = history
                .ask(move |h| {
                    let seq = h.resolve(point)?;
                    Ok((seq, h.entity_at(&k, Point::Seq(seq))?))
                })
                .await?;
            Some(PointState {
                point: text,
                seq,
                entity,
            })
        }
    };
    let diff = match diff {
        None => None,
        Some((from, to)) => Some(history.diff(key.clone(), from, to).await?),
    };
    let label = now
        .as_ref()
        .map(|e| e.label().to_owned())
        .unwrap_or_else(|| key.id.as_str().to_owned());
    Ok(EntityView {
        key,
        label,
        names,
        now,
        at,
        diff,
        timeline,
        purged_through,
    })
}

/// The access view: a user's effective access at a point.
#[derive(Debug, Serialize)]
pub(crate) struct AccessView {
    pub(crate) user: Option<Candidate>,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) unmatched: Option<String>,
    pub(crate) point: String,
    pub(crate) access: Option<crate::history::Access>,
    /// Its changes between two points, when asked.
    pub(crate) changes: Option<ChangesView>,
}

/// What changed a user's access between two points.
#[derive(Debug, Serialize)]
pub(crate) struct ChangesView {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) entries: Vec<AccessChange>,
    pub(crate) starts_after_purge: Option<u64>,
}

/// Resolves a user given by id or by name.
pub(crate) async fn resolve_user(
    shared: &Shared,
    tenant: &TenantId,
    given: &str,
) -> Result<Result<Candidate, Vec<Candidate>>, WebError> {
    let found: Vec<Candidate> = find_by_name(shared, tenant, given)
        .await?
        .into_iter()
        .filter(|c| c.kind == "user")
        .collect();
    Ok(match found.len() {
        1 => Ok(found.into_iter().next().ok_or(WebError::NotFound)?),
        _ => Err(found),
    })
}

pub(crate) async fn access(
    shared: &Shared,
    tenant: &TenantId,
    user: Option<&str>,
    at: (String, Point),
    window: Option<((String, Point), (String, Point))>,
) -> Result<AccessView, WebError> {
    let mut view = AccessView {
        user: None,
        candidates: Vec::new(),
        unmatched: None,
        point: at.0.clone(),
        access: None,
        changes: None,
    };
    let Some(given) = user else {
        return Ok(view);
    };
    let user = match resolve_user(shared, tenant, given).await? {
        Ok(u) => u,
        Err(candidates) if candidates.is_empty() => {
            view.unmatched = Some(given.to_owned());
            return Ok(view);
        }
        Err(candidates) => {
            view.candidates = candidates;
            return Ok(view);
        }
    };
    let history = shared.history(tenant);
    view.access = Some(history.access(user.id.as_str(), at.1).await?);
    if let Some(((from_text, from), (to_text, to))) = window {
        let id = user.id.clone();
        let window = history
            .ask(move |h| {
                h.access_changes(id.as_str(), &crate::history::AccessFilter::Any, from, to)
            })
            .await?;
        view.changes = Some(ChangesView {
            from: from_text,
            to: to_text,
            starts_after_purge: window.starts_after_purge,
            entries: window.entries,
        });
    }
    view.user = Some(user);
    Ok(view)
}
