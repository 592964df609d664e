//! The main demo: a morning of administrative changes in a small company, recorded in a
//! SQLite store, printed as a trail, questioned, verified, and downloaded as the
//! administrator's CSV.
//!
//! ```text
//! cargo run --example demo                       # ./audit-demo.db (made afresh each run)
//! cargo run --example demo -- path/to/trail.db   # a store of your own (appended to)
//! cargo run --example demo --features postgres -- postgres://postgres@127.0.0.1:5432/test
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use audit_log::export::manifest_path;
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, Context, CsvExport, EntityKey, EntityRef, Event,
    FieldChange, ManualClock, Outcome, PermissionGroupRef, Query, Scope, SqliteSink, Store,
    UserChange, UserCreated,
};
use chrono::{Duration, TimeZone, Utc};

/// The store named on the command line: a SQLite file by default, or a PostgreSQL URL.
fn open_store() -> Result<(Arc<dyn Store>, PathBuf), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    if let Some(url) = arg.as_deref().filter(|a| a.starts_with("postgres")) {
        #[cfg(feature = "postgres")]
        {
            let store = audit_log::PostgresSink::connect(url)?;
            println!("Store: PostgreSQL, schema {}", store.schema());
            return Ok((Arc::new(store), PathBuf::from("audit-demo")));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(format!("{url}: rebuild with --features postgres to use PostgreSQL").into());
    }
    let path = match arg {
        Some(p) => PathBuf::from(p),
        None => {
            // The default demo store is made afresh, so the story reads the same every run.
            let p = PathBuf::from("audit-demo.db");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
            p
        }
    };
    let store = SqliteSink::open(&path)?;
    println!("Store: SQLite file {}", path.display());
    Ok((Arc::new(store), path.with_extension("")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (store, stem) = open_store()?;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 8, 55, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();

    // The cast.
    let root = Actor::user(1, "root");
    let bob = Actor::user(2, "bob");
    let hr_sync = Actor::service("hr-sync");
    let alice = EntityRef::new(42, "alice");
    let carol = EntityRef::new(43, "carol");
    let finance = EntityRef::new("ws-fin", "Finance");
    let payroll = EntityRef::new("app-payroll", "Payroll");
    let accounting = EntityRef::new("g-acc", "Accounting");
    let finance_staff = EntityRef::new("g-fin", "Finance staff");
    let editors = PermissionGroupRef::new(
        "pg-payroll-edit",
        "Payroll editors",
        Scope::application(payroll.clone(), finance.clone()),
    );

    let office = Context::new()
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 17)))
        .user_agent("Mozilla/5.0")
        .request_id("req-7f3a");
    let as_root = log.scoped(root).with_context(office.clone());
    let as_bob = log
        .scoped(bob)
        .with_context(office.reason("ticket OPS-1234: reorganise finance"));
    let tick = || clock.advance(Duration::minutes(3));

    // 08:58 the workspace and its application.
    tick();
    as_root.record(Event::workspace_created(finance.clone()))?;
    tick();
    as_root.record(Event::application_created(payroll.clone(), finance.clone()))?;
    // Users arrive from the HR system, in one atomic batch.
    tick();
    log.scoped(hr_sync).record_batch([
        UserCreated::new(alice.clone())
            .login_name("alice")
            .full_name("Alice Liddell")
            .email("alice@example.com")
            .into(),
        UserCreated::new(carol.clone())
            .login_name("carol")
            .full_name("Carol Danvers")
            .into(),
    ])?;
    // Groups, nesting, and the permission that flows through them.
    tick();
    as_root.record(Event::group_created(accounting.clone()))?;
    as_root.record(Event::group_created(finance_staff.clone()))?;
    as_root.record(Event::group_added_to_group(
        accounting.clone(),
        finance_staff.clone(),
    ))?;
    as_root.record(Event::user_added_to_group(
        alice.clone(),
        accounting.clone(),
    ))?;
    as_root.record(Event::permission_group_added(
        finance_staff.clone(),
        editors.clone(),
    ))?;
    // alice changes her password; the trail says so and nothing more.
    tick();
    log.record(
        &Actor::user(42, "alice"),
        Event::user_edited(alice.clone(), vec![UserChange::password_changed()]),
    )?;
    // carol tries to give herself access and is refused.
    tick();
    log.scoped(Actor::user(43, "carol")).record_outcome(
        Event::permission_user_added(carol.clone(), editors.clone()),
        Outcome::Denied,
    )?;
    // bob reorganises finance: renames a group, then unhooks Accounting from Finance staff.
    tick();
    as_bob.record(Event::group_edited(
        accounting.clone(),
        vec![FieldChange::new("name", "Accounting", "Accounts payable")],
    ))?;
    tick();
    as_bob.record(Event::group_removed_from_group(
        accounting.clone(),
        finance_staff.clone(),
    ))?;

    let tenant = log.default_tenant().clone();
    println!(
        "The trail ({} records):",
        store.head(&tenant)?.map_or(0, |h| h.seq)
    );
    for r in store.query(&Query::new())? {
        let r = r?;
        println!(
            "  #{:<2} {}  {}",
            r.seq,
            r.occurred_at.format("%Y-%m-%d %H:%M"),
            r.summary()
        );
    }

    println!("\nWhat happened to group Accounting, newest first:");
    for r in store.query(&Query::new().entity(EntityKey::group("g-acc")).descending())? {
        let r = r?;
        let why = r.context.reason.as_deref().unwrap_or("-");
        println!("  #{} {} (reason: {why})", r.seq, r.summary());
    }

    println!("\nRefused attempts:");
    for r in store.query(&Query::new().outcome(Outcome::Denied))? {
        println!("  {}", r?.summary());
    }

    let report = store.verify(&tenant)?;
    println!("\nVerification: {report}");
    if let Some(cp) = store.checkpoint(&tenant)? {
        println!("Checkpoint to keep elsewhere: {}", cp.to_json());
    }

    // The administrator's "Get Audit Log" button: the whole trail as CSV, with a manifest an
    // auditor can check offline. The BOM lets spreadsheets read non-ASCII names correctly.
    let csv = stem.with_extension("csv");
    let manifest = CsvExport::new()
        .bom(true)
        .to_file(&*store, &Query::new(), &csv)?;
    println!(
        "\nDownloaded {} records as {} (manifest: {})",
        manifest.count,
        csv.display(),
        manifest_path(&csv).display()
    );
    Ok(())
}
