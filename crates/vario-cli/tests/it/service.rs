//! The service definitions of `deploy/`: the systemd unit passes `systemd-analyze
//! verify` without a warning, with its sandboxing options in place.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(name)
}

/// `systemd-analyze verify` of `unit` (with `ExecStart` pointing at the binary under
/// test, which verify checks exists): its exit status and everything it printed.
fn verify(unit: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vario.service");
    let unit = unit.replace("/usr/local/bin/vario", env!("CARGO_BIN_EXE_vario"));
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (tools/systemd/setup.sh installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let unit = std::fs::read_to_string(deploy("vario.service")).unwrap();
    let (ok, text) = verify(&unit);
    assert!(ok && text.trim().is_empty(), "systemd-analyze verify: {text}");
    for option in [
        "ProtectSystem=strict",
        "StateDirectory=vario",
        "NoNewPrivileges=yes",
        "DynamicUser=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "Environment=VARIO_DATA_DIR=/var/lib/vario",
    ] {
        assert!(unit.contains(option), "the unit lacks {option:?}");
    }
    // The check can fail: a misspelt option is reported.
    let (_, text) = verify(&unit.replace("ProtectSystem=strict", "ProtectSystm=strict"));
    assert!(text.contains("Unknown key"), "a misspelt option went unnoticed: {text}");
}

/// The local Debian image `tools/container/setup.sh` makes (no registry is needed).
const BASE_IMAGE: &str = "localhost/vario-test/debian:bookworm";
/// crun cannot run on this kind of host (cgroup v1/v2 hybrid), and the default limits of
/// podman exceed what an unprivileged container host may set.
const RUNTIME: [&str; 2] = ["--runtime", "runc"];
const LIMITS: [&str; 4] = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];

fn run_podman(args: &[&str]) -> std::process::Output {
    Command::new("podman").args(RUNTIME).args(args).output().expect("podman (tools/container/setup.sh)")
}

