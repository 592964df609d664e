//! A small admin service, as an async host would write it: axum, its own tables in SQLite
//! through sqlx, and every change recorded in the same transaction as the change itself.
//!
//! ```text
//! cargo run --example axum_admin --features axum,sqlx-sqlite
//! # then, in another terminal:
//! curl -X POST localhost:3000/users -H 'authorization: Bearer root-token' \
//!      -H 'content-type: application/json' -d '{"login":"alice","full_name":"Alice","email":"alice@example.com"}'
//! curl localhost:3000/audit/user/1 -H 'authorization: Bearer root-token'
//! ```
//!
//! With `--self-test` it serves on a free port, sends itself a few requests, prints the trail
//! and exits (what CI runs).
// ci-args: --self-test

use std::net::SocketAddr;
use std::path::Path;

use audit_log::async_log::{AsyncAuditLog, AsyncScopedLog, AsyncStore};
use audit_log::axum::AuditLayer;
use audit_log::{
    Actor, AuditLog, EntityKey, EntityRef, Event, Outcome, PermissionGroupRef, Query, Scope,
    SqliteSink, UserCreated,
};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use serde::Deserialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The service's state: its own database (which also holds the audit trail) and the trail's
/// reader.
#[derive(Clone)]
pub struct AppState {
    db: SqlitePool,
    trail: AsyncStore,
}

/// Who is signed in: what the host's authentication middleware finds.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    id: u64,
    login: &'static str,
    admin: bool,
}

/// The host's authentication: a bearer token per administrator (a real service asks its
/// identity provider).
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match token {
        Some("root-token") => CurrentUser {
            id: 1,
            login: "root",
            admin: true,
        },
        Some("bob-token") => CurrentUser {
            id: 2,
            login: "bob",
            admin: false,
        },
        _ => return (StatusCode::UNAUTHORIZED, "sign in first").into_response(),
    };
    request.extensions_mut().insert(user);
    next.run(request).await
}

/// What a handler can answer with.
#[derive(Debug)]
pub enum AppError {
    NotFound(&'static str),
    Forbidden,
    Conflict(String),
    Database(sqlx::Error),
    Audit(audit_log::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Database(e)
    }
}

impl From<audit_log::Error> for AppError {
    fn from(e: audit_log::Error) -> Self {
        AppError::Audit(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound(what) => {
                (StatusCode::NOT_FOUND, format!("no such {what}")).into_response()
            }
            AppError::Forbidden => (StatusCode::FORBIDDEN, "administrators only").into_response(),
            AppError::Conflict(why) => (StatusCode::CONFLICT, why).into_response(),
            AppError::Database(e) => {
                eprintln!("database error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response()
            }
            AppError::Audit(e) => e.into_response(),
        }
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Begins a change: a non-administrator is refused, and the refusal is on record too
/// (outcome `denied`, the `attempt` event with what the request named); an administrator
/// gets the transaction in which the change and its record are written ([`finish`]).
async fn begin(
    state: &AppState,
    audit: &AsyncScopedLog,
    me: &CurrentUser,
    attempt: Event,
) -> Result<Tx, AppError> {
    if !me.admin {
        audit.record_outcome(attempt, Outcome::Denied).await?;
        return Err(AppError::Forbidden);
    }
    // Immediate: the write lock first, so the trail's head is read under it. On any error
    // before `finish`, the transaction is dropped: the change and its record roll back
    // together.
    Ok(state.db.begin_with("BEGIN IMMEDIATE").await?)
}

/// Ends a change: its record `event` (with the names read in the same transaction) is
/// appended in the transaction, which then commits.
async fn finish(
    mut tx: Tx,
    audit: &AsyncScopedLog,
    event: impl Into<Event>,
) -> Result<(), AppError> {
    let record = audit.sync().log().prepare(audit.entry(event))?;
    audit_log::sqlx::append_in_sqlite(&mut tx, vec![record]).await?;
    tx.commit().await?;
    Ok(())
}

/// The user `id` as the trail names it (its login as display snapshot).
async fn user_ref(tx: &mut Tx, id: i64) -> Result<EntityRef, AppError> {
    let login: Option<String> = sqlx::query_scalar("SELECT login FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(EntityRef::new(id, login.ok_or(AppError::NotFound("user"))?))
}

/// The group `id` as the trail names it.
async fn group_ref(tx: &mut Tx, id: i64) -> Result<EntityRef, AppError> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM groups WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(EntityRef::new(
        format!("g{id}"),
        name.ok_or(AppError::NotFound("group"))?,
    ))
}

/// A system-wide permission group (a role) of the service.
fn role(name: &str) -> Result<PermissionGroupRef, AppError> {
    match name {
        "admins" | "auditors" => Ok(PermissionGroupRef::new(
            format!("role-{name}"),
            name,
            Scope::System,
        )),
        _ => Err(AppError::NotFound("role")),
    }
}

#[derive(Deserialize)]
pub struct NewUser {
    login: String,
    full_name: String,
    email: String,
}

async fn create_user(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, String), AppError> {
    let attempt = Event::user_created(EntityRef::new("new", new.login.as_str()));
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (login, full_name, email) VALUES (?, ?, ?) RETURNING id",
    )
    .bind(&new.login)
    .bind(&new.full_name)
    .bind(&new.email)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AppError::Conflict(format!("login {} is taken", new.login))
        }
        _ => AppError::Database(e),
    })?;
    let event = UserCreated::new(EntityRef::new(id, new.login.as_str()))
        .login_name(new.login.as_str())
        .full_name(new.full_name.as_str())
        .email(new.email.as_str());
    finish(tx, &audit, event).await?;
    Ok((StatusCode::CREATED, id.to_string()))
}

