//! The JSON API: every page's twin under `api/v1/`, with the same parameters, the same
//! authorization and the same query layer; described by `api/v1/openapi.json`.

use ::axum::extract::{Path, RawQuery, State};
use ::axum::http::header::{self, HeaderValue};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::{Extension, Json, Router};
use serde::Serialize;

use super::params::{key, parse_seq, Filters, Params};
use super::{integrity, query, AppState, Viewing, WebError};
use crate::history::Point;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/records", get(records))
        .route("/api/v1/records/{seq}", get(record))
        .route("/api/v1/entities/{kind}/{id}", get(entity))
        .route("/api/v1/access", get(access))
        .route("/api/v1/integrity", get(chain))
        .route("/api/v1/openapi.json", get(openapi))
}

/// A [`WebError`] answered as JSON.
struct ApiError(WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_json()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

async fn records(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    RawQuery(raw): RawQuery,
) -> Answer<query::TimelinePage> {
    let params = Params::parse(raw.as_deref())?;
    let filters = Filters::from_params(&params, &viewing.0, chrono::Utc::now())?;
    Ok(Json(query::timeline(&shared, filters).await?))
}

async fn record(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    Path(seq): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer<query::RecordView> {
    let params = Params::parse(raw.as_deref())?;
    let tenant = params.tenant(&viewing.0)?;
    let seq = parse_seq("seq", &seq)?;
    Ok(Json(
        query::record(&shared, &tenant, seq, &params.zone()?).await?,
    ))
}

async fn entity(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    Path((kind, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Answer<query::EntityView> {
    let params = Params::parse(raw.as_deref())?;
    let tenant = params.tenant(&viewing.0)?;
    let zone = params.zone()?;
    let at = params.point("at", &zone)?;
    let diff = match (params.point("from", &zone)?, params.point("to", &zone)?) {
        (Some((_, from)), to) => Some((from, to.map_or(Point::Head, |t| t.1))),
        (None, Some(_)) => {
            return Err(WebError::BadRequest("The parameter to needs a from.".to_owned()).into())
        }
        (None, None) => None,
    };
    Ok(Json(
        query::entity(&shared, &tenant, key(&kind, &id)?, at, diff).await?,
    ))
}

async fn access(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    RawQuery(raw): RawQuery,
) -> Answer<query::AccessView> {
    let params = Params::parse(raw.as_deref())?;
    let tenant = params.tenant(&viewing.0)?;
    let zone = params.zone()?;
    let at = params
        .point("at", &zone)?
        .unwrap_or(("now".to_owned(), Point::Head));
    let window = match (params.point("from", &zone)?, params.point("to", &zone)?) {
        (Some(from), to) => Some((from, to.unwrap_or(("now".to_owned(), Point::Head)))),
        (None, Some(_)) => {
            return Err(WebError::BadRequest("The parameter to needs a from.".to_owned()).into())
        }
        (None, None) => None,
    };
    let user = params.get("user");
    if user.is_none() {
        return Err(WebError::BadRequest("The parameter user is required.".to_owned()).into());
    }
    Ok(Json(
        query::access(&shared, &tenant, user, at, window).await?,
    ))
}

#[derive(Serialize)]
struct ChainAnswer {
    tenant: String,
    #[serde(flatten)]
    status: integrity::Status,
}

async fn chain(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    RawQuery(raw): RawQuery,
) -> Answer<ChainAnswer> {
    let params = Params::parse(raw.as_deref())?;
    let tenant = params.tenant(&viewing.0)?;
    let status = integrity::status(&shared, &tenant).await?;
    Ok(Json(ChainAnswer {
        tenant: tenant.as_str().to_owned(),
        status,
    }))
}

async fn openapi() -> Response {
    let mut r = include_str!("assets/openapi.json").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