/// `podman ARGS`: the exit status and everything it printed.
fn podman(args: &[&str]) -> (bool, String) {
    let out = run_podman(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The standard output of `podman ARGS`, which must succeed (podman's own complaints go
/// to standard error, such as that no systemd runs its health check timers).
fn podman_ok(args: &[&str]) -> String {
    let out = run_podman(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "podman {args:?}: {}{stderr}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stdout).unwrap()
}

/// Removes the container, volume and image of one test run, whatever happens.
struct Cleanup {
    name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.name]);
        let _ = podman(&["volume", "rm", "-f", &self.name]);
        let _ = podman(&["rmi", "-f", &format!("localhost/{}", self.name)]);
    }
}

#[test]
fn the_container_image_builds_runs_unprivileged_and_keeps_its_data_on_the_volume() {
    let file = std::fs::read_to_string(deploy("Containerfile")).unwrap();
    let runtime = &file[file.rfind("\nFROM ").expect("a runtime stage")..];
    for line in
        ["USER vario", "VOLUME [\"/var/lib/vario\"]", "HEALTHCHECK", "\"health\"", "VARIO_DATA_DIR=/var/lib/vario"]
    {
        assert!(runtime.contains(line), "the runtime stage lacks {line:?}");
    }
    assert!(file.contains("AS build") && file.contains("COPY --from=build"), "not a multi-stage build");

    // The image of deploy/Containerfile, with the binary under test in place of the
    // release build (which takes far longer than a test may).
    let name = format!("vario-image-test-{}", std::process::id());
    let _cleanup = Cleanup { name: name.clone() };
    let context = tempfile::tempdir().unwrap();
    let binary = context.path().join("vario");
    let stripped = Command::new("strip").arg("-o").arg(&binary).arg(env!("CARGO_BIN_EXE_vario")).status();
    if !stripped.is_ok_and(|s| s.success()) {
        std::fs::copy(env!("CARGO_BIN_EXE_vario"), &binary).unwrap();
    }
    let image = format!("localhost/{name}");
    let containerfile = deploy("Containerfile");
    let build_args =
        [format!("RUST_IMAGE={BASE_IMAGE}"), format!("BASE_IMAGE={BASE_IMAGE}"), "VARIO_PREBUILT=vario".to_owned()];
    // The docker image format: the OCI format has no HEALTHCHECK, and podman drops it
    // with a warning. No intermediate images (the build stage's) are kept.
    let mut args: Vec<&str> = vec!["build", "--format", "docker", "--layers=false", "--pull=never"];
    args.extend(["-f", containerfile.to_str().unwrap(), "-t", &image]);
    args.extend(LIMITS);
    for arg in &build_args {
        args.extend(["--build-arg", arg]);
    }
    args.push(context.path().to_str().unwrap());
    podman_ok(&args);
    let inspect: serde_json::Value = serde_json::from_str(&podman_ok(&["image", "inspect", &image])).unwrap();
    let health = &inspect[0]["Healthcheck"]["Test"];
    assert_eq!(health, &serde_json::json!(["CMD", "/usr/local/bin/vario", "health"]), "no health check: {inspect}");
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "vario:vario", "{config}");
    assert!(config["Volumes"].get("/var/lib/vario").is_some(), "{config}");

    // On the host's network (no port mapping needs setting up) on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("VARIO_LISTEN=127.0.0.1:{port}");
    let volume = format!("{name}:/var/lib/vario");
    let mut run = vec!["run", "-d", "--name", &name, "--network", "host", "-e", &listen, "-v", &volume];
    run.extend(LIMITS);
    run.extend(["-e", "VARIO_ADMIN_TOKEN=image-test-admin-token-0123456789abcdef", &image]);
    podman_ok(&run);
    let url = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    // Until it listens (it has started when the health check passes).
    let mut healthy = false;
    for _ in 0..100 {
        if podman(&["healthcheck", "run", &name]).0 {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(healthy, "the health check never passed: {}", podman(&["logs", &name]).1);
    assert_eq!(podman_ok(&["exec", &name, "id", "-u"]).trim(), "10001", "the server runs as root");
    let event = r#"{"account_id": "1", "project_id": "2", "revision": "3", "visitors": [{"visitor_id": "u",
        "attributes": [], "snapshots": [{"events": [{"entity_id": "9", "key": "purchase",
        "uuid": "00000000-0000-4000-8000-00000000abcd", "timestamp": 1700000000000}]}]}]}"#;
    let answer = agent.post(format!("{url}/v1/events")).header("content-type", "application/json").send(event).unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    podman_ok(&["stop", "-t", "60", &name]);
    let code = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(code.trim(), "0", "SIGTERM should end the server cleanly: {}", podman(&["logs", &name]).1);

    // The data outlives the container, on the volume.
    let mut query = vec!["run", "--rm", "--network", "none", "-v", &volume];
    query.extend(LIMITS);
    query.extend([&image, "query", "--format", "csv", "SELECT count(*) AS n FROM events"]);
    assert_eq!(podman_ok(&query).lines().map(str::trim).collect::<Vec<_>>(), ["n", "1"]);
}

#[test]
fn health_exits_0_for_a_healthy_server_and_1_without_one() {
    let server = crate::support::Server::start();
    let health = |url: &str| Command::new(env!("CARGO_BIN_EXE_vario")).args(["health", "--url", url]).output().unwrap();
    let up = health(&server.url);
    assert_eq!(up.status.code(), Some(0), "{up:?}");
    assert!(String::from_utf8_lossy(&up.stdout).contains("200"), "{up:?}");
    // The address `vario serve` would listen on, from the same variable.
    let addr = server.url.trim_start_matches("http://").replace("127.0.0.1", "0.0.0.0");
    let from_env = Command::new(env!("CARGO_BIN_EXE_vario")).arg("health").env("VARIO_LISTEN", addr).output().unwrap();
    assert_eq!(from_env.status.code(), Some(0), "{from_env:?}");
    drop(server);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(health(&format!("http://{closed}")).status.code(), Some(1));
}
