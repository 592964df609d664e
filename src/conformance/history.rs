//! The [`History`] scenarios, run on every store: an administrator's investigations over a
//! realistic organisation, asserting the exact records and paths. The same trail must give
//! the same answers whatever store holds it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::Subject;
use super::{append_one, prep, preparer, reseal, Harness};
use crate::error::Error;
use crate::event::*;
use crate::history::{AccessFilter, EntityStatus, History, LinkChange, Point, Relation, State};
use crate::prepare::{Entry, ManualClock, Preparer};
use crate::query::Query;
use crate::record::{Actor, Context, Outcome, TenantId};

/// Runs every history scenario, each on a fresh store.
pub fn run_all<H: Harness>(h: &H) {
    investigate_lost_access(&h.fresh());
    deletions_remove_access_and_keep_last_state(&h.fresh());
    recreated_entities_start_a_new_life(&h.fresh());
    entities_first_seen_before_the_trail(&h.fresh());
    group_cycles_terminate_and_are_reported(&h.fresh());
    unknown_and_custom_events_pass_through_the_fold(&h.fresh());
    warm_and_resumed_history_agree_with_a_cold_one(&h.fresh());
    purged_trail_folds_from_what_remains(&h.fresh());
}

/// Writes records into a store through a preparing log, on a clock the scenario moves.
struct Writer<'a> {
    store: &'a dyn Subject,
    log: Preparer,
    clock: ManualClock,
}

impl<'a> Writer<'a> {
    fn new(store: &'a dyn Subject) -> Self {
        let (log, clock) = preparer();
        Writer { store, log, clock }
    }

    fn at(&self, t: DateTime<Utc>) -> &Self {
        self.clock.set(t);
        self
    }

    fn tick(&self) -> &Self {
        self.clock.advance(Duration::minutes(1));
        self
    }

    /// Records `event` by `actor`; returns its seq.
    fn rec(&self, actor: &Actor, event: impl Into<Event>) -> u64 {
        self.tick();
        append_one(self.store, &self.log, Entry::new(actor.clone(), event)).seq
    }

    fn rec_entry(&self, entry: Entry) -> u64 {
        self.tick();
        append_one(self.store, &self.log, entry).seq
    }
}

fn day(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, m, 0)
        .single()
        .unwrap_or_default()
}

/// The organisation the investigations run on.
struct Org {
    root: Actor,
    bob: Actor,
    carol: Actor,
    finance: EntityRef,
    engineering: EntityRef,
    sales_ws: EntityRef,
    payroll: EntityRef,
    ledger: EntityRef,
    ci: EntityRef,
    wiki: EntityRef,
    crm: EntityRef,
    employees: EntityRef,
    finance_staff: EntityRef,
    accounting: EntityRef,
    engineers: EntityRef,
    platform: EntityRef,
    sales: EntityRef,
    alice: EntityRef,
    erin: EntityRef,
    dave: EntityRef,
    frank: EntityRef,
    sysadmins: PermissionGroupRef,
    finance_viewers: PermissionGroupRef,
    payroll_editors: PermissionGroupRef,
    ledger_editors: PermissionGroupRef,
    ci_admins: PermissionGroupRef,
    wiki_readers: PermissionGroupRef,
    crm_users: PermissionGroupRef,
    /// Seqs of the records that made the links the scenarios check.
    seq: OrgSeqs,
}

#[derive(Default)]
struct OrgSeqs {
    alice_in_accounting: u64,
    accounting_in_finance_staff: u64,
    /// The same nesting recorded again: it changes nothing, the first record stays the link's.
    accounting_in_finance_staff_again: u64,
    finance_staff_in_employees: u64,
    finance_staff_payroll_editors: u64,
    finance_staff_viewers: u64,
    accounting_ledger_editors: u64,
    employees_wiki_readers: u64,
    erin_payroll_editors: u64,
    payroll_created: u64,
    dave_in_sales: u64,
    sales_crm_users: u64,
    frank_in_platform: u64,
}

