//! Blame: the records that changed a user's effective access between two points; and
//! access changes, which also tell the paths that came and went while access stayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::access::{Access, AccessFilter, AccessPath, Grant};
use super::state::State;
use super::table::Kind;
use super::{History, Point};
use crate::error::Result;
use crate::event::{EntityId, EntityKey, EntityRef, Scope};
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
        // Names and reasons are as a user typed them: the line is shown neutralised
        // (control characters escaped), since it is printed for a person to read.
        let mut line = String::new();
        self.write_line(&mut line)?;
        f.write_str(&crate::text::for_terminal(&line))
    }
}

impl BlameEntry {
    fn write_line(&self, f: &mut String) -> fmt::Result {
        use fmt::Write as _;
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

/// A path into a permission group that appeared or went while the user kept the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathChange {
    /// The permission group (its name as of the side the path is from).
    pub permission_group: EntityRef,
    /// Its scope.
    pub scope: Scope,
    /// The path: as it is after the record for one gained, as it was before for one lost.
    pub path: AccessPath,
}

/// How one record changed a user's hold on one permission group.
///
/// A path is told apart from the others of its grant by where it enters the permission
/// group: directly, or through which group that holds it (its last group). As
/// [`History::access`] shows one chain of groups per such group, a new chain to the same
/// group (a shorter one appearing, one of several going) is not a path change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Held after the record and not before, with every path it is held by now.
    AccessGained(Grant),
    /// Held before the record and not after, with every path it was held by.
    AccessLost(Grant),
    /// Held before and after; this path is new: access kept, a path gained.
    PathGained(PathChange),
    /// Held before and after; this path went: access kept, a path lost.
    PathLost(PathChange),
}

impl Change {
    /// Whether the user's access changed (gained or lost), not only a path to it.
    pub fn changes_access(&self) -> bool {
        matches!(self, Change::AccessGained(_) | Change::AccessLost(_))
    }

    /// The permission group it is about.
    pub fn permission_group(&self) -> &EntityRef {
        match self {
            Change::AccessGained(g) | Change::AccessLost(g) => &g.permission_group,
            Change::PathGained(p) | Change::PathLost(p) => &p.permission_group,
        }
    }
}

impl fmt::Display for Change {
    /// `lost Payroll editors (application Payroll) via Accounting`, or `path lost: Payroll
    /// editors (application Payroll) via Accounting -> Finance-Staff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |f: &mut fmt::Formatter<'_>, verb: &str, p: &PathChange| {
            write!(
                f,
                "path {verb}: {} ({}) {}",
                p.permission_group.label(),
                p.scope.describe(),
                p.path
            )
        };
        match self {
            Change::AccessGained(g) => write!(f, "gained {g}"),
            Change::AccessLost(g) => write!(f, "lost {g}"),
            Change::PathGained(p) => path(f, "gained", p),
            Change::PathLost(p) => path(f, "lost", p),
        }
    }
}

/// One record that changed a user's access, or only the paths they hold it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    /// The record: who, when, what, from where and why.
    pub record: Record,
    /// What it changed, by permission group id; within one, paths lost before paths gained.
    pub changes: Vec<Change>,
}

impl AccessChange {
    /// Whether it changed access itself (what [`History::blame`] reports), not only paths.
    pub fn changes_access(&self) -> bool {
        self.changes.iter().any(Change::changes_access)
    }
}

impl fmt::Display for AccessChange {
    /// `#57 2026-03-04 10:12 UTC bob user.removed_from_group ...: path lost: Payroll editors
    /// (application Payroll) via Accounting`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and reasons are as a user typed them: the line is shown neutralised
        // (control characters escaped), since it is printed for a person to read.
        let mut line = String::new();
        self.write_line(&mut line)?;
        f.write_str(&crate::text::for_terminal(&line))
    }
}

impl AccessChange {
    fn write_line(&self, f: &mut String) -> fmt::Result {
        use fmt::Write as _;
        write!(
            f,
            "#{} {} {}:",
            self.record.seq,
            self.record.occurred_at.format("%Y-%m-%d %H:%M UTC"),
            self.record.summary()
        )?;
        for c in &self.changes {
            write!(f, " {c};")?;
        }
        Ok(())
    }
}

