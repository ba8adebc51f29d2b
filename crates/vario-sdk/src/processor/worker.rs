//! The background thread: batching, spooling, delivery with retries, and resending the
//! spool once the endpoint answers again.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use vario_events::{DispatchError, LogEvent, UserEvent};

use super::sender::{self, PANICKED};
use super::spool::{Damaged, Record, SEGMENT_BYTES, Spool, Stored, WriteError};
use super::{CloseReport, Control, Counters, EventProcessorConfig, Ledger, QueuedEvent, Shared, bump};
use crate::notification::{FailureReason, LogEventFailedNotification, Notification, NotificationCenter};

/// How long the worker sleeps with nothing due: it wakes earlier for any request.
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
/// Batches held in memory waiting for delivery; beyond it the worker leaves events in
/// the queue (which then fills and drops), as a slow endpoint must not grow memory. In
/// an outage batches go to the spool and are not held.
const MAX_LOADED: usize = 64;

/// Batches waiting for delivery: one spool file, or batches held in memory only.
struct Entry {
    stored: Option<Stored>,
    /// The batches still to send, next first; `None`: only in the file, read when the
    /// entry comes first.
    records: Option<VecDeque<Record>>,
    /// Events and batches still to send.
    events: u64,
    batches: u64,
    /// Some of the file's batches were delivered or set aside: the file is rewritten
    /// with the rest when delivery stops, so that they are not sent twice.
    changed: bool,
}

impl Entry {
    fn in_memory(record: Record) -> Self {
        Self {
            stored: None,
            events: record.events,
            batches: 1,
            records: Some(VecDeque::from([record])),
            changed: false,
        }
    }

    /// A file whose records are not kept in memory.
    fn on_disk(stored: Stored, records: &[Record]) -> Self {
        Self {
            stored: Some(stored),
            records: None,
            events: records.iter().map(|r| r.events).sum(),
            batches: records.len() as u64,
            changed: false,
        }
    }
}

/// The endpoint failed a batch's every attempt: batches wait in the spool, and the
/// oldest is tried once at `next_probe`.
struct Outage {
    next_probe: Instant,
    /// Retry number of the next probe, for the backoff.
    retry: u32,
}

/// How one dispatch of a batch ended; the batch comes back with it.
enum Outcome {
    Sent(Record),
    /// Refused with an error that would repeat; after this many attempts.
    Rejected(Record, DispatchError, u32),
    /// Every allowed attempt failed with a retryable error.
    Unavailable(Record, DispatchError, u32),
    /// The close deadline came first.
    CloseTimeout(Record),
}

pub(super) struct Worker {
    config: EventProcessorConfig,
    events: Receiver<QueuedEvent>,
    control: Receiver<Control>,
    /// The handle is gone (only after a close that timed out).
    control_gone: bool,
    sender: sender::Sender,
    notifications: NotificationCenter,
    shared: Arc<Shared>,
    spool: Option<Spool>,
    /// The batch being filled, and when it must be sent at the latest.
    batch: Vec<UserEvent>,
    batch_deadline: Option<Instant>,
    /// Full batches not yet stored.
    ready: VecDeque<Vec<UserEvent>>,
    /// What waits for delivery, oldest first.
    fifo: VecDeque<Entry>,
    /// Entries of `fifo` whose records are in memory.
    loaded: usize,
    outage: Option<Outage>,
    /// Requests that arrived while a batch was being sent, answered afterwards.
    deferred: VecDeque<Control>,
    /// Set by `close`: no attempt starts and no backoff ends after it.
    close_deadline: Option<Instant>,
    /// `close` has had everything in memory spooled.
    closing: bool,
    /// Whether the close deadline cut a delivery short.
    timed_out: bool,
    /// A batch of the oldest entry is being sent.
    sending: bool,
    rng: fastrand::Rng,
    /// Batches refused by a full spool, for the log's rate limit.
    spool_full_batches: u64,
}

