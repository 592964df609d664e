//! The audit log viewer over the demo's trail, served to this machine only.
//!
//! ```text
//! cargo run --example demo                              # writes ./audit-demo.db
//! cargo run --example viewer --features web             # http://127.0.0.1:8080/admin/audit
//! cargo run --example viewer --features web -- other.db # another SQLite store
//! ```
//!
//! The viewer is mounted under `/admin/audit`, as a host mounts it in its own admin area.
//! Local-only mode serves every tenant, but only to connections from 127.0.0.1; a host says
//! who may see what with `Viewer::authorize` instead. Without the demo's file, a small trail
//! is made first. With `--self-test` it serves on a free port, fetches its pages and exits
//! (what CI runs).
// ci-args: --self-test

use std::net::SocketAddr;
use std::path::PathBuf;

use audit_log::web::Viewer;
use audit_log::{Actor, AuditLog, EntityRef, Event, PermissionGroupRef, Scope, SqliteSink};
use axum::Router;

/// A few changes, for a viewer started without the demo's trail.
fn small_trail(store: &SqliteSink) -> Result<(), audit_log::Error> {
    let log = AuditLog::builder(store.clone()).build();
    let root = log.scoped(Actor::user(1, "root"));
    let alice = EntityRef::new(42, "alice");
    let ops = EntityRef::new("g-ops", "Operations");
    let admins = PermissionGroupRef::new("pg-admins", "Administrators", Scope::System);
    root.record(Event::user_created(alice.clone()))?;
    root.record(Event::group_created(ops.clone()))?;
    root.record(Event::user_added_to_group(alice, ops.clone()))?;
    root.record(Event::permission_group_added(ops, admins))?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("audit-demo.db"));
    let fresh = !path.exists();
    let store = SqliteSink::open(&path)?;
    if fresh {
        small_trail(&store)?;
    }
    let viewer = Viewer::new(store).local_only().into_router();
    let app = Router::new().nest("/admin/audit", viewer);
    let addr = if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}/admin/audit", listener.local_addr()?);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    if !self_test {
        println!(
            "The audit log of {} on {url} (this machine only; Ctrl-C stops it)",
            path.display()
        );
        server.await?;
        return Ok(());
    }
    let server = tokio::spawn(async move { server.await });
    for page in [
        "",
        "/access?user=alice",
        "/entities/user/42",
        "/records/1",
        "/integrity",
    ] {
        let response = reqwest::get(format!("{url}{page}")).await?;
        let status = response.status();
        let body = response.text().await?;
        let title = body
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or("?");
        println!("GET /admin/audit{page}: {status} {title}");
    }
    server.abort();
    Ok(())
}
