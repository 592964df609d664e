//! Appends inside the host's own sqlx transaction (features `sqlx-postgres`, `sqlx-sqlite`).
//!
//! A host that keeps its own tables through sqlx appends the audit record in the very
//! transaction that changes them: a rollback leaves no record, a commit always has it. The
//! records go into the schema [`PostgresSink`](crate::PostgresSink) /
//! [`SqliteSink`](crate::SqliteSink) read (install it once by connecting or opening one), so
//! the host reads, verifies and exports with the normal stores, and seq and chain stay gapless
//! and valid while those stores, other processes and other transactions append to the same
//! tenant.
//!
//! ```no_run
//! use audit_log::{Actor, AuditLog, EntityRef, Entry, Event, PostgresSink};
//!
//! # async fn run(pool: sqlx::PgPool, log: AuditLog) -> Result<(), Box<dyn std::error::Error>> {
//! let mut tx = pool.begin().await?;
//! sqlx::query("DELETE FROM users WHERE id = $1").bind(42_i64).execute(&mut *tx).await?;
//! let record = log.prepare(Entry::new(Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "bob"))))?;
//! audit_log::sqlx::append_in_postgres(&mut tx, "audit_log", vec![record]).await?;
//! tx.commit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Make the records with your log's [`Preparer`](crate::Preparer) ([`AuditLog::prepare`](crate::AuditLog::prepare)):
//! they get its clock, tenant, redaction and limits.
//!
//! # How
//!
//! - **PostgreSQL**: the same steps as every append of [`PostgresSink`](crate::PostgresSink),
//!   with the same statements: lock the tenants' head rows (so the transaction holds the
//!   tenant's chain until it ends: keep it short), seal the records against them, insert the
//!   rows and their entity mentions, move the heads. The trail's chain algorithm and key are
//!   read from the schema's `audit_meta`, which must be at the version this build writes.
//! - **SQLite**: sqlx lends its connection's SQLite handle
//!   ([`lock_handle`](::sqlx::sqlite::SqliteConnection::lock_handle)) and the append runs
//!   [`SqliteSink::append_in`](crate::SqliteSink::append_in) on it, the same code as a
//!   rusqlite host's. Both crates link the same SQLite (one `libsqlite3-sys` in the graph:
//!   sqlx 0.9 and rusqlite 0.43 agree on it). Begin the transaction with a write (or
//!   `BEGIN IMMEDIATE`) so that the write lock is held before the head is read: a deferred
//!   transaction another writer overtakes fails with [`Error::Busy`](crate::Error::Busy)
//!   instead of forking the chain.

#[cfg(feature = "sqlx-postgres")]
pub use self::postgres::{append_in_postgres, append_in_postgres_keyed};
#[cfg(feature = "sqlx-sqlite")]
pub use self::sqlite::{append_in_sqlite, append_in_sqlite_keyed};

