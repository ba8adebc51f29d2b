//! The event processor's hand-off cost:
//! - `process_accepted`: one `process()` of a prebuilt event into a queue with room (the
//!   event's clone is made outside the timing), delivered to a dispatcher that discards;
//! - `process_queue_full`: one `process()` refused because the queue is full (the
//!   endpoint stalls);
//! - sustained (printed after the criterion groups), 2 producer threads, batches of 10:
//!   - 50,000 events/s per thread for 2 s with the default queue, delivered to a
//!     dispatcher that discards and to a real HTTP server on 127.0.0.1: nothing may drop;
//!   - 500,000 events per thread (prebuilt, or built in the loop) as fast as they go into
//!     the default queue, discarded: the queue fills, and the accepted rate is what the
//!     processor thread delivers while the producers take most of the CPU;
//!   - 500,000 events per thread built in the loop into a queue that holds them all while
//!     the processor posts batches to the real server: the rate of the hand-off itself.
//!
//! Run with `cargo bench -p vario-sdk --bench enqueue`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use vario_core::Attributes;
use vario_events::{DispatchError, EventDispatcher, EventFactory, LogEvent, UserEvent};
use vario_sdk::{EventProcessor, EventProcessorConfig, HttpEventDispatcher, NotificationCenter, ProjectConfig};

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

/// Where the sustained processor delivers.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// A dispatcher that throws batches away: the processor's own cost.
    Discard,
    /// The HTTP dispatcher posting to a real server on 127.0.0.1 ([`LocalServer`]).
    Server,
}

/// A real HTTP/1.1 server on 127.0.0.1 that answers every POST with 204 after reading
/// its body, counting requests and body bytes; it runs on its own thread. (The tests'
/// `TestServer` keeps every body it receives: 300 MB for one burst here.)
struct LocalServer {
    url: String,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl LocalServer {
    fn start() -> Self {
        let (requests, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}/v1/events", listener.local_addr().expect("local address"));
        let (r, b) = (requests.clone(), bytes.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                listener.set_nonblocking(true).expect("non-blocking listener");
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
                    let (r, b) = (r.clone(), b.clone());
                    async move {
                        r.fetch_add(1, Ordering::Relaxed);
                        b.fetch_add(body.len() as u64, Ordering::Relaxed);
                        axum::http::StatusCode::NO_CONTENT
                    }
                });
                let _ = axum::serve(listener, app).await;
            });
        });
        Self { url, requests, bytes }
    }
}

/// 2 threads × `per_thread` events into one processor (default settings, except the
/// queue's capacity) delivering to `sink`.
fn sustained(source: Source, per_thread: usize, sink: Sink, queue_capacity: usize) {
    let event = event();
    let server = matches!(sink, Sink::Server).then(LocalServer::start);
    let dispatcher: Arc<dyn EventDispatcher> = match &server {
        None => Arc::new(Discard),
        Some(server) => Arc::new(
            HttpEventDispatcher::builder()
                .endpoint(server.url.clone())
                .build()
                .expect("dispatcher for the local server"),
        ),
    };
    let processor = Arc::new(start(dispatcher, queue_capacity));
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
    let received = server.map_or(String::new(), |s| {
        format!(
            "; the server received {} requests, {} MB",
            s.requests.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed) / 1_000_000
        )
    });
    eprintln!(
        "sustained {source:?} to {sink:?}, queue {queue_capacity}: 2 x {per_thread} events offered in {enqueue_time:.2?} ({:.2} M/s); accepted {} ({:.2} M/s), \
         dropped {} (queue full); delivered {} in {} batches, done in {total_time:.2?}",
        offered / enqueue_time.as_secs_f64() / 1e6,
        stats.enqueued,
        stats.enqueued as f64 / enqueue_time.as_secs_f64() / 1e6,
        stats.dropped_queue_full,
        stats.events_sent,
        stats.batches_sent,
    );
    eprintln!("  {received}");
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // `cargo test --benches` runs this file without `--bench`: keep that short.
    if std::env::args().any(|a| a == "--bench") {
        let default_queue = EventProcessorConfig::DEFAULT_QUEUE_CAPACITY;
        // A busy service's rate with the default queue: nothing may be dropped.
        sustained(Source::Paced(50_000), 100_000, Sink::Discard, default_queue);
        sustained(Source::Paced(50_000), 100_000, Sink::Server, default_queue);
        // As fast as 2 threads go: more than any endpoint takes, so a default queue fills
        // and the accepted rate is the processor's delivery rate.
        for _ in 0..3 {
            sustained(Source::Prebuilt, 500_000, Sink::Discard, default_queue);
        }
        for _ in 0..3 {
            sustained(Source::Built, 500_000, Sink::Discard, default_queue);
        }
        // The hand-off rate: a queue that holds the whole burst, while the processor
        // delivers batches to a real local server.
        for _ in 0..3 {
            sustained(Source::Built, 500_000, Sink::Server, 1_000_000);
        }
    } else {
        sustained(Source::Built, 5_000, Sink::Discard, EventProcessorConfig::DEFAULT_QUEUE_CAPACITY);
        sustained(Source::Built, 5_000, Sink::Server, EventProcessorConfig::DEFAULT_QUEUE_CAPACITY);
    }
    Criterion::default().configure_from_args().final_summary();
}
