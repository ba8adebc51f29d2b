use serde_json::Value;
use vario_core::{Attributes, User, decide_flag, experiment_variation};
use vario_datafile::ProjectConfig;
use vario_project::model::Status;
use vario_project::{Action, ChangeRequest, ProjectError, SqliteStore, Store, change, from_yaml, load, to_yaml};

use crate::support::{apply, example, store};

fn config(json: &str) -> ProjectConfig {
    ProjectConfig::from_json(json).unwrap()
}

#[test]
fn the_example_builds_a_datafile_per_environment_that_decides() {
    let (_dir, store) = store();
    let outcome = apply(&store, example()).unwrap();
    assert_eq!(outcome.revision, 1);
    assert_eq!(outcome.datafiles.len(), 2);
    let production = &outcome.datafiles[0].record;
    assert_eq!((production.sdk_key.as_str(), production.revision), ("shop-production", 1));
    let config = config(&production.json);
    assert_eq!(config.revision, "1");
    assert_eq!(config.flags.len(), 1);

    // The whitelist wins; the audience keeps others out.
    let mut attributes = Attributes::new();
    attributes.insert("country", "de");
    let pricing = config.experiment_by_key("pricing_page").unwrap();
    let (variation, _) = experiment_variation(&config, pricing, &User::new("qa-user-1", &attributes), None, &mut ());
    assert_eq!(config.variation(variation.unwrap()).key, "annual_first");
    let (variation, _) = experiment_variation(&config, pricing, &User::new("x", &Attributes::new()), None, &mut ());
    assert!(variation.is_none());

    // Not paying: the A/B test is skipped, everyone else gets "off" with the defaults;
    // the delivery runs in development only.
    let mut new_app = Attributes::new();
    new_app.insert("app_version", "2.1.0");
    let flag = config.flag_by_key("checkout_redesign").unwrap();
    let decision = decide_flag(&config, flag, &User::new("u1", &new_app), None, &mut ());
    assert!(!decision.enabled);
    assert_eq!(decision.rule_key(&config), Some(format!("default-rollout-{}", outcome.project.flags[0].id).as_str()));
    let development = config_of(&outcome, 1);
    let flag = development.flag_by_key("checkout_redesign").unwrap();
    let decision = decide_flag(&development, flag, &User::new("u1", &new_app), None, &mut ());
    assert!(decision.enabled);
    assert_eq!(decision.rule_key(&development), Some("new_app_users"));
}

fn config_of(outcome: &vario_project::Outcome, env: usize) -> ProjectConfig {
    config(&outcome.datafiles[env].record.json)
}

#[test]
fn the_ab_test_splits_paying_users_and_sets_variables() {
    let (_dir, store) = store();
    let outcome = apply(&store, example()).unwrap();
    let client = vario_sdk::Client::from_datafile(&outcome.datafiles[0].record.json).unwrap();
    let (mut on, mut off, mut rollout) = (0, 0, 0);
    for i in 0..2000 {
        let mut attributes = vario_sdk::Attributes::new();
        attributes.insert("plan", "pro");
        // Without a country the "not german_speaking" part is unknown, which keeps users out.
        attributes.insert("country", "us");
        let user = client.create_user_context(format!("user-{i}"), attributes);
        let d = user.decide("checkout_redesign", vario_sdk::DecideOptions::NONE);
        match (d.rule_key(), d.variation_key()) {
            (Some("checkout_test"), Some("on")) => {
                on += 1;
                assert_eq!(d.variable("button_color"), Some(&Value::from("green")));
                assert_eq!(d.variable("steps"), Some(&Value::from(1)));
            }
            (Some("checkout_test"), Some("off")) => {
                off += 1;
                assert_eq!(d.variable("steps"), Some(&Value::from(3)));
            }
            (Some(_), Some("off")) => rollout += 1,
            other => panic!("unexpected decision {other:?}"),
        }
    }
    // 10 % each, give or take.
    assert!((150..250).contains(&on) && (150..250).contains(&off), "on {on}, off {off}");
    assert_eq!(on + off + rollout, 2000);
}

