//! Signed checkpoints: a [`Checkpoint`] signed with Ed25519 by a key the host keeps outside
//! the store, so a rewritten or rolled-back trail is caught against evidence that someone
//! with SQL access to the store cannot forge.
//!
//! # Why
//!
//! The hash chain catches any edit of a record that leaves the rest of the trail alone. It
//! cannot tell a trail **rewritten from some seq on, with every hash recomputed**, from the
//! real one: the chain has no secret, so anyone who can write the store can write a chain
//! that verifies. A plain [`Checkpoint`] kept elsewhere catches that rewrite (and a store
//! restored from an older backup), but only if the place it is kept is itself trusted: a
//! checkpoint in a file that the same insider can edit proves nothing. A
//! [`SignedCheckpoint`] carries an Ed25519 signature by a key the insider does not have, so
//! the checkpoint file can live anywhere (beside the database, in a log shipper, in a
//! ticket): an edited or invented checkpoint fails [`SignedCheckpoint::verify_signature`].
//!
//! # When to use it
//!
//! When the people who can write the store (database administrators, anyone with the host's
//! database credentials, a restored backup) are not the people the trail must convince.
//! Wrap the store in [`Checkpointing`] and it signs the new head every N records or T seconds
//! and appends it to a [`CheckpointTarget`] (a [`CheckpointFile`] today). An auditor later
//! takes the newest checkpoint and runs [`verify_against_signed`].
//!
//! # Where to keep the key
//!
//! The signing key is 32 secret bytes ([`CheckpointSigner::from_bytes`], or a key file read by
//! [`CheckpointSigner::from_key_file`]: the 32 raw bytes, or 64 hex digits). Keep it where the
//! host process can read it and the store's administrators cannot: a file readable only by
//! the host's user (the key file reader refuses a file that group or others may read), a
//! secret mount of the orchestrator, a secret manager that hands the bytes to the process at
//! start. Never in the audit database, never in the same backup as it. The public half
//! ([`CheckpointVerifier`]) is not secret: give it to auditors. Each key has a **key id**,
//! signed with every checkpoint, so keys can be rotated: verify each checkpoint with the
//! verifier its `key_id` names. Make a key with `head -c 32 /dev/urandom > audit-checkpoint.key`
//! (or `openssl rand -hex 32`) and `chmod 600` it.
//!
//! # What a signed checkpoint proves, and what it does not
//!
//! A checkpoint that verifies under the key proves that the key holder saw the tenant's trail
//! reach `seq` with `hash` there (at `signed_at`, by the signer's clock). Since `hash` chains
//! every record before it, [`verify_against_signed`] then proves that **the trail up to `seq`
//! is the one the key holder saw**: not a record of it edited, removed, reordered or
//! replaced, and not a shorter trail (a truncation or a restore from an older backup is
//! [`BreakReason::Truncated`](crate::chain::BreakReason::Truncated); a rewrite is
//! [`BreakReason::Diverged`](crate::chain::BreakReason::Diverged)). It proves nothing about
//! records after `seq`, and nothing about who wrote a record: only that it was in the trail
//! when the head was signed. The [limits](#what-signed-checkpoints-catch-and-what-they-do-not)
//! are at the end of this page.
//!
//! # Recipe: sign as you record, verify against the newest checkpoint
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use audit_log::{
//!     verify_against_signed, Actor, AuditLog, CheckpointFile, CheckpointSigner, Checkpointing,
//!     EntityRef, Event, SqliteSink, TenantId,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! // In production: CheckpointSigner::from_key_file("audit-2026", "/run/secrets/audit-checkpoint.key")?
//! let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
//! let verifier = signer.verifier(); // public: hand it to the auditors
//!
//! let store = SqliteSink::open(dir.path().join("audit.db"))?;
//! // Somewhere the store's administrators cannot rewrite unnoticed: they may read and append,
//! // but cannot sign.
//! let checkpoints = Arc::new(CheckpointFile::open(dir.path().join("checkpoints.jsonl"))?);
//! let sink = Arc::new(
//!     Checkpointing::new(store.clone(), signer, checkpoints.clone())
//!         .every_records(1000)
//!         .every(Duration::from_secs(300)),
//! );
//! let log = AuditLog::builder(sink.clone()).build();
//! for i in 1..=3 {
//!     log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
//! }
//! // The first append of a tenant is signed at once, then every 1000 records or 5 minutes;
//! // at shut-down, sign what is left. Watch `failed()`: a checkpoint that cannot be written
//! // never fails an append.
//! sink.checkpoint_now()?;
//! assert_eq!((sink.emitted(), sink.failed()), (2, 0));
//!
//! // The auditor: the newest checkpoint of the tenant, checked against the store.
//! let tenant = TenantId::default();
//! let newest = checkpoints.newest(&tenant)?.ok_or("no checkpoint yet")?;
//! assert_eq!(newest.checkpoint.seq, 3);
//! let report = verify_against_signed(&store, &newest, &verifier)?;
//! assert!(report.is_intact(), "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Had the store been restored from a backup taken before seq 3, the report would name
//! [`BreakReason::Truncated`](crate::chain::BreakReason::Truncated); had its records been
//! rewritten, [`BreakReason::Diverged`](crate::chain::BreakReason::Diverged).
//!
//! # The signed message (version 1)
//!
//! The signature is Ed25519 (RFC 8032, verified strictly: no malleable or small-order
//! signatures) over these bytes, written with the crate's canonical encoding (see
//! [`chain`](crate::chain): **str** is the byte length as u32 BE then the UTF-8 bytes):
//!
//! | field | encoding |
//! | --- | --- |
//! | domain tag | the bytes `audit-log/checkpoint/v1` then `0x00` |
//! | tenant | str |
//! | seq | u64 BE |
//! | hash | the 32 bytes |
//! | algorithm | str (the chain algorithm's wire name: `sha256`, `blake3`) |
//! | signed_at | i64 BE, microseconds since the Unix epoch (UTC) |
//! | key_id | str |
//!
//! [`SignedCheckpoint::signing_message`] returns them, so other tools can check a signature.
//! The domain tag keeps a checkpoint signature from ever being valid for another message
//! the same key might sign; every field is length-prefixed or fixed-size, so no two
//! checkpoints share a message. A later version of the message gets a new tag and a new
//! `version` in the JSON.
//!
//! # The JSON line
//!
//! [`SignedCheckpoint::to_json`] writes one line (hashes, signature in lowercase hex):
//!
//! ```text
//! {"version":1,"tenant":"default","seq":1000,"hash":"9f2c…","chain":"sha256","signed_at":"2026-12-01T09:00:00.000000Z","key_id":"audit-2026","signature":"5a0e…"}
//! ```
//!
//! [`SignedCheckpoint::from_json`] refuses any other version, an unknown key, a hash that is
//! not 64 hex digits and a signature that is not 128.
//!
//! # What signed checkpoints catch, and what they do not
//!
//! Caught, against the newest signed checkpoint kept outside the database, by anyone with
//! SQL or file access to the store but not the key:
//! - any edit, removal, reordering or insertion at or before its seq, also with every hash
//!   recomputed ([`BreakReason::Diverged`](crate::chain::BreakReason::Diverged), or the break
//!   `verify` names);
//! - a truncated tail, or a restore from an older backup ([`BreakReason::Truncated`](crate::chain::BreakReason::Truncated));
//! - a checkpoint edited or invented without the key, or shown under another key id.
//!
//! Not caught:
//! - **a forged tail after the newest checkpoint**: records appended or rewritten after the
//!   last signed seq verify like real ones until a later checkpoint covers the real trail
//!   (the cadence bounds the window; a keyed chain closes it). A row forged between two of
//!   the host's appends is signed with the next head like any other.
//! - **deleted checkpoints**: removing the file's newest lines moves the auditor back to an
//!   older one. Keep the file append-only (`chattr +a`, a log shipper, another machine).
//! - **key compromise**: the key's holder signs any trail. Keep it off the database host's
//!   backups; rotate it (a new key id) when a holder leaves.
//! - records before a purge's anchor (gone; the purge is on record), and the signer's clock
//!   (`signed_at` is the host's word, not a trusted timestamp).

mod emit;
mod file;

pub use emit::{CheckpointTarget, Checkpointing};
pub use file::CheckpointFile;

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::canonical::Canonical;
use crate::digest::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::record::{truncate_to_micros, Checkpoint, TenantId};
use crate::sink::AuditStore;
use crate::verify::{verify_against, VerifyReport};

/// The version of the signed message and of the JSON line this crate writes.
pub const SIGNED_CHECKPOINT_VERSION: u32 = 1;

/// The domain tag that opens every signed message of version 1.
const DOMAIN_TAG: &[u8] = b"audit-log/checkpoint/v1\0";

/// Longest key id, in bytes.
const MAX_KEY_ID_BYTES: usize = 128;

/// A key id is shown to people (in errors, in the checkpoint file): short, printable, not
/// blank.
fn check_key_id(key_id: &str) -> Result<()> {
    if key_id.trim().is_empty() {
        return Err(Error::invalid("key_id", "must not be empty"));
    }
    if key_id.len() > MAX_KEY_ID_BYTES {
        return Err(Error::invalid(
            "key_id",
            format!(
                "{} bytes is longer than the limit of {MAX_KEY_ID_BYTES}",
                key_id.len()
            ),
        ));
    }
    if key_id.chars().any(char::is_control) {
        return Err(Error::invalid(
            "key_id",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// The signing half: a key id and an Ed25519 secret key. Signs checkpoints with
/// [`Checkpoint::sign`].
///
/// Its `Debug` shows the key id and the public key, never the secret; the secret is wiped from
/// memory when the signer is dropped.
///
/// ```
/// use audit_log::CheckpointSigner;
///
/// let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
/// assert_eq!(signer.key_id(), "audit-2026");
/// assert!(!format!("{signer:?}").contains(&"07".repeat(32)));
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Clone)]
pub struct CheckpointSigner {
    key_id: String,
    signing_key: SigningKey,
}

impl CheckpointSigner {
    /// A signer from the 32 secret bytes of an Ed25519 key (RFC 8032's "private key").
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `key_id`) for an empty key id, one longer than 128 bytes
    /// or one with control characters.
    pub fn from_bytes(key_id: impl Into<String>, secret: &[u8; 32]) -> Result<Self> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        Ok(CheckpointSigner {
            key_id,
            signing_key: SigningKey::from_bytes(secret),
        })
    }

    /// A signer from a raw key file: exactly the 32 secret bytes, or 64 hex digits (surrounding
    /// whitespace, such as a final newline, is ignored). No PKCS#8, no PEM.
    ///
    /// On Unix the file must not be readable or writable by group or others (`chmod 600`),
    /// like an SSH key: a signing key that others can read signs for them too.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidInput`] (field `key file
    /// PATH`) when its permissions are too open or its content is neither form; as
    /// [`from_bytes`](Self::from_bytes) for the key id.
    pub fn from_key_file(key_id: impl Into<String>, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let field = || format!("key file {}", path.display());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(Error::invalid(
                    field(),
                    format!(
                        "permissions {:03o} let others read or change the secret key; \
                         allow only its owner (chmod 600)",
                        mode & 0o777
                    ),
                ));
            }
        }
        let content = Zeroizing::new(std::fs::read(path)?);
        let mut secret = Zeroizing::new([0u8; 32]);
        if content.len() == 32 {
            secret.copy_from_slice(&content);
        } else {
            let text = std::str::from_utf8(&content)
                .map(str::trim)
                .map_err(|_| Error::invalid(field(), "neither 32 raw bytes nor 64 hex digits"))?;
            hex::decode_to_slice(text, &mut secret[..]).map_err(|_| {
                Error::invalid(
                    field(),
                    format!(
                        "neither 32 raw bytes nor 64 hex digits ({} bytes)",
                        content.len()
                    ),
                )
            })?;
        }
        Self::from_bytes(key_id, &secret)
    }

    /// The key id signed with every checkpoint.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, for whoever verifies.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier {
            key_id: self.key_id.clone(),
            verifying_key: self.signing_key.verifying_key(),
        }
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.key_id)
            .field(
                "public_key",
                &hex::encode(self.signing_key.verifying_key().as_bytes()),
            )
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The verifying half: a key id and an Ed25519 public key. Not secret.
///
/// ```
/// use audit_log::{CheckpointSigner, CheckpointVerifier};
///
/// let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
/// // What an auditor is given: the key id and 64 hex digits.
/// let public = signer.verifier().public_key_hex();
/// let verifier = CheckpointVerifier::from_hex("audit-2026", &public)?;
/// assert_eq!(verifier, signer.verifier());
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerifier {
    key_id: String,
    verifying_key: VerifyingKey,
}