/// Three workspaces, five applications, six nested groups, permission groups at all three
/// scopes, and 40 users besides the named ones, set up by `root` on 2 March 2026.
fn build_org(w: &Writer<'_>) -> Org {
    let root = Actor::user(1, "root");
    let finance = EntityRef::new("ws-fin", "Finance");
    let engineering = EntityRef::new("ws-eng", "Engineering");
    let sales_ws = EntityRef::new("ws-sales", "Sales");
    let payroll = EntityRef::new("app-payroll", "Payroll");
    let ledger = EntityRef::new("app-ledger", "Ledger");
    let ci = EntityRef::new("app-ci", "CI");
    let wiki = EntityRef::new("app-wiki", "Wiki");
    let crm = EntityRef::new("app-crm", "CRM");
    let employees = EntityRef::new("g-emp", "Employees");
    let finance_staff = EntityRef::new("g-fin", "Finance-Staff");
    let accounting = EntityRef::new("g-acct", "Accounting");
    let engineers = EntityRef::new("g-eng", "Engineers");
    let platform = EntityRef::new("g-plat", "Platform");
    let sales = EntityRef::new("g-sales", "Sales");
    let pg = |id: &str, name: &str, scope: Scope| PermissionGroupRef::new(id, name, scope);
    let org = Org {
        sysadmins: pg("pg-sys", "System administrators", Scope::system()),
        finance_viewers: pg(
            "pg-fin-view",
            "Finance viewers",
            Scope::workspace(finance.clone()),
        ),
        payroll_editors: pg(
            "pg-payroll-ed",
            "Payroll editors",
            Scope::application(payroll.clone(), finance.clone()),
        ),
        ledger_editors: pg(
            "pg-ledger-ed",
            "Ledger editors",
            Scope::application(ledger.clone(), finance.clone()),
        ),
        ci_admins: pg(
            "pg-ci-admin",
            "CI admins",
            Scope::application(ci.clone(), engineering.clone()),
        ),
        wiki_readers: pg(
            "pg-wiki-read",
            "Wiki readers",
            Scope::application(wiki.clone(), engineering.clone()),
        ),
        crm_users: pg(
            "pg-crm",
            "CRM users",
            Scope::application(crm.clone(), sales_ws.clone()),
        ),
        root: root.clone(),
        bob: Actor::user(2, "bob"),
        carol: Actor::user(3, "carol"),
        alice: EntityRef::new(42, "alice"),
        erin: EntityRef::new(43, "erin"),
        dave: EntityRef::new(44, "dave"),
        frank: EntityRef::new(45, "frank"),
        finance,
        engineering,
        sales_ws,
        payroll,
        ledger,
        ci,
        wiki,
        crm,
        employees,
        finance_staff,
        accounting,
        engineers,
        platform,
        sales,
        seq: OrgSeqs::default(),
    };
    let mut org = org;
    w.at(day(2, 9, 0));
    for ws in [&org.finance, &org.engineering, &org.sales_ws] {
        w.rec(&root, Event::workspace_created(ws.clone()));
    }
    let mut payroll_attrs = Attributes::new();
    payroll_attrs.insert("template".into(), "payroll-v2".into());
    payroll_attrs.insert("url".into(), "https://payroll.example.com".into());
    org.seq.payroll_created = w.rec(
        &root,
        ApplicationCreated {
            application: org.payroll.clone(),
            workspace: org.finance.clone(),
            attributes: payroll_attrs,
        },
    );
    for (app, ws) in [
        (&org.ledger, &org.finance),
        (&org.ci, &org.engineering),
        (&org.wiki, &org.engineering),
        (&org.crm, &org.sales_ws),
    ] {
        w.rec(&root, Event::application_created(app.clone(), ws.clone()));
    }
    for g in [
        &org.employees,
        &org.finance_staff,
        &org.accounting,
        &org.engineers,
        &org.platform,
        &org.sales,
    ] {
        w.rec(&root, Event::group_created(g.clone()));
    }
    org.seq.accounting_in_finance_staff = w.rec(
        &root,
        Event::group_added_to_group(org.accounting.clone(), org.finance_staff.clone()),
    );
    org.seq.accounting_in_finance_staff_again = w.rec(
        &root,
        Event::group_added_to_group(org.accounting.clone(), org.finance_staff.clone()),
    );
    org.seq.finance_staff_in_employees = w.rec(
        &root,
        Event::group_added_to_group(org.finance_staff.clone(), org.employees.clone()),
    );
    for (child, parent) in [
        (&org.engineers, &org.employees),
        (&org.platform, &org.engineers),
        (&org.sales, &org.employees),
    ] {
        w.rec(
            &root,
            Event::group_added_to_group(child.clone(), parent.clone()),
        );
    }
    org.seq.finance_staff_payroll_editors = w.rec(
        &root,
        Event::permission_group_added(org.finance_staff.clone(), org.payroll_editors.clone()),
    );
    org.seq.finance_staff_viewers = w.rec(
        &root,
        Event::permission_group_added(org.finance_staff.clone(), org.finance_viewers.clone()),
    );
    org.seq.accounting_ledger_editors = w.rec(
        &root,
        Event::permission_group_added(org.accounting.clone(), org.ledger_editors.clone()),
    );
    org.seq.employees_wiki_readers = w.rec(
        &root,
        Event::permission_group_added(org.employees.clone(), org.wiki_readers.clone()),
    );
    w.rec(
        &root,
        Event::permission_group_added(org.platform.clone(), org.ci_admins.clone()),
    );
    w.rec(
        &root,
        Event::permission_group_added(org.platform.clone(), org.sysadmins.clone()),
    );
    org.seq.sales_crm_users = w.rec(
        &root,
        Event::permission_group_added(org.sales.clone(), org.crm_users.clone()),
    );
    for u in [&org.alice, &org.erin, &org.dave, &org.frank] {
        w.rec(
            &root,
            UserCreated::new(u.clone())
                .login_name(u.label())
                .email(format!("{}@example.com", u.label())),
        );
    }
    org.seq.alice_in_accounting = w.rec(
        &root,
        Event::user_added_to_group(org.alice.clone(), org.accounting.clone()),
    );
    org.seq.erin_payroll_editors = w.rec(
        &root,
        Event::permission_user_added(org.erin.clone(), org.payroll_editors.clone()),
    );
    org.seq.dave_in_sales = w.rec(
        &root,
        Event::user_added_to_group(org.dave.clone(), org.sales.clone()),
    );
    org.seq.frank_in_platform = w.rec(
        &root,
        Event::user_added_to_group(org.frank.clone(), org.platform.clone()),
    );
    let groups = [
        &org.accounting,
        &org.finance_staff,
        &org.engineers,
        &org.platform,
        &org.sales,
    ];
    for i in 0..40u64 {
        let u = EntityRef::new(100 + i, format!("user{i:02}"));
        w.rec(&root, UserCreated::new(u.clone()).login_name(u.label()));
        let g = groups[(i % groups.len() as u64) as usize];
        w.rec(&root, Event::user_added_to_group(u, g.clone()));
    }
    org
}

fn seqs_of(entries: &[crate::history::TimelineEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.record.seq).collect()
}

fn ids(access: &crate::history::Access) -> Vec<&str> {
    access
        .grants
        .iter()
        .map(|g| g.permission_group.id.as_str())
        .collect()
}

