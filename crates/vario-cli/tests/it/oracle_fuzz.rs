//! The differential fuzzer (`tools/oracle/fuzz.py`): mutated datafiles answered by
//! `vario eval` and by the official Python and JavaScript SDKs. A short seeded run; a
//! difference that `docs/compatibility.md` does not list fails it. Needs `.venv-oracle/`
//! and `tools/official-clients/node_modules/` (`tools/official-clients/setup.sh`, which
//! `scripts/test` runs first).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fuzz(args: &[&str]) -> String {
    let root = repo_root();
    let python = root.join(".venv-oracle/bin/python");
    assert!(python.exists(), "{} is missing: run tools/official-clients/setup.sh", python.display());
    let sdk = root.join("tools/official-clients/node_modules/@optimizely/optimizely-sdk");
    assert!(sdk.exists(), "{} is missing: run tools/official-clients/setup.sh", sdk.display());
    let output = Command::new(&python)
        .arg(root.join("tools/oracle/fuzz.py"))
        .args(["--vario", env!("CARGO_BIN_EXE_vario")])
        .args(args)
        .output()
        .expect("run tools/oracle/fuzz.py");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn mutated_datafiles_are_answered_like_the_official_sdks() {
    let out = fuzz(&["--seed", "1", "--datafiles", "200", "--requests", "40"]);
    assert!(out.contains("fuzz: seed 1, 200 mutated datafiles"), "{out}");
    assert!(out.contains("no unexplained difference"), "{out}");
}

#[test]
fn hand_written_case_sets_are_answered_like_both_official_sdks() {
    let compat = repo_root().join("spec/compat");
    let sets = ["13-odd-variable-values", "14-duplicate-variation-ids", "15-duplicate-experiment-keys"];
    let mut args = Vec::new();
    for set in sets {
        args.push("--case-set".to_owned());
        args.push(compat.join(set).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = fuzz(&args);
    assert_eq!(out.matches(", ok").count(), sets.len(), "{out}");
}