async fn delete_user(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    UrlPath(id): UrlPath<i64>,
) -> Result<StatusCode, AppError> {
    let mut tx = begin(
        &state,
        &audit,
        &me,
        Event::user_deleted(EntityRef::id_only(id)),
    )
    .await?;
    let user = user_ref(&mut tx, id).await?;
    sqlx::query("DELETE FROM memberships WHERE user_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    finish(tx, &audit, Event::user_deleted(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct NewGroup {
    name: String,
}

async fn create_group(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    Json(new): Json<NewGroup>,
) -> Result<(StatusCode, String), AppError> {
    let attempt = Event::group_created(EntityRef::new("new", new.name.as_str()));
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let id: i64 = sqlx::query_scalar("INSERT INTO groups (name) VALUES (?) RETURNING id")
        .bind(&new.name)
        .fetch_one(&mut *tx)
        .await?;
    let group = EntityRef::new(format!("g{id}"), new.name.as_str());
    finish(tx, &audit, Event::group_created(group)).await?;
    Ok((StatusCode::CREATED, id.to_string()))
}

async fn add_member(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    UrlPath((gid, uid)): UrlPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let attempt = Event::user_added_to_group(
        EntityRef::id_only(uid),
        EntityRef::id_only(format!("g{gid}")),
    );
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let (group, user) = (
        group_ref(&mut tx, gid).await?,
        user_ref(&mut tx, uid).await?,
    );
    sqlx::query("INSERT OR IGNORE INTO memberships (user_id, group_id) VALUES (?, ?)")
        .bind(uid)
        .bind(gid)
        .execute(&mut *tx)
        .await?;
    finish(tx, &audit, Event::user_added_to_group(user, group)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    UrlPath((gid, uid)): UrlPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let attempt = Event::user_removed_from_group(
        EntityRef::id_only(uid),
        EntityRef::id_only(format!("g{gid}")),
    );
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let (group, user) = (
        group_ref(&mut tx, gid).await?,
        user_ref(&mut tx, uid).await?,
    );
    let gone = sqlx::query("DELETE FROM memberships WHERE user_id = ? AND group_id = ?")
        .bind(uid)
        .bind(gid)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(AppError::NotFound("membership"));
    }
    finish(tx, &audit, Event::user_removed_from_group(user, group)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant_group(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    UrlPath((name, gid)): UrlPath<(String, i64)>,
) -> Result<StatusCode, AppError> {
    let role = role(&name)?;
    let attempt =
        Event::permission_group_added(EntityRef::id_only(format!("g{gid}")), role.clone());
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let group = group_ref(&mut tx, gid).await?;
    sqlx::query("INSERT OR IGNORE INTO role_groups (role, group_id) VALUES (?, ?)")
        .bind(&name)
        .bind(gid)
        .execute(&mut *tx)
        .await?;
    finish(tx, &audit, Event::permission_group_added(group, role)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_group(
    State(state): State<AppState>,
    audit: AsyncScopedLog,
    axum::Extension(me): axum::Extension<CurrentUser>,
    UrlPath((name, gid)): UrlPath<(String, i64)>,
) -> Result<StatusCode, AppError> {
    let role = role(&name)?;
    let attempt =
        Event::permission_group_removed(EntityRef::id_only(format!("g{gid}")), role.clone());
    let mut tx = begin(&state, &audit, &me, attempt).await?;
    let group = group_ref(&mut tx, gid).await?;
    let gone = sqlx::query("DELETE FROM role_groups WHERE role = ? AND group_id = ?")
        .bind(&name)
        .bind(gid)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(AppError::NotFound("grant"));
    }
    finish(tx, &audit, Event::permission_group_removed(group, role)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The records that name an entity (`/audit/user/1`), newest first, as summary lines.
async fn entity_trail(
    State(state): State<AppState>,
    UrlPath((kind, id)): UrlPath<(String, String)>,
) -> Result<Json<Vec<String>>, AppError> {
    let key = EntityKey::new(audit_log::EntityKind::parse(&kind), id);
    let mut lines = Vec::new();
    let mut records = state
        .trail
        .query(Query::new().entity(key).descending().limit(100));
    while let Some(record) = records.next().await {
        let r = record?;
        lines.push(format!(
            "#{} {} {}",
            r.seq,
            r.occurred_at.format("%H:%M:%S"),
            audit_log::text::for_terminal(&r.summary())
        ));
    }
    Ok(Json(lines))
}

/// The service: its routes behind the host's authentication and the audit layer. The trail
/// lives in the service's own SQLite file, beside its tables.
pub async fn app(
    db_path: &Path,
    trusted_proxies: Vec<ipnet::IpNet>,
) -> Result<Router, Box<dyn std::error::Error>> {
    // Opening the store once installs the trail's tables in the file.
    let store = SqliteSink::open(db_path)?;
    let log = AsyncAuditLog::new(AuditLog::builder(store.clone()).build());
    let options = SqliteConnectOptions::new()
        .filename(db_path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(10))
        .foreign_keys(true);
    let db = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, full_name TEXT, email TEXT);
         CREATE TABLE IF NOT EXISTS groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS memberships (user_id INTEGER, group_id INTEGER, PRIMARY KEY (user_id, group_id));
         CREATE TABLE IF NOT EXISTS role_groups (role TEXT, group_id INTEGER, PRIMARY KEY (role, group_id));",
    )
    .execute(&db)
    .await?;
    let state = AppState {
        db,
        trail: AsyncStore::new(store),
    };
    let audit = AuditLayer::new(log)
        // Requests through these proxies may name their client (X-Forwarded-For); from
        // anyone else the connection's address is on record.
        .trust_proxies(trusted_proxies)
        .actor(|parts| {
            let me = parts.extensions.get::<CurrentUser>()?;
            Some(Actor::user(me.id, me.login))
        });
    Ok(Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", axum::routing::delete(delete_user))
        .route("/groups", post(create_group))
        .route(
            "/groups/{gid}/members/{uid}",
            put(add_member).delete(remove_member),
        )
        .route(
            "/roles/{role}/groups/{gid}",
            put(grant_group).delete(revoke_group),
        )
        .route("/audit/{kind}/{id}", get(entity_trail))
        .layer(middleware::from_fn(authenticate))
        // Outermost: every request gets its context, also those authentication refuses.
        .layer(audit)
        .with_state(state))
}

/// Serves `router` on `listener` with the peer address known to the audit layer.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The self-test: a few requests as an administrator and as a non-administrator.
async fn self_test(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, token: &str, body: Option<&str>| {
        let mut r = http
            .request(method, format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .header("x-request-id", "self-test-1");
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        r.send()
    };
    use reqwest::Method;
    let alice = send(
        Method::POST,
        "/users",
        "root-token",
        Some(r#"{"login":"alice","full_name":"Alice","email":"alice@example.com"}"#),
    )
    .await?
    .text()
    .await?;
    let group = send(
        Method::POST,
        "/groups",
        "root-token",
        Some(r#"{"name":"Accounting"}"#),
    )
    .await?
    .text()
    .await?;
    send(
        Method::PUT,
        &format!("/groups/{group}/members/{alice}"),
        "root-token",
        None,
    )
    .await?;
    send(
        Method::PUT,
        &format!("/roles/auditors/groups/{group}"),
        "root-token",
        None,
    )
    .await?;
    let denied = send(
        Method::DELETE,
        &format!("/users/{alice}"),
        "bob-token",
        None,
    )
    .await?
    .status();
    println!("bob deleting alice: {denied}");
    let missing = send(Method::DELETE, "/users/999", "root-token", None)
        .await?
        .status();
    println!("root deleting user 999: {missing}");
    let trail: Vec<String> = send(
        Method::GET,
        &format!("/audit/user/{alice}"),
        "root-token",
        None,
    )
    .await?
    .json()
    .await?;
    println!("The trail of alice, newest first:");
    for line in trail {
        println!("  {line}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test_mode = std::env::args().any(|a| a == "--self-test");
    let db_path = Path::new("axum-admin.db");
    if self_test_mode {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
        }
    }
    let proxies = std::env::var("AUDIT_LOG_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    let router = app(db_path, proxies).await?;
    let addr = if self_test_mode {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    if self_test_mode {
        let server = tokio::spawn(serve(listener, router));
        self_test(&base).await?;
        server.abort();
        return Ok(());
    }
    println!(
        "admin service on {base} (audit trail and tables in {})",
        db_path.display()
    );
    println!("try: curl -X POST {base}/users -H 'authorization: Bearer root-token' -H 'content-type: application/json' -d '{{\"login\":\"alice\",\"full_name\":\"Alice\",\"email\":\"alice@example.com\"}}'");
    serve(listener, router).await?;
    Ok(())
}
