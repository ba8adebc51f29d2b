//! The batch event processor (events.md §8–§9): user events go into a bounded queue
//! that one background thread drains into batches, hands to an [`EventDispatcher`],
//! retries, and optionally keeps in a spool directory until they are delivered.
//!
//! # Guarantees
//! - [`EventProcessor::process`] never blocks and never panics: when the queue is full
//!   or the processor is closed the event is dropped and counted, and `false` returned.
//!   A slow or failing endpoint only fills the queue.
//! - A batch is sent when it reaches `batch_size` events, when `flush_interval` has
//!   passed since its first event, on [`EventProcessor::flush`] and on
//!   [`EventProcessor::close`]. An event whose revision or project differs from the last
//!   event of the current batch starts a new batch (events.md §8 split rule).
//! - Retryable failures (transport errors, 5xx, 429) are retried with exponential
//!   backoff and jitter, capped at `max_backoff`, waiting at least the `Retry-After` the
//!   endpoint asked for (itself capped at `max_backoff`, so one batch never holds the
//!   queue much longer than `max_attempts × max_backoff`), up to `max_attempts`
//!   attempts. Other 4xx are not retried. The requests are made on a second thread, so
//!   that a hanging request never keeps `close` from spooling the rest.
//! - A batch given up for good (refused with a 4xx other than 429, or, without a spool,
//!   after its last attempt) is counted, logged with `tracing::warn!`, and reported to
//!   the [`NotificationKind::LogEventFailed`] listeners.
//! - [`EventProcessor::close`] first writes to the spool every event not yet in it
//!   (whatever the timeout: this is what lets the process exit right after), then
//!   delivers with what is left of `close_timeout`, and returns a [`CloseReport`]:
//!   exactly how many events were delivered, are in the spool, were lost, or were in a
//!   request still in progress. It returns within `close_timeout` (plus the time to
//!   spool), also in the middle of a backoff or of a request that hangs.
//!
//! # Spool
//! With `spool_dir` set, every batch is written to the directory, and synced, before
//! its first dispatch attempt, and deleted once delivered. A batch that fails all its
//! attempts stays there and the endpoint counts as down: new batches then go to the
//! spool without being sent, and the oldest batch is tried once with the same backoff
//! (doubling, capped at `max_backoff`, at least the `Retry-After` asked). When it
//! answers, the processor sends the spool, oldest first, and goes on as before: a
//! running processor needs no restart. What `close` leaves in the spool is sent by the
//! next processor started on the directory, before anything new. One processor at a
//! time uses a directory (an exclusive lock on `spool.lock`).
//!
//! Durability, exactly once, limits:
//! - Durable: a file is written to a temporary name, synced, renamed, and the directory
//!   synced, before its batches are sent or `close` returns.
//! - Not yet durable, so lost to a crash (kill -9, power loss): the events in the queue
//!   and in the batch being filled, at most `queue_capacity + batch_size` events (in
//!   practice those of the last `flush_interval`, or fewer once a batch fills).
//! - Exactly once: without a crash, every batch is sent until delivered and then deleted,
//!   and a file partly delivered is rewritten without its delivered batches before
//!   delivery stops. After a crash, a batch delivered in the last moments (the one in
//!   flight, or one whose deletion had not reached the disk) can be sent twice; the
//!   server drops events it already has by uuid.
//! - Bounded: the batch files never exceed `spool_max_bytes`. When full, new batches
//!   are not written (the oldest are kept, as the queue keeps its oldest): while the
//!   endpoint is down they are dropped and counted in `dropped_spool_full`; while it
//!   answers they are sent from memory.
//!
//! Files:
//! - `<20-digit unix nanoseconds>-<8-digit sequence>.batch`: the name sorts by age.
//!   One or more records, each a JSON header line
//!   `{"vario_spool":1,"url":"<endpoint>","events":<n>}` (the first also has
//!   `"records":<count>`), then a line with the batch JSON exactly as sent (no raw
//!   newline can occur in it). A processor writes one batch per file while the endpoint
//!   answers (a delivery deletes its own file), and up to 4 MiB of batches per file in
//!   an outage and at close (one sync for many batches).
//! - `*.tmp`: a file being written. Left over after a crash, it was never sent and is
//!   removed at start.
//! - `*.corrupt`: a file that did not read back whole (truncated, edited, records
//!   missing), moved aside with a warning and never read again; the batches before the
//!   damage are written to a new file and sent.
//! - `*.rejected`: a batch the endpoint refused with an error that would repeat (a 4xx
//!   other than 429), kept for inspection and never resent.
//!
//! # Configuration
//! Invalid values are replaced, with a `tracing` warning, rather than failing `start`
//! (as the reference SDK does): see [`EventProcessorConfig::validated`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vario_events::CollectingDispatcher;
//! use vario_sdk::{EventProcessor, EventProcessorConfig, NotificationCenter};
//!
//! let sink = Arc::new(CollectingDispatcher::new());
//! let config = EventProcessorConfig { batch_size: 50, flush_interval: Duration::from_millis(500), ..Default::default() };
//! let processor = EventProcessor::start(config, sink.clone(), NotificationCenter::new())?;
//! // processor.process(user_event) for every impression and conversion ...
//! assert!(processor.close().all_delivered());
//! assert_eq!(processor.stats().dropped(), 0);
//! # Ok::<(), vario_sdk::ProcessorError>(())
//! ```