impl CheckpointVerifier {
    /// A verifier from the 32 bytes of an Ed25519 public key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: field `public_key` when the bytes are not a point of the
    /// curve or are a weak (small-order) key, which would accept forged signatures; field
    /// `key_id` as [`CheckpointSigner::from_bytes`].
    pub fn from_bytes(key_id: impl Into<String>, public_key: &[u8; 32]) -> Result<Self> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let verifying_key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| Error::invalid("public_key", "not an Ed25519 public key"))?;
        if verifying_key.is_weak() {
            return Err(Error::invalid(
                "public_key",
                "a weak (small-order) key, which accepts forged signatures",
            ));
        }
        Ok(CheckpointVerifier {
            key_id,
            verifying_key,
        })
    }

    /// A verifier from the public key as 64 hex digits ([`public_key_hex`](Self::public_key_hex)).
    ///
    /// # Errors
    /// As [`from_bytes`](Self::from_bytes); field `public_key` when the text is not 64 hex
    /// digits.
    pub fn from_hex(key_id: impl Into<String>, public_key: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(public_key.trim(), &mut bytes)
            .map_err(|e| Error::invalid("public_key", format!("not 64 hex digits: {e}")))?;
        Self::from_bytes(key_id, &bytes)
    }

    /// The key id this verifier accepts.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key's 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.verifying_key.to_bytes()
    }

    /// The public key as 64 lowercase hex digits.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.verifying_key.as_bytes())
    }
}

