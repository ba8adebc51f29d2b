use proptest::prelude::*;
use vario_datafile::ProjectConfig;
use vario_project::model::{
    Attribute, Audience, Environment, Event, EveryoneElse, Experiment, ExperimentVariation, Flag, FlagVariation,
    Project, Range, Rule, RuleKind, Status, Variable, VariableType,
};
use vario_project::{build_datafile, load, validate};

use crate::support::{apply, store};

fn ranges(keys: Vec<String>, cuts: Vec<i64>) -> Vec<Range> {
    let mut cuts: Vec<i64> = cuts.into_iter().take(keys.len()).collect();
    cuts.sort_unstable();
    keys.into_iter().zip(cuts).map(|(to, end)| Range { to: Some(to), end }).collect()
}

prop_compose! {
    fn project()(
        n_attributes in 0usize..4,
        n_events in 1usize..4,
        experiments in proptest::collection::vec((1usize..4, proptest::collection::vec(0i64..=10_000, 4), any::<bool>(), any::<bool>()), 0..4),
        flags in proptest::collection::vec((0usize..3, 1usize..4, proptest::collection::vec((any::<bool>(), proptest::collection::vec(0i64..=10_000, 4), any::<bool>()), 0..4), any::<bool>()), 0..4),
    ) -> Project {
        let mut p = Project::new("random");
        p.environments.push(Environment { id: String::new(), key: "production".into(), sdk_key: String::new(), archived: false });
        p.attributes = (0..n_attributes).map(|i| Attribute { id: String::new(), key: format!("attr{i}"), archived: false }).collect();
        p.events = (0..n_events).map(|i| Event { id: String::new(), key: format!("event{i}"), description: String::new(), archived: false }).collect();
        p.audiences.push(Audience { id: String::new(), key: "everyone_de".into(), name: String::new(),
            conditions: serde_json::json!(["or", {"name": "country", "match": "exact", "value": "de"}]), archived: false });
        for (i, (n, cuts, running, targeted)) in experiments.into_iter().enumerate() {
            let keys: Vec<String> = (0..n).map(|v| format!("v{v}")).collect();
            p.experiments.push(Experiment {
                id: String::new(), layer_id: String::new(), key: format!("exp{i}"), description: String::new(),
                audiences: targeted.then(|| "everyone_de".into()),
                variations: keys.iter().map(|k| ExperimentVariation { id: String::new(), key: k.clone() }).collect(),
                traffic: ranges(keys, cuts),
                whitelist: Default::default(),
                metrics: vec!["event0".into()],
                group: None,
                status: [("production".to_owned(), if running { Status::Running } else { Status::Paused })].into(),
                archived: false,
            });
        }
        for (i, (n_vars, n_variations, rules, everyone)) in flags.into_iter().enumerate() {
            let variables: Vec<Variable> = (0..n_vars).map(|v| Variable { id: String::new(), key: format!("var{v}"),
                kind: if v % 2 == 0 { VariableType::Integer } else { VariableType::Json }, default: if v % 2 == 0 { "1".into() } else { "{}".into() } }).collect();
            let variations: Vec<FlagVariation> = (0..n_variations).map(|v| FlagVariation { id: String::new(), key: format!("fv{v}"), enabled: v > 0,
                variables: variables.iter().map(|var| (var.key.clone(), if var.kind == VariableType::Integer { v.to_string() } else { "[1]".into() })).collect() }).collect();
            let keys: Vec<String> = variations.iter().map(|v| v.key.clone()).collect();
            let mut rule_list: Vec<Rule> = rules.into_iter().enumerate().map(|(r, (ab, cuts, running))| Rule {
                id: String::new(), layer_id: String::new(), key: format!("flag{i}_rule{r}"),
                kind: if ab { RuleKind::AbTest } else { RuleKind::Delivery },
                audiences: None, traffic: ranges(keys.clone(), cuts), whitelist: Default::default(), metrics: Vec::new(), group: None,
                status: [("production".to_owned(), if running { Status::Running } else { Status::Paused })].into(),
            }).collect();
            rule_list.sort_by_key(|r| r.kind == RuleKind::Delivery);
            p.flags.push(Flag {
                id: String::new(), rollout_id: String::new(), key: format!("flag{i}"), description: String::new(),
                variables, variations, rules: rule_list,
                everyone_else: EveryoneElse { variation: everyone.then(|| "fv0".into()), ..EveryoneElse::default() },
                archived: false,
            });
        }
        p
    }
}

/// Edits that break a rule, each with the path the error must name.
fn bad_edit(p: &mut Project, which: usize) -> Option<&'static str> {
    match which % 4 {
        0 => {
            p.events.push(Event {
                id: String::new(),
                key: "event0".into(),
                description: String::new(),
                archived: false,
            });
            Some("key")
        }
        1 => p.experiments.first_mut().map(|e| {
            e.traffic.push(Range { to: Some("nope".into()), end: 10_000 });
            ".to"
        }),
        2 => p.flags.first_mut().map(|f| {
            f.everyone_else.end = Some(10_001);
            "everyone_else.end"
        }),
        _ => p.flags.iter_mut().find(|f| !f.variables.is_empty() && !f.variations.is_empty()).map(|f| {
            let key = f.variables[0].key.clone();
            f.variations[0].variables.insert(key, "not a number".into());
            "variables.var0"
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_projects_build_datafiles_the_parser_accepts(p in project()) {
        prop_assert!(validate(&p).is_ok(), "{:?}", validate(&p));
        let (_dir, store) = store();
        let outcome = apply(&store, p).unwrap();
        for published in &outcome.datafiles {
            prop_assert!(ProjectConfig::from_json(&published.record.json).is_ok());
        }
        let env = &outcome.project.environments[0];
        prop_assert_eq!(&build_datafile(&outcome.project, env, 1).unwrap(), &outcome.datafiles[0].record.json);
    }

    #[test]
    fn random_invalid_edits_are_refused_and_change_nothing(p in project(), which in 0usize..4) {
        let (_dir, store) = store();
        apply(&store, p.clone()).unwrap();
        let before = load(&store, "random").unwrap();
        let mut bad = before.project.clone();
        if let Some(path) = bad_edit(&mut bad, which) {
            let err = apply(&store, bad).unwrap_err();
            prop_assert!(err.problems().iter().any(|problem| problem.path.contains(path)), "{} for {}", err, path);
            prop_assert_eq!(load(&store, "random").unwrap(), before);
        }
    }
}