mod sender;
mod spool;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use vario_events::{EventDispatcher, UserEvent};

use crate::events::PendingImpression;
use crate::notification::NotificationCenter;
#[cfg(doc)]
use crate::notification::NotificationKind;

/// Settings of an [`EventProcessor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventProcessorConfig {
    /// Events per batch (payload). Default 10.
    pub batch_size: usize,
    /// Longest time an event waits for its batch to fill. Default 1 s.
    pub flush_interval: Duration,
    /// Events the queue holds; beyond it `process` drops. Default 10,000.
    pub queue_capacity: usize,
    /// Longest time `close` waits for delivery. Default 5 s. Zero is allowed: `close`
    /// then stops at once, leaving what is queued in the spool (or counted unsent).
    pub close_timeout: Duration,
    /// Dispatch attempts per batch, the first included. Default 4 (1 + 3 retries).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each next one. Default 200 ms.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts. Default 10 s.
    pub max_backoff: Duration,
    /// Where undelivered batches are kept across outages and restarts; `None`
    /// (default): nowhere.
    pub spool_dir: Option<PathBuf>,
    /// Largest size of the spool's batch files. Default 256 MiB. When full, new batches
    /// are not written: while the endpoint is down they are dropped and counted
    /// (`dropped_spool_full`); the oldest are kept.
    pub spool_max_bytes: u64,
}

impl EventProcessorConfig {
    /// Default events per batch.
    pub const DEFAULT_BATCH_SIZE: usize = 10;
    /// Default flush interval.
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
    /// Default queue capacity.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
    /// Largest queue capacity: the queue's slots are allocated up front.
    pub const MAX_QUEUE_CAPACITY: usize = 1 << 22;
    /// Default close timeout.
    pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default attempts per batch.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
    /// Default first backoff.
    pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
    /// Default backoff cap.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
    /// Default spool size limit.
    pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;
    /// Longest flush interval, close timeout or backoff honoured; longer values are cut
    /// to it (so deadlines never overflow the clock).
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

