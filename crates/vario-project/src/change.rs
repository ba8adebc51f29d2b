//! One change to a project, all or nothing: edit, keep ids, validate, record the
//! audit, bump the revision, rebuild every environment's datafile and record the ones
//! whose content changed, all in one transaction.

use std::collections::HashSet;
use std::time::SystemTime;

use crate::build::build_datafile;
use crate::error::{Problem, ProjectError};
use crate::ids;
use crate::model::Project;
use crate::plan::{Change, KINDS, plan};
use crate::repo::{AuditEntry, DatafileRecord, Store, StoredProject, Transaction};
use crate::time::rfc3339;
use crate::validate::validate;

/// Who changes what, and on which condition.
#[derive(Debug, Clone, Default)]
pub struct ChangeRequest {
    /// Written into the audit log.
    pub actor: String,
    /// The project revision the change was based on; another one is a conflict.
    /// `Some(0)` means the project must not exist yet.
    pub expected_revision: Option<u64>,
    /// Work everything out, store nothing.
    pub dry_run: bool,
}

/// What a change did (or, for a dry run, would do).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The project after the change, ids assigned.
    pub project: Project,
    /// Its revision (unchanged when nothing changed).
    pub revision: u64,
    /// Object by object.
    pub changes: Vec<Change>,
    /// Every live environment's datafile after the change.
    pub datafiles: Vec<Published>,
}

/// An environment's datafile after a change.
#[derive(Debug, Clone)]
pub struct Published {
    /// The datafile.
    pub record: DatafileRecord,
    /// Whether this change gave it new content (and a new revision).
    pub changed: bool,
}

/// Changes project `key` with `edit` (given the stored project, or `None` when there is
/// none yet). Objects the edit leaves out are kept, archived: nothing is deleted and no
/// id comes back.
pub fn change<S: Store>(
    store: &S,
    key: &str,
    request: &ChangeRequest,
    edit: impl FnOnce(Option<Project>) -> Result<Project, ProjectError>,
) -> Result<Outcome, ProjectError> {
    store.write(!request.dry_run, |tx| {
        let stored = tx.load(key)?;
        let current = stored.as_ref().map_or(0, |s| s.revision);
        if let Some(expected) = request.expected_revision
            && expected != current
        {
            return Err(ProjectError::Conflict { project: key.to_owned(), expected, current });
        }
        let old = stored.as_ref().map(|s| &s.project);
        let mut new = edit(old.cloned())?;
        if new.key != key {
            return Err(ProjectError::invalid(
                "key",
                format!("the project key is {key:?}; it cannot become {:?}", new.key),
            ));
        }
        if let Some(old) = old {
            ids::inherit(&mut new, old);
            keep_left_out(&mut new, old);
        }
        check_ids(tx, old, &new)?;
        ids::assign(&mut new, &mut || tx.fresh_id())?;
        validate(&new)?;
        check_sdk_keys(tx, &new)?;
        let changes = plan(old, &new);
        if changes.is_empty() {
            let datafiles = current_datafiles(tx, &new)?;
            return Ok(Outcome { project: new, revision: current, changes, datafiles });
        }
        let revision = current + 1;
        let at = rfc3339(SystemTime::now());
        tx.mark_used(&ids::all_ids(&new))?;
        tx.save(&new, revision, &request.actor, &at)?;
        for c in &changes {
            tx.append_audit(&AuditEntry {
                seq: 0,
                at: at.clone(),
                actor: request.actor.clone(),
                project: key.to_owned(),
                revision,
                kind: c.kind.to_owned(),
                key: c.key.clone(),
                action: c.action,
                fields: c.fields.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
            })?;
        }
        let datafiles = rebuild(tx, &new, &at)?;
        Ok(Outcome { project: new, revision, changes, datafiles })
    })
}

/// Builds every environment's datafile; records those whose content changed.
fn rebuild(tx: &mut dyn Transaction, project: &Project, at: &str) -> Result<Vec<Published>, ProjectError> {
    let mut out = Vec::new();
    for env in project.live_environments() {
        let latest = tx.latest_datafile(&env.sdk_key)?;
        let previous = latest.as_ref().map_or(0, |r| r.revision);
        // Same revision number, same bytes: nothing in this environment changed.
        let same = build_datafile(project, env, previous)?;
        if let Some(latest) = latest.filter(|r| r.json == same) {
            out.push(Published { record: latest, changed: false });
            continue;
        }
        let record = DatafileRecord {
            project: project.key.clone(),
            environment: env.key.clone(),
            sdk_key: env.sdk_key.clone(),
            revision: previous + 1,
            json: build_datafile(project, env, previous + 1)?,
        };
        tx.record_datafile(&record, at)?;
        out.push(Published { record, changed: true });
    }
    Ok(out)
}

