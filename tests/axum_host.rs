#![cfg(all(feature = "axum", feature = "sqlx-sqlite"))]
//! The example admin service (examples/axum_admin.rs) and a small test service, over real
//! HTTP on 127.0.0.1 (issue #14): each mutation yields exactly one record with the request's
//! actor, IP, user agent, request id and correlation id; forwarding headers count only from
//! trusted proxies; a failed mutation leaves no record; a client that goes away mid-request
//! leaves the change and its record both or neither.

#[allow(dead_code)]
#[path = "../examples/axum_admin.rs"]
mod admin;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use audit_log::async_log::{AsyncAuditLog, AsyncScopedLog};
use audit_log::axum::{current_context, spawn_in_context, AuditLayer};
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, EntityRef, Event, Outcome, Query, Record,
    SqliteSink, TenantId,
};
use axum::routing::{get, post};
use axum::Router;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Service {
    base: String,
    store: SqliteSink,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(router: Router, dir: tempfile::TempDir, store: SqliteSink) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(admin::serve(listener, router));
    Service {
        base,
        store,
        _dir: dir,
        server,
    }
}

/// The example service on a fresh file, trusting `proxies`.
async fn example(proxies: &[&str]) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.db");
    let router = admin::app(&path, proxies.iter().map(|p| p.parse().unwrap()).collect())
        .await
        .unwrap();
    let store = SqliteSink::open(&path).unwrap();
    start(router, dir, store).await
}

fn records(store: &SqliteSink) -> Vec<Record> {
    store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("audit-test/1.0")
        .build()
        .unwrap()
}

