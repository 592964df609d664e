//! The write path: sealing records into rows, and group commit.
//!
//! # Group commit without a writer thread
//!
//! Every caller puts its batch on a queue. If nobody is committing, it becomes the leader: it
//! takes everything waiting on the queue, appends each batch inside its own `SAVEPOINT` of
//! one `BEGIN IMMEDIATE` transaction, commits once (one fsync) and answers every caller.
//! While it commits, new callers pile up on the queue; when it is done, it hands the lead to
//! the first of them, who commits the next group with all of them. So the number of commits
//! per second stays what the disk allows while the records per commit grow with the load.
//! Each caller waits on its own channel, not on the connection's lock, so an answered caller
//! returns at once instead of queueing behind the next commit, and a leader's turn wakes only
//! the callers it answered and the next leader, not every waiter.
//!
//! Compared with a dedicated writer thread fed by a channel, the uncontended call costs no
//! thread hand-off, there is no thread to start, stop or lose to a panic, and a host's own
//! transaction ([`append_in`](super::SqliteSink::append_in)) uses the very same code.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::{map, map_shared, SqlResult};
use crate::chain::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::record::{Head, Receipt, Record, TenantId};
use crate::sink::{check_continuation, PreparedRecord};

const INSERT_RECORD: &str = "INSERT INTO audit_records (tenant, seq, id, occurred_at, \
    actor_kind, actor_id, actor_display, event_name, outcome, ip, user_agent, request_id, \
    correlation_id, reason, schema_version, chain, prev_hash, hash, event_json) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

// An event may name the same entity twice (a custom event whose target is also its related
// entity); the timeline needs it once.
const INSERT_MENTION: &str = "INSERT OR IGNORE INTO audit_mentions (tenant, kind, entity_id, \
    seq, role) VALUES (?1, ?2, ?3, ?4, ?5)";

/// How many records one group commit takes at most; the rest wait for the next leader, so
/// one commit never grows without bound.
const MAX_GROUP_RECORDS: usize = 20_000;

/// What a caller asks the writer to append.
pub(super) enum Work {
    Prepared(Vec<PreparedRecord>),
    Sealed(Vec<Record>),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Prepared(b) => b.len(),
            Work::Sealed(b) => b.len(),
        }
    }
}

/// What a waiting caller hears: its answer, or that it leads the next group.
enum Reply {
    Done(Result<Vec<Receipt>>),
    Lead,
}

struct Job {
    work: Work,
    reply: mpsc::SyncSender<Reply>,
}

/// The write connection and the queue of callers waiting for it.
pub(super) struct Writer {
    conn: Mutex<Connection>,
    state: Mutex<Queue>,
    algorithm: ChainAlgorithm,
}

#[derive(Default)]
struct Queue {
    queue: Vec<Job>,
    /// Whether a caller is committing a group right now, or has been handed the lead. While
    /// it is false the queue is empty.
    leading: bool,
}

impl Writer {
    pub(super) fn new(conn: Connection, algorithm: ChainAlgorithm) -> Self {
        Writer {
            conn: Mutex::new(conn),
            state: Mutex::new(Queue::default()),
            algorithm,
        }
    }

    /// The write connection, for work that needs it alone (purge, in-memory reads). A panic
    /// elsewhere cannot leave it mid-transaction for long: every user starts by rolling back
    /// a transaction it did not open.
    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }

    /// Appends `work` through group commit and returns its receipts once committed.
    pub(super) fn submit(&self, work: Work) -> Result<Vec<Receipt>> {
        if work.len() == 0 {
            return Ok(Vec::new());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push(Job { work, reply });
        if state.leading {
            drop(state);
            // Someone is committing; it answers this job or hands the lead to it.
            match answer.recv() {
                Ok(Reply::Done(result)) => return result,
                Ok(Reply::Lead) => {}
                Err(_) => return Err(lost()),
            }
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        } else {
            state.leading = true;
        }
        // This job is first on the queue (it was empty, or the lead was handed to it), so it
        // is in the group.
        let jobs = take_group(&mut state.queue);
        drop(state);
        // A panic below must not leave the lead with nobody, or every later caller would wait
        // forever: the guard passes it on or clears it on the way out, however that is.
        let lead = Lead(self);
        let conn = self.lock();
        run_group(&conn, self.algorithm, jobs);
        drop(conn);
        drop(lead);
        match answer.recv() {
            Ok(Reply::Done(result)) => result,
            Ok(Reply::Lead) | Err(_) => Err(lost()),
        }
    }
}

