//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! which `scripts/test` installs): a small client of the W3C protocol on the blocking
//! HTTP client the tests already use, so no browser-automation crate is compiled.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The browser binary (`VARIO_CHROMIUM` overrides).
fn chromium() -> PathBuf {
    std::env::var_os("VARIO_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// The WebDriver server of that browser (`VARIO_CHROMEDRIVER` overrides).
fn chromedriver() -> PathBuf {
    std::env::var_os("VARIO_CHROMEDRIVER").map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from)
}

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the browser and its driver stop when dropped.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, `width`×`height`.
    pub(crate) fn start(width: u32, height: u32) -> Self {
        for path in [chromium(), chromedriver()] {
            assert!(
                path.exists(),
                "{} is missing: install it with `apt-get install -y chromium chromium-driver` (scripts/test does)",
                path.display()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Self { driver, base: format!("http://127.0.0.1:{port}"), agent, _profile: profile };
        let started = Instant::now();
        while browser.call("GET", "/status", None).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium(), "args": args}
        }}});
        let session = browser.call("POST", "/session", Some(capabilities)).expect("a browser session");
        let id = session["sessionId"].as_str().expect("session id").to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url);
        let sent = match body {
            Some(body) => {
                self.agent.run(request.header("content-type", "application/json").body(body.to_string()).unwrap())
            }
            None => self.agent.run(request.body(()).unwrap()),
        };
        let mut response = sent.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status != 200 {
            return Err(format!("{method} {path}: {status} {}", answer["value"]));
        }
        Ok(answer["value"].clone())
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens `url` and waits for it to load.
    pub(crate) fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({"url": url})));
    }

    /// The current address.
    pub(crate) fn url(&self) -> String {
        self.must("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value;
    /// a returned promise is awaited.
    pub(crate) fn run(&self, script: &str, args: Value) -> Value {
        self.must("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Waits (10 s at most) until `condition`, a JavaScript expression, is true: a
    /// click on a submit button may return before the next page is there.
    pub(crate) fn wait_until(&self, condition: &str) {
        let started = Instant::now();
        let script = format!("return !!({condition});");
        // A page being replaced may fail the script: that counts as not yet.
        while self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []}))) != Ok(Value::Bool(true)) {
            assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {condition}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.must("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// Types `text` into the element `css`.
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.must("POST", &format!("/element/{id}/value"), Some(json!({"text": text})));
    }

    /// Clicks the element `css` (a link or submit button: waits for the next page).
    pub(crate) fn click(&self, css: &str) {
        let id = self.element(css);
        self.must("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Resizes the window.
    pub(crate) fn resize(&self, width: u32, height: u32) {
        self.must("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// Saves a PNG of the viewport at `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let data = self.must("GET", "/screenshot", None);
        let png = base64_decode(data.as_str().expect("base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (the browser exits), then the driver.
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(value(*c)) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
