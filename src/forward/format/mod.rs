//! How a record is written for a destination: the lossless record JSON, CloudEvents 1.0,
//! OCSF, or CEF.
//!
//! Every format carries the record's tenant, seq, id and hash, so a receiver can drop
//! duplicates (by id) and check the chain (seq and hash, with `prev_hash` where the format
//! has room).

mod cef;
mod cloudevents;
mod ocsf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Record;

pub use cef::{escape_cef_extension, escape_cef_header};
pub use ocsf::OCSF_VERSION;

/// The encodings a route can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Format {
    /// The record exactly as stored, as JSON (the form of one line of
    /// [`JsonlExport`](crate::JsonlExport)): `serde_json::from_slice::<Record>` reads it back
    /// and its hash recomputes. The default.
    #[default]
    Record,
    /// A CloudEvents 1.0 event in the structured JSON format, the record JSON as `data`:
    /// `id` is the record id, `source` `/<product>/<tenant>`, `type` `<product>.<event>`,
    /// and the extensions `audittenant`, `auditseq`, `audithash`, `auditprevhash`,
    /// `auditchain` carry the chain (the repository's `docs/forwarding.md` has the table).
    CloudEvents,
    /// An OCSF event ([`OCSF_VERSION`]): Account Change for user events, Group Management for
    /// memberships and group grants, User Access Management for user grants, the Base Event
    /// with the raw record for everything else.
    Ocsf,
    /// One CEF line (ArcSight Common Event Format, version 0), escaped per the CEF rules; the
    /// usual payload of syslog.
    Cef,
}

impl Format {
    /// The stable wire name: `record`, `cloud_events`, `ocsf`, `cef`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Record => "record",
            Format::CloudEvents => "cloud_events",
            Format::Ocsf => "ocsf",
            Format::Cef => "cef",
        }
    }

    /// The media type of one encoded record.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Record | Format::Ocsf => "application/json",
            Format::CloudEvents => "application/cloudevents+json",
            Format::Cef => "text/plain; charset=utf-8",
        }
    }

    /// Whether one encoded record is a JSON document (so a webhook batch can embed it).
    pub fn is_json(self) -> bool {
        !matches!(self, Format::Cef)
    }

    /// Encodes one record.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the record cannot be serialized (it holds a value JSON cannot
    /// carry); never panics.
    pub fn encode(self, record: &Record, product: &Product) -> Result<Vec<u8>> {
        let ser = |e: serde_json::Error| Error::corrupt(record.seq, format!("cannot encode: {e}"));
        match self {
            Format::Record => serde_json::to_vec(record).map_err(ser),
            Format::CloudEvents => {
                serde_json::to_vec(&cloudevents::event(record, product)?).map_err(ser)
            }
            Format::Ocsf => serde_json::to_vec(&ocsf::event(record, product)?).map_err(ser),
            Format::Cef => Ok(cef::line(record, product).into_bytes()),
        }
    }
}

/// Who produced the events, as formats name it: CEF's Device Vendor / Product / Version,
/// OCSF's `metadata.product`, the prefix of CloudEvents' `type` and `source`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The vendor (default `audit-log`).
    pub vendor: String,
    /// The product (default `audit-log`): the host's own name is better.
    pub name: String,
    /// Its version (default this crate's).
    pub version: String,
}

impl Default for Product {
    fn default() -> Self {
        Product {
            vendor: "audit-log".to_owned(),
            name: "audit-log".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl Product {
    /// A product by vendor, name and version.
    pub fn new(
        vendor: impl Into<String>,
        name: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Product {
            vendor: vendor.into(),
            name: name.into(),
            version: version.into(),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for names inside URIs.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("acme"), "acme");
        assert_eq!(percent_encode("a b/c?é"), "a%20b%2Fc%3F%C3%A9");
    }
}
