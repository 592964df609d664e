//! The HTML pages, one module each, rendered by compile-time-checked templates
//! (`templates/viewer/`) that escape every value.

mod access;
mod entity;
mod integrity;
mod record;
mod timeline;

use ::axum::extract::{FromRequestParts, NestedPath};
use ::axum::http::request::Parts;
use ::axum::http::{header, HeaderValue, StatusCode};
use ::axum::response::{Html, IntoResponse, Response};
use ::axum::routing::get;
use ::axum::Router;
use askama::Template;
use std::sync::Arc;

use super::params::{context_query, question, Params};
use super::{integrity as chain_status, AppState, Shared, Tenants, Viewing, WebError};
use crate::record::TenantId;
use crate::zone::Zone;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(timeline::page))
        .route("/records/{seq}", get(record::page))
        .route("/entities/{kind}/{id}", get(entity::page))
        .route("/access", get(access::page))
        .route("/integrity", get(integrity::page).post(integrity::upload))
}

/// Where the viewer is mounted (`/admin/audit`), for its links; empty at the root.
pub(crate) struct Base(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let base = match NestedPath::from_request_parts(parts, state).await {
            Ok(p) => p.as_str().trim_end_matches('/').to_owned(),
            Err(_) => String::new(),
        };
        Ok(Base(base))
    }
}

/// What every page's frame shows.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) app_title: String,
    /// The mount path, without a trailing slash.
    pub(crate) base: String,
    /// The timeline's own address (the mount path, or `/`).
    pub(crate) home: String,
    /// `?tenant=..&tz=..` (or nothing): what links to other pages keep.
    pub(crate) ctx: String,
    pub(crate) tenant: String,
    /// Other tenants the viewer may read: (name, address).
    pub(crate) other_tenants: Vec<(String, String)>,
    pub(crate) status_line: String,
    pub(crate) status_class: &'static str,
    pub(crate) viewer: String,
    pub(crate) zone: String,
    pub(crate) nav: &'static str,
}

impl Layout {
    /// The frame of a page of `tenant`, with the chain's status.
    pub(crate) async fn of(
        shared: &Arc<Shared>,
        viewing: &Viewing,
        base: &Base,
        tenant: &TenantId,
        zone: &Zone,
        nav: &'static str,
        title: impl Into<String>,
    ) -> Result<Layout, WebError> {
        let status = chain_status::status(shared, tenant).await?;
        let home = if base.0.is_empty() {
            "/".to_owned()
        } else {
            base.0.clone()
        };
        let others = match &viewing.0.tenants {
            Tenants::Only(list) => list.clone(),
            Tenants::All => shared.reader.tenants().await?,
        };
        let other_tenants = others
            .into_iter()
            .filter(|t| t != tenant)
            .take(20)
            .map(|t| {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("tenant", t.as_str());
                if *zone != Zone::Utc {
                    q.append_pair("tz", &zone.to_string());
                }
                (t.as_str().to_owned(), format!("{home}?{}", q.finish()))
            })
            .collect();
        Ok(Layout {
            title: title.into(),
            app_title: shared.title.clone(),
            base: base.0.clone(),
            home,
            ctx: question(&context_query(tenant, zone)),
            tenant: tenant.as_str().to_owned(),
            other_tenants,
            status_line: status.line(),
            status_class: status.state,
            viewer: viewing.0.viewer.label().to_owned(),
            zone: zone_label(zone),
            nav,
        })
    }

    /// A frame without the chain status (for error pages).
    fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            app_title: "Audit log".to_owned(),
            base: String::new(),
            home: "/".to_owned(),
            ctx: String::new(),
            tenant: String::new(),
            other_tenants: Vec::new(),
            status_line: String::new(),
            status_class: "unknown",
            viewer: "—".to_owned(),
            zone: "UTC".to_owned(),
            nav: "",
        }
    }
}

fn zone_label(zone: &Zone) -> String {
    match zone {
        Zone::Utc => "UTC".to_owned(),
        other => other.to_string(),
    }
}

/// Renders a template as the page.
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            super::log_store_error(&crate::Error::store("template", e));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "viewer/error.html")]
struct ErrorPage<'a> {
    l: Layout,
    heading: &'a str,
    message: &'a str,
    status: u16,
}

/// The page for a refused or failed request.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let heading = match status {
        StatusCode::BAD_REQUEST => "That request cannot be answered",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "The trail cannot answer this",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        l: Layout::bare(heading),
        heading,
        message,
        status: status.as_u16(),
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The parameters every page reads: the tenant (checked against the viewer) and the zone.
pub(crate) fn page_context(
    params: &Params,
    viewing: &Viewing,
) -> Result<(TenantId, Zone), WebError> {
    Ok((params.tenant(&viewing.0)?, params.zone()?))
}
