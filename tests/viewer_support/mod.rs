//! What the viewer tests share: trails to look at, a served viewer, raw tampering.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use audit_log::rusqlite::Connection;
use audit_log::web::{Viewer, ViewerAccess};
use audit_log::{
    Actor, AuditLog, Context, EntityRef, Event, ManualClock, PermissionGroupRef, Scope, SqliteSink,
    TenantId, UserChange, UserCreated,
};
use axum::Router;
use chrono::{Duration, TimeZone, Utc};

/// Where screenshots go: `target/viewer-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/viewer-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Which trail a test looks at.
#[derive(Debug, Clone, Copy)]
pub enum TrailKind {
    /// A morning at a small company: users, groups, a workspace, an application, permission
    /// groups at three scopes, nesting, and the change that cost alice her access.
    Investigation,
    /// Display names, reasons and user agents holding scripts and markup.
    Hostile,
}

pub fn investigation(store: &SqliteSink) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    let office = Context::new()
        .ip("10.0.0.17".parse().unwrap())
        .user_agent("Mozilla/5.0")
        .request_id("req-1");
    let root = log
        .scoped(Actor::user(1, "root"))
        .with_context(office.clone());
    let bob = log
        .scoped(Actor::user(2, "bob"))
        .with_context(office.request_id("req-2").reason("reorg ticket FIN-88"));
    let alice = EntityRef::new(42, "alice");
    let carol = EntityRef::new(43, "carol");
    let finance = EntityRef::new("ws-fin", "Finance");
    let payroll = EntityRef::new("app-payroll", "Payroll");
    let accounting = EntityRef::new("g-acc", "Accounting");
    let staff = EntityRef::new("g-fin", "Finance staff");
    let editors = PermissionGroupRef::new(
        "pg-payroll-edit",
        "Payroll editors",
        Scope::application(payroll.clone(), finance.clone()),
    );
    let admins = PermissionGroupRef::new("pg-admins", "Administrators", Scope::System);
    let tick = |n| clock.advance(Duration::minutes(n));
    root.record(Event::workspace_created(finance.clone()))
        .unwrap();
    tick(1);
    root.record(Event::application_created(payroll.clone(), finance.clone()))
        .unwrap();
    tick(1);
    root.record(
        UserCreated::new(alice.clone())
            .login_name("alice")
            .email("alice@example.com"),
    )
    .unwrap();
    tick(1);
    root.record(UserCreated::new(carol.clone()).login_name("carol"))
        .unwrap();
    tick(1);
    root.record(Event::group_created(accounting.clone()))
        .unwrap();
    tick(1);
    root.record(Event::group_created(staff.clone())).unwrap();
    tick(1);
    root.record(Event::user_added_to_group(
        alice.clone(),
        accounting.clone(),
    ))
    .unwrap();
    tick(1);
    root.record(Event::group_added_to_group(
        accounting.clone(),
        staff.clone(),
    ))
    .unwrap();
    tick(1);
    root.record(Event::permission_group_added(
        staff.clone(),
        editors.clone(),
    ))
    .unwrap();
    tick(1);
    root.record(Event::permission_user_added(carol.clone(), admins.clone()))
        .unwrap();
    for i in 0..20 {
        tick(3);
        let u = EntityRef::new(100 + i, format!("user{i}"));
        root.record(Event::user_created(u.clone())).unwrap();
        root.record(Event::user_added_to_group(u, accounting.clone()))
            .unwrap();
    }
    tick(5);
    bob.record(Event::user_edited(
        alice.clone(),
        vec![UserChange::password_changed()],
    ))
    .unwrap();
    tick(5);
    bob.record(Event::group_removed_from_group(
        accounting.clone(),
        staff.clone(),
    ))
    .unwrap();
    tick(5);
    bob.record(Event::permission_group_added(accounting, editors))
        .unwrap();
    tick(1);
    bob.record_outcome(Event::user_deleted(carol), audit_log::Outcome::Denied)
        .unwrap();
}