#[test]
fn applying_the_export_changes_nothing_and_keeps_ids() {
    let (_dir, store) = store();
    let first = apply(&store, example()).unwrap();
    let exported = to_yaml(&load(&store, "shop").unwrap().project).unwrap();
    let again = apply(&store, from_yaml(&exported).unwrap()).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.revision, 1);
    // The hand-written file (no ids) matches by key: no change either.
    let third = apply(&store, example()).unwrap();
    assert!(third.changes.is_empty());
    assert_eq!(third.project, first.project);
    // Applying the export to a new database gives the same datafiles.
    let (_dir2, other) = crate::support::store();
    let copy = apply(&other, from_yaml(&exported).unwrap()).unwrap();
    assert_eq!(copy.datafiles[0].record.json, first.datafiles[0].record.json);
}

#[test]
fn a_datafile_revision_moves_only_when_its_content_changes() {
    let (_dir, store) = store();
    apply(&store, example()).unwrap();
    let mut p = example();
    // A delivery that only development runs: production's datafile stays as it was.
    p.flags[0].rules[1].traffic[0].end = 5000;
    let outcome = apply(&store, p).unwrap();
    assert_eq!(outcome.revision, 2);
    let (production, development) = (&outcome.datafiles[0], &outcome.datafiles[1]);
    assert!(!production.changed && production.record.revision == 1);
    assert!(development.changed && development.record.revision == 2);
    assert_eq!(config(&development.record.json).revision, "2");
}

#[test]
fn every_change_is_audited_with_before_and_after() {
    let (_dir, store) = store();
    apply(&store, example()).unwrap();
    let mut p = example();
    p.events[0].description = "Paid orders".into();
    p.audiences.retain(|a| a.key != "new_app");
    p.flags[0].rules.retain(|r| r.key != "new_app_users");
    apply(&store, p).unwrap();
    let log = store.read(|tx| tx.audit_log("shop", 100)).unwrap();
    let mut latest: Vec<String> =
        log.iter().filter(|e| e.revision == 2).map(|e| format!("{} {} {}", e.action.as_str(), e.kind, e.key)).collect();
    latest.sort();
    assert_eq!(latest, ["archive audience new_app", "update event purchase", "update flag checkout_redesign"]);
    let event = log.iter().find(|e| e.kind == "event" && e.revision == 2).unwrap();
    assert_eq!(event.actor, "tester");
    assert_eq!(event.before.as_ref().unwrap()["description"], "Order completed (revenue in cents)");
    assert_eq!(event.after.as_ref().unwrap()["description"], "Paid orders");
    assert_eq!(event.fields, ["description"]);
    assert!(log.iter().any(|e| e.revision == 1 && e.action == Action::Create && e.kind == "project"));
}

#[test]
fn archived_objects_keep_their_ids_and_new_ones_never_reuse_them() {
    let (_dir, store) = store();
    let first = apply(&store, example()).unwrap();
    let purchase_id = first.project.events[0].id.clone();
    let mut p = example();
    p.events.retain(|e| e.key != "purchase");
    p.experiments[0].metrics.clear();
    p.flags[0].rules[0].metrics.retain(|m| m != "purchase");
    let archived = apply(&store, p.clone()).unwrap();
    let event = archived.project.events.iter().find(|e| e.key == "purchase").unwrap();
    assert!(event.archived);
    assert!(!archived.datafiles[0].record.json.contains("\"purchase\""));
    // A new event never gets the archived one's id; the old key comes back with its id.
    p.events.push(vario_project::model::Event {
        id: String::new(),
        key: "refund".into(),
        description: String::new(),
        archived: false,
    });
    let grown = apply(&store, p).unwrap();
    assert!(grown.project.events.iter().all(|e| e.key == "purchase" || e.id != purchase_id));
    let restored = apply(&store, example()).unwrap();
    let purchase = restored.project.events.iter().find(|e| e.key == "purchase").unwrap();
    assert_eq!((purchase.id.as_str(), purchase.archived), (purchase_id.as_str(), false));
    assert!(restored.changes.iter().any(|c| c.action == Action::Restore && c.key == "purchase"));
    // Someone else's id for a new object is refused.
    let mut p = example();
    p.events.push(vario_project::model::Event {
        id: purchase_id.clone(),
        key: "signup".into(),
        description: String::new(),
        archived: false,
    });
    let err = apply(&store, p).unwrap_err();
    assert!(err.to_string().contains(&purchase_id), "{err}");
}

