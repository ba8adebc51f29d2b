//! The client's runtime end to end, against a real HTTP server on 127.0.0.1: batched
//! delivery, retries, the spool across an outage, live datafile updates.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vario_sdk::{
    Attributes, Client, DatafileManagerOptions, DecideOptions, DecisionError, EventProcessorConfig,
    HttpEventDispatcher, ProjectConfig,
};

use crate::support::server::{EVENTS_PATH, Fault, TestServer};

/// A datafile whose one flag's variation key and variable value both name `revision`, so
/// a decision shows which config it came from.
fn datafile(revision: u32) -> String {
    json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": revision.to_string(),
        "sendFlagDecisions": true, "groups": [], "experiments": [], "audiences": [],
        "attributes": [], "events": [{"id": "9", "key": "purchase", "experimentIds": []}],
        "rollouts": [{"id": "r", "experiments": [{
            "id": "e", "key": "everyone", "layerId": "r", "status": "Running",
            "audienceIds": [], "forcedVariations": {},
            "variations": [{"id": "1", "key": format!("rev{revision}"), "featureEnabled": true,
                            "variables": [{"id": "v", "value": format!("rev{revision}")}]}],
            "trafficAllocation": [{"entityId": "1", "endOfRange": 10000}]}]}],
        "featureFlags": [{"id": "f", "key": "flag", "experimentIds": [], "rolloutId": "r",
            "variables": [{"id": "v", "key": "label", "type": "string", "defaultValue": "none"}]}]
    })
    .to_string()
}

fn processor(batch_size: usize) -> EventProcessorConfig {
    EventProcessorConfig {
        batch_size,
        flush_interval: Duration::from_millis(30),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        close_timeout: Duration::from_secs(5),
        ..EventProcessorConfig::default()
    }
}

fn http(server: &TestServer) -> HttpEventDispatcher {
    HttpEventDispatcher::builder().endpoint(server.events_url()).build().expect("valid endpoint")
}

