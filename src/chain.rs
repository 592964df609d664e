//! The hash chain: a canonical byte encoding of each record, hashed with the previous
//! record's hash, so any edit, deletion, reordering or truncation of a trail is detectable.
//!
//! # The canonical encoding (version 1)
//!
//! A record's hash is
//!
//! ```text
//! hash = H( "audit-log/chain/v1" 0x00 || seq (u64 BE) || prev_hash (32 bytes) || body )
//! ```
//!
//! where `H` is the trail's [`ChainAlgorithm`] and `body` is, in this order:
//!
//! | field | encoding |
//! | --- | --- |
//! | domain tag | the bytes `audit-log/record/v1` then `0x00` |
//! | tenant | str |
//! | id | the UUID's 16 bytes |
//! | occurred_at | i64 BE, microseconds since the Unix epoch (UTC) |
//! | actor kind, actor id, actor display | str, str, opt-str |
//! | outcome | str (`success`, `failure`, `denied`) |
//! | context: ip, user agent, request id, correlation id, reason | opt-str each (ip in its standard text form) |
//! | schema_version | u32 BE |
//! | event | json (the event's wire object) |
//!
//! - **str**: byte length as u32 BE, then the UTF-8 bytes. **opt-str**: `0x00` for none, or
//!   `0x01` then str.
//! - **json**: one tag byte then the content: `n` null; `f` false; `t` true; `i` an integer
//!   that fits i64, as i64 BE; `u` a larger unsigned integer, as u64 BE; `d` any other number,
//!   as the IEEE-754 bits of the f64, BE; `s` str; `a` u32 BE count then each element; `o` u32
//!   BE count then each (str key, json value) **sorted by the key's bytes**.
//!
//! The encoding depends neither on JSON key order nor on how a JSON library prints numbers or
//! escapes strings, so a trail verifies the same after any re-serialization and with any
//! version of `serde_json`. Every part is length-prefixed or fixed-size, so no two different
//! records share an encoding.
//!
//! The first record of a tenant links to 32 zero bytes; after a retention purge, to the hash
//! of the last purged record (the store's [`anchor`](crate::AuditStore::anchor)).
//!
//! # Choosing the algorithm
//!
//! SHA-256 is the default: on ~300-byte records it measured faster than BLAKE3 on machines
//! with SHA extensions (see `docs/benchmarks.md`), and auditors can check it with any tool.
//! The algorithm is stored with every record and in every checkpoint.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::Query;
use crate::record::{Head, Record, TenantId};
use crate::sink::AuditStore;

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

