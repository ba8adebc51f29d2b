//! The background thread: batching, spooling, dispatch with retries.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use vario_events::{DispatchError, EventDispatcher, LogEvent, UserEvent};

use super::spool::Spool;
use super::{Control, Counters, EventProcessorConfig, QueuedEvent, Shared, bump};
use crate::notification::{FailureReason, LogEventFailedNotification, Notification, NotificationCenter};

/// How long the worker sleeps with no batch open: it wakes earlier for any request.
const IDLE_WAIT: Duration = Duration::from_secs(3600);
/// Events taken off the queue per round before requests are looked at again.
const DRAIN_PER_WAKE: usize = 1024;
/// Pause between two looks at the queue while events flow. Batches wait for their size
/// or interval anyway; at 1 M events/s a pause queues 1,000 events (capacity 10,000).
const POLL: Duration = Duration::from_millis(1);
/// Empty looks after which the worker sleeps until an event arrives.
const IDLE_AFTER_POLLS: u32 = 20;
/// Largest allocation made up front for a batch; larger batches grow as they fill.
const MAX_PREALLOCATED: usize = 1024;

/// A batch ready to be sent.
struct Pending {
    log_event: LogEvent,
    events: u64,
    /// Its spool file, if it has one.
    file: Option<PathBuf>,
}

/// How one batch ended.
enum Outcome {
    Sent,
    /// Given up after this many attempts.
    GaveUp(FailureReason, u32),
}

pub(super) struct Worker {
    config: EventProcessorConfig,
    events: Receiver<QueuedEvent>,
    control: Receiver<Control>,
    dispatcher: Arc<dyn EventDispatcher>,
    notifications: NotificationCenter,
    shared: Arc<Shared>,
    spool: Option<Spool>,
    /// The batch being filled, and when it must be sent at the latest.
    batch: Vec<UserEvent>,
    batch_deadline: Option<Instant>,
    /// Full batches not yet sent, oldest first.
    ready: VecDeque<Vec<UserEvent>>,
    /// Requests that arrived while a batch was being retried, answered afterwards.
    deferred: VecDeque<Control>,
    /// Set by `close`: no attempt starts and no backoff ends after it.
    close_deadline: Option<Instant>,
    /// Whether the close deadline cut a delivery short.
    timed_out: bool,
    rng: fastrand::Rng,
}