    /// The config with invalid values replaced, each replacement logged with
    /// `tracing::warn!`:
    /// - `batch_size`, `queue_capacity`, `max_attempts` of 0, and a zero
    ///   `flush_interval` → their defaults;
    /// - `queue_capacity` above [`Self::MAX_QUEUE_CAPACITY`] → that maximum;
    /// - durations above [`Self::MAX_DURATION`] → that maximum;
    /// - `max_backoff` below `initial_backoff` → `initial_backoff`;
    /// - a zero `spool_max_bytes` → its default.
    ///
    /// A zero `initial_backoff` (retry at once) and a zero `close_timeout` are valid.
    #[must_use]
    pub fn validated(mut self) -> Self {
        fn replace<T: std::fmt::Debug + Copy>(field: &str, value: &mut T, with: T, why: &str) {
            tracing::warn!(field, given = ?*value, using = ?with, "event processor: {why}");
            *value = with;
        }
        if self.batch_size == 0 {
            replace("batch_size", &mut self.batch_size, Self::DEFAULT_BATCH_SIZE, "batch size must be positive");
        }
        if self.queue_capacity == 0 {
            replace(
                "queue_capacity",
                &mut self.queue_capacity,
                Self::DEFAULT_QUEUE_CAPACITY,
                "queue capacity must be positive",
            );
        } else if self.queue_capacity > Self::MAX_QUEUE_CAPACITY {
            replace("queue_capacity", &mut self.queue_capacity, Self::MAX_QUEUE_CAPACITY, "queue capacity too large");
        }
        if self.max_attempts == 0 {
            replace("max_attempts", &mut self.max_attempts, Self::DEFAULT_MAX_ATTEMPTS, "at least one attempt");
        }
        if self.flush_interval.is_zero() {
            replace(
                "flush_interval",
                &mut self.flush_interval,
                Self::DEFAULT_FLUSH_INTERVAL,
                "flush interval must be positive",
            );
        }
        for (field, value) in [
            ("flush_interval", &mut self.flush_interval),
            ("close_timeout", &mut self.close_timeout),
            ("initial_backoff", &mut self.initial_backoff),
            ("max_backoff", &mut self.max_backoff),
        ] {
            if *value > Self::MAX_DURATION {
                replace(field, value, Self::MAX_DURATION, "duration too long");
            }
        }
        if self.spool_max_bytes == 0 {
            replace(
                "spool_max_bytes",
                &mut self.spool_max_bytes,
                Self::DEFAULT_SPOOL_MAX_BYTES,
                "spool size limit must be positive",
            );
        }
        if self.max_backoff < self.initial_backoff {
            replace("max_backoff", &mut self.max_backoff, self.initial_backoff, "max backoff below initial backoff");
        }
        self
    }
}

impl Default for EventProcessorConfig {
    fn default() -> Self {
        Self {
            batch_size: Self::DEFAULT_BATCH_SIZE,
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            close_timeout: Self::DEFAULT_CLOSE_TIMEOUT,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: Self::DEFAULT_INITIAL_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            spool_dir: None,
            spool_max_bytes: Self::DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// Why an [`EventProcessor`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessorError {
    /// The spool directory could not be created or opened.
    #[error("event spool directory {dir}: {source}")]
    Spool {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another processor (in this or another process) uses the spool directory.
    #[error("event spool directory {dir} is in use by another event processor")]
    SpoolLocked {
        /// The directory.
        dir: PathBuf,
    },
    /// The background thread could not be started.
    #[error("could not start the event processor thread: {0}")]
    Spawn(std::io::Error),
}

/// A snapshot of an [`EventProcessor`]'s counters (read one by one, so two fields may
/// be a moment apart).
///
/// Every accepted event ends in exactly one place: `enqueued + recovered_events =
/// events_sent + failed_events + dropped_spool_full + unsent_events + queued + (events
/// waiting in the spool or in memory while the processor runs)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Events accepted by `process` (it returned true).
    pub enqueued: u64,
    /// Events waiting in the queue now.
    pub queued: u64,
    /// Events refused because the queue was full.
    pub dropped_queue_full: u64,
    /// Events refused because the processor was closed.
    pub dropped_closed: u64,
    /// Batches delivered (including batches recovered from the spool).
    pub batches_sent: u64,
    /// Events delivered (including events recovered from the spool).
    pub events_sent: u64,
    /// Dispatch attempts after the first of their batch.
    pub retried_attempts: u64,
    /// Batches given up for good: refused by the endpoint (a 4xx other than 429), or,
    /// without a spool to keep them, after their last attempt.
    pub failed_batches: u64,
    /// Events of the failed batches.
    pub failed_events: u64,
    /// Batches still undelivered when `close` returned (in the spool if there is one).
    pub unsent_batches: u64,
    /// Events of the unsent batches, and events accepted while `close` was finishing.
    pub unsent_events: u64,
    /// Batches written to the spool.
    pub spooled_batches: u64,
    /// Events in the spool now (written and not yet delivered).
    pub spooled_events: u64,
    /// Events not kept because the spool was full while the endpoint was down.
    pub dropped_spool_full: u64,
    /// Attempts to resend the spool while the endpoint was down (one batch each).
    pub spool_retries: u64,
    /// Batches read back from the spool at start.
    pub recovered_batches: u64,
    /// Events of the recovered batches.
    pub recovered_events: u64,
    /// Spool files moved aside as corrupt.
    pub spool_corrupt: u64,
    /// Spool writes or renames that failed (the batch is still sent).
    pub spool_errors: u64,
}

impl EventStats {
    /// Events refused by `process`, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_closed
    }
}

/// What [`EventProcessor::close`] left behind. Every event the processor accepted, or
/// recovered from its spool, is in exactly one of `delivered`, `spooled`, `dropped` and
/// `in_flight`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Events delivered over the processor's life (spooled ones included).
    pub delivered: u64,
    /// Events left in the spool, synced to disk: the next processor started on the
    /// directory sends them.
    pub spooled: u64,
    /// Events accepted and lost: refused by the endpoint, given up without a spool to
    /// keep them, not kept because the spool was full or failed, or accepted in the
    /// instant `close` began.
    pub dropped: u64,
    /// Events of the batch whose request was still in progress when `close` returned.
    /// If the request succeeds before the process exits they are delivered; otherwise
    /// they are in the spool (if there is one and it took them) and sent again by the
    /// next processor, and the server drops whatever arrives twice by event uuid.
    pub in_flight: u64,
    /// Events `process` refused (queue full, or after `close`): never accepted.
    pub refused: u64,
    /// Whether the close timeout cut a delivery short.
    pub timed_out: bool,
}