/// "alice lost access to Payroll on 4 March: who did it, when, and how?"
pub fn investigate_lost_access(store: &dyn Subject) {
    let w = Writer::new(store);
    let org = build_org(&w);
    let s = &org.seq;
    let setup_end = store
        .head(&TenantId::default())
        .expect("head")
        .expect("records")
        .seq;

    // 3 March: bob renames the Ledger application; a denied attempt by dave to delete Payroll.
    w.at(day(3, 14, 0));
    let rename = w.rec(
        &org.bob,
        Event::application_edited(
            org.ledger.clone(),
            org.finance.clone(),
            vec![FieldChange::new("name", "Ledger", "General Ledger")],
        ),
    );
    let denied = w.rec_entry(
        Entry::new(
            Actor::user(44, "dave"),
            Event::application_deleted(org.payroll.clone(), org.finance.clone()),
        )
        .outcome(Outcome::Denied),
    );
    // 4 March 10:11: bob removes Accounting from Finance-Staff.
    w.at(day(4, 10, 11));
    let removal = w.rec_entry(
        Entry::new(
            org.bob.clone(),
            Event::group_removed_from_group(org.accounting.clone(), org.finance_staff.clone()),
        )
        .context(Context::new().reason("reorg ticket FIN-88")),
    );
    // 5 March: carol adds alice to Payroll editors directly again.
    w.at(day(5, 9, 0));
    let restored = w.rec(
        &org.carol,
        Event::permission_user_added(org.alice.clone(), org.payroll_editors.clone()),
    );
    let history = History::new(store);

    // Her access just before the removal: exact groups, paths and records.
    let before = history
        .access(42, Point::Time(day(4, 10, 0)))
        .expect("access");
    assert_eq!(
        before.seq,
        removal - 1,
        "a time point stands for the last record by then"
    );
    assert_eq!(
        ids(&before),
        vec![
            "pg-fin-view",
            "pg-ledger-ed",
            "pg-payroll-ed",
            "pg-wiki-read"
        ]
    );
    let payroll = before
        .grant(&"pg-payroll-ed".into())
        .expect("alice held Payroll editors");
    assert_eq!(payroll.paths.len(), 1);
    assert_eq!(
        payroll.paths[0].to_string(),
        "via Accounting -> Finance-Staff"
    );
    assert_eq!(
        payroll.paths[0]
            .links
            .iter()
            .map(|l| l.seq)
            .collect::<Vec<_>>(),
        vec![
            s.alice_in_accounting,
            s.accounting_in_finance_staff,
            s.finance_staff_payroll_editors
        ],
        "the records that made each link (the second, identical nesting record changed nothing)"
    );
    assert_ne!(
        s.accounting_in_finance_staff,
        s.accounting_in_finance_staff_again
    );
    let wiki = before.grant(&"pg-wiki-read".into()).expect("wiki");
    assert_eq!(
        wiki.paths[0].to_string(),
        "via Accounting -> Finance-Staff -> Employees"
    );
    assert_eq!(
        before
            .grant(&"pg-ledger-ed".into())
            .expect("ledger")
            .permission_group
            .label(),
        "Ledger editors"
    );
    assert!(before.cycles.is_empty());

    // Blame for the Payroll application over the whole investigation window.
    let blame = history
        .blame(
            42,
            &AccessFilter::Application("app-payroll".into()),
            Point::Time(day(3, 0, 0)),
            Point::Head,
        )
        .expect("blame");
    assert_eq!(
        blame.iter().map(|b| b.record.seq).collect::<Vec<_>>(),
        vec![removal, restored],
        "the denied deletion changed nothing; the removal and the re-grant did"
    );
    let b = &blame[0];
    assert_eq!(b.record.actor, org.bob);
    assert_eq!(b.record.occurred_at, day(4, 10, 12));
    assert_eq!(
        b.record.context.reason.as_deref(),
        Some("reorg ticket FIN-88")
    );
    assert!(b.gained.is_empty());
    assert_eq!(b.lost.len(), 1);
    assert_eq!(
        b.lost[0].to_string(),
        "Payroll editors (application Payroll) via Accounting -> Finance-Staff"
    );
    assert_eq!(blame[1].record.actor, org.carol);
    assert_eq!(
        blame[1].gained[0].to_string(),
        "Payroll editors (application Payroll) direct"
    );

    // Unfiltered, the same removal also cost her the Finance workspace and the Wiki.
    let all = history
        .blame(42, &AccessFilter::Any, Point::Seq(setup_end), Point::Head)
        .expect("blame");
    assert_eq!(all[0].record.seq, removal);
    assert_eq!(
        all[0]
            .lost
            .iter()
            .map(|g| g.permission_group.id.as_str())
            .collect::<Vec<_>>(),
        vec!["pg-fin-view", "pg-payroll-ed", "pg-wiki-read"]
    );
    // A workspace filter covers the workspace's own scope and its applications'.
    let finance = history
        .blame(
            42,
            &AccessFilter::Workspace("ws-fin".into()),
            Point::Seq(setup_end),
            Point::Head,
        )
        .expect("blame");
    assert_eq!(
        finance[0]
            .lost
            .iter()
            .map(|g| g.permission_group.id.as_str())
            .collect::<Vec<_>>(),
        vec!["pg-fin-view", "pg-payroll-ed"]
    );

    // Now: Payroll direct, Ledger (renamed) via Accounting; no Wiki, no Finance viewers.
    let now = history.access(42, Point::Head).expect("access");
    assert_eq!(ids(&now), vec!["pg-ledger-ed", "pg-payroll-ed"]);
    assert!(now.grant(&"pg-payroll-ed".into()).expect("payroll").paths[0].is_direct());

    // The group's timeline shows members and nesting added and removed.
    let acct = history
        .timeline(&EntityKey::group("g-acct"))
        .expect("timeline");
    let acct_seqs = seqs_of(&acct);
    assert!(acct_seqs.contains(&s.alice_in_accounting));
    assert!(acct_seqs.contains(&s.accounting_in_finance_staff));
    assert!(acct_seqs.contains(&s.accounting_ledger_editors));
    assert_eq!(acct_seqs.last(), Some(&removal));
    assert!(acct_seqs.windows(2).all(|p| p[0] < p[1]), "in order");
    assert_eq!(
        acct.iter().filter(|e| e.role == Role::Target).count(),
        1 + 2 + 1 + 1,
        "created, nested twice, given Ledger editors, removed"
    );
    // alice's timeline: her creation, her group, her direct grant; a range narrows it.
    let alice = history.timeline(&EntityKey::user(42)).expect("timeline");
    assert_eq!(seqs_of(&alice)[1..], [s.alice_in_accounting, restored]);
    let window = history
        .timeline_between(
            &EntityKey::application("app-payroll"),
            Point::Time(day(3, 0, 0)),
            Point::Time(day(4, 23, 59)),
        )
        .expect("timeline");
    assert_eq!(
        seqs_of(&window),
        vec![denied],
        "only the denied attempt names Payroll then"
    );
    assert_eq!(window[0].record.outcome, Outcome::Denied);

    // The diff of Finance-Staff across the removal.
    let diff = history
        .diff(
            &EntityKey::group("g-fin"),
            Point::Seq(removal - 1),
            Point::Seq(removal),
        )
        .expect("diff");
    assert!(diff.fields.is_empty() && diff.appeared.is_empty());
    assert_eq!(
        diff.went,
        vec![LinkChange {
            relation: Relation::MemberGroup,
            other: EntityKey::group("g-acct"),
            made_by: crate::history::RecordRef {
                seq: s.accounting_in_finance_staff,
                at: day(2, 9, 0) + Duration::minutes(s.accounting_in_finance_staff as i64),
                actor: org.root.clone(),
            },
        }]
    );
    // The Ledger rename keeps its identity and shows as a field change.
    let ledger = history
        .diff(
            &EntityKey::application("app-ledger"),
            Point::Seq(setup_end),
            Point::Head,
        )
        .expect("diff");
    assert_eq!(
        ledger
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.after.as_ref().map(FieldValue::display)))
            .collect::<Vec<_>>(),
        vec![
            ("display", Some("General Ledger".to_owned())),
            ("name", Some("General Ledger".to_owned()))
        ]
    );
    assert_eq!(
        (ledger.status_before, ledger.status_after),
        (EntityStatus::Live, EntityStatus::Live)
    );
    let state = history.state_at(Point::Head).expect("state");
    assert_eq!(
        state
            .application(&"app-ledger".into())
            .and_then(|a| a.display.as_deref()),
        Some("General Ledger")
    );
    assert_eq!(
        state
            .application(&"app-ledger".into())
            .map(|a| a.last_changed),
        Some(rename)
    );
    // Group state: members and nested groups.
    let fin = state.group(&"g-fin".into()).expect("Finance-Staff");
    assert!(fin.links.member_groups.is_empty());
    assert_eq!(
        fin.links
            .member_of
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g-emp"]
    );
    assert_eq!(fin.links.members.len(), 8, "users 01, 06, ..., 36");
    let emp = state.group(&"g-emp".into()).expect("Employees");
    assert_eq!(
        emp.links
            .member_groups
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g-eng", "g-fin", "g-sales"]
    );
    let pg = state
        .permission_group(&"pg-payroll-ed".into())
        .expect("Payroll editors");
    assert_eq!(pg.scope.as_ref(), Some(&org.payroll_editors.scope));
    assert_eq!(
        pg.links
            .members
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["42", "43"]
    );
    assert_eq!(
        pg.links
            .member_groups
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g-fin"]
    );
    assert_eq!(state.users().count(), 44);
    assert!(state.users().all(|u| !u.predates_trail()));
    let _ = (s.finance_staff_viewers, s.finance_staff_in_employees);
}

