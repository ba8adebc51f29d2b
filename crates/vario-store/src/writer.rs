//! The single writer thread and its group commit: it takes every batch waiting in the
//! queue, inserts them all in one transaction (one WAL fsync), and only then answers
//! each batch. Many concurrent appends thus share one fsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};

use crate::dedup::{UuidIndex, uuid_key};
use crate::error::StoreError;
use crate::row::PreparedBatch;
use crate::schema::{INSERT_BATCH, INSERT_EVENT};
use crate::store::{AppendReceipt, Shared};

/// Called exactly once with the outcome of an append.
pub(crate) type Reply = Box<dyn FnOnce(Result<AppendReceipt, StoreError>) + Send>;

/// One append waiting for the writer.
pub(crate) struct Job {
    pub(crate) batch: PreparedBatch,
    reply: Option<Reply>,
}

impl Job {
    pub(crate) fn new(batch: PreparedBatch, reply: Reply) -> Self {
        Self { batch, reply: Some(reply) }
    }

    /// Answers without storing.
    pub(crate) fn refuse(self, error: StoreError) {
        self.answer(Err(error));
    }

    fn answer(mut self, result: Result<AppendReceipt, StoreError>) {
        if let Some(reply) = self.reply.take() {
            reply(result);
        }
    }
}

impl Drop for Job {
    /// A job dropped unanswered (the store closed under it) is answered `Closed`, so no
    /// caller waits forever and none believes its batch was stored.
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            reply(Err(StoreError::Closed));
        }
    }
}

pub(crate) enum Message {
    Append(Job),
    /// Write the uuid index's keys in memory out as a run, then answer.
    FlushIndex(std::sync::mpsc::SyncSender<Result<(), StoreError>>),
    /// Commit what is queued, then stop.
    Close,
}

/// What one commit did, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct CommitInfo {
    /// Appends in the transaction.
    pub batches: usize,
    /// Events offered.
    pub events: usize,
    /// Events newly stored.
    pub stored: u64,
    /// Events not stored again because their uuid was already there.
    pub duplicates: u64,
    /// Time from `BEGIN` to the end of `COMMIT`, fsync included.
    pub duration: Duration,
    /// Whether it committed.
    pub ok: bool,
}

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_group_events: usize,
    pub(crate) index: UuidIndex,
}

/// An idle writer still looks after the uuid index this often.
const IDLE_TICK: Duration = Duration::from_millis(500);

