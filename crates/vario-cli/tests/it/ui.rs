//! The pages in a real headless Chromium: `vario serve` with traffic from
//! `vario simulate`, signed in with the admin token; the numbers on the results page
//! are the results API's, segments and date ranges reload them, the CSV downloads,
//! the project and explain pages show the project; nothing is served without a session.
//! Screenshots land in the test's scratch directory (and in `docs/screenshots/` with
//! `VARIO_SAVE_SCREENSHOTS=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::results::simulated;
use crate::simulate::simulation_datafile;
use crate::support::{ADMIN_TOKEN, Server};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Status, `Location` and body of a request with `headers`.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String, String) {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let sent = match body {
        Some(body) => agent().run(request.body(body.to_owned()).unwrap()),
        None => agent().run(request.body(()).unwrap()),
    };
    let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), location, text)
}

/// An admin API answer as JSON.
fn api(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let text = body.map(|b| b.to_string());
    let (status, _, answer) =
        send(method, &format!("{}{path}", server.url), &[("authorization", &bearer)], text.as_deref());
    assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Where this run's screenshots go (kept after the test, under the target directory).
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn screenshot(browser: &Browser, name: &str) {
    let path = artifacts().join(name);
    browser.screenshot(&path);
    if std::env::var_os("VARIO_SAVE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&path, docs.join(name)).unwrap();
    }
}

/// Every metric table of the page: name → rows of (variation, status, field → (data-value, text)).
const READ_TABLES: &str = r"
return [...document.querySelectorAll('section.metric')].map(s => ({
  name: s.dataset.metric,
  rows: [...s.querySelectorAll('tbody tr')].map(r => ({
    variation: r.dataset.variation, status: r.dataset.status,
    cells: Object.fromEntries([...r.querySelectorAll('td[data-field]')].map(td =>
      [td.dataset.field, {value: td.dataset.value ?? null, low: td.dataset.low ?? null,
                          high: td.dataset.high ?? null, text: td.innerText.trim()}]))}))}));";

fn number(cell: &Value, key: &str) -> Option<f64> {
    cell[key].as_str().map(|s| s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")))
}

/// Asserts that the page shows exactly the numbers of the results document `doc`.
fn assert_page_shows(browser: &Browser, doc: &Value) {
    let tables = browser.run(READ_TABLES, json!([]));
    let metrics = doc["metrics"].as_array().unwrap();
    assert_eq!(tables.as_array().unwrap().len(), metrics.len(), "{tables}");
    for (table, metric) in tables.as_array().unwrap().iter().zip(metrics) {
        assert_eq!(table["name"], metric["name"]);
        let rows = table["rows"].as_array().unwrap();
        assert_eq!(rows.len(), metric["variations"].as_array().unwrap().len());
        for (row, v) in rows.iter().zip(metric["variations"].as_array().unwrap()) {
            let what = format!("{} / {}", metric["name"], v["variation_key"]);
            assert_eq!(row["variation"], v["variation_key"], "{what}");
            assert_eq!(row["status"], v["status"], "{what}");
            let cells = &row["cells"];
            let visitors = v["visitors"].as_u64().unwrap();
            assert_eq!(cells["visitors"]["text"].as_str().unwrap().replace(',', ""), visitors.to_string(), "{what}");
            assert_eq!(number(&cells["sum"], "value"), v["sum"].as_f64(), "{what}");
            for field in ["mean", "improvement", "significance"] {
                assert_eq!(number(&cells[field], "value"), v[field].as_f64(), "{what}: {field}");
            }
            assert_eq!(number(&cells["interval"], "low"), v["ci_low"].as_f64(), "{what}");
            assert_eq!(number(&cells["interval"], "high"), v["ci_high"].as_f64(), "{what}");
            if v["status"] != "baseline" {
                let text = cells["status"]["text"].as_str().unwrap().to_lowercase();
                assert!(text.starts_with(v["status"].as_str().unwrap()), "{what}: {text}");
            }
        }
    }
    let visitors = browser.run(
        "return [...document.querySelectorAll('#visitors tbody tr')].map(r => [r.dataset.variation, \
         r.querySelector('[data-field=visitors]').dataset.value]);",
        json!([]),
    );
    let expected: Vec<Value> =
        doc["variations"].as_array().unwrap().iter().map(|v| json!([v["key"], v["visitors"].to_string()])).collect();
    assert_eq!(visitors, Value::Array(expected));
}

fn total_visitors(doc: &Value) -> u64 {
    doc["variations"].as_array().unwrap().iter().map(|v| v["visitors"].as_u64().unwrap()).sum()
}

/// A project on the simulated project's id, so its event list counts the simulated events.
fn project(project_id: &str) -> Value {
    json!({
        "key": "shop", "name": "Example shop", "id": project_id,
        "environments": [{"key": "production", "sdk_key": "shop-production"}],
        "attributes": [{"key": "country"}],
        "audiences": [{"key": "germany", "conditions": ["or", {"name": "country", "match": "exact", "value": "de"}]}],
        "events": [{"key": "purchase", "description": "Order completed"}, {"key": "signup"}],
        "experiments": [{"key": "pricing_page", "audiences": "germany",
                         "variations": [{"key": "monthly"}, {"key": "annual"}],
                         "traffic": [{"to": "monthly", "end": 5000}, {"to": "annual", "end": 10000}],
                         "metrics": ["purchase"], "status": {"production": "running"}}],
        "flags": [{"key": "new_checkout", "variations": [{"key": "off"}, {"key": "on", "enabled": true}],
                   "rules": [{"key": "new_checkout_test", "type": "ab_test",
                              "traffic": [{"to": "off", "end": 5000}, {"to": "on", "end": 10000}],
                              "metrics": ["purchase"], "status": {"production": "running"}}],
                   "everyone_else": {"variation": "off"}}]
    })
}

fn sign_in(browser: &Browser, server: &Server, token: &str) {
    browser.goto(&format!("{}/", server.url));
    assert!(browser.url().contains("/ui/login"), "{}", browser.url());
    browser.type_into("#token", token);
    browser.click("#sign-in");
}

#[test]
fn pages_show_the_api_numbers_reload_by_segment_and_dates_and_need_a_session() {
    let server = simulated();
    let url = &server.url;
    let change = api(
        &server,
        "PUT",
        "/api/v1/projects/shop",
        Some(project(simulation_datafile()["projectId"].as_str().unwrap())),
    );

    // Without a session: pages redirect to the sign-in, data is refused.
    let (status, location, _) = send("GET", &format!("{url}/ui/experiments/checkout_test"), &[], None);
    assert_eq!((status, location.as_str()), (303, "/ui/login?next=%2Fui%2Fexperiments%2Fcheckout_test"));
    let (status, _, body) = send("GET", &format!("{url}/ui/experiments/checkout_test/results.csv"), &[], None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    let forged = "vario_session=0000000000000000000000000000000000000000000000000000000000000000";
    let (status, _, _) =
        send("GET", &format!("{url}/ui/experiments/checkout_test/results.json"), &[("cookie", forged)], None);
    assert_eq!(status, 401);
    let (status, _, _) = send(
        "POST",
        &format!("{url}/ui/login"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some("token=wrong-token-0123456789"),
    );
    assert_eq!(status, 401);
    let (status, _, _) = send("GET", &format!("{url}/ui/projects/shop"), &[("cookie", forged)], None);
    assert_eq!(status, 303);

    let browser = Browser::start(1280, 800);
    sign_in(&browser, &server, "not the token at all");
    browser.wait_until("document.getElementById('error')");
    assert!(
        browser
            .run("return document.getElementById('error')?.innerText ?? ''", json!([]))
            .as_str()
            .unwrap()
            .contains("not the admin token")
    );
    sign_in(&browser, &server, ADMIN_TOKEN);
    browser.wait_until("location.pathname === '/ui'");
    assert!(browser.url().ends_with("/ui"), "{}", browser.url());
    let overview = browser.run("return document.querySelector('main').innerText", json!([]));
    assert!(
        overview.as_str().unwrap().contains("checkout_test") && overview.as_str().unwrap().contains("shop"),
        "{overview}"
    );

    // The results page equals the API.
    browser.goto(&format!("{url}/ui/experiments/checkout_test"));
    let all = api(&server, "GET", "/api/v1/experiments/checkout_test/results", None);
    assert_page_shows(&browser, &all);
    assert_eq!(
        browser.run("return document.querySelectorAll('figure.chart svg polyline').length > 2", json!([])),
        true
    );
    assert_eq!(
        browser.run("return document.getElementById('srm-warning') === null", json!([])),
        all["srm"]["mismatch"] == false
    );
    screenshot(&browser, "results-desktop.png");
    browser.run("document.querySelector('figure.chart').scrollIntoView();", json!([]));
    screenshot(&browser, "results-chart-desktop.png");
    browser.run("window.scrollTo(0, 0);", json!([]));
    browser.resize(390, 844);
    let overflow = browser.run("return document.documentElement.scrollWidth <= window.innerWidth + 1", json!([]));
    assert_eq!(overflow, true, "the page is wider than a phone");
    screenshot(&browser, "results-phone.png");
    browser.resize(1280, 800);

    // A segment picked from the suggestions reloads the numbers of that segment.
    let suggestion = browser.run(
        "const o = document.querySelector('#segment-values option'); return o ? [o.label, o.value] : null;",
        json!([]),
    );
    let (attribute, value) = (suggestion[0].as_str().unwrap().to_owned(), suggestion[1].as_str().unwrap().to_owned());
    browser.run("document.getElementById('attribute').value = arguments[0];", json!([attribute]));
    browser.type_into("#value", &value);
    browser.click("#apply");
    let segment = format!("{attribute}={value}");
    browser.wait_until("document.getElementById('segment')?.innerText !== 'all visitors'");
    let seg =
        api(&server, "GET", &format!("/api/v1/experiments/checkout_test/results?segment={}", encode(&segment)), None);
    assert_eq!(seg["segment"]["attribute"], attribute.as_str());
    assert!(total_visitors(&seg) < total_visitors(&all), "{segment}");
    assert_page_shows(&browser, &seg);
    let shown = browser.run("return document.getElementById('segment').innerText", json!([]));
    assert_eq!(shown, format!("{attribute} = {value}").as_str());

    // A date range ending on the first day keeps that day's visitors.
    let first_day = all["metrics"][0]["series"][0]["points"][0]["t"].as_i64().unwrap();
    let day = date(first_day);
    browser.goto(&format!("{url}/ui/experiments/checkout_test"));
    browser.run("document.getElementById('to').value = arguments[0];", json!([day]));
    browser.click("#apply");
    browser.wait_until(
        "document.getElementById('window')?.innerText.endsWith(' to ' + document.getElementById('to').value)",
    );
    let early = api(&server, "GET", &format!("/api/v1/experiments/checkout_test/results?to={day}"), None);
    assert!(total_visitors(&early) < total_visitors(&all));
    assert_page_shows(&browser, &early);
    assert!(browser.url().contains(&format!("to={day}")), "{}", browser.url());

    // The CSV link downloads what `vario results --format csv` prints.
    let csv = browser.run(
        "return fetch(document.getElementById('csv').href).then(r => r.text().then(t => [r.status, r.headers.get('content-type'), t]));",
        json!([]),
    );
    assert_eq!(csv[0], 200);
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"), "{csv}");
    let printed = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["results", "--experiment", "checkout_test", "--format", "csv", "--to", &day, "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    assert_eq!(csv[2].as_str().unwrap(), String::from_utf8_lossy(&printed.stdout));
    let json_link = browser.run("return fetch(document.getElementById('json').href).then(r => r.json());", json!([]));
    // JavaScript reads 0.0 as 0: compare every number as a float.
    assert_eq!(floats(json_link), floats(early.clone()));

    // The project page: experiments, flags, the datafile revision, events, the audit log.
    browser.goto(&format!("{url}/ui/projects/shop"));
    let page = browser.run("return document.querySelector('main').innerText", json!([])).as_str().unwrap().to_owned();
    for expected in ["pricing_page", "new_checkout", "new_checkout_test", "monthly 50%", "germany", "Order completed"] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    let revision =
        browser.run("return document.querySelector('#environments [data-field=revision]').innerText", json!([]));
    assert_eq!(revision, change["datafiles"][0]["revision"].to_string().as_str());
    let purchases = api(
        &server,
        "POST",
        "/api/v1/query",
        Some(json!({"sql": "SELECT count(*) FROM events WHERE kind = 'conversion' AND event_key = 'purchase'"})),
    );
    let total = browser.run(
        "return document.querySelector('[data-event=purchase] [data-field=total]').innerText.replaceAll(',', '')",
        json!([]),
    );
    assert_eq!(total, purchases["rows"][0][0].to_string().as_str());
    assert!(purchases["rows"][0][0].as_u64().unwrap() > 0);
    let audit_rows = browser.run("return document.querySelectorAll('#audit tbody tr').length", json!([]));
    assert!(audit_rows.as_u64().unwrap() >= 1, "{audit_rows}");
    screenshot(&browser, "project-desktop.png");

    // Explain: each flag's decision, as `vario explain` gives it.
    browser.goto(&format!("{url}/ui/explain"));
    browser.run("document.getElementById('sdk_key').value = 'sim_key';", json!([]));
    browser.type_into("#user", "user-42");
    browser.click("#explain");
    browser.wait_until("document.getElementById('explained')");
    let decisions = browser.run(
        "return [...document.querySelectorAll('article[data-flag]')].map(a => [a.dataset.flag, a.querySelector('p strong').innerText]);",
        json!([]),
    );
    let explained = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["explain", "--sdk-key", "sim_key", "--user", "user-42", "--json", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&explained.stdout).unwrap();
    let expected: Vec<Value> = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["flag"], f["variation"].as_str().unwrap_or("–")]))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(decisions, Value::Array(expected));
    browser.run("document.getElementById('explained').scrollIntoView();", json!([]));
    screenshot(&browser, "explain-desktop.png");

    // Signing out ends the session.
    browser.click("nav button");
    browser.wait_until("location.pathname === '/ui/login'");
    browser.goto(&format!("{url}/ui/experiments/checkout_test"));
    assert!(browser.url().contains("/ui/login"), "{}", browser.url());
}

/// `value` with every number as a float.
fn floats(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// `YYYY-MM-DD`: the UTC date of Unix milliseconds.
fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).expect("a time in range").format("%Y-%m-%d").to_string()
}