impl Worker {
    pub(super) fn new(
        config: EventProcessorConfig,
        events: Receiver<QueuedEvent>,
        control: Receiver<Control>,
        sender: sender::Sender,
        notifications: NotificationCenter,
        shared: Arc<Shared>,
        spool: Option<Spool>,
    ) -> Self {
        Self {
            batch: Vec::with_capacity(config.batch_size.min(MAX_PREALLOCATED)),
            config,
            events,
            control,
            control_gone: false,
            sender,
            notifications,
            shared,
            spool,
            batch_deadline: None,
            ready: VecDeque::new(),
            fifo: VecDeque::new(),
            loaded: 0,
            outage: None,
            deferred: VecDeque::new(),
            close_deadline: None,
            closing: false,
            timed_out: false,
            sending: false,
            rng: fastrand::Rng::new(),
            spool_full_batches: 0,
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn ledger(&self, change: impl FnOnce(&mut Ledger)) {
        change(&mut self.shared.ledger.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(super) fn run(mut self) {
        let _ = self.shared.worker.set(std::thread::current().id());
        // Nothing here panics by design; should a bug make it, the thread ends with a log
        // line instead of tearing down the host, and `close` reports what it knows.
        if catch_unwind(AssertUnwindSafe(|| self.work())).is_err() {
            tracing::error!("event processor thread panicked; events in memory are lost");
        }
    }

    fn work(&mut self) {
        self.recover();
        let mut idle_polls = 0u32;
        loop {
            self.poll_requests();
            if let Some(request) = self.deferred.pop_front() {
                if self.answer(request) {
                    return;
                }
                continue;
            }
            let took = if self.loaded < MAX_LOADED { self.take_queued() } else { 0 };
            if self.batch_deadline.is_some_and(|d| d <= Instant::now()) {
                self.seal();
            }
            self.spill();
            // What is ready goes out in one run, as batches fill faster than they are sent.
            let mut sent = false;
            for _ in 0..self.fifo.len() {
                if !self.deferred.is_empty() || !self.deliver_next(false) {
                    break;
                }
                sent = true;
            }
            if took == DRAIN_PER_WAKE || sent {
                // More is waiting: no pause.
                idle_polls = 0;
                continue;
            }
            idle_polls = if took > 0 { 0 } else { idle_polls.saturating_add(1) };
            let due = match (self.batch_deadline, self.probe_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let until_due = due.map(|d| d.saturating_duration_since(Instant::now()));
            let request = if self.control_gone {
                std::thread::sleep(until_due.unwrap_or(POLL).min(POLL));
                None
            } else if idle_polls < IDLE_AFTER_POLLS {
                // Events are flowing: look at the queue again after a short pause. The
                // worker does not wait on the queue itself, so `process` never has to
                // wake it (a futex call per event otherwise); requests still wake it.
                match self.control.recv_timeout(until_due.map_or(POLL, |d| d.min(POLL))) {
                    Ok(request) => Some(request),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(self.orphaned()),
                }
            } else {
                // Quiet: sleep until an event, a request, the batch's deadline or a probe.
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
    fn orphaned(&mut self) -> Control {
        self.control_gone = true;
        Control::Close { deadline: Instant::now() + self.config.close_timeout, spooled: None, ack: None }
    }

    /// When the spool is tried again, if the endpoint is down and something waits.
    fn probe_due(&self) -> Option<Instant> {
        self.outage.as_ref().filter(|_| !self.fifo.is_empty()).map(|o| o.next_probe)
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
                self.spill();
                // Until delivered, given up, or parked in the spool by an outage.
                while self.outage.is_none() && self.deliver_next(false) {}
                let _ = ack.send(());
                false
            }
            Control::Close { deadline, spooled, ack } => {
                self.note_close(deadline);
                self.spool_for_close(spooled);
                // Deliver with the time left, oldest first; an endpoint that fails a
                // batch's attempts (or, in an outage, one probe) ends it.
                while !self.past_close_deadline() && !self.fifo.is_empty() {
                    if !self.deliver_next(true) || self.outage.is_some() || self.timed_out {
                        break;
                    }
                }
                // Events that raced with the closed flag.
                self.drain();
                self.seal();
                self.spill();
                self.finish();
                let report = self.report();
                // Flushes that arrived during retries: their events are dealt with.
                for request in std::mem::take(&mut self.deferred) {
                    match request {
                        Control::Flush(ack) => {
                            let _ = ack.send(());
                        }
                        Control::Close { spooled, ack, .. } => {
                            if let Some(spooled) = spooled {
                                let _ = spooled.send(());
                            }
                            if let Some(ack) = ack {
                                let _ = ack.send(report);
                            }
                        }
                    }
                }
                if let Some(ack) = ack {
                    let _ = ack.send(report);
                }
                true
            }
        }
    }

    /// The account now; the handle completes it.
    fn report(&self) -> CloseReport {
        CloseReport { timed_out: self.timed_out, ..CloseReport::default() }
    }

    /// Everything in memory goes to the spool, in as few files as it takes, before
    /// `close` may return. Runs once, as soon as the close request is seen (also in
    /// the middle of a request or a backoff).
    fn spool_for_close(&mut self, spooled: Option<crossbeam_channel::Sender<()>>) {
        if !self.closing {
            self.closing = true;
            self.drain();
            self.seal();
            // Batches held in memory only (fresh, or not written before) join the files.
            let mut records: Vec<Record> = Vec::new();
            let mut kept = VecDeque::with_capacity(self.fifo.len());
            for (i, mut entry) in std::mem::take(&mut self.fifo).into_iter().enumerate() {
                // The batch in flight stays where its answer will settle it.
                let in_flight = i == 0 && self.sending;
                if entry.stored.is_none() && self.spool.is_some() && !in_flight {
                    let held = entry.records.take().unwrap_or_default();
                    self.loaded -= 1;
                    let n: u64 = held.iter().map(|r| r.events).sum();
                    self.ledger(|l| l.in_memory -= n);
                    records.extend(held);
                } else {
                    kept.push_back(entry);
                }
            }
            self.fifo = kept;
            records.extend(self.ready.drain(..).filter_map(LogEvent::from_owned_events).map(Record::new));
            self.store(records, true);
        }
        if let Some(spooled) = spooled {
            let _ = spooled.send(());
        }
    }

    /// At the end of `close`: files partly delivered are rewritten; batches still in
    /// memory are counted unsent and reported to the listeners.
    fn finish(&mut self) {
        self.compact_head();
        let counters = &self.shared.counters;
        let mut unsent = 0;
        for entry in &self.fifo {
            unsent += entry.batches;
            if let Some(records) = &entry.records {
                for record in records {
                    let spooled = entry.stored.is_some();
                    tracing::warn!(events = record.events, spooled, "event batch not delivered before close");
                    self.notifications.notify_with(|| LogEventFailedNotification {
                        log_event: record.log_event.clone(),
                        reason: FailureReason::CloseTimeout,
                        attempts: 0,
                        spooled,
                    });
                }
            }
        }
        bump(&counters.unsent_batches, unsent);
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

    /// Stores the sealed batches for delivery: in the spool before any attempt (one
    /// file each, so a delivery deletes its own; in an outage or at close, in as few
    /// files as it takes, as nothing is sent meanwhile), or in memory without a spool.
    fn spill(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        let records: Vec<Record> =
            self.ready.drain(..).filter_map(LogEvent::from_owned_events).map(Record::new).collect();
        let together = self.outage.is_some() || self.closing;
        self.store(records, together);
    }

    fn store(&mut self, records: Vec<Record>, together: bool) {
        if records.is_empty() {
            return;
        }
        if self.spool.is_none() {
            for record in records {
                self.hold(record);
            }
            return;
        }
        let mut written = false;
        if together {
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                // One file of about SEGMENT_BYTES (at least one batch).
                let mut chunk = Vec::new();
                let mut size = 0;
                while let Some(record) = records.next_if(|_| chunk.is_empty() || size < SEGMENT_BYTES) {
                    size += record.log_event.json().len();
                    chunk.push(record);
                }
                written |= self.write(chunk, false);
            }
        } else {
            for record in records {
                written |= self.write(vec![record], true);
            }
        }
        if written
            && let Some(spool) = &self.spool
            && let Err(error) = spool.sync_dir()
        {
            bump(&self.shared.counters.spool_errors, 1);
            tracing::warn!(%error, "could not sync the event spool directory");
        }
    }

    /// Holds a batch in memory only.
    fn hold(&mut self, record: Record) {
        let n = record.events;
        self.ledger(|l| l.in_memory += n);
        self.loaded += 1;
        self.fifo.push_back(Entry::in_memory(record));
    }

    /// Writes batches to one spool file and queues it; `keep` keeps them in memory too.
    /// False if it could not be written (then they are held, or dropped in an outage).
    fn write(&mut self, records: Vec<Record>, keep: bool) -> bool {
        let Some(spool) = self.spool.as_mut() else { return false };
        let refs: Vec<&Record> = records.iter().collect();
        match spool.write(&refs) {
            Ok(stored) => {
                let mut entry = Entry::on_disk(stored, &records);
                let (events, batches) = (entry.events, entry.batches);
                if keep {
                    entry.records = Some(records.into());
                    self.loaded += 1;
                }
                self.fifo.push_back(entry);
                bump(&self.shared.counters.spooled_batches, batches);
                self.ledger(|l| l.spooled += events);
                true
            }
            Err(error) => {
                let events: u64 = records.iter().map(|r| r.events).sum();
                let full = matches!(error, WriteError::Full);
                match &error {
                    WriteError::Full => {
                        self.spool_full_batches += records.len() as u64;
                        // One line per doubling: a long outage must not flood the log.
                        if (self.spool_full_batches - records.len() as u64 + 1).is_power_of_two() {
                            tracing::warn!(
                                max_bytes = self.config.spool_max_bytes,
                                batches = self.spool_full_batches,
                                "event spool full; new batches are not written"
                            );
                        }
                    }
                    WriteError::Io(error) => {
                        bump(&self.shared.counters.spool_errors, 1);
                        tracing::warn!(%error, events, "could not write an event batch to the spool");
                    }
                }
                if self.outage.is_some() {
                    // Neither sendable now nor kept: dropped, and counted.
                    let counter = if full {
                        &self.shared.counters.dropped_spool_full
                    } else {
                        &self.shared.counters.failed_events
                    };
                    bump(counter, events);
                    if !full {
                        bump(&self.shared.counters.failed_batches, records.len() as u64);
                    }
                    self.ledger(|l| l.dropped += events);
                } else {
                    // Sent from memory (at close: reported dropped unless delivered).
                    for record in records {
                        self.hold(record);
                    }
                }
                false
            }
        }
    }

    /// Queues the files a previous processor left in the spool, oldest first. Files
    /// that do not read back whole are moved aside; the batches before the damage are
    /// kept.
    fn recover(&mut self) {
        let Some(spool) = self.spool.as_mut() else { return };
        let files = spool.pending();
        let (mut batches, mut events) = (0, 0);
        for stored in files {
            let entry = match Spool::read(&stored.path) {
                Ok(records) => Some(Entry::on_disk(stored, &records)),
                Err(damaged) => self.salvage(stored, damaged),
            };
            if let Some(entry) = entry {
                batches += entry.batches;
                events += entry.events;
                if entry.stored.is_some() {
                    self.ledger(|l| l.spooled += entry.events);
                }
                self.fifo.push_back(entry);
            }
        }
        bump(&self.counters().recovered_batches, batches);
        bump(&self.counters().recovered_events, events);
        if batches > 0 {
            tracing::info!(batches, events, "resending spooled event batches");
        }
    }

    /// A damaged file: moved aside as `.corrupt`, with a warning; the batches before the
    /// damage go to a new file (held in memory if that fails), returned as its entry.
    fn salvage(&mut self, stored: Stored, damaged: Damaged) -> Option<Entry> {
        bump(&self.shared.counters.spool_corrupt, 1);
        let spool = self.spool.as_mut()?;
        let Damaged { good, reason } = damaged;
        let kept: u64 = good.iter().map(|r| r.events).sum();
        match spool.set_aside(&stored, "corrupt") {
            Ok(aside) => tracing::warn!(
                file = %stored.path.display(), moved_to = %aside.display(), %reason, kept_events = kept,
                "damaged event spool file moved aside; the batches before the damage are kept"
            ),
            Err(error) => tracing::warn!(
                file = %stored.path.display(), %reason, %error,
                "damaged event spool file could not be moved aside"
            ),
        }
        if good.is_empty() {
            return None;
        }
        let refs: Vec<&Record> = good.iter().collect();
        match spool.write(&refs) {
            Ok(new) => {
                if let Err(error) = spool.sync_dir() {
                    tracing::warn!(%error, "could not sync the event spool directory");
                }
                Some(Entry::on_disk(new, &good))
            }
            Err(_) => {
                bump(&self.shared.counters.spool_errors, 1);
                let mut entry = Entry::on_disk(stored, &good);
                entry.stored = None;
                entry.records = Some(good.into());
                self.loaded += 1;
                let n = entry.events;
                self.ledger(|l| l.in_memory += n);
                Some(entry)
            }
        }
    }

    /// The next batch to send, taken from the oldest entry (its file read if needed).
    fn next_record(&mut self) -> Option<Record> {
        loop {
            let head = self.fifo.front_mut()?;
            if head.records.is_none() {
                let Some(stored) = head.stored.clone() else {
                    self.fifo.pop_front();
                    continue;
                };
                match Spool::read(&stored.path) {
                    Ok(records) => {
                        head.records = Some(records.into());
                        self.loaded += 1;
                    }
                    Err(damaged) => {
                        // Changed since it was first read: what is lost is counted.
                        let lost = head.events;
                        self.fifo.pop_front();
                        self.ledger(|l| {
                            l.spooled -= lost;
                            l.dropped += lost;
                        });
                        if let Some(entry) = self.salvage(stored, damaged) {
                            let kept = entry.events;
                            if entry.stored.is_some() {
                                self.ledger(|l| l.spooled += kept);
                            }
                            self.ledger(|l| l.dropped -= kept);
                            self.fifo.push_front(entry);
                        }
                        continue;
                    }
                }
            }
            let head = self.fifo.front_mut()?;
            if let Some(record) = head.records.as_mut().and_then(VecDeque::pop_front) {
                return Some(record);
            }
            self.pop_head();
        }
    }

    /// Removes the oldest entry (all its batches settled), deleting its file.
    fn pop_head(&mut self) {
        if let Some(entry) = self.fifo.pop_front() {
            if entry.records.is_some() {
                self.loaded -= 1;
            }
            if let (Some(stored), Some(spool)) = (&entry.stored, self.spool.as_mut()) {
                spool.remove(stored);
            }
        }
    }

    /// One batch of the oldest entry settled (delivered or set aside).
    fn settled(&mut self, record: &Record) {
        let Some(head) = self.fifo.front_mut() else { return };
        head.events -= record.events;
        head.batches -= 1;
        head.changed = true;
        let stored = head.stored.is_some();
        let done = head.batches == 0;
        let n = record.events;
        self.ledger(|l| {
            if stored {
                l.spooled -= n;
            } else {
                l.in_memory -= n;
            }
        });
        if done {
            self.pop_head();
        }
    }

    /// A batch goes back to the front of the oldest entry, to be sent again.
    fn put_back(&mut self, record: Record) {
        match self.fifo.front_mut().and_then(|head| head.records.as_mut()) {
            Some(records) => records.push_front(record),
            None => self.fifo.push_front(Entry::in_memory(record)),
        }
    }

    /// Sends the next batch if it is due: with all its attempts, or, while the endpoint
    /// is down, one probe (`force`: now, not at the probe's time). False if nothing was
    /// due.
    fn deliver_next(&mut self, force: bool) -> bool {
        if self.fifo.is_empty() {
            return false;
        }
        let probing = self.outage.is_some();
        if probing && !force && self.outage.as_ref().is_some_and(|o| Instant::now() < o.next_probe) {
            return false;
        }
        let Some(record) = self.next_record() else { return true };
        let stored = self.fifo.front().is_some_and(|h| h.stored.is_some());
        let n = record.events;
        self.ledger(|l| l.in_flight = Some((n, stored)));
        self.sending = true;
        let outcome = if probing {
            bump(&self.shared.counters.spool_retries, 1);
            self.attempts(record, 1, false)
        } else {
            self.attempts(record, self.config.max_attempts, true)
        };
        self.ledger(|l| l.in_flight = None);
        self.sending = false;
        self.settle(outcome, stored);
        true
    }

    /// Settles a batch's counters, spool file and notifications after its attempts.
    fn settle(&mut self, outcome: Outcome, stored: bool) {
        match outcome {
            Outcome::Sent(record) => {
                bump(&self.shared.counters.batches_sent, 1);
                bump(&self.shared.counters.events_sent, record.events);
                let n = record.events;
                self.ledger(|l| l.delivered += n);
                self.settled(&record);
                if self.outage.take().is_some() {
                    tracing::info!(
                        waiting_batches = self.fifo.len(),
                        "event endpoint answers again; sending the spool"
                    );
                }
            }
            Outcome::Rejected(record, error, attempts) => {
                bump(&self.shared.counters.failed_batches, 1);
                bump(&self.shared.counters.failed_events, record.events);
                let n = record.events;
                self.ledger(|l| l.dropped += n);
                // Sending it again would be refused again: kept aside for inspection.
                if let Some(spool) = self.spool.as_mut().filter(|_| stored)
                    && let Err(error) = spool.keep_aside(&[&record], "rejected")
                {
                    tracing::warn!(%error, "could not set a rejected batch aside");
                }
                self.settled(&record);
                // It answered: it is up.
                self.outage = None;
                tracing::warn!(%error, events = record.events, attempts, "event batch refused by the endpoint; dropped");
                self.notifications.notify_with(|| LogEventFailedNotification {
                    log_event: record.log_event,
                    reason: FailureReason::Rejected(error),
                    attempts,
                    spooled: false,
                });
            }
            Outcome::Unavailable(record, error, attempts) => {
                if stored {
                    let first = self.outage.is_none();
                    let retry_after = retry_after(&error);
                    if first {
                        tracing::warn!(
                            %error, events = record.events, attempts,
                            "event batch not delivered after its last attempt; it stays in the spool, which is resent when the endpoint answers"
                        );
                        self.notifications.notify_with(|| LogEventFailedNotification {
                            log_event: record.log_event.clone(),
                            reason: FailureReason::Exhausted(error),
                            attempts,
                            spooled: true,
                        });
                    }
                    self.put_back(record);
                    self.enter_outage(retry_after);
                } else {
                    bump(&self.shared.counters.failed_batches, 1);
                    bump(&self.shared.counters.failed_events, record.events);
                    let n = record.events;
                    self.ledger(|l| l.dropped += n);
                    self.settled(&record);
                    tracing::warn!(%error, events = record.events, attempts, "event batch not delivered after its last attempt");
                    self.notifications.notify_with(|| LogEventFailedNotification {
                        log_event: record.log_event,
                        reason: FailureReason::Exhausted(error),
                        attempts,
                        spooled: false,
                    });
                }
            }
            Outcome::CloseTimeout(record) => {
                self.timed_out = true;
                self.put_back(record);
            }
        }
    }

    /// The endpoint is down: batches wait in the spool, which is tried again with
    /// backoff. Files partly delivered are rewritten and batches in memory let go.
    fn enter_outage(&mut self, retry_after: Option<Duration>) {
        let retry = self.outage.as_ref().map_or(self.config.max_attempts, |o| o.retry.saturating_add(1));
        let delay = self.backoff(retry, retry_after);
        self.outage = Some(Outage { next_probe: Instant::now() + delay, retry });
        self.compact_head();
        for entry in &mut self.fifo {
            if entry.stored.is_some() && !entry.changed && entry.records.take().is_some() {
                self.loaded -= 1;
            }
        }
    }

    /// Rewrites the oldest file without the batches already settled.
    fn compact_head(&mut self) {
        let (Some(head), Some(spool)) = (self.fifo.front_mut(), self.spool.as_mut()) else { return };
        if !head.changed {
            return;
        }
        let (Some(stored), Some(records)) = (head.stored.as_mut(), head.records.as_ref()) else { return };
        let refs: Vec<&Record> = records.iter().collect();
        match spool.rewrite(stored, &refs) {
            Ok(()) => head.changed = false,
            Err(error) => {
                bump(&self.shared.counters.spool_errors, 1);
                tracing::warn!(%error, file = %stored.path.display(), "could not rewrite a partly delivered spool file; its delivered batches may be sent again");
            }
        }
    }

    /// Up to `max` attempts of one batch, with backoff between them.
    fn attempts(&mut self, record: Record, max: u32, notify: bool) -> Outcome {
        let Record { mut log_event, events } = record;
        let mut attempts = 0u32;
        loop {
            self.poll_requests();
            if self.past_close_deadline() {
                return Outcome::CloseTimeout(Record { log_event, events });
            }
            if attempts == 0 && notify {
                // Once per batch, when it is first handed over; retries do not repeat it.
                self.notifications.notify(Notification::LogEvent(&log_event));
            }
            attempts += 1;
            if attempts > 1 {
                bump(&self.shared.counters.retried_attempts, 1);
            }
            let (back, answer) = self.dispatch(log_event);
            log_event = back;
            let error = match answer {
                Ok(()) => return Outcome::Sent(Record { log_event, events }),
                Err(error) => error,
            };
            let retryable = error.is_retryable()
                && !matches!(&error, DispatchError::Transport { reason, .. } if reason.starts_with(PANICKED));
            let record = Record { log_event, events };
            if !retryable {
                return Outcome::Rejected(record, error, attempts);
            }
            if attempts >= max {
                return Outcome::Unavailable(record, error, attempts);
            }
            let delay = self.backoff(attempts, retry_after(&error));
            tracing::debug!(%error, attempt = attempts, delay_ms = delay.as_millis() as u64, "event batch will be retried");
            if !self.wait(delay) {
                return Outcome::CloseTimeout(record);
            }
            log_event = record.log_event;
        }
    }

    /// One attempt. On the sender thread (with a spool) this one keeps answering
    /// requests meanwhile: a close spools everything else at once.
    fn dispatch(&mut self, log_event: LogEvent) -> sender::Answer {
        let (jobs, answers) = match &self.sender {
            sender::Sender::Inline(dispatcher) => {
                let answer = sender::attempt(dispatcher.as_ref(), &log_event);
                return (log_event, answer);
            }
            sender::Sender::Thread { jobs, answers } => (jobs.clone(), answers.clone()),
        };
        let url = log_event.url.to_string();
        if let Err(error) = jobs.send(log_event) {
            return (error.into_inner(), Err(DispatchError::Transport { url, reason: String::from(PANICKED) }));
        }
        loop {
            if self.control_gone {
                match answers.recv() {
                    Ok(answer) => return answer,
                    // The sender thread ends only after this one; this is not reached.
                    Err(_) => std::thread::sleep(IDLE_WAIT),
                }
                continue;
            }
            crossbeam_channel::select! {
                recv(answers) -> answer => match answer {
                    Ok(answer) => return answer,
                    Err(_) => std::thread::sleep(IDLE_WAIT),
                },
                recv(self.control) -> request => match request {
                    Ok(request) => self.defer(request),
                    Err(_) => {
                        self.control_gone = true;
                        self.note_close(Instant::now());
                    }
                },
            }
        }
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
            if self.control_gone {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                return true;
            }
            match self.control.recv_deadline(until) {
                Ok(request) => self.defer(request),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => {
                    // The handle is gone: close now.
                    self.control_gone = true;
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

    /// Keeps a request for later; a close is acted on at once: everything in memory is
    /// spooled, so that `close` can return whatever the request in progress does.
    fn defer(&mut self, request: Control) {
        let request = match request {
            Control::Close { deadline, spooled, ack } => {
                self.note_close(deadline);
                self.spool_for_close(spooled);
                Control::Close { deadline, spooled: None, ack }
            }
            flush => flush,
        };
        self.deferred.push_back(request);
    }

    fn past_close_deadline(&self) -> bool {
        self.close_deadline.is_some_and(|d| Instant::now() >= d)
    }
}

fn retry_after(error: &DispatchError) -> Option<Duration> {
    match error {
        DispatchError::Status { retry_after, .. } => *retry_after,
        _ => None,
    }
}