/// Deleting a group removes the access it gave; deleting an application or a workspace
/// removes its permission groups from everyone's access; deleted entities keep their last
/// known state and who deleted them, enough to restore them.
pub fn deletions_remove_access_and_keep_last_state(store: &dyn Subject) {
    let w = Writer::new(store);
    let org = build_org(&w);
    let history = History::new(store);
    let mark = store
        .head(&TenantId::default())
        .expect("head")
        .expect("records")
        .seq;
    assert_eq!(
        ids(&history.access(44, Point::Head).expect("access")),
        vec!["pg-crm", "pg-wiki-read"]
    );
    assert_eq!(
        ids(&history.access(45, Point::Head).expect("access")),
        vec!["pg-ci-admin", "pg-sys", "pg-wiki-read"]
    );

    w.at(day(6, 16, 30));
    let crm_deleted = w.rec(
        &org.carol,
        Event::application_deleted(org.crm.clone(), org.sales_ws.clone()),
    );
    let platform_deleted = w.rec(&org.root, Event::group_deleted(org.platform.clone()));
    let eng_deleted = w.rec(&org.bob, Event::workspace_deleted(org.engineering.clone()));
    let payroll_deleted = w.rec(
        &org.bob,
        Event::application_deleted(org.payroll.clone(), org.finance.clone()),
    );

    // dave lost CRM when carol deleted the application (the permission group's scope).
    let dave = history
        .blame(44, &AccessFilter::Any, Point::Seq(mark), Point::Head)
        .expect("blame");
    assert_eq!(
        dave.iter()
            .map(|b| (b.record.seq, ids_of(&b.lost)))
            .collect::<Vec<_>>(),
        vec![
            (crm_deleted, vec!["pg-crm"]),
            (eng_deleted, vec!["pg-wiki-read"])
        ]
    );
    // frank lost all three with the Platform group, his only way into Engineers and Employees.
    let frank = history
        .blame(45, &AccessFilter::Any, Point::Seq(mark), Point::Head)
        .expect("blame");
    assert_eq!(
        frank
            .iter()
            .map(|b| (b.record.seq, ids_of(&b.lost)))
            .collect::<Vec<_>>(),
        vec![(
            platform_deleted,
            vec!["pg-ci-admin", "pg-sys", "pg-wiki-read"]
        )]
    );
    let sys = history
        .blame(45, &AccessFilter::System, Point::Seq(mark), Point::Head)
        .expect("blame");
    assert_eq!(sys.len(), 1);
    assert_eq!(sys[0].lost[0].paths[0].to_string(), "via Platform");
    assert!(history
        .access(45, Point::Head)
        .expect("access")
        .grants
        .is_empty());
    assert!(history
        .access(43, Point::Head)
        .expect("access")
        .grants
        .is_empty());

    // What the trail knew of Payroll, to restore it: attributes, workspace, who deleted it.
    let state = history.state_at(Point::Head).expect("state");
    let payroll = state.application(&"app-payroll".into()).expect("payroll");
    let deletion = payroll.deleted.as_ref().expect("deleted");
    assert_eq!(deletion.by.seq, payroll_deleted);
    assert_eq!(deletion.by.actor, org.bob);
    assert_eq!(deletion.by.at, day(6, 16, 34));
    assert_eq!(
        payroll.attributes.get("template"),
        Some(&FieldValue::from("payroll-v2"))
    );
    assert_eq!(
        payroll.workspace.as_ref().map(|w| w.label()),
        Some("Finance")
    );
    assert_eq!(
        payroll.created.as_ref().map(|c| c.seq),
        Some(org.seq.payroll_created)
    );
    // The workspace took its applications with it, in the same record.
    for app in ["app-ci", "app-wiki"] {
        let a = state.application(&app.into()).expect("app");
        assert_eq!(
            a.deleted.as_ref().map(|d| d.by.seq),
            Some(eng_deleted),
            "{app}"
        );
    }
    assert_eq!(
        state.scope_deleted(&"pg-ci-admin".into()).map(|d| d.by.seq),
        Some(eng_deleted)
    );
    assert!(state.scope_deleted(&"pg-sys".into()).is_none());
    // The deleted group keeps its members and roles as they were.
    let platform = state.group(&"g-plat".into()).expect("platform");
    let last = &platform.deleted.as_ref().expect("deleted").links;
    assert!(platform.links.is_empty());
    assert_eq!(
        last.permission_groups
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["pg-ci-admin", "pg-sys"]
    );
    assert!(last.members.contains_key(&"45".into()));
    assert_eq!(
        last.member_of
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g-eng"]
    );
    assert!(!state
        .group(&"g-eng".into())
        .expect("engineers")
        .links
        .member_groups
        .contains_key(&"g-plat".into()));
    assert_eq!(
        state.user(&"45".into()).map(|u| u.links.member_of.len()),
        Some(0)
    );
    // The diff says the group went, with every link it had.
    let diff = history
        .diff(&EntityKey::group("g-plat"), Point::Seq(mark), Point::Head)
        .expect("diff");
    assert_eq!(
        (diff.status_before, diff.status_after),
        (EntityStatus::Live, EntityStatus::Deleted)
    );
    assert_eq!(
        diff.went.len(),
        1 + 2 + 8 + 1,
        "parent, two roles, eight users + frank"
    );
}

