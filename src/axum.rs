//! The request context, filled once (feature `axum`).
//!
//! [`AuditLayer`] is a tower [`Layer`](tower::Layer) (it works around any tower service, not
//! only an axum router) that gives every request its record [`Context`]:
//!
//! - **the client IP**, from the connection ([`ConnectInfo`],
//!   which `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
//!   provides). `Forwarded` (RFC 7239) and `X-Forwarded-For` are honoured only when the
//!   connection comes from a proxy the host named ([`AuditLayer::trust_proxies`]): walking the
//!   header from the nearest hop, the first address that is not a trusted proxy is the client.
//!   From any other peer the headers are ignored, so a client cannot choose the IP on record;
//! - **the user agent** (cut to the preparer's limits, like any display text);
//! - **a request id**: the `x-request-id` header when it is well formed (1 to 64 characters
//!   among `A-Z a-z 0-9 - _ . :`), otherwise a new UUIDv7; echoed in the response's
//!   `x-request-id` header;
//! - **a correlation id**: the trace id of a W3C `traceparent` header, when there is a valid one.
//!
//! A handler takes an [`AsyncScopedLog`] as an extractor: its actor comes from the host's own
//! authentication, through the one closure given to [`AuditLayer::actor`], and its context is
//! the request's. A call site is one line:
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use audit_log::async_log::{AsyncAuditLog, AsyncScopedLog};
//! use audit_log::axum::AuditLayer;
//! use audit_log::{Actor, AuditLog, EntityRef, Event, SqliteSink};
//! use axum::{extract::Path, routing::delete, Router};
//!
//! /// What the host's authentication middleware puts in the request's extensions.
//! #[derive(Clone)]
//! struct CurrentUser { id: u64, login: String }
//!
//! async fn delete_user(audit: AsyncScopedLog, Path(id): Path<u64>) -> Result<(), audit_log::Error> {
//!     // ... delete the user ...
//!     audit.record(Event::user_deleted(EntityRef::id_only(id))).await?;
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let log = AsyncAuditLog::new(AuditLog::builder(SqliteSink::open("audit.db")?).build());
//! let app = Router::new()
//!     .route("/users/{id}", delete(delete_user))
//!     .layer(AuditLayer::new(log).actor(|parts| {
//!         let user = parts.extensions.get::<CurrentUser>()?;
//!         Some(Actor::user(user.id, user.login.as_str()))
//!     }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`Error`] is a response too (`503` when the store is busy or unreachable, `500`
//! otherwise, with a body that names no internals), so `?` works in handlers that return
//! `Result<_, audit_log::Error>`.
//!
//! # Work the handler spawns
//!
//! Inside the request's task, [`current_context`] returns the request's context (for code
//! that has no extractor at hand). A task-local does not cross `tokio::spawn`: a spawned task
//! sees none. Either move the extractor into the task (it is cheap to clone and carries its
//! context), or spawn through [`spawn_in_context`], which carries the context along.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use ::axum::extract::{ConnectInfo, FromRequestParts};
use ::axum::http::header::{HeaderName, HeaderValue, USER_AGENT};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, Request, Response, StatusCode};
use ::axum::response::IntoResponse;
use ipnet::IpNet;

use crate::async_log::{AsyncAuditLog, AsyncScopedLog};
use crate::error::Error;
use crate::record::{Actor, Context, TenantId};

/// The request id header, read and echoed.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CONTEXT: Context;
}

/// The request's context, inside the task serving it (see the [module docs](self)); `None`
/// outside a request, and in tasks spawned without [`spawn_in_context`].
pub fn current_context() -> Option<Context> {
    CONTEXT.try_with(Context::clone).ok()
}

/// Runs `fut` with `context` as its [`current_context`].
pub fn with_context<F: Future>(context: Context, fut: F) -> impl Future<Output = F::Output> {
    CONTEXT.scope(context, fut)
}

/// `tokio::spawn`, carrying the current request's context into the new task (a plain
/// `tokio::spawn` leaves it behind: task-locals do not cross it).
pub fn spawn_in_context<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current_context() {
        Some(context) => tokio::spawn(with_context(context, fut)),
        None => tokio::spawn(fut),
    }
}

type ActorFn = dyn Fn(&Parts) -> Option<Actor> + Send + Sync;
type TenantFn = dyn Fn(&Parts) -> Option<TenantId> + Send + Sync;

