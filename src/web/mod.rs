//! The audit log viewer: an embeddable web page for administrators and auditors (feature
//! `web`).
//!
//! The pages of the products this crate grew from, over any store: a **timeline** filtered
//! by entity (by id, or by name: `alice`), event family and name, actor, time, outcome,
//! request and correlation id; a **detail** view of one record with its field changes, payload
//! and chain link; an **entity** view with its history, its state at any point and the diff
//! between two points; the **access** view (a user's effective access with the path and the
//! records behind each permission group, and what changed it between two points); the
//! **integrity** of the tenant's chain on every page; and **Get Audit Log**, the CSV (and JSON
//! Lines) download of the current filter, itself recorded as `audit.exported`.
//!
//! ```no_run
//! use audit_log::web::{Viewer, ViewerAccess};
//! use audit_log::{Actor, SqliteSink};
//! use axum::Router;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteSink::open("audit.db")?;
//! let viewer = Viewer::new(store)
//!     // Who is looking, and which tenants they may read: the host's own authentication.
//!     .authorize(|parts| {
//!         let user = parts.extensions.get::<String>()?; // set by the host's auth middleware
//!         Some(ViewerAccess::tenant(Actor::user(user.as_str(), user.as_str()), "default"))
//!     })
//!     .into_router();
//! let app: Router = Router::new().nest("/admin/audit", viewer);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Secure by default
//!
//! - Nothing is served until the host says who may see what: without
//!   [`authorize`](Viewer::authorize) (or the explicit [`local_only`](Viewer::local_only) mode
//!   of the demo and `audit-log serve`, which serves only connections from the loopback
//!   address) every request is refused.
//! - A viewer reads only the tenants [`ViewerAccess`] names: a record, entity or export of
//!   another tenant is "not found", never shown.
//! - Every stored text is escaped by the templates (compile-time checked, escaping by
//!   default); responses carry a `Content-Security-Policy` without inline scripts or styles,
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//!   `frame-ancestors 'none'` (see [`Viewer::frame_ancestors`]).
//! - Read-only: no request changes the trail, except that a download records
//!   `audit.exported` with the viewer as actor.
//! - Query parameters are checked before anything is read: a bad date, a huge number or a
//!   megabyte of text is a readable `400` page, never a `500` or a slow query (every filter is
//!   served by an index; pages are keyset-paged).
//!
//! # The JSON API
//!
//! Every page has its JSON twin under `api/v1/` (same parameters, same authorization, same
//! query layer), described by `api/v1/openapi.json`.
//!
//! # Without JavaScript
//!
//! The pages are server-rendered HTML with plain links and GET forms, usable by keyboard
//! alone, on a phone-width screen, in light and dark mode. Every asset (one stylesheet, one
//! small script that only enhances) is embedded in the crate and served by the viewer.

mod api;
mod assets;
mod export;
mod integrity;
mod pages;
mod params;
mod query;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ::axum::extract::{ConnectInfo, Request, State};
use ::axum::http::header::{self, HeaderValue};
use ::axum::http::request::Parts;
use ::axum::http::StatusCode;
use ::axum::middleware::{self, Next};
use ::axum::response::{IntoResponse, Response};
use ::axum::Router;

use crate::async_log::{AsyncAuditLog, AsyncHistory, AsyncStore};
use crate::log::AuditLog;
use crate::record::{Actor, TenantId};
use crate::signed::CheckpointVerifier;
use crate::sink::Store;

pub use params::{MAX_PAGE, PAGE_SIZE};

/// Who is looking at the viewer, and which tenants they may read: what the host's
/// [`authorize`](Viewer::authorize) closure answers for each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerAccess {
    /// The person (or tool) looking; the actor of the `audit.exported` records their
    /// downloads make.
    pub viewer: Actor,
    /// The tenants they may read.
    pub tenants: Tenants,
}

/// Which tenants a viewer may read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tenants {
    /// These tenants (the first is shown when a URL names none).
    Only(Vec<TenantId>),
    /// Every tenant of the store (an operator of a single-tenant host, `audit-log serve`).
    All,
}

impl ViewerAccess {
    /// `viewer` may read one tenant.
    pub fn tenant(viewer: Actor, tenant: impl Into<TenantId>) -> Self {
        ViewerAccess {
            viewer,
            tenants: Tenants::Only(vec![tenant.into()]),
        }
    }