/// An application, a group, a user and a workspace deleted and created again with the same
/// ids start new lives with nothing: no grant of the deleted application's permission
/// groups comes back, nor a membership, nor a workspace's applications. The old lives stay
/// readable at points inside them and in the timelines.
pub fn recreated_entities_start_a_new_life(store: &dyn Subject) {
    let w = Writer::new(store);
    let org = build_org(&w);
    let history = History::new(store);
    let mark = history.resolve(Point::Head).expect("head");
    assert_eq!(
        ids(&history.access(42, Point::Head).expect("access")),
        vec![
            "pg-fin-view",
            "pg-ledger-ed",
            "pg-payroll-ed",
            "pg-wiki-read"
        ]
    );
    assert_eq!(
        ids(&history.access(43, Point::Head).expect("access")),
        vec!["pg-payroll-ed"]
    );

    w.at(day(7, 9, 0));
    let payroll_deleted = w.rec(
        &org.bob,
        Event::application_deleted(org.payroll.clone(), org.finance.clone()),
    );
    let payroll_again = w.rec(
        &org.root,
        Event::application_created(org.payroll.clone(), org.finance.clone()),
    );
    let accounting_deleted = w.rec(&org.bob, Event::group_deleted(org.accounting.clone()));
    let accounting_again = w.rec(&org.root, Event::group_created(org.accounting.clone()));
    let dave_deleted = w.rec(&org.bob, Event::user_deleted(org.dave.clone()));
    // Recorded while dave is deleted: it links nothing.
    w.rec(
        &org.root,
        Event::user_added_to_group(org.dave.clone(), org.sales.clone()),
    );
    let dave_again = w.rec(
        &org.root,
        UserCreated::new(org.dave.clone()).login_name("dave"),
    );
    let engineering_deleted = w.rec(
        &org.carol,
        Event::workspace_deleted(org.engineering.clone()),
    );
    w.rec(&org.root, Event::workspace_created(org.engineering.clone()));
    let regrant = w.rec(
        &org.carol,
        Event::permission_user_added(org.erin.clone(), org.payroll_editors.clone()),
    );

    // Nothing of the old lives gives access now; only carol's new grant does.
    assert!(
        history
            .access(42, Point::Head)
            .expect("access")
            .grants
            .is_empty(),
        "alice: Accounting, her only group, is a new group she is not in"
    );
    let erin = history.access(43, Point::Head).expect("access");
    assert_eq!(ids(&erin), vec!["pg-payroll-ed"]);
    assert_eq!(
        erin.grants[0].paths[0]
            .links
            .iter()
            .map(|l| l.seq)
            .collect::<Vec<_>>(),
        vec![regrant]
    );
    assert!(history
        .access(44, Point::Head)
        .expect("access")
        .grants
        .is_empty());
    assert_eq!(
        ids(&history.access(45, Point::Head).expect("access")),
        vec!["pg-sys"],
        "frank keeps the system scope; CI and the Wiki went with Engineering"
    );
    // Blame names the deletions and the new grant, never a re-creation.
    let erin_blame = history
        .blame(43, &AccessFilter::Any, Point::Seq(mark), Point::Head)
        .expect("blame");
    assert_eq!(
        erin_blame
            .iter()
            .map(|b| (b.record.seq, ids_of(&b.lost), ids_of(&b.gained)))
            .collect::<Vec<_>>(),
        vec![
            (payroll_deleted, vec!["pg-payroll-ed"], vec![]),
            (regrant, vec![], vec!["pg-payroll-ed"])
        ]
    );
    let alice_blame = history
        .blame(42, &AccessFilter::Any, Point::Seq(mark), Point::Head)
        .expect("blame");
    assert_eq!(
        alice_blame
            .iter()
            .map(|b| (b.record.seq, ids_of(&b.lost)))
            .collect::<Vec<_>>(),
        vec![
            (payroll_deleted, vec!["pg-payroll-ed"]),
            (
                accounting_deleted,
                vec!["pg-fin-view", "pg-ledger-ed", "pg-wiki-read"]
            )
        ]
    );

    let state = history.state_at(Point::Head).expect("state");
    // The new Payroll: its own creation, none of the old attributes.
    let payroll = state.application(&"app-payroll".into()).expect("payroll");
    assert!(!payroll.is_deleted());
    assert_eq!(payroll.created.as_ref().map(|c| c.seq), Some(payroll_again));
    assert!(payroll.attributes.is_empty());
    // Payroll editors ended with the old application, keeping who was in it; carol's grant
    // started its new life.
    let editors = state
        .permission_group(&"pg-payroll-ed".into())
        .expect("editors");
    assert_eq!(
        editors
            .links
            .members
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["43"]
    );
    assert!(editors.links.member_groups.is_empty());
    let ended = history
        .entity_at(
            &EntityKey::permission_group("pg-payroll-ed"),
            Point::Seq(regrant - 1),
        )
        .expect("entity")
        .expect("known");
    let deletion = ended.deleted.as_ref().expect("ended with Payroll");
    assert_eq!(
        (deletion.by.seq, &deletion.by.actor),
        (payroll_deleted, &org.bob)
    );
    assert_eq!(
        deletion
            .links
            .member_groups
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g-fin"]
    );
    assert!(!state
        .group(&"g-fin".into())
        .expect("Finance-Staff")
        .links
        .permission_groups
        .contains_key(&"pg-payroll-ed".into()));
    // The new Accounting has no members, no parent, no roles; the new dave no groups.
    let accounting = state.group(&"g-acct".into()).expect("accounting");
    assert!(accounting.links.is_empty(), "{accounting:?}");
    assert_eq!(
        accounting.created.as_ref().map(|c| c.seq),
        Some(accounting_again)
    );
    let dave = state.user(&"44".into()).expect("dave");
    assert!(dave.links.is_empty() && !dave.is_deleted(), "{dave:?}");
    assert_eq!(dave.created.as_ref().map(|c| c.seq), Some(dave_again));
    assert!(
        !dave.attributes.contains_key("email"),
        "a new life, new attributes"
    );
    // The re-created workspace brought back neither its applications nor their roles.
    assert!(state.is_live(&EntityKey::workspace("ws-eng")));
    for app in ["app-ci", "app-wiki"] {
        let a = state.application(&app.into()).expect("app");
        assert_eq!(
            a.deleted.as_ref().map(|d| d.by.seq),
            Some(engineering_deleted),
            "{app}"
        );
    }
    assert!(!state.is_live(&EntityKey::permission_group("pg-wiki-read")));

    // The old lives, at points inside them and in the timelines.
    let before = history
        .entity_at(
            &EntityKey::group("g-acct"),
            Point::Seq(accounting_deleted - 1),
        )
        .expect("entity")
        .expect("known");
    assert!(before.links.members.contains_key(&"42".into()));
    assert_eq!(
        ids(&history
            .access(44, Point::Seq(dave_deleted - 1))
            .expect("access")),
        vec!["pg-crm", "pg-wiki-read"]
    );
    let timeline = seqs_of(
        &history
            .timeline(&EntityKey::application("app-payroll"))
            .expect("timeline"),
    );
    for seq in [org.seq.payroll_created, payroll_deleted, payroll_again] {
        assert!(timeline.contains(&seq), "{seq} in {timeline:?}");
    }
}

