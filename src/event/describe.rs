//! Events in words: what a person reads in a timeline, a CSV cell or a failed assertion.

use std::fmt::Write as _;

use super::{Attributes, EntityRef, Event, FieldChange, PermissionGroupRef, UserChange};

fn entity(kind: &str, e: &EntityRef) -> String {
    format!("{kind} {}", e.label())
}

fn permission_group(pg: &PermissionGroupRef) -> String {
    format!("permission group {} ({})", pg.label(), pg.scope.describe())
}

fn change(out: &mut String, c: &FieldChange) {
    let show = |v: &Option<super::FieldValue>| match v {
        Some(v) => format!("'{}'", v.display()),
        None => "(none)".to_owned(),
    };
    let _ = write!(out, "{} {} -> {}", c.field, show(&c.old), show(&c.new));
}

fn changes<'a>(out: &mut String, cs: impl Iterator<Item = &'a FieldChange>) {
    for (i, c) in cs.enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        change(out, c);
    }
}

fn attributes(out: &mut String, attrs: &Attributes) {
    for (i, (k, v)) in attrs.iter().enumerate() {
        out.push_str(if i == 0 { " (" } else { ", " });
        let _ = write!(out, "{k} '{}'", v.display());
    }
    if !attrs.is_empty() {
        out.push(')');
    }
}

impl Event {
    /// The event as a phrase without its actor: `added user alice to group Accounting`,
    /// `edited group Ops: name 'Ops' -> 'Operations'`, `edited user alice: password changed`.
    /// Redacted values show as `[redacted]`.
    pub fn describe(&self) -> String {
        let mut s;
        match self {
            Event::UserCreated(e) => {
                s = format!("created {}", entity("user", &e.user));
                attributes(&mut s, &e.attributes);
            }
            Event::UserEdited(e) => {
                s = format!("edited {}", entity("user", &e.user));
                for (i, c) in e.changes.iter().enumerate() {
                    s.push_str(if i == 0 { ": " } else { "; " });
                    match c {
                        UserChange::PasswordChanged => s.push_str("password changed"),
                        UserChange::Field(f) => change(&mut s, f),
                    }
                }
            }
            Event::UserDeleted(e) => s = format!("deleted {}", entity("user", &e.user)),
            Event::UserAddedToGroup(e) => {
                s = format!(
                    "added {} to {}",
                    entity("user", &e.user),
                    entity("group", &e.group)
                )
            }
            Event::UserRemovedFromGroup(e) => {
                s = format!(
                    "removed {} from {}",
                    entity("user", &e.user),
                    entity("group", &e.group)
                )
            }
            Event::GroupCreated(e) => {
                s = format!("created {}", entity("group", &e.group));
                attributes(&mut s, &e.attributes);
            }
            Event::GroupEdited(e) => {
                s = format!("edited {}", entity("group", &e.group));
                changes(&mut s, e.changes.iter());
            }
            Event::GroupDeleted(e) => s = format!("deleted {}", entity("group", &e.group)),
            Event::GroupAddedToGroup(e) => {
                s = format!(
                    "added {} to {}",
                    entity("group", &e.group),
                    entity("group", &e.parent)
                )
            }
            Event::GroupRemovedFromGroup(e) => {
                s = format!(
                    "removed {} from {}",
                    entity("group", &e.group),
                    entity("group", &e.parent)
                )
            }
            Event::ApplicationCreated(e) => {
                s = format!(
                    "created {} in {}",
                    entity("application", &e.application),
                    entity("workspace", &e.workspace)
                );
                attributes(&mut s, &e.attributes);
            }
            Event::ApplicationEdited(e) => {
                s = format!("edited {}", entity("application", &e.application));
                changes(&mut s, e.changes.iter());
            }
            Event::ApplicationDeleted(e) => {
                s = format!(
                    "deleted {} from {}",
                    entity("application", &e.application),
                    entity("workspace", &e.workspace)
                )
            }
            Event::WorkspaceCreated(e) => {
                s = format!("created {}", entity("workspace", &e.workspace));
                attributes(&mut s, &e.attributes);
            }
            Event::WorkspaceEdited(e) => {
                s = format!("edited {}", entity("workspace", &e.workspace));
                changes(&mut s, e.changes.iter());
            }
            Event::WorkspaceDeleted(e) => {
                s = format!("deleted {}", entity("workspace", &e.workspace))
            }
            Event::PermissionUserAdded(e) => {
                s = format!(
                    "added {} to {}",
                    entity("user", &e.user),
                    permission_group(&e.permission_group)
                )
            }
            Event::PermissionUserRemoved(e) => {
                s = format!(
                    "removed {} from {}",
                    entity("user", &e.user),
                    permission_group(&e.permission_group)
                )
            }
            Event::PermissionGroupAdded(e) => {
                s = format!(
                    "added {} to {}",
                    entity("group", &e.group),
                    permission_group(&e.permission_group)
                )
            }
            Event::PermissionGroupRemoved(e) => {
                s = format!(
                    "removed {} from {}",
                    entity("group", &e.group),
                    permission_group(&e.permission_group)
                )
            }
            Event::AuditPurged(e) => {
                s = format!(
                    "purged {} record(s) through seq {} (retention)",
                    e.count, e.through_seq
                )
            }
            Event::AuditExported(e) => {
                s = format!("exported {} record(s) as {}", e.count, e.format)
            }
            Event::Custom(c) => {
                s = c.name.clone();
                if let Some(t) = &c.target {
                    let _ = write!(s, " {} {}", t.kind, t.entity.label());
                }
                if let Some(r) = &c.related {
                    let _ = write!(s, " (related {} {})", r.kind, r.entity.label());
                }
            }
            Event::Unknown(u) => s = format!("{} (unknown to this version)", u.name),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldChange, Scope};

    #[test]
    fn events_read_as_phrases() {
        let alice = EntityRef::new(42, "alice");
        let acc = EntityRef::new(1, "Accounting");
        assert_eq!(
            Event::user_added_to_group(alice.clone(), acc.clone()).describe(),
            "added user alice to group Accounting"
        );
        assert_eq!(
            Event::user_edited(alice.clone(), vec![UserChange::password_changed()]).describe(),
            "edited user alice: password changed"
        );
        assert_eq!(
            Event::group_edited(acc, vec![FieldChange::new("name", "Accounting", "AP")]).describe(),
            "edited group Accounting: name 'Accounting' -> 'AP'"
        );
        let pg = PermissionGroupRef::new(
            9,
            "Payroll editors",
            Scope::application(EntityRef::new(3, "Payroll"), EntityRef::new(1, "Finance")),
        );
        assert_eq!(
            Event::permission_user_removed(alice, pg).describe(),
            "removed user alice from permission group Payroll editors (application Payroll)"
        );
    }
}
