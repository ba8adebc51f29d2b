//! Stable ids: an object keeps the id it was given first, matched by key (files written
//! by hand carry no ids); new objects get fresh numeric ids from the store, which never
//! hands out an id twice. Numeric, because SDKs send a non-numeric variation id as
//! `null` in events.

use std::collections::HashMap;

use crate::model::Project;

/// Every id slot of `project`, with a label for messages.
pub(crate) fn for_each_id(project: &mut Project, f: &mut impl FnMut(&str, &mut String)) {
    f("project", &mut project.id);
    f("account", &mut project.account_id);
    for e in &mut project.environments {
        f("environment", &mut e.id);
    }
    for a in &mut project.attributes {
        f("attribute", &mut a.id);
    }
    for a in &mut project.audiences {
        f("audience", &mut a.id);
    }
    for e in &mut project.events {
        f("event", &mut e.id);
    }
    for g in &mut project.groups {
        f("group", &mut g.id);
    }
    for e in &mut project.experiments {
        f("experiment", &mut e.id);
        f("experiment layer", &mut e.layer_id);
        for v in &mut e.variations {
            f("variation", &mut v.id);
        }
    }
    for flag in &mut project.flags {
        f("flag", &mut flag.id);
        f("rollout", &mut flag.rollout_id);
        for v in &mut flag.variables {
            f("variable", &mut v.id);
        }
        for v in &mut flag.variations {
            f("variation", &mut v.id);
        }
        for r in &mut flag.rules {
            f("rule", &mut r.id);
            if r.kind == crate::model::RuleKind::AbTest {
                f("rule layer", &mut r.layer_id);
            }
        }
        f("everyone-else rule", &mut flag.everyone_else.id);
    }
}

/// Every id of `project`.
pub(crate) fn all_ids(project: &Project) -> Vec<String> {
    let mut copy = project.clone();
    let mut ids = Vec::new();
    for_each_id(&mut copy, &mut |_, id| {
        if !id.is_empty() {
            ids.push(id.clone());
        }
    });
    ids
}

fn by_key<T>(items: &[T], key: impl Fn(&T) -> &str) -> HashMap<&str, &T> {
    items.iter().map(|item| (key(item), item)).collect()
}

fn keep(new: &mut String, old: &str) {
    if new.is_empty() {
        *new = old.to_owned();
    }
}

/// Copies the ids of `old` into the objects of `new` that have the same keys and no id.
pub(crate) fn inherit(new: &mut Project, old: &Project) {
    keep(&mut new.id, &old.id);
    keep(&mut new.account_id, &old.account_id);
    let envs = by_key(&old.environments, |e| &e.key);
    for e in &mut new.environments {
        if let Some(o) = envs.get(e.key.as_str()) {
            keep(&mut e.id, &o.id);
            keep(&mut e.sdk_key, &o.sdk_key);
        }
    }
    let attributes = by_key(&old.attributes, |a| &a.key);
    for a in &mut new.attributes {
        if let Some(o) = attributes.get(a.key.as_str()) {
            keep(&mut a.id, &o.id);
        }
    }
    let audiences = by_key(&old.audiences, |a| &a.key);
    for a in &mut new.audiences {
        if let Some(o) = audiences.get(a.key.as_str()) {
            keep(&mut a.id, &o.id);
        }
    }
    let events = by_key(&old.events, |e| &e.key);
    for e in &mut new.events {
        if let Some(o) = events.get(e.key.as_str()) {
            keep(&mut e.id, &o.id);
        }
    }
    let groups = by_key(&old.groups, |g| &g.key);
    for g in &mut new.groups {
        if let Some(o) = groups.get(g.key.as_str()) {
            keep(&mut g.id, &o.id);
        }
    }
    let experiments = by_key(&old.experiments, |e| &e.key);
    for e in &mut new.experiments {
        if let Some(o) = experiments.get(e.key.as_str()) {
            keep(&mut e.id, &o.id);
            keep(&mut e.layer_id, &o.layer_id);
            let variations = by_key(&o.variations, |v| &v.key);
            for v in &mut e.variations {
                if let Some(ov) = variations.get(v.key.as_str()) {
                    keep(&mut v.id, &ov.id);
                }
            }
        }
    }
    let flags = by_key(&old.flags, |f| &f.key);
    for f in &mut new.flags {
        let Some(o) = flags.get(f.key.as_str()) else { continue };
        keep(&mut f.id, &o.id);
        keep(&mut f.rollout_id, &o.rollout_id);
        keep(&mut f.everyone_else.id, &o.everyone_else.id);
        keep(&mut f.everyone_else.key, &o.everyone_else.key);
        let variables = by_key(&o.variables, |v| &v.key);
        for v in &mut f.variables {
            if let Some(ov) = variables.get(v.key.as_str()) {
                keep(&mut v.id, &ov.id);
            }
        }
        let variations = by_key(&o.variations, |v| &v.key);
        for v in &mut f.variations {
            if let Some(ov) = variations.get(v.key.as_str()) {
                keep(&mut v.id, &ov.id);
            }
        }
        let rules = by_key(&o.rules, |r| &r.key);
        for r in &mut f.rules {
            if let Some(or) = rules.get(r.key.as_str()) {
                keep(&mut r.id, &or.id);
                if r.kind == or.kind {
                    keep(&mut r.layer_id, &or.layer_id);
                }
            }
        }
    }
}

/// Gives every object without an id a fresh one from `fresh`, then fills the derived
/// defaults (SDK keys, everyone-else keys).
pub(crate) fn assign<E>(project: &mut Project, fresh: &mut impl FnMut() -> Result<String, E>) -> Result<(), E> {
    let mut failed = None;
    for_each_id(project, &mut |_, id| {
        if id.is_empty() && failed.is_none() {
            match fresh() {
                Ok(new) => *id = new,
                Err(e) => failed = Some(e),
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    for e in &mut project.environments {
        if e.sdk_key.is_empty() {
            e.sdk_key = format!("{}-{}", project.key, e.key);
        }
    }
    for f in &mut project.flags {
        if f.everyone_else.key.is_empty() {
            f.everyone_else.key = format!("default-rollout-{}", f.id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attribute, Environment};

    #[test]
    fn ids_follow_keys_and_new_objects_get_fresh_ones() {
        let mut old = Project::new("shop");
        old.attributes.push(Attribute { id: "7".into(), key: "country".into(), archived: false });
        let mut new = Project::new("shop");
        new.attributes.push(Attribute { id: String::new(), key: "plan".into(), archived: false });
        new.attributes.push(Attribute { id: String::new(), key: "country".into(), archived: false });
        new.environments.push(Environment {
            id: String::new(),
            key: "production".into(),
            sdk_key: String::new(),
            archived: false,
        });
        inherit(&mut new, &old);
        let mut next = 100;
        assign(&mut new, &mut || -> Result<String, ()> {
            next += 1;
            Ok(next.to_string())
        })
        .unwrap();
        assert_eq!(new.attributes[1].id, "7");
        assert_eq!(new.attributes[0].id, "104");
        assert_eq!(new.environments[0].sdk_key, "shop-production");
        assert_eq!(all_ids(&new).len(), 5);
    }
}