fn ids_of(grants: &[crate::history::Grant]) -> Vec<&str> {
    grants
        .iter()
        .map(|g| g.permission_group.id.as_str())
        .collect()
}

/// Entities the trail never saw created (they predate it) appear with what the trail knows,
/// marked as first seen where it first names them.
pub fn entities_first_seen_before_the_trail(store: &dyn Subject) {
    let w = Writer::new(store);
    let admin = Actor::user(1, "root");
    let legacy = EntityRef::new(900, "legacy");
    let old_group = EntityRef::new("g-old", "Old Timers");
    let pg = PermissionGroupRef::new(
        "pg-vault",
        "Vault",
        Scope::application(
            EntityRef::new("app-vault", "Vault"),
            EntityRef::new("ws-x", "X"),
        ),
    );
    let first = w.rec(
        &admin,
        Event::user_edited(
            legacy.clone(),
            vec![UserChange::email("old@example.com", "legacy@example.com")],
        ),
    );
    let joined = w.rec(
        &admin,
        Event::user_added_to_group(legacy.clone(), old_group.clone()),
    );
    let granted = w.rec(&admin, Event::permission_group_added(old_group, pg));
    let state = History::new(store).state_at(Point::Head).expect("state");
    let u = state.user(&"900".into()).expect("legacy");
    assert!(u.predates_trail());
    assert_eq!(u.first_seen.seq, first);
    assert_eq!(
        u.attributes.get("email"),
        Some(&FieldValue::from("legacy@example.com"))
    );
    let g = state.group(&"g-old".into()).expect("group");
    assert!(g.predates_trail());
    assert_eq!((g.first_seen.seq, g.label()), (joined, "Old Timers"));
    let app = state.application(&"app-vault".into()).expect("app");
    assert_eq!(app.first_seen.seq, granted);
    assert_eq!(app.workspace.as_ref().map(|w| w.label()), Some("X"));
    assert!(state
        .workspace(&"ws-x".into())
        .expect("ws")
        .predates_trail());
    let access = state.access(&"900".into(), &AccessFilter::Any);
    assert_eq!(access.grants.len(), 1);
    assert_eq!(
        access.grants[0].to_string(),
        "Vault (application Vault) via Old Timers"
    );
}

