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
pub use crate::canonical::{canonical_body, compute_hash};
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub use crate::canonical::{canonical_body_via_value, direct_encoding_for_tests};
pub use crate::digest::{ChainAlgorithm, ChainKey, Digest};
pub use crate::record::Checkpoint;
pub use crate::sink::StorageCheck;
pub use crate::verify::{
    verify, verify_against, verify_with, BreakReason, ChainBreak, VerifyOptions, VerifyReport,
};
