//! `vario simulate` against a running `vario serve`: every visitor's events arrive,
//! the counts are those of the summary, an injected effect shows, and a seed always
//! makes the same events.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vario_sdk::{Attributes, Client, DecideOptions};
use vario_store::{EventKind, StoredEvent};
use vario_testkit::{Shape, datafile};

use crate::support::Server;

/// The generated medium datafile plus a plain 50/50 A/B test and a purchase event, so
/// that an effect can be injected on a variation every visitor may see.
pub(crate) fn simulation_datafile() -> Value {
    let mut datafile = datafile(Shape::MEDIUM, 11);
    datafile["experiments"].as_array_mut().unwrap().push(json!({
        "id": "990000", "key": "checkout_test", "layerId": "990099", "status": "Running",
        "audienceIds": [], "forcedVariations": {},
        "variations": [{"id": "990001", "key": "control"}, {"id": "990002", "key": "treatment"}],
        "trafficAllocation": [{"entityId": "990001", "endOfRange": 5000}, {"entityId": "990002", "endOfRange": 10000}]}));
    datafile["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "899", "key": "purchase", "experimentIds": ["990000"]}));
    datafile
}

/// Runs `vario simulate --json` against `server` with `args` (words split at spaces)
/// and `datafile` (a path) when given; its exit status and summary.
pub(crate) fn simulate(server: &Server, args: &str, datafile: Option<&std::path::Path>) -> (Output, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vario"));
    command.args(["simulate", "--json", "--server", &server.url]).args(args.split_whitespace());
    if let Some(path) = datafile {
        command.arg("--datafile").arg(path);
    }
    let output = command.output().expect("run vario simulate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("summary is not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    (output, summary)
}

fn count(summary: &Value, field: &str) -> u64 {
    summary[field].as_u64().unwrap_or_else(|| panic!("{field} in {summary}"))
}

/// The attributes a stored event was sent with, as the SDK takes them.
fn attributes_of(event: &StoredEvent) -> Attributes {
    let list: Vec<Value> = serde_json::from_str(&event.row.attributes).unwrap();
    let mut attributes = Attributes::new();
    for attribute in list {
        let key = attribute["key"].as_str().unwrap();
        if !key.starts_with("$opt_") {
            attributes.insert(key, attribute["value"].clone());
        }
    }
    attributes
}

#[test]
fn every_visitor_arrives_with_the_summarys_counts_and_the_injected_effect() {
    let started = Instant::now();
    // Project 2002 needs a write key: simulate sends it.
    let server = Server::start_with(&["--write-key", "2002=simulate-write-key"]);
    let datafile = simulation_datafile();
    let text = datafile.to_string();
    server.put_datafile("sim_key", &text);
    const VISITORS: u64 = 2000;
    let args = format!(
        "--sdk-key sim_key --write-key simulate-write-key --visitors {VISITORS} --seed 5 --concurrency 2 \
         --event purchase=0.1 --event event_1=0.05 --effect checkout_test:treatment=+100% \
         --revenue-mean 4200 --value-mean 3 --days 14"
    );
    let (output, summary) = simulate(&server, &args, None);
    assert!(output.status.success(), "{summary}\n{}", String::from_utf8_lossy(&output.stderr));

    // Counts: what the summary says was made and sent is what is stored.
    let events = server.events();
    let (impressions, conversions) = (count(&summary, "impressions"), count(&summary, "conversions"));
    assert_eq!(count(&summary, "visitors"), VISITORS);
    assert_eq!(count(&summary, "failed_events"), 0);
    assert_eq!(count(&summary, "events_sent"), impressions + conversions);
    assert_eq!(events.len() as u64, impressions + conversions, "stored events");
    let stored_impressions = events.iter().filter(|e| e.row.kind == EventKind::Decision).count() as u64;
    assert_eq!(stored_impressions, impressions);
    assert!(count(&summary, "batches") >= (impressions + conversions) / 100, "batches of up to 100 events");
    assert!(count(&summary, "batches") <= (impressions + conversions) / 20, "large batches: {summary}");
    assert!(events.iter().all(|e| e.row.client_name == "vario-rust-sdk" && e.row.revision == "1"));

    // Every visitor, with exactly the impressions the SDK decides for it.
    let mut by_visitor: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for event in &events {
        by_visitor.entry(event.row.visitor_id.as_str()).or_default().push(event);
    }
    let expected_ids: BTreeSet<String> = (0..VISITORS).map(|i| format!("visitor-5-{i}")).collect();
    assert_eq!(by_visitor.keys().map(|k| k.to_string()).collect::<BTreeSet<_>>(), expected_ids);
    let client = Client::from_datafile(&text).unwrap();
    let ab_tests = crate::support::ab_test_keys(&datafile);
    for (visitor, stored) in &by_visitor {
        let attributes = attributes_of(stored[0]);
        let mut expected = Vec::new();
        for key in &ab_tests {
            if let Some(v) = client.get_variation(key, visitor, &attributes) {
                expected.push((String::new(), key.to_string(), v.key().to_owned()));
            }
        }
        let user = client.create_user_context(*visitor, attributes);
        for decision in user.decide_all(DecideOptions::DISABLE_DECISION_EVENT) {
            let rule = decision.rule_key().unwrap_or_default().to_owned();
            let variation = decision.variation_key().unwrap_or_default().to_owned();
            expected.push((decision.flag_key().to_owned(), rule, variation));
        }
        let mut got: Vec<(String, String, String)> = stored
            .iter()
            .filter_map(|e| e.row.decision.as_ref())
            .map(|d| (d.flag_key.clone(), d.rule_key.clone(), d.variation_key.clone()))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "impressions of {visitor}");
    }

    // Conversions carry the modelled tags and come after their visitor's arrival.
    for (visitor, stored) in &by_visitor {
        let arrival = stored.iter().filter(|e| e.row.kind == EventKind::Decision).map(|e| e.row.timestamp).min();
        for event in stored.iter().filter(|e| e.row.kind == EventKind::Conversion) {
            assert!(arrival.is_some_and(|a| event.row.timestamp >= a), "{visitor}: conversion before arrival");
            assert!(event.row.value.is_some_and(|v| v > 0.0), "{visitor}: value tag");
            match event.row.event_key.as_str() {
                "purchase" => assert!(event.row.revenue.is_some_and(|r| r > 0), "{visitor}: revenue"),
                "event_1" => assert_eq!(event.row.revenue, None),
                other => panic!("untracked event {other}"),
            }
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let fourteen_days = 14 * 86_400_000;
    assert!(events.iter().all(|e| e.row.timestamp > now - fourteen_days - 60_000 && e.row.timestamp <= now + 60_000));

    // Per variation, the summary's visitors and conversions are the store's.
    for entry in summary["variations"].as_array().unwrap() {
        let (rule, variation) = (entry["rule_key"].as_str().unwrap(), entry["variation_key"].as_str().unwrap());
        let seen: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.row.decision.as_ref().is_some_and(|d| d.rule_key == rule && d.variation_key == variation))
            .map(|e| e.row.visitor_id.as_str())
            .collect();
        let converted = seen
            .iter()
            .map(|v| by_visitor[v].iter().filter(|e| e.row.kind == EventKind::Conversion).count())
            .sum::<usize>();
        assert_eq!(seen.len() as u64, count(entry, "visitors"), "{rule}/{variation}");
        assert_eq!(converted as u64, count(entry, "conversions"), "{rule}/{variation}");
    }

    // The +100% effect: treatment visitors convert about twice as often as control.
    let rate = |variation: &str| {
        let entry = summary["variations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["rule_key"] == "checkout_test" && v["variation_key"] == variation)
            .unwrap();
        count(entry, "conversions") as f64 / count(entry, "visitors") as f64
    };
    let (control, treatment) = (rate("control"), rate("treatment"));
    // Expected 0.15 and 0.30 conversions per visitor, ~1000 visitors each: the ratio's
    // standard error is about 0.15, so these bounds are more than 3 of them away.
    assert!((0.10..0.20).contains(&control), "control {control}");
    assert!((1.5..2.6).contains(&(treatment / control)), "control {control}, treatment {treatment}");
    eprintln!("{} events from {VISITORS} visitors in {:?}", events.len(), started.elapsed());
}

/// What a stored event is, apart from its uuid and when it was received.
fn content(event: &StoredEvent) -> String {
    let r = &event.row;
    format!(
        "{} {} {} {} {} {:?} {:?} {:?} {:?} {} {}",
        r.visitor_id,
        r.event_key,
        r.entity_id,
        r.timestamp,
        r.attributes,
        r.decision,
        r.revenue,
        r.value,
        r.tags,
        r.project_id,
        r.revision
    )
}

#[test]
fn a_seed_makes_the_same_events_whatever_the_concurrency() {
    let datafile = simulation_datafile().to_string();
    let run = |seed: &str, concurrency: &str| {
        let server = Server::start();
        let path = server.scratch("datafile.json");
        std::fs::write(&path, &datafile).unwrap();
        let args = format!(
            "--visitors 150 --seed {seed} --concurrency {concurrency} --revenue-mean 1500 --value-mean 2 \
             --start-time 2024-05-01T00:00:00Z --days 3 --batch-size 25"
        );
        let (output, summary) = simulate(&server, &args, Some(&path));
        assert!(output.status.success(), "{summary}");
        let mut events: Vec<String> = server.events().iter().map(content).collect();
        assert_eq!(events.len() as u64, count(&summary, "events_sent"));
        events.sort();
        (events, server.events().iter().map(|e| e.row.timestamp).collect::<Vec<_>>())
    };
    let (first, timestamps) = run("42", "1");
    let (second, _) = run("42", "3");
    assert_eq!(first.len(), second.len());
    assert!(first == second, "the same seed made other events");
    let start = 1_714_521_600_000_i64;
    assert!(timestamps.iter().all(|t| (start..start + 3 * 86_400_000).contains(t)), "timestamps within the 3 days");
    let (other, _) = run("43", "1");
    assert_ne!(first, other, "another seed, other visitors");
}

#[test]
fn undelivered_events_make_simulate_fail() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datafile.json");
    std::fs::write(&path, simulation_datafile().to_string()).unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args([
            "simulate",
            "--json",
            "--visitors",
            "3",
            "--batch-size",
            "1000",
            "--concurrency",
            "1",
            "--log",
            "off",
            "--datafile",
        ])
        .arg(&path)
        .args(["--server", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(count(&summary, "events_sent"), 0);
    assert_eq!(count(&summary, "failed_events"), count(&summary, "events"), "{summary}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());

    let bad = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["simulate", "--effect", "nope=+5%", "--datafile"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no variation \"nope\""));
}
