//! What an installed `vario` brings along: its version and commit, shell completions
//! and manual pages generated from the command line definition.

use std::process::Command;

fn vario(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vario")).args(args).output().unwrap();
    assert!(out.status.success(), "vario {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every command, as `vario --help` lists it.
const COMMANDS: [&str; 8] = ["serve", "query", "results", "backup", "restore", "migrate", "completions", "man"];

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let version = vario(&["--version"]);
    let expected_commit = std::env::var("VARIO_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let commit = expected_commit.unwrap_or_else(|| "unknown".into());
    assert_eq!(version.trim(), format!("vario {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}

#[test]
fn bash_completion_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("vario.bash");
    std::fs::write(&script, vario(&["completions", "bash"])).unwrap();
    // Bash itself runs the generated function, as it would on Tab.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; _vario vario '{}' '{}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let commands = complete("vario ");
    for command in COMMANDS {
        assert!(commands.lines().any(|l| l == command), "{command} not offered: {commands}");
    }
    assert_eq!(complete("vario back").trim(), "backup");
    let flags = complete("vario backup --");
    assert!(flags.lines().any(|l| l == "--data-dir") && flags.lines().any(|l| l == "--to"), "{flags}");
}

#[test]
fn zsh_fish_and_powershell_completions_name_every_command() {
    for (shell, marker) in
        [("zsh", "#compdef vario"), ("fish", "complete -c vario"), ("powershell", "Register-ArgumentCompleter")]
    {
        let script = vario(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} does not know {command}");
        }
    }
}

#[test]
fn man_pages_describe_vario_and_each_command() {
    let page = vario(&["man"]);
    assert!(page.contains(".TH vario 1"), "{page}");
    for command in COMMANDS {
        assert!(page.contains(&format!("vario\\-{command}")), "vario(1) does not list {command}");
    }
    let dir = tempfile::tempdir().unwrap();
    vario(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    let backup = std::fs::read_to_string(dir.path().join("vario-backup.1")).unwrap();
    assert!(backup.contains(".TH vario-backup 1") && backup.contains("\\-\\-data\\-dir"), "{backup}");
    assert!(dir.path().join("vario-project-apply.1").exists(), "nested commands get pages too");
    // man(1) renders it, when installed.
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let out = Command::new("man")
            .arg("-l")
            .arg(dir.path().join("vario-backup.1"))
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("--data-dir"), "{out:?}");
    }
}