/// Ends a leader's turn: hands the lead to the first waiting caller, or clears the flag when
/// nobody waits.
struct Lead<'a>(&'a Writer);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(next) = state.queue.first() {
            if next.reply.send(Reply::Lead).is_ok() {
                return;
            }
            // Its caller is gone (it cannot be waiting on anything else); nobody needs it.
            state.queue.remove(0);
        }
        state.leading = false;
    }
}

fn take_group(queue: &mut Vec<Job>) -> Vec<Job> {
    let mut records = 0;
    let mut n = 0;
    for job in queue.iter() {
        if n > 0 && records + job.work.len() > MAX_GROUP_RECORDS {
            break;
        }
        records += job.work.len();
        n += 1;
    }
    queue.drain(..n).collect()
}

fn lost() -> Error {
    Error::store("sqlite", "the group commit leader failed before answering")
}

/// Runs one group: one transaction, one commit, every job answered.
///
/// A group first runs its jobs back to back, without savepoints: a savepoint per job costs
/// two statements and a copy of every page the job touches, which is most of a small job's
/// share of the group. Jobs rarely fail, but when one does, the whole attempt is rolled back
/// and the group runs again with one savepoint per job, so that one job's failure undoes only
/// its own rows.
fn run_group(conn: &Connection, algorithm: ChainAlgorithm, mut jobs: Vec<Job>) {
    let mut careful = false;
    // Each pass either commits, removes (and answers) at least one job, or turns careful
    // (which happens once), so this ends.
    'pass: loop {
        if jobs.is_empty() {
            return;
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            for job in jobs {
                let _ = job.reply.send(Reply::Done(Err(map_shared(&e))));
            }
            return;
        }
        let single = jobs.len() == 1;
        let mut tips = Tips::default();
        let mut results: Vec<Result<Vec<Receipt>>> = Vec::with_capacity(jobs.len());
        for i in 0..jobs.len() {
            let outcome = if single || !careful {
                apply(conn, algorithm, &mut tips, &jobs[i].work)
            } else {
                savepoint(conn, algorithm, &mut tips, &jobs[i].work)
            };
            match outcome {
                Ok(receipts) => results.push(Ok(receipts)),
                Err(_) if !single && !careful && !conn.is_autocommit() => {
                    // The failed job may have left rows behind: undo the attempt and run the
                    // group again, each job in its own savepoint.
                    let _ = conn.execute_batch("ROLLBACK");
                    careful = true;
                    continue 'pass;
                }
                Err(e) if conn.is_autocommit() || single => {
                    // SQLite rolled the whole transaction back (a full disk can), or there is
                    // nothing else in it: this job fails, the others run again without it.
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    let job = jobs.remove(i);
                    let _ = job.reply.send(Reply::Done(Err(e)));
                    continue 'pass;
                }
                Err(e) => results.push(Err(e)),
            }
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Reply::Done(result));
                }
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Reply::Done(result.and(Err(map_shared(&e)))));
                }
            }
        }
        return;
    }
}

/// One job inside its savepoint: its failure undoes only its own rows and tips.
fn savepoint(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    tips: &mut Tips,
    work: &Work,
) -> Result<Vec<Receipt>> {
    conn.execute_batch("SAVEPOINT audit_job").sql()?;
    let before = tips.clone();
    match apply(conn, algorithm, tips, work) {
        Ok(receipts) => {
            conn.execute_batch("RELEASE audit_job").sql()?;
            Ok(receipts)
        }
        Err(e) => {
            *tips = before;
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK TO audit_job; RELEASE audit_job")
                    .sql()?;
            }
            Err(e)
        }
    }
}

