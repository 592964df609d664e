//! The integrity page: the chain's status in full, and a check against a checkpoint the
//! administrator pastes or uploads.

use ::axum::extract::{Multipart, RawQuery, State};
use ::axum::response::Response;
use ::axum::Extension;
use askama::Template;
use std::sync::Arc;

use super::{page_context, render, Base, Layout};
use crate::chain::{self, Checkpoint};
use crate::signed::SignedCheckpoint;
use crate::web::integrity::{self as chain_status, Status};
use crate::web::params::Params;
use crate::web::query::local_time;
use crate::web::{AppState, Shared, Viewing, WebError};

#[derive(Template)]
#[template(path = "viewer/integrity.html")]
struct IntegrityTemplate {
    l: Layout,
    status: Status,
    break_url: String,
    verified_at: String,
    pasted: String,
    /// (intact, verdict, what was not checked).
    result: Option<(bool, String, String)>,
}

/// The most a checkpoint (or an uploaded file of them) may weigh.
const MAX_CHECKPOINT: usize = 64 * 1024;

/// Checks the trail against the checkpoint in `text` (the last non-empty line: a checkpoint
/// file holds one per line, newest last).
async fn check(
    shared: &Shared,
    viewing: &Viewing,
    text: &str,
) -> Result<(bool, String, String), WebError> {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let (checkpoint, signed) = match SignedCheckpoint::from_json(line) {
        Ok(s) => (s.checkpoint.clone(), Some(s)),
        Err(_) => match Checkpoint::from_json(line) {
            Ok(c) => (c, None),
            Err(_) => {
                return Err(WebError::BadRequest(
                    "That is not a checkpoint: paste one JSON line as audit-log writes it."
                        .to_owned(),
                ))
            }
        },
    };
    // A checkpoint of a tenant the viewer may not read is nothing to them.
    if !viewing.0.may_read(&checkpoint.tenant) {
        return Err(WebError::NotFound);
    }
    let verifier = signed.as_ref().and_then(|s| {
        shared
            .checkpoint_keys
            .iter()
            .find(|k| k.key_id() == s.key_id)
            .cloned()
    });
    let signature_note = match (&signed, &verifier) {
        (None, _) => String::new(),
        (Some(s), None) => format!(
            "The signature (key {}) was not checked: the viewer was given no public key of that id.",
            s.key_id
        ),
        (Some(s), Some(_)) => format!("The signature of key {} holds.", s.key_id),
    };
    let cp = checkpoint.clone();
    let report = shared
        .reader
        .run(move |store| match (signed, verifier) {
            (Some(s), Some(v)) => crate::signed::verify_against_signed(store, &s, &v),
            _ => chain::verify_against(store, &cp),
        })
        .await;
    let report = match report {
        Ok(r) => r,
        Err(crate::Error::Verification(reason) | crate::Error::InvalidInput { reason, .. }) => {
            return Ok((
                false,
                format!("The checkpoint's signature does not hold: {reason}"),
                String::new(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let verdict = if report.is_intact() {
        format!(
            "The trail of tenant {} holds the record #{} this checkpoint names, with the same hash, and verifies up to its head (#{}).",
            checkpoint.tenant,
            checkpoint.seq,
            report.head.map_or(0, |h| h.seq)
        )
    } else {
        match &report.first_break {
            Some(b) => format!("Broken at seq {}: {}", b.seq, b.reason),
            None => "The trail does not verify against this checkpoint.".to_owned(),
        }
    };
    Ok((report.is_intact(), verdict, signature_note))
}

async fn show(
    shared: &Arc<Shared>,
    viewing: &Viewing,
    base: &Base,
    params: &Params,
    pasted: Option<String>,
) -> Result<Response, WebError> {
    let (tenant, zone) = page_context(params, viewing)?;
    let result = match pasted.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => Some(check(shared, viewing, text).await?),
        None => None,
    };
    let status = chain_status::status(shared, &tenant).await?;
    let l = Layout::of(
        shared,
        viewing,
        base,
        &tenant,
        &zone,
        "integrity",
        "Integrity",
    )
    .await?;
    let page = IntegrityTemplate {
        break_url: status
            .break_seq
            .map(|s| format!("{}/records/{s}{}", l.base, l.ctx))
            .unwrap_or_default(),
        verified_at: local_time(status.verified_at, &zone),
        status,
        pasted: pasted.unwrap_or_default(),
        result,
        l,
    };
    Ok(render(&page))
}

pub(super) async fn page(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let pasted = params.get("checkpoint").map(str::to_owned);
    show(&shared, &viewing, &base, &params, pasted).await
}

/// An uploaded checkpoint file (the form's `file` field). It changes nothing: a check, sent
/// as a POST only because browsers upload files so.
pub(super) async fn upload(
    State(shared): State<AppState>,
    Extension(viewing): Extension<Viewing>,
    base: Base,
    RawQuery(raw): RawQuery,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref())?;
    let mut text = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| WebError::BadRequest(format!("The upload could not be read: {e}.")))?
    {
        if field.name() == Some("file") {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| WebError::BadRequest(format!("The upload could not be read: {e}.")))?;
            if bytes.len() > MAX_CHECKPOINT {
                return Err(WebError::BadRequest(format!(
                    "That file is too large for a checkpoint ({} bytes; at most {MAX_CHECKPOINT}).",
                    bytes.len()
                )));
            }
            text = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    show(&shared, &viewing, &base, &params, text).await
}
