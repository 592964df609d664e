//! The PostgreSQL schema: tables, indexes, append-only triggers, and its version.

use postgres::GenericClient;

use super::pg_error;
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};

/// The schema version this build writes and understands: version 1 plus one step per
/// migration.
pub(crate) const SCHEMA_VERSION: u32 = 1 + MIGRATIONS.len() as u32;

/// The transaction-local setting through which a purge declares which rows it removes; the
/// triggers of version 2 let a `DELETE` through only for those rows.
pub(crate) const PURGE_GATE: &str = "audit_log.purge";

/// Forward migrations: `MIGRATIONS[i]` takes a schema from version `i + 1` to `i + 2`. Each
/// runs in the installer's transaction, so a schema is migrated whole or not at all.
const MIGRATIONS: &[fn(&Tables) -> String] = &[
    migrate_v1_to_v2,
    migrate_v2_to_v3,
    migrate_v3_to_v4,
    migrate_v4_to_v5,
];

/// Quotes an SQL identifier (`"` doubled), so any schema name the host picks is safe.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The fully qualified names of the store's tables in one PostgreSQL schema.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    /// The schema's name as given.
    pub(crate) name: String,
    /// The schema's name, quoted.
    pub(crate) quoted_schema: String,
    pub(crate) records: String,
    pub(crate) mentions: String,
    pub(crate) heads: String,
    pub(crate) meta: String,
}

impl Tables {
    pub(crate) fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        Tables {
            name: schema.to_owned(),
            quoted_schema: s.clone(),
            records: format!("{s}.audit_records"),
            mentions: format!("{s}.audit_mentions"),
            heads: format!("{s}.audit_heads"),
            meta: format!("{s}.audit_meta"),
        }
    }
}