/// A [`Checkpoint`] with when and by which key it was signed, and the Ed25519 signature over
/// its [signing message](SignedCheckpoint::signing_message).
///
/// Made by [`Checkpoint::sign`] (or [`Checkpointing`], which signs as it appends); read back
/// with [`from_json`](SignedCheckpoint::from_json); checked with
/// [`verify_signature`](SignedCheckpoint::verify_signature) or, against a store,
/// [`verify_against_signed`]. The fields are public: a changed field simply fails
/// verification.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedCheckpoint {
    /// What was signed: tenant, seq, hash and algorithm.
    pub checkpoint: Checkpoint,
    /// When, by the signer's clock (UTC, whole microseconds).
    pub signed_at: DateTime<Utc>,
    /// Which key signed it.
    pub key_id: String,
    /// The Ed25519 signature (R then S, 64 bytes).
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCheckpoint")
            .field("checkpoint", &self.checkpoint)
            .field("signed_at", &self.signed_at)
            .field("key_id", &self.key_id)
            .field("signature", &hex::encode(self.signature))
            .finish()
    }
}

impl Checkpoint {
    /// Signs this checkpoint with `signer`'s key, as seen at `at` (kept to the microsecond).
    ///
    /// ```
    /// use audit_log::{ChainAlgorithm, Checkpoint, CheckpointSigner, Digest, TenantId};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
    /// let checkpoint = Checkpoint {
    ///     tenant: TenantId::default(),
    ///     seq: 42,
    ///     hash: Digest([1; 32]),
    ///     chain: ChainAlgorithm::Sha256,
    /// };
    /// let signed = checkpoint.sign(&signer, Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
    /// assert_eq!(signed.verify_signature(&signer.verifier())?, &checkpoint);
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    pub fn sign(&self, signer: &CheckpointSigner, at: DateTime<Utc>) -> SignedCheckpoint {
        let signed_at = truncate_to_micros(at);
        let message = signing_message(self, signed_at, &signer.key_id);
        SignedCheckpoint {
            checkpoint: self.clone(),
            signed_at,
            key_id: signer.key_id.clone(),
            signature: signer.signing_key.sign(&message).to_bytes(),
        }
    }
}

