//! Effective access of a user: which permission groups they are in, and by which path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::state::{RecordRef, State};
use super::table::Kind;
use crate::event::{EntityId, EntityRef, Scope};

/// Which permission groups an access question is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum AccessFilter {
    /// Every permission group.
    #[default]
    Any,
    /// Permission groups of the system scope.
    System,
    /// Permission groups scoped to this workspace or to an application in it.
    Workspace(EntityId),
    /// Permission groups scoped to this application.
    Application(EntityId),
}

impl AccessFilter {
    /// Whether a permission group with `scope` is in the filter, in `state` (which knows the
    /// applications' workspaces).
    pub fn matches(&self, state: &State, scope: &Scope) -> bool {
        match self {
            AccessFilter::Any => true,
            AccessFilter::System => matches!(scope, Scope::System),
            AccessFilter::Workspace(w) => state.scope_workspace(scope) == Some(w),
            AccessFilter::Application(a) => {
                matches!(scope, Scope::Application { application, .. } if application.id == *a)
            }
        }
    }
}

/// How a user gets into a permission group: directly, or through a chain of groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPath {
    /// The groups, from the one the user is a member of to the one in the permission group;
    /// empty for a direct membership.
    pub via: Vec<EntityRef>,
    /// The records that made each link: user to first group, each nesting, last group (or the
    /// user) to the permission group. One more than `via`.
    pub links: Vec<RecordRef>,
}

impl AccessPath {
    /// Whether the user is in the permission group directly.
    pub fn is_direct(&self) -> bool {
        self.via.is_empty()
    }

    /// The link that let the permission group in: the last one.
    pub fn grant_link(&self) -> Option<&RecordRef> {
        self.links.last()
    }
}

impl fmt::Display for AccessPath {
    /// `direct`, or `via Accounting -> Finance-Staff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.via.is_empty() {
            return f.write_str("direct");
        }
        f.write_str("via ")?;
        for (i, g) in self.via.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            f.write_str(&crate::text::for_terminal(g.label()))?;
        }
        Ok(())
    }
}

/// One permission group a user holds, with every way they hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The permission group (newest name).
    pub permission_group: EntityRef,
    /// Its scope.
    pub scope: Scope,
    /// The direct membership first, if any, then one path per group that is in the
    /// permission group and that the user reaches, by the shortest chain of groups (ties
    /// broken by group id).
    pub paths: Vec<AccessPath>,
}

impl fmt::Display for Grant {
    /// `Payroll editors (application Payroll) direct; via Accounting -> Finance-Staff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names as users typed them, neutralised: these lines are printed for a person.
        write!(
            f,
            "{} ({})",
            crate::text::for_terminal(self.permission_group.label()),
            crate::text::for_terminal(&self.scope.describe())
        )?;
        for (i, p) in self.paths.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "; " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A loop of nested groups (A in B, B in A), reported instead of followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// The groups around the loop, each a member of the next, the first repeated at the end.
    pub groups: Vec<EntityRef>,
}

impl fmt::Display for Cycle {
    /// `A -> B -> A`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            f.write_str(&crate::text::for_terminal(g.label()))?;
        }
        Ok(())
    }
}

/// A user's effective access at a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The user (newest name the state knows).
    pub user: EntityRef,
    /// The seq of the state it was computed on.
    pub seq: u64,
    /// When the user is deleted, the deletion (and then there are no grants).
    pub user_deleted: Option<RecordRef>,
    /// The permission groups held, in id order.
    pub grants: Vec<Grant>,
    /// Loops of nested groups met on the way (each reported once).
    pub cycles: Vec<Cycle>,
    /// Only from a history that answers [from what remains](super::History::from_what_remains):
    /// the seq through which the records are gone with nothing kept of them
    /// ([`State::unknown_through`]). Grants they made are missing here: this is not a
    /// complete answer. `None` for a complete one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_through: Option<u64>,
}

impl Access {
    /// The grant of one permission group, if held.
    pub fn grant(&self, permission_group: &EntityId) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.permission_group.id == *permission_group)
    }

    /// Whether the user holds the permission group.
    pub fn holds(&self, permission_group: &EntityId) -> bool {
        self.grant(permission_group).is_some()
    }

    /// The ids of the permission groups held.
    pub fn permission_groups(&self) -> BTreeSet<EntityId> {
        self.grants
            .iter()
            .map(|g| g.permission_group.id.clone())
            .collect()
    }
}