/// The DDL of version 1. Text columns that are compared, ranged or sorted use the `C`
/// collation: byte order, as every other store sorts, and family ranges (`user.` to `user/`)
/// that mean what they say whatever the database's locale.
fn ddl_v1(t: &Tables) -> String {
    let Tables {
        name: _,
        quoted_schema: schema,
        records,
        mentions,
        heads,
        meta,
    } = t;
    format!(
        r#"
CREATE TABLE {records} (
    tenant          text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL CHECK (seq > 0),
    id              uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    actor_kind      text NOT NULL,
    actor_id        text COLLATE "C" NOT NULL,
    actor_display   text,
    event_name      text COLLATE "C" NOT NULL,
    outcome         text NOT NULL,
    ip              text,
    user_agent      text,
    request_id      text,
    correlation_id  text,
    reason          text,
    schema_version  integer NOT NULL,
    chain           text NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    event_json      text NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_records_time ON {records} (tenant, occurred_at, seq);
CREATE INDEX audit_records_actor ON {records} (tenant, actor_id, seq);
CREATE INDEX audit_records_event ON {records} (tenant, event_name, seq);
CREATE INDEX audit_records_id ON {records} (id);

CREATE TABLE {mentions} (
    tenant     text COLLATE "C" NOT NULL,
    kind       text COLLATE "C" NOT NULL,
    entity_id  text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (tenant, kind, entity_id, seq)
);

CREATE TABLE {heads} (
    tenant       text COLLATE "C" PRIMARY KEY,
    seq          bigint NOT NULL,
    hash         bytea NOT NULL,
    anchor_seq   bigint NOT NULL DEFAULT 0,
    anchor_hash  bytea NOT NULL
);

CREATE FUNCTION {schema}.audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON {records}
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_reject_change();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON {records}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_reject_change();
CREATE TRIGGER audit_mentions_append_only BEFORE UPDATE OR DELETE ON {mentions}
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_reject_change();
CREATE TRIGGER audit_mentions_no_truncate BEFORE TRUNCATE ON {mentions}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_reject_change();

INSERT INTO {meta} (key, value) VALUES ('format', 'audit-log');
"#
    )
}

/// Version 2: the triggers let a retention purge through. A `DELETE` of records or mentions
/// is allowed only for the rows that the current transaction declared in the setting
/// `audit_log.purge`: a JSON object naming this schema, one tenant and the last seq removed
/// (JSON because a tenant name may hold any character). `UPDATE` and `TRUNCATE` stay refused
/// always. `set_config(.., true)` makes the declaration end with the transaction at the
/// latest; the purge clears it as soon as its deletes and its anchor move are done.
///
/// `audit_purge_through` reads the declaration for both triggers. The same declaration is
/// the only way a tenant's anchor moves once it has records (to the
/// declared seq, forward), and a head row never moves back, so a role that may update heads
/// (every appender) cannot hide a removed prefix by moving the anchor.
fn migrate_v1_to_v2(t: &Tables) -> String {
    let schema = &t.quoted_schema;
    let heads = &t.heads;
    format!(
        r#"
CREATE FUNCTION {schema}.audit_purge_through(in_schema text, in_tenant text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    gate text := current_setting('{PURGE_GATE}', true);
    declared jsonb;
BEGIN
    IF gate IS NULL OR gate = '' THEN
        RETURN NULL;
    END IF;
    declared := gate::jsonb;
    IF declared ->> 'schema' = in_schema AND declared ->> 'tenant' = in_tenant THEN
        RETURN (declared ->> 'through')::bigint;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION {schema}.audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND OLD.seq <= {schema}.audit_purge_through(TG_TABLE_SCHEMA, OLD.tenant)
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION {schema}.audit_guard_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit heads are never removed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.tenant IS DISTINCT FROM OLD.tenant OR NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'audit heads only move forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.anchor_seq IS NOT DISTINCT FROM OLD.anchor_seq
        AND NEW.anchor_hash IS NOT DISTINCT FROM OLD.anchor_hash
    THEN
        RETURN NEW;
    END IF;
    -- An empty trail takes its starting point from the first record imported into it.
    IF OLD.seq = 0 AND OLD.anchor_seq = 0 THEN
        RETURN NEW;
    END IF;
    IF NEW.anchor_seq = {schema}.audit_purge_through(TG_TABLE_SCHEMA, OLD.tenant)
        AND NEW.anchor_seq > OLD.anchor_seq
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit chain anchors only move through a purge'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_heads_guard BEFORE UPDATE OR DELETE ON {heads}
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_guard_head();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON {heads}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_reject_change();
"#
    )
}

/// Version 3:
///
/// - indexes for the context fields an investigator follows (request id, correlation id,
///   client IP), each partial so that only records carrying the field pay for an entry; the
///   same indexes as the SQLite store's version 2;
/// - `seal`: in a keyed chain ([`ChainKey`]), each record's seal; the key's id and a check
///   value are in `audit_meta` (`seal_key`, `seal_check`);
/// - a mention row needs its record (a foreign key), so an entity's timeline cannot be made
///   to name a record that is not there, nor a forged row wait for a record to come; a
///   purge's delete of records takes their mentions with them (`ON DELETE CASCADE`, through
///   the same gated triggers).
fn migrate_v2_to_v3(t: &Tables) -> String {
    let records = &t.records;
    let mentions = &t.mentions;
    format!(
        r#"
ALTER TABLE {mentions} ADD CONSTRAINT audit_mentions_record
    FOREIGN KEY (tenant, seq) REFERENCES {records} (tenant, seq) ON DELETE CASCADE;
ALTER TABLE {records} ADD COLUMN seal bytea;
CREATE INDEX audit_records_request ON {records} (tenant, request_id, seq)
    WHERE request_id IS NOT NULL;
CREATE INDEX audit_records_correlation ON {records} (tenant, correlation_id, seq)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX audit_records_ip ON {records} (tenant, ip, seq)
    WHERE ip IS NOT NULL;
"#
    )
}

/// Version 4: an index of the mentions by `(tenant, seq)`. The foreign key of version 3
/// (`ON DELETE CASCADE`) looked up each purged record's mentions by `(tenant, seq)`, which no
/// index served, so a purge read the whole mentions table once per record it removed:
/// quadratic (50,000 records took 431 s). With the index each lookup is a probe, and the
/// purge's own delete of its range's mentions (before the records) is a range scan. Seqs grow,
/// so new entries land at the index's right edge: little random I/O per append.
///
/// (A statement-level trigger in place of the key was tried and dropped: PL/pgSQL kept the
/// plan of its check from the first insert into an empty table, a scan of the whole records
/// table, for the connection's life, so appends slowed with the trail's size.)
fn migrate_v3_to_v4(t: &Tables) -> String {
    let mentions = &t.mentions;
    format!(
        r#"
CREATE INDEX audit_mentions_seq ON {mentions} (tenant, seq);
"#
    )
}

/// Version 5: a mention row still needs its record, checked once per insert statement by a
/// trigger whose query is planned when it runs, in place of the foreign key of version 3.
///
/// PostgreSQL plans a foreign key's check once per connection and keeps the plan. Planned
/// while the records table is empty (a new store), the check chose an index that only
/// narrows by tenant (`audit_records_event`) over the primary key, so every mention read the
/// tenant's whole index: appends slowed linearly with the trail's size (at 10,000 records
/// a mention insert took 1.2 ms, and a new store's durable appends ran at 175 records/s
/// where version 2 ran 840), until the next `ANALYZE` happened to replan it. The trigger's
/// check runs through `EXECUTE`, which plans it afresh each time against the table as it
/// is. One aggregate and one index range count per tenant check a whole batch's `COPY` at
/// once: the range from the lowest to the highest added seq holds as many records as seqs
/// only when every seq in it, so every added one, has its record (a gap between two added
/// seqs is refused too; a tenant's records have none unless someone deleted one by hand).
/// It takes no row lock on the records (the foreign key locked each referenced record
/// `FOR KEY SHARE`, rewriting its tuple header). The version 4 trigger that was dropped
/// used a static query instead, which PL/pgSQL caches the same way.
///
/// The key's `ON DELETE CASCADE` is not needed: a purge deletes its range's mentions itself,
/// before the records, through the index of version 4.
fn migrate_v4_to_v5(t: &Tables) -> String {
    let schema = &t.quoted_schema;
    let mentions = &t.mentions;
    format!(
        r#"
ALTER TABLE {mentions} DROP CONSTRAINT audit_mentions_record;
CREATE FUNCTION {schema}.audit_mentions_need_records() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gap record;
    found_rows bigint;
BEGIN
    -- Every added seq has its record if, per tenant, the records between the lowest and
    -- the highest added seq are as many as the seqs in that range (a tenant's records have
    -- no gaps, so in practice only if): one aggregate over the added rows and one
    -- index range count per tenant, where a probe per mention row cost a batch of 100,000
    -- records (200,000 mentions) about 0.85 s. EXECUTE, not a static query: planned now,
    -- against the table as it is now.
    EXECUTE format(
        'SELECT a.tenant, a.lo, a.hi FROM '
        '(SELECT tenant, min(seq) AS lo, max(seq) AS hi FROM added GROUP BY tenant) a '
        'WHERE (SELECT count(*) FROM %I.audit_records r '
        '       WHERE r.tenant = a.tenant AND r.seq BETWEEN a.lo AND a.hi) '
        '    <> a.hi - a.lo + 1 '
        'LIMIT 1',
        TG_TABLE_SCHEMA)
        INTO gap;
    GET DIAGNOSTICS found_rows = ROW_COUNT;
    IF found_rows > 0 THEN
        IF gap.lo = gap.hi THEN
            RAISE EXCEPTION 'audit-log: a mention is written with its record: tenant % has no seq %',
                gap.tenant, gap.lo
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RAISE EXCEPTION 'audit-log: a mention is written with its record: tenant % lacks a seq between % and %',
            gap.tenant, gap.lo, gap.hi
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_mentions_need_records AFTER INSERT ON {mentions}
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_mentions_need_records();
"#
    )
}

/// Runs the migrations that take a schema from version `from` to `to`, then records `to`.
fn migrate(tx: &mut postgres::Transaction<'_>, t: &Tables, from: u32, to: u32) -> Result<()> {
    for step in from..to {
        let migration = usize::try_from(step - 1)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
            .ok_or_else(|| Error::store("postgres", format!("no migration from version {step}")))?;
        tx.batch_execute(&migration(t)).map_err(pg_error)?;
    }
    tx.execute(
        &format!(
            "UPDATE {} SET value = $1 WHERE key = 'schema_version'",
            t.meta
        ),
        &[&to.to_string()],
    )
    .map_err(pg_error)?;
    Ok(())
}

/// Creates the schema if it is missing, migrates it forward if it is older, and returns the
/// trail's chain algorithm. Safe to call from several processes at once: an advisory lock
/// serializes installers.
///
/// # Errors
/// [`Error::SchemaTooNew`] for a schema written by a newer version; [`Error::NotAStore`] when
/// the schema holds an `audit_meta` table that is not ours; store errors.
pub(crate) fn install(
    client: &mut impl GenericClient,
    t: &Tables,
    algorithm: ChainAlgorithm,
) -> Result<ChainAlgorithm> {
    install_version(client, t, algorithm, SCHEMA_VERSION)
}

/// What `audit_meta` of the schema holds, read without taking any lock or asking for any right
/// beyond reading it; `None` when the schema or its `audit_meta` table does not exist.
fn read_meta(client: &mut impl GenericClient, t: &Tables) -> Result<Option<Vec<(String, String)>>> {
    let found: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&t.meta])
        .and_then(|row| row.try_get(0))
        .map_err(pg_error)?;
    if found.is_none() {
        return Ok(None);
    }
    let rows = client
        .query(&format!("SELECT key, value FROM {}", t.meta), &[])
        .map_err(pg_error)?;
    Ok(Some(
        rows.iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
            .collect(),
    ))
}

