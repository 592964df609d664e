//! The viewer's own assets, embedded in the crate: no CDN, no fonts, nothing from elsewhere.

use ::axum::http::header::{self, HeaderValue};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::Router;

use super::AppState;

const CSS: &str = include_str!("assets/viewer.css");
const JS: &str = include_str!("assets/viewer.js");

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/assets/viewer.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/viewer.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Versioned by the crate: a day is plenty, and a new release changes the text anyway.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    r
}