/// What the layer hands each request (in its extensions), for the extractor.
#[derive(Clone)]
struct Shared {
    log: AsyncAuditLog,
    proxies: Arc<[IpNet]>,
    actor: Option<Arc<ActorFn>>,
    tenant: Option<Arc<TenantFn>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLayer")
            .field("log", &self.log)
            .field("trusted_proxies", &self.proxies)
            .field("actor", &self.actor.is_some())
            .field("tenant", &self.tenant.is_some())
            .finish()
    }
}

/// The tower layer that fills each request's record [`Context`] and lets handlers take an
/// [`AsyncScopedLog`]. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct AuditLayer {
    shared: Shared,
}

impl AuditLayer {
    /// A layer recording through `log`. Until [`actor`](Self::actor) is set, the extractor
    /// refuses every request (`401`): nothing is recorded under an actor nobody chose.
    pub fn new(log: AsyncAuditLog) -> Self {
        AuditLayer {
            shared: Shared {
                log,
                proxies: Arc::from([]),
                actor: None,
                tenant: None,
            },
        }
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers are believed (addresses or
    /// networks, such as `10.0.0.0/8`). None by default: the client IP is the peer's.
    pub fn trust_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.shared.proxies = proxies.into_iter().collect();
        self
    }

    /// Who acts in a request: the host's authentication, read from the request's parts
    /// (typically an extension its auth middleware set). `None` refuses the extractor with
    /// `401 Unauthorized`.
    pub fn actor(mut self, f: impl Fn(&Parts) -> Option<Actor> + Send + Sync + 'static) -> Self {
        self.shared.actor = Some(Arc::new(f));
        self
    }

    /// Which tenant a request records into, for multi-tenant hosts; without it (or when it
    /// returns `None`) the log's default tenant.
    pub fn tenant(
        mut self,
        f: impl Fn(&Parts) -> Option<TenantId> + Send + Sync + 'static,
    ) -> Self {
        self.shared.tenant = Some(Arc::new(f));
        self
    }
}

impl<S> tower::Layer<S> for AuditLayer {
    type Service = AuditService<S>;
    fn layer(&self, inner: S) -> AuditService<S> {
        AuditService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`AuditLayer`] wraps around another.
#[derive(Debug, Clone)]
pub struct AuditService<S> {
    inner: S,
    shared: Shared,
}

impl<S, B, RB> tower::Service<Request<B>> for AuditService<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let context = request_context(request.headers(), peer, &self.shared.proxies);
        let request_id = context
            .request_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok());
        request.extensions_mut().insert(context.clone());
        request.extensions_mut().insert(self.shared.clone());
        let response = CONTEXT.scope(context, self.inner.call(request));
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(id) = request_id {
                response.headers_mut().insert(REQUEST_ID.clone(), id);
            }
            Ok(response)
        })
    }
}

/// The record context of a request: see the [module docs](self).
fn request_context(headers: &HeaderMap, peer: Option<IpAddr>, proxies: &[IpNet]) -> Context {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    Context {
        ip: peer.map(|peer| client_ip(headers, peer, proxies)),
        user_agent: text(USER_AGENT),
        request_id: Some(
            text(REQUEST_ID.clone())
                .filter(|id| well_formed_request_id(id))
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        ),
        correlation_id: text(HeaderName::from_static("traceparent"))
            .and_then(|t| trace_id(&t).map(str::to_owned)),
        ..Context::default()
    }
}

fn well_formed_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if valid.
fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        // Version 00 has exactly four fields; later versions may add more.
        && (version != "00" || parts.next().is_none());
    valid.then_some(trace)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address
/// in its forwarding headers that is not a trusted proxy.
fn client_ip(headers: &HeaderMap, peer: IpAddr, proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    // Hops as the proxies appended them, nearest last.
    let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
    let Some(hops) = hops else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !trusted(ip) {
                    break;
                }
            }
            // An obfuscated or unparsable hop: what lies beyond cannot be believed.
            None => break,
        }
    }
    client
}

/// The `for=` addresses of every `Forwarded` header, in order (RFC 7239); `None` when there
/// is no such header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            });
            if let Some(node) = node {
                hops.push(parse_node(node));
            }
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// A `Forwarded` node: `192.0.2.1`, `"192.0.2.1:80"`, `"[2001:db8::1]:80"`, `unknown`,
/// `_obfuscated`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        hops.extend(value.split(',').map(|h| parse_node(h.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// Why an [`AsyncScopedLog`] could not be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditRejection {
    /// The route is not behind an [`AuditLayer`]: a mistake in the host's router (`500`).
    MissingLayer,
    /// The layer's [`actor`](AuditLayer::actor) closure found nobody (`401`).
    NoActor,
}

