//! `vario serve` as a process: crash safety under SIGKILL, graceful SIGTERM, the
//! configuration file and variables, and a read-only data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use vario_store::LogReader;

const TOKEN: &str = "serve-test-admin-token-0123456789";
/// Events per batch in these tests.
const EVENTS: usize = 5;

struct Server {
    child: Child,
    url: String,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vario"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir).args(extra);
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        command.env("VARIO_ADMIN_TOKEN", TOKEN).env("VARIO_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().expect("start vario serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("vario serve: listening on ") else {
            let _ = child.kill();
            panic!("vario serve did not start: {line:?}");
        };
        Self { url: url.to_owned(), child, _stdout: stdout }
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn batch(id: &str) -> Vec<u8> {
    let visitors: Vec<Value> = (0..EVENTS)
        .map(|k| {
            json!({"visitor_id": format!("user-{k}"), "attributes": [],
                   "snapshots": [{"events": [{"entity_id": "90001", "uuid": format!("{id}-{k}"), "key": "purchase",
                                              "timestamp": 1_700_000_000_000_i64, "revenue": 100 + k}]}]})
        })
        .collect();
    serde_json::to_vec(&json!({"account_id": "1", "project_id": "2", "revision": "3",
                               "client_name": "crash-test", "client_version": "1", "visitors": visitors}))
    .unwrap()
}

/// (status, body), or `None` when the connection failed.
fn post(agent: &ureq::Agent, url: &str, body: &[u8], headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut request = agent.post(format!("{url}/v1/events")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).ok()?;
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Some((response.status().as_u16(), text))
}

/// A small xorshift generator: random kill moments without a dependency.
fn random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn every_acknowledged_batch_survives_sigkill_exactly_once() {
    const WORKERS: usize = 4;
    const KILLS: usize = 3;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let url: Arc<RwLock<Option<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let attempted: Arc<Mutex<Vec<String>>> = Arc::default();

    let mut server = Server::start(dir.path(), &[]);
    *url.write().unwrap() = Some(server.url.clone());
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (url, stop, acked, attempted) = (url.clone(), stop.clone(), acked.clone(), attempted.clone());
            std::thread::spawn(move || {
                let agent = agent();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("w{w}-{i}");
                    attempted.lock().unwrap().push(id.clone());
                    let body = batch(&id);
                    // Like an SDK: the same batch again until it is acknowledged.
                    while !stop.load(Ordering::Relaxed) {
                        let current = url.read().unwrap().clone();
                        match current.and_then(|u| post(&agent, &u, &body, &[])) {
                            Some((204, _)) => {
                                acked.lock().unwrap().push(id.clone());
                                break;
                            }
                            Some((status, text)) if status < 500 => panic!("{status}: {text}"),
                            _ => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                }
            })
        })
        .collect();

    let mut seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(200 + random(&mut seed) % 700));
        let before = acked.lock().unwrap().len();
        *url.write().unwrap() = None;
        server.sigkill();
        server = Server::start(dir.path(), &[]);
        *url.write().unwrap() = Some(server.url.clone());
        assert!(before > 0, "no batch acknowledged before a kill");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let status = server.terminate();
    assert!(status.success(), "SIGTERM should end vario serve with 0: {status}");

    let reader = LogReader::open(dir.path()).unwrap();
    reader.integrity_check().unwrap();
    // Every stored event's uuid, counted (the log is read once: it has no uuid index).
    let mut stored: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for event in reader.events_since(0, usize::MAX).unwrap() {
        *stored.entry(event.row.uuid).or_default() += 1;
    }
    let copies = |uuid: &str| stored.get(uuid).copied().unwrap_or(0);
    let acked = acked.lock().unwrap();
    for id in acked.iter() {
        for k in 0..EVENTS {
            let uuid = format!("{id}-{k}");
            assert_eq!(copies(&uuid), 1, "acknowledged {uuid} missing or repeated");
        }
    }
    // Batches in flight at a kill are there whole or not at all.
    let mut total = 0;
    for id in attempted.lock().unwrap().iter() {
        let present = (0..EVENTS).filter(|k| copies(&format!("{id}-{k}")) == 1).count();
        assert!(present == 0 || present == EVENTS, "batch {id} stored in part: {present} of {EVENTS}");
        total += present as u64;
    }
    assert_eq!(reader.count().unwrap(), total, "nothing stored that was not sent");
    assert!(acked.len() >= 20, "only {} batches acknowledged", acked.len());
    eprintln!("{} batches acknowledged, {total} events stored, {KILLS} kills, {:?}", acked.len(), started.elapsed());
}

