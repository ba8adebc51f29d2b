//! Helpers shared by the tests.

use vario_project::{ChangeRequest, Outcome, Project, SqliteStore, change, from_yaml};

/// The example project of the repository.
pub(crate) fn example() -> Project {
    from_yaml(include_str!("../../../../examples/project.yaml")).unwrap()
}

/// A store in a temporary directory (kept alive by the returned guard).
pub(crate) fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).unwrap();
    (dir, store)
}

/// Replaces the project with `project` as `tester`.
pub(crate) fn apply(store: &SqliteStore, project: Project) -> Result<Outcome, vario_project::ProjectError> {
    let key = project.key.clone();
    change(store, &key, &ChangeRequest { actor: "tester".into(), ..ChangeRequest::default() }, |_| Ok(project))
}
