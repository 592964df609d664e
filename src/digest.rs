//! Hash primitives every layer uses: the 256-bit [`Digest`], the trail's [`ChainAlgorithm`],
//! and the [`ChainKey`] of a keyed chain.
//!
//! A leaf module: it imports nothing of the crate but the error type, so records, stores, the
//! canonical encoding and verification can all depend on it without a cycle.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// The hash function of a trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainAlgorithm {
    /// SHA-256 (FIPS 180-4). The default.
    #[default]
    Sha256,
    /// BLAKE3, 256-bit output.
    Blake3,
}

impl ChainAlgorithm {
    /// The stable wire name: `sha256` or `blake3`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainAlgorithm::Sha256 => "sha256",
            ChainAlgorithm::Blake3 => "blake3",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sha256" => Some(ChainAlgorithm::Sha256),
            "blake3" => Some(ChainAlgorithm::Blake3),
            _ => None,
        }
    }

    /// The hash of a record at `seq` whose canonical body is `body`, linked to `prev`.
    pub fn link(self, seq: u64, prev: &Digest, body: &[u8]) -> Digest {
        const TAG: &[u8] = b"audit-log/chain/v1\0";
        match self {
            ChainAlgorithm::Sha256 => {
                let mut h = sha2::Sha256::new();
                h.update(TAG);
                h.update(seq.to_be_bytes());
                h.update(prev.0);
                h.update(body);
                Digest(h.finalize().into())
            }
            ChainAlgorithm::Blake3 => {
                let mut h = blake3::Hasher::new();
                h.update(TAG);
                h.update(&seq.to_be_bytes());
                h.update(&prev.0);
                h.update(body);
                Digest(*h.finalize().as_bytes())
            }
        }
    }
}

impl fmt::Display for ChainAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret key of a keyed chain: every record also gets a **seal**, an HMAC-SHA-256 under
/// this key of the record's hash (which already commits to the record's content and to every
/// record before it), so someone who can write the store but does not hold the key cannot
/// append or rewrite a record that verifies with the key.
///
/// The key is never stored: the store keeps only its id and a check value (so a store opened
/// with another key under the same id is refused). Keep it where you keep other secrets (a
/// vault, an environment variable of the writer's service), and give verifiers a copy.
/// Verification without the key checks everything else and says that the seals were not
/// checked ([`VerifyReport::sealed`](crate::chain::VerifyReport::sealed)).
///
/// ```
/// use audit_log::ChainKey;
/// let key = ChainKey::new("2026-q1", [7u8; 32])?;
/// assert_eq!(key.id(), "2026-q1");
/// assert!(!format!("{key:?}").contains("7, 7")); // Debug never shows the secret
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Clone)]
pub struct ChainKey {
    id: String,
    secret: [u8; 32],
}

impl ChainKey {
    /// A key named `id` (1 to 64 printable ASCII characters, stored in the store's metadata)
    /// with 32 secret bytes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty, long or non-printable
    /// id.
    pub fn new(id: impl Into<String>, secret: [u8; 32]) -> crate::Result<Self> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(crate::Error::invalid(
                "chain_key.id",
                "must be 1 to 64 printable ASCII characters without spaces",
            ));
        }
        Ok(ChainKey { id, secret })
    }

    /// A key from 64 hex digits (what a vault or an environment variable holds).
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a bad id or not 32 bytes of hex.
    pub fn from_hex(id: impl Into<String>, hex_secret: &str) -> crate::Result<Self> {
        let bytes = hex::decode(hex_secret.trim())
            .map_err(|e| crate::Error::invalid("chain_key.secret", format!("not hex: {e}")))?;
        let secret = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            crate::Error::invalid(
                "chain_key.secret",
                format!("{} bytes, expected 32", bytes.len()),
            )
        })?;
        Self::new(id, secret)
    }

    /// The key's id, as the store keeps it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, tag: &[u8], data: &[u8]) -> Digest {
        // HMAC takes a key of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&self.secret) else {
            return Digest::ZERO;
        };
        mac.update(tag);
        mac.update(data);
        Digest(mac.finalize().into_bytes().into())
    }

    /// The seal of a record whose hash is `hash`.
    pub fn seal(&self, hash: &Digest) -> Digest {
        self.mac(b"audit-log/seal/v1\0", &hash.0)
    }

    /// The value a store keeps to recognise this key (not the key: an HMAC under it of a fixed
    /// text), so that a store opened with another key under the same id is refused.
    pub fn check_value(&self) -> Digest {
        self.mac(b"audit-log/seal-key-check/v1\0", self.id.as_bytes())
    }
}

/// Keys are equal when their ids and secrets are.
impl PartialEq for ChainKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.secret == other.secret
    }
}

impl Eq for ChainKey {}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A 256-bit hash. Text form: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// All zeros: what the first record of a trail links to.
    pub const ZERO: Digest = Digest([0; 32]);

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// A message saying what is wrong (length, non-hex digit).
    pub fn from_hex(s: &str) -> std::result::Result<Self, String> {
        let bytes = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
        Self::from_slice(&bytes)
    }

    /// Takes exactly 32 bytes.
    ///
    /// # Errors
    /// A message naming the length found.
    pub fn from_slice(b: &[u8]) -> std::result::Result<Self, String> {
        <[u8; 32]>::try_from(b)
            .map(Digest)
            .map_err(|_| format!("hash has {} bytes, expected 32", b.len()))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_differ_and_are_deterministic() {
        let body = b"body";
        let a = ChainAlgorithm::Sha256.link(1, &Digest::ZERO, body);
        let b = ChainAlgorithm::Blake3.link(1, &Digest::ZERO, body);
        assert_ne!(a, b);
        assert_eq!(a, ChainAlgorithm::Sha256.link(1, &Digest::ZERO, body));
        assert_ne!(a, ChainAlgorithm::Sha256.link(2, &Digest::ZERO, body));
        assert_ne!(a, ChainAlgorithm::Sha256.link(1, &a, body));
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let d = ChainAlgorithm::Sha256.link(1, &Digest::ZERO, b"x");
        assert_eq!(Digest::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Digest::from_hex("abcd").is_err());
        assert!(Digest::from_hex("zz").is_err());
    }
}
