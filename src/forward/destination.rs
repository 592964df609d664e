//! The [`Destination`] trait: where a forwarder delivers records.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::record::{Record, TenantId};

/// A boxed, sendable future: what [`Destination`] methods return, so the trait stays usable
/// as `dyn Destination` (a forwarder holds destinations of different types).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One record on its way out: the record itself and its encoding in the route's
/// [`Format`](super::Format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The record (tenant, seq, id and hash are what a receiver de-duplicates and verifies
    /// with).
    pub record: Record,
    /// The record encoded in the route's format (one JSON document, or one CEF line).
    pub payload: Vec<u8>,
}

/// Records of one tenant, consecutive in seq order, delivered together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The tenant every record of the batch belongs to.
    pub tenant: TenantId,
    /// The records, in seq order.
    pub deliveries: Vec<Delivery>,
}

impl Batch {
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// The first and last seq of the batch.
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        Some((
            self.deliveries.first()?.record.seq,
            self.deliveries.last()?.record.seq,
        ))
    }
}

/// Why a delivery failed, and so what the forwarder does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The destination could not take the batch now (unreachable, timed out, overloaded, a
    /// 5xx answer). The forwarder retries the whole batch with backoff; nothing is skipped.
    #[error("transient delivery failure: {reason}")]
    Transient {
        /// What went wrong, for the status and the logs.
        reason: String,
    },
    /// The destination refuses a record for good (a 4xx answer, a message too large): sending
    /// it again cannot succeed. The forwarder dead-letters it, or blocks, as the route says.
    #[error("delivery rejected: {reason}")]
    Rejected {
        /// The position in the batch of the first refused record, when the destination can
        /// tell; every record before it was accepted. `None` when the whole batch was refused
        /// without saying which record: the forwarder then delivers the records one by one to
        /// find the refused ones.
        index: Option<usize>,
        /// Why, as the destination said it.
        reason: String,
    },
}

impl DeliveryError {
    /// A [`DeliveryError::Transient`].
    pub fn transient(reason: impl fmt::Display) -> Self {
        DeliveryError::Transient {
            reason: reason.to_string(),
        }
    }

    /// A [`DeliveryError::Rejected`] of the whole batch.
    pub fn rejected(reason: impl fmt::Display) -> Self {
        DeliveryError::Rejected {
            index: None,
            reason: reason.to_string(),
        }
    }

    /// A [`DeliveryError::Rejected`] naming the first refused record.
    pub fn rejected_at(index: usize, reason: impl fmt::Display) -> Self {
        DeliveryError::Rejected {
            index: Some(index),
            reason: reason.to_string(),
        }
    }
}

/// Where a forwarder delivers records: NATS JetStream, a webhook, syslog, a file, or a
/// system of the host's own.
///
/// A destination only moves bytes; the forwarder owns ordering, cursors, retries, dead
/// letters and shutdown, so a host-defined destination is one method.
///
/// ```
/// use audit_log::forward::{Batch, BoxFuture, Destination, DeliveryError};
///
/// /// Prints each record's payload: a destination in six lines.
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl Destination for Stdout {
///     fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
///         Box::pin(async move {
///             for d in &batch.deliveries {
///                 println!("{}", String::from_utf8_lossy(&d.payload));
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
///
/// # Contract
///
/// - **Ok means accepted.** `deliver` returns `Ok(())` only once every record of the batch
///   is accepted by the receiver as durably as the transport allows (a JetStream ack, a 2xx
///   answer, a file written and synced, bytes written to a TCP socket); the forwarder then
///   advances its cursor past the batch and never offers those records again, barring a
///   crash before the cursor is saved.
/// - **Order.** Records are handed over in the batch's order (seq order of one tenant), and
///   a batch is only offered after the previous one returned `Ok` or was settled (dead
///   letter): a destination never needs to reorder.
/// - **Redelivery.** The same records may be offered again (after a crash, a timeout, a
///   transient error, a lease handover). Each carries its tenant, seq, id and hash, so the
///   receiver can drop duplicates: a destination should pass them on (JetStream's
///   `Nats-Msg-Id`, webhook fields, syslog structured data) rather than try to remember.
/// - **Errors say what to do.** [`DeliveryError::Transient`] for anything that may work
///   later; [`DeliveryError::Rejected`] only when the receiver refuses the record itself, so
///   that sending it again cannot work. A destination that cannot tell says transient:
///   retrying too long is safe, dead-lettering a record that could have been delivered is
///   not.
/// - **Cancellation.** The forwarder bounds each call with the route's attempt timeout and
///   may drop the future; a dropped call counts as not delivered and the batch is offered
///   again. Nothing may be lost because a future was dropped midway.
/// - **No panics** on any input: a record whose payload the transport cannot carry is a
///   `Rejected` error naming it.
pub trait Destination: Send + Sync + fmt::Debug + 'static {
    /// Delivers a batch; see the [contract](Destination#contract).
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// Flushes and releases what the destination holds open (a file, a connection), once,
    /// when the forwarder stops. The default does nothing.
    fn close(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async { Ok(()) })
    }
}
