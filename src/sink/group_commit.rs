//! Group commit: many callers, one transaction.
//!
//! A durable commit costs one flush of the log to disk (or one round trip to a server and its
//! flush), whatever it carries. When many threads record at once, a writer thread that takes
//! everything waiting and commits it together turns N flushes into one, while each caller still
//! returns only after its own records are committed.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::record::Receipt;
use crate::sink::PreparedRecord;

/// What a store's writer does with a group of batches.
pub(crate) trait Committer: Send + 'static {
    /// Appends every batch and commits them, returning one result per batch, in order. Each
    /// batch must succeed or fail as a whole; one failing batch should not fail the others
    /// when it can be helped (for example by retrying the others alone).
    fn commit_group(&mut self, batches: Vec<Vec<PreparedRecord>>) -> Vec<Result<Vec<Receipt>>>;
}

struct Job {
    batch: Vec<PreparedRecord>,
    reply: mpsc::SyncSender<Result<Vec<Receipt>>>,
}

/// A writer thread fed by a channel.
pub(crate) struct GroupCommit {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the writer thread. `max_records` bounds one group, so one commit's latency stays
    /// bounded under load.
    pub(crate) fn start<C: Committer>(
        name: &str,
        mut committer: C,
        max_records: usize,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let worker = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut size = first.batch.len();
                    let mut jobs = vec![first];
                    while size < max_records {
                        match rx.try_recv() {
                            Ok(job) => {
                                size += job.batch.len();
                                jobs.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    let (batches, replies): (Vec<_>, Vec<_>) =
                        jobs.into_iter().map(|j| (j.batch, j.reply)).unzip();
                    let results = committer.commit_group(batches);
                    for (reply, result) in replies.into_iter().zip(results) {
                        // The caller may have gone away (its thread panicked); nothing to do.
                        let _ = reply.send(result);
                    }
                }
            })?;
        Ok(GroupCommit {
            jobs: Some(tx),
            worker: Some(worker),
        })
    }

    /// Hands a batch to the writer and waits until it is committed (or failed).
    pub(crate) fn submit(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        let stopped = || Error::Unavailable {
            source: "the store's writer thread has stopped".into(),
        };
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = mpsc::sync_channel(1);
        jobs.send(Job { batch, reply }).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once the queued work is done.
        drop(self.jobs.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