fn meta_value<'a>(meta: &'a [(String, String)], key: &str) -> Option<&'a str> {
    meta.iter()
        .find_map(|(k, v)| (k == key).then_some(v.as_str()))
}

/// The trail's chain algorithm when the schema is an audit store at exactly version `target`,
/// read without taking any lock or asking for any right beyond reading `audit_meta`; `None`
/// when the installer has work to do (or must say what is wrong).
///
/// # Errors
/// [`Error::SchemaTooNew`] for a newer schema; store errors.
fn already_installed(
    client: &mut impl GenericClient,
    t: &Tables,
    target: u32,
) -> Result<Option<ChainAlgorithm>> {
    let Some(meta) = read_meta(client, t)? else {
        return Ok(None);
    };
    if meta_value(&meta, "format") != Some("audit-log") {
        return Ok(None);
    }
    let Some(version) = meta_value(&meta, "schema_version").and_then(|v| v.parse::<u32>().ok())
    else {
        return Ok(None);
    };
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version != target {
        return Ok(None);
    }
    Ok(meta_value(&meta, "chain").and_then(ChainAlgorithm::parse))
}

/// The trail's chain algorithm, for a reader that must change nothing: runs only `SELECT`s,
/// and refuses anything but an audit store at exactly this build's schema version.
///
/// # Errors
/// [`Error::NotAStore`] when the schema or its `audit_meta` is missing or not an audit
/// store's; [`Error::SchemaTooNew`] for a newer schema; [`Error::NotSupported`] for an older
/// one (a reader does not migrate); store errors.
pub(crate) fn check_current(client: &mut impl GenericClient, t: &Tables) -> Result<ChainAlgorithm> {
    let Some(meta) = read_meta(client, t)? else {
        return Err(Error::NotAStore {
            reason: format!(
                "no audit-log store in schema {:?} of this database (no {} table)",
                t.name, t.meta
            ),
        });
    };
    if meta_value(&meta, "format") != Some("audit-log") {
        return Err(Error::NotAStore {
            reason: format!("{} is not an audit-log store's", t.meta),
        });
    }
    let version = meta_value(&meta, "schema_version")
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| Error::NotAStore {
            reason: format!("{} has no schema version", t.meta),
        })?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < SCHEMA_VERSION {
        return Err(Error::NotSupported(format!(
            "the schema {} is at version {version}, this build reads version {SCHEMA_VERSION}: \
             a reader does not migrate it (connect once without read_only, as its owner)",
            t.name
        )));
    }
    let chain = meta_value(&meta, "chain").unwrap_or_default();
    ChainAlgorithm::parse(chain).ok_or_else(|| Error::NotAStore {
        reason: format!("unknown chain algorithm {chain:?}"),
    })
}

