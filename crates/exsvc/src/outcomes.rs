//! The outcome writer: `OutcomeSink` off the request path.
//!
//! A request that used a credential hands its outcome to [`OutcomeWriter::submit`],
//! which never waits: the outcome goes into a bounded queue, or, when the queue
//! is full, is logged (its event id only) and dropped. One background task
//! takes what is queued, up to a batch at a time, and writes it with
//! `AuditLog::record_outcomes`; a batch that fails is retried a few times with
//! a short backoff, then logged and dropped. The event itself is committed
//! before the credential is sent, so a lost outcome only leaves its `details`
//! as they were.
//!
//! The task ends once every [`OutcomeWriter`] clone is dropped (or
//! [`OutcomeWriter::close`] is called), after writing what was queued;
//! [`OutcomeWriterHandle::finished`] waits for that, [`OutcomeWriter::flush`]
//! for everything submitted so far.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use exsvc_domain::ports::{AuditLog, OutcomeSink, UseOutcome};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Of the outcomes dropped because they could not be queued, every this
/// many-th is logged (the first one included).
const DROP_LOG_EVERY: u64 = 1000;

/// How the writer queues, batches and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeWriterSettings {
    /// Outcomes (and flush requests) the queue holds before `submit` drops.
    pub capacity: usize,
    /// Most outcomes written in one `record_outcomes` call.
    pub max_batch: usize,
    /// Further attempts at a batch that failed, before it is dropped.
    pub retries: u32,
    /// Wait before the first retry; doubled before each further one.
    pub backoff: Duration,
    /// How long a batch waits for more outcomes after its first.
    pub linger: Duration,
}

impl Default for OutcomeWriterSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_batch: 256,
            retries: 3,
            backoff: Duration::from_millis(100),
            linger: Duration::from_millis(20),
        }
    }
}

enum Command {
    Outcome(UseOutcome),
    /// Answered once every outcome queued before it was written (or dropped).
    Flush(oneshot::Sender<()>),
    /// Stop taking outcomes; answered when the queue is written and the task ends.
    Close(oneshot::Sender<()>),
}

/// Counts shared by the writer's clones and its task.
#[derive(Debug, Default)]
struct Counters {
    /// Outcomes dropped because the queue was full or closed.
    rejected: AtomicU64,
    /// Outcomes dropped because their batch could not be written.
    failed: AtomicU64,
    /// Outcomes written.
    written: AtomicU64,
}

/// The `OutcomeSink` of the application: cheap to clone, every clone feeds the
/// one background task.
#[derive(Debug, Clone)]
pub struct OutcomeWriter {
    queue: mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

/// Waits for the writer's task to end (after the last `OutcomeWriter` is
/// dropped, or `close`): everything queued has then been written or dropped.
#[derive(Debug)]
pub struct OutcomeWriterHandle {
    task: JoinHandle<()>,
}

impl OutcomeWriterHandle {
    /// Returns when the task has ended.
    pub async fn finished(self) {
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "the outcome writer task failed");
        }
    }
}

impl OutcomeWriter {
    /// Starts the background task (on the current tokio runtime).
    ///
    /// # Panics
    /// Outside a tokio runtime, or when `capacity` or `max_batch` is 0.
    pub fn start(
        audit: Arc<dyn AuditLog>,
        settings: OutcomeWriterSettings,
    ) -> (Self, OutcomeWriterHandle) {
        assert!(settings.max_batch > 0, "a batch holds at least one outcome");
        let (queue, receiver) = mpsc::channel(settings.capacity);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(drain(receiver, audit, settings, Arc::clone(&counters)));
        (Self { queue, counters }, OutcomeWriterHandle { task })
    }

    /// Waits until every outcome submitted before this call is written (or,
    /// having failed every attempt, dropped). Returns at once when the writer
    /// is closed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Command::Flush(done)).await.is_ok() {
            // A task that ends drops the sender: nothing is left to wait for.
            let _ = wait.await;
        }
    }

    /// Stops taking outcomes (later ones are dropped), writes what is queued
    /// and waits until the task has ended. Calling it again returns at once.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Command::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Outcomes dropped so far: queue full or closed, or batch not written.
    pub fn dropped(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
            + self.counters.failed.load(Ordering::Relaxed)
    }

    /// Outcomes written so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }
}