fn current_datafiles(tx: &mut dyn Transaction, project: &Project) -> Result<Vec<Published>, ProjectError> {
    let mut out = Vec::new();
    for env in project.live_environments() {
        if let Some(record) = tx.latest_datafile(&env.sdk_key)? {
            out.push(Published { record, changed: false });
        }
    }
    Ok(out)
}

/// Objects of `old` missing from `new` come back archived.
fn keep_left_out(new: &mut Project, old: &Project) {
    fn keep<T: Clone>(new: &mut Vec<T>, old: &[T], key: impl Fn(&T) -> &str, archive: impl Fn(&mut T)) {
        let present: HashSet<String> = new.iter().map(|x| key(x).to_owned()).collect();
        for item in old.iter().filter(|o| !present.contains(key(o))) {
            let mut item = item.clone();
            archive(&mut item);
            new.push(item);
        }
    }
    debug_assert_eq!(KINDS.len(), 7, "every kind is kept below");
    keep(&mut new.environments, &old.environments, |x| &x.key, |x| x.archived = true);
    keep(&mut new.attributes, &old.attributes, |x| &x.key, |x| x.archived = true);
    keep(&mut new.audiences, &old.audiences, |x| &x.key, |x| x.archived = true);
    keep(&mut new.events, &old.events, |x| &x.key, |x| x.archived = true);
    keep(&mut new.groups, &old.groups, |x| &x.key, |x| x.archived = true);
    keep(&mut new.experiments, &old.experiments, |x| &x.key, |x| x.archived = true);
    keep(&mut new.flags, &old.flags, |x| &x.key, |x| x.archived = true);
}

/// An object's id never changes, and a new object's id was never used before.
fn check_ids(tx: &mut dyn Transaction, old: Option<&Project>, new: &Project) -> Result<(), ProjectError> {
    let mut problems = Vec::new();
    if let Some(old) = old {
        let (before, after) = (serde_json::to_value(old), serde_json::to_value(new));
        if let (Ok(before), Ok(after)) = (before, after) {
            for (kind, field) in KINDS {
                let items = |doc: &serde_json::Value| doc[field].as_array().cloned().unwrap_or_default();
                let old_items = items(&before);
                for (i, item) in items(&after).iter().enumerate() {
                    let same = old_items.iter().find(|o| o["key"] == item["key"]);
                    if let Some(o) = same
                        && o["id"] != item["id"]
                    {
                        problems.push(Problem::new(
                            format!("{field}[{i}].id"),
                            format!(
                                "{kind} {} has id {}; ids never change, so {} cannot replace it",
                                item["key"], o["id"], item["id"]
                            ),
                        ));
                    }
                }
            }
        }
    }
    let old_ids: HashSet<String> = old.map(ids::all_ids).unwrap_or_default().into_iter().collect();
    for id in ids::all_ids(new) {
        if !old_ids.contains(&id) && tx.id_used(&id)? {
            problems.push(Problem::new("id", format!("id {id:?} belonged to another object; ids are never reused")));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(ProjectError::Invalid(problems)) }
}

/// An SDK key names one environment of one project.
fn check_sdk_keys(tx: &mut dyn Transaction, project: &Project) -> Result<(), ProjectError> {
    for (i, env) in project.environments.iter().enumerate() {
        if let Some(record) = tx.latest_datafile(&env.sdk_key)?
            && (record.project != project.key || record.environment != env.key)
        {
            return Err(ProjectError::invalid(
                format!("environments[{i}].sdk_key"),
                format!(
                    "SDK key {:?} belongs to environment {:?} of project {:?}",
                    env.sdk_key, record.environment, record.project
                ),
            ));
        }
    }
    Ok(())
}

/// The stored project `key`.
pub fn load<S: Store>(store: &S, key: &str) -> Result<StoredProject, ProjectError> {
    store.read(|tx| tx.load(key))?.ok_or_else(|| ProjectError::NotFound(key.to_owned()))
}