fn apply(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    tips: &mut Tips,
    work: &Work,
) -> Result<Vec<Receipt>> {
    match work {
        Work::Prepared(batch) => insert_prepared(conn, algorithm, tips, batch),
        Work::Sealed(batch) => insert_sealed(conn, algorithm, tips, batch),
    }
}

/// The last known record (or anchor) of each tenant touched in the current transaction, so a
/// group reads each tenant's head from the file once.
#[derive(Debug, Default, Clone)]
pub(super) struct Tips {
    known: HashMap<TenantId, Option<Head>>,
}

impl Tips {
    /// The tenant's tip: its last record, else its anchor, else `None` (an empty trail).
    fn get(&mut self, conn: &Connection, tenant: &TenantId) -> Result<Option<Head>> {
        if let Some(t) = self.known.get(tenant) {
            return Ok(*t);
        }
        let tip = read_tip(conn, tenant)?;
        self.known.insert(tenant.clone(), tip);
        Ok(tip)
    }

    fn set(&mut self, tenant: &TenantId, head: Head) {
        match self.known.get_mut(tenant) {
            Some(slot) => *slot = Some(head),
            None => {
                self.known.insert(tenant.clone(), Some(head));
            }
        }
    }
}

/// The tenant's last record, else its anchor, read inside the caller's transaction.
pub(super) fn read_tip(conn: &Connection, tenant: &TenantId) -> Result<Option<Head>> {
    let last = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_records WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .sql()?
        .query_row([tenant.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()
        .sql()?;
    let row = match last {
        Some(row) => Some(row),
        None => conn
            .prepare_cached("SELECT seq, hash FROM audit_anchors WHERE tenant = ?1")
            .sql()?
            .query_row([tenant.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()
            .sql()?,
    };
    row.map(|(seq, hash)| head_from(seq, &hash)).transpose()
}

/// A head from its stored columns; a hash of the wrong length is a corrupt record.
pub(super) fn head_from(seq: i64, hash: &[u8]) -> Result<Head> {
    let seq = u64::try_from(seq).map_err(|_| Error::corrupt(0, format!("negative seq {seq}")))?;
    let hash = Digest::from_slice(hash).map_err(|why| Error::corrupt(seq, why))?;
    Ok(Head { seq, hash })
}

fn to_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::invalid("seq", format!("{seq} does not fit SQLite")))
}

/// Seals and inserts prepared records: seq and chain come from each tenant's tip, read once
/// per transaction. The caller holds the write transaction.
pub(super) fn insert_prepared(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    tips: &mut Tips,
    batch: &[PreparedRecord],
) -> Result<Vec<Receipt>> {
    let mut insert = conn.prepare_cached(INSERT_RECORD).sql()?;
    let mut mention = conn.prepare_cached(INSERT_MENTION).sql()?;
    let mut receipts = Vec::with_capacity(batch.len());
    for p in batch {
        let tip = tips.get(conn, &p.tenant)?.unwrap_or(Head {
            seq: 0,
            hash: Digest::ZERO,
        });
        let seq = tip.seq + 1;
        let hash = p.hash_at(algorithm, seq, &tip.hash);
        let seq_sql = to_i64(seq)?;
        let ip = p.context.ip.map(|ip| ip.to_string());
        insert
            .execute(params![
                p.tenant.as_str(),
                seq_sql,
                &p.id.as_bytes()[..],
                p.occurred_at.timestamp_micros(),
                p.actor.kind.as_str(),
                p.actor.id,
                p.actor.display,
                p.event.name(),
                p.outcome.as_str(),
                ip,
                p.context.user_agent,
                p.context.request_id,
                p.context.correlation_id,
                p.context.reason,
                p.schema_version,
                algorithm.as_str(),
                &tip.hash.0[..],
                &hash.0[..],
                p.event_json(),
            ])
            .sql()?;
        for m in p.event.mentions() {
            mention
                .execute(params![
                    p.tenant.as_str(),
                    m.kind.as_str(),
                    m.id.as_str(),
                    seq_sql,
                    role_name(m.role),
                ])
                .sql()?;
        }
        tips.set(&p.tenant, Head { seq, hash });
        receipts.push(Receipt {
            seq,
            id: p.id,
            hash,
        });
    }
    Ok(receipts)
}

/// Checks and inserts records that carry their own seq and hashes (an import).
pub(super) fn insert_sealed(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    tips: &mut Tips,
    records: &[Record],
) -> Result<Vec<Receipt>> {
    let mut insert = conn.prepare_cached(INSERT_RECORD).sql()?;
    let mut mention = conn.prepare_cached(INSERT_MENTION).sql()?;
    let mut receipts = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let tip = tips.get(conn, &r.tenant)?;
        check_continuation(algorithm, tip, r)
            .map_err(|why| Error::invalid(format!("records[{i}]"), why))?;
        let seq_sql = to_i64(r.seq)?;
        if tip.is_none() && r.seq > 1 {
            conn.prepare_cached(
                "INSERT INTO audit_anchors (tenant, seq, hash) VALUES (?1, ?2, ?3)",
            )
            .sql()?
            .execute(params![r.tenant.as_str(), seq_sql - 1, &r.prev_hash.0[..]])
            .sql()?;
        }
        let ip = r.context.ip.map(|ip| ip.to_string());
        insert
            .execute(params![
                r.tenant.as_str(),
                seq_sql,
                &r.id.as_bytes()[..],
                r.occurred_at.timestamp_micros(),
                r.actor.kind.as_str(),
                r.actor.id,
                r.actor.display,
                r.event.name(),
                r.outcome.as_str(),
                ip,
                r.context.user_agent,
                r.context.request_id,
                r.context.correlation_id,
                r.context.reason,
                r.schema_version,
                r.chain.as_str(),
                &r.prev_hash.0[..],
                &r.hash.0[..],
                r.event.to_value().to_string(),
            ])
            .sql()?;
        for m in r.event.mentions() {
            mention
                .execute(params![
                    r.tenant.as_str(),
                    m.kind.as_str(),
                    m.id.as_str(),
                    seq_sql,
                    role_name(m.role),
                ])
                .sql()?;
        }
        tips.set(
            &r.tenant,
            Head {
                seq: r.seq,
                hash: r.hash,
            },
        );
        receipts.push(Receipt {
            seq: r.seq,
            id: r.id,
            hash: r.hash,
        });
    }
    Ok(receipts)
}

fn role_name(role: crate::event::Role) -> &'static str {
    use crate::event::Role;
    match role {
        Role::Target => "target",
        Role::Related => "related",
        Role::Scope => "scope",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// Appends inside a transaction the caller already holds (the host's), in a savepoint so a
/// failure leaves the host's transaction as it was.
pub(super) fn append_in(conn: &Connection, batch: &[PreparedRecord]) -> Result<Vec<Receipt>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    if conn.is_autocommit() {
        return Err(Error::invalid(
            "transaction",
            "append_in needs an open transaction (pass the host's rusqlite::Transaction)",
        ));
    }
    let algorithm = super::schema::algorithm_of(conn)?;
    conn.execute_batch("SAVEPOINT audit_append_in").sql()?;
    let result = insert_prepared(conn, algorithm, &mut Tips::default(), batch);
    let end = if result.is_ok() {
        "RELEASE audit_append_in"
    } else {
        "ROLLBACK TO audit_append_in; RELEASE audit_append_in"
    };
    if !conn.is_autocommit() {
        conn.execute_batch(end).map_err(map)?;
    }
    result
}