/// [`install`] up to schema version `target` (at most [`SCHEMA_VERSION`]): tests make a
/// schema as an older build left it, to prove that the migrations take it forward.
pub(crate) fn install_version(
    client: &mut impl GenericClient,
    t: &Tables,
    algorithm: ChainAlgorithm,
    target: u32,
) -> Result<ChainAlgorithm> {
    if !(1..=SCHEMA_VERSION).contains(&target) {
        return Err(Error::invalid(
            "version",
            format!("this build knows schema versions 1 to {SCHEMA_VERSION}"),
        ));
    }
    // A schema already at the wanted version needs no DDL: looking first lets a role that may
    // only read and insert (the module docs' least-privilege role) connect, since even
    // `CREATE SCHEMA IF NOT EXISTS` asks for CREATE on the database.
    if let Some(chain) = already_installed(client, t, target)? {
        return Ok(chain);
    }
    let mut tx = client.transaction().map_err(pg_error)?;
    // Serializes concurrent installers of the same schema (even CREATE SCHEMA IF NOT EXISTS
    // races with itself); released at commit.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('audit-log schema ' || $1))",
        &[&t.name],
    )
    .map_err(pg_error)?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", t.quoted_schema))
        .map_err(pg_error)?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)",
        t.meta
    ))
    .map_err(pg_error)?;
    let meta = |tx: &mut postgres::Transaction<'_>, key: &str| -> Result<Option<String>> {
        let row = tx
            .query_opt(
                &format!("SELECT value FROM {} WHERE key = $1", t.meta),
                &[&key],
            )
            .map_err(pg_error)?;
        row.map(|r| r.try_get::<_, String>(0).map_err(pg_error))
            .transpose()
    };
    let version = meta(&mut tx, "schema_version")?;
    let chain = match version {
        None => {
            if meta(&mut tx, "format")?.is_some() {
                return Err(Error::NotAStore {
                    reason: "audit_meta has a format but no schema version".into(),
                });
            }
            tx.batch_execute(&ddl_v1(t)).map_err(pg_error)?;
            tx.execute(
                &format!(
                    "INSERT INTO {} (key, value) VALUES ('schema_version', '1'), ('chain', $1)",
                    t.meta
                ),
                &[&algorithm.as_str()],
            )
            .map_err(pg_error)?;
            if target > 1 {
                migrate(&mut tx, t, 1, target)?;
            }
            algorithm
        }
        Some(v) => {
            let found: u32 =
                v.parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::NotAStore {
                        reason: format!("schema_version is {v:?}, not a version number"),
                    })?;
            if found > SCHEMA_VERSION {
                return Err(Error::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found < target {
                migrate(&mut tx, t, found, target)?;
            }
            let chain = meta(&mut tx, "chain")?.unwrap_or_default();
            ChainAlgorithm::parse(&chain).ok_or_else(|| Error::NotAStore {
                reason: format!("unknown chain algorithm {chain:?}"),
            })?
        }
    };
    tx.commit().map_err(pg_error)?;
    Ok(chain)
}

