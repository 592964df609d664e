//! Group commit: many callers, one transaction, without a writer thread.
//!
//! A durable commit costs one flush of the log to disk (or one round trip to a server and its
//! flush), whatever it carries. So when many threads append at once, one of them commits what
//! all of them asked for together, and each still returns only after its own records are
//! committed. Every store that writes through a transaction uses this one mechanism; a store
//! only supplies its [`Committer`] (how to write a group of jobs in one transaction).
//!
//! # How
//!
//! Every caller puts its job on a queue. If nobody is committing, it becomes the leader: it
//! takes what is waiting (up to the group cap), has the committer write it all in one
//! transaction, and answers every caller of the group. While it commits, new callers pile up;
//! when it is done it hands the lead to the first of them, who commits the next group. So the
//! commits per second stay what the medium allows while the records per commit grow with the
//! load. Each caller waits on its own channel, so an answered caller returns at once, and a
//! leader's turn wakes only the callers it answered and the next leader.
//!
//! Compared with a dedicated writer thread fed by a channel (what the PostgreSQL store used
//! before), an uncontended append costs no thread hand-off, there is no thread to start, stop
//! or lose to a panic, and a host's own transaction uses the very same committer. The figures
//! that decided it are in `docs/benchmarks.md` ("One group commit").
//!
//! # One failure policy
//!
//! A group is written as one transaction. If it fails:
//!
//! - when the failure is transient ([`Error::is_transient`]: the store is busy or
//!   unreachable), every job of the group gets it: retrying one by one could only fail again;
//! - otherwise each job of the group is written again in a transaction of its own, so a job
//!   that cannot be written (bad input for an import, a record too large for the space left)
//!   fails alone and the others commit.

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};

use super::row::Work;
use crate::error::{Error, Result};
use crate::record::Receipt;

/// The default for the most records one group commit carries: large enough that the cost of a
/// commit is shared by every waiting caller, small enough that one commit's latency stays
/// bounded under load.
pub(crate) const DEFAULT_MAX_GROUP: usize = 4096;

/// How a store writes a group of jobs.
pub(crate) trait Committer: Send + Sync + 'static {
    /// Writes every job in one transaction and commits it: all or nothing. On `Ok`, one list
    /// of receipts per job, in order; on `Err`, nothing of any job is visible.
    fn commit(&self, jobs: &[&Work]) -> Result<Vec<Vec<Receipt>>>;
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

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether a caller is committing a group right now, or has been handed the lead. While
    /// it is false the queue is empty.
    leading: bool,
}

/// A store's committer and the queue of callers waiting for it.
pub(crate) struct GroupCommit<C> {
    committer: C,
    queue: Mutex<Queue>,
    max_records: usize,
}

impl<C: Committer> GroupCommit<C> {
    /// Groups commits through `committer`, at most `max_records` records per group (a larger
    /// job still commits, alone).
    pub(crate) fn new(committer: C, max_records: usize) -> Self {
        GroupCommit {
            committer,
            queue: Mutex::new(Queue::default()),
            max_records: max_records.max(1),
        }
    }

    /// The committer, for work that needs the store alone (a purge, a read of an in-memory
    /// database).
    pub(crate) fn committer(&self) -> &C {
        &self.committer
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the queue's lock, so a poisoned one still holds a
        // consistent queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `work` through group commit and returns its receipts once committed.
    pub(crate) fn submit(&self, work: Work) -> Result<Vec<Receipt>> {
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let mut queue = self.lock_queue();
        queue.jobs.push(Job { work, reply });
        if queue.leading {
            drop(queue);
            // Someone is committing; it answers this job or hands the lead to it.
            match answer.recv() {
                Ok(Reply::Done(result)) => return result,
                Ok(Reply::Lead) => {}
                Err(_) => return Err(lost()),
            }
            queue = self.lock_queue();
        } else {
            queue.leading = true;
        }
        // This job is first on the queue (it was empty, or the lead was handed to it), so it
        // is in the group.
        let group = take_group(&mut queue.jobs, self.max_records);
        drop(queue);
        // A panic in the committer must not leave the lead with nobody, or every later caller
        // would wait forever: the guard passes it on or clears it on the way out.
        let lead = Lead(self);
        self.run(group);
        drop(lead);
        match answer.recv() {
            Ok(Reply::Done(result)) => result,
            Ok(Reply::Lead) | Err(_) => Err(lost()),
        }
    }

    /// Commits one group and answers every job of it, by the module's failure policy.
    fn run(&self, group: Vec<Job>) {
        let works: Vec<&Work> = group.iter().map(|j| &j.work).collect();
        let results: Vec<Result<Vec<Receipt>>> = match self.committer.commit(&works) {
            Ok(receipts) => receipts.into_iter().map(Ok).collect(),
            Err(e) if works.len() == 1 => vec![Err(e)],
            Err(e) if e.is_transient() => works.iter().map(|_| Err(e.duplicate())).collect(),
            Err(_) => works
                .iter()
                .map(|w| {
                    self.committer
                        .commit(&[w])
                        .map(|mut r| r.pop().unwrap_or_default())
                })
                .collect(),
        };
        for (job, result) in group.into_iter().zip(results) {
            // The caller may have gone away (its thread panicked); nothing to do.
            let _ = job.reply.send(Reply::Done(result));
        }
    }
}

/// Ends a leader's turn: hands the lead to the first waiting caller, or clears the flag when
/// nobody waits.
struct Lead<'a, C: Committer>(&'a GroupCommit<C>);