/// Writes the canonical encoding described in the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Canonical {
            buf: Vec::with_capacity(n),
        }
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn len(&mut self, n: usize) {
        // Inputs are bounded far below 4 GiB by `Limits`; saturate rather than wrap if a
        // caller bypasses them, which still yields a distinct, deterministic encoding.
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&n.to_be_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.buf.push(0),
            Some(s) => {
                self.buf.push(1);
                self.str(s);
            }
        }
    }

    pub(crate) fn json(&mut self, v: &Value) {
        match v {
            Value::Null => self.buf.push(b'n'),
            Value::Bool(false) => self.buf.push(b'f'),
            Value::Bool(true) => self.buf.push(b't'),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.buf.push(b'i');
                    self.buf.extend_from_slice(&i.to_be_bytes());
                } else if let Some(u) = n.as_u64() {
                    self.buf.push(b'u');
                    self.buf.extend_from_slice(&u.to_be_bytes());
                } else {
                    self.buf.push(b'd');
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    self.buf.extend_from_slice(&f.to_bits().to_be_bytes());
                }
            }
            Value::String(s) => {
                self.buf.push(b's');
                self.str(s);
            }
            Value::Array(a) => {
                self.buf.push(b'a');
                self.len(a.len());
                for x in a {
                    self.json(x);
                }
            }
            Value::Object(m) => {
                self.buf.push(b'o');
                self.len(m.len());
                // serde_json's default map is sorted, but with its `preserve_order` feature
                // (which another crate in the host's tree may turn on) it is not: sort then.
                let sorted = m
                    .keys()
                    .zip(m.keys().skip(1))
                    .all(|(a, b)| a.as_bytes() < b.as_bytes());
                if sorted {
                    for (k, x) in m {
                        self.str(k);
                        self.json(x);
                    }
                } else {
                    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    for (k, x) in entries {
                        self.str(k);
                        self.json(x);
                    }
                }
            }
        }
    }

    /// The `json` encoding of an event's wire object, written straight from the typed
    /// event: the same bytes as `self.json(&event.to_value())` without building the `Value`.
    pub(crate) fn event(&mut self, event: &Event) {
        if let Event::Unknown(u) = event {
            // Hashed over the JSON as stored, whatever a newer version put in it.
            self.json(&u.raw);
            return;
        }
        let mark = self.buf.len();
        if crate::encode::write::<crate::encode::CanonicalBytes>(&mut self.buf, event).is_err() {
            self.buf.truncate(mark);
            self.json(&event.to_value());
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The canonical body of a record (everything but seq and the hashes). One parameter per
/// encoded field, in encoding order, so the signature reads like the table in the module docs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_body(
    tenant: &TenantId,
    id: &uuid::Uuid,
    occurred_at_micros: i64,
    actor: &crate::Actor,
    outcome: crate::Outcome,
    context: &crate::Context,
    schema_version: u32,
    event: &Event,
) -> Vec<u8> {
    let mut c = encode_envelope(
        tenant,
        id,
        occurred_at_micros,
        actor,
        outcome,
        context,
        schema_version,
    );
    c.event(event);
    c.into_bytes()
}

/// Every field of the body before the event.
fn encode_envelope(
    tenant: &TenantId,
    id: &uuid::Uuid,
    occurred_at_micros: i64,
    actor: &crate::Actor,
    outcome: crate::Outcome,
    context: &crate::Context,
    schema_version: u32,
) -> Canonical {
    let mut c = Canonical::with_capacity(512);
    c.raw(b"audit-log/record/v1\0");
    c.str(tenant.as_str());
    c.raw(id.as_bytes());
    c.raw(&occurred_at_micros.to_be_bytes());
    c.str(actor.kind.as_str());
    c.str(&actor.id);
    c.opt_str(actor.display.as_deref());
    c.str(outcome.as_str());
    let ip = context.ip.map(|ip| ip.to_string());
    c.opt_str(ip.as_deref());
    c.opt_str(context.user_agent.as_deref());
    c.opt_str(context.request_id.as_deref());
    c.opt_str(context.correlation_id.as_deref());
    c.opt_str(context.reason.as_deref());
    c.raw(&schema_version.to_be_bytes());
    c
}

/// The canonical body of a stored record.
pub fn canonical_body(r: &Record) -> Vec<u8> {
    encode_body(
        &r.tenant,
        &r.id,
        r.occurred_at.timestamp_micros(),
        &r.actor,
        r.outcome,
        &r.context,
        r.schema_version,
        &r.event,
    )
}

#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub use crate::encode::direct_encoding_for_tests;

/// [`canonical_body`] as it was computed before the direct encoder: through the event's
/// `serde_json::Value`. The reference the property tests hold the direct encoder to.
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub fn canonical_body_via_value(r: &Record) -> Vec<u8> {
    let mut c = encode_envelope(
        &r.tenant,
        &r.id,
        r.occurred_at.timestamp_micros(),
        &r.actor,
        r.outcome,
        &r.context,
        r.schema_version,
    );
    c.json(&r.event.to_value());
    c.into_bytes()
}

/// The hash a record should have, recomputed from its content and its `prev_hash`.
pub fn compute_hash(r: &Record) -> Digest {
    r.chain.link(r.seq, &r.prev_hash, &canonical_body(r))
}

/// A point in a tenant's chain saved outside the store: `seq` and the hash there.
///
/// Keep checkpoints somewhere the store's operators cannot rewrite (another system, a
/// ticket, a signed e-mail). [`verify_against`] then detects a truncated tail and a store
/// restored from a backup older than the checkpoint, which a chain alone cannot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tenant.
    pub tenant: TenantId,
    /// The sequence number.
    pub seq: u64,
    /// The hash of the record at `seq`.
    pub hash: Digest,
    /// The trail's algorithm.
    pub chain: ChainAlgorithm,
}

impl Checkpoint {
    /// The checkpoint as one line of JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a checkpoint written by [`Checkpoint::to_json`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the text is not a checkpoint.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::invalid("checkpoint", e))
    }

    /// The checkpoint at a store's current head, or `None` for an empty trail.
    ///
    /// # Errors
    /// Whatever the store returns.
    pub fn current<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<Option<Self>> {
        Ok(store.head(tenant)?.map(|h| Checkpoint {
            tenant: tenant.clone(),
            seq: h.seq,
            hash: h.hash,
            chain: store.chain_algorithm(),
        }))
    }
}