/// The bytes a signature of version 1 covers; see the [module docs](self#the-signed-message-version-1).
fn signing_message(checkpoint: &Checkpoint, signed_at: DateTime<Utc>, key_id: &str) -> Vec<u8> {
    let mut m = Canonical::with_capacity(128);
    m.raw(DOMAIN_TAG);
    m.str(checkpoint.tenant.as_str());
    m.raw(&checkpoint.seq.to_be_bytes());
    m.raw(checkpoint.hash.as_bytes());
    m.str(checkpoint.chain.as_str());
    m.raw(&signed_at.timestamp_micros().to_be_bytes());
    m.str(key_id);
    m.into_bytes()
}

/// The group order of Ed25519, little-endian: a signature's S half is below it.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Whether the little-endian scalar `s` is reduced (below the group order), as every
/// Ed25519 signer writes it.
fn is_reduced(s: &[u8]) -> bool {
    for (a, l) in s.iter().rev().zip(GROUP_ORDER.iter().rev()) {
        if a != l {
            return a < l;
        }
    }
    false
}

impl SignedCheckpoint {
    /// The bytes the signature covers (see the [module docs](self#the-signed-message-version-1)),
    /// for checking a signature with another Ed25519 tool.
    pub fn signing_message(&self) -> Vec<u8> {
        signing_message(&self.checkpoint, self.signed_at, &self.key_id)
    }

