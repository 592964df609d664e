//! NATS JetStream.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::HeaderMap;

use crate::error::{Error, Result};
use crate::forward::destination::{Batch, BoxFuture, DeliveryError, Destination};

/// Publishes each record to a JetStream stream, with the record id as `Nats-Msg-Id`, so
/// JetStream's duplicate window drops a record delivered again after a crash or a timeout.
///
/// The subject is `<prefix>.<tenant>.<event name>` (characters other than `A-Z a-z 0-9 - _`
/// in the tenant, and in each dot-separated part of the event name, become `_`), so consumers
/// can filter by tenant and event family (`audit.acme.user.>`). Each message also carries the
/// headers `Audit-Log-Tenant`, `Audit-Log-Seq` and `Audit-Log-Hash`.
///
/// A batch is published without waiting between messages, then every acknowledgement is
/// awaited: the batch is delivered once JetStream acknowledged (stored) every message. A
/// record larger than the server's `max_payload` is rejected (dead-lettered).
///
/// The stream must exist and cover the subjects ([`JetStream::ensure_stream`] creates one);
/// until it does, publishing fails and is retried.
#[derive(Debug, Clone)]
pub struct JetStream {
    client: async_nats::Client,
    context: jetstream::Context,
    prefix: String,
}

fn token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() {
        "_".to_owned()
    } else {
        t
    }
}

impl JetStream {
    /// Connects to the server at `url` (`nats://127.0.0.1:4222`) and publishes under
    /// `prefix` (such as `audit`).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the server cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| Error::Unavailable { source: e.into() })?;
        Ok(Self::with_client(client, prefix))
    }

    /// Uses a client the host already has.
    pub fn with_client(client: async_nats::Client, prefix: &str) -> Self {
        let context = jetstream::new(client.clone());
        let prefix = prefix.split('.').map(token).collect::<Vec<_>>().join(".");
        JetStream {
            client,
            context,
            prefix,
        }
    }

    /// The subject a record of `tenant` with event `event` goes to.
    pub fn subject(&self, tenant: &str, event: &str) -> String {
        let mut s = format!("{}.{}", self.prefix, token(tenant));
        for part in event.split('.') {
            s.push('.');
            s.push_str(&token(part));
        }
        s
    }

    /// Creates the stream `name` over `<prefix>.>` with this duplicate window, or leaves an
    /// existing one as it is.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when JetStream does not answer or refuses.
    pub async fn ensure_stream(&self, name: &str, duplicate_window: Duration) -> Result<()> {
        self.context
            .get_or_create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: vec![format!("{}.>", self.prefix)],
                duplicate_window,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable { source: e.into() })
    }

    /// The client, for hosts that want to share it.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

impl Destination for JetStream {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let max = self.client.server_info().max_payload;
            let mut acks = Vec::with_capacity(batch.len());
            for (i, d) in batch.deliveries.iter().enumerate() {
                let r = &d.record;
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", r.id.to_string().as_str());
                headers.insert("Audit-Log-Tenant", r.tenant.as_str());
                headers.insert("Audit-Log-Seq", r.seq.to_string().as_str());
                headers.insert("Audit-Log-Hash", r.hash.to_hex().as_str());
                if max > 0 && d.payload.len() + 256 > max {
                    // Earlier messages of the batch must be stored before the index is
                    // reported as the first refused one.
                    for (j, ack) in acks.into_iter().enumerate() {
                        ack_result(j, ack).await?;
                    }
                    return Err(DeliveryError::rejected_at(
                        i,
                        format!(
                            "{} bytes exceed the server's max_payload of {max}",
                            d.payload.len()
                        ),
                    ));
                }
                let subject = self.subject(r.tenant.as_str(), r.event.name());
                let ack = self
                    .context
                    .publish_with_headers(subject, headers, d.payload.clone().into())
                    .await
                    .map_err(|e| DeliveryError::transient(format!("publish: {e}")))?;
                acks.push(ack);
            }
            for (j, ack) in acks.into_iter().enumerate() {
                ack_result(j, ack).await?;
            }
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.client
                .flush()
                .await
                .map_err(|e| DeliveryError::transient(format!("flush: {e}")))
        })
    }
}

async fn ack_result(
    index: usize,
    ack: jetstream::context::PublishAckFuture,
) -> std::result::Result<(), DeliveryError> {
    ack.await.map(|_| ()).map_err(|e| {
        DeliveryError::transient(format!("no acknowledgement for message {index}: {e}"))
    })
}