impl History<'_> {
    /// The records after `from` and up to `to` that changed which permission groups (within
    /// `filter`) `user` holds, in order: direct changes and indirect ones alike (a group
    /// removed from a parent group, a group deleted, a permission group's scope deleted).
    /// A record that only changed the paths to access the user kept is not among them; see
    /// [`History::access_changes`].
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
    ) -> Result<Window<BlameEntry>> {
        let mut out = Vec::new();
        let (starts_after_purge, unknown_through) =
            self.walk(user.into(), filter, from, to, |r, before, after| {
                let (had, has) = (before.permission_groups(), after.permission_groups());
                if had != has {
                    out.push(BlameEntry {
                        record: r.clone(),
                        gained: changed(after, &had),
                        lost: changed(before, &has),
                    });
                }
            })?;
        Ok(Window {
            entries: out,
            starts_after_purge,
            unknown_through,
        })
    }

    /// The records after `from` and up to `to` that changed `user`'s access (within
    /// `filter`) or the paths they hold it by, each with its [`Change`]s: what
    /// [`History::blame`] reports, marked [`Change::AccessGained`] / [`Change::AccessLost`],
    /// and also the records that took a path away or added one while the user kept the
    /// permission group ([`Change::PathLost`] / [`Change::PathGained`]), such as removing a
    /// user from a group when a direct grant still gives what the group gave.
    ///
    /// The records with [`AccessChange::changes_access`] are exactly those of `blame`.
    /// Costs what `blame` costs.
    ///
    /// # Errors
    /// Store failures.
    pub fn access_changes(
        &self,
        user: impl Into<EntityId>,
        filter: &AccessFilter,
        from: Point,
        to: Point,
    ) -> Result<Window<AccessChange>> {
        let mut out = Vec::new();
        let (starts_after_purge, unknown_through) =
            self.walk(user.into(), filter, from, to, |r, before, after| {
                let changes = compare(before, after);
                if !changes.is_empty() {
                    out.push(AccessChange {
                        record: r.clone(),
                        changes,
                    });
                }
            })?;
        Ok(Window {
            entries: out,
            starts_after_purge,
            unknown_through,
        })
    }

    /// Folds from `from` to `to`, calling `each(record, access before, access after)` after
    /// every successful record that names something `user`'s access depends on: one loop for
    /// blame and access changes. Returns the window's purge point (when it had to start
    /// there) and the seq through which nothing is known ([`Window::unknown_through`]).
    fn walk(
        &self,
        user: EntityId,
        filter: &AccessFilter,
        from: Point,
        to: Point,
        mut each: impl FnMut(&Record, &Access, &Access),
    ) -> Result<(Option<u64>, Option<u64>)> {
        let (from, starts_after_purge) = self.resolve_start(from)?;
        let to = self.resolve(to)?;
        let mut state = self.state_seq(from)?;
        let mut before = state.access(&user, filter);
        let mut watched = relevant(&state, &user);
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
            each(r, &before, &after);
            watched = relevant(state, &user);
            before = after;
        })?;
        Ok((starts_after_purge, state.unknown_through()))
    }
}

/// Where a path enters its permission group: `None` directly, else through its last group.
fn entry(p: &AccessPath) -> Option<&EntityId> {
    p.via.last().map(|g| &g.id)
}

/// The changes from `before` to `after`, by permission group id.
fn compare(before: &Access, after: &Access) -> Vec<Change> {
    let by_id = |a: &'_ Access| -> BTreeMap<EntityId, Grant> {
        a.grants
            .iter()
            .map(|g| (g.permission_group.id.clone(), g.clone()))
            .collect()
    };
    let (mut b, mut a) = (by_id(before), by_id(after));
    let ids: BTreeSet<EntityId> = b.keys().chain(a.keys()).cloned().collect();
    let mut out = Vec::new();
    for id in ids {
        match (b.remove(&id), a.remove(&id)) {
            (Some(g), None) => out.push(Change::AccessLost(g)),
            (None, Some(g)) => out.push(Change::AccessGained(g)),
            (Some(gb), Some(ga)) => {
                let only = |from: &Grant, other: &Grant| -> Vec<PathChange> {
                    from.paths
                        .iter()
                        .filter(|p| !other.paths.iter().any(|q| entry(q) == entry(p)))
                        .map(|p| PathChange {
                            permission_group: from.permission_group.clone(),
                            scope: from.scope.clone(),
                            path: p.clone(),
                        })
                        .collect()
                };
                out.extend(only(&gb, &ga).into_iter().map(Change::PathLost));
                out.extend(only(&ga, &gb).into_iter().map(Change::PathGained));
            }
            (None, None) => {}
        }
    }
    out
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

/// The answer to a question about a window of the trail ([`History::blame`],
/// [`History::access_changes`], [`History::timeline_between`] and [`History::timeline`]): its
/// entries, and whether the window had to start later than asked because the trail was
/// purged. Reads as the list of entries (`window[0]`,
/// `window.len()`, `for entry in &window`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<T> {
    /// What the window holds, in order.
    pub entries: Vec<T>,
    /// When the window was asked to start before the trail's purge point: that point (seq).
    /// The entries then cover the records after it, and what happened before it is gone;
    /// `None` when the window starts where it was asked to.
    pub starts_after_purge: Option<u64>,
    /// Only from a history that answers [from what remains](History::from_what_remains):
    /// the seq through which the records are gone with nothing kept of them, so what they
    /// did is missing from the entries (a grant they made and a later record took away is
    /// not reported as lost). `None` for a complete answer.
    pub unknown_through: Option<u64>,
}

impl<T> std::ops::Deref for Window<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.entries
    }
}

impl<T> IntoIterator for Window<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Window<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}
