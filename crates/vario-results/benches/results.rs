//! Results of one experiment (4 metrics) over a generated data set:
//! - `vario/*`: the engine as `vario results` runs it: cold (a new engine reads
//!   storage), repeated on unchanged data (the answer cache), a segment on a new engine
//!   (storage read with the attributes), and segment or date-range changes on a warm
//!   engine (computed again from the experiment's events held in memory; every
//!   iteration asks something new, so the answer cache never serves it);
//! - `hand_written/single_pass`: one single-threaded pass reading the Parquet files
//!   directly, the practical limit of the computation;
//! - `datafusion/plain_sql`: the same numbers as one plain DataFusion SQL query.
//!
//! `VARIO_BENCH_DATA=DIR` (a directory made by `vario generate`) benchmarks that data
//! set; without it a 20,000-visitor set is generated in a temporary directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use criterion::{Criterion, criterion_group, criterion_main};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vario_results::synthetic::{EXPERIMENT_KEY, Synthetic, generate};
use vario_results::{Engine, ResultsRequest, SegmentDoc, Window, find_config};

fn data_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Ok(dir) = std::env::var("VARIO_BENCH_DATA") {
        return (PathBuf::from(dir), None);
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let spec = Synthetic { visitors: 20_000, ..Synthetic::default() };
    generate(tmp.path(), &spec, &|_| {}).expect("generate");
    (tmp.path().to_owned(), Some(tmp))
}

/// Per variation: visitors, converters, conversions, Σ conversions², revenue, Σ revenue²,
/// value, Σ value².
type Sums = [f64; 8];

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).expect("column").as_ref()
}

/// Reads each stored row once, in one thread, straight from the Parquet files.
fn hand_written(dir: &Path) -> Vec<Sums> {
    let columns =
        ["kind", "visitor_id", "experiment_id", "variation_id", "event_key", "timestamp", "seq", "revenue", "value"];
    let mark = vario_store::watermark(dir).expect("watermark");
    let mut first: HashMap<String, (i64, i64, usize)> = HashMap::new();
    let mut conversions: Vec<(String, i64, i64, f64)> = Vec::new();
    for file in vario_store::live_files(dir, mark).expect("files") {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file.path).expect("open")).expect("parquet");
        let schema = builder.parquet_schema();
        let indices: Vec<usize> =
            columns.iter().map(|c| schema.columns().iter().position(|d| d.name() == *c).expect("column")).collect();
        let mask = ProjectionMask::leaves(schema, indices);
        for batch in builder.with_projection(mask).with_batch_size(65_536).build().expect("reader") {
            let batch = batch.expect("batch");
            let kind = column(&batch, "kind").as_string::<i32>();
            let visitor = column(&batch, "visitor_id").as_string::<i32>();
            let experiment = column(&batch, "experiment_id").as_string::<i32>();
            let variation = column(&batch, "variation_id").as_string::<i32>();
            let key = column(&batch, "event_key").as_string::<i32>();
            let ts = column(&batch, "timestamp").as_primitive::<Int64Type>();
            let seq = column(&batch, "seq").as_primitive::<Int64Type>();
            let revenue = column(&batch, "revenue").as_primitive::<Int64Type>();
            let value = column(&batch, "value").as_primitive::<Float64Type>();
            for i in 0..batch.num_rows() {
                if kind.value(i) == "decision" {
                    if experiment.is_null(i) || experiment.value(i) != "990000" {
                        continue;
                    }
                    let v = usize::from(variation.value(i) == "990002");
                    let at = (ts.value(i), seq.value(i), v);
                    first
                        .entry(visitor.value(i).to_owned())
                        .and_modify(|e| {
                            if (at.0, at.1) < (e.0, e.1) {
                                *e = at;
                            }
                        })
                        .or_insert(at);
                } else if key.value(i) == "purchase" {
                    let r = if revenue.is_null(i) { 0 } else { revenue.value(i) };
                    let x = if value.is_null(i) { 0.0 } else { value.value(i) };
                    conversions.push((visitor.value(i).to_owned(), ts.value(i), r, x));
                }
            }
        }
    }
    let mut per_visitor: HashMap<&str, (usize, f64, f64, f64)> = HashMap::new();
    for (visitor, t, r, x) in &conversions {
        if let Some(&(t0, _, v)) = first.get(visitor)
            && *t >= t0
        {
            let e = per_visitor.entry(visitor).or_insert((v, 0.0, 0.0, 0.0));
            e.1 += 1.0;
            e.2 += *r as f64;
            e.3 += x;
        }
    }
    let mut sums = vec![[0.0; 8]; 2];
    for &(_, _, v) in first.values() {
        sums[v][0] += 1.0;
    }
    for &(v, n, r, x) in per_visitor.values() {
        let s = &mut sums[v];
        s[1] += 1.0;
        s[2] += n;
        s[3] += n * n;
        s[4] += r;
        s[5] += r * r;
        s[6] += x;
        s[7] += x * x;
    }
    sums
}