    /// `viewer` may read these tenants.
    pub fn tenants(viewer: Actor, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        ViewerAccess {
            viewer,
            tenants: Tenants::Only(tenants.into_iter().collect()),
        }
    }

    /// `viewer` may read every tenant.
    pub fn all_tenants(viewer: Actor) -> Self {
        ViewerAccess {
            viewer,
            tenants: Tenants::All,
        }
    }

    /// Whether `tenant` may be read.
    pub fn may_read(&self, tenant: &TenantId) -> bool {
        match &self.tenants {
            Tenants::All => true,
            Tenants::Only(list) => list.contains(tenant),
        }
    }
}

type AuthorizeFn = dyn Fn(&Parts) -> Option<ViewerAccess> + Send + Sync;

/// How requests are authorized.
#[derive(Clone)]
enum Gate {
    /// Nothing configured: nothing is served.
    Closed,
    /// The host's closure.
    Host(Arc<AuthorizeFn>),
    /// Connections from the loopback address only, reading every tenant.
    LocalOnly,
}

/// The viewer: build it over a store, say who may see what, and mount its router. See the
/// [module docs](self).
#[must_use]
pub struct Viewer {
    store: Arc<dyn Store>,
    gate: Gate,
    frame_ancestors: String,
    title: String,
    checkpoint_keys: Vec<CheckpointVerifier>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("store", &self.store)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

impl Viewer {
    /// A viewer of `store`, serving nothing until [`authorize`](Self::authorize) (or
    /// [`local_only`](Self::local_only)) says who may see what. Its downloads are recorded in
    /// the same store.
    pub fn new(store: impl Store) -> Self {
        Viewer::shared(Arc::new(store))
    }

    /// A viewer of a store the host already shares.
    pub fn shared(store: Arc<dyn Store>) -> Self {
        Viewer {
            store,
            gate: Gate::Closed,
            frame_ancestors: "'none'".to_owned(),
            title: "Audit log".to_owned(),
            checkpoint_keys: Vec::new(),
        }
    }

    /// Who is looking, decided per request from its parts (the host's session, a header its
    /// proxy set, ...). `None` refuses the request (`403`).
    pub fn authorize(
        mut self,
        f: impl Fn(&Parts) -> Option<ViewerAccess> + Send + Sync + 'static,
    ) -> Self {
        self.gate = Gate::Host(Arc::new(f));
        self
    }

    /// Serves every tenant, but only to connections from the loopback address (`127.0.0.1`,
    /// `::1`); the viewer is "local operator". For the demo and `audit-log serve`: bind the
    /// listener to `127.0.0.1` and serve with `into_make_service_with_connect_info`.
    pub fn local_only(mut self) -> Self {
        self.gate = Gate::LocalOnly;
        self
    }

    /// The `frame-ancestors` directive of the page's `Content-Security-Policy`: who may show
    /// the viewer in a frame. `'none'` by default; a host that frames it in its own admin
    /// page says `'self'`.
    pub fn frame_ancestors(mut self, sources: impl Into<String>) -> Self {
        self.frame_ancestors = sources.into();
        self
    }

    /// The name shown at the top of every page (default "Audit log").
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// A public key whose signed checkpoints the integrity page checks (the signature first,
    /// then the trail against the checkpoint); without one, a signed checkpoint pasted there is
    /// checked as a plain checkpoint and the page says its signature was not.
    pub fn checkpoint_key(mut self, verifier: CheckpointVerifier) -> Self {
        self.checkpoint_keys.push(verifier);
        self
    }

