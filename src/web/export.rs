//! Get Audit Log: the current filter's records as a download, streamed.
//!
//! `export.csv` (the crate's formula-safe [`CsvExport`], times in the viewer's zone),
//! `export.jsonl` (lossless [`JsonlExport`]), and for each its manifest
//! (`export.csv.manifest.json`, what [`verify_export`](crate::verify_export) checks the file
//! against). The page's links pin the trail's head (`through=`), so a file and its manifest
//! describe the same records. A completed download is recorded as `audit.exported` by the
//! viewer; a download the client abandons is not.

use std::io::Write;
use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::{RawQuery, State};
use ::axum::http::header::{self, HeaderValue};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::{Extension, Router};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::params::{EntityFilter, Filters, Params};
use super::query::find_by_name;
use super::{AppState, Shared, Viewing, WebError};
use crate::event::EntityKey;
use crate::export::{CsvExport, JsonlExport, Manifest};
use crate::query::Query;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/export.csv", get(csv))
        .route("/export.jsonl", get(jsonl))
        .route("/export.csv.manifest.json", get(csv_manifest))
        .route("/export.jsonl.manifest.json", get(jsonl_manifest))
        .route("/api/v1/export.csv", get(csv))
        .route("/api/v1/export.jsonl", get(jsonl))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson; charset=utf-8",
        }
    }
}

/// The entity of a filter, resolved like the timeline does; a name that matches none or
/// several entities cannot be exported (the page shows the choice).
async fn entity_of(shared: &Shared, f: &Filters) -> Result<Option<EntityKey>, WebError> {
    match &f.entity {
        None => Ok(None),
        Some(EntityFilter::Key(k)) => Ok(Some(k.clone())),
        Some(EntityFilter::Name(name)) => {
            let mut found = find_by_name(shared, &f.tenant, name).await?;
            if found.len() == 1 {
                Ok(Some(found.remove(0).key()))
            } else {
                Err(WebError::BadRequest(format!(
                    "The name {name:?} matches {} entities: pick one on the timeline first.",
                    found.len()
                )))
            }
        }
    }
}

async fn request(
    shared: &Shared,
    viewing: &Viewing,
    raw: Option<&str>,
) -> Result<(Filters, Query), WebError> {
    let p = Params::parse(raw)?;
    let f = Filters::from_params(&p, &viewing.0, chrono::Utc::now())?;
    let key = entity_of(shared, &f).await?;
    let q = f.query(key.as_ref());
    Ok((f, q))
}

/// A writer that hands what it is given to the response body, a chunk at a time; it fails
/// once the client has gone (so the export stops, unrecorded).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

async fn download(
    shared: Arc<Shared>,
    viewing: Viewing,
    raw: Option<String>,
    format: Format,
) -> Result<Response, WebError> {
    let (f, query) = request(&shared, &viewing, raw.as_deref()).await?;
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let zone = f.zone;
    let viewer = viewing.0.viewer.clone();
    let task_shared = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || {
        let log = task_shared.log.sync();
        let store = task_shared.reader.sync().as_ref();
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = match format {
            Format::Csv => CsvExport::new()
                .time_zone(zone)
                .record_to(log, viewer)
                .write(store, &query, &mut out),
            Format::Jsonl => JsonlExport::new()
                .record_to(log, viewer)
                .write(store, &query, &mut out),
        };
        if let Err(e) = result.and_then(|_| out.flush().map_err(Into::into)) {
            // The body ends with an error, so the client sees a broken download, never a
            // complete-looking short one.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let name = format!(
        "audit-log-{}-{}.{}",
        safe_name(f.tenant.as_str()),
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// A tenant name as a file name part: letters, digits, `-`, `_` and `.` only.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

async fn manifest(
    shared: Arc<Shared>,
    viewing: Viewing,
    raw: Option<String>,
    format: Format,
) -> Result<Response, WebError> {
    let (f, query) = request(&shared, &viewing, raw.as_deref()).await?;
    let zone = f.zone;
    let manifest: Manifest = shared
        .reader
        .run(move |store| match format {
            Format::Csv => CsvExport::new()
                .time_zone(zone)
                .write(store, &query, std::io::sink()),
            Format::Jsonl => JsonlExport::new().write(store, &query, std::io::sink()),
        })
        .await?;
    let mut response = manifest.to_json().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let name = format!(
        "audit-log-{}.{}.manifest.json",
        safe_name(f.tenant.as_str()),
        format.extension()
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

async fn csv(
    State(s): State<AppState>,
    Extension(v): Extension<Viewing>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    download(s, v, q, Format::Csv).await
}

async fn jsonl(
    State(s): State<AppState>,
    Extension(v): Extension<Viewing>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    download(s, v, q, Format::Jsonl).await
}

async fn csv_manifest(
    State(s): State<AppState>,
    Extension(v): Extension<Viewing>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    manifest(s, v, q, Format::Csv).await
}

async fn jsonl_manifest(
    State(s): State<AppState>,
    Extension(v): Extension<Viewing>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    manifest(s, v, q, Format::Jsonl).await
}
