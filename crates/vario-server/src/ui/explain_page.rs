//! `/ui/explain`: a user id and attributes in, each flag's decision and each A/B test's
//! variation out, with the SDK's reasons (as `vario explain` prints them).

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use vario_datafile::ProjectConfig;
use vario_sdk::Attributes;

use super::html::{Nav, esc, page, respond};
use crate::explain::{explain, parse_attribute};
use crate::state::AppState;

/// At most this many attribute lines are read from the form.
const MAX_ATTRIBUTES: usize = 100;

/// `GET /ui/explain?sdk_key=&user=&attributes=` (attributes: `KEY=VALUE` lines).
pub(super) async fn explain_page(State(app): State<AppState>, Query(form): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| form.get(k).map_or("", |v| v.as_str());
    let keys = hosted_keys(&app).await;
    let sdk_key = if get("sdk_key").is_empty() { keys.first().map_or("", String::as_str) } else { get("sdk_key") };
    let mut options = String::new();
    for k in &keys {
        let selected = if k == sdk_key { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{0}\"{selected}>{0}</option>", esc(k));
    }
    let mut body = format!(
        "<h1>Explain a decision</h1><form class=\"filters\" method=\"get\" action=\"/ui/explain\" aria-label=\"User\">\
         <label>Environment (SDK key) <select name=\"sdk_key\" id=\"sdk_key\">{options}</select></label>\
         <label>User id <input name=\"user\" id=\"user\" required value=\"{}\"></label>\
         <label class=\"wide\"><span>Attributes, one <code>KEY=VALUE</code> per line (numbers, <code>true</code>/<code>false</code> typed)</span>\
         <textarea name=\"attributes\" id=\"attributes\" rows=\"3\">{}</textarea></label>\
         <div class=\"actions\"><button type=\"submit\" id=\"explain\">Explain</button></div></form>",
        esc(get("user")),
        esc(get("attributes"))
    );
    let mut status = StatusCode::OK;
    if !get("user").is_empty() {
        match report(&app, sdk_key, get("user"), get("attributes")).await {
            Ok(report) => body.push_str(&render(&report)),
            Err(message) => {
                status = StatusCode::BAD_REQUEST;
                let _ = write!(body, "<p class=\"notice error\" role=\"alert\" id=\"error\">{}</p>", esc(&message));
            }
        }
    }
    respond(status, page("Explain", Nav::Explain, &body))
}

async fn hosted_keys(app: &AppState) -> Vec<String> {
    let worker = app.clone();
    let found = tokio::task::spawn_blocking(move || worker.datafiles().load_all()).await;
    let mut keys: Vec<String> = found.ok().and_then(Result::ok).into_iter().flatten().map(|d| d.sdk_key).collect();
    keys.sort();
    keys
}

async fn report(app: &AppState, sdk_key: &str, user: &str, lines: &str) -> Result<Value, String> {
    let mut attributes = Attributes::new();
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()).take(MAX_ATTRIBUTES) {
        let (key, value) = parse_attribute(line).ok_or_else(|| format!("{line:?} is not KEY=VALUE"))?;
        attributes.insert(key.trim(), value);
    }
    let hosted = app.hosted(sdk_key).ok_or_else(|| format!("no datafile is hosted for SDK key {sdk_key:?}"))?;
    let user = user.to_owned();
    tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&hosted.bytes).map_err(|e| format!("the datafile is not UTF-8: {e}"))?;
        let config = ProjectConfig::from_json(text).map_err(|e| format!("invalid datafile: {e}"))?;
        explain(text, &config, &user, &attributes).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the explanation failed: {e}"))?
}

fn reasons(item: &Value) -> String {
    let list: Vec<String> = item["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| format!("<li>{}</li>", esc(r)))
        .collect();
    if list.is_empty() { String::new() } else { format!("<ul class=\"reasons\">{}</ul>", list.concat()) }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| "–".into(), esc)
}

fn render(report: &Value) -> String {
    let mut out = format!(
        "<p class=\"summary\" id=\"explained\">User <strong>{}</strong> at datafile revision {}</p>\
         <section aria-labelledby=\"flags-h\"><h2 id=\"flags-h\">Flags</h2>",
        text(&report["user"]),
        text(&report["revision"])
    );
    let flags = report["flags"].as_array().map_or(&[][..], Vec::as_slice);
    if flags.is_empty() {
        out.push_str("<p class=\"muted\">The datafile has no flags.</p>");
    }
    for f in flags {
        let on = f["enabled"].as_bool() == Some(true);
        let variables = f["variables"].as_object().filter(|m| !m.is_empty()).map_or_else(String::new, |m| {
            format!("<p>Variables: <code>{}</code></p>", esc(&Value::Object(m.clone()).to_string()))
        });
        let _ = write!(
            out,
            "<article class=\"decision\" data-flag=\"{k}\"><h3>{k} <span class=\"badge {c}\">{s}</span></h3>\
             <p>Variation <strong>{}</strong> · rule <strong>{}</strong></p>{variables}{}</article>",
            text(&f["variation"]),
            text(&f["rule"]),
            reasons(f),
            k = text(&f["flag"]),
            c = if on { "winner" } else { "inconclusive" },
            s = if on { "on" } else { "off" },
        );
    }
    out.push_str("</section>");
    let experiments = report["experiments"].as_array().map_or(&[][..], Vec::as_slice);
    if !experiments.is_empty() {
        out.push_str("<section aria-labelledby=\"exp-h\"><h2 id=\"exp-h\">A/B tests</h2>");
        for e in experiments {
            let _ = write!(
                out,
                "<article class=\"decision\" data-experiment=\"{k}\"><h3>{k}</h3><p>Variation <strong>{}</strong></p>{}</article>",
                text(&e["variation"]),
                reasons(e),
                k = text(&e["experiment"]),
            );
        }
        out.push_str("</section>");
    }
    out
}
