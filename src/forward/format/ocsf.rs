//! OCSF: the Open Cybersecurity Schema Framework's event classes for identity and access
//! management.

use serde_json::{json, Map, Value};

use super::Product;
use crate::error::{Error, Result};
use crate::event::{EntityRef, Event, PermissionGroupRef, Scope, UserChange};
use crate::record::{ActorKind, Outcome, Record};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

const IAM: (u32, &str) = (3, "Identity & Access Management");
const ACCOUNT_CHANGE: (u32, &str) = (3001, "Account Change");
const USER_ACCESS: (u32, &str) = (3005, "User Access Management");
const GROUP_MANAGEMENT: (u32, &str) = (3006, "Group Management");

/// Which class and activity a record maps to, and the class's own attributes.
struct Mapped {
    class: (u32, &'static str),
    activity: (u32, &'static str),
    attrs: Map<String, Value>,
}

fn user(e: &EntityRef) -> Value {
    let mut m = Map::new();
    m.insert("uid".into(), json!(e.id.as_str()));
    if let Some(d) = &e.display {
        m.insert("name".into(), json!(d));
    }
    Value::Object(m)
}

fn group(e: &EntityRef) -> Value {
    user(e)
}

fn privileges(p: &PermissionGroupRef) -> Value {
    json!([p.label()])
}

/// The resource a permission group gives access to: its scope.
fn resource(p: &PermissionGroupRef) -> Value {
    match &p.scope {
        Scope::System => json!({"type": "system", "name": "system"}),
        Scope::Workspace { workspace } => {
            json!({"type": "workspace", "uid": workspace.id.as_str(), "name": workspace.label()})
        }
        Scope::Application { application, .. } => json!({
            "type": "application", "uid": application.id.as_str(), "name": application.label()
        }),
    }
}

fn attrs(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The class mapping; `None` for events that go out as the Base Event.
fn map(event: &Event) -> Option<Mapped> {
    let m = |class, activity, a| {
        Some(Mapped {
            class,
            activity,
            attrs: attrs(a),
        })
    };
    match event {
        Event::UserCreated(e) => m(ACCOUNT_CHANGE, (1, "Create"), vec![("user", user(&e.user))]),
        Event::UserDeleted(e) => m(ACCOUNT_CHANGE, (6, "Delete"), vec![("user", user(&e.user))]),
        Event::UserEdited(e) => {
            let password = e
                .changes
                .iter()
                .any(|c| matches!(c, UserChange::PasswordChanged));
            let activity = if password {
                (3, "Password Change")
            } else {
                (99, "Other")
            };
            m(ACCOUNT_CHANGE, activity, vec![("user", user(&e.user))])
        }
        Event::UserAddedToGroup(e) => m(
            GROUP_MANAGEMENT,
            (3, "Add User"),
            vec![("group", group(&e.group)), ("user", user(&e.user))],
        ),
        Event::UserRemovedFromGroup(e) => m(
            GROUP_MANAGEMENT,
            (4, "Remove User"),
            vec![("group", group(&e.group)), ("user", user(&e.user))],
        ),
        Event::PermissionUserAdded(e) => m(
            USER_ACCESS,
            (1, "Assign Privileges"),
            vec![
                ("user", user(&e.user)),
                ("privileges", privileges(&e.permission_group)),
                ("resource", resource(&e.permission_group)),
            ],
        ),
        Event::PermissionUserRemoved(e) => m(
            USER_ACCESS,
            (2, "Revoke Privileges"),
            vec![
                ("user", user(&e.user)),
                ("privileges", privileges(&e.permission_group)),
                ("resource", resource(&e.permission_group)),
            ],
        ),
        Event::PermissionGroupAdded(e) => m(
            GROUP_MANAGEMENT,
            (1, "Assign Privileges"),
            vec![
                ("group", group(&e.group)),
                ("privileges", privileges(&e.permission_group)),
                ("resource", resource(&e.permission_group)),
            ],
        ),
        Event::PermissionGroupRemoved(e) => m(
            GROUP_MANAGEMENT,
            (2, "Revoke Privileges"),
            vec![
                ("group", group(&e.group)),
                ("privileges", privileges(&e.permission_group)),
                ("resource", resource(&e.permission_group)),
            ],
        ),
        // Group lifecycle and nesting, applications, workspaces, the trail's own events,
        // custom and unknown events: no OCSF IAM class fits them without inventing meaning
        // (Group Management needs a user or privileges), so they go out as the Base Event
        // with the record whole. Named, not `_`, so a new event has to be decided here.
        Event::GroupCreated(_)
        | Event::GroupEdited(_)
        | Event::GroupDeleted(_)
        | Event::GroupAddedToGroup(_)
        | Event::GroupRemovedFromGroup(_)
        | Event::ApplicationCreated(_)
        | Event::ApplicationEdited(_)
        | Event::ApplicationDeleted(_)
        | Event::WorkspaceCreated(_)
        | Event::WorkspaceEdited(_)
        | Event::WorkspaceDeleted(_)
        | Event::AuditPurged(_)
        | Event::AuditExported(_)
        | Event::Custom(_)
        | Event::Unknown(_) => None,
    }
}

fn actor(r: &Record) -> Value {
    let (type_id, type_name) = match r.actor.kind {
        ActorKind::User => (1, "User"),
        ActorKind::System => (3, "System"),
        ActorKind::Service => (99, "Service"),
    };
    let mut u = Map::new();
    u.insert("uid".into(), json!(r.actor.id));
    u.insert("name".into(), json!(r.actor.label()));
    u.insert("type_id".into(), json!(type_id));
    u.insert("type".into(), json!(type_name));
    json!({ "user": Value::Object(u) })
}

/// The OCSF event of a record.
pub(super) fn event(r: &Record, product: &Product) -> Result<Value> {
    let mapped = map(&r.event);
    let mut m = Map::new();
    let (class, activity) = match &mapped {
        Some(x) => (x.class, x.activity),
        None => ((0, "Base Event"), (99, "Other")),
    };
    let category = if mapped.is_some() {
        IAM
    } else {
        (0, "Uncategorized")
    };
    m.insert("category_uid".into(), json!(category.0));
    m.insert("category_name".into(), json!(category.1));
    m.insert("class_uid".into(), json!(class.0));
    m.insert("class_name".into(), json!(class.1));
    m.insert("activity_id".into(), json!(activity.0));
    let activity_name = if activity.0 == 99 {
        r.event.name()
    } else {
        activity.1
    };
    m.insert("activity_name".into(), json!(activity_name));
    let type_uid = u64::from(class.0) * 100 + u64::from(activity.0);
    m.insert("type_uid".into(), json!(type_uid));
    m.insert(
        "type_name".into(),
        json!(format!("{}: {}", class.1, activity_name)),
    );
    m.insert("time".into(), json!(r.occurred_at.timestamp_millis()));
    m.insert("severity_id".into(), json!(1));
    m.insert("severity".into(), json!("Informational"));
    let (status_id, status) = match r.outcome {
        Outcome::Success => (1, "Success"),
        Outcome::Failure | Outcome::Denied => (2, "Failure"),
    };
    m.insert("status_id".into(), json!(status_id));
    m.insert("status".into(), json!(status));
    if r.outcome != Outcome::Success {
        m.insert("status_detail".into(), json!(r.outcome.as_str()));
    }
    m.insert("message".into(), json!(r.summary()));
    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_VERSION));
    metadata.insert(
        "product".into(),
        json!({"name": product.name, "vendor_name": product.vendor, "version": product.version}),
    );
    metadata.insert("uid".into(), json!(r.id.to_string()));
    metadata.insert("sequence".into(), json!(r.seq));
    metadata.insert("log_name".into(), json!(r.tenant.as_str()));
    metadata.insert("event_code".into(), json!(r.event.name()));
    if let Some(c) = &r.context.correlation_id {
        metadata.insert("correlation_uid".into(), json!(c));
    }
    m.insert("metadata".into(), Value::Object(metadata));

    let mut audit = Map::new();
    audit.insert("tenant".into(), json!(r.tenant.as_str()));
    audit.insert("seq".into(), json!(r.seq));
    audit.insert("id".into(), json!(r.id.to_string()));
    audit.insert("hash".into(), json!(r.hash.to_hex()));
    audit.insert("prev_hash".into(), json!(r.prev_hash.to_hex()));
    audit.insert("chain".into(), json!(r.chain.as_str()));
    audit.insert("event".into(), json!(r.event.name()));
    if let Some(v) = &r.context.request_id {
        audit.insert("request_id".into(), json!(v));
    }
    if let Some(v) = &r.context.reason {
        audit.insert("reason".into(), json!(v));
    }
    match mapped {
        Some(x) => {
            // `actor` is an attribute of OCSF's Host profile in the IAM classes (1.3.0): an
            // event that carries it says it applies that profile.
            if let Some(Value::Object(meta)) = m.get_mut("metadata") {
                meta.insert("profiles".into(), json!(["host"]));
            }
            m.insert("actor".into(), actor(r));
            if let Some(ip) = r.context.ip {
                m.insert("src_endpoint".into(), json!({"ip": ip.to_string()}));
            }
            if let Some(ua) = &r.context.user_agent {
                m.insert("http_request".into(), json!({"user_agent": ua}));
            }
            m.extend(x.attrs);
            // What the class has no attribute for: the changed fields of an edit.
            if let Event::UserEdited(e) = &r.event {
                let changes = serde_json::to_value(&e.changes)
                    .map_err(|err| Error::corrupt(r.seq, format!("cannot encode: {err}")))?;
                audit.insert("changes".into(), changes);
            }
        }
        None => {
            // The Base Event has no actor or endpoint: the raw record carries them.
            let raw = serde_json::to_string(r)
                .map_err(|e| Error::corrupt(r.seq, format!("cannot encode: {e}")))?;
            m.insert("raw_data".into(), json!(raw));
            audit.insert("payload".into(), r.event.to_value());
        }
    }
    m.insert(
        "unmapped".into(),
        json!({ "audit_log": Value::Object(audit) }),
    );
    Ok(Value::Object(m))
}