/// The uuids of every event in the batches the server accepted.
fn delivered_uuids(server: &TestServer) -> Vec<String> {
    server
        .delivered(EVENTS_PATH)
        .iter()
        .flat_map(|batch| batch["visitors"].as_array().cloned().unwrap_or_default())
        .flat_map(|visitor| visitor["snapshots"].as_array().cloned().unwrap_or_default())
        .flat_map(|snapshot| snapshot["events"].as_array().cloned().unwrap_or_default())
        .filter_map(|event| event["uuid"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_tracked_event_arrives_exactly_once_after_close() {
    let server = TestServer::start();
    let client = Client::builder()
        .datafile(&datafile(1))
        .unwrap()
        .event_dispatcher(http(&server))
        .event_processor(processor(10))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    let tags = json!({"revenue": i, "thread": t});
                    client.track("purchase", &format!("user-{t}-{i}"), &Attributes::new(), tags.as_object());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(client.close().all_delivered(), "close must deliver everything in time");

    let uuids = delivered_uuids(&server);
    let unique: HashSet<_> = uuids.iter().collect();
    assert_eq!(uuids.len(), 1000, "every event delivered");
    assert_eq!(unique.len(), 1000, "and none twice");
    let stats = client.event_stats().unwrap();
    assert_eq!(stats.dropped(), 0);
    // Batches of at most 10 events: at least 100 requests.
    assert!(server.delivered(EVENTS_PATH).len() >= 100);
    // After close, events are refused and counted, never sent.
    client.track("purchase", "late", &Attributes::new(), None);
    assert_eq!(client.event_stats().unwrap().dropped(), 1);
}

#[test]
fn failed_posts_are_retried_then_delivered_once() {
    let server = TestServer::start();
    server.fail_next(EVENTS_PATH, 2, Fault::status(503));
    let client = Client::builder()
        .datafile(&datafile(1))
        .unwrap()
        .event_dispatcher(http(&server))
        .event_processor(processor(1))
        .build()
        .unwrap();
    client.track("purchase", "u", &Attributes::new(), None);
    assert!(client.close().all_delivered());
    assert_eq!(delivered_uuids(&server).len(), 1);
    assert_eq!(server.requests_to(EVENTS_PATH).len(), 3, "two 503s, then success");
    let stats = client.event_stats().unwrap();
    assert_eq!(stats.retried_attempts, 2);
    assert_eq!(stats.failed_batches, 0);
}

#[test]
fn events_spooled_during_an_outage_are_resent_by_the_next_client() {
    let server = TestServer::start();
    let spool = tempfile::tempdir().unwrap();
    let config = EventProcessorConfig {
        max_attempts: 2,
        close_timeout: Duration::from_secs(2),
        spool_dir: Some(spool.path().to_owned()),
        ..processor(5)
    };
    server.shutdown();
    let client = Client::builder()
        .datafile(&datafile(1))
        .unwrap()
        .event_dispatcher(http(&server))
        .event_processor(config.clone())
        .build()
        .unwrap();
    for i in 0..20 {
        client.track("purchase", &format!("u{i}"), &Attributes::new(), None);
    }
    client.close();
    drop(client);
    assert!(delivered_uuids(&server).is_empty());

    server.restart();
    let client = Client::builder()
        .datafile(&datafile(1))
        .unwrap()
        .event_dispatcher(http(&server))
        .event_processor(config)
        .build()
        .unwrap();
    assert!(client.close().all_delivered());
    let uuids = delivered_uuids(&server);
    assert_eq!(uuids.len(), 20, "every spooled event resent");
    assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), 20, "exactly once");
}

#[test]
fn deciding_threads_see_only_whole_configs_while_the_config_changes() {
    let client = Client::builder().datafile(&datafile(0)).unwrap().build().unwrap();
    let configs: Vec<Arc<ProjectConfig>> =
        (0..4).map(|r| Arc::new(ProjectConfig::from_json(&datafile(r)).unwrap())).collect();
    let stop = Arc::new(AtomicUsize::new(0));
    let decided = Arc::new(AtomicUsize::new(0));
    let deciders: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            let (stop, decided) = (stop.clone(), decided.clone());
            std::thread::spawn(move || {
                let user = client.create_user_context(format!("user-{t}"), Attributes::new());
                while stop.load(Ordering::Relaxed) == 0 {
                    let d = user.decide("flag", DecideOptions::NONE);
                    let key = d.variation_key().map(str::to_owned);
                    // The variable and the variation must come from the same config.
                    assert_eq!(d.variables().get("label").and_then(Value::as_str), key.as_deref());
                    decided.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Swap until the deciders made plenty of decisions across swaps (bounded in time).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut swaps = 0;
    while (swaps < 2000 || decided.load(Ordering::Relaxed) < 20_000) && Instant::now() < deadline {
        client.set_config(configs[swaps % configs.len()].clone());
        swaps += 1;
    }
    stop.store(1, Ordering::Relaxed);
    for t in deciders {
        t.join().expect("a decider saw a mixed config");
    }
    assert!(decided.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_polling_client_installs_new_datafiles_and_says_so() {
    let server = TestServer::start();
    server.set_datafile("key-1", &datafile(1));
    let updates = Arc::new(AtomicUsize::new(0));
    let client = Client::builder()
        .datafile_polling(
            DatafileManagerOptions::new("key-1").base_url(server.url()).interval(Duration::from_millis(30)),
        )
        .event_dispatcher(http(&server))
        .build()
        .unwrap();
    let seen = updates.clone();
    client.notification_center().add_config_update_listener(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    assert!(client.wait_for_config(Duration::from_secs(5)));
    let user = client.create_user_context("u", Attributes::new());
    assert_eq!(user.decide("flag", DecideOptions::NONE).variation_key(), Some("rev1"));

    server.set_datafile("key-1", &datafile(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while user.decide("flag", DecideOptions::NONE).variation_key() != Some("rev2") {
        assert!(Instant::now() < deadline, "the new datafile was not installed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(updates.load(Ordering::Relaxed) >= 1);
    // Unchanged datafile: the poll asks with If-None-Match and the server sends no body.
    let stats = client.datafile_stats().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.datafile_stats().unwrap().not_modified == stats.not_modified {
        assert!(Instant::now() < deadline, "no conditional request seen");
        std::thread::sleep(Duration::from_millis(10));
    }
    client.close();
}

#[test]
fn a_client_without_a_datafile_answers_no_decision_until_one_arrives() {
    let server = TestServer::start();
    let client = Client::builder()
        .datafile_polling(
            DatafileManagerOptions::new("late")
                .base_url(server.url())
                .interval(Duration::from_millis(20))
                .backoff(Duration::from_millis(10), Duration::from_millis(20)),
        )
        .event_dispatcher(http(&server))
        .build()
        .unwrap();
    assert!(!client.wait_for_config(Duration::from_millis(100)));
    let user = client.create_user_context("u", Attributes::new());
    let decision = user.decide("flag", DecideOptions::NONE);
    assert_eq!(decision.error(), Some(&DecisionError::NotConfigured));
    assert_eq!(decision.reasons(), ["Optimizely SDK not configured properly yet."]);

    server.set_datafile("late", &datafile(7));
    assert!(client.wait_for_config(Duration::from_secs(5)));
    assert_eq!(user.decide("flag", DecideOptions::NONE).variation_key(), Some("rev7"));
    client.close();
}

#[test]
fn dropping_the_last_client_delivers_queued_events() {
    let server = TestServer::start();
    let client = Client::builder()
        .datafile(&datafile(1))
        .unwrap()
        .event_dispatcher(http(&server))
        .event_processor(EventProcessorConfig { flush_interval: Duration::from_secs(60), ..processor(100) })
        .build()
        .unwrap();
    let user = client.create_user_context("u", Attributes::new());
    user.decide("flag", DecideOptions::NONE);
    user.track_event("purchase", None);
    drop(user);
    drop(client);
    assert_eq!(delivered_uuids(&server).len(), 2, "the impression and the conversion");
}

#[test]
fn decisions_impressions_and_tracks_are_announced_to_listeners() {
    use std::sync::Mutex;
    use vario_events::CollectingDispatcher;

    let client = Client::builder()
        .datafile(&datafile(3))
        .unwrap()
        .event_dispatcher(CollectingDispatcher::new())
        .immediate_events()
        .build()
        .unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    client.notification_center().add_decision_listener(move |n| {
        log.lock().unwrap().push(format!("{} {}", n.decision_type.as_str(), n.info));
    });
    let log = seen.clone();
    client.notification_center().add_activate_listener(move |n| {
        log.lock().unwrap().push(format!("activate {} {:?}", n.experiment_key, n.variation_key));
    });
    let log = seen.clone();
    client.notification_center().add_track_listener(move |n| {
        log.lock().unwrap().push(format!("track {} {}", n.event_key, n.user_id));
    });

    let user = client.create_user_context("u", Attributes::new());
    user.decide("flag", DecideOptions::NONE);
    assert!(client.is_feature_enabled("flag", "u", &Attributes::new()));
    client.get_feature_variable("flag", "label", "u", &Attributes::new());
    user.track_event("purchase", None);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    assert_eq!(seen[0], "activate everyone Some(\"rev3\")");
    assert!(seen[1].starts_with("flag {"), "{}", seen[1]);
    let flag: Value = serde_json::from_str(&seen[1]["flag ".len()..]).unwrap();
    assert_eq!(flag["variation_key"], "rev3");
    assert_eq!(flag["rule_key"], "everyone");
    assert_eq!(flag["decision_event_dispatched"], true);
    assert_eq!(flag["experiment_id"], "e");
    assert_eq!(flag["variables"], json!({"label": "rev3"}));
    assert_eq!(seen[2], "activate everyone Some(\"rev3\")");
    assert!(seen[3].starts_with("feature {") && seen[3].contains("\"source\":\"rollout\""), "{}", seen[3]);
    assert!(
        seen[4].starts_with("feature-variable {") && seen[4].contains("\"variable_value\":\"rev3\""),
        "{}",
        seen[4]
    );
    assert_eq!(seen[5], "track purchase u");
}