impl CloseReport {
    /// Everything accepted was delivered.
    pub fn all_delivered(&self) -> bool {
        self.spooled == 0 && self.dropped == 0 && self.in_flight == 0
    }

    /// Nothing accepted was lost: every event is delivered or synced to the spool.
    pub fn nothing_lost(&self) -> bool {
        self.dropped == 0 && self.in_flight == 0
    }
}

/// The processor's counters, shared by the handle and the worker.
#[derive(Default)]
struct Counters {
    /// Taken off the queue (by the worker, or by `close` after the worker stopped).
    received: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_closed: AtomicU64,
    batches_sent: AtomicU64,
    events_sent: AtomicU64,
    retried_attempts: AtomicU64,
    failed_batches: AtomicU64,
    failed_events: AtomicU64,
    unsent_batches: AtomicU64,
    unsent_events: AtomicU64,
    spooled_batches: AtomicU64,
    dropped_spool_full: AtomicU64,
    spool_retries: AtomicU64,
    recovered_batches: AtomicU64,
    recovered_events: AtomicU64,
    spool_corrupt: AtomicU64,
    spool_errors: AtomicU64,
}

/// Adds to a counter. Counters are statistics, ordered by nothing else.
fn bump(counter: &AtomicU64, by: u64) -> u64 {
    counter.fetch_add(by, Ordering::Relaxed)
}

/// Where the events taken off the queue are, kept together under one lock (taken once
/// per batch) so that `close` reads a consistent account.
#[derive(Debug, Default, Clone, Copy)]
struct Ledger {
    delivered: u64,
    /// Given up for good, or lost at close.
    dropped: u64,
    /// In spool files (the batch in flight included, when it has a file).
    spooled: u64,
    /// Sealed into batches held in memory only (the batch in flight included, when it has
    /// no file).
    in_memory: u64,
    /// The batch being sent: its events, and whether it has a spool file.
    in_flight: Option<(u64, bool)>,
}