    /// Checks the signature with `verifier` and returns the checkpoint it covers.
    ///
    /// # Errors
    /// [`Error::Verification`] saying why: the checkpoint names another key id than the
    /// verifier's (`wrong key id`); the signature is malformed (its S half is not reduced:
    /// no Ed25519 signer writes that); or it does not verify for this checkpoint under this
    /// key (`bad signature`: a field was changed, or another key signed it).
    pub fn verify_signature(&self, verifier: &CheckpointVerifier) -> Result<&Checkpoint> {
        if self.key_id != verifier.key_id {
            return Err(Error::Verification(format!(
                "wrong key id: checkpoint signed with key {:?}, the verifier holds key {:?}",
                self.key_id, verifier.key_id
            )));
        }
        let cp = &self.checkpoint;
        if !is_reduced(&self.signature[32..]) {
            return Err(Error::Verification(format!(
                "malformed signature on the checkpoint of tenant {} at seq {}: \
                 its S half is not reduced",
                cp.tenant, cp.seq
            )));
        }
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        verifier
            .verifying_key
            .verify_strict(&self.signing_message(), &signature)
            .map_err(|_| {
                Error::Verification(format!(
                    "bad signature on the checkpoint of tenant {} at seq {} (key {:?}): \
                     the checkpoint was changed or another key signed it",
                    cp.tenant, cp.seq, self.key_id
                ))
            })?;
        Ok(cp)
    }