impl Writer {
    /// Runs until [`Message::Close`] or until every sender is gone.
    pub(crate) fn run(mut self, rx: &Receiver<Message>) {
        let mut closing = false;
        while !closing {
            let mut group = Vec::new();
            self.index.maintain(&self.conn);
            self.publish_index_stats();
            let mut flushes = Vec::new();
            match rx.recv_timeout(IDLE_TICK) {
                Ok(Message::Append(job)) => group.push(job),
                Ok(Message::FlushIndex(reply)) => flushes.push(reply),
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(Message::Close) | Err(RecvTimeoutError::Disconnected) => closing = true,
            }
            // Everything already waiting joins this commit, up to a size that keeps one
            // transaction's latency bounded. After `Close`, drain what is left.
            let mut events: usize = group.iter().map(|j| j.batch.events.len()).sum();
            while closing || events < self.max_group_events {
                match rx.try_recv() {
                    Ok(Message::Append(job)) => {
                        events += job.batch.events.len();
                        group.push(job);
                    }
                    Ok(Message::FlushIndex(reply)) => flushes.push(reply),
                    Ok(Message::Close) => closing = true,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.shared.queued.fetch_sub(group.len(), Ordering::Relaxed);
            if !group.is_empty() {
                self.commit_group(group, events);
            }
            for reply in flushes {
                let result = self.index.flush_now(&self.conn);
                self.publish_index_stats();
                let _ = reply.send(result);
            }
        }
        self.index.close(&self.conn);
        // Leave a compact file behind on a clean stop; failing here loses nothing.
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;") {
            tracing::debug!(error = %e, "checkpoint on close failed");
        }
    }

    fn publish_index_stats(&self) {
        let (runs, bytes) = self.index.stats();
        self.shared.uuid_runs.store(runs as u64, Ordering::Relaxed);
        self.shared.uuid_index_bytes.store(bytes, Ordering::Relaxed);
    }

    fn commit_group(&mut self, group: Vec<Job>, events: usize) {
        let started = Instant::now();
        let batches = group.len();
        let outcome = insert_all(&mut self.conn, &mut self.index, &self.path, &group);
        let duration = started.elapsed();
        let (stored, duplicates) = match &outcome {
            Ok(receipts) => receipts.iter().flatten().fold((0, 0), |(s, d), r| (s + r.stored, d + r.duplicates)),
            Err(_) => (0, 0),
        };
        let ok = outcome.is_ok();
        self.shared.record_commit(CommitInfo { batches, events, stored, duplicates, duration, ok });
        match outcome {
            Ok(receipts) => {
                self.shared.healthy.store(true, Ordering::Relaxed);
                for (job, receipt) in group.into_iter().zip(receipts) {
                    job.answer(receipt);
                }
            }
            Err(error) => {
                if error.is_unavailable() {
                    self.shared.healthy.store(false, Ordering::Relaxed);
                    tracing::error!(error = %error, batches, "commit failed; the batches were not stored");
                } else {
                    tracing::error!(error = %error, batches, "commit failed (bug); the batches were not stored");
                }
                for job in group {
                    job.answer(Err(error.clone()));
                }
            }
        }
    }
}

type Receipts = Vec<Result<AppendReceipt, StoreError>>;

/// Inserts every job in one transaction. A job whose own statements fail is rolled back
/// to its savepoint alone (all or nothing per batch) unless the failure ended the
/// transaction, in which case the whole group fails and nothing is kept. The uuid index
/// takes back the keys of whatever was rolled back.
fn insert_all(
    conn: &mut Connection,
    index: &mut UuidIndex,
    path: &Path,
    group: &[Job],
) -> Result<Receipts, StoreError> {
    match insert_group(conn, index, path, group) {
        Ok((receipts, last_seq)) => {
            index.committed(last_seq);
            Ok(receipts)
        }
        Err(e) => {
            index.aborted();
            Err(e)
        }
    }
}

/// The transaction of [`insert_all`]; returns the receipts and the largest seq stored.
fn insert_group(
    conn: &mut Connection,
    index: &mut UuidIndex,
    path: &Path,
    group: &[Job],
) -> Result<(Receipts, i64), StoreError> {
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(path, &e);
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
    let mut receipts = Vec::with_capacity(group.len());
    let mut last_seq = 0;
    for job in group {
        let sp = tx.savepoint().map_err(sqlite)?;
        let mark = index.mark();
        match insert_batch(&sp, index, &job.batch, &mut last_seq) {
            Ok(receipt) => {
                sp.commit().map_err(sqlite)?;
                receipts.push(Ok(receipt));
            }
            Err(e) => {
                // Disk full or I/O trouble fails the whole commit: the same would hit the
                // next batch, and the caller must not be told anything was kept.
                let error = match e {
                    BatchError::Sqlite(e) => sqlite(e),
                    BatchError::Index(e) => e,
                };
                if error.is_unavailable() {
                    return Err(error);
                }
                // Dropping the savepoint rolls this batch back and keeps the others.
                drop(sp);
                index.rollback_to(mark);
                receipts.push(Err(error));
            }
        }
    }
    tx.commit().map_err(sqlite)?;
    Ok((receipts, last_seq))
}

enum BatchError {
    Sqlite(rusqlite::Error),
    Index(StoreError),
}

impl From<rusqlite::Error> for BatchError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

fn insert_batch(
    tx: &Connection,
    index: &mut UuidIndex,
    prepared: &PreparedBatch,
    last_seq: &mut i64,
) -> Result<AppendReceipt, BatchError> {
    let b = &prepared.batch;
    tx.prepare_cached(INSERT_BATCH)?.execute(params![
        b.received_at,
        b.account_id,
        b.project_id,
        b.revision,
        b.client_name,
        b.client_version,
        b.anonymize_ip,
        b.enrich_decisions,
        i64::try_from(prepared.events.len()).unwrap_or(i64::MAX),
    ])?;
    let batch_id = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    let mut receipt = AppendReceipt::default();
    for e in &prepared.events {
        let key = uuid_key(&e.uuid);
        if index.contains(&key).map_err(BatchError::Index)? {
            receipt.duplicates += 1;
            continue;
        }
        let d = e.decision.as_ref();
        insert.execute(params![
            batch_id,
            e.kind.as_str(),
            e.account_id,
            e.project_id,
            e.revision,
            e.visitor_id,
            e.attributes,
            e.entity_id,
            d.map(|d| &d.campaign_id),
            d.map(|d| &d.experiment_id),
            d.and_then(|d| d.variation_id.as_ref()),
            d.map(|d| &d.flag_key),
            d.map(|d| &d.rule_key),
            d.map(|d| &d.rule_type),
            d.map(|d| &d.variation_key),
            d.map(|d| d.enabled),
            d.and_then(|d| d.cmab_uuid.as_ref()),
            e.decisions,
            e.event_key,
            e.timestamp,
            e.uuid,
            e.revenue,
            e.value,
            e.tags,
            e.client_name,
            e.client_version,
            e.received_at,
        ])?;
        index.add(key);
        *last_seq = tx.last_insert_rowid();
        receipt.stored += 1;
    }
    Ok(receipt)
}