impl Ledger {
    /// The account of `total` events (accepted and recovered): whatever is neither
    /// delivered, in the spool nor in flight is lost with the process (given up, or
    /// still in memory: in the queue, a batch being filled, a batch not spooled).
    fn report(&self, total: u64, refused: u64, timed_out: bool) -> CloseReport {
        let (flying, flying_stored) = self.in_flight.unwrap_or((0, false));
        let spooled = self.spooled.saturating_sub(if flying_stored { flying } else { 0 });
        CloseReport {
            delivered: self.delivered,
            spooled,
            dropped: total.saturating_sub(self.delivered + spooled + flying),
            in_flight: flying,
            refused,
            timed_out,
        }
    }
}

struct Shared {
    closed: AtomicBool,
    counters: Counters,
    ledger: Mutex<Ledger>,
    /// The worker thread, so that `flush`/`close` called from a listener running on it
    /// do not wait for themselves.
    worker: OnceLock<ThreadId>,
}

/// An event in the queue: built by the caller, or to be built by the worker.
pub(crate) enum QueuedEvent {
    Built(UserEvent),
    Deferred(Box<dyn FnOnce() -> UserEvent + Send>),
    /// A decide call's impression, built by the worker; queued inline, so the decision
    /// pays no allocation (a boxed closure would be one).
    Impression(PendingImpression),
}

impl QueuedEvent {
    pub(crate) fn into_event(self) -> UserEvent {
        match self {
            Self::Built(event) => event,
            Self::Deferred(build) => build(),
            Self::Impression(pending) => pending.build(),
        }
    }
}

/// A request from the handle to the worker.
enum Control {
    /// Deliver everything queued before this request, then answer.
    Flush(Sender<()>),
    /// Spool everything not yet in the spool and signal `spooled`, whatever the
    /// deadline; then deliver until `deadline`, stop, and answer with the account.
    Close { deadline: Instant, spooled: Option<Sender<()>>, ack: Option<Sender<CloseReport>> },
}

/// The batch event processor. See the [module documentation](self).
///
/// `Send + Sync`: share it (e.g. in an `Arc`) between the threads that produce events.
/// Dropping it closes it.
pub struct EventProcessor {
    events: Sender<QueuedEvent>,
    /// A second receiver, to count and collect events that raced with `close`.
    leftovers: Receiver<QueuedEvent>,
    control: Sender<Control>,
    shared: Arc<Shared>,
    /// Shared: the handle stays small, as the client holds it inline.
    config: Arc<EventProcessorConfig>,
    /// `Some(report)` once closed; the lock also serialises concurrent `close` calls.
    closed_with: Mutex<Option<CloseReport>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProcessor")
            .field("config", &self.config)
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}