#[test]
fn settings_come_from_flags_variables_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vario.toml");
    std::fs::write(
        &config,
        "log = \"warn\"\n[events]\nwrite_keys = { \"2\" = \"file-key\" }\n[limits]\nmax_visitors = 2\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut command = Command::new(env!("CARGO_BIN_EXE_vario"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("VARIO_DATA_DIR", &data)
        .env("VARIO_WRITE_KEYS", "7=env-key");
    let server = Server::spawn(command);
    let agent = agent();
    let body = batch("cfg");
    assert_eq!(post(&agent, &server.url, &body, &[]).unwrap().0, 401, "project 2 needs the file's key");
    let (status, text) = post(&agent, &server.url, &body, &[("x-vario-write-key", "file-key")]).unwrap();
    assert_eq!(status, 400, "max_visitors = 2 from the file: {text}");
    assert!(text.contains("\"too_many\""), "{text}");
    let small = serde_json::to_vec(&json!({"account_id": "1", "project_id": "7", "visitors": []})).unwrap();
    assert_eq!(post(&agent, &server.url, &small, &[]).unwrap().0, 401, "project 7 needs the variable's key");
    assert_eq!(post(&agent, &server.url, &small, &[("authorization", "Bearer env-key")]).unwrap().0, 204);
    assert!(server.terminate().success());
    assert!(data.join("log").is_dir(), "VARIO_DATA_DIR was used");

    std::fs::write(&config, "[limits]\nmax_visitorz = 2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vario")).args(["serve", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_visitorz"), "{stderr}");
}

/// Status and `Access-Control-Allow-Origin` of a preflight for an event POST from `origin`.
fn preflight(agent: &ureq::Agent, url: &str, origin: &str) -> (u16, Option<String>) {
    let request = ureq::http::Request::builder()
        .method("OPTIONS")
        .uri(format!("{url}/v1/events"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(())
        .unwrap();
    let answer = agent.run(request).unwrap();
    let allowed = answer.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
    (answer.status().as_u16(), allowed)
}

#[test]
fn cors_origins_come_from_the_config_file_and_a_flag_or_variable_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vario.toml");
    std::fs::write(&config, "[cors]\nallowed_origins = [\"https://file.example\"]\nmax_age_seconds = 60\n").unwrap();
    let agent = agent();
    let server = Server::start(&dir.path().join("a"), &["--config", config.to_str().unwrap()]);
    assert_eq!(preflight(&agent, &server.url, "https://file.example"), (204, Some("https://file.example".into())));
    assert_eq!(preflight(&agent, &server.url, "https://other.example"), (403, None));
    assert!(server.terminate().success());

    let mut command = Command::new(env!("CARGO_BIN_EXE_vario"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("b"))
        .env("VARIO_CORS_ORIGINS", "https://env.example, http://localhost:3000");
    let server = Server::spawn(command);
    assert_eq!(preflight(&agent, &server.url, "http://localhost:3000").0, 204);
    assert_eq!(preflight(&agent, &server.url, "https://env.example").0, 204);
    assert_eq!(preflight(&agent, &server.url, "https://file.example").0, 403, "the variable replaced the file's list");
    assert!(server.terminate().success());

    let out = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("c"))
        .args(["--cors-origin", "https://shop.example.com/"])
        .env("VARIO_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("https://shop.example.com/") && stderr.contains("is not an origin"), "{stderr}");
}

/// A data directory that cannot be written: the server still starts, serves the
/// datafiles it has, answers events with 503 and a clear message, and the log it had
/// stays intact. As root, permissions do not bind, so the directory is made read-only
/// by a bind mount in a private mount namespace.
#[test]
fn a_read_only_data_directory_gives_503_and_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let agent = agent();
    assert_eq!(post(&agent, &server.url, &batch("ro-before"), &[]).unwrap().0, 204);
    let datafile = r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3", "groups": [],
        "experiments": [], "audiences": [], "attributes": [], "events": []}"#;
    let put = agent
        .put(format!("{}/api/v1/environments/prod/datafile", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .send(datafile.as_bytes())
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    assert!(server.terminate().success());

    let read_only = read_only_command(dir.path());
    let Some(mut command) = read_only else {
        eprintln!("skipped: cannot make a read-only directory here (privileged user without unshare)");
        return;
    };
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path());
    let server = Server::spawn(command);
    let (status, text) = post(&agent, &server.url, &batch("ro-during"), &[]).unwrap();
    assert_eq!(status, 503, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "storage_unavailable");
    assert!(error["error"]["message"].as_str().unwrap().contains("read-only"), "{text}");
    let health = agent.get(format!("{}/healthz", server.url)).call().unwrap();
    assert_eq!(health.status().as_u16(), 503);
    let mut served = agent.get(format!("{}/datafiles/prod.json", server.url)).call().unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.body_mut().read_to_string().unwrap(), datafile);
    assert!(server.terminate().success());
    restore_permissions(dir.path());

    let reader = LogReader::open(dir.path()).unwrap();
    reader.integrity_check().unwrap();
    assert_eq!(reader.count().unwrap(), EVENTS as u64);
    let server = Server::start(dir.path(), &[]);
    assert_eq!(post(&agent, &server.url, &batch("ro-after"), &[]).unwrap().0, 204);
    assert!(server.terminate().success());
    assert_eq!(LogReader::open(dir.path()).unwrap().count().unwrap(), 2 * EVENTS as u64);
}

/// A command that runs `vario` with `dir` read-only, or `None` if that cannot be arranged.
fn read_only_command(dir: &Path) -> Option<Command> {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::create_dir(&probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).unwrap();
    let permissions_bind = std::fs::File::create(probe.join("x")).is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    if permissions_bind {
        for path in [dir.join("log"), dir.join("datafiles"), dir.to_path_buf()] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        return Some(Command::new(env!("CARGO_BIN_EXE_vario")));
    }
    let usable = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        return None;
    }
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_vario"));
    Some(command)
}

