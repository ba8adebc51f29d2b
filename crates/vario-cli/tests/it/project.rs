use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Imported datafiles built back, asked of the official Python SDK.
mod official_sdk;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn vario(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vario")).args(args).env("VARIO_DATA_DIR", dir).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn apply_publishes_datafiles_and_export_applies_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let example = repo("examples/project.yaml");
    let example = example.to_str().unwrap();

    let dry = vario(dir.path(), &["project", "apply", example, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains(r#"+ create flag "checkout_redesign""#), "{}", text(&dry));
    assert!(!dir.path().join("datafiles/shop-production.json").exists());

    let applied = vario(dir.path(), &["project", "apply", example]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(text(&applied).contains("datafile shop-production (environment production) is now at revision 1"));
    let hosted = dir.path().join("datafiles/shop-production.json");
    let valid = Command::new(env!("CARGO_BIN_EXE_vario")).args(["datafile", "validate"]).arg(&hosted).output().unwrap();
    assert!(valid.status.success(), "{}", text(&valid));

    let export = vario(dir.path(), &["project", "export"]);
    assert!(export.status.success(), "{}", text(&export));
    let exported = dir.path().join("exported.yaml");
    std::fs::write(&exported, &export.stdout).unwrap();
    let again = vario(dir.path(), &["project", "apply", exported.to_str().unwrap()]);
    assert!(text(&again).contains(r#"project "shop" is up to date (revision 1)"#), "{}", text(&again));
}

#[test]
fn invalid_files_name_the_field_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "key: shop\nenvironments: [{key: production}]\nexperiments:\n  - key: e\n    audiences: nobody\n    variations: [{key: a}]\n    traffic: [{to: a, end: 20000}]\n",
    )
    .unwrap();
    let out = vario(dir.path(), &["project", "apply", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out);
    assert!(said.contains(r#"experiments[0].audiences: unknown audience "nobody""#), "{said}");
    assert!(said.contains("experiments[0].traffic[0].end: end 20000 is outside 0..=10000"), "{said}");
}

#[test]
fn import_then_explain_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let original = repo("examples/eval/datafile.json");
    let out = vario(dir.path(), &["project", "import", original.to_str().unwrap(), "--project", "eval"]);
    assert!(out.status.success(), "{}", text(&out));
    let hosted = std::fs::read_dir(dir.path().join("datafiles")).unwrap().next().unwrap().unwrap().path();
    let sdk_key = hosted.file_stem().unwrap().to_str().unwrap().to_owned();

    let explained =
        vario(dir.path(), &["explain", "--sdk-key", &sdk_key, "--user", "user-1", "--attr", "age=30", "--json"]);
    assert!(explained.status.success(), "{}", text(&explained));
    let report: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(report["user"], "user-1");
    assert!(!report["flags"].as_array().unwrap().is_empty());
    assert!(report["flags"][0]["reasons"].as_array().is_some_and(|r| !r.is_empty()), "{report}");
    let older = vario(dir.path(), &["explain", "--sdk-key", &sdk_key, "--user", "u", "--revision", "1"]);
    assert!(older.status.success(), "{}", text(&older));
    let missing = vario(dir.path(), &["explain", "--sdk-key", &sdk_key, "--user", "u", "--revision", "9"]);
    assert_eq!(missing.status.code(), Some(2));

    let same = vario(dir.path(), &["datafile", "diff", hosted.to_str().unwrap(), hosted.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    let differ = vario(dir.path(), &["datafile", "diff", original.to_str().unwrap(), hosted.to_str().unwrap()]);
    assert_eq!(differ.status.code(), Some(1));
    assert!(text(&differ).contains("~ revision:"), "{}", text(&differ));
}

/// `GET /datafiles/{file}` of `server`: (status, ETag, body).
fn fetch_datafile(server: &crate::support::Server, file: &str, if_none_match: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(format!("{}/datafiles/{file}", server.url));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let mut answer = request.call().unwrap();
    let etag = answer.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (answer.status().as_u16(), etag, answer.body_mut().read_to_string().unwrap_or_default())
}

/// The README's walkthrough with a YAML file: `vario project apply` while `vario serve`
/// runs on the same data directory; the server serves each new datafile at once, and an
/// event the project declares is accepted.
#[test]
fn a_running_server_serves_what_the_command_line_applies() {
    let server = crate::support::Server::start();
    let dir = server.data_dir().to_str().unwrap().to_owned();
    assert_eq!(fetch_datafile(&server, "shop-production.json", None).0, 404);

    let example = std::fs::read_to_string(repo("examples/project.yaml")).unwrap();
    let file = server.scratch("project.yaml");
    std::fs::write(&file, &example).unwrap();
    let applied = vario(server.data_dir(), &["project", "apply", file.to_str().unwrap(), "--data-dir", &dir]);
    assert!(applied.status.success(), "{}", text(&applied));
    let (status, etag, body) = fetch_datafile(&server, "shop-production.json", None);
    assert_eq!(status, 200, "{body}");
    let first: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["revision"], "1");
    assert_eq!(fetch_datafile(&server, "shop-production.json", Some(&etag)).0, 304);

    // A second change on the command line: the next request gets it, with a new ETag.
    let changed = example.replace("{to: control, end: 5000}", "{to: control, end: 4000}");
    assert_ne!(changed, example);
    std::fs::write(&file, &changed).unwrap();
    let applied = vario(server.data_dir(), &["project", "apply", file.to_str().unwrap(), "--data-dir", &dir]);
    assert!(applied.status.success(), "{}", text(&applied));
    let (status, new_etag, body) = fetch_datafile(&server, "shop-production.json", Some(&etag));
    assert_eq!(status, 200, "{body}");
    assert_ne!(new_etag, etag);
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["revision"], "2");

    // The application tracks an event the project declares.
    let batch = serde_json::json!({
        "account_id": second["accountId"], "project_id": second["projectId"],
        "visitors": [{"visitor_id": "user-1", "snapshots": [{"events": [{
            "key": "purchase", "uuid": "3f1e0c5a-0000-4000-8000-000000000001",
            "timestamp": 1_700_000_000_000_i64, "revenue": 4200}]}]}]
    });
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let answer = agent
        .post(format!("{}/v1/events", server.url))
        .header("content-type", "application/json")
        .send(batch.to_string().as_bytes())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    assert_eq!(server.events().len(), 1);
}