async fn send(
    s: &Service,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = client()
        .request(method, format!("{}{path}", s.base))
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    r.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mutation_is_one_record_with_the_requests_context() {
    use reqwest::Method;
    let s = example(&[]).await;
    let alice = send(
        &s,
        Method::POST,
        "/users",
        "root-token",
        Some(r#"{"login":"alice","full_name":"Alice","email":"a@example.com"}"#),
        &[
            ("x-request-id", "req-create-alice"),
            ("traceparent", TRACEPARENT),
        ],
    )
    .await;
    assert_eq!(alice.status(), 201);
    assert_eq!(
        alice.headers()["x-request-id"],
        "req-create-alice",
        "echoed"
    );
    let alice = alice.text().await.unwrap();
    let group = send(
        &s,
        Method::POST,
        "/groups",
        "root-token",
        Some(r#"{"name":"Ops"}"#),
        &[],
    )
    .await;
    let generated = group.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated).is_ok(),
        "a new request id: {generated}"
    );
    let group = group.text().await.unwrap();
    let member = send(
        &s,
        Method::PUT,
        &format!("/groups/{group}/members/{alice}"),
        "root-token",
        None,
        &[("x-request-id", "bad id with spaces")],
    )
    .await;
    assert_eq!(member.status(), 204);
    let replaced = member.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replaced, "bad id with spaces");

    let r = records(&s.store);
    assert_eq!(r.len(), 3, "one record per mutation");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    for rec in &r {
        assert_eq!(rec.actor, Actor::user(1, "root"));
        assert_eq!(rec.context.ip, Some(localhost));
        assert_eq!(rec.context.user_agent.as_deref(), Some("audit-test/1.0"));
        assert_eq!(rec.outcome, Outcome::Success);
    }
    assert_eq!(r[0].event.name(), "user.created");
    assert_eq!(r[0].context.request_id.as_deref(), Some("req-create-alice"));
    assert_eq!(
        r[0].context.correlation_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(r[1].context.request_id.as_deref(), Some(generated.as_str()));
    assert_eq!(r[1].context.correlation_id, None);
    assert_eq!(r[2].event.name(), "user.added_to_group");
    assert_eq!(r[2].context.request_id.as_deref(), Some(replaced.as_str()));

    // A refused change is on record as denied, with the refused actor.
    let denied = send(
        &s,
        Method::DELETE,
        &format!("/users/{alice}"),
        "bob-token",
        None,
        &[],
    )
    .await;
    assert_eq!(denied.status(), 403);
    let r = records(&s.store);
    assert_eq!(r.len(), 4);
    assert_eq!(
        (r[3].actor.id.as_str(), r[3].outcome),
        ("2", Outcome::Denied)
    );
    assert!(s.store.verify(&TenantId::default()).unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mutation_leaves_no_record() {
    use reqwest::Method;
    let s = example(&[]).await;
    let body = r#"{"login":"alice","full_name":"Alice","email":"a@example.com"}"#;
    assert_eq!(
        send(&s, Method::POST, "/users", "root-token", Some(body), &[])
            .await
            .status(),
        201
    );
    // The same login again: the insert fails, the transaction rolls back, nothing recorded.
    assert_eq!(
        send(&s, Method::POST, "/users", "root-token", Some(body), &[])
            .await
            .status(),
        409
    );
    assert_eq!(
        send(&s, Method::DELETE, "/users/999", "root-token", None, &[])
            .await
            .status(),
        404
    );
    assert_eq!(
        send(
            &s,
            Method::DELETE,
            "/groups/7/members/1",
            "root-token",
            None,
            &[]
        )
        .await
        .status(),
        404
    );
    // Not signed in: nothing happens, nothing is recorded.
    assert_eq!(
        send(&s, Method::DELETE, "/users/1", "nobody", None, &[])
            .await
            .status(),
        401
    );
    let r = records(&s.store);
    assert_eq!(
        r.len(),
        1,
        "{:?}",
        r.iter().map(|r| r.summary()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    use reqwest::Method;
    let spoof = [
        ("x-forwarded-for", "203.0.113.66"),
        ("forwarded", "for=198.51.100.1"),
    ];
    let body = r#"{"name":"G"}"#;
    // Nobody trusted: the peer is on record, whatever the client claims.
    let untrusted = example(&[]).await;
    send(
        &untrusted,
        Method::POST,
        "/groups",
        "root-token",
        Some(body),
        &spoof,
    )
    .await;
    assert_eq!(
        records(&untrusted.store)[0].context.ip,
        Some("127.0.0.1".parse().unwrap())
    );
    // 127.0.0.1 is a trusted proxy: the client it names is on record (Forwarded first).
    let trusted = example(&["127.0.0.1/32"]).await;
    send(
        &trusted,
        Method::POST,
        "/groups",
        "root-token",
        Some(body),
        &spoof,
    )
    .await;
    send(
        &trusted,
        Method::POST,
        "/groups",
        "root-token",
        Some(body),
        &[("x-forwarded-for", "6.6.6.6, 192.0.2.44")],
    )
    .await;
    let r = records(&trusted.store);
    assert_eq!(r[0].context.ip, Some("198.51.100.1".parse().unwrap()));
    assert_eq!(
        r[1].context.ip,
        Some("192.0.2.44".parse().unwrap()),
        "the nearest hop"
    );
}

// ---- A test service: the pieces a host combines, one by one ---------------------------------

/// A store file with a `changes` table, the log over it, and a sqlx pool.
async fn test_parts() -> (
    tempfile::TempDir,
    SqliteSink,
    AsyncAuditLog,
    sqlx::SqlitePool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteSink::open(&path).unwrap();
    let log = AsyncAuditLog::new(AuditLog::builder(store.clone()).build());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE changes (id INTEGER PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    (dir, store, log, pool)
}

/// A change whose transaction commits after `before_commit`, then answers after
/// `after_commit`.
async fn slow_change(
    pool: sqlx::SqlitePool,
    audit: AsyncScopedLog,
    before_commit: Duration,
    after_commit: Duration,
) -> Result<&'static str, audit_log::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO changes DEFAULT VALUES")
        .execute(&mut *tx)
        .await
        .unwrap();
    let record = audit
        .sync()
        .log()
        .prepare(audit.entry(Event::user_deleted(EntityRef::id_only(1))))?;
    audit_log::sqlx::append_in_sqlite(&mut tx, vec![record]).await?;
    tokio::time::sleep(before_commit).await;
    tx.commit().await.unwrap();
    tokio::time::sleep(after_commit).await;
    Ok("done")
}

async fn changes(pool: &sqlx::SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM changes")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_both_or_neither() {
    let (dir, store, log, pool) = test_parts().await;
    let (p1, p2) = (pool.clone(), pool.clone());
    let router = Router::new()
        .route(
            "/slow-commit",
            post(move |audit: AsyncScopedLog| {
                slow_change(
                    p1.clone(),
                    audit,
                    Duration::from_millis(800),
                    Duration::ZERO,
                )
            }),
        )
        .route(
            "/slow-answer",
            post(move |audit: AsyncScopedLog| {
                slow_change(
                    p2.clone(),
                    audit,
                    Duration::ZERO,
                    Duration::from_millis(800),
                )
            }),
        )
        .layer(AuditLayer::new(log).actor(|_| Some(Actor::user(1, "root"))));
    let s = start(router, dir, store).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    // Gone before the commit: the handler is dropped with its transaction, so neither.
    assert!(impatient
        .post(format!("{}/slow-commit", s.base))
        .send()
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        (changes(&pool).await, records(&s.store).len()),
        (0, 0),
        "neither"
    );
    // Gone after the commit: both.
    assert!(impatient
        .post(format!("{}/slow-answer", s.base))
        .send()
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        (changes(&pool).await, records(&s.store).len()),
        (1, 1),
        "both"
    );
    assert!(s.store.verify(&TenantId::default()).unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_reaches_spawned_work_only_when_carried() {
    let (dir, store, log, _pool) = test_parts().await;
    let router = Router::new()
        .route(
            "/spawn",
            get(|| async {
                let here = current_context().and_then(|c| c.request_id);
                let carried =
                    spawn_in_context(async { current_context().and_then(|c| c.request_id) })
                        .await
                        .unwrap();
                let lost = tokio::spawn(async { current_context().is_some() })
                    .await
                    .unwrap();
                format!("{here:?}|{carried:?}|{lost}")
            }),
        )
        .route(
            "/no-actor",
            post(|audit: AsyncScopedLog| async move {
                audit
                    .record(Event::user_deleted(EntityRef::id_only(1)))
                    .await
                    .map(|_| "recorded")
            }),
        )
        .layer(AuditLayer::new(log).actor(|_| None));
    let s = start(router, dir, store).await;
    let answer = client()
        .get(format!("{}/spawn", s.base))
        .header("x-request-id", "req-9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(answer, r#"Some("req-9")|Some("req-9")|false"#);
    // Without an actor nobody records: 401, and nothing on record.
    let refused = client()
        .post(format!("{}/no-actor", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(records(&s.store).is_empty());
}

#[tokio::test]
async fn a_route_outside_the_layer_is_a_server_error_not_a_silent_record() {
    let (dir, store, _log, _pool) = test_parts().await;
    let router = Router::new().route(
        "/x",
        post(|audit: AsyncScopedLog| async move {
            audit
                .record(Event::user_deleted(EntityRef::id_only(1)))
                .await
                .map(|_| "recorded")
        }),
    );
    let s = start(router, dir, store).await;
    let r = client().post(format!("{}/x", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert!(records(&s.store).is_empty());
    let _: SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
}