/// The trail's chain key id; with `key`, first checks it is the trail's key, or makes it the
/// key of a trail that has none yet and holds no record.
///
/// # Errors
/// [`Error::InvalidInput`] for a key that does not match, or for giving a key to a trail that
/// was made without one; store errors.
pub(crate) fn chain_key(
    client: &mut impl GenericClient,
    t: &Tables,
    key: Option<&ChainKey>,
) -> Result<Option<String>> {
    let version: Option<String> = client
        .query_opt(
            &format!("SELECT value FROM {} WHERE key = 'schema_version'", t.meta),
            &[],
        )
        .map_err(pg_error)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(pg_error)?;
    if version.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
        return Err(Error::NotSupported(format!(
            "the schema {} is at version {}, this build appends at version {SCHEMA_VERSION}: \
             migrate it first (PostgresSink::install_schema or a connect as its owner)",
            t.name,
            version.as_deref().unwrap_or("(none)")
        )));
    }
    let read = |client: &mut dyn FnMut(&str) -> Result<Option<String>>| -> Result<_> {
        Ok(client("seal_key")?.zip(client("seal_check")?))
    };
    let mut get = |k: &str| -> Result<Option<String>> {
        client
            .query_opt(
                &format!("SELECT value FROM {} WHERE key = $1", t.meta),
                &[&k],
            )
            .map_err(pg_error)?
            .map(|r| r.try_get::<_, String>(0).map_err(pg_error))
            .transpose()
    };
    let found = read(&mut get)?;
    match (found, key) {
        (None, None) => Ok(None),
        (Some((id, _)), None) => Ok(Some(id)),
        (Some((id, check)), Some(k)) => {
            if id != k.id() {
                Err(Error::invalid(
                    "chain_key",
                    format!("the trail's chain key is {id}, not {}", k.id()),
                ))
            } else if check != k.check_value().to_hex() {
                Err(Error::invalid(
                    "chain_key",
                    format!("key {id} is not the key this trail was made with"),
                ))
            } else {
                Ok(Some(id))
            }
        }
        (None, Some(k)) => {
            let any: bool = client
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", t.records), &[])
                .and_then(|r| r.try_get(0))
                .map_err(pg_error)?;
            if any {
                return Err(Error::invalid(
                    "chain_key",
                    format!(
                        "the trail was made without a chain key; key {} cannot be added",
                        k.id()
                    ),
                ));
            }
            client
                .execute(
                    &format!(
                        "INSERT INTO {} (key, value) VALUES ('seal_key', $1), ('seal_check', $2) \
                         ON CONFLICT (key) DO NOTHING",
                        t.meta
                    ),
                    &[&k.id(), &k.check_value().to_hex()],
                )
                .map_err(pg_error)?;
            // Another process may have keyed it first: check what is there now.
            chain_key(client, t, Some(k))
        }
    }
}