/// Why the chain broke at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakReason {
    /// The record's content does not match its hash: a field was changed.
    Altered,
    /// Records are missing: the expected seq was not found (the next one found is given).
    Missing {
        /// The seq that came next instead.
        found: u64,
    },
    /// A record came out of order (a seq not greater than the one before).
    Reordered {
        /// The seq that came after the previous one.
        found: u64,
    },
    /// The record's content matches its hash but its `prev_hash` is not the previous record's
    /// hash: records were removed and the rest renumbered, or spliced from another trail.
    WrongLink,
    /// The record could not be read at all.
    Corrupt(String),
    /// The trail ends before a checkpoint's seq: its tail was truncated or the store was
    /// restored from an older backup.
    Truncated {
        /// The checkpoint's seq.
        checkpoint_seq: u64,
    },
    /// The record at a checkpoint's seq has another hash: the store was restored from an
    /// older backup and written again, or rewritten wholesale.
    Diverged,
    /// A record uses another hash algorithm than the trail.
    WrongAlgorithm,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Altered => f.write_str("content does not match its hash (altered)"),
            BreakReason::Missing { found } => write!(f, "missing (next record found is {found})"),
            BreakReason::Reordered { found } => write!(f, "out of order (found seq {found})"),
            BreakReason::WrongLink => f.write_str("prev_hash does not link to the previous record"),
            BreakReason::Corrupt(why) => write!(f, "unreadable: {why}"),
            BreakReason::Truncated { checkpoint_seq } => {
                write!(
                    f,
                    "trail ends before checkpoint seq {checkpoint_seq} (truncated or rolled back)"
                )
            }
            BreakReason::Diverged => f.write_str(
                "hash differs from the checkpoint (restored from an older backup or rewritten)",
            ),
            BreakReason::WrongAlgorithm => f.write_str("record uses another hash algorithm"),
        }
    }
}

/// The first place a chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first bad seq.
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.reason)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The tenant verified.
    pub tenant: TenantId,
    /// How many records were read.
    pub count: u64,
    /// The last record read, if any.
    pub head: Option<Head>,
    /// The first break, if any. `None` means the trail is intact.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// Whether the trail verified with no break.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.first_break, &self.head) {
            (None, Some(h)) => write!(
                f,
                "tenant {}: {} records intact, head seq {} hash {}",
                self.tenant, self.count, h.seq, h.hash
            ),
            (None, None) => write!(f, "tenant {}: empty trail", self.tenant),
            (Some(b), _) => write!(
                f,
                "tenant {}: chain broken at {} ({} records read)",
                self.tenant, b, self.count
            ),
        }
    }
}

/// Walks a tenant's trail in seq order and checks every record's hash and link.
///
/// Reads in constant memory. Stops looking for breaks at the first one but keeps counting.
///
/// # Errors
/// Only errors that stop the walk (the store unavailable); an unreadable record is a
/// [`BreakReason::Corrupt`] break, not an error.
pub fn verify<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<VerifyReport> {
    let anchor = store.anchor(tenant)?;
    let algorithm = store.chain_algorithm();
    let mut report = VerifyReport {
        tenant: tenant.clone(),
        count: 0,
        head: None,
        first_break: None,
    };
    let mut expected_seq = anchor.seq + 1;
    let mut prev = anchor.hash;
    let mut last_seq = anchor.seq;
    let query = Query::for_tenant(tenant.clone());
    for item in store.query(&query)? {
        let record = match item {
            Ok(r) => r,
            Err(Error::Corrupt { seq, reason }) => {
                report.count += 1;
                report.first_break.get_or_insert(ChainBreak {
                    seq,
                    reason: BreakReason::Corrupt(reason),
                });
                // The next record cannot link to an unreadable one; resume linking from it.
                expected_seq = seq + 1;
                last_seq = seq;
                continue;
            }
            Err(e) => return Err(e),
        };
        report.count += 1;
        let brk = if record.seq <= last_seq {
            Some(BreakReason::Reordered { found: record.seq })
        } else if record.seq != expected_seq {
            Some(BreakReason::Missing { found: record.seq })
        } else if record.chain != algorithm {
            Some(BreakReason::WrongAlgorithm)
        } else if compute_hash(&record) != record.hash {
            Some(BreakReason::Altered)
        } else if record.prev_hash != prev {
            Some(BreakReason::WrongLink)
        } else {
            None
        };
        if let Some(reason) = brk {
            let seq = match reason {
                BreakReason::Missing { .. } => expected_seq,
                _ => record.seq,
            };
            report.first_break.get_or_insert(ChainBreak { seq, reason });
        }
        last_seq = last_seq.max(record.seq);
        expected_seq = record.seq + 1;
        prev = record.hash;
        report.head = Some(Head {
            seq: record.seq,
            hash: record.hash,
        });
    }
    Ok(report)
}

