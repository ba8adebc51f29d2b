//! The event processor's hand-off cost, with a dispatcher that discards:
//! - `process_accepted`: one `process()` of a prebuilt event into a queue with room (the
//!   event's clone is made outside the timing);
//! - `process_queue_full`: one `process()` refused because the queue is full (the
//!   endpoint stalls);
//! - sustained (printed after the criterion groups): 2 threads each enqueue 500,000
//!   events while the processor delivers batches of 10; events/s and drops.
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
    println!("process_accepted: {} accepted, {} dropped", stats.enqueued, stats.dropped());
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

/// 2 threads × 500,000 events into one processor delivering to `Discard`.
fn sustained(per_thread: usize, runs: usize) {
    let event = event();
    for run in 1..=runs {
        let processor = Arc::new(start(Arc::new(Discard), EventProcessorConfig::DEFAULT_QUEUE_CAPACITY));
        // Events are prebuilt, so the figure is the hand-off alone.
        let inputs: Vec<Vec<UserEvent>> = (0..2).map(|_| (0..per_thread).map(|_| event.clone()).collect()).collect();
        let started = Instant::now();
        let threads: Vec<_> = inputs
            .into_iter()
            .map(|events| {
                let processor = processor.clone();
                std::thread::spawn(move || {
                    for e in events {
                        processor.process(e);
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
        println!(
            "sustained run {run}: 2 x {per_thread} events offered in {enqueue_time:.2?} = {:.2} M/s offered; \
             accepted {} ({:.2} M/s), dropped {} (queue full); delivered {} in {} batches, all done in {total_time:.2?} \
             = {:.2} M events/s delivered",
            offered / enqueue_time.as_secs_f64() / 1e6,
            stats.enqueued,
            stats.enqueued as f64 / enqueue_time.as_secs_f64() / 1e6,
            stats.dropped_queue_full,
            stats.events_sent,
            stats.batches_sent,
            stats.events_sent as f64 / total_time.as_secs_f64() / 1e6,
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os("VARIO_SCRATCH").is_some() {
        scratch();
        return;
    }
    benches();
    // `cargo test --benches` runs this file without `--bench`: keep that short.
    if std::env::args().any(|a| a == "--bench") {
        sustained(500_000, 3);
    } else {
        sustained(5_000, 1);
    }
    Criterion::default().configure_from_args().final_summary();
}

#[allow(dead_code)]
fn scratch() {
    let event = event();
    println!("size_of UserEvent = {}", std::mem::size_of::<UserEvent>());
    let n = 1_000_000;
    let stalled = Arc::new(Stalled(Mutex::new(false), Condvar::new()));
    let p = start(stalled.clone(), 2_000_000);
    p.process(event.clone());
    std::thread::sleep(Duration::from_millis(50));
    let events: Vec<UserEvent> = (0..n).map(|_| event.clone()).collect();
    let t = Instant::now();
    for e in events {
        p.process(e);
    }
    let prod = t.elapsed();
    let t = Instant::now();
    stalled.open();
    p.flush();
    let work = t.elapsed();
    println!(
        "producer only: {:.1} ns/event; worker only: {:.1} ns/event; {:?}",
        prod.as_nanos() as f64 / n as f64,
        work.as_nanos() as f64 / n as f64,
        p.stats()
    );
    let t = Instant::now();
    let clones: Vec<UserEvent> = (0..n).map(|_| event.clone()).collect();
    let c = t.elapsed();
    let t = Instant::now();
    drop(clones);
    println!("clone {:.1} ns, drop {:.1} ns", c.as_nanos() as f64 / n as f64, t.elapsed().as_nanos() as f64 / n as f64);
}