/// An edit of a project.
type Edit = Box<dyn Fn(&mut vario_project::Project)>;

#[test]
fn invalid_edits_name_the_field_and_change_nothing() {
    let (_dir, store) = store();
    apply(&store, example()).unwrap();
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            Box::new(|p| p.experiments[0].audiences = Some("nobody".into())),
            "experiments[0].audiences",
            "unknown audience \"nobody\"",
        ),
        (Box::new(|p| p.experiments[0].traffic[1].end = 12000), "experiments[0].traffic[1].end", "outside 0..=10000"),
        (Box::new(|p| p.flags[0].rules[0].traffic[1].end = 500), "flags[0].rules[0].traffic[1].end", "overlap"),
        (Box::new(|p| p.events[1].key = "purchase".into()), "events[1].key", "duplicate event key"),
        (
            Box::new(|p| {
                p.flags[0].variations[1].variables.insert("steps".into(), "many".into()).map(drop).unwrap_or(())
            }),
            "flags[0].variations[1].variables.steps",
            "not an integer",
        ),
        (Box::new(|p| p.experiments[0].variations.clear()), "experiments[0].variations", "running in"),
        (
            Box::new(|p| p.flags[0].rules[0].metrics.push("refund".into())),
            "flags[0].rules[0].metrics[2]",
            "unknown event",
        ),
        (
            Box::new(|p| {
                p.experiments[0].status.insert("staging".into(), Status::Running);
            }),
            "experiments[0].status.staging",
            "unknown environment",
        ),
    ];
    for (edit, path, message) in cases {
        let mut p = example();
        edit(&mut p);
        let err = apply(&store, p).unwrap_err();
        let problem = err.problems().iter().find(|p| p.path == path).unwrap_or_else(|| panic!("{path}: {err}"));
        assert!(problem.message.contains(message), "{path}: {}", problem.message);
        assert_eq!(load(&store, "shop").unwrap().revision, 1);
    }
}

#[test]
fn stale_revisions_conflict_and_dry_runs_store_nothing() {
    let (_dir, store) = store();
    apply(&store, example()).unwrap();
    let stale = ChangeRequest { actor: "a".into(), expected_revision: Some(0), dry_run: false };
    let err = change(&store, "shop", &stale, |p| Ok(p.unwrap())).unwrap_err();
    assert!(matches!(err, ProjectError::Conflict { expected: 0, current: 1, .. }), "{err}");
    let mut p = example();
    p.events[0].description = "changed".into();
    let dry = ChangeRequest { actor: "a".into(), expected_revision: Some(1), dry_run: true };
    let outcome = change(&store, "shop", &dry, |_| Ok(p)).unwrap();
    assert_eq!((outcome.revision, outcome.changes.len()), (2, 1));
    assert_eq!(load(&store, "shop").unwrap().revision, 1);
    assert_eq!(load(&store, "shop").unwrap().project.events[0].description, "Order completed (revenue in cents)");
}

#[test]
fn concurrent_edits_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open_in(dir.path()).unwrap());
    apply(&store, example()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..5 {
                    let request = ChangeRequest { actor: format!("t{t}"), ..ChangeRequest::default() };
                    change(&*store, "shop", &request, |p| {
                        let mut p = p.unwrap();
                        p.events.push(vario_project::model::Event {
                            id: String::new(),
                            key: format!("e{t}-{i}"),
                            description: String::new(),
                            archived: false,
                        });
                        Ok(p)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stored = load(&*store, "shop").unwrap();
    assert_eq!(stored.revision, 41);
    assert_eq!(stored.project.events.len(), 42);
    // A second connection (another process) sees the same.
    let other = SqliteStore::open(store.path()).unwrap();
    assert_eq!(load(&other, "shop").unwrap().revision, 41);
}