    /// The signed checkpoint as one line of JSON (see the [module docs](self#the-json-line)).
    pub fn to_json(&self) -> String {
        let wire = Wire {
            version: SIGNED_CHECKPOINT_VERSION,
            tenant: self.checkpoint.tenant.clone(),
            seq: self.checkpoint.seq,
            hash: self.checkpoint.hash,
            chain: self.checkpoint.chain,
            signed_at: self.signed_at,
            key_id: self.key_id.clone(),
            signature: hex::encode(self.signature),
        };
        // Strings, integers and hex: always serializes.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads a line written by [`to_json`](Self::to_json). The signature is not checked here:
    /// that is [`verify_signature`](Self::verify_signature).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `signed checkpoint`) when the text is not a signed
    /// checkpoint of a version this build reads.
    pub fn from_json(s: &str) -> Result<Self> {
        const FIELD: &str = "signed checkpoint";
        let wire: Wire = serde_json::from_str(s).map_err(|e| Error::invalid(FIELD, e))?;
        if wire.version != SIGNED_CHECKPOINT_VERSION {
            return Err(Error::invalid(
                FIELD,
                format!(
                    "version {} is not supported (this build reads version {SIGNED_CHECKPOINT_VERSION})",
                    wire.version
                ),
            ));
        }
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&wire.signature, &mut signature)
            .map_err(|e| Error::invalid(FIELD, format!("signature is not 128 hex digits: {e}")))?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                tenant: wire.tenant,
                seq: wire.seq,
                hash: wire.hash,
                chain: wire.chain,
            },
            signed_at: wire.signed_at,
            key_id: wire.key_id,
            signature,
        })
    }
}

/// The JSON line, field for field.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    version: u32,
    tenant: TenantId,
    seq: u64,
    hash: Digest,
    chain: ChainAlgorithm,
    #[serde(with = "crate::record::micros")]
    signed_at: DateTime<Utc>,
    key_id: String,
    signature: String,
}

