//! Helpers shared by the forwarding tests: filling a store, a scripted destination, waiting
//! for a condition, running a forwarder in the background.
#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_log::conformance::sample_events;
use audit_log::forward::{Batch, BoxFuture, DeliveryError, Destination, ForwardReport, Forwarder};
use audit_log::{Actor, AuditLog, AuditStore, Entry, Record, TenantId};

/// Appends `n` records to `tenant`, cycling through every sample event.
pub fn fill(log: &AuditLog, tenant: &str, n: usize) {
    let events = sample_events();
    let actor = Actor::user(1, "root");
    let mut batch = Vec::new();
    for i in 0..n {
        batch.push(Entry::new(actor.clone(), events[i % events.len()].clone()).tenant(tenant));
        if batch.len() == 500 {
            log.record_batch(std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        log.record_batch(batch).unwrap();
    }
}

/// Every record of a tenant, read back from the store.
pub fn all(store: &dyn AuditStore, tenant: &str) -> Vec<Record> {
    store
        .query(&audit_log::Query::for_tenant(tenant))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// What a scripted destination was offered: one entry per call.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub tenant: TenantId,
    pub seqs: Vec<u64>,
    pub accepted: bool,
}

type Script = dyn Fn(&Batch, usize) -> Result<(), DeliveryError> + Send + Sync;

/// A destination whose answers a closure decides, from the batch and the call number; it
/// logs every call and keeps the records it accepted.
#[derive(Clone)]
pub struct Scripted {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub accepted: Arc<Mutex<Vec<Record>>>,
    script: Arc<Script>,
    delay: Duration,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Scripted {
    pub fn new(
        script: impl Fn(&Batch, usize) -> Result<(), DeliveryError> + Send + Sync + 'static,
    ) -> Self {
        Scripted {
            calls: Arc::default(),
            accepted: Arc::default(),
            script: Arc::new(script),
            delay: Duration::ZERO,
        }
    }

    pub fn accepting() -> Self {
        Self::new(|_, _| Ok(()))
    }

    /// Each call takes this long before it answers.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    pub fn accepted(&self) -> Vec<Record> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn accepted_seqs(&self, tenant: &str) -> Vec<u64> {
        self.accepted()
            .iter()
            .filter(|r| r.tenant.as_str() == tenant)
            .map(|r| r.seq)
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Destination for Scripted {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let n = self.calls.lock().unwrap().len();
            let answer = (self.script)(batch, n);
            self.calls.lock().unwrap().push(Call {
                at: Instant::now(),
                tenant: batch.tenant.clone(),
                seqs: batch.deliveries.iter().map(|d| d.record.seq).collect(),
                accepted: answer.is_ok(),
            });
            // Ok accepts the batch; a rejection naming an index accepts what came before it.
            let taken = match &answer {
                Ok(()) => batch.len(),
                Err(DeliveryError::Rejected { index: Some(i), .. }) => *i,
                Err(_) => 0,
            };
            self.accepted
                .lock()
                .unwrap()
                .extend(batch.deliveries[..taken].iter().map(|d| d.record.clone()));
            answer
        })
    }
}

/// Polls `cond` every 10 ms until it holds; panics after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A forwarder running in the background, stopped by [`Running::stop`].
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<audit_log::Result<ForwardReport>>,
}

impl Running {
    pub async fn stop(mut self) -> ForwardReport {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.handle.await.unwrap().unwrap()
    }
}

pub fn start<S: AuditStore + ?Sized + 'static>(f: Forwarder<S>) -> Running {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(f.run(async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        handle,
    }
}

/// Runs `fut` with a hard limit, so a hung forwarder fails the test instead of CI.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .expect("finished in time")
}