/// Groups nested in a loop (A in B, B in A, and a longer one) are walked once and reported.
pub fn group_cycles_terminate_and_are_reported(store: &dyn Subject) {
    let w = Writer::new(store);
    let admin = Actor::user(1, "root");
    let g = |id: &str| EntityRef::new(id, id.to_uppercase());
    let u = EntityRef::new(7, "una");
    w.rec(&admin, Event::user_added_to_group(u.clone(), g("a")));
    w.rec(&admin, Event::group_added_to_group(g("a"), g("b")));
    w.rec(&admin, Event::group_added_to_group(g("b"), g("a")));
    w.rec(&admin, Event::group_added_to_group(g("b"), g("c")));
    w.rec(&admin, Event::group_added_to_group(g("c"), g("d")));
    w.rec(&admin, Event::group_added_to_group(g("d"), g("b")));
    let pg = PermissionGroupRef::new("pg", "Root", Scope::system());
    w.rec(&admin, Event::permission_group_added(g("d"), pg));
    let access = History::new(store)
        .access(7, Point::Head)
        .expect("access terminates");
    assert_eq!(access.grants.len(), 1);
    assert_eq!(
        access.grants[0].paths[0].to_string(),
        "via A -> B -> C -> D"
    );
    assert_eq!(
        access
            .cycles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["A -> B -> A", "B -> C -> D -> B"]
    );
    let state = History::new(store).state_at(Point::Head).expect("state");
    assert_eq!(state.group_cycles().len(), 2);
}

/// Custom events, `audit.*` events and events this version does not know pass through the
/// fold without changing it or stopping it.
pub fn unknown_and_custom_events_pass_through_the_fold(store: &dyn Subject) {
    let w = Writer::new(store);
    let admin = Actor::user(1, "root");
    let alice = EntityRef::new(42, "alice");
    let ops = EntityRef::new("g-ops", "Ops");
    w.rec(
        &admin,
        Event::user_added_to_group(alice.clone(), ops.clone()),
    );
    let mut p = prep(
        &w.log,
        vec![Entry::new(
            admin.clone(),
            Event::user_deleted(alice.clone()),
        )],
    );
    let raw = json!({"event": "user.suspended", "user": {"id": "42"}, "until": "2030-01-01"});
    p[0] = p[0]
        .clone()
        .with_event_for_tests(Event::from_value(raw).expect("event object"));
    store.append(p).expect("append");
    w.rec(
        &admin,
        CustomEvent::new("billing.invoice_voided", json!({"invoice": 7}))
            .target(EntityKind::User, alice.clone()),
    );
    w.rec(
        &admin,
        CustomEvent::new("hr.user_deleted", json!({})).target(EntityKind::Group, ops.clone()),
    );
    let last = w.rec(
        &admin,
        Event::permission_group_added(ops, PermissionGroupRef::new("pg", "P", Scope::system())),
    );
    let history = History::new(store);
    let state = history.state_at(Point::Head).expect("state");
    assert_eq!(state.seq(), last);
    assert_eq!(state.unknown_events(), 1);
    assert!(
        state.is_live(&EntityKey::user(42)),
        "the unknown event did not delete alice"
    );
    assert!(state.is_live(&EntityKey::group("g-ops")));
    assert_eq!(
        ids(&history.access(42, Point::Head).expect("access")),
        vec!["pg"]
    );
    assert_eq!(
        history
            .timeline(&EntityKey::user(42))
            .expect("timeline")
            .len(),
        2,
        "membership and the custom event; the unknown event names nothing this version reads"
    );
}

/// A warm history (with snapshots), a history resumed from a saved state and a cold one give
/// the same answers, including after more records arrive.
pub fn warm_and_resumed_history_agree_with_a_cold_one(store: &dyn Subject) {
    let w = Writer::new(store);
    let org = build_org(&w);
    let cold = History::new(store);
    let warm = History::new(store).snapshot_every(16);
    let mid = cold.resolve(Point::Head).expect("head") / 2;
    let saved = serde_json::to_string(&cold.state_at(Point::Seq(mid)).expect("state"))
        .expect("state serializes");
    let resumed = History::new(store)
        .resume(serde_json::from_str::<State>(&saved).expect("state deserializes"))
        .expect("same tenant");
    let check = |at: Point| {
        let c = cold.state_at(at).expect("cold");
        assert_eq!(warm.state_at(at).expect("warm"), c, "warm at {at:?}");
        for user in [42, 44, 45, 100, 117] {
            let a = cold.access(user, at).expect("cold");
            assert_eq!(warm.access(user, at).expect("warm"), a);
            if c.seq() >= mid {
                assert_eq!(resumed.access(user, at).expect("resumed"), a);
            }
        }
    };
    check(Point::Head);
    check(Point::Seq(mid + 3));
    check(Point::Seq(17));
    w.at(day(9, 8, 0));
    w.rec(
        &org.bob,
        Event::group_removed_from_group(org.accounting.clone(), org.finance_staff.clone()),
    );
    w.rec(&org.bob, Event::user_deleted(org.dave.clone()));
    check(Point::Head);
    check(Point::Time(day(2, 10, 0)));
    let from_saved = cold
        .fold_from(
            serde_json::from_str::<State>(&saved).expect("state"),
            Point::Head,
        )
        .expect("fold from");
    assert_eq!(from_saved, cold.state_at(Point::Head).expect("cold"));
    assert!(
        cold.fold_from(State::new("other"), Point::Head).is_err(),
        "a state of another tenant is refused"
    );
    let _ = Query::new();
}