impl State {
    /// The effective access of `user`: every permission group they are in, directly or
    /// through (nested) groups, restricted to `filter`.
    ///
    /// Deleted groups give nothing, nor do permission groups whose scope was deleted; a
    /// deleted user holds nothing. Loops of nested groups are walked once and reported in
    /// [`Access::cycles`]. Costs time in the size of the user's group graph, not the trail
    /// (nor the size of the groups: it walks the state's links without copying entities).
    pub fn access(&self, user: &EntityId, filter: &AccessFilter) -> Access {
        let t = self.tables();
        let u = t.table(Kind::User).find(user);
        let slot = u.and_then(|u| t.table(Kind::User).slot(u));
        let mut access = Access {
            user: u
                .and_then(|u| t.entity_ref(Kind::User, u))
                .unwrap_or_else(|| EntityRef::id_only(user.clone())),
            seq: self.seq(),
            user_deleted: slot
                .and_then(|u| u.deleted.as_ref())
                .map(|d| t.record_ref(d.by)),
            grants: Vec::new(),
            cycles: Vec::new(),
            unknown_through: self.unknown_through(),
        };
        let Some(u) = slot.filter(|u| u.deleted.is_none()) else {
            return access;
        };
        let groups = t.table(Kind::Group);
        let live = |g: usize| groups.slot(g).is_some_and(|g| g.deleted.is_none());
        let mut grants: BTreeMap<EntityId, Grant> = BTreeMap::new();
        let mut add = |pg: usize, path: AccessPath| {
            let Some(p) = t.table(Kind::PermissionGroup).slot(pg) else {
                return;
            };
            let Some(scope) = p.scope.as_ref() else {
                return;
            };
            if self.scope_deletion(scope).is_some() || !filter.matches(self, scope) {
                return;
            }
            grants
                .entry(p.id.clone())
                .or_insert_with(|| Grant {
                    permission_group: EntityRef {
                        id: p.id.clone(),
                        display: p.display.clone(),
                    },
                    scope: scope.clone(),
                    paths: Vec::new(),
                })
                .paths
                .push(path);
        };
        for (pg, link) in t.by_id(&u.links.permission_groups, Kind::PermissionGroup) {
            add(
                pg,
                AccessPath {
                    via: Vec::new(),
                    links: vec![t.record_ref(link)],
                },
            );
        }
        // Breadth first, so each group is reached by its shortest chain and visited once,
        // however the groups loop; links in id order, so ties go to the lower id.
        let roots = t.by_id(&u.links.member_of, Kind::Group);
        let mut seen: HashSet<usize> = HashSet::new();
        let mut queue: VecDeque<(usize, AccessPath)> = VecDeque::new();
        for (g, link) in &roots {
            if live(*g) && seen.insert(*g) {
                queue.push_back((
                    *g,
                    AccessPath {
                        via: Vec::new(),
                        links: vec![t.record_ref(*link)],
                    },
                ));
            }
        }
        while let Some((gi, mut path)) = queue.pop_front() {
            let (Some(g), Some(r)) = (groups.slot(gi), t.entity_ref(Kind::Group, gi)) else {
                continue;
            };
            path.via.push(r);
            for (pg, link) in t.by_id(&g.links.permission_groups, Kind::PermissionGroup) {
                let mut p = path.clone();
                p.links.push(t.record_ref(link));
                add(pg, p);
            }
            for (parent, link) in t.by_id(&g.links.member_of, Kind::Group) {
                if live(parent) && seen.insert(parent) {
                    let mut p = path.clone();
                    p.links.push(t.record_ref(link));
                    queue.push_back((parent, p));
                }
            }
        }
        access.grants = grants.into_values().collect();
        access.cycles = self.cycles_from(roots.iter().map(|(g, _)| *g));
        access
    }

    /// Every loop of nested (live) groups in the state.
    pub fn group_cycles(&self) -> Vec<Cycle> {
        let order = self.tables().table(Kind::Group).ordered().to_vec();
        self.cycles_from(order.into_iter())
    }

    /// Loops among the live groups reachable from `roots` (group slots, in id order)
    /// through `member_of`, found as the back edges of one depth-first walk (iterative, so
    /// deep nesting cannot overflow).
    fn cycles_from(&self, roots: impl Iterator<Item = usize>) -> Vec<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            OnStack,
            Done,
        }
        let t = self.tables();
        let groups = t.table(Kind::Group);
        let live = |g: usize| groups.slot(g).filter(|s| s.deleted.is_none());
        // Parents in id order, as the walk takes them.
        let parents = |g: &super::table::Slot| {
            t.by_id(&g.links.member_of, Kind::Group)
                .into_iter()
                .map(|(p, _)| p)
        };
        let mut marks: HashMap<usize, Mark> = HashMap::new();
        let mut cycles = Vec::new();
        for root in roots {
            if marks.contains_key(&root) {
                continue;
            }
            let Some(g) = live(root) else { continue };
            // (group, its parents still to look at)
            let mut stack = vec![(root, parents(g))];
            marks.insert(root, Mark::OnStack);
            while let Some((_, next)) = stack.last_mut() {
                match next.next() {
                    Some(p) => match marks.get(&p) {
                        Some(Mark::OnStack) => {
                            let start = stack.iter().position(|(g, _)| *g == p).unwrap_or(0);
                            let mut groups: Vec<EntityRef> = stack[start..]
                                .iter()
                                .filter_map(|(g, _)| t.entity_ref(Kind::Group, *g))
                                .collect();
                            if let Some(first) = groups.first().cloned() {
                                groups.push(first);
                            }
                            cycles.push(Cycle { groups });
                        }
                        Some(Mark::Done) => {}
                        None => {
                            if let Some(pg) = live(p) {
                                marks.insert(p, Mark::OnStack);
                                stack.push((p, parents(pg)));
                            }
                        }
                    },
                    None => {
                        if let Some((g, _)) = stack.pop() {
                            marks.insert(g, Mark::Done);
                        }
                    }
                }
            }
        }
        cycles
    }
}
