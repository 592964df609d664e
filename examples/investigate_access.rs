//! An administrator's investigation: "alice cannot open Payroll any more, and the CRM
//! application is gone. Who did it, when, and how?"
//!
//! Builds a small organisation in a `MemorySink` (workspaces, applications, nested groups,
//! permission groups at all three scopes), lets three admins change it over a few days (one
//! of them deletes an application, another creates it again), then answers from the trail
//! alone with `History`.
//!
//! Run with `cargo run --example investigate_access`.

use audit_log::history::{AccessFilter, History, Point};
use audit_log::{
    Actor, ApplicationCreated, Attributes, AuditLog, Context, EntityKey, EntityRef, Event,
    FieldChange, ManualClock, MemorySink, PermissionGroupRef, Record, Scope, UserCreated,
};
use chrono::{Duration, TimeZone, Utc};

fn main() -> Result<(), audit_log::Error> {
    let store = MemorySink::new();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    let (root, bob, carol) = (
        Actor::user(1, "root"),
        Actor::user(2, "bob"),
        Actor::user(3, "carol"),
    );
    let rec = |actor: &Actor, e: Event| {
        clock.advance(Duration::minutes(1));
        log.record(actor, e)
    };

    // --- 2 March: root sets up the organisation. ---
    let finance = EntityRef::new("ws-fin", "Finance");
    let sales_ws = EntityRef::new("ws-sales", "Sales");
    let payroll = EntityRef::new("app-payroll", "Payroll");
    let crm = EntityRef::new("app-crm", "CRM");
    let employees = EntityRef::new("g-emp", "Employees");
    let finance_staff = EntityRef::new("g-fin", "Finance-Staff");
    let accounting = EntityRef::new("g-acct", "Accounting");
    let sales = EntityRef::new("g-sales", "Sales");
    let alice = EntityRef::new(42, "alice");
    let dave = EntityRef::new(44, "dave");
    let payroll_editors = PermissionGroupRef::new(
        "pg-payroll-ed",
        "Payroll editors",
        Scope::application(payroll.clone(), finance.clone()),
    );
    let finance_viewers = PermissionGroupRef::new(
        "pg-fin-view",
        "Finance viewers",
        Scope::workspace(finance.clone()),
    );
    let everyone = PermissionGroupRef::new("pg-login", "Can log in", Scope::system());
    let crm_users = PermissionGroupRef::new(
        "pg-crm",
        "CRM users",
        Scope::application(crm.clone(), sales_ws.clone()),
    );
    rec(&root, Event::workspace_created(finance.clone()))?;
    rec(&root, Event::workspace_created(sales_ws.clone()))?;
    rec(
        &root,
        Event::application_created(payroll.clone(), finance.clone()),
    )?;
    let mut crm_attrs = Attributes::new();
    crm_attrs.insert("url".into(), "https://crm.example.com".into());
    crm_attrs.insert("template".into(), "crm-enterprise".into());
    rec(
        &root,
        ApplicationCreated {
            application: crm.clone(),
            workspace: sales_ws.clone(),
            attributes: crm_attrs,
        }
        .into(),
    )?;
    for g in [&employees, &finance_staff, &accounting, &sales] {
        rec(&root, Event::group_created(g.clone()))?;
    }
    rec(
        &root,
        Event::group_added_to_group(accounting.clone(), finance_staff.clone()),
    )?;
    rec(
        &root,
        Event::group_added_to_group(finance_staff.clone(), employees.clone()),
    )?;
    rec(
        &root,
        Event::group_added_to_group(sales.clone(), employees.clone()),
    )?;
    rec(
        &root,
        Event::permission_group_added(finance_staff.clone(), payroll_editors.clone()),
    )?;
    rec(
        &root,
        Event::permission_group_added(finance_staff.clone(), finance_viewers),
    )?;
    rec(
        &root,
        Event::permission_group_added(employees.clone(), everyone.clone()),
    )?;
    rec(
        &root,
        Event::permission_group_added(sales.clone(), crm_users),
    )?;
    for u in [&alice, &dave] {
        rec(
            &root,
            UserCreated::new(u.clone()).login_name(u.label()).into(),
        )?;
    }
    rec(
        &root,
        Event::user_added_to_group(alice.clone(), accounting.clone()),
    )?;
    rec(
        &root,
        Event::user_added_to_group(dave.clone(), sales.clone()),
    )?;
    // alice also holds "Can log in" directly (she is on call), besides through Employees.
    rec(&root, Event::permission_user_added(alice.clone(), everyone))?;
    for i in 0..30u32 {
        let u = EntityRef::new(100 + i, format!("user{i:02}"));
        rec(
            &root,
            UserCreated::new(u.clone()).login_name(u.label()).into(),
        )?;
        let g = [&accounting, &finance_staff, &sales][i as usize % 3];
        rec(&root, Event::user_added_to_group(u, g.clone()))?;
    }

    // --- 3 to 5 March: other admins change things. ---
    clock.set(Utc.with_ymd_and_hms(2026, 3, 3, 15, 0, 0).unwrap());
    rec(
        &bob,
        Event::group_edited(
            finance_staff.clone(),
            vec![FieldChange::set("description", "Everyone in Finance")],
        ),
    )?;
    clock.set(Utc.with_ymd_and_hms(2026, 3, 4, 10, 12, 0).unwrap());
    log.record_entry(
        audit_log::Entry::new(
            bob.clone(),
            Event::group_removed_from_group(accounting.clone(), finance_staff.clone()),
        )
        .context(Context::new().reason("reorg ticket FIN-88")),
    )?;
    clock.set(Utc.with_ymd_and_hms(2026, 3, 5, 17, 40, 0).unwrap());
    rec(
        &carol,
        Event::application_deleted(crm.clone(), sales_ws.clone()),
    )?;
    // 5 March 18:05: root creates a CRM application again, with the same id.
    clock.set(Utc.with_ymd_and_hms(2026, 3, 5, 18, 5, 0).unwrap());
    rec(
        &root,
        Event::application_created(crm.clone(), sales_ws.clone()),
    )?;

    // --- 6 March: the investigation. ---
    let history = History::new(&store);
    let week_start = Point::Time(Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());

    println!("== What can alice do now? ==");
    let now = history.access(42, Point::Head)?;
    for g in &now.grants {
        println!("  {g}");
    }
    if now.grants.is_empty() {
        println!("  nothing: alice is in no permission group, not even the one to log in");
    }

    println!("\n== Why can't alice open Payroll? ==");
    let blame = history.blame(
        42,
        &AccessFilter::Application("app-payroll".into()),
        week_start,
        Point::Head,
    )?;
    for b in &blame {
        for lost in &b.lost {
            for path in &lost.paths {
                println!(
                    "alice lost access to {} at {}: {} {} (record #{}), which was how alice held {} ({}) {}{}",
                    payroll.label(),
                    b.record.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                    b.record.actor.label(),
                    action(&b.record),
                    b.record.seq,
                    lost.permission_group.label(),
                    lost.scope.describe(),
                    path,
                    b.record
                        .context
                        .reason
                        .as_ref()
                        .map(|r| format!(" (reason given: \"{r}\")"))
                        .unwrap_or_default(),
                );
            }
        }
    }

    println!("\n== Everything that changed alice's access this week ==");
    for b in history.blame(42, &AccessFilter::Any, week_start, Point::Head)? {
        println!("  {b}");
    }

    println!("\n== ... and how she holds what she kept ==");
    // access_changes reports what blame does and also the paths that went (or came) while
    // access stayed: a direct grant kept "Can log in" when her way through the groups went.
    for c in history.access_changes(42, &AccessFilter::Any, week_start, Point::Head)? {
        for change in c.changes.iter().filter(|ch| !ch.changes_access()) {
            println!(
                "  #{} {} {}: {change}",
                c.record.seq,
                c.record.actor.label(),
                action(&c.record)
            );
        }
    }

    println!("\n== Where did the CRM application go? ==");
    let state = history.state_at(Point::Head)?;
    if let Some(app) = state.application(&"app-crm".into()) {
        if let Some(d) = &app.deleted {
            println!(
                "{} was deleted by {} at {} (record #{}).",
                app.label(),
                d.by.actor.label(),
                d.by.at.format("%Y-%m-%d %H:%M UTC"),
                d.by.seq
            );
            println!("  Last known state, to restore it:");
            if let Some(ws) = &app.workspace {
                println!("    workspace: {} ({})", ws.label(), ws.id);
            }
            for (k, v) in &app.attributes {
                println!("    {k}: {}", v.display());
            }
        }
    }
    for b in history.blame(44, &AccessFilter::Any, week_start, Point::Head)? {
        println!("  so dave: {b}");
    }
    if let Some(app) = state
        .application(&"app-crm".into())
        .filter(|a| !a.is_deleted())
    {
        println!(
            "{} exists again (created by {} in record #{}), as a new application: \
             nobody's access came back with it.",
            app.label(),
            app.created.as_ref().map_or("?", |c| c.actor.label()),
            app.created.as_ref().map_or(0, |c| c.seq),
        );
        let dave_now = history.access(44, Point::Head)?;
        println!(
            "  dave holds CRM users: {}",
            if dave_now.holds(&"pg-crm".into()) {
                "yes"
            } else {
                "no, until someone grants it again"
            }
        );
    }

    println!("\n== Timeline of group Finance-Staff ==");
    for e in history.timeline(&EntityKey::group("g-fin"))? {
        println!(
            "  #{:<3} {} {}",
            e.record.seq,
            e.record.occurred_at.format("%Y-%m-%d %H:%M"),
            e.record.summary()
        );
    }

    println!("\n== Finance-Staff then and now ==");
    let diff = history.diff(&EntityKey::group("g-fin"), week_start, Point::Head)?;
    for f in &diff.fields {
        println!(
            "  field {}: {} -> {}",
            f.field,
            f.before.as_ref().map_or("(unset)".into(), |v| v.display()),
            f.after.as_ref().map_or("(unset)".into(), |v| v.display())
        );
    }
    for l in &diff.went {
        println!(
            "  no longer: {} {} {} (added in record #{} by {})",
            l.relation.as_str(),
            l.other.kind,
            state
                .entity(&l.other)
                .map_or(l.other.id.as_str(), |e| e.label()),
            l.made_by.seq,
            l.made_by.actor.label()
        );
    }
    Ok(())
}

/// What a record did, in the words an administrator uses.
fn action(r: &Record) -> String {
    match &r.event {
        Event::GroupRemovedFromGroup(e) => format!(
            "removed group {} from group {}",
            e.group.label(),
            e.parent.label()
        ),
        Event::UserRemovedFromGroup(e) => {
            format!("removed {} from group {}", e.user.label(), e.group.label())
        }
        Event::GroupDeleted(e) => format!("deleted group {}", e.group.label()),
        Event::ApplicationDeleted(e) => format!("deleted application {}", e.application.label()),
        Event::WorkspaceDeleted(e) => format!("deleted workspace {}", e.workspace.label()),
        Event::PermissionUserRemoved(e) => format!(
            "removed {} from {}",
            e.user.label(),
            e.permission_group.label()
        ),
        Event::PermissionGroupRemoved(e) => format!(
            "removed group {} from {}",
            e.group.label(),
            e.permission_group.label()
        ),
        other => other.name().to_owned(),
    }
}
