//! Loading a 1 MB+ datafile (600 flags): time, and the heap the loaded config keeps
//! (printed once as a multiple of the datafile's size).
//! Run with `cargo bench -p vario-datafile --bench load`.

use criterion::{Criterion, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use vario_datafile::ProjectConfig;
use vario_testkit::{Shape, datafile};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn bench(c: &mut Criterion) {
    let text = serde_json::to_string(&datafile(Shape::LARGE, 3)).expect("serializable");
    let region = Region::new(GLOBAL);
    let config = ProjectConfig::from_json(&text).expect("generated datafile is valid");
    let stats = region.change();
    // Growth by realloc is already counted in bytes_allocated / bytes_deallocated.
    let retained = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    eprintln!(
        "datafile: {} bytes, {} flags; loaded config retains {} heap bytes = {:.2}x the datafile",
        text.len(),
        config.flags.len(),
        retained,
        retained as f64 / text.len() as f64
    );
    c.bench_function("load_1mb_datafile", |b| {
        b.iter(|| ProjectConfig::from_json(std::hint::black_box(&text)).map(|c| c.flags.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