/// Maps a sqlx error to the crate's categories.
fn sqlx_error(e: ::sqlx::Error) -> crate::Error {
    use crate::Error;
    match &e {
        ::sqlx::Error::Io(_)
        | ::sqlx::Error::PoolTimedOut
        | ::sqlx::Error::PoolClosed
        | ::sqlx::Error::WorkerCrashed => Error::Unavailable {
            source: Box::new(e),
        },
        ::sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                // PostgreSQL: serialization failure, deadlock, lock not available, canceled.
                "40001" | "40P01" | "55P03" | "57014"
                // SQLite: SQLITE_BUSY, SQLITE_LOCKED (and their extended codes).
                | "5" | "6" | "261" | "517" | "262" => Error::Busy {
                    source: Box::new(e),
                },
                "53100" | "13" => Error::StorageFull {
                    source: Box::new(e),
                },
                "25006" | "8" => Error::ReadOnly {
                    source: Box::new(e),
                },
                c if c.starts_with("08") || c == "57P01" || c == "57P03" => Error::Unavailable {
                    source: Box::new(e),
                },
                _ => Error::store("sqlx", e),
            }
        }
        _ => Error::store("sqlx", e),
    }
}

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use std::collections::BTreeMap;

    use ::sqlx::{Postgres, Row as _, Transaction};

    use super::sqlx_error;
    use crate::digest::{ChainKey, Digest};
    use crate::error::Result;
    use crate::record::{Head, Receipt, TenantId};
    use crate::sink::postgres::schema::{append_meta, Tables};
    use crate::sink::postgres::write::{
        head_moves, insert_mentions_sql, insert_record_sql, lock_heads_sql, tenants_of, LockedHead,
        Params,
    };
    use crate::sink::row::{Sequencer, Work};
    use crate::sink::PreparedRecord;

    /// Appends `batch` inside the host's sqlx transaction `tx`, into the trail kept in the
    /// PostgreSQL schema `schema` (as [`PostgresSink`](crate::PostgresSink) keeps it). See
    /// the [module docs](super).
    ///
    /// # Errors
    /// [`Error::NotSupported`](crate::Error::NotSupported) when the schema is at another
    /// version than this build writes (migrate it by connecting a `PostgresSink` as its
    /// owner); [`Error::NotAStore`](crate::Error::NotAStore) when the schema holds no trail;
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the trail is keyed (use
    /// [`append_in_postgres_keyed`]); store failures. On error the host should roll back;
    /// nothing of the batch is visible after a rollback.
    pub async fn append_in_postgres(
        tx: &mut Transaction<'_, Postgres>,
        schema: &str,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        append(tx, schema, None, batch).await
    }

    /// [`append_in_postgres`] for a keyed trail: the records are sealed under `key`, which
    /// must be the trail's.
    ///
    /// # Errors
    /// As [`append_in_postgres`]; [`Error::InvalidInput`](crate::Error::InvalidInput) when
    /// `key` is not the trail's.
    pub async fn append_in_postgres_keyed(
        tx: &mut Transaction<'_, Postgres>,
        schema: &str,
        key: &ChainKey,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        append(tx, schema, Some(key), batch).await
    }

    /// The store's statements name only its tables, each a quoted identifier made from the
    /// schema name by `Tables::new`; every value is a bound parameter.
    fn safe(sql: String) -> ::sqlx::AssertSqlSafe<String> {
        ::sqlx::AssertSqlSafe(sql)
    }

    async fn append(
        tx: &mut Transaction<'_, Postgres>,
        schema: &str,
        key: Option<&ChainKey>,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let t = Tables::new(schema);
        let meta: Vec<(String, String)> =
            match ::sqlx::query_as(safe(format!("SELECT key, value FROM {}", t.meta)))
                .fetch_all(&mut **tx)
                .await
            {
                Ok(rows) => rows,
                // 42P01: undefined table.
                Err(::sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => {
                    return Err(crate::Error::NotAStore {
                        reason: format!(
                            "the schema {schema} holds no audit trail (install it first)"
                        ),
                    })
                }
                Err(e) => return Err(sqlx_error(e)),
            };
        let algorithm = append_meta(&t, &meta, key)?;

        let jobs = [&Work::Prepared(batch)];
        let tenants = tenants_of(&jobs);
        let names: Vec<String> = tenants.iter().map(|t| t.as_str().to_owned()).collect();
        let [create, lock] = lock_heads_sql(&t);
        ::sqlx::query(safe(create))
            .bind(&names)
            .bind(&Digest::ZERO.0[..])
            .execute(&mut **tx)
            .await
            .map_err(sqlx_error)?;
        let mut heads: BTreeMap<TenantId, LockedHead> = BTreeMap::new();
        for row in ::sqlx::query(safe(lock))
            .bind(&names)
            .fetch_all(&mut **tx)
            .await
            .map_err(sqlx_error)?
        {
            let get = |i| -> Result<(i64, Vec<u8>)> {
                Ok((
                    row.try_get(i).map_err(sqlx_error)?,
                    row.try_get(i + 1).map_err(sqlx_error)?,
                ))
            };
            let (tenant, locked) =
                LockedHead::of(row.try_get(0).map_err(sqlx_error)?, get(1)?, get(3)?)?;
            heads.insert(tenant, locked);
        }

        // Sealing needs the rows borrowed from the batch while the inserts run: seal first,
        // then write (a host transaction carries few records).
        let mut sequencer = Sequencer::new(algorithm, key, |tenant: &TenantId| {
            heads
                .get(tenant)
                .map(LockedHead::tip)
                .ok_or_else(|| crate::Error::store("postgres", "a locked head row went missing"))
        });
        let rows = sequencer.rows(&jobs).collect::<Result<Vec<_>>>()?;
        let moved: Vec<(TenantId, Head)> = sequencer
            .tips()
            .map(|(tenant, head)| (tenant.clone(), head))
            .collect();
        let insert = insert_record_sql(&t);
        let mut mentions: (Vec<String>, Vec<String>, Vec<String>, Vec<i64>) = Default::default();
        let mut receipts = Vec::with_capacity(rows.len());
        for row in &rows {
            let p = Params::of(row)?;
            ::sqlx::query(safe(insert.clone()))
                .bind(p.tenant)
                .bind(p.seq)
                .bind(p.id)
                .bind(p.occurred_at)
                .bind(p.actor_kind)
                .bind(p.actor_id)
                .bind(p.actor_display)
                .bind(p.event_name)
                .bind(p.outcome)
                .bind(p.ip)
                .bind(p.user_agent)
                .bind(p.request_id)
                .bind(p.correlation_id)
                .bind(p.reason)
                .bind(p.schema_version)
                .bind(p.chain)
                .bind(p.prev_hash)
                .bind(p.hash)
                .bind(p.event_json)
                .bind(p.seal)
                .execute(&mut **tx)
                .await
                .map_err(sqlx_error)?;
            for m in row.mentions() {
                mentions.0.push(row.tenant.as_str().to_owned());
                mentions.1.push(m.kind.as_str().to_owned());
                mentions.2.push(m.id.as_str().to_owned());
                mentions.3.push(p.seq);
            }
            receipts.push(row.receipt());
        }
        if !mentions.0.is_empty() {
            ::sqlx::query(safe(insert_mentions_sql(&t)))
                .bind(&mentions.0)
                .bind(&mentions.1)
                .bind(&mentions.2)
                .bind(&mentions.3)
                .execute(&mut **tx)
                .await
                .map_err(sqlx_error)?;
        }
        let update = crate::sink::postgres::write::update_head_sql(&t);
        for m in head_moves(&heads, moved.into_iter(), &[])? {
            ::sqlx::query(safe(update.clone()))
                .bind(m.tenant.as_str())
                .bind(m.seq)
                .bind(&m.hash.0[..])
                .bind(m.anchor_seq)
                .bind(&m.anchor_hash.0[..])
                .execute(&mut **tx)
                .await
                .map_err(sqlx_error)?;
        }
        Ok(receipts)
    }
}

#[cfg(feature = "sqlx-sqlite")]
mod sqlite {
    use ::sqlx::{Sqlite, Transaction};

    use super::sqlx_error;
    use crate::digest::ChainKey;
    use crate::error::Result;
    use crate::record::Receipt;
    use crate::sink::PreparedRecord;
    use crate::SqliteSink;

    /// Appends `batch` inside the host's sqlx SQLite transaction `tx`, into the trail kept in
    /// that database (as [`SqliteSink`] keeps it; the schema must be installed: open the file
    /// once with [`SqliteSink::open`], or [`SqliteSink::install_schema`]). See the
    /// [module docs](super).
    ///
    /// # Errors
    /// As [`SqliteSink::append_in`]. On error the host should roll back; nothing of the batch
    /// is visible after a rollback.
    pub async fn append_in_sqlite(
        tx: &mut Transaction<'_, Sqlite>,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        append(tx, None, batch).await
    }

    /// [`append_in_sqlite`] for a keyed chain: the records are sealed under `key`, which must
    /// be the store's.
    ///
    /// # Errors
    /// As [`SqliteSink::append_in_keyed`].
    pub async fn append_in_sqlite_keyed(
        tx: &mut Transaction<'_, Sqlite>,
        key: &ChainKey,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        append(tx, Some(key), batch).await
    }

    async fn append(
        tx: &mut Transaction<'_, Sqlite>,
        key: Option<&ChainKey>,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        let mut handle = tx.lock_handle().await.map_err(sqlx_error)?;
        let raw = handle.as_raw_handle().as_ptr();
        // SAFETY: `raw` is the open connection sqlx lent us: `handle` keeps it locked (no
        // other use of it, by sqlx or anyone) until it is dropped, after `conn` below.
        // `from_handle` borrows it without taking ownership (dropping `conn` finalizes only
        // the statements it prepared and leaves the connection open). Both crates link the
        // one `libsqlite3-sys` of the build, so the pointer types are the same type.
        let conn = unsafe { crate::rusqlite::Connection::from_handle(raw) }
            .map_err(|e| crate::Error::store("sqlite", e))?;
        let result = match key {
            Some(key) => SqliteSink::append_in_keyed(&conn, key, batch),
            None => SqliteSink::append_in(&conn, batch),
        };
        drop(conn);
        drop(handle);
        result
    }
}