/// [`verify`], then checks the trail against a checkpoint saved earlier: the trail must reach
/// the checkpoint's seq and have the checkpoint's hash there.
///
/// # Errors
/// [`Error::Verification`] when the checkpoint is for another algorithm; otherwise as
/// [`verify`].
pub fn verify_against<S: AuditStore + ?Sized>(
    store: &S,
    checkpoint: &Checkpoint,
) -> Result<VerifyReport> {
    if checkpoint.chain != store.chain_algorithm() {
        return Err(Error::Verification(format!(
            "checkpoint uses {} but the trail uses {}",
            checkpoint.chain,
            store.chain_algorithm()
        )));
    }
    let mut report = verify(store, &checkpoint.tenant)?;
    if report.first_break.is_some() {
        return Ok(report);
    }
    let head_seq = report.head.map_or(0, |h| h.seq);
    if head_seq < checkpoint.seq {
        report.first_break = Some(ChainBreak {
            seq: head_seq + 1,
            reason: BreakReason::Truncated {
                checkpoint_seq: checkpoint.seq,
            },
        });
        return Ok(report);
    }
    let anchor = store.anchor(&checkpoint.tenant)?;
    let at = if checkpoint.seq == anchor.seq {
        Some(anchor.hash)
    } else if checkpoint.seq < anchor.seq {
        // Purged past the checkpoint: nothing left to compare; the purge itself is recorded.
        None
    } else {
        let q = Query::for_tenant(checkpoint.tenant.clone())
            .after_seq(checkpoint.seq - 1)
            .limit(1);
        let found = store.query(&q)?.next().transpose()?;
        found.filter(|r| r.seq == checkpoint.seq).map(|r| r.hash)
    };
    if let Some(hash) = at {
        if hash != checkpoint.hash {
            report.first_break = Some(ChainBreak {
                seq: checkpoint.seq,
                reason: BreakReason::Diverged,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> Vec<u8> {
        let mut c = Canonical::default();
        c.json(v);
        c.into_bytes()
    }

    #[test]
    fn json_encoding_ignores_key_order_and_formatting() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [true, null, "x"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[true,null,"x"],"b":1}"#).unwrap();
        assert_eq!(enc(&a), enc(&b));
    }

    #[test]
    fn json_encoding_distinguishes_types_and_boundaries() {
        let cases = [
            json!(1),
            json!(1.0),
            json!("1"),
            json!(u64::MAX),
            json!(["ab", "c"]),
            json!(["a", "bc"]),
            json!({"a": "b"}),
            json!({"ab": ""}),
            json!(null),
            json!(false),
        ];
        for (i, x) in cases.iter().enumerate() {
            for (j, y) in cases.iter().enumerate() {
                if i != j {
                    assert_ne!(enc(x), enc(y), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn floats_encode_the_same_after_a_round_trip_through_json_text() {
        // Without serde_json's `float_roundtrip`, these parse back one ulp off.
        for f in [
            1.0715660391465826e-75,
            -1.81996730402717e-179,
            -1.603964615428183e143,
        ] {
            let v = json!({ "amount": f });
            let back: Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(enc(&back), enc(&v), "{f}");
        }
    }

    #[test]
    fn pinned_encoding_of_a_small_value() {
        assert_eq!(
            enc(&json!({"k": [1, "é"]})),
            [
                b'o', 0, 0, 0, 1, 0, 0, 0, 1, b'k', b'a', 0, 0, 0, 2, b'i', 0, 0, 0, 0, 0, 0, 0, 1,
                b's', 0, 0, 0, 2, 0xc3, 0xa9
            ]
        );
    }

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

    #[test]
    fn checkpoints_round_trip_through_json() {
        let c = Checkpoint {
            tenant: TenantId::new("acme"),
            seq: 9,
            hash: Digest([7; 32]),
            chain: ChainAlgorithm::Blake3,
        };
        assert_eq!(Checkpoint::from_json(&c.to_json()).unwrap(), c);
        assert!(Checkpoint::from_json("{}").is_err());
    }
}