const PLAIN_SQL: &str = "
WITH f AS (SELECT visitor_id, first_value(variation_id ORDER BY timestamp, seq) AS variation_id,
                  min(timestamp) AS t FROM events
           WHERE kind = 'decision' AND experiment_id = '990000' GROUP BY visitor_id),
     c AS (SELECT f.visitor_id, count(*) AS n, sum(coalesce(e.revenue, 0)) AS r, sum(coalesce(e.value, 0)) AS x
           FROM f JOIN events e ON e.visitor_id = f.visitor_id AND e.kind = 'conversion'
                AND e.event_key = 'purchase' AND e.timestamp >= f.t GROUP BY f.visitor_id)
SELECT f.variation_id, count(*) AS visitors, count(c.visitor_id) AS converters, sum(c.n), sum(c.n * c.n),
       sum(c.r), sum(c.r * c.r), sum(c.x), sum(c.x * c.x)
FROM f LEFT JOIN c ON c.visitor_id = f.visitor_id GROUP BY f.variation_id ORDER BY f.variation_id";

fn bench(c: &mut Criterion) {
    let (dir, _keep) = data_dir();
    let config = find_config(&dir, EXPERIMENT_KEY, None, None).expect("datafile");
    let req = ResultsRequest::new(EXPERIMENT_KEY);
    let doc = Engine::new(&dir).results(&config, &req, &|_| {}).expect("results");

    // The three computations agree before they are timed.
    let hand = hand_written(&dir);
    let rate = &doc.metrics[0];
    for (v, sums) in hand.iter().enumerate() {
        assert_eq!(rate.variations[v].visitors as f64, sums[0], "visitors of variation {v}");
        assert_eq!(rate.variations[v].sum, sums[1], "converters of variation {v}");
        assert_eq!(doc.metrics[2].variations[v].sum, sums[4], "revenue of variation {v}");
    }
    let sql = vario_store::query(&dir, PLAIN_SQL).expect("plain SQL");
    for (v, row) in sql.rows.iter().enumerate() {
        assert_eq!(row[1].as_f64(), Some(hand[v][0]), "SQL visitors of variation {v}");
        assert_eq!(row[2].as_f64(), Some(hand[v][1]), "SQL converters of variation {v}");
    }

    let mut group = c.benchmark_group("results");
    group.sample_size(10);
    group.bench_function("vario/cold", |b| {
        b.iter(|| Engine::new(&dir).results(&config, &req, &|_| {}).expect("results"))
    });
    let engine = Engine::new(&dir);
    engine.results(&config, &req, &|_| {}).expect("results");
    group.bench_function("vario/cached", |b| b.iter(|| engine.results(&config, &req, &|_| {}).expect("results")));
    let mut segment = req.clone();
    segment.segment = Some(SegmentDoc { attribute: "browser".into(), value: "safari".into() });
    group.bench_function("vario/segment_cold", |b| {
        b.iter(|| Engine::new(&dir).results(&config, &segment, &|_| {}).expect("results"))
    });
    // Warm: the engine has read the experiment's events (with attributes) once.
    engine.results(&config, &segment, &|_| {}).expect("results");
    let browsers = ["safari", "chrome", "firefox", "edge"];
    let mut n = 0u32;
    group.bench_function("vario/segment_change_warm", |b| {
        b.iter(|| {
            n += 1;
            let mut r = req.clone();
            r.segment = Some(SegmentDoc { attribute: "browser".into(), value: browsers[n as usize % 4].into() });
            // A new alpha each time: the request is new, so the answer cache cannot serve it.
            r.alpha = 0.05 + f64::from(n) * 1e-9;
            engine.results(&config, &r, &|_| {}).expect("results")
        })
    });
    let start = Synthetic::default().start;
    group.bench_function("vario/date_range_change_warm", |b| {
        b.iter(|| {
            n += 1;
            let mut r = req.clone();
            let day = i64::from(n % 7);
            r.window = Window { from: Some(start + day * 86_400_000), to: Some(start + (day + 7) * 86_400_000 - 1) };
            r.alpha = 0.05 + f64::from(n) * 1e-9;
            engine.results(&config, &r, &|_| {}).expect("results")
        })
    });
    group.bench_function("hand_written/single_pass", |b| b.iter(|| hand_written(&dir)));
    group
        .bench_function("datafusion/plain_sql", |b| b.iter(|| vario_store::query(&dir, PLAIN_SQL).expect("plain SQL")));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
