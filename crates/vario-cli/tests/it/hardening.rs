//! `vario serve` against clients that try to exhaust it, over real sockets: bodies
//! past their limits, idle and half-sent connections, many large batches at once,
//! queries without end, shutdown during a query, leftovers of a failed compaction, the
//! error shape of every refusal, and the sign-in defences. Memory is read from
//! `/proc/<pid>/status` (`VmHWM`, the peak resident set).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "hardening-test-admin-token-0123456789";

/// A `vario serve` process of these tests: its pid, address and log file.
struct Server {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts with `config` as its TOML file; `shell` (if any) runs before `exec`
    /// (to set an open-file limit, say).
    fn start(config: &str, shell: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, config, shell)
    }

    fn start_in(dir: tempfile::TempDir, config: &str, shell: Option<&str>) -> Self {
        let config_path = dir.path().join("vario.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let data = dir.path().join("data");
        let mut command = match shell {
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("{prefix}; exec \"$0\" \"$@\"")).arg(env!("CARGO_BIN_EXE_vario"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vario")),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(&data)
            .env("VARIO_ADMIN_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("start vario serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("vario serve: listening on http://") else {
            let _ = child.kill();
            panic!("vario serve did not start: {line:?}");
        };
        Self { addr: url.to_owned(), child, dir, _stdout: stdout }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` field of `/proc/<pid>/status`, in bytes.
    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }

    /// Peak resident memory so far.
    fn peak_memory(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    /// CPU time used so far (user and system), in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).unwrap().count()
    }

    fn sigterm(&self) {
        assert!(Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap().success());
    }

    /// Waits at most `bound` for the process to end; its status, or `None`.
    fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + bound;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// An answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The `code` of the JSON error shape, checking the shape.
    fn error_code(&self) -> String {
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        let json = self.json();
        assert!(json["error"]["message"].is_string(), "{self:?}");
        json["error"]["code"].as_str().unwrap_or_else(|| panic!("no code: {self:?}")).to_owned()
    }
}

/// Reads one answer (head, and a body of `content-length` bytes) from `stream`.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut byte)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before an answer"));
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut byte)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&byte[..n]);
    }
    Ok(Answer { status, head, body: String::from_utf8_lossy(&body).into_owned() })
}

/// Sends `request` whole and reads the answer.
fn exchange(addr: &str, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request).unwrap();
    read_answer(&mut stream).unwrap()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn form(token: &str, next: &str) -> Vec<u8> {
    format!("token={token}&next={next}").into_bytes()
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A batch of about `target_bytes` of JSON: `visitors` visitors of one purchase each,
/// with padded tags; event uuids `{id}-{k}`.
fn big_batch(id: &str, target_bytes: usize) -> (Vec<u8>, Vec<String>) {
    let visitors = (target_bytes / 1_700).clamp(1, 2_000);
    let pad = "p".repeat((target_bytes / visitors).saturating_sub(260));
    let uuids: Vec<String> = (0..visitors).map(|k| format!("{id}-{k}")).collect();
    let list: Vec<Value> = uuids
        .iter()
        .enumerate()
        .map(|(k, uuid)| {
            json!({"visitor_id": format!("user-{k}"), "attributes": [],
                   "snapshots": [{"events": [{"entity_id": "90001", "uuid": uuid, "key": "purchase",
                                              "timestamp": 1_700_000_000_000_i64, "revenue": 100,
                                              "tags": {"note": pad}}]}]})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"account_id": "1", "project_id": "2", "revision": "3",
                                          "client_name": "load-test", "client_version": "1", "visitors": list}))
    .unwrap();
    (body, uuids)
}

/// Every stored event uuid with its number of copies.
fn stored_uuids(data_dir: &Path) -> std::collections::HashMap<String, usize> {
    let reader = vario_store::LogReader::open(data_dir).unwrap();
    let mut stored = std::collections::HashMap::new();
    for event in reader.events_since(0, usize::MAX).unwrap() {
        *stored.entry(event.row.uuid).or_insert(0) += 1;
    }
    stored
}

// 1. Body limits on every route, enforced while reading.

#[test]
fn a_sign_in_form_over_its_limit_is_refused_413_without_reading_the_rest() {
    let server = Server::start("", None);
    // A form that says it is 512 MiB long, of which only a little is sent: the server
    // must answer from the first few KB, not wait for (or keep) the rest.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /ui/login HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\r\n",
        server.addr,
        512 << 20
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![b'a'; 16 * 1024]).unwrap();
    let answer = read_answer(&mut stream).expect("an answer before the whole body");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.error_code(), "payload_too_large");

    // Streamed for real: 256 MiB sent as fast as the server takes it.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(head.replace(&(512 << 20).to_string(), &(256 << 20).to_string()).as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..256 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let _ = read_answer(&mut stream);
    drop(stream);
    sender.join().unwrap();
    let peak = server.peak_memory();
    assert!(peak < 128 << 20, "peak memory {} MiB after a 256 MiB form", peak >> 20);
}

// 2. Header timeout, connection cap, open files.

#[test]
fn connections_past_the_cap_get_503_and_half_sent_requests_are_closed_after_the_header_timeout() {
    let server = Server::start("[limits]\nmax_connections = 40\nheader_timeout_seconds = 2\n", None);
    let half_sent: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"POST /v1/events HTTP/1.1\r\nhost: x\r\n").unwrap();
            s
        })
        .collect();
    // Give the server time to take them all.
    std::thread::sleep(Duration::from_millis(500));
    let refused = exchange(&server.addr, &request("GET", "/healthz", &[], b""));
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.error_code(), "overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));

    // Each half-sent request is closed by the server once the header timeout passes.
    for mut stream in half_sent {
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 1024];
        let ended = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    break false;
                }
                Err(_) => break true,
            }
        };
        assert!(ended, "a half-sent request stayed open past the header timeout");
    }
    let served = exchange(&server.addr, &request("GET", "/healthz", &[], b""));
    assert_eq!(served.status, 200, "{served:?}");
}

#[test]
fn the_open_file_limit_is_raised_and_files_are_kept_for_storage() {
    // A soft limit below the hard one: the server raises it.
    let server = Server::start("", Some("ulimit -S -n 300"));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft limit raised to the hard one: {line}");
    drop(server);

    // A hard limit of 400: connections may use what storage does not need.
    let server = Server::start("", Some("ulimit -n 400"));
    let open: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(&server.addr).ok()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let free = 400usize.saturating_sub(server.open_fds());
    assert!(free >= 200, "only {free} of 400 files left for storage with {} connections open", open.len());
    drop(open);
    let agent = agent(Duration::from_secs(20));
    let answer = agent.get(format!("{}/healthz", server.url())).call().unwrap();
    assert_eq!(answer.status().as_u16(), 200);
}

// 3. The memory budget of bodies being read and parsed.

#[test]
fn many_large_batches_at_once_stay_within_the_memory_budget_and_each_is_stored_once() {
    // The default budget: 1 GiB, of which half for bodies, about 18 of these at once.
    const CLIENTS: usize = 64;
    let budget = 1u64 << 30;
    let server = Server::start("", None);
    let url = server.url();
    let overloaded = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, overloaded, acked) = (url.clone(), overloaded.clone(), acked.clone());
            std::thread::spawn(move || {
                let (body, uuids) = big_batch(&format!("c{c}"), 3_400_000);
                let agent = agent(Duration::from_secs(120));
                // Like an SDK: the same batch again after a 503.
                for _ in 0..200 {
                    let sent = agent
                        .post(format!("{url}/v1/events"))
                        .header("content-type", "application/json")
                        .send(&body[..]);
                    // A connection cut short is retried, as the SDKs do.
                    let Ok(mut answer) = sent else {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    };
                    match answer.status().as_u16() {
                        204 => {
                            acked.lock().unwrap().extend(uuids);
                            return;
                        }
                        503 => {
                            assert_eq!(answer.headers().get("retry-after").unwrap(), "1");
                            overloaded.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        status => panic!("{status}: {}", answer.body_mut().read_to_string().unwrap_or_default()),
                    }
                }
                panic!("batch c{c} never accepted");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let peak = server.peak_memory();
    assert!(overloaded.load(Ordering::Relaxed) > 0, "no 503 overloaded with {CLIENTS} large batches at once");
    assert!(peak < budget, "peak memory {} MiB over the budget of {} MiB", peak >> 20, budget >> 20);
    let stored = stored_uuids(&server.data_dir());
    let acked = acked.lock().unwrap();
    assert_eq!(acked.len(), CLIENTS * 2_000);
    eprintln!(
        "{CLIENTS} batches of 3.4 MB at once: {} answers 503, peak memory {} MiB (budget {} MiB)",
        overloaded.load(Ordering::Relaxed),
        peak >> 20,
        budget >> 20
    );
    for uuid in acked.iter() {
        assert_eq!(stored.get(uuid), Some(&1), "{uuid} not stored exactly once");
    }
}

// 4. Query limits.

fn query(server: &Server, sql: &str, timeout: Duration) -> Result<(u16, Value), ureq::Error> {
    let mut answer = agent(timeout)
        .post(format!("{}/api/v1/query", server.url()))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .send(json!({"sql": sql}).to_string().as_bytes())?;
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

#[test]
fn queries_are_refused_past_their_memory_row_and_time_limits() {
    let server = Server::start("[limits]\nquery_timeout_seconds = 2\nmax_query_rows = 1000\n", None);
    let (status, answer) =
        query(&server, "SELECT length(repeat('x', 1000000000)) AS n", Duration::from_secs(60)).unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("query_limit")), "{answer}");
    let (status, answer) =
        query(&server, "SELECT length(lpad('x', 2000000000)) AS n", Duration::from_secs(60)).unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("query_limit")), "{answer}");
    assert!(server.peak_memory() < 512 << 20, "peak memory {} MiB", server.peak_memory() >> 20);

    let (status, answer) = query(&server, "SELECT * FROM generate_series(1, 5000)", Duration::from_secs(60)).unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("query_limit")), "{answer}");
    let (status, answer) = query(&server, "SELECT * FROM generate_series(1, 10)", Duration::from_secs(60)).unwrap();
    assert_eq!(status, 200, "{answer}");

    let cross = "SELECT count(*) FROM generate_series(1, 1000000) a CROSS JOIN generate_series(1, 1000000) b \
                 WHERE a.value + b.value = 7";
    let (status, answer) = query(&server, cross, Duration::from_secs(60)).unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("query_limit")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("longer"), "{answer}");
}

const ENDLESS: &str = "SELECT count(*) FROM generate_series(1, 100000000) a CROSS JOIN generate_series(1, 100000000) b \
                       WHERE a.value + b.value = 7";

#[test]
fn a_query_whose_client_goes_away_stops_using_the_cpu() {
    let server = Server::start("[limits]\nquery_timeout_seconds = 600\n", None);
    assert!(query(&server, ENDLESS, Duration::from_secs(2)).is_err(), "the client gives up");
    // Give the server a moment to see the closed connection.
    std::thread::sleep(Duration::from_secs(1));
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(3));
    let used = server.cpu_ticks() - before;
    // A running cross join would use about 100 ticks a second per core.
    assert!(used < 60, "{used} ticks of CPU in 3 s after the client left");
}

// 5. Shutdown during a query.

#[test]
fn sigterm_during_a_query_ends_the_process_within_the_grace() {
    let mut server = Server::start("shutdown_grace_seconds = 2\n[limits]\nquery_timeout_seconds = 600\n", None);
    let url = server.url();
    let client = std::thread::spawn(move || {
        let answer = agent(Duration::from_secs(120))
            .post(format!("{url}/api/v1/query"))
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .send(json!({"sql": ENDLESS}).to_string().as_bytes());
        answer.map(|a| a.status().as_u16()).ok()
    });
    std::thread::sleep(Duration::from_secs(2));
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "vario serve still running 30 s after SIGTERM: {status:?}");
    let answered = client.join().unwrap();
    assert!(answered.is_none_or(|s| s == 503), "{answered:?}");
}

// 6. Leftovers of a compaction that failed.

#[test]
fn unfinished_parquet_files_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let date_dir = dir.path().join("data/events/date=2024-01-01");
    std::fs::create_dir_all(&date_dir).unwrap();
    let leftover = date_dir.join(".seq-1-5.parquet.tmp");
    std::fs::write(&leftover, b"half a Parquet file").unwrap();
    let _server = Server::start_in(dir, "", None);
    assert!(!leftover.exists(), "the temporary file of a failed compaction survived a restart");
}

// 7. Every error in the JSON shape.

#[test]
fn errors_below_the_handlers_come_in_the_json_error_shape() {
    let server = Server::start("", None);
    let addr = &server.addr;
    let answer = exchange(addr, &request("POST", "/ui/login", &[("content-type", "text/plain")], b"token=x"));
    assert_eq!((answer.status, answer.error_code().as_str()), (415, "unsupported_media_type"), "{answer:?}");
    let answer = exchange(addr, &request("POST", "/ui/login", &[FORM], b"next=/ui"));
    assert_eq!((answer.status, answer.error_code().as_str()), (400, "invalid_field"), "{answer:?}");
    let long = format!("/datafiles/{}.json", "a".repeat(10_000));
    let answer = exchange(addr, &request("GET", &long, &[], b""));
    assert_eq!((answer.status, answer.error_code().as_str()), (414, "uri_too_long"), "{answer:?}");
    let big = "b".repeat(40_000);
    let answer = exchange(addr, &request("GET", "/healthz", &[("x-big", &big)], b""));
    assert_eq!((answer.status, answer.error_code().as_str()), (431, "headers_too_large"), "{answer:?}");
    let answer = exchange(addr, &request("GET", "/api/v1/experiments/x/results?alpha=%zz", &[], b""));
    assert!(answer.status >= 400, "{answer:?}");
    answer.error_code();

    // A control character in `next` after a right token: to the pages, not a 500.
    let answer = exchange(addr, &request("POST", "/ui/login", &[FORM], &form(TOKEN, "/ui%01x")));
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.header("location"), Some("/ui"));
    assert_eq!(answer.header("referrer-policy"), Some("same-origin"));
}

// 8. Sign-in rate limit, Origin check, Secure cookies, JSON-only events.

#[test]
fn wrong_sign_ins_are_limited_per_address_and_logged_once_a_minute() {
    let server = Server::start("log = \"info\"\n[limits]\nsign_in_attempts_per_minute = 5\n", None);
    for _ in 0..5 {
        let answer = exchange(&server.addr, &request("POST", "/ui/login", &[FORM], &form("wrong-token", "/ui")));
        assert_eq!(answer.status, 401, "{answer:?}");
    }
    for _ in 0..20 {
        let answer = exchange(&server.addr, &request("POST", "/ui/login", &[FORM], &form(TOKEN, "/ui")));
        assert_eq!((answer.status, answer.error_code().as_str()), (429, "rate_limited"), "{answer:?}");
        assert!(answer.header("retry-after").is_some());
    }
    let log = server.log();
    let lines = log.lines().filter(|l| l.contains("sign-in")).count();
    assert_eq!(lines, 1, "one log line for 25 attempts:\n{log}");
    assert!(log.lines().any(|l| l.contains("WARN") && l.contains("sign-in")), "{log}");
}

#[test]
fn forms_from_another_site_are_refused_and_cookies_are_secure_behind_an_https_proxy() {
    let server = Server::start("[pages]\ntrust_proxy_headers = true\n", None);
    let addr = &server.addr;
    let evil = [FORM, ("origin", "http://evil.example")];
    let answer = exchange(addr, &request("POST", "/ui/login", &evil, &form(TOKEN, "/ui")));
    assert_eq!((answer.status, answer.error_code().as_str()), (403, "forbidden"), "{answer:?}");
    let answer = exchange(addr, &request("POST", "/ui/logout", &[("origin", "null")], b""));
    assert_eq!(answer.status, 403, "{answer:?}");

    let same = [FORM, ("origin", "http://127.0.0.1")];
    let answer = exchange(addr, &request("POST", "/ui/login", &same, &form(TOKEN, "/ui")));
    assert_eq!(answer.status, 303, "{answer:?}");
    assert!(!answer.header("set-cookie").unwrap().contains("Secure"), "{answer:?}");
    let https = [FORM, ("origin", "https://127.0.0.1"), ("x-forwarded-proto", "https")];
    let answer = exchange(addr, &request("POST", "/ui/login", &https, &form(TOKEN, "/ui")));
    assert_eq!(answer.status, 303, "{answer:?}");
    assert!(answer.header("set-cookie").unwrap().contains("; Secure"), "{answer:?}");
}

#[test]
fn events_can_be_required_to_be_json() {
    let body = br#"{"account_id": "1", "project_id": "2", "visitors": []}"#;
    let plain = [("content-type", "text/plain;charset=UTF-8")];
    let open = Server::start("", None);
    assert_eq!(exchange(&open.addr, &request("POST", "/v1/events", &plain, body)).status, 204, "sendBeacon works");
    let strict = Server::start("[events]\nrequire_json_content_type = true\n", None);
    let answer = exchange(&strict.addr, &request("POST", "/v1/events", &plain, body));
    assert_eq!((answer.status, answer.error_code().as_str()), (415, "unsupported_media_type"), "{answer:?}");
    let json_type = [("content-type", "application/json")];
    assert_eq!(exchange(&strict.addr, &request("POST", "/v1/events", &json_type, body)).status, 204);
}

/// A compaction that fails for lack of space leaves no temporary file behind. The data
/// directory is a 3 MiB tmpfs in a private mount namespace (seen from here through
/// `/proc/<pid>/root`), filled with events until the disk is full.
#[test]
fn a_compaction_that_runs_out_of_space_leaves_no_temporary_file() {
    let usable = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        eprintln!("skipped: cannot mount a tmpfs in a private mount namespace here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let config = dir.path().join("vario.toml");
    std::fs::write(&config, "[storage]\ncompact_interval_seconds = 1\nprune_after_seconds = 3600\n").unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=3m none "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(&small)
        .arg(env!("CARGO_BIN_EXE_vario"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(small.join("data"))
        .env("VARIO_ADMIN_TOKEN", TOKEN)
        .env("VARIO_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("vario serve: listening on ").expect("started").to_owned();
    let agent = agent(Duration::from_secs(20));
    let mut full = false;
    for i in 0..400 {
        let (body, _) = big_batch(&format!("full{i}"), 60_000);
        let answer = agent.post(format!("{url}/v1/events")).header("content-type", "application/json").send(&body[..]);
        if answer.map(|a| a.status().as_u16()).unwrap_or(0) == 503 {
            full = true;
            break;
        }
    }
    assert!(full, "the 3 MiB disk never filled up");
    // A few compactions into the full disk.
    std::thread::sleep(Duration::from_secs(4));
    let events =
        Path::new(&format!("/proc/{}/root", child.id())).join(small.strip_prefix("/").unwrap()).join("data/events");
    let mut leftovers = Vec::new();
    for date in std::fs::read_dir(&events).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(date.path()).into_iter().flatten().flatten() {
            if file.file_name().to_string_lossy().ends_with(".tmp") {
                leftovers.push(file.path());
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(leftovers.is_empty(), "temporary files left by failed compactions: {leftovers:?}");
}
