//! `vario eval` throughput: a mixed request stream through the protocol, parse to
//! serialized response. Run with `cargo bench -p vario-cli --bench eval`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vario_cli::commands::eval::{Evaluator, EventLines};
use vario_datafile::ProjectConfig;
use vario_testkit::{Shape, datafile, decide_all_heavy_request, users};

fn requests(n: usize) -> String {
    let users = users(1000, 7);
    let mut out = String::new();
    for i in 0..n {
        let (id, attrs) = &users[i % users.len()];
        let flag = format!("flag_{}", i % 20);
        let request = match i % 6 {
            0 => json!({"op": "decide", "flag_key": flag, "user_id": id, "attributes": attrs}),
            1 => json!({"op": "is_feature_enabled", "feature_key": flag, "user_id": id, "attributes": attrs}),
            2 => {
                json!({"op": "activate", "experiment_key": format!("exp_{}", i % 20), "user_id": id, "attributes": attrs})
            }
            3 => {
                json!({"op": "get_variation", "experiment_key": format!("exp_{}", i % 20), "user_id": id, "attributes": attrs})
            }
            4 => json!({"op": "track", "event_key": "event_1", "user_id": id, "attributes": attrs,
                        "event_tags": {"revenue": 1200, "value": 3.5}}),
            _ => {
                json!({"op": "get_feature_variable", "feature_key": flag, "variable_key": "limit_1", "user_id": id, "attributes": attrs})
            }
        };
        out.push_str(&request.to_string());
        out.push('\n');
    }
    out
}

/// The decide_all-heavy mix of `tools/load/eval.sh`.
fn decide_all_heavy(n: usize) -> String {
    let users = users(1000, 11);
    (0..n).map(|i| format!("{}\n", decide_all_heavy_request(i, &users))).collect()
}

fn bench(c: &mut Criterion) {
    let config = ProjectConfig::from_value(&datafile(Shape::MEDIUM, 1)).expect("generated datafile is valid");
    const N: usize = 10_000;
    let input = requests(N);
    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("mixed_10k_requests", |b| {
        b.iter(|| {
            let events = EventLines::new(Box::new(std::io::sink()), None);
            let evaluator = Evaluator::new(config.clone(), Some(events.clone())).expect("evaluator starts");
            evaluator.run(input.as_bytes(), std::io::sink(), Some(&events)).expect("sink never fails");
        });
    });
    const HEAVY: usize = 2_000;
    let heavy = decide_all_heavy(HEAVY);
    group.throughput(Throughput::Elements(HEAVY as u64));
    group.bench_function("decide_all_heavy_2k_requests", |b| {
        b.iter(|| {
            let events = EventLines::new(Box::new(std::io::sink()), None);
            let evaluator = Evaluator::new(config.clone(), Some(events.clone())).expect("evaluator starts");
            evaluator.run(heavy.as_bytes(), std::io::sink(), Some(&events)).expect("sink never fails");
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
