//! The PostgreSQL schema: tables, indexes, append-only triggers, and its version.

use postgres::GenericClient;

use super::pg_error;
use crate::chain::ChainAlgorithm;
use crate::error::{Error, Result};

/// The schema version this build writes and understands.
pub(crate) const SCHEMA_VERSION: u32 = 1;

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
                    "INSERT INTO {} (key, value) VALUES ('schema_version', $1), ('chain', $2)",
                    t.meta
                ),
                &[&SCHEMA_VERSION.to_string(), &algorithm.as_str()],
            )
            .map_err(pg_error)?;
            algorithm
        }
        Some(v) => {
            let found: u32 = v.parse().map_err(|_| Error::NotAStore {
                reason: format!("schema_version is {v:?}, not a number"),
            })?;
            if found > SCHEMA_VERSION {
                return Err(Error::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            // Version 1 is the first; later versions add their migrations here, each
            // running inside this transaction and bumping schema_version.
            let chain = meta(&mut tx, "chain")?.unwrap_or_default();
            ChainAlgorithm::parse(&chain).ok_or_else(|| Error::NotAStore {
                reason: format!("unknown chain algorithm {chain:?}"),
            })?
        }
    };
    tx.commit().map_err(pg_error)?;
    Ok(chain)
}