    /// The router to mount (`Router::new().nest("/admin/audit", viewer.into_router())`).
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` (the local-only
    /// mode needs the peer's address).
    pub fn into_router(self) -> Router {
        let csp = format!(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {}",
            self.frame_ancestors
        );
        let shared = Arc::new(Shared {
            reader: AsyncStore::from_arc(self.store.clone()),
            log: AsyncAuditLog::new(AuditLog::builder(self.store.clone()).build()),
            histories: Mutex::new(HashMap::new()),
            integrity: integrity::Cache::default(),
            gate: self.gate,
            title: self.title,
            checkpoint_keys: self.checkpoint_keys,
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        });
        let routes = pages::routes()
            .merge(api::routes())
            .merge(export::routes())
            .merge(assets::routes())
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        routes
            .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
            .layer(middleware::from_fn_with_state(shared, security_headers))
    }
}

/// What every handler shares.
pub(crate) struct Shared {
    reader: AsyncStore,
    log: AsyncAuditLog,
    /// A warm history per tenant read so far: access questions fold only new records.
    histories: Mutex<HashMap<TenantId, AsyncHistory>>,
    integrity: integrity::Cache,
    gate: Gate,
    title: String,
    checkpoint_keys: Vec<CheckpointVerifier>,
    csp: HeaderValue,
}

type AppState = Arc<Shared>;

impl Shared {
    fn history(&self, tenant: &TenantId) -> AsyncHistory {
        let mut map = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(tenant.clone())
            .or_insert_with(|| self.reader.warm_history(tenant.clone()))
            .clone()
    }
}

/// The viewer's identity, set by [`gate`] on every request it lets through.
#[derive(Debug, Clone)]
pub(crate) struct Viewing(pub(crate) ViewerAccess);

async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let access = match &shared.gate {
        Gate::Closed => None,
        Gate::Host(f) => f(&parts),
        Gate::LocalOnly => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .filter(|ConnectInfo(peer)| peer.ip().is_loopback())
            .map(|_| ViewerAccess::all_tenants(Actor::user("local", "local operator"))),
    };
    let Some(access) = access else {
        let why = match shared.gate {
            Gate::Closed => {
                "The viewer is not set up: the host has not said who may see the audit log."
            }
            _ => "You may not view this audit log.",
        };
        return WebError::Forbidden(why.to_owned()).into_response();
    };
    parts.extensions.insert(Viewing(access));
    next.run(Request::from_parts(parts, body)).await
}

async fn security_headers(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, shared.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> WebError {
    WebError::NotFound
}

/// What a request can end in besides its page.
#[derive(Debug)]
pub(crate) enum WebError {
    /// A parameter is not acceptable: which and why.
    BadRequest(String),
    /// Nothing of that name here (or in a tenant the viewer may not read).
    NotFound,
    /// Not allowed.
    Forbidden(String),
    /// The trail cannot answer this question (its start is unknown): why.
    Unanswerable(String),
    /// The store failed.
    Store(crate::Error),
}

impl From<crate::Error> for WebError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::InvalidInput { field, reason } => {
                WebError::BadRequest(format!("{field}: {reason}"))
            }
            crate::Error::Purged { .. } => WebError::BadRequest(e.to_string()),
            crate::Error::StartUnknown {
                through_seq,
                reason,
            } => WebError::Unanswerable(format!(
                "The trail's records through seq {through_seq} were removed without the state \
                 they held ({reason}), so who had what cannot be told from what remains. The \
                 timeline still shows every record that is left."
            )),
            other => WebError::Store(other),
        }
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Unanswerable(_) => StatusCode::CONFLICT,
            WebError::Store(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the person is told: never the store's internals.
    fn message(&self) -> String {
        match self {
            WebError::BadRequest(why) => why.clone(),
            WebError::NotFound => "Nothing here: no such page, record or entity.".to_owned(),
            WebError::Forbidden(why) | WebError::Unanswerable(why) => why.clone(),
            WebError::Store(e) if e.is_transient() => {
                "The audit store is busy or unreachable; try again in a moment.".to_owned()
            }
            WebError::Store(_) => "The audit store could not answer.".to_owned(),
        }
    }

    /// The error as JSON (for the API).
    pub(crate) fn into_json(self) -> Response {
        let status = self.status();
        if let WebError::Store(e) = &self {
            log_store_error(e);
        }
        (
            status,
            ::axum::Json(serde_json::json!({ "error": self.message(), "status": status.as_u16() })),
        )
            .into_response()
    }
}

fn log_store_error(e: &crate::Error) {
    // The host's logs get the detail; the page names none of it.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "audit-log viewer: store error: {e}");
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::Store(e) = &self {
            log_store_error(e);
        }
        pages::error_page(self.status(), &self.message())
    }
}