fn restore_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for path in [dir.to_path_buf(), dir.join("log"), dir.join("datafiles")] {
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn agent_settings_come_from_the_config_file_and_bad_ones_stop_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vario.toml");
    // A free port for the admin listener (taken back at once; the server binds it).
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        &config,
        format!(
            "[agent]\nnotifications = true\nuser_profiles = 10\n[agent.admin]\nlisten = \"127.0.0.1:{admin_port}\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(&dir.path().join("a"), &["--config", config.to_str().unwrap()]);
    let agent = agent();
    let info = format!("http://127.0.0.1:{admin_port}/info");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        match agent.get(&info).call() {
            Ok(answer) => break answer,
            Err(e) => assert!(Instant::now() < deadline, "the admin listener did not answer: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(answer.status().as_u16(), 200);
    let text =
        agent.get(format!("http://127.0.0.1:{admin_port}/config")).call().unwrap().body_mut().read_to_string().unwrap();
    let config_answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(config_answer["agent"]["notifications"], true);
    assert_eq!(config_answer["agent"]["user_profiles"], 10);
    // The notification stream is served (an unknown environment: 403, not 404).
    let stream = agent
        .get(format!("{}/v1/notifications/event-stream", server.url))
        .header("x-optimizely-sdk-key", "none")
        .call()
        .unwrap();
    assert_eq!(stream.status().as_u16(), 403);
    assert!(server.terminate().success());

    std::fs::write(&config, "[agent.auth]\nhmac_secrets = [\"not base64!\"]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("agent.auth.hmac_secrets[0]"), "{stderr}");
}