impl OutcomeSink for OutcomeWriter {
    fn submit(&self, outcome: UseOutcome) {
        let event_id = outcome.event_id;
        match self.queue.try_send(Command::Outcome(outcome)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self.counters.rejected.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per thousand: a full queue under load must not
                // also flood the log.
                if dropped % DROP_LOG_EVERY == 1 {
                    tracing::warn!(%event_id, dropped, "the outcome queue is full; outcomes are dropped");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let dropped = self.counters.rejected.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped % DROP_LOG_EVERY == 1 {
                    tracing::warn!(%event_id, dropped, "the outcome writer is closed; outcomes are dropped");
                }
            }
        }
    }
}

/// The background task: a batch at a time until the queue is closed and empty.
async fn drain(
    mut receiver: mpsc::Receiver<Command>,
    audit: Arc<dyn AuditLog>,
    settings: OutcomeWriterSettings,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(settings.max_batch);
    let mut flushed = Vec::new();
    let mut closers = Vec::new();
    while let Some(first) = receiver.recv().await {
        // A batch collects for at most `linger` after its first command: at
        // a few thousand uses a second, that makes one transaction of dozens
        // of outcomes rather than dozens of transactions of a few.
        let deadline = tokio::time::Instant::now() + settings.linger;
        let mut next = Some(first);
        loop {
            while let Some(command) = next.take() {
                match command {
                    Command::Outcome(outcome) => batch.push(outcome),
                    Command::Flush(done) => flushed.push(done),
                    Command::Close(done) => {
                        // What is already queued is still received, then `None`.
                        receiver.close();
                        closers.push(done);
                    }
                }
                if batch.len() < settings.max_batch {
                    next = receiver.try_recv().ok();
                }
            }
            // Someone waits, the batch is full, or there is nothing to write.
            if batch.is_empty()
                || batch.len() >= settings.max_batch
                || !flushed.is_empty()
                || !closers.is_empty()
            {
                break;
            }
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(command)) => next = Some(command),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            write(&*audit, &batch, &settings, &counters).await;
            batch.clear();
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
    for done in closers {
        let _ = done.send(());
    }
}

/// Writes one batch, retrying with a doubling backoff; logs and drops it when
/// every attempt failed.
async fn write(
    audit: &dyn AuditLog,
    batch: &[UseOutcome],
    settings: &OutcomeWriterSettings,
    counters: &Counters,
) {
    let mut backoff = settings.backoff;
    let mut attempt = 0;
    loop {
        match audit.record_outcomes(batch).await {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(error) if attempt < settings.retries => {
                attempt += 1;
                tracing::debug!(error = %error, attempt, outcomes = batch.len(), "writing outcomes failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            Err(error) => {
                counters
                    .failed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    error = %error,
                    outcomes = batch.len(),
                    attempts = attempt + 1,
                    "outcomes could not be written; dropped"
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use async_trait::async_trait;
    use exsvc_domain::audit::{AuditEvent, AuditQuery};
    use exsvc_domain::ports::RepositoryError;
    use exsvc_domain::TenantId;
    use tokio::sync::Semaphore;

    use super::*;

    /// An audit log that records each batch it is given, fails the first
    /// `failures` calls, and waits for a permit before each call when gated.
    #[derive(Default)]
    struct FakeAudit {
        batches: Mutex<Vec<Vec<UseOutcome>>>,
        failures: Mutex<u32>,
        gate: Option<Semaphore>,
    }

    #[async_trait]
    impl AuditLog for FakeAudit {
        async fn record(&self, _event: &AuditEvent) -> Result<(), RepositoryError> {
            Ok(())
        }

        async fn list(
            &self,
            _tenant: &TenantId,
            _query: &AuditQuery,
        ) -> Result<Vec<AuditEvent>, RepositoryError> {
            Ok(Vec::new())
        }

        async fn record_outcomes(&self, outcomes: &[UseOutcome]) -> Result<(), RepositoryError> {
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            {
                let mut failures = self.failures.lock().unwrap();
                if *failures > 0 {
                    *failures -= 1;
                    return Err(RepositoryError::Unavailable);
                }
            }
            self.batches.lock().unwrap().push(outcomes.to_vec());
            Ok(())
        }
    }

    impl FakeAudit {
        fn written(&self) -> Vec<u16> {
            self.batches
                .lock()
                .unwrap()
                .iter()
                .flatten()
                .map(|o| u16::try_from(o.details["n"].as_u64().unwrap()).unwrap())
                .collect()
        }
    }

    fn outcome(n: u16) -> UseOutcome {
        UseOutcome {
            tenant: TenantId::parse("t1").unwrap(),
            event_id: uuid::Uuid::now_v7(),
            details: serde_json::json!({ "n": n }),
        }
    }

    fn fast(capacity: usize, max_batch: usize, retries: u32) -> OutcomeWriterSettings {
        OutcomeWriterSettings {
            capacity,
            max_batch,
            retries,
            backoff: Duration::from_millis(1),
            linger: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn outcomes_arriving_within_the_linger_share_one_batch() {
        let audit = Arc::new(FakeAudit::default());
        let settings = OutcomeWriterSettings {
            linger: Duration::from_millis(300),
            ..fast(1000, 256, 0)
        };
        let (writer, handle) = OutcomeWriter::start(audit.clone(), settings);
        for n in 0..3 {
            writer.submit(outcome(n));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Nothing is written before the linger is over (nobody waits)...
        assert!(audit.batches.lock().unwrap().is_empty());
        // ...and a flush does not wait for it.
        writer.flush().await;
        let batches = audit.batches.lock().unwrap().len();
        assert_eq!(batches, 1, "one transaction for the three");
        assert_eq!(audit.written(), [0, 1, 2]);
        drop(writer);
        handle.finished().await;
    }

    #[tokio::test]
    async fn flush_waits_for_everything_submitted_in_batches_of_at_most_max() {
        let audit = Arc::new(FakeAudit::default());
        let (writer, handle) = OutcomeWriter::start(audit.clone(), fast(1000, 4, 0));
        for n in 0..10 {
            writer.submit(outcome(n));
        }
        writer.flush().await;
        assert_eq!(audit.written(), (0..10).collect::<Vec<_>>(), "in order");
        assert!(audit.batches.lock().unwrap().iter().all(|b| b.len() <= 4));
        assert_eq!(writer.written(), 10);
        drop(writer);
        handle.finished().await;
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        let audit = Arc::new(FakeAudit {
            gate: Some(Semaphore::new(0)),
            ..FakeAudit::default()
        });
        let (writer, handle) = OutcomeWriter::start(audit.clone(), fast(2, 1, 0));
        writer.submit(outcome(0));
        // The task takes the first outcome and waits at the gate.
        while writer.queue.capacity() < 2 {
            tokio::task::yield_now().await;
        }
        writer.submit(outcome(1));
        writer.submit(outcome(2));
        writer.submit(outcome(3)); // full: dropped at once
        assert_eq!(writer.dropped(), 1);
        audit.gate.as_ref().unwrap().add_permits(10);
        drop(writer);
        handle.finished().await;
        assert_eq!(audit.written(), [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_then_dropped() {
        let audit = Arc::new(FakeAudit {
            failures: Mutex::new(2),
            ..FakeAudit::default()
        });
        let (writer, _handle) = OutcomeWriter::start(audit.clone(), fast(100, 10, 2));
        writer.submit(outcome(0));
        writer.flush().await;
        assert_eq!(
            audit.written(),
            [0],
            "two failures, the third attempt wrote it"
        );

        *audit.failures.lock().unwrap() = 3;
        writer.submit(outcome(1));
        writer.flush().await;
        assert_eq!(audit.written(), [0], "three failures: dropped");
        assert_eq!(writer.dropped(), 1);

        writer.submit(outcome(2));
        writer.flush().await;
        assert_eq!(audit.written(), [0, 2], "the writer goes on after a drop");
    }

    #[tokio::test]
    async fn close_writes_what_is_queued_and_refuses_the_rest() {
        let audit = Arc::new(FakeAudit::default());
        let (writer, handle) = OutcomeWriter::start(audit.clone(), fast(1000, 3, 0));
        let other = writer.clone();
        for n in 0..7 {
            writer.submit(outcome(n));
        }
        writer.close().await;
        assert_eq!(audit.written(), (0..7).collect::<Vec<_>>());
        other.submit(outcome(7));
        assert_eq!(other.dropped(), 1, "closed: dropped");
        other.flush().await; // returns at once
        writer.close().await; // again: at once
        handle.finished().await;
    }
}