/// A trail whose beginning is gone with nothing kept of it (here imported from after its
/// start, with no purge record) is never answered as if that beginning were empty: every
/// question that needs the state is [`Error::StartUnknown`], naming the seq; timelines list
/// what remains. Asked to answer from what remains, the history does, and every answer says
/// it is incomplete.
pub fn purged_trail_folds_from_what_remains(store: &dyn Subject) {
    let source = crate::MemorySink::with_algorithm(store.chain_algorithm());
    let w = Writer::new(&source);
    let admin = Actor::user(1, "root");
    let alice = EntityRef::new(42, "alice");
    let ops = EntityRef::new("g-ops", "Ops");
    w.rec(&admin, UserCreated::new(alice.clone()).login_name("alice"));
    w.rec(&admin, Event::group_created(ops.clone()));
    w.rec(
        &admin,
        Event::user_added_to_group(alice.clone(), ops.clone()),
    );
    w.rec(
        &admin,
        Event::permission_group_added(
            ops.clone(),
            PermissionGroupRef::new("pg", "P", Scope::system()),
        ),
    );
    w.rec(
        &admin,
        Event::user_edited(alice, vec![UserChange::password_changed()]),
    );
    let tail: Vec<_> = source
        .records()
        .into_iter()
        .skip(3)
        .map(|mut r| {
            r.tenant = TenantId::new("kept");
            r
        })
        .collect();
    store
        .append_sealed(reseal(tail, store.chain_algorithm(), 3))
        .expect("import after a purge point");

    // alice's membership went with the records that are not there: an access review must
    // not come back clean.
    let strict = History::new(store).tenant("kept");
    let unknown = |r: Result<(), Error>, what: &str| match r {
        Err(Error::StartUnknown {
            through_seq: 3,
            reason,
        }) => assert!(
            reason.contains("no audit.purged record"),
            "{what}: {reason}"
        ),
        other => panic!("{what}: expected StartUnknown through 3, got {other:?}"),
    };
    unknown(strict.access(42, Point::Head).map(drop), "access");
    unknown(strict.state_at(Point::Head).map(drop), "state_at");
    unknown(
        strict
            .entity_at(&EntityKey::user(42), Point::Head)
            .map(drop),
        "entity_at",
    );
    unknown(
        strict
            .blame(42, &AccessFilter::Any, Point::Seq(3), Point::Head)
            .map(drop),
        "blame",
    );
    unknown(
        strict
            .access_changes(42, &AccessFilter::Any, Point::Seq(3), Point::Head)
            .map(drop),
        "access_changes",
    );
    unknown(
        strict
            .diff(&EntityKey::user(42), Point::Seq(3), Point::Head)
            .map(drop),
        "diff",
    );
    unknown(
        History::new(store)
            .tenant("kept")
            .warm()
            .access(42, Point::Head)
            .map(drop),
        "warm access",
    );
    // Records are there or not: the timeline needs no state, and says where it starts.
    let timeline = strict
        .timeline(&EntityKey::user(42))
        .expect("timeline of what remains");
    assert_eq!(
        timeline.iter().map(|e| e.record.seq).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(timeline.starts_after_purge, Some(3));
    let info = strict.purged().expect("purged").expect("starts after 3");
    assert_eq!((info.through_seq, info.record.is_none()), (3, true));
    assert_eq!(
        info.to_string(),
        "purged through 3 (no readable purge record says when or by whom)"
    );

    // From what remains: answers, each marked incomplete.
    let history = History::new(store).tenant("kept").from_what_remains();
    let state = history.state_at(Point::Head).expect("state");
    assert_eq!((state.started_after(), state.seq()), (3, 5));
    assert_eq!(state.unknown_through(), Some(3));
    let u = state.user(&"42".into()).expect("alice");
    assert!(u.predates_trail(), "created before the purge point");
    assert_eq!(u.first_seen.seq, 5);
    assert_eq!(u.password_changed.as_ref().map(|p| p.seq), Some(5));
    let g = state.group(&"g-ops".into()).expect("ops");
    assert_eq!(g.first_seen.seq, 4);
    let access = history.access(42, Point::Head).expect("access");
    assert!(access.grants.is_empty());
    assert_eq!(
        access.unknown_through,
        Some(3),
        "an empty answer that says it is incomplete"
    );
    let warm = History::new(store)
        .tenant("kept")
        .from_what_remains()
        .snapshot_every(2);
    assert_eq!(warm.access(42, Point::Head).expect("access"), access);
    // A point before the purge point is not an empty state: it is gone, and says so.
    assert!(matches!(
        history.state_at(Point::Seq(1)),
        Err(Error::Purged { through_seq: 3 })
    ));
    assert!(matches!(
        history.access(42, Point::Seq(2)),
        Err(Error::Purged { through_seq: 3 })
    ));
    let window = history
        .blame(42, &AccessFilter::Any, Point::Seq(1), Point::Head)
        .expect("a window that starts before the purge point");
    assert_eq!(
        (window.starts_after_purge, window.unknown_through),
        (Some(3), Some(3))
    );
    let changes = history
        .access_changes(42, &AccessFilter::Any, Point::Seq(3), Point::Head)
        .expect("access changes");
    assert_eq!(
        (changes.starts_after_purge, changes.unknown_through),
        (None, Some(3))
    );
    let diff = history
        .diff(&EntityKey::user(42), Point::Seq(0), Point::Head)
        .expect("diff");
    assert_eq!(diff.starts_after_purge, Some(3));
    assert_eq!(diff.unknown_through, Some(3));
    let from_middle = history
        .timeline_between(&EntityKey::user(42), Point::Seq(1), Point::Head)
        .expect("timeline");
    assert_eq!(from_middle.starts_after_purge, Some(3));
}
