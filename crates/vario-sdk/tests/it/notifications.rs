//! The notification centre: kinds, removal, panicking and re-entrant listeners, and the
//! notifications of the event processor (decisions.md §8).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use vario_core::Attributes;
use vario_sdk::{
    ConfigUpdateNotification, DecisionNotification, DecisionType, EventProcessor, EventProcessorConfig, ListenerId,
    Notification, NotificationCenter, NotificationKind, TrackNotification,
};

use crate::processor::{Maker, TestDispatcher, assert_exactly_once, fast_config};

fn decision(user: &str) -> DecisionNotification {
    DecisionNotification {
        decision_type: DecisionType::Flag,
        user_id: user.into(),
        attributes: Attributes::new(),
        info: json!({"flag_key": "checkout", "enabled": true}),
    }
}

fn update(revision: &str) -> ConfigUpdateNotification {
    ConfigUpdateNotification { revision: revision.into(), previous_revision: None }
}

/// A listener of `kind` that counts its calls.
fn counter(center: &NotificationCenter, kind: NotificationKind) -> (ListenerId, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let id = center.add_listener(kind, move |n| {
        assert_eq!(n.kind(), kind);
        c.fetch_add(1, Ordering::SeqCst);
    });
    (id, calls)
}

#[test]
fn listeners_receive_only_their_kind_with_the_payload() {
    let center = NotificationCenter::new();
    let decisions = Arc::new(Mutex::new(Vec::new()));
    let sink = decisions.clone();
    center.add_decision_listener(move |d| sink.lock().unwrap().push(d.clone()));
    let (_, updates) = counter(&center, NotificationKind::ConfigUpdate);
    let (_, tracks) = counter(&center, NotificationKind::Track);

    center.notify_with(|| decision("u1"));
    center.notify_with(|| update("43"));
    center.notify(Notification::Decision(&decision("u2")));

    let decisions = decisions.lock().unwrap();
    assert_eq!(decisions.iter().map(|d| d.user_id.as_str()).collect::<Vec<_>>(), ["u1", "u2"]);
    assert_eq!(decisions[0].decision_type.as_str(), "flag");
    assert_eq!(decisions[0].info["flag_key"], json!("checkout"));
    assert_eq!(updates.load(Ordering::SeqCst), 1);
    assert_eq!(tracks.load(Ordering::SeqCst), 0);
}

#[test]
fn decision_types_are_spelled_as_the_reference_sdk_spells_them() {
    let names: Vec<&str> = [
        DecisionType::Flag,
        DecisionType::Feature,
        DecisionType::AbTest,
        DecisionType::FeatureTest,
        DecisionType::FeatureVariable,
        DecisionType::AllFeatureVariables,
    ]
    .iter()
    .map(|t| t.as_str())
    .collect();
    assert_eq!(names, ["flag", "feature", "ab-test", "feature-test", "feature-variable", "all-feature-variables"]);
    assert_eq!(NotificationKind::ConfigUpdate.as_str(), "OPTIMIZELY_CONFIG_UPDATE");
    assert_eq!(NotificationKind::LogEvent.to_string(), "LOG_EVENT");
}

#[test]
fn listeners_run_in_order_of_addition() {
    let center = NotificationCenter::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let order = order.clone();
        center.add_config_update_listener(move |_| order.lock().unwrap().push(i));
    }
    center.notify_with(|| update("1"));
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_removed_listener_is_not_called_and_unknown_ids_are_refused() {
    let center = NotificationCenter::new();
    let (first, first_calls) = counter(&center, NotificationKind::Decision);
    let (_, second_calls) = counter(&center, NotificationKind::Decision);
    assert_eq!(center.listener_count(NotificationKind::Decision), 2);
    assert!(center.remove_listener(first));
    assert!(!center.remove_listener(first), "already removed");
    center.notify_with(|| decision("u"));
    assert_eq!((first_calls.load(Ordering::SeqCst), second_calls.load(Ordering::SeqCst)), (0, 1));
    // An id of another centre removes nothing here.
    let other = NotificationCenter::new();
    let (foreign, _) = counter(&other, NotificationKind::Decision);
    assert!(!center.remove_listener(foreign));
    assert_eq!(center.listener_count(NotificationKind::Decision), 1);
}

#[test]
fn clear_removes_one_kind_and_clear_all_every_kind() {
    let center = NotificationCenter::new();
    let (_, decisions) = counter(&center, NotificationKind::Decision);
    let (_, updates) = counter(&center, NotificationKind::ConfigUpdate);
    center.clear(NotificationKind::Decision);
    assert!(!center.has_listeners(NotificationKind::Decision));
    assert!(center.has_listeners(NotificationKind::ConfigUpdate));
    center.notify_with(|| decision("u"));
    center.notify_with(|| update("2"));
    assert_eq!((decisions.load(Ordering::SeqCst), updates.load(Ordering::SeqCst)), (0, 1));
    center.clear_all();
    for kind in NotificationKind::ALL {
        assert!(!center.has_listeners(kind), "{kind}");
    }
    center.notify_with(|| update("3"));
    assert_eq!(updates.load(Ordering::SeqCst), 1);
}

