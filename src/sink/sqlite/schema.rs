//! The schema of a SQLite audit store, its version, and the forward migrations.
//!
//! The version lives in `audit_meta` (key `schema_version`), next to the `format` marker that
//! tells an audit store apart from any other database. Both keys keep their meaning in every
//! future version, so an old build can always say "this store is newer than me" instead of
//! guessing. When the store owns its file, `PRAGMA user_version` mirrors the version so
//! standard tools show it; a host that keeps its own tables in the same file keeps
//! `user_version` for its own migrations (tools such as `rusqlite_migration` use it).

use rusqlite::{Connection, OptionalExtension};

use super::error::SqlResult;
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};

/// What `audit_meta.format` holds in every audit store.
pub(super) const FORMAT: &str = "audit-log";

/// `MIGRATIONS[i]` brings a store from version `i` to `i + 1`; version 0 is "no store yet".
/// Each runs inside the transaction that also bumps the version, so a crash mid-migration
/// leaves the old version intact.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes and reads.
pub(super) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// Version 1.
///
/// - `audit_records`: one row per record; a column for everything a query filters on, the
///   event as JSON. `STRICT`, so a stray write cannot put text where a seq or hash belongs.
/// - `audit_mentions`: one row per entity an event names (target, related, scope), so an
///   entity's timeline is one index range.
/// - `audit_anchors`: where a tenant's chain starts after a purge (or an import that starts
///   after one).
/// - `audit_purge_gate`: holds a row only inside a purge transaction; the delete triggers let
///   exactly the rows it names go (version 2 replaces it with a function, see [`V2`]).
/// - Triggers make records, mentions and anchors append-only for any SQL, the host's included.
const V1: &str = r#"
CREATE TABLE audit_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE audit_records (
    tenant         TEXT    NOT NULL,
    seq            INTEGER NOT NULL CHECK (seq > 0),
    id             BLOB    NOT NULL,
    occurred_at    INTEGER NOT NULL,
    actor_kind     TEXT    NOT NULL,
    actor_id       TEXT    NOT NULL,
    actor_display  TEXT,
    event_name     TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    request_id     TEXT,
    correlation_id TEXT,
    reason         TEXT,
    schema_version INTEGER NOT NULL,
    chain          TEXT    NOT NULL,
    prev_hash      BLOB    NOT NULL,
    hash           BLOB    NOT NULL,
    event_json     TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX audit_records_seq ON audit_records (tenant, seq);
CREATE INDEX audit_records_time  ON audit_records (tenant, occurred_at, seq);
CREATE INDEX audit_records_actor ON audit_records (tenant, actor_id, seq);
CREATE INDEX audit_records_event ON audit_records (tenant, event_name, seq);

CREATE TABLE audit_mentions (
    tenant    TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    entity_id TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    role      TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, entity_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_anchors (
    tenant TEXT    PRIMARY KEY,
    seq    INTEGER NOT NULL,
    hash   BLOB    NOT NULL
) STRICT;

CREATE TABLE audit_purge_gate (
    tenant  TEXT    NOT NULL,
    through INTEGER NOT NULL
) STRICT;

CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only');
END;

CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate g
                 WHERE g.tenant = OLD.tenant AND OLD.seq <= g.through)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only (retention goes through SqliteSink::purge)');
END;

CREATE TRIGGER audit_mentions_no_update BEFORE UPDATE ON audit_mentions
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only');
END;

CREATE TRIGGER audit_mentions_no_delete BEFORE DELETE ON audit_mentions
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate g
                 WHERE g.tenant = OLD.tenant AND OLD.seq <= g.through)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only');
END;

CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate g WHERE g.tenant = OLD.tenant)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: chain anchors only move through a purge');
END;

CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit-log: chain anchors only move through a purge');
END;

CREATE TRIGGER audit_meta_no_update BEFORE UPDATE ON audit_meta
WHEN OLD.key <> 'schema_version'
BEGIN
    SELECT RAISE(ABORT, 'audit-log: store metadata is fixed at creation');
END;

CREATE TRIGGER audit_meta_no_delete BEFORE DELETE ON audit_meta
BEGIN
    SELECT RAISE(ABORT, 'audit-log: store metadata is fixed at creation');
END;
"#;

