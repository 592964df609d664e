//! HTTP webhooks: each batch POSTed as one signed JSON document.

use std::time::Duration;

use crate::forward::destination::{Batch, BoxFuture, DeliveryError, Destination};
use crate::forward::format::Format;
use crate::forward::signature::{sign, SIGNATURE_HEADER};

/// POSTs each batch to a URL as JSON:
///
/// ```json
/// {"tenant": "acme", "first_seq": 41, "last_seq": 42, "format": "record",
///  "records": [{"seq": 41, "id": "…", "hash": "…", …}, {"seq": 42, …}]}
/// ```
///
/// `records` holds each record in the route's format (a JSON document each; CEF lines as
/// JSON strings), in seq order. With a [`secret`](Self::secret), the request carries an
/// [`Audit-Log-Signature`](crate::forward::signature) header, HMAC-SHA-256 over the
/// timestamp and the raw body; receivers check it with
/// [`signature::verify`](crate::forward::signature::verify) or the recipe in that module.
///
/// Answers: 2xx is delivered; 408, 425, 429 and 5xx, timeouts and connection failures are
/// transient (retried with backoff); any other status is a rejection of the batch, which
/// the forwarder then narrows down by sending the records one at a time, so only the
/// refused ones are dead-lettered.
///
/// TLS uses rustls (no system library); the client follows no redirects.
#[derive(Debug, Clone)]
#[must_use]
pub struct Webhook {
    url: String,
    secret: Option<Vec<u8>>,
    format: Format,
    timeout: Duration,
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Webhook {
    /// POSTs to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Webhook {
            url: url.into(),
            secret: None,
            format: Format::Record,
            timeout: Duration::from_secs(10),
            client: std::sync::OnceLock::new(),
        }
    }

    /// Signs every request with this shared secret.
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// The route's format, named in the body's `format` field; set it to the route's (the
    /// default is [`Format::Record`]). Formats that are not JSON go as JSON strings.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// How long one request may take (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self.client = std::sync::OnceLock::new();
        self
    }

    fn client(&self) -> Result<reqwest::Client, DeliveryError> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DeliveryError::transient(format!("http client: {e}")))?;
        Ok(self.client.get_or_init(|| c).clone())
    }

    /// The request body of a batch.
    pub fn body(&self, batch: &Batch) -> Vec<u8> {
        let (first, last) = batch.seq_range().unwrap_or((0, 0));
        let mut b = Vec::with_capacity(
            96 + batch
                .deliveries
                .iter()
                .map(|d| d.payload.len() + 1)
                .sum::<usize>(),
        );
        b.extend_from_slice(b"{\"tenant\":");
        b.extend_from_slice(
            serde_json::to_string(batch.tenant.as_str())
                .unwrap_or_else(|_| "\"\"".to_owned())
                .as_bytes(),
        );
        b.extend_from_slice(
            format!(
                ",\"first_seq\":{first},\"last_seq\":{last},\"format\":\"{}\",\"records\":[",
                self.format.as_str()
            )
            .as_bytes(),
        );
        for (i, d) in batch.deliveries.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            if self.format.is_json() {
                b.extend_from_slice(&d.payload);
            } else {
                let text = String::from_utf8_lossy(&d.payload);
                b.extend_from_slice(
                    serde_json::to_string(&*text)
                        .unwrap_or_else(|_| "\"\"".to_owned())
                        .as_bytes(),
                );
            }
        }
        b.extend_from_slice(b"]}");
        b
    }
}

impl Destination for Webhook {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let client = self.client()?;
            let body = self.body(batch);
            let mut req = client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some(secret) = &self.secret {
                let now = chrono::Utc::now().timestamp();
                req = req.header(SIGNATURE_HEADER, sign(secret, now, &body));
            }
            let resp = req
                .body(body)
                .send()
                .await
                .map_err(|e| DeliveryError::transient(format!("POST {}: {e}", self.url)))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let text: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let reason = format!("{} answered {status}: {}", self.url, text.trim());
            let code = status.as_u16();
            if matches!(code, 408 | 425 | 429) || status.is_server_error() {
                Err(DeliveryError::transient(reason))
            } else {
                Err(DeliveryError::rejected(reason))
            }
        })
    }
}