#[test]
fn without_listeners_no_payload_is_built() {
    let center = NotificationCenter::new();
    let (_, _) = counter(&center, NotificationKind::Decision);
    let built = AtomicBool::new(false);
    center.notify_with(|| {
        built.store(true, Ordering::SeqCst);
        update("1")
    });
    assert!(!built.load(Ordering::SeqCst), "nobody listens for config updates");
    center.notify_with(|| {
        built.store(true, Ordering::SeqCst);
        decision("u")
    });
    assert!(built.load(Ordering::SeqCst));
}

#[test]
fn a_panicking_listener_does_not_stop_the_others() {
    let center = NotificationCenter::new();
    center.add_track_listener(|_| panic!("listener bug"));
    let (_, calls) = counter(&center, NotificationKind::Track);
    let maker = Maker::new("42");
    let track = TrackNotification {
        event_key: "purchase".into(),
        user_id: "u".into(),
        attributes: Attributes::new(),
        event_tags: json!({"revenue": 100}).as_object().cloned(),
        log_event: maker.event("u").into(),
    };
    center.notify(Notification::Track(&track));
    center.notify(Notification::Track(&track));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_listener_does_not_break_the_event_processor() {
    let center = NotificationCenter::new();
    center.add_log_event_listener(|_| panic!("listener bug"));
    let (_, batches) = counter(&center, NotificationKind::LogEvent);
    let d = TestDispatcher::new();
    let p = EventProcessor::start(EventProcessorConfig { batch_size: 5, ..fast_config() }, d.clone(), center).unwrap();
    let events = Maker::new("42").events("u", 20);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    assert!(p.close().all_delivered());
    assert_exactly_once(&d.delivered(), &events);
    assert_eq!(batches.load(Ordering::SeqCst), 4);
}

#[test]
fn listeners_may_add_and_remove_listeners_while_running() {
    let center = NotificationCenter::new();
    let added = Arc::new(AtomicUsize::new(0));
    let (c, a) = (center.clone(), added.clone());
    let id = Arc::new(Mutex::new(None::<ListenerId>));
    let own = id.clone();
    *id.lock().unwrap() = Some(center.add_config_update_listener(move |_| {
        // Re-entrant: adds a listener and removes itself; must not deadlock.
        let a = a.clone();
        c.add_config_update_listener(move |_| {
            a.fetch_add(1, Ordering::SeqCst);
        });
        if let Some(me) = *own.lock().unwrap() {
            c.remove_listener(me);
        }
    }));
    center.notify_with(|| update("1"));
    // The snapshot taken for the first notification did not include the new listener.
    assert_eq!(added.load(Ordering::SeqCst), 0);
    center.notify_with(|| update("2"));
    assert_eq!(added.load(Ordering::SeqCst), 1);
    assert_eq!(center.listener_count(NotificationKind::ConfigUpdate), 1);
}

#[test]
fn listeners_can_be_added_removed_and_notified_from_many_threads() {
    let center = NotificationCenter::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (center, calls) = (center.clone(), calls.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let c = calls.clone();
                    let id = center.add_decision_listener(move |_| {
                        c.fetch_add(1, Ordering::Relaxed);
                    });
                    center.notify_with(|| decision("u"));
                    assert!(center.remove_listener(id));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(!center.has_listeners(NotificationKind::Decision));
    // Each notification reached at least the listener its thread had just added.
    assert!(calls.load(Ordering::Relaxed) >= 800);
}

#[test]
fn a_listener_may_flush_or_close_its_own_processor() {
    let center = NotificationCenter::new();
    let d = TestDispatcher::new();
    let slot: Arc<Mutex<Option<Arc<EventProcessor>>>> = Arc::new(Mutex::new(None));
    let from_listener = slot.clone();
    center.add_log_event_listener(move |_| {
        // Running on the processor's own thread: neither call may wait for itself.
        let processor = from_listener.lock().unwrap().clone();
        if let Some(p) = processor {
            p.flush();
            p.close();
        }
    });
    let config = EventProcessorConfig { batch_size: 1, flush_interval: Duration::from_millis(20), ..fast_config() };
    let p = Arc::new(EventProcessor::start(config, d.clone(), center).unwrap());
    *slot.lock().unwrap() = Some(p.clone());
    let events = Maker::new("42").events("u", 3);
    for e in &events {
        p.process(e.clone());
    }
    crate::processor::wait_until(Duration::from_secs(5), || p.is_closed());
    // Whatever got in before the listener closed it is delivered.
    let sent = d.delivered();
    assert!(!sent.is_empty());
    *slot.lock().unwrap() = None;
}