/// Checks `signed`'s signature with `verifier`, then the trail against the checkpoint it
/// covers ([`verify_against`]): the trail up to the
/// checkpoint's seq is the one the key holder saw exactly when the report
/// [`is_intact`](VerifyReport::is_intact).
///
/// ```
/// use audit_log::{verify_against_signed, Actor, AuditLog, AuditStoreExt, CheckpointSigner, EntityRef, Event, MemorySink, TenantId};
/// use chrono::Utc;
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(store.clone()).build();
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))?;
/// let signer = CheckpointSigner::from_bytes("audit-2026", &[7; 32])?;
/// let signed = store.checkpoint(&TenantId::default())?.unwrap().sign(&signer, Utc::now());
///
/// assert!(verify_against_signed(&store, &signed, &signer.verifier())?.is_intact());
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// # Errors
/// As [`SignedCheckpoint::verify_signature`] when the signature does not hold (the store is
/// not read then); otherwise as [`verify_against`].
pub fn verify_against_signed<S: AuditStore + ?Sized>(
    store: &S,
    signed: &SignedCheckpoint,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport> {
    let checkpoint = signed.verify_signature(verifier)?;
    verify_against(store, checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> (CheckpointSigner, SignedCheckpoint) {
        let signer = CheckpointSigner::from_bytes("k1", &[7; 32]).unwrap();
        let cp = Checkpoint {
            tenant: TenantId::new("acme"),
            seq: 258,
            hash: Digest([0xab; 32]),
            chain: ChainAlgorithm::Sha256,
        };
        let at = Utc.timestamp_micros(1_764_579_600_123_456).unwrap();
        (signer.clone(), cp.sign(&signer, at))
    }

    #[test]
    fn the_signing_message_is_the_documented_bytes() {
        let (_, signed) = sample();
        let mut want = b"audit-log/checkpoint/v1\0".to_vec();
        want.extend([0, 0, 0, 4]);
        want.extend(b"acme");
        want.extend(258u64.to_be_bytes());
        want.extend([0xab; 32]);
        want.extend([0, 0, 0, 6]);
        want.extend(b"sha256");
        want.extend(1_764_579_600_123_456i64.to_be_bytes());
        want.extend([0, 0, 0, 2]);
        want.extend(b"k1");
        assert_eq!(signed.signing_message(), want);
    }

    #[test]
    fn signatures_are_pinned() {
        // Ed25519 is deterministic: this pins the message, the key handling and the library.
        // If it changes, checkpoints signed by earlier versions no longer verify. Both values
        // were computed independently of this crate, by OpenSSL (Python's `cryptography`)
        // from the message layout in the module docs: another tool can check our checkpoints.
        let (signer, signed) = sample();
        assert_eq!(
            signer.verifier().public_key_hex(),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(hex::encode(signed.signature), PINNED_SIGNATURE);
    }

    const PINNED_SIGNATURE: &str = "f16eeb6adffb35f6189f69cda01aa48ad9854755236c055d92e1e72326b8fe37\
                                    30b16e8060f08053e3547717a49db3f59c9be5b51ae5659663a8942e1cc6dd04";

    #[test]
    fn signed_at_is_kept_to_the_microsecond() {
        let signer = CheckpointSigner::from_bytes("k1", &[7; 32]).unwrap();
        let cp = sample().1.checkpoint;
        let at = Utc.timestamp_nanos(1_764_579_600_123_456_789);
        let signed = cp.sign(&signer, at);
        assert_eq!(signed.signed_at.timestamp_subsec_nanos() % 1000, 0);
        let back = SignedCheckpoint::from_json(&signed.to_json()).unwrap();
        assert_eq!(back, signed);
        assert!(back.verify_signature(&signer.verifier()).is_ok());
    }

    #[test]
    fn the_reduced_check_matches_the_group_order() {
        assert!(is_reduced(&[0; 32]));
        let mut below = GROUP_ORDER;
        below[0] -= 1;
        assert!(is_reduced(&below));
        assert!(!is_reduced(&GROUP_ORDER));
        let mut above = GROUP_ORDER;
        above[1] += 1;
        assert!(!is_reduced(&above));
        let mut high = [0u8; 32];
        high[31] = 0xe0;
        assert!(!is_reduced(&high));
    }

    #[test]
    fn an_unreduced_signature_is_malformed_not_just_bad() {
        let (signer, mut signed) = sample();
        // S + L verifies under lax implementations (malleability); strictly it is malformed.
        let mut carry = 0u16;
        for (s, l) in signed.signature[32..].iter_mut().zip(GROUP_ORDER) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        let err = signed.verify_signature(&signer.verifier()).unwrap_err();
        assert!(err.to_string().contains("malformed signature"), "{err}");
    }

    #[test]
    fn key_ids_are_checked() {
        for bad in ["", "  ", "a\nb", &"k".repeat(129)] {
            assert!(
                matches!(CheckpointSigner::from_bytes(bad, &[1; 32]), Err(Error::InvalidInput { ref field, .. }) if field == "key_id"),
                "{bad:?}"
            );
        }
        assert!(CheckpointSigner::from_bytes("k".repeat(128), &[1; 32]).is_ok());
    }

    #[test]
    fn weak_and_invalid_public_keys_are_refused() {
        // The identity point: small order, accepts forgeries under lax verification.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = CheckpointVerifier::from_bytes("k", &identity).unwrap_err();
        assert!(err.to_string().contains("weak"), "{err}");
        assert!(CheckpointVerifier::from_hex("k", "zz").is_err());
        // y = 2 is not on the curve.
        let mut off = [0u8; 32];
        off[0] = 2;
        let err = CheckpointVerifier::from_bytes("k", &off).unwrap_err();
        assert!(
            err.to_string().contains("not an Ed25519 public key"),
            "{err}"
        );
    }
}
