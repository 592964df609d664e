//! Blame: the records that changed a user's effective access between two points.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::access::{Access, AccessFilter, Grant};
use super::state::State;
use super::table::Kind;
use super::{History, Point};
use crate::error::Result;
use crate::event::{EntityId, EntityKey, Scope};
use crate::record::{Outcome, Record};

/// One record that changed a user's access, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlameEntry {
    /// The record: who, when, what, from where and why.
    pub record: Record,
    /// Permission groups the user held after it and not before (with the new paths).
    pub gained: Vec<Grant>,
    /// Permission groups the user held before it and not after, with the paths they were
    /// held by: what the record took away.
    pub lost: Vec<Grant>,
}

impl fmt::Display for BlameEntry {
    /// `#57 2026-03-04 10:12 UTC bob group.removed_from_group group Accounting / group
    /// Finance-Staff: lost Payroll editors (application Payroll) via Accounting ->
    /// Finance-Staff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} {}:",
            self.record.seq,
            self.record.occurred_at.format("%Y-%m-%d %H:%M UTC"),
            self.record.summary()
        )?;
        for g in &self.lost {
            write!(f, " lost {g};")?;
        }
        for g in &self.gained {
            write!(f, " gained {g};")?;
        }
        Ok(())
    }
}

impl History<'_> {
    /// The records after `from` and up to `to` that changed which permission groups (within
    /// `filter`) `user` holds, in order: direct changes and indirect ones alike (a group
    /// removed from a parent group, a group deleted, a permission group's scope deleted).
    ///
    /// Folds the records between the points once; access is recomputed only after records
    /// that name the user, a group they reach, one of those groups' permission groups or its
    /// scope.
    ///
    /// # Errors
    /// Store failures.
    pub fn blame(
        &self,
        user: impl Into<EntityId>,
        filter: &AccessFilter,
        from: Point,
        to: Point,
    ) -> Result<Vec<BlameEntry>> {
        let user = user.into();
        let from = self.resolve(from)?;
        let to = self.resolve(to)?;
        let mut state = self.state_seq(from)?;
        let mut before = state.access(&user, filter);
        let mut watched = relevant(&state, &user);
        let mut out = Vec::new();
        self.advance(&mut state, to, None, |state, r| {
            if r.outcome != Outcome::Success
                || !r
                    .event
                    .mentions()
                    .iter()
                    .any(|m| watched.contains(&m.key()))
            {
                return;
            }
            let after = state.access(&user, filter);
            let (had, has) = (before.permission_groups(), after.permission_groups());
            if had != has {
                out.push(BlameEntry {
                    record: r.clone(),
                    gained: changed(&after, &had),
                    lost: changed(&before, &has),
                });
            }
            watched = relevant(state, &user);
            before = after;
        })?;
        Ok(out)
    }
}

/// Grants of `access` for permission groups not in `other`.
fn changed(access: &Access, other: &BTreeSet<EntityId>) -> Vec<Grant> {
    access
        .grants
        .iter()
        .filter(|g| !other.contains(&g.permission_group.id))
        .cloned()
        .collect()
}

/// The entities a record must name to be able to change `user`'s access: the user, the live
/// groups they reach, the permission groups of both (live or not), and those permission
/// groups' applications and workspaces.
fn relevant(state: &State, user: &EntityId) -> BTreeSet<EntityKey> {
    let mut out = BTreeSet::new();
    out.insert(EntityKey::user(user.clone()));
    let t = state.tables();
    let Some(u) = t.table(Kind::User).get(user) else {
        return out;
    };
    let (groups, pg_table) = (t.table(Kind::Group), t.table(Kind::PermissionGroup));
    let mut pgs: BTreeSet<usize> = u.links.permission_groups.keys().copied().collect();
    let mut stack: Vec<usize> = u.links.member_of.keys().copied().collect();
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    while let Some(g) = stack.pop() {
        let Some(slot) = groups.slot(g) else { continue };
        if !seen.insert(g) {
            continue;
        }
        out.insert(EntityKey::group(slot.id.clone()));
        if slot.deleted.is_none() {
            pgs.extend(slot.links.permission_groups.keys());
            stack.extend(slot.links.member_of.keys());
        }
    }
    for pg in pgs {
        let Some(p) = pg_table.slot(pg) else { continue };
        out.insert(EntityKey::permission_group(p.id.clone()));
        let Some(scope) = p.scope.as_ref() else {
            continue;
        };
        match scope {
            Scope::Workspace { workspace } => {
                out.insert(EntityKey::workspace(workspace.id.clone()));
            }
            Scope::Application {
                application,
                workspace,
            } => {
                out.insert(EntityKey::application(application.id.clone()));
                if let Some(w) = workspace {
                    out.insert(EntityKey::workspace(w.id.clone()));
                }
                if let Some(w) = state.scope_workspace(scope) {
                    out.insert(EntityKey::workspace(w.clone()));
                }
            }
            _ => {}
        }
    }
    out
}
