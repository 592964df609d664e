//! Cursors beside the trail in PostgreSQL, in tables of their own, through a client of their
//! own, with a lease per destination so that two forwarders never both deliver.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::{check_destination_name, CursorStore, Cursors, DeadLetter};
use crate::error::{Error, Result};
use crate::record::TenantId;

/// Cursors in a PostgreSQL schema (the trail's, typically `audit_log`): tables
/// `audit_forward_destinations`, `audit_forward_cursors` and `audit_forward_dead_letters`.
///
/// # The lease
///
/// [`acquire`](CursorStore::acquire) takes a session-level advisory lock
/// (`pg_try_advisory_lock`) keyed by schema and destination on this store's own connection,
/// and every write for that destination goes through the same connection. So:
///
/// - while one forwarder holds a destination, every other forwarder's `acquire` is `false`
///   (they wait, polling, as standby);
/// - when the holder dies (crash, SIGKILL, network loss), PostgreSQL ends its session and
///   frees the lock: a standby takes over at once, from the last saved cursor;
/// - a holder whose connection broke cannot save a cursor any more (its writes fail), and
///   [`holds`](CursorStore::holds) tells it before it delivers the next batch.
///
/// The one window left is the batch in flight when a holder's connection breaks: the
/// standby may deliver it again. Receivers de-duplicate by record id (at least once).
#[derive(Debug)]
pub struct PgCursors {
    config: postgres::Config,
    schema: String,
    state: Mutex<State>,
}

struct State {
    client: Option<Client>,
    held: HashSet<String>,
}

/// Dropping the synchronous client closes its connection by blocking on a runtime of its
/// own, which tokio refuses on a thread that drives a runtime; and a forwarder drops its cursor
/// store there, when its run ends. There the client is closed on a thread of its own
/// (`crate::runtime`).
impl Drop for PgCursors {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = state.client.take() {
            crate::runtime::off_async(move || drop(client));
        }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("connected", &self.client.is_some())
            .field("held", &self.held)
            .finish()
    }
}

fn pg(e: postgres::Error) -> Error {
    if e.is_closed() || e.as_db_error().is_none() {
        Error::Unavailable { source: e.into() }
    } else {
        Error::store("forward-cursors", e)
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn to_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::invalid("seq", "does not fit a bigint"))
}

impl PgCursors {
    /// Connects to `url` and creates the tables in `schema` if missing.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL; [`Error::Unavailable`] when the server
    /// cannot be reached; store failures.
    pub fn connect(url: &str, schema: &str) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| Error::invalid("url", e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let store = PgCursors {
            config,
            schema: quote_ident(schema),
            state: Mutex::new(State {
                client: None,
                held: HashSet::new(),
            }),
        };
        store.with(|_, client| store.install(client))?;
        Ok(store)
    }

    fn lock_name(&self, destination: &str) -> String {
        format!("audit-log/forward/{}/{destination}", self.schema)
    }

    fn install(&self, client: &mut Client) -> Result<()> {
        let s = &self.schema;
        let mut tx = client.transaction().map_err(pg)?;
        // Two forwarders starting at once must not race on CREATE TABLE IF NOT EXISTS.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("audit-log/forward/{s}/schema")],
        )
        .map_err(pg)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.audit_forward_destinations (
                 destination text PRIMARY KEY,
                 started_at  timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {s}.audit_forward_cursors (
                 destination text   NOT NULL,
                 tenant      text   NOT NULL,
                 seq         bigint NOT NULL CHECK (seq >= 0),
                 updated_at  timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (destination, tenant)
             );
             CREATE TABLE IF NOT EXISTS {s}.audit_forward_dead_letters (
                 id          bigserial PRIMARY KEY,
                 destination text   NOT NULL,
                 tenant      text   NOT NULL,
                 seq         bigint NOT NULL,
                 letter      text   NOT NULL
             );"
        ))
        .map_err(pg)?;
        tx.commit().map_err(pg)
    }

    /// Runs `f` on the connection, opening one if there is none. A broken connection is
    /// dropped, and with it every lease it held.
    /// Runs `f` on this store's connection (opened again if it was lost), where the sync client
    /// may block: see `crate::runtime` (the forwarder runs on a tokio runtime).
    fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut HashSet<String>, &mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        crate::runtime::off_async(|| self.with_here(f))
    }

    fn with_here<T>(
        &self,
        f: impl FnOnce(&mut HashSet<String>, &mut Client) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { client, held } = &mut *state;
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            *client = None;
            held.clear();
        }
        if client.is_none() {
            *client = Some(self.config.connect(NoTls).map_err(pg)?);
        }
        let Some(c) = client.as_mut() else {
            return Err(Error::NotSupported("no connection".to_owned()));
        };
        let out = f(held, c);
        if matches!(out, Err(Error::Unavailable { .. })) || c.is_closed() {
            *client = None;
            held.clear();
        }
        out
    }

    /// Runs a write for `destination`, only while its lease is held on this connection.
    fn write<T: Send>(
        &self,
        destination: &str,
        f: impl FnOnce(&mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        check_destination_name(destination)?;
        self.with(|held, client| {
            if !held.contains(destination) {
                return Err(Error::NotSupported(format!(
                    "this forwarder does not hold the lease of destination {destination}"
                )));
            }
            f(client)
        })
    }

    fn upsert(
        &self,
        client: &mut impl postgres::GenericClient,
        destination: &str,
        tenant: &TenantId,
        seq: u64,
    ) -> Result<()> {
        let seq = to_i64(seq)?;
        client
            .execute(
                &format!(
                    "INSERT INTO {s}.audit_forward_cursors AS c (destination, tenant, seq)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (destination, tenant) DO UPDATE
                        SET seq = excluded.seq, updated_at = now()
                        WHERE excluded.seq > c.seq",
                    s = self.schema
                ),
                &[&destination, &tenant.as_str(), &seq],
            )
            .map_err(pg)?;
        Ok(())
    }
}

