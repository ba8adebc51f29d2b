//! The event processor's hand-off cost, with a dispatcher that discards:
//! - `process_accepted`: one `process()` of a prebuilt event into a queue with room (the
//!   event's clone is made outside the timing);
//! - `process_queue_full`: one `process()` refused because the queue is full (the
//!   endpoint stalls);
//! - sustained (printed after the criterion groups): 2 threads each enqueue 500,000
//!   events (prebuilt, or built in the loop) as fast as they can while the processor
//!   delivers batches of 10; then 2 threads at 50,000 events/s each for 2 s. Events/s
//!   and drops.
//!
//! Run with `cargo bench -p vario-sdk --bench enqueue`.

use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use vario_core::Attributes;
use vario_events::{DispatchError, EventDispatcher, EventFactory, LogEvent, UserEvent};
use vario_sdk::{EventProcessor, EventProcessorConfig, NotificationCenter, ProjectConfig};

/// Accepts every batch and throws it away.
struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        black_box(event);
        Ok(())
    }
}

/// Blocks every call until dropped, so the queue fills.
struct Stalled(Mutex<bool>, Condvar);

impl EventDispatcher for Stalled {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*open {
            open = self.1.wait(open).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Ok(())
    }
}

impl Stalled {
    fn open(&self) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.1.notify_all();
    }
}

/// A conversion with two attributes and a revenue tag, as `track` makes it.
fn event() -> UserEvent {
    let config = ProjectConfig::from_json(
        r#"{"version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
        "groups": [], "experiments": [], "audiences": [],
        "attributes": [{"id": "20001", "key": "device"}, {"id": "20002", "key": "age"}],
        "events": [{"id": "90001", "key": "purchase", "experimentIds": []}]}"#,
    )
    .expect("bench datafile is valid");
    let attributes: Attributes = [("device", "iphone")].into_iter().collect();
    let tags = serde_json::json!({"revenue": 4200});
    EventFactory::new(&config)
        .conversion("purchase", "user_4", &attributes, tags.as_object())
        .expect("purchase is declared")
}

fn start(dispatcher: Arc<dyn EventDispatcher>, queue_capacity: usize) -> EventProcessor {
    let config = EventProcessorConfig { queue_capacity, ..EventProcessorConfig::default() };
    EventProcessor::start(config, dispatcher, NotificationCenter::new()).expect("processor starts")
}

fn bench(c: &mut Criterion) {
    let event = event();

    // The queue never fills here: each chunk goes into an emptied queue.
    const CHUNK: usize = 4_096;
    let processor = start(Arc::new(Discard), 2 * CHUNK);
    c.bench_function("process_accepted", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(CHUNK);
                let chunk: Vec<UserEvent> = (0..n).map(|_| event.clone()).collect();
                processor.flush();
                let started = Instant::now();
                for e in chunk {
                    black_box(processor.process(e));
                }
                timed += started.elapsed();
                left -= n;
            }
            timed
        })
    });
    processor.flush();
    let stats = processor.stats();
    eprintln!("process_accepted: {} accepted, {} dropped", stats.enqueued, stats.dropped());
    drop(processor);

    let stalled = Arc::new(Stalled(Mutex::new(false), Condvar::new()));
    let processor = start(stalled.clone(), 16);
    while processor.stats().dropped_queue_full == 0 {
        processor.process(event.clone());
    }
    c.bench_function("process_queue_full", |b| {
        b.iter_batched(|| event.clone(), |e| processor.process(e), criterion::BatchSize::SmallInput)
    });
    stalled.open();
    drop(processor);
}

/// How the sustained producers get their events.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// Built before the clock starts: the hand-off alone, as fast as it goes.
    Prebuilt,
    /// Built in the loop (a clone, about what `track` allocates), as fast as it goes.
    Built,
    /// Built in the loop at this many events per second per thread.
    Paced(u32),
}

/// 2 threads × `per_thread` events into one processor (default settings) delivering to
/// `Discard`.
fn sustained(source: Source, per_thread: usize) {
    let event = event();
    let processor = Arc::new(start(Arc::new(Discard), EventProcessorConfig::DEFAULT_QUEUE_CAPACITY));
    let inputs: Vec<Vec<UserEvent>> = match source {
        Source::Prebuilt => (0..2).map(|_| (0..per_thread).map(|_| event.clone()).collect()).collect(),
        Source::Built | Source::Paced(_) => vec![Vec::new(), Vec::new()],
    };
    let started = Instant::now();
    let threads: Vec<_> = inputs
        .into_iter()
        .map(|events| {
            let (processor, event) = (processor.clone(), event.clone());
            std::thread::spawn(move || match source {
                Source::Prebuilt => {
                    for e in events {
                        processor.process(e);
                    }
                }
                Source::Built => {
                    for _ in 0..per_thread {
                        processor.process(event.clone());
                    }
                }
                Source::Paced(rate) => {
                    // Bursts every millisecond, as a busy service produces them.
                    let per_ms = (rate / 1000).max(1) as usize;
                    let begin = Instant::now();
                    let mut sent = 0;
                    while sent < per_thread {
                        for _ in 0..per_ms.min(per_thread - sent) {
                            processor.process(event.clone());
                        }
                        sent += per_ms;
                        let due = begin + Duration::from_secs_f64(sent as f64 / f64::from(rate));
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let enqueue_time = started.elapsed();
    processor.flush();
    let total_time = started.elapsed();
    let stats = processor.stats();
    let offered = (2 * per_thread) as f64;
    eprintln!(
        "sustained {source:?}: 2 x {per_thread} events offered in {enqueue_time:.2?} ({:.2} M/s); accepted {} ({:.2} M/s), \
         dropped {} (queue full); delivered {} in {} batches, done in {total_time:.2?}",
        offered / enqueue_time.as_secs_f64() / 1e6,
        stats.enqueued,
        stats.enqueued as f64 / enqueue_time.as_secs_f64() / 1e6,
        stats.dropped_queue_full,
        stats.events_sent,
        stats.batches_sent,
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // `cargo test --benches` runs this file without `--bench`: keep that short.
    if std::env::args().any(|a| a == "--bench") {
        for _ in 0..3 {
            sustained(Source::Prebuilt, 500_000);
        }
        for _ in 0..3 {
            sustained(Source::Built, 500_000);
        }
        sustained(Source::Paced(50_000), 100_000);
    } else {
        sustained(Source::Built, 5_000);
    }
    Criterion::default().configure_from_args().final_summary();
}