impl<C: Committer> Drop for Lead<'_, C> {
    fn drop(&mut self) {
        let mut queue = self.0.lock_queue();
        while let Some(next) = queue.jobs.first() {
            if next.reply.send(Reply::Lead).is_ok() {
                return;
            }
            // Its caller is gone (it cannot be waiting on anything else); nobody needs it.
            queue.jobs.remove(0);
        }
        queue.leading = false;
    }
}

/// The jobs of the next group: the first job whatever its size, then more while the group
/// stays within `max_records`.
fn take_group(jobs: &mut Vec<Job>, max_records: usize) -> Vec<Job> {
    let mut records = 0;
    let mut n = 0;
    for job in jobs.iter() {
        if n > 0 && records + job.work.len() > max_records {
            break;
        }
        records += job.work.len();
        n += 1;
    }
    jobs.drain(..n).collect()
}

fn lost() -> Error {
    Error::store(
        "group commit",
        "the group commit leader failed before answering",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::prepare::{Entry, Preparer};
    use crate::{Actor, EntityRef, Event};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts transactions; fails any transaction holding a job of exactly `poison` records,
    /// with a transient error when `transient`.
    #[derive(Default)]
    struct Counting {
        transactions: AtomicUsize,
        poison: Option<usize>,
        transient: bool,
        next_seq: AtomicUsize,
    }

    impl Committer for Counting {
        fn commit(&self, jobs: &[&Work]) -> Result<Vec<Vec<Receipt>>> {
            self.transactions.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            if jobs.iter().any(|j| Some(j.len()) == self.poison) {
                return Err(if self.transient {
                    Error::Busy {
                        source: "locked".into(),
                    }
                } else {
                    Error::invalid("records[0]", "does not continue")
                });
            }
            Ok(jobs
                .iter()
                .map(|j| {
                    (0..j.len())
                        .map(|_| Receipt {
                            seq: self.next_seq.fetch_add(1, Ordering::SeqCst) as u64 + 1,
                            id: uuid::Uuid::nil(),
                            hash: Digest::ZERO,
                        })
                        .collect()
                })
                .collect())
        }
    }

    fn work(n: usize) -> Work {
        let p = Preparer::new();
        Work::Prepared(
            (0..n)
                .map(|i| {
                    p.prepare(Entry::new(
                        Actor::system(),
                        Event::user_deleted(EntityRef::id_only(i as u64 + 1)),
                    ))
                    .unwrap()
                })
                .collect(),
        )
    }

    fn hammer(gc: &Arc<GroupCommit<Counting>>, sizes: &[usize]) -> Vec<Result<Vec<Receipt>>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = sizes
                .iter()
                .map(|&n| {
                    let gc = Arc::clone(gc);
                    s.spawn(move || gc.submit(work(n)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn concurrent_callers_share_transactions() {
        let gc = Arc::new(GroupCommit::new(Counting::default(), DEFAULT_MAX_GROUP));
        let results = hammer(&gc, &[1; 32]);
        assert!(results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.len() == 1)));
        let tx = gc.committer().transactions.load(Ordering::SeqCst);
        assert!(tx < 32, "32 callers took {tx} transactions");
    }

    #[test]
    fn a_failing_job_fails_alone() {
        let gc = Arc::new(GroupCommit::new(
            Counting {
                poison: Some(3),
                ..Counting::default()
            },
            DEFAULT_MAX_GROUP,
        ));
        let results = hammer(&gc, &[1, 2, 3, 1, 2, 1, 1, 2]);
        for (r, n) in results.iter().zip([1, 2, 3, 1, 2, 1, 1, 2]) {
            if n == 3 {
                assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
            } else {
                assert_eq!(r.as_ref().map(|r| r.len()).ok(), Some(n), "{r:?}");
            }
        }
    }

    #[test]
    fn a_transient_failure_fails_the_group_without_retries() {
        let gc = GroupCommit::new(
            Counting {
                poison: Some(1),
                transient: true,
                ..Counting::default()
            },
            DEFAULT_MAX_GROUP,
        );
        assert!(matches!(gc.submit(work(1)), Err(Error::Busy { .. })));
        assert_eq!(gc.committer().transactions.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn groups_stay_within_the_cap_but_a_large_job_still_commits() {
        let mut jobs: Vec<Job> = [3, 3, 3, 10]
            .iter()
            .map(|&n| Job {
                work: work(n),
                reply: mpsc::sync_channel(1).0,
            })
            .collect();
        assert_eq!(take_group(&mut jobs, 7).len(), 2);
        assert_eq!(take_group(&mut jobs, 7).len(), 1);
        assert_eq!(
            take_group(&mut jobs, 7).len(),
            1,
            "a job over the cap alone"
        );
        assert!(jobs.is_empty());
        let gc = GroupCommit::new(Counting::default(), 2);
        assert_eq!(gc.submit(work(5)).unwrap().len(), 5);
        assert!(gc.submit(work(0)).unwrap().is_empty());
    }
}