pub mod hostile_trail {
    use super::*;

    /// Scripts, markup and URL tricks where a person's text goes.
    pub const PAYLOADS: &[&str] = &[
        "<script>window.pwned=1;alert(1)</script>",
        "\"><img src=x onerror=\"window.pwned=1;alert(2)\">",
        "javascript:window.pwned=1",
        "</style><style>body{display:none}</style>",
        "<svg onload=alert(3)>",
        "'\"--><iframe src=\"https://evil.example/\"></iframe>",
    ];

    pub fn record(store: &SqliteSink) {
        let log = AuditLog::builder(store.clone()).build();
        for (i, p) in PAYLOADS.iter().enumerate() {
            let ctx = Context::new()
                .reason(*p)
                .user_agent(*p)
                .request_id(format!("req-{i}"));
            let evil = log.scoped(Actor::user("evil", *p)).with_context(ctx);
            evil.record(
                UserCreated::new(EntityRef::new("evil", *p))
                    .full_name(*p)
                    .email(*p),
            )
            .unwrap();
        }
        let ctx = Context::new().reason("<b>bold</b>");
        log.scoped(Actor::user(1, "root"))
            .with_context(ctx)
            .record(Event::custom(
                "host.note_added",
                serde_json::json!({ "note": PAYLOADS[0], "href": PAYLOADS[2] }),
            ))
            .unwrap();
    }

    /// Every link and form on the page points into the viewer.
    pub async fn assert_links_are_ours(c: &fantoccini::Client, origin: &str) {
        let targets: serde_json::Value = c
            .execute(
                "return Array.from(document.querySelectorAll('a[href], form[action]')).map(e => e.href || e.action);",
                vec![],
            )
            .await
            .unwrap();
        for t in targets.as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert!(t.starts_with(origin), "a link out of the viewer: {t}");
        }
    }
}

/// Serves `app` on a free port of 127.0.0.1, with the peer's address known to it.
pub async fn spawn_app(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (addr, server)
}

/// A viewer over a fresh SQLite file, served on 127.0.0.1 (local-only mode).
pub struct Served {
    pub path: PathBuf,
    pub addr: SocketAddr,
    pub store: SqliteSink,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(kind: TrailKind) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.db");
        let store = SqliteSink::open(&path).unwrap();
        match kind {
            TrailKind::Investigation => investigation(&store),
            TrailKind::Hostile => hostile_trail::record(&store),
        }
        let app = Router::new().nest(
            "/admin/audit",
            Viewer::new(store.clone()).local_only().into_router(),
        );
        Self::serve(app, path, store, dir).await
    }

    /// A viewer whose viewers are who the `x-viewer` header says, reading the tenant of the
    /// same name (for tenant isolation tests).
    pub async fn per_tenant(store: SqliteSink, path: PathBuf, dir: tempfile::TempDir) -> Served {
        let viewer = Viewer::new(store.clone()).authorize(|parts| {
            let who = parts.headers.get("x-viewer")?.to_str().ok()?.to_owned();
            Some(ViewerAccess::tenant(
                Actor::user(who.as_str(), who.as_str()),
                TenantId::new(who),
            ))
        });
        let app = Router::new().nest("/admin/audit", viewer.into_router());
        Self::serve(app, path, store, dir).await
    }

    async fn serve(
        app: Router,
        path: PathBuf,
        store: SqliteSink,
        dir: tempfile::TempDir,
    ) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Served {
            path,
            addr,
            store,
            _dir: dir,
            server,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Changes the actor's display snapshot of record `seq` behind the store's back (its hash no
/// longer matches).
pub fn tamper(path: &Path, seq: i64) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER audit_records_no_update;")
        .unwrap();
    conn.execute(
        "UPDATE audit_records SET actor_display = 'mallory' WHERE seq = ?1",
        [seq],
    )
    .unwrap();
}
