//! Decision hot paths on the medium datafile (about 20 experiments, 20 flags, 18
//! audiences of 3–5 conditions) with 10,000 users of 3 attributes, single thread, no
//! event dispatcher (except where an impression is queued), then `decide` from 2 threads.
//! Run with `cargo bench -p vario-sdk --bench decide`.

use criterion::{Criterion, criterion_group};
use vario_sdk::{Attributes, Client, DecideOptions, DispatchError, EventDispatcher, LogEvent, ProjectConfig};
use vario_testkit::{Shape, datafile, users};

const USERS: usize = 10_000;

/// Accepts every batch: measures the SDK side of event delivery, not a network.
struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let config = ProjectConfig::from_value(&datafile(Shape::MEDIUM, 1)).expect("generated datafile is valid");
    let client = Client::builder().config(config.into()).build().expect("client starts");
    let users: Vec<(String, Attributes)> = users(USERS, 2).into_iter().map(|(id, a)| (id, a.into())).collect();
    let contexts: Vec<_> = users.iter().map(|(id, a)| client.create_user_context(id.clone(), a.clone())).collect();
    let flags: Vec<String> = (0..20).map(|f| format!("flag_{f}")).collect();
    let experiments: Vec<String> = (0..20).map(|e| format!("exp_{e}")).collect();

    let mut i = 0usize;
    c.bench_function("decide_one_flag", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let decision = contexts[i % USERS].decide(&flags[i % 20], DecideOptions::NONE);
            std::hint::black_box(decision.enabled())
        })
    });
    // The same 16 users over and over: their data stays in the CPU caches, as for a
    // context created from the request being served.
    c.bench_function("decide_one_flag_hot_users", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let decision = contexts[i % 16].decide(&flags[i % 20], DecideOptions::NONE);
            std::hint::black_box(decision.enabled())
        })
    });
    c.bench_function("create_user_context_and_decide", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let (id, attributes) = &users[i % USERS];
            let user = client.create_user_context(id.as_str(), attributes.clone());
            std::hint::black_box(user.decide(&flags[i % 20], DecideOptions::NONE).enabled())
        })
    });
    c.bench_function("decide_one_flag_with_reasons", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let decision = contexts[i % USERS].decide(&flags[i % 20], DecideOptions::INCLUDE_REASONS);
            std::hint::black_box(decision.trace().len())
        })
    });
    c.bench_function("get_variation_one_experiment", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let (id, attributes) = &users[i % USERS];
            std::hint::black_box(client.get_variation(&experiments[i % 20], id, attributes).is_some())
        })
    });
    c.bench_function("is_feature_enabled", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let (id, attributes) = &users[i % USERS];
            std::hint::black_box(client.is_feature_enabled(&flags[i % 20], id, attributes))
        })
    });
    // With batched delivery: every decide in this datafile sends an impression
    // (sendFlagDecisions), queued for the background thread.
    let batched = Client::builder()
        .config(client.config().expect("configured"))
        .event_dispatcher(Discard)
        .build()
        .expect("client starts");
    let batched_contexts: Vec<_> =
        users.iter().map(|(id, a)| batched.create_user_context(id.clone(), a.clone())).collect();
    // Timed in chunks smaller than the queue, each started on an emptied queue, so every
    // impression is accepted: a full queue would time the (cheaper) drop instead. The
    // processor thread builds and delivers the impressions meanwhile, as in service.
    const CHUNK: u64 = 4_096;
    c.bench_function("decide_one_flag_with_impression_enqueued", |b| {
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                batched.flush();
                let started = std::time::Instant::now();
                for _ in 0..n {
                    i = i.wrapping_add(1);
                    let decision = batched_contexts[i % USERS].decide(&flags[i % 20], DecideOptions::NONE);
                    std::hint::black_box(decision.enabled());
                }
                timed += started.elapsed();
                left -= n;
            }
            timed
        })
    });
    batched.flush();
    let stats = batched.event_stats().expect("batched");
    eprintln!("impressions: {} queued, {} dropped (queue full)", stats.enqueued, stats.dropped_queue_full);
    c.bench_function("decide_all_20_flags", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            std::hint::black_box(contexts[i % USERS].decide_all(DecideOptions::NONE).len())
        })
    });
}

/// `threads` threads each deciding `per_thread` times (flags and users vary) on one
/// client, or each on a client of its own (`separate`): the mean time per decide. What
/// a shared client adds over separate ones is what deciding threads contend on.
fn parallel(threads: usize, per_thread: usize, separate: bool) -> f64 {
    let make = || {
        let config = ProjectConfig::from_value(&datafile(Shape::MEDIUM, 1)).expect("generated datafile is valid");
        Client::builder().config(config.into()).build().expect("client starts")
    };
    let clients: Vec<Client> = (0..if separate { threads } else { 1 }).map(|_| make()).collect();
    let users: Vec<(String, Attributes)> = users(USERS, 2).into_iter().map(|(id, a)| (id, a.into())).collect();
    let flags: Vec<String> = (0..20).map(|f| format!("flag_{f}")).collect();
    let barrier = std::sync::Barrier::new(threads);
    let per_call: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let client = &clients[if separate { t } else { 0 }];
                let (users, flags, barrier) = (&users, &flags, &barrier);
                scope.spawn(move || {
                    let contexts: Vec<_> =
                        users.iter().map(|(id, a)| client.create_user_context(id.clone(), a.clone())).collect();
                    barrier.wait();
                    let started = std::time::Instant::now();
                    for i in 0..per_thread {
                        let k = i.wrapping_mul(7).wrapping_add(t * 13);
                        std::hint::black_box(contexts[k % USERS].decide(&flags[k % 20], DecideOptions::NONE).enabled());
                    }
                    started.elapsed().as_nanos() as f64 / per_thread as f64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(f64::NAN)).collect()
    });
    per_call.iter().sum::<f64>() / per_call.len() as f64
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // `cargo test --benches` runs this file without `--bench`: keep that short.
    let per_thread = if std::env::args().any(|a| a == "--bench") { 2_000_000 } else { 10_000 };
    for _ in 0..3 {
        eprintln!(
            "decide_one_flag, ns per call: 1 thread {:.1}; 2 threads on one client {:.1}; 2 threads on a client each {:.1}",
            parallel(1, per_thread, false),
            parallel(2, per_thread, false),
            parallel(2, per_thread, true)
        );
    }
    Criterion::default().configure_from_args().final_summary();
}