impl Worker {
    pub(super) fn new(
        config: EventProcessorConfig,
        events: Receiver<QueuedEvent>,
        control: Receiver<Control>,
        dispatcher: Arc<dyn EventDispatcher>,
        notifications: NotificationCenter,
        shared: Arc<Shared>,
        spool: Option<Spool>,
    ) -> Self {
        Self {
            batch: Vec::with_capacity(config.batch_size.min(MAX_PREALLOCATED)),
            config,
            events,
            control,
            dispatcher,
            notifications,
            shared,
            spool,
            batch_deadline: None,
            ready: VecDeque::new(),
            deferred: VecDeque::new(),
            close_deadline: None,
            timed_out: false,
            rng: fastrand::Rng::new(),
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub(super) fn run(mut self) {
        let _ = self.shared.worker.set(std::thread::current().id());
        // Nothing here panics by design; should a bug make it, the thread ends with a log
        // line instead of tearing down the host, and `close` reports false.
        if catch_unwind(AssertUnwindSafe(|| self.work())).is_err() {
            tracing::error!("event processor thread panicked; queued events are lost");
        }
    }

    fn work(&mut self) {
        self.resend_spooled();
        let mut idle_polls = 0u32;
        loop {
            self.poll_requests();
            if let Some(request) = self.deferred.pop_front() {
                if self.answer(request) {
                    return;
                }
                continue;
            }
            let took = self.take_queued();
            if self.batch_deadline.is_some_and(|d| d <= Instant::now()) {
                self.seal();
            }
            self.send_ready();
            if took == DRAIN_PER_WAKE {
                // More is waiting: no pause.
                idle_polls = 0;
                continue;
            }
            idle_polls = if took > 0 { 0 } else { idle_polls.saturating_add(1) };
            let until_due = self.batch_deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let request = if idle_polls < IDLE_AFTER_POLLS {
                // Events are flowing: look at the queue again after a short pause. The
                // worker does not wait on the queue itself, so `process` never has to
                // wake it (a futex call per event otherwise); requests still wake it.
                match self.control.recv_timeout(until_due.map_or(POLL, |d| d.min(POLL))) {
                    Ok(request) => Some(request),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(self.orphaned()),
                }
            } else {
                // Quiet: sleep until an event, a request or the batch's deadline.
                crossbeam_channel::select! {
                    recv(self.control) -> request => Some(request.unwrap_or_else(|_| self.orphaned())),
                    recv(self.events) -> event => {
                        if let Ok(event) = event {
                            self.add(event);
                            idle_polls = 0;
                        }
                        None
                    }
                    default(until_due.unwrap_or(IDLE_WAIT)) => None,
                }
            };
            if let Some(request) = request
                && self.answer(request)
            {
                return;
            }
        }
    }

    /// The handle is gone without closing (only after a close that timed out): finish
    /// as a close would.
    fn orphaned(&self) -> Control {
        Control::Close { deadline: Instant::now() + self.config.close_timeout, ack: None }
    }

    /// Moves up to [`DRAIN_PER_WAKE`] queued events into batches; how many it took.
    fn take_queued(&mut self) -> usize {
        for taken in 0..DRAIN_PER_WAKE {
            match self.events.try_recv() {
                Ok(event) => self.add(event),
                Err(_) => return taken,
            }
        }
        DRAIN_PER_WAKE
    }

    /// Handles a request; true when the worker must stop.
    fn answer(&mut self, request: Control) -> bool {
        match request {
            Control::Flush(ack) => {
                // What the queue holds now includes everything queued before the flush
                // call; later events may wait for their batch.
                let n = self.events.len();
                for _ in 0..n {
                    match self.events.try_recv() {
                        Ok(event) => self.add(event),
                        Err(_) => break,
                    }
                }
                self.seal();
                self.send_ready();
                let _ = ack.send(());
                false
            }
            Control::Close { deadline, ack } => {
                self.note_close(deadline);
                // `process` refuses new events now; take the rest, including any that
                // raced with the closed flag.
                self.drain();
                self.seal();
                self.send_ready();
                self.drain();
                self.seal();
                self.send_ready();
                // Flushes that arrived during retries: their events are dealt with.
                for request in std::mem::take(&mut self.deferred) {
                    match request {
                        Control::Flush(ack) => {
                            let _ = ack.send(());
                        }
                        Control::Close { ack, .. } => {
                            if let Some(ack) = ack {
                                let _ = ack.send(!self.timed_out);
                            }
                        }
                    }
                }
                if let Some(ack) = ack {
                    let _ = ack.send(!self.timed_out);
                }
                true
            }
        }
    }

    fn note_close(&mut self, deadline: Instant) {
        self.close_deadline = Some(self.close_deadline.map_or(deadline, |d| d.min(deadline)));
    }

    fn drain(&mut self) {
        // Bounded: `process` stopped accepting, so only racing events can arrive.
        for _ in 0..self.config.queue_capacity.saturating_mul(2) {
            match self.events.try_recv() {
                Ok(event) => self.add(event),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
    }

    /// Adds an event to the open batch, sealing batches by the split rule and the size.
    fn add(&mut self, event: QueuedEvent) {
        bump(&self.counters().received, 1);
        let event = event.into_event();
        if self.batch.last().is_some_and(|last| !event.batches_with(last)) {
            self.seal();
        }
        if self.batch.is_empty() {
            self.batch_deadline = Instant::now().checked_add(self.config.flush_interval);
        }
        self.batch.push(event);
        if self.batch.len() >= self.config.batch_size {
            self.seal();
        }
    }

    /// Closes the open batch, if any.
    fn seal(&mut self) {
        if !self.batch.is_empty() {
            let next = Vec::with_capacity(self.config.batch_size.min(MAX_PREALLOCATED));
            self.ready.push_back(std::mem::replace(&mut self.batch, next));
        }
        self.batch_deadline = None;
    }

    /// Sends the sealed batches: all are spooled first, so that if `close` runs out of
    /// time while sending, the rest is already on disk.
    fn send_ready(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        let mut pending: Vec<Pending> = Vec::with_capacity(self.ready.len());
        for events in self.ready.drain(..) {
            let n = events.len() as u64;
            if let Some(log_event) = LogEvent::from_owned_events(events) {
                pending.push(Pending { log_event, events: n, file: None });
            }
        }
        if let Some(spool) = self.spool.as_mut() {
            let mut written = false;
            for batch in &mut pending {
                match spool.write(&batch.log_event) {
                    Ok(file) => {
                        batch.file = Some(file);
                        written = true;
                        bump(&self.shared.counters.spooled_batches, 1);
                    }
                    Err(error) => {
                        bump(&self.shared.counters.spool_errors, 1);
                        tracing::warn!(%error, "could not spool an event batch; sending it anyway");
                    }
                }
            }
            if written && let Err(error) = spool.sync_dir() {
                bump(&self.shared.counters.spool_errors, 1);
                tracing::warn!(%error, "could not sync the event spool directory");
            }
        }
        for batch in pending {
            self.deliver(batch);
        }
    }

    /// Sends the batches a previous processor left in the spool, oldest first.
    fn resend_spooled(&mut self) {
        let Some(spool) = &self.spool else { return };
        let files = spool.pending();
        if !files.is_empty() {
            tracing::info!(batches = files.len(), "resending spooled event batches");
        }
        for file in files {
            self.poll_requests();
            if self.past_close_deadline() {
                // The rest stays for the next start.
                self.timed_out = true;
                break;
            }
            match Spool::load(&file) {
                Ok((log_event, n)) => {
                    let n = n as u64;
                    bump(&self.counters().recovered_batches, 1);
                    bump(&self.counters().recovered_events, n);
                    self.deliver(Pending { log_event, events: n, file: Some(file) });
                }
                Err(reason) => {
                    bump(&self.counters().spool_corrupt, 1);
                    match Spool::set_aside(&file, "corrupt") {
                        Ok(aside) => tracing::warn!(
                            file = %file.display(), moved_to = %aside.display(), %reason,
                            "corrupt event spool file moved aside"
                        ),
                        Err(error) => tracing::warn!(
                            file = %file.display(), %reason, %error,
                            "corrupt event spool file could not be moved aside"
                        ),
                    }
                }
            }
        }
    }

    /// Sends one batch with retries, then settles its counters, spool file and
    /// notifications.
    fn deliver(&mut self, batch: Pending) {
        let outcome = self.attempts(&batch.log_event);
        let Pending { log_event, events, file } = batch;
        let counters = &self.shared.counters;
        let (reason, attempts) = match outcome {
            Outcome::Sent => {
                bump(&counters.batches_sent, 1);
                bump(&counters.events_sent, events);
                if let Some(file) = &file {
                    Spool::remove(file);
                }
                return;
            }
            Outcome::GaveUp(reason, attempts) => (reason, attempts),
        };
        let mut spooled = file.is_some();
        match &reason {
            FailureReason::CloseTimeout => {
                self.timed_out = true;
                bump(&counters.unsent_batches, 1);
                bump(&counters.unsent_events, events);
                tracing::warn!(events, attempts, spooled, "close timed out before an event batch was delivered");
            }
            FailureReason::Exhausted(error) => {
                bump(&counters.failed_batches, 1);
                bump(&counters.failed_events, events);
                tracing::warn!(%error, events, attempts, spooled, "event batch not delivered after its last attempt");
            }
            FailureReason::Rejected(error) => {
                bump(&counters.failed_batches, 1);
                bump(&counters.failed_events, events);
                // Sending it again would be refused again: keep it aside, not in the queue.
                if let Some(file) = &file {
                    match Spool::set_aside(file, "rejected") {
                        Ok(_) => spooled = false,
                        Err(error) => {
                            tracing::warn!(%error, file = %file.display(), "could not set a rejected batch aside")
                        }
                    }
                }
                tracing::warn!(%error, events, attempts, "event batch refused by the endpoint; dropped");
            }
        }
        self.notifications.notify_with(|| LogEventFailedNotification { log_event, reason, attempts, spooled });
    }

    fn attempts(&mut self, log_event: &LogEvent) -> Outcome {
        let mut attempts = 0u32;
        loop {
            self.poll_requests();
            if self.past_close_deadline() {
                return Outcome::GaveUp(FailureReason::CloseTimeout, attempts);
            }
            if attempts == 0 {
                // Once per batch, when it is first handed over; retries do not repeat it.
                self.notifications.notify(Notification::LogEvent(log_event));
            }
            attempts += 1;
            if attempts > 1 {
                bump(&self.shared.counters.retried_attempts, 1);
            }
            let error = match self.dispatch(log_event) {
                Ok(()) => return Outcome::Sent,
                Err(error) => error,
            };
            let retryable = error.is_retryable()
                && !matches!(&error, DispatchError::Transport { reason, .. } if reason.starts_with(PANICKED));
            if !retryable {
                return Outcome::GaveUp(FailureReason::Rejected(error), attempts);
            }
            if attempts >= self.config.max_attempts {
                return Outcome::GaveUp(FailureReason::Exhausted(error), attempts);
            }
            let retry_after = match &error {
                DispatchError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let delay = self.backoff(attempts, retry_after);
            tracing::debug!(%error, attempt = attempts, delay_ms = delay.as_millis() as u64, "event batch will be retried");
            if !self.wait(delay) {
                return Outcome::GaveUp(FailureReason::CloseTimeout, attempts);
            }
        }
    }

    /// One attempt; a panicking dispatcher counts as a failure that is not retried.
    fn dispatch(&self, log_event: &LogEvent) -> Result<(), DispatchError> {
        catch_unwind(AssertUnwindSafe(|| self.dispatcher.dispatch(log_event))).unwrap_or_else(|_| {
            Err(DispatchError::Transport { url: log_event.url.to_string(), reason: String::from(PANICKED) })
        })
    }

    /// The wait before retry number `retry` (1 = the first retry): exponential from
    /// `initial_backoff`, capped at `max_backoff`, with "equal jitter" (half fixed, half
    /// random) so that clients failing together do not retry together; at least the
    /// endpoint's `Retry-After` (capped at `max_backoff` too).
    fn backoff(&mut self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self.config.initial_backoff.saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let base = doubled.min(self.config.max_backoff);
        let half = base / 2;
        let jitter = Duration::from_nanos(self.rng.u64(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX)));
        let delay = (half + jitter).min(base);
        match retry_after {
            Some(asked) => delay.max(asked.min(self.config.max_backoff)),
            None => delay,
        }
    }

    /// Sleeps `delay`, keeping requests for later; false when the close deadline comes
    /// first (then it returns at once rather than sleep in vain).
    fn wait(&mut self, delay: Duration) -> bool {
        let Some(until) = Instant::now().checked_add(delay) else { return false };
        loop {
            if self.close_deadline.is_some_and(|d| until > d) {
                return false;
            }
            match self.control.recv_deadline(until) {
                Ok(request) => self.defer(request),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => {
                    // The handle is gone: close now.
                    self.note_close(Instant::now());
                    return false;
                }
            }
        }
    }

    /// Takes the requests that arrived, without waiting, to learn of a close.
    fn poll_requests(&mut self) {
        while let Ok(request) = self.control.try_recv() {
            self.defer(request);
        }
    }

    fn defer(&mut self, request: Control) {
        if let Control::Close { deadline, .. } = &request {
            self.note_close(*deadline);
        }
        self.deferred.push_back(request);
    }

    fn past_close_deadline(&self) -> bool {
        self.close_deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Reason of the error standing for a dispatcher that panicked.
const PANICKED: &str = "the event dispatcher panicked";
