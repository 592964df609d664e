//! Webhook signatures: HMAC-SHA-256 over the timestamp and the body, and the check a
//! receiver runs.
//!
//! Each webhook request carries
//!
//! ```text
//! Audit-Log-Signature: t=1764547200,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! where `t` is the Unix time (seconds) the request was signed and `v1` is the lowercase hex
//! HMAC-SHA-256, keyed with the shared secret, of the bytes `t`, `.`, then the raw body. The
//! scheme is the one the large webhook senders use; a receiver:
//!
//! 1. reads the **raw** body bytes (before any JSON parsing: re-serialized JSON does not
//!    match);
//! 2. splits the header on `,` into `key=value` pairs, takes `t` and every `v1` (several
//!    while a secret is being rotated);
//! 3. computes `HMAC-SHA-256(secret, t + "." + body)`, compares it to each `v1` in constant
//!    time, and accepts if one matches;
//! 4. rejects a `t` further than a few minutes from its clock (replays);
//! 5. de-duplicates the records by `id` (a batch may come again after a timeout).
//!
//! In Rust that is [`verify`]; elsewhere, for example Python:
//!
//! ```text
//! import hmac, hashlib, time
//! def verify(secret: bytes, header: str, body: bytes, tolerance=300) -> bool:
//!     parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
//!     t = next(v for k, v in parts if k == "t")
//!     expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
//!     ok = any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")
//!     return ok and abs(time.time() - int(t)) <= tolerance
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Audit-Log-Signature";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<hex>[,v1=<hex>...]`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("signature timestamp {timestamp} is outside the tolerance")]
    OutsideTolerance {
        /// The header's timestamp.
        timestamp: i64,
    },
    /// No `v1` matches the body and the secret.
    #[error("signature does not match")]
    Mismatch,
}

/// The MAC over `timestamp.body`. HMAC takes keys of any length, so this is never `None`
/// in practice; if it were, signing would give an empty tag and verification would fail.
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// The header value for `body` signed at `timestamp` (Unix seconds) with `secret`.
///
/// ```
/// use audit_log::forward::signature::{sign, verify};
///
/// let header = sign(b"s3cret", 1_764_547_200, br#"{"records":[]}"#);
/// assert!(header.starts_with("t=1764547200,v1="));
/// assert_eq!(verify(b"s3cret", &header, br#"{"records":[]}"#, 1_764_547_230, 300), Ok(1_764_547_200));
/// assert!(verify(b"wrong", &header, br#"{"records":[]}"#, 1_764_547_230, 300).is_err());
/// ```
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={timestamp},v1={tag}")
}

/// Checks a signature header against the raw `body`, with `now` (Unix seconds) and a
/// tolerance in seconds for the timestamp. Returns the signed timestamp.
///
/// # Errors
/// [`SignatureError`] saying why the request must be refused.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes (v0, v2) are for other verifiers
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = now.abs_diff(t);
    if skew > tolerance_secs {
        return Err(SignatureError::OutsideTolerance { timestamp: t });
    }
    let ok = candidates
        .iter()
        .any(|c| mac(secret, t, body).is_some_and(|m| m.verify_slice(c).is_ok()));
    if ok {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_body_secret_and_time() {
        let body = b"{\"a\":1}";
        let h = sign(b"k", 1000, body);
        assert_eq!(verify(b"k", &h, body, 1000, 0), Ok(1000));
        assert_eq!(
            verify(b"k", &h, b"{\"a\":2}", 1000, 10),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &h, body, 1000, 10),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"k", &h, body, 2000, 300),
            Err(SignatureError::OutsideTolerance { timestamp: 1000 })
        );
        // A changed timestamp breaks the signature: the time is signed too.
        let forged = h.replace("t=1000", "t=1999");
        assert_eq!(
            verify(b"k", &forged, body, 2000, 300),
            Err(SignatureError::Mismatch)
        );
        // During a secret rotation either secret's signature is accepted.
        let rotated = format!("{h},{}", &sign(b"new", 1000, body)[7..]);
        assert_eq!(verify(b"new", &rotated, body, 1000, 0), Ok(1000));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(b"k", bad, body, 1, 10),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