impl CursorStore for PgCursors {
    fn load(&self, destination: &str) -> Result<Option<Cursors>> {
        check_destination_name(destination)?;
        let s = self.schema.clone();
        self.with(|_, client| {
            let started = client
                .query_opt(
                    &format!("SELECT 1 FROM {s}.audit_forward_destinations WHERE destination = $1"),
                    &[&destination],
                )
                .map_err(pg)?;
            if started.is_none() {
                return Ok(None);
            }
            let rows = client
                .query(
                    &format!(
                        "SELECT tenant, seq FROM {s}.audit_forward_cursors WHERE destination = $1"
                    ),
                    &[&destination],
                )
                .map_err(pg)?;
            let mut c = Cursors::default();
            for row in rows {
                let t: String = row.try_get(0).map_err(pg)?;
                let seq: i64 = row.try_get(1).map_err(pg)?;
                let seq = u64::try_from(seq)
                    .map_err(|_| Error::corrupt(0, format!("negative cursor for tenant {t}")))?;
                c.positions.insert(TenantId::new(t), seq);
            }
            Ok(Some(c))
        })
    }

    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        let s = self.schema.clone();
        self.write(destination, |client| {
            let mut tx = client.transaction().map_err(pg)?;
            tx.execute(
                &format!(
                    "INSERT INTO {s}.audit_forward_destinations (destination) VALUES ($1)
                     ON CONFLICT DO NOTHING"
                ),
                &[&destination],
            )
            .map_err(pg)?;
            for (t, seq) in &cursors.positions {
                self.upsert(&mut tx, destination, t, *seq)?;
            }
            tx.commit().map_err(pg)
        })
    }

    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
        self.write(destination, |client| {
            self.upsert(client, destination, tenant, seq)
        })
    }

    fn settle(&self, letter: &DeadLetter) -> Result<()> {
        let s = self.schema.clone();
        let seq = to_i64(letter.seq)?;
        let json = serde_json::to_string(letter).map_err(|e| Error::store("forward-cursors", e))?;
        self.write(&letter.destination, |client| {
            let mut tx = client.transaction().map_err(pg)?;
            tx.execute(
                &format!(
                    "INSERT INTO {s}.audit_forward_dead_letters (destination, tenant, seq, letter)
                     VALUES ($1, $2, $3, $4)"
                ),
                &[&letter.destination, &letter.tenant.as_str(), &seq, &json],
            )
            .map_err(pg)?;
            self.upsert(&mut tx, &letter.destination, &letter.tenant, letter.seq)?;
            tx.commit().map_err(pg)
        })
    }

    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>> {
        check_destination_name(destination)?;
        let s = self.schema.clone();
        self.with(|_, client| {
            let rows = client
                .query(
                    &format!(
                        "SELECT letter FROM {s}.audit_forward_dead_letters
                         WHERE destination = $1 ORDER BY id"
                    ),
                    &[&destination],
                )
                .map_err(pg)?;
            rows.iter()
                .map(|row| {
                    let text: String = row.try_get(0).map_err(pg)?;
                    serde_json::from_str(&text)
                        .map_err(|e| Error::corrupt(0, format!("dead letter: {e}")))
                })
                .collect()
        })
    }

    fn acquire(&self, destination: &str) -> Result<bool> {
        check_destination_name(destination)?;
        let name = self.lock_name(destination);
        self.with(|held, client| {
            if held.contains(destination) {
                return Ok(true);
            }
            let row = client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    &[&name],
                )
                .map_err(pg)?;
            let got: bool = row.try_get(0).map_err(pg)?;
            if got {
                held.insert(destination.to_owned());
            }
            Ok(got)
        })
    }

    fn holds(&self, destination: &str) -> Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { client, held } = &mut *state;
        if !held.contains(destination) {
            return Ok(false);
        }
        let alive = client
            .as_mut()
            .is_some_and(|c| !c.is_closed() && c.is_valid(Duration::from_secs(5)).is_ok());
        if !alive {
            *client = None;
            held.clear();
        }
        Ok(alive)
    }

    fn release(&self, destination: &str) -> Result<()> {
        let name = self.lock_name(destination);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { client, held } = &mut *state;
        if held.remove(destination) {
            if let Some(c) = client.as_mut() {
                c.execute(
                    "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                    &[&name],
                )
                .map_err(pg)?;
            }
        }
        Ok(())
    }
}
