//! `vario results` and `vario export` on traffic from `vario simulate` sent to a real
//! `vario serve`, checked against independent SQL over the same events.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::simulate::{simulate, simulation_datafile};
use crate::support::Server;

fn vario(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vario")).args(args).arg("--data-dir").arg(data_dir).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Rows of a `vario query --format json` answer.
fn query(data_dir: &Path, sql: &str) -> Vec<Vec<Value>> {
    let out = vario(&["query", sql, "--format", "json"], data_dir);
    let answer = json_of(&out);
    serde_json::from_value(answer["rows"].clone()).unwrap()
}

/// Visitors and converting visitors per variation id, by plain SQL: first decision by
/// (timestamp, seq), purchases at or after it.
const INDEPENDENT: &str = "
WITH d AS (SELECT visitor_id, variation_id, timestamp, seq FROM events
           WHERE kind = 'decision' AND experiment_id = '990000'),
     f AS (SELECT visitor_id, first_value(variation_id ORDER BY timestamp, seq) AS variation_id,
                  min(timestamp) AS t FROM d GROUP BY visitor_id),
     c AS (SELECT DISTINCT f.visitor_id, f.variation_id FROM f JOIN events e
           ON e.visitor_id = f.visitor_id AND e.kind = 'conversion' AND e.event_key = 'purchase'
              AND e.timestamp >= f.t)
SELECT f.variation_id, count(*) AS visitors, count(c.visitor_id) AS converters
FROM f LEFT JOIN c ON c.visitor_id = f.visitor_id GROUP BY f.variation_id ORDER BY f.variation_id";

pub(crate) fn simulated() -> Server {
    let server = Server::start_with(&["--write-key", "2002=simulate-write-key"]);
    server.put_datafile("sim_key", &simulation_datafile().to_string());
    let args = "--sdk-key sim_key --write-key simulate-write-key --visitors 3000 --seed 9 --concurrency 2 \
                --event purchase=0.1 --effect checkout_test:treatment=+100% --revenue-mean 4200 --days 7";
    let (output, summary) = simulate(&server, args, None);
    assert!(output.status.success(), "{summary}\n{}", String::from_utf8_lossy(&output.stderr));
    server
}

#[test]
fn results_agree_with_independent_sql_and_show_the_injected_effect() {
    let server = simulated();
    let dir = server.data_dir();
    let doc = json_of(&vario(&["results", "--experiment", "checkout_test", "--format", "json"], dir));
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["experiment"]["key"], "checkout_test");
    let rate = doc["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "purchase: conversion rate").unwrap();
    assert_eq!(rate["aggregation"], "unique_conversions");

    let expected = query(dir, INDEPENDENT);
    assert_eq!(expected.len(), 2, "{expected:?}");
    for (row, id) in expected.iter().zip(["990001", "990002"]) {
        assert_eq!(row[0], id);
        let v = doc["variations"].as_array().unwrap().iter().position(|v| v["id"] == id).unwrap();
        assert_eq!(doc["variations"][v]["visitors"], row[1], "visitors of {id}");
        assert_eq!(rate["variations"][v]["visitors"], row[1]);
        assert_eq!(rate["variations"][v]["sum"].as_f64().unwrap(), row[2].as_f64().unwrap(), "converters of {id}");
    }
    let treatment = &rate["variations"][1];
    assert!(treatment["improvement"].as_f64().unwrap() > 0.4, "+100% injected: {treatment}");
    assert_eq!(treatment["status"], "winner", "{treatment}");
    assert_eq!(doc["srm"]["mismatch"], false);
    // Seven daily looks at most (the simulated days, plus one bucket boundary).
    let points = rate["series"][1]["points"].as_array().unwrap();
    assert!((7..=8).contains(&points.len()), "{}", points.len());
    assert_eq!(points.last().unwrap()["visitors"], treatment["visitors"]);
}

#[test]
fn windows_segments_and_formats_change_the_numbers_as_asked() {
    let server = simulated();
    let dir = server.data_dir();
    let all = json_of(&vario(&["results", "--experiment", "checkout_test", "--format", "json"], dir));
    let total: u64 = all["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum();

    // A window ending at the first series point keeps only the first day's visitors.
    let first_end = all["metrics"][0]["series"][0]["points"][0]["t"].as_i64().unwrap();
    let early = json_of(&vario(
        &["results", "--experiment", "checkout_test", "--format", "json", "--to", &first_end.to_string()],
        dir,
    ));
    let early_total: u64 =
        early["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum();
    let first_day: u64 = all["metrics"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"][0]["visitors"].as_u64().unwrap())
        .sum();
    assert_eq!(early_total, first_day);
    assert!(early_total < total);

    // A segment on an attribute the first decision carried.
    let rows = query(
        dir,
        "SELECT attributes FROM events WHERE kind = 'decision' AND experiment_id = '990000' AND attributes <> '[]' LIMIT 1",
    );
    let attributes: Vec<Value> = serde_json::from_str(rows[0][0].as_str().unwrap()).unwrap();
    let attribute = &attributes[0];
    let value = match &attribute["value"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let segment = format!("{}={value}", attribute["key"].as_str().unwrap());
    let seg =
        json_of(&vario(&["results", "--experiment", "checkout_test", "--format", "json", "--segment", &segment], dir));
    let seg_total: u64 = seg["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum();
    assert!(seg_total > 0 && seg_total < total, "{seg_total} of {total}");
    assert_eq!(seg["segment"]["attribute"], attribute["key"]);

    let table = vario(&["results", "--experiment", "checkout_test"], dir);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("purchase: conversion rate") && text.contains("treatment"), "{text}");
    let csv = vario(&["results", "--experiment", "checkout_test", "--format", "csv"], dir);
    assert!(String::from_utf8(csv.stdout).unwrap().starts_with("experiment_key,metric,"));
}

#[test]
fn export_writes_conversions_visitors_and_results() {
    let server = simulated();
    let dir = server.data_dir();
    let out = server.scratch("export");
    for format in ["csv", "parquet"] {
        let o = vario(
            &["export", "--experiment", "checkout_test", "--format", format, "--out", out.to_str().unwrap()],
            dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for name in [format!("conversions.{format}"), format!("visitors.{format}"), "results.csv".to_owned()] {
            assert!(out.join(&name).metadata().is_ok_and(|m| m.len() > 0), "{name}");
        }
    }
    let visitors = std::fs::read_to_string(out.join("visitors.csv")).unwrap();
    let doc = json_of(&vario(&["results", "--experiment", "checkout_test", "--format", "json"], dir));
    let total: u64 = doc["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum();
    assert_eq!(visitors.lines().count() as u64, total + 1, "one row per visitor plus the header");
}

#[test]
fn bad_options_exit_2_naming_the_problem() {
    let server = simulated();
    let dir = server.data_dir();
    for (args, expect) in [
        (vec!["results", "--experiment", "nope"], "\"nope\""),
        (vec!["results", "--experiment", "checkout_test", "--from", "soon"], "\"soon\""),
        (vec!["results", "--experiment", "checkout_test", "--segment", "novalue"], "novalue"),
        (vec!["results", "--experiment", "checkout_test", "--alpha", "2"], "alpha"),
        (vec!["results", "--experiment", "checkout_test", "--baseline", "ghost"], "\"ghost\""),
        (vec!["results", "--experiment", "checkout_test", "--metric-sql", "m=DELETE FROM events"], "SQL metric"),
    ] {
        let out = vario(&args, dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[test]
fn a_generated_data_set_has_its_effect_and_refuses_to_be_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("generated");
    let out = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["generate", "--visitors", "4000", "--lift", "0.5", "--seed", "3", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&vario(&["results", "--experiment", "checkout_test", "--format", "json"], &data));
    let total: u64 = doc["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum();
    assert_eq!(total, 4000);
    let rate = &doc["metrics"][0]["variations"][1];
    assert!(rate["relative_improvement"].as_f64().unwrap() > 0.2, "+50% generated: {rate}");
    assert!(doc["multiple_exposures"]["visitors"].as_u64().unwrap() > 0);
    // Decisions and the plain SQL agree on visitors here too.
    let rows = query(&data, "SELECT count(DISTINCT visitor_id) FROM events WHERE kind = 'decision'");
    assert_eq!(rows[0][0], 4000);
    // Generating twice into one directory, or serving it, is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_vario")).args(["generate", "--data-dir"]).arg(&data).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("fresh data directory"));
    let serve = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!serve.status.success());
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("bulk-loaded"),
        "{}",
        String::from_utf8_lossy(&serve.stderr)
    );
}