/// Version 2.
///
/// - `audit_mentions` loses its `role` column: queries ask for an entity in any role, and the
///   PostgreSQL store never kept it, so both schemas now lay mentions out the same way
///   (`tenant, kind, entity_id, seq`). The rows are copied into the new table inside the
///   migration's transaction.
/// - Indexes for the context fields an investigator follows: request id, correlation id and
///   client IP, each partial (only records that carry the field pay for the entry).
/// - **The purge gate is a function only the store's own connections have.** The delete
///   triggers used to let rows go while `audit_purge_gate` named them, and any connection
///   could fill that table. Now they ask `audit_log_purge_through(tenant)`, an
///   application-defined function the store registers on its write connection and answers
///   only inside its own purge; on any other connection (the `sqlite3` shell, a host's
///   connection) the trigger fails with "no such function", so the delete is refused. The
///   gate table is dropped.
/// - **Nothing is replaced.** `INSERT OR REPLACE` / `REPLACE INTO` deletes the old row without
///   firing delete triggers (with `recursive_triggers` off, SQLite's default), so a record,
///   a mention, an anchor or a metadata row could be rewritten in place. A `BEFORE INSERT`
///   trigger on each table refuses an insert whose key exists.
/// - **A mention needs its record**: a mention row is refused unless its record exists (the
///   store inserts the record first), so a timeline cannot be made to name a record that is
///   not there.
/// - An anchor moves only to the seq the store's purge declared, and is created only for a
///   tenant without records (an import that starts after a purge point) or by a purge.
/// - `audit_records.seal`: in a keyed chain ([`ChainKey`]), each record's seal (the key's id
///   and a check value are in `audit_meta` as `seal_key` / `seal_check`).
pub(super) const V2: &str = r#"
DROP TRIGGER audit_mentions_no_update;
DROP TRIGGER audit_mentions_no_delete;
DROP TRIGGER audit_records_no_delete;
DROP TRIGGER audit_anchors_no_update;
CREATE TABLE audit_mentions_v2 (
    tenant    TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    entity_id TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, entity_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO audit_mentions_v2 (tenant, kind, entity_id, seq)
    SELECT tenant, kind, entity_id, seq FROM audit_mentions;
DROP TABLE audit_mentions;
ALTER TABLE audit_mentions_v2 RENAME TO audit_mentions;
DROP TABLE audit_purge_gate;

CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
WHEN OLD.seq > coalesce(audit_log_purge_through(OLD.tenant), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only (retention goes through RetentionExt::purge)');
END;

CREATE TRIGGER audit_records_no_replace BEFORE INSERT ON audit_records
WHEN EXISTS (SELECT 1 FROM audit_records r WHERE r.tenant = NEW.tenant AND r.seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: an audit record is never replaced');
END;

CREATE TRIGGER audit_mentions_no_update BEFORE UPDATE ON audit_mentions
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only');
END;

CREATE TRIGGER audit_mentions_no_delete BEFORE DELETE ON audit_mentions
WHEN OLD.seq > coalesce(audit_log_purge_through(OLD.tenant), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: audit records are append-only');
END;

CREATE TRIGGER audit_mentions_need_their_record BEFORE INSERT ON audit_mentions
WHEN EXISTS (SELECT 1 FROM audit_mentions m
             WHERE m.tenant = NEW.tenant AND m.kind = NEW.kind
               AND m.entity_id = NEW.entity_id AND m.seq = NEW.seq)
  OR NOT EXISTS (SELECT 1 FROM audit_records r WHERE r.tenant = NEW.tenant AND r.seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: a mention is written once, with its record');
END;

CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
WHEN NEW.tenant IS NOT OLD.tenant OR NEW.seq <= OLD.seq
  OR NEW.seq IS NOT audit_log_purge_through(OLD.tenant)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: chain anchors only move through a purge');
END;

CREATE TRIGGER audit_anchors_no_insert BEFORE INSERT ON audit_anchors
WHEN EXISTS (SELECT 1 FROM audit_anchors a WHERE a.tenant = NEW.tenant)
  OR (EXISTS (SELECT 1 FROM audit_records r WHERE r.tenant = NEW.tenant)
      AND NEW.seq IS NOT audit_log_purge_through(NEW.tenant))
BEGIN
    SELECT RAISE(ABORT, 'audit-log: chain anchors only move through a purge');
END;

CREATE TRIGGER audit_meta_no_replace BEFORE INSERT ON audit_meta
WHEN EXISTS (SELECT 1 FROM audit_meta m WHERE m.key = NEW.key)
BEGIN
    SELECT RAISE(ABORT, 'audit-log: store metadata is fixed at creation');
END;

ALTER TABLE audit_records ADD COLUMN seal BLOB;

CREATE INDEX audit_records_request ON audit_records (tenant, request_id, seq)
    WHERE request_id IS NOT NULL;
CREATE INDEX audit_records_correlation ON audit_records (tenant, correlation_id, seq)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX audit_records_ip ON audit_records (tenant, ip, seq)
    WHERE ip IS NOT NULL;
"#;

/// What [`inspect`] found in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// No table at all: a new or empty file.
    Empty,
    /// Tables, but not the audit-log ones: another application's database (or a host's,
    /// before [`install`]).
    Foreign,
    /// An audit store at this version, with this chain algorithm.
    Store {
        version: u32,
        algorithm: ChainAlgorithm,
    },
}

/// Looks at a database without changing it.
///
/// # Errors
/// [`Error::NotAStore`] for a file that is not a SQLite database or a database without the
/// audit-log marker; [`Error::SchemaTooNew`]; store failures.
pub(super) fn inspect(conn: &Connection) -> Result<Found> {
    inspect_up_to(conn, CURRENT)
}

/// [`inspect`] for a build that supports versions up to `supported`.
fn inspect_up_to(conn: &Connection, supported: u32) -> Result<Found> {
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .sql()?;
    if tables == 0 {
        return Ok(Found::Empty);
    }
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'audit_meta')",
            [],
            |r| r.get(0),
        )
        .sql()?;
    if !has_meta {
        return Ok(Found::Foreign);
    }
    let meta = |key: &str| -> Result<Option<String>> {
        conn.query_row(
            "SELECT CAST(value AS TEXT) FROM audit_meta WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .sql()
    };
    match meta("format")? {
        Some(f) if f == FORMAT => {}
        other => {
            return Err(Error::NotAStore {
                reason: format!(
                    "audit_meta.format is {:?}, expected {FORMAT:?}",
                    other.unwrap_or_default()
                ),
            })
        }
    }
    let version = meta("schema_version")?
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| Error::NotAStore {
            reason: "audit_meta.schema_version is missing or not a number".to_owned(),
        })?;
    if version > supported {
        return Err(Error::SchemaTooNew {
            found: version,
            supported,
        });
    }
    let algorithm = match meta("chain")? {
        Some(a) => ChainAlgorithm::parse(&a).ok_or_else(|| Error::NotAStore {
            reason: format!("unknown chain algorithm {a:?} in audit_meta"),
        })?,
        None => {
            return Err(Error::NotAStore {
                reason: "audit_meta.chain is missing".to_owned(),
            })
        }
    };
    Ok(Found::Store { version, algorithm })
}

/// Creates the schema in an empty database or migrates an older one to [`CURRENT`], inside
/// one `BEGIN IMMEDIATE` transaction, and returns the store's chain algorithm.
///
/// `wanted` is the algorithm for a new store; for an existing one, if given, it must match.
/// `own_file` says whether the file is the store's alone: then a database with other tables
/// is refused as [`Error::NotAStore`], and `user_version` mirrors the version.
///
/// # Errors
/// As [`inspect`]; [`Error::InvalidInput`] when `wanted` differs from an existing store's.
pub(super) fn install(
    conn: &Connection,
    wanted: Option<ChainAlgorithm>,
    key: Option<&ChainKey>,
    own_file: bool,
) -> Result<ChainAlgorithm> {
    install_with(conn, wanted, key, own_file, MIGRATIONS)
}

/// [`install`] over an explicit list of migrations, so tests can prove the machinery with a
/// migration that does not exist yet.
pub(super) fn install_with(
    conn: &Connection,
    wanted: Option<ChainAlgorithm>,
    key: Option<&ChainKey>,
    own_file: bool,
    migrations: &[&str],
) -> Result<ChainAlgorithm> {
    let target = migrations.len() as u32;
    // Fast path: nothing to do, no write lock taken (readers and other processes opening the
    // same store do not queue behind each other).
    match inspect_up_to(conn, target)? {
        Found::Store { version, algorithm } if version == target => {
            return check_wanted(algorithm, wanted)
        }
        Found::Foreign if own_file => return Err(foreign()),
        _ => {}
    }
    // A host calling install_schema inside its own transaction gets a savepoint instead.
    let nested = !conn.is_autocommit();
    conn.execute_batch(if nested {
        "SAVEPOINT audit_install"
    } else {
        "BEGIN IMMEDIATE"
    })
    .sql()?;
    let result = migrate(conn, wanted, key, own_file, migrations);
    let end = match (&result, nested) {
        (Ok(_), false) => "COMMIT",
        (Ok(_), true) => "RELEASE audit_install",
        (Err(_), false) => "ROLLBACK",
        (Err(_), true) => "ROLLBACK TO audit_install; RELEASE audit_install",
    };
    match conn.execute_batch(end).sql() {
        Ok(()) => result,
        Err(e) => {
            if !nested && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(result.err().unwrap_or(e))
        }
    }
}

fn migrate(
    conn: &Connection,
    wanted: Option<ChainAlgorithm>,
    key: Option<&ChainKey>,
    own_file: bool,
    migrations: &[&str],
) -> Result<ChainAlgorithm> {
    let target = migrations.len() as u32;
    // Re-read under the write lock: another connection may have created or migrated the
    // store since the check above.
    let (from, algorithm) = match inspect_up_to(conn, target)? {
        Found::Foreign if own_file => return Err(foreign()),
        Found::Empty | Found::Foreign => (0, wanted.unwrap_or_default()),
        Found::Store { version, algorithm } => (version, check_wanted(algorithm, wanted)?),
    };
    if from > target {
        return Err(Error::SchemaTooNew {
            found: from,
            supported: target,
        });
    }
    let mirror = own_file && {
        let uv: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .sql()?;
        uv == from
    };
    for (i, step) in migrations.iter().enumerate().skip(from as usize) {
        conn.execute_batch(step).sql()?;
        if i == 0 {
            conn.execute(
                "INSERT INTO audit_meta (key, value) VALUES ('format', ?1), ('chain', ?2), ('schema_version', '0')",
                [FORMAT, algorithm.as_str()],
            )
            .sql()?;
            // A keyed chain is chosen when the store is made, like its algorithm.
            if let Some(k) = key {
                conn.execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('seal_key', ?1), ('seal_check', ?2)",
                    [k.id(), &k.check_value().to_hex()],
                )
                .sql()?;
            }
        }
    }
    conn.execute(
        "UPDATE audit_meta SET value = ?1 WHERE key = 'schema_version'",
        [target.to_string()],
    )
    .sql()?;
    if mirror {
        conn.execute_batch(&format!("PRAGMA user_version = {target}"))
            .sql()?;
    }
    Ok(algorithm)
}

/// The error for a database that holds other tables but no audit store.
pub(super) fn foreign() -> Error {
    Error::NotAStore {
        reason: "a SQLite database without audit-log tables".to_owned(),
    }
}

fn check_wanted(found: ChainAlgorithm, wanted: Option<ChainAlgorithm>) -> Result<ChainAlgorithm> {
    match wanted {
        Some(w) if w != found => Err(Error::invalid(
            "chain_algorithm",
            format!("the store was created with {found}, not {w}"),
        )),
        _ => Ok(found),
    }
}

/// The chain algorithm of the store in `conn`, checking that it is a current store.
///
/// # Errors
/// [`Error::NotAStore`] when the schema is not installed; as [`inspect`].
pub(super) fn algorithm_of(conn: &Connection) -> Result<ChainAlgorithm> {
    match inspect(conn)? {
        Found::Store { version, algorithm } if version == CURRENT => Ok(algorithm),
        Found::Store { version, .. } => Err(Error::NotSupported(format!(
            "store schema version {version} needs migrating to {CURRENT}: open it writable once"
        ))),
        Found::Empty | Found::Foreign => Err(Error::NotAStore {
            reason: "no audit-log tables (call SqliteSink::install_schema first)".to_owned(),
        }),
    }
}

/// The store's chain key id and check value, when its chain is keyed.
pub(super) fn chain_key_of(conn: &Connection) -> Result<Option<(String, String)>> {
    let get = |k: &str| -> Result<Option<String>> {
        conn.query_row(
            "SELECT CAST(value AS TEXT) FROM audit_meta WHERE key = ?1",
            [k],
            |r| r.get(0),
        )
        .optional()
        .sql()
    };
    Ok(get("seal_key")?.zip(get("seal_check")?))
}

/// Checks that `key` is the store's chain key (`None` for an unkeyed store); a reader may
/// open a keyed store without it.
///
/// # Errors
/// [`Error::InvalidInput`] naming what does not match.
pub(super) fn check_chain_key(
    conn: &Connection,
    key: Option<&ChainKey>,
    read_only: bool,
) -> Result<()> {
    match (chain_key_of(conn)?, key) {
        (None, None) => Ok(()),
        (None, Some(k)) => Err(Error::invalid(
            "chain_key",
            format!(
                "the store was created without a chain key; key {} cannot be added",
                k.id()
            ),
        )),
        (Some(_), None) if read_only => Ok(()),
        (Some((id, _)), None) => Err(Error::invalid(
            "chain_key",
            format!("the store's chain is keyed (key {id}): open it with its key to write"),
        )),
        (Some((id, check)), Some(k)) => {
            if id != k.id() {
                Err(Error::invalid(
                    "chain_key",
                    format!("the store's chain key is {id}, not {}", k.id()),
                ))
            } else if check != k.check_value().to_hex() {
                Err(Error::invalid(
                    "chain_key",
                    format!("key {id} is not the key this store was made with"),
                ))
            } else {
                Ok(())
            }
        }
    }
}
