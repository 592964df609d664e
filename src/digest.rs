//! Hash primitives every layer uses: the 256-bit [`Digest`] and the trail's [`ChainAlgorithm`].
//!
//! A leaf module: it imports nothing else of the crate, so records, stores, the canonical
//! encoding and verification can all depend on it without a cycle.

use std::fmt;

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
