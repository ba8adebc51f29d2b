use std::process::Command;

fn vario() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vario"))
}

#[test]
fn validate_names_the_json_path_of_the_problem() {
    let path = std::env::temp_dir().join(format!("vario-bad-datafile-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3", "groups": [],
            "events": [], "audiences": [], "attributes": [],
            "experiments": [{"id": "1", "key": "e", "layerId": "l", "status": "Running",
              "audienceIds": [], "forcedVariations": {}, "variations": [],
              "trafficAllocation": [{"entityId": "v", "endOfRange": "x"}]}]}"#,
    )
    .unwrap();
    let out = vario().args(["datafile", "validate"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"experiments[0].trafficAllocation[0].endOfRange: expected an integer, found "x""#),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}
