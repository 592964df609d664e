//! The administrator's download: record a few changes, then write the trail as CSV with its
//! manifest, and check the export against the manifest as an auditor would.
//!
//! ```text
//! cargo run --example export_csv            # writes to a new directory under the temp dir
//! cargo run --example export_csv -- out/    # writes to out/
//! ```

use std::path::PathBuf;

use audit_log::export::{manifest_path, verify_export_file};
use audit_log::{
    Actor, AuditLog, Context, CsvExport, EntityRef, Event, FieldChange, MemorySink,
    PermissionGroupRef, Query, Scope, UserChange, UserCreated,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("audit-log-export-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;

    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let admin = log
        .scoped(Actor::user(1, "root"))
        .with_context(Context::new().request_id("req-42").reason("onboarding Zoë"));

    let zoe = EntityRef::new(42, "zoe");
    let ops = EntityRef::new(7, "Operations");
    admin.record(
        UserCreated::new(zoe.clone())
            .full_name("Zoë Ångström")
            .email("zoe@example.com"),
    )?;
    admin.record(Event::user_added_to_group(zoe.clone(), ops.clone()))?;
    admin.record(Event::group_edited(
        ops,
        vec![FieldChange::new("name", "Ops", "Operations")],
    ))?;
    admin.record(Event::user_edited(
        zoe.clone(),
        vec![UserChange::password_changed()],
    ))?;
    let editors = PermissionGroupRef::new(
        9,
        "Payroll editors",
        Scope::application(EntityRef::new(3, "Payroll"), EntityRef::new(1, "Finance")),
    );
    admin.record(Event::permission_user_added(zoe, editors))?;
    // A name chosen to attack the spreadsheet: it is written as text, not run.
    log.record(
        &Actor::user(66, "=HYPERLINK(\"http://evil.example\",\"click\")"),
        Event::user_deleted(EntityRef::new(43, "bob")),
    )?;

    let file = dir.join("audit-trail.csv");
    let manifest = CsvExport::new()
        .bom(true)
        .record_to(&log, Actor::user(1, "root"))
        .to_file(&store, &Query::new(), &file)?;

    println!("CSV:      {}", file.display());
    println!("manifest: {}", manifest_path(&file).display());
    println!("{}", manifest.to_json());
    println!("{}", verify_export_file(&file)?);
    Ok(())
}