impl std::fmt::Display for AuditRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuditRejection::MissingLayer => "the route is not behind an AuditLayer",
            AuditRejection::NoActor => "no authenticated actor",
        })
    }
}

impl std::error::Error for AuditRejection {}

impl IntoResponse for AuditRejection {
    fn into_response(self) -> ::axum::response::Response {
        let status = match self {
            AuditRejection::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            AuditRejection::NoActor => StatusCode::UNAUTHORIZED,
        };
        (status, self.to_string()).into_response()
    }
}

/// The handler's scoped log: the request's actor (from [`AuditLayer::actor`]), context and
/// tenant.
impl<S: Send + Sync> FromRequestParts<S> for AsyncScopedLog {
    type Rejection = AuditRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuditRejection> {
        let shared = parts
            .extensions
            .get::<Shared>()
            .ok_or(AuditRejection::MissingLayer)?;
        let actor = shared
            .actor
            .as_ref()
            .and_then(|f| f(parts))
            .ok_or(AuditRejection::NoActor)?;
        let context = parts
            .extensions
            .get::<Context>()
            .cloned()
            .unwrap_or_default();
        let scoped = shared.log.scoped(actor).with_context(context);
        Ok(match shared.tenant.as_ref().and_then(|f| f(parts)) {
            Some(tenant) => scoped.with_tenant(tenant),
            None => scoped,
        })
    }
}

/// A failed audit call as a response: `503 Service Unavailable` when the store is busy or
/// unreachable ([`Error::is_transient`]), `500` otherwise; the body names no internals (the
/// error itself is for the host's logs).
impl IntoResponse for Error {
    fn into_response(self) -> ::axum::response::Response {
        if self.is_transient() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the audit trail is unavailable, try again",
            )
                .into_response()
        } else {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the change could not be recorded",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // From an untrusted peer: the peer.
        assert_eq!(
            client_ip(&spoof, ip("203.0.113.9"), &proxies),
            ip("203.0.113.9")
        );
        // From a trusted proxy: Forwarded wins over X-Forwarded-For.
        assert_eq!(client_ip(&spoof, ip("10.1.1.1"), &proxies), ip("5.6.7.8"));
        let xff = headers(&[("x-forwarded-for", "1.2.3.4, 10.2.2.2")]);
        // The nearest hop that is not a trusted proxy.
        assert_eq!(client_ip(&xff, ip("10.1.1.1"), &proxies), ip("1.2.3.4"));
        // A client-written prefix beyond the first untrusted hop is ignored.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7")]);
        assert_eq!(
            client_ip(&chain, ip("10.1.1.1"), &proxies),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last believable address.
        let junk = headers(&[("x-forwarded-for", "6.6.6.6, garbage")]);
        assert_eq!(client_ip(&junk, ip("10.1.1.1"), &proxies), ip("10.1.1.1"));
        let v6 = headers(&[("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#)]);
        assert_eq!(client_ip(&v6, ip("10.1.1.1"), &proxies), ip("2001:db8::1"));
        // No header: the peer.
        assert_eq!(
            client_ip(&HeaderMap::new(), ip("10.1.1.1"), &proxies),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn request_ids_and_trace_ids() {
        assert!(well_formed_request_id("req-42"));
        assert!(well_formed_request_id(
            "0190f2a1-7c1e-7b3a-9a6e-1f2e3d4c5b6a"
        ));
        assert!(!well_formed_request_id(""));
        assert!(!well_formed_request_id("a b"));
        assert!(!well_formed_request_id("\u{1b}[2J"));
        assert!(!well_formed_request_id(&"x".repeat(65)));
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn the_context_of_a_request() {
        let h = headers(&[
            ("user-agent", "curl/8"),
            ("x-request-id", "bad id with spaces"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        let c = request_context(&h, Some(ip("127.0.0.1")), &[]);
        assert_eq!(c.ip, Some(ip("127.0.0.1")));
        assert_eq!(c.user_agent.as_deref(), Some("curl/8"));
        let id = c.request_id.unwrap();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a new id replaces a malformed one: {id}"
        );
        assert_eq!(
            c.correlation_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // Without a known peer there is no IP at all (headers alone are never believed).
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(request_context(&spoof, None, &[]).ip, None);
    }
}