impl EventProcessor {
    /// Starts the background thread. `config` is [validated](EventProcessorConfig::validated)
    /// first. With a spool directory, it is created if missing and locked, and the
    /// batches found in it are sent before any new event.
    pub fn start(
        config: EventProcessorConfig,
        dispatcher: Arc<dyn EventDispatcher>,
        notifications: NotificationCenter,
    ) -> Result<Self, ProcessorError> {
        let config = config.validated();
        let spool =
            config.spool_dir.as_deref().map(|dir| spool::Spool::open(dir, config.spool_max_bytes)).transpose()?;
        let (events, events_rx) = crossbeam_channel::bounded(config.queue_capacity);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            ledger: Mutex::new(Ledger::default()),
            worker: OnceLock::new(),
        });
        let sender = sender::Sender::start(dispatcher, spool.is_some()).map_err(ProcessorError::Spawn)?;
        let worker = worker::Worker::new(
            config.clone(),
            events_rx.clone(),
            control_rx,
            sender,
            notifications,
            shared.clone(),
            spool,
        );
        let thread = std::thread::Builder::new()
            .name(String::from("vario-events"))
            .spawn(move || worker.run())
            .map_err(ProcessorError::Spawn)?;
        Ok(Self {
            events,
            leftovers: events_rx,
            control,
            shared,
            config: Arc::new(config),
            closed_with: Mutex::new(None),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `event` for delivery; false if it was dropped (queue full, or processor
    /// closed), which is counted. Never blocks, never panics.
    #[inline]
    pub fn process(&self, event: UserEvent) -> bool {
        self.enqueue(QueuedEvent::Built(event))
    }

    /// Queues an event that the background thread builds: the caller pays for a few
    /// reference counts instead of building the payload. `build` runs once, on the
    /// processor's thread, unless the event is dropped (then it never runs).
    #[inline]
    pub fn process_deferred(&self, build: impl FnOnce() -> UserEvent + Send + 'static) -> bool {
        self.enqueue(QueuedEvent::Deferred(Box::new(build)))
    }

    /// Queues a decide call's impression for the worker to build (see
    /// [`QueuedEvent::Impression`]).
    #[inline]
    pub(crate) fn process_impression(&self, pending: PendingImpression) -> bool {
        self.enqueue(QueuedEvent::Impression(pending))
    }

    fn enqueue(&self, event: QueuedEvent) -> bool {
        if self.shared.closed.load(Ordering::Acquire) {
            bump(&self.shared.counters.dropped_closed, 1);
            return false;
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                let before = bump(&self.shared.counters.dropped_queue_full, 1);
                // One line per doubling: a sustained overflow must not flood the log.
                if before.is_power_of_two() || before == 0 {
                    tracing::warn!(
                        dropped = before + 1,
                        capacity = self.config.queue_capacity,
                        "event queue full; event dropped"
                    );
                }
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                bump(&self.shared.counters.dropped_closed, 1);
                false
            }
        }
    }

    /// Delivers (or gives up) every event queued before the call, then returns. Returns
    /// at once when closed, or when called from a notification listener running on the
    /// processor's own thread. Waits as long as the retries take.
    pub fn flush(&self) {
        if self.is_closed() || self.on_worker_thread() {
            return;
        }
        let (ack, done) = crossbeam_channel::bounded(1);
        if self.control.send(Control::Flush(ack)).is_ok() {
            // An error means the worker stopped (closed meanwhile): nothing to wait for.
            let _ = done.recv();
        }
    }

    /// Stops accepting events, writes to the spool (if there is one) every event not yet
    /// in it, delivers what it can within `close_timeout`, and stops the background
    /// thread. When it returns, every accepted event is delivered, synced to the spool,
    /// or counted as lost: the process may exit at once. The [`CloseReport`] says how
    /// many are where. Spooling is not cut by the timeout (it is one synced file per
    /// 4 MiB of events); delivery is, also in the middle of a backoff. A request in
    /// progress cannot be interrupted: its batch is reported `in_flight`. Idempotent:
    /// later calls return the first report.
    pub fn close(&self) -> CloseReport {
        let mut closed_with = self.closed_with.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(report) = *closed_with {
            return report;
        }
        self.shared.closed.store(true, Ordering::Release);
        let deadline = Instant::now() + self.config.close_timeout;
        let report = if self.on_worker_thread() {
            // A listener closing its own processor: the worker stops after the listener
            // returns; waiting here would wait forever. The account is the one of now.
            let _ = self.control.send(Control::Close { deadline, spooled: None, ack: None });
            self.settle(None, true)
        } else {
            let (spooled, spooled_rx) = crossbeam_channel::bounded(1);
            let (ack, done) = crossbeam_channel::bounded(1);
            let answered = match self.control.send(Control::Close { deadline, spooled: Some(spooled), ack: Some(ack) })
            {
                Ok(()) => {
                    // With a spool, its requests are made on another thread and the worker
                    // spools at once; the wait is not cut, as the spool is what lets the
                    // process exit. Without one, the worker may be in a request: nothing
                    // to spool is worth waiting past the deadline for. An error means the
                    // worker is gone (it panicked): nothing to wait for.
                    if self.config.spool_dir.is_some() {
                        let _ = spooled_rx.recv();
                    } else {
                        let _ = spooled_rx.recv_deadline(deadline);
                    }
                    done.recv_deadline(deadline).ok()
                }
                Err(_) => None,
            };
            if answered.is_some() {
                let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(thread) = thread {
                    // It has answered and only returns now; a panic was logged by it.
                    let _ = thread.join();
                }
                self.collect_leftovers();
            } else {
                tracing::warn!(
                    timeout_ms = self.config.close_timeout.as_millis() as u64,
                    "event processor close timed out with a request in progress"
                );
            }
            self.settle(answered, answered.is_none_or(|r| r.timed_out))
        };
        if !report.all_delivered() {
            tracing::warn!(
                delivered = report.delivered,
                spooled = report.spooled,
                dropped = report.dropped,
                in_flight = report.in_flight,
                "event processor closed with undelivered events"
            );
        }
        *closed_with = Some(report);
        report
    }

    /// The close report from the ledger, counting what is undelivered as unsent.
    fn settle(&self, answered: Option<CloseReport>, timed_out: bool) -> CloseReport {
        let ledger = *self.shared.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = self.stats();
        let total = stats.enqueued + stats.recovered_events;
        let report = ledger.report(total, stats.dropped(), answered.map_or(timed_out, |r| r.timed_out));
        // Undelivered and not yet counted as given up; the batch in flight is counted
        // when its answer comes.
        let unsent = total.saturating_sub(ledger.delivered + report.in_flight + ledger.dropped);
        bump(&self.shared.counters.unsent_events, unsent);
        report
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// The counters now.
    pub fn stats(&self) -> EventStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let queued = self.events.len() as u64;
        EventStats {
            enqueued: get(&c.received) + queued,
            queued,
            dropped_queue_full: get(&c.dropped_queue_full),
            dropped_closed: get(&c.dropped_closed),
            batches_sent: get(&c.batches_sent),
            events_sent: get(&c.events_sent),
            retried_attempts: get(&c.retried_attempts),
            failed_batches: get(&c.failed_batches),
            failed_events: get(&c.failed_events),
            unsent_batches: get(&c.unsent_batches),
            unsent_events: get(&c.unsent_events),
            spooled_batches: get(&c.spooled_batches),
            spooled_events: self.shared.ledger.lock().unwrap_or_else(PoisonError::into_inner).spooled,
            dropped_spool_full: get(&c.dropped_spool_full),
            spool_retries: get(&c.spool_retries),
            recovered_batches: get(&c.recovered_batches),
            recovered_events: get(&c.recovered_events),
            spool_corrupt: get(&c.spool_corrupt),
            spool_errors: get(&c.spool_errors),
        }
    }

    /// The config in use (after validation).
    pub fn config(&self) -> &EventProcessorConfig {
        &self.config
    }

    fn on_worker_thread(&self) -> bool {
        self.shared.worker.get() == Some(&std::thread::current().id())
    }

    /// Events accepted in the instant between the worker's last look at the queue and
    /// its exit: nobody will send them, so they are counted as unsent and dropped.
    fn collect_leftovers(&self) {
        let mut n = 0;
        while self.leftovers.try_recv().is_ok() {
            n += 1;
        }
        if n > 0 {
            bump(&self.shared.counters.received, n);
            bump(&self.shared.counters.unsent_events, n);
            self.shared.ledger.lock().unwrap_or_else(PoisonError::into_inner).dropped += n;
            tracing::warn!(events = n, "events accepted while the event processor closed were not sent");
        }
    }
}

impl Drop for EventProcessor {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_replaces_invalid_values() {
        let config = EventProcessorConfig {
            batch_size: 0,
            flush_interval: Duration::ZERO,
            queue_capacity: usize::MAX,
            close_timeout: Duration::MAX,
            max_attempts: 0,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            spool_dir: None,
            spool_max_bytes: 0,
        }
        .validated();
        assert_eq!(config.batch_size, 10);
        assert_eq!(config.flush_interval, Duration::from_secs(1));
        assert_eq!(config.queue_capacity, EventProcessorConfig::MAX_QUEUE_CAPACITY);
        assert_eq!(config.close_timeout, EventProcessorConfig::MAX_DURATION);
        assert_eq!(config.max_attempts, 4);
        assert_eq!(config.max_backoff, Duration::from_secs(2));
        assert_eq!(EventProcessorConfig::default().validated(), EventProcessorConfig::default());
    }

    #[test]
    fn processor_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EventProcessor>();
    }
}
