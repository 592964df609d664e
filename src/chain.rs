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
//!
//! # What verification checks
//!
//! What [`verify_with`] checks, in one pass over the records plus one over the entity index:
//!
//! 1. **Every record**: readable, in seq order without gaps from the anchor, its content
//!    matching its hash, its `prev_hash` the hash of the record before, the trail's algorithm.
//!    A store also refuses to read a record whose derived columns (the stored event name) do
//!    not match its hashed content: that is a [`BreakReason::Corrupt`] break.
//! 2. **The whole trail up to the head**: the walk must reach the store's head as read before
//!    it started, and walk as many rows, up to as high a seq, as the store counts in the
//!    records' own storage ([`AuditStore::census`](crate::AuditStore::census), not through the index the walk uses); a
//!    damaged index that ends a scan early is a [`BreakReason::MissingTail`] break, never
//!    "intact" over part of the trail.
//! 3. **The start**: a trail that starts after seq 0 (a retention purge moved its anchor) must
//!    hold the `audit.purged` record that names that anchor, in the verified chain; a removed
//!    prefix with a forged anchor is a [`BreakReason::UnaccountedStart`] break.
//! 4. **The entity index** ([`AuditStore::scan_mentions`](crate::AuditStore::scan_mentions)), where the store keeps one: its rows
//!    must be exactly the entities the records' events name. A forged or removed mention row
//!    (which would make an entity's timeline, `History` or a filtered export lie) is a
//!    [`BreakReason::IndexMismatch`] break at the first seq whose rows disagree. The
//!    comparison is a keyed multiset hash with a key drawn for this run, so nobody who wrote
//!    the rows earlier can make forged rows cancel out; only on a mismatch is the seq found,
//!    by halving the seq range.
//! 5. Optionally **the store's own file** ([`StorageCheck`]): SQLite's `quick_check` or
//!    `integrity_check`.
//!
//! The costs are in `docs/benchmarks.md` ("Verification").

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