/// What an append inside a host's transaction needs from the schema's `audit_meta` rows
/// (read by the caller with its own driver): the trail's chain algorithm, after checking that
/// the schema is a trail at the version this build writes and that `key` is the trail's key
/// (or that there is none when the trail is not keyed).
///
/// # Errors
/// [`Error::NotAStore`], [`Error::SchemaTooNew`], [`Error::NotSupported`] (an older schema:
/// migrate it first), [`Error::InvalidInput`] for a missing, needless or wrong key.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
pub(crate) fn append_meta(
    t: &Tables,
    meta: &[(String, String)],
    key: Option<&ChainKey>,
) -> Result<ChainAlgorithm> {
    let value = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if value("format") != Some("audit-log") {
        return Err(Error::NotAStore {
            reason: format!("{} is not an audit-log metadata table", t.meta),
        });
    }
    let version = value("schema_version").and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::SchemaTooNew {
                found: v,
                supported: SCHEMA_VERSION,
            })
        }
        Some(v) if v == SCHEMA_VERSION => {}
        _ => {
            return Err(Error::NotSupported(format!(
                "the schema {} is at version {}, this build appends at version {SCHEMA_VERSION}: \
                 migrate it first (PostgresSink::install_schema or a connect as its owner)",
                t.name,
                value("schema_version").unwrap_or("(none)")
            )))
        }
    }
    let algorithm = value("chain")
        .and_then(ChainAlgorithm::parse)
        .ok_or_else(|| Error::NotAStore {
            reason: format!("{} names no chain algorithm", t.meta),
        })?;
    match (value("seal_key").zip(value("seal_check")), key) {
        (None, None) => Ok(algorithm),
        (Some((id, _)), None) => Err(Error::invalid(
            "chain_key",
            format!("the trail is keyed (key {id}): append with its key"),
        )),
        (Some((id, check)), Some(k)) => {
            if id != k.id() {
                Err(Error::invalid(
                    "chain_key",
                    format!("the trail's chain key is {id}, not {}", k.id()),
                ))
            } else if check != k.check_value().to_hex() {
                Err(Error::invalid(
                    "chain_key",
                    format!("key {id} is not the key this trail was made with"),
                ))
            } else {
                Ok(algorithm)
            }
        }
        (None, Some(k)) => Err(Error::invalid(
            "chain_key",
            format!(
                "the trail is not keyed; key {} cannot seal its records",
                k.id()
            ),
        )),
    }
}
