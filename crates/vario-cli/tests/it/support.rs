//! A `vario serve` process for tests that need a running server: the real binary, a
//! temporary data directory, a free loopback port, the admin token given by flag.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use vario_store::{LogReader, StoredEvent};

/// The admin token of every test server.
pub(crate) const ADMIN_TOKEN: &str = "support-test-admin-token-0123456789";

/// A running `vario serve`; stopped (SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    dir: tempfile::TempDir,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts a server on a free port with an empty data directory.
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Server::start`] with more `vario serve` flags.
    pub(crate) fn start_with(flags: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), flags)
    }

    /// [`Server::start_with`] on the data directory `dir` (which the server then owns).
    pub(crate) fn start_in(dir: tempfile::TempDir, flags: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vario"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--admin-token", ADMIN_TOKEN, "--data-dir"])
            .arg(dir.path())
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vario serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("vario serve: listening on ") else {
            let _ = child.kill();
            panic!("vario serve did not start: {line:?}");
        };
        Self { url: url.to_owned(), child, dir, _stdout: stdout }
    }

    /// Stops the server with SIGTERM (it drains and compacts), checks that it exited with
    /// 0, and hands back its data directory.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "vario serve ended with {status}");
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file path inside the data directory's temporary parent, for test inputs.
    pub(crate) fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Uploads `datafile` as the datafile of `sdk_key` with the admin API.
    pub(crate) fn put_datafile(&self, sdk_key: &str, datafile: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut answer = agent
            .put(format!("{}/api/v1/environments/{sdk_key}/datafile", self.url))
            .header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .send(datafile.as_bytes())
            .unwrap();
        let status = answer.status().as_u16();
        assert_eq!(status, 200, "datafile upload: {}", answer.body_mut().read_to_string().unwrap_or_default());
    }

    /// Every stored event, in log order.
    pub(crate) fn events(&self) -> Vec<StoredEvent> {
        let reader = LogReader::open(self.data_dir()).unwrap();
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |e: &StoredEvent| e.seq);
            let page = reader.events_since(after, 10_000).unwrap();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys of the top-level experiments that are no flag's feature test (what an
/// application activates directly).
pub(crate) fn ab_test_keys(datafile: &serde_json::Value) -> Vec<&str> {
    let flag_tests: std::collections::BTreeSet<&str> = datafile["featureFlags"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["experimentIds"].as_array().into_iter().flatten().filter_map(|id| id.as_str()))
        .collect();
    datafile["experiments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["id"].as_str().is_some_and(|id| !flag_tests.contains(id)))
        .filter_map(|e| e["key"].as_str())
        .collect()
}
