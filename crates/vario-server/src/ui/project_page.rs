//! The overview (`/ui`: projects and hosted datafiles with their experiments) and the
//! project page (`/ui/projects/{project}`: environments with their datafile revisions,
//! experiments, flags, audiences, events with recent volume, the audit log).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use vario_project::model::{Range, StatusMap, status_in};
use vario_project::{Project, Store};

use super::html::{Nav, date_hour, error_page, esc, int, page, respond, url_encode};
use crate::state::AppState;

/// How far back "recent" event volume looks.
const RECENT_DAYS: i64 = 7;

/// How many audit entries the page shows (the API pages further).
const AUDIT_ENTRIES: usize = 50;

/// `GET /ui`: every project and every hosted datafile, with links to results.
pub(super) async fn overview(State(app): State<AppState>) -> Response {
    let worker = app.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let projects = worker.projects().and_then(|s| s.read(|tx| tx.list())).map_err(|e| e.to_string());
        let datafiles = worker.datafiles().load_all().map_err(|e| e.to_string());
        (projects, datafiles)
    })
    .await;
    let Ok((projects, datafiles)) = loaded else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Overview", "the overview could not be read");
    };
    let mut body =
        String::from("<h1>Overview</h1><section aria-labelledby=\"projects\"><h2 id=\"projects\">Projects</h2>");
    match projects {
        Ok(list) if list.is_empty() => body.push_str(
            "<p class=\"muted\">No projects yet: <code>vario project apply project.yaml</code> or the projects API creates one.</p>",
        ),
        Ok(list) => {
            body.push_str("<ul class=\"cards\" id=\"project-list\">");
            for (key, revision) in list {
                let _ = write!(
                    body,
                    "<li><a href=\"/ui/projects/{}\">{}</a> <span class=\"muted\">revision {revision}</span></li>",
                    esc(&url_encode(&key)),
                    esc(&key)
                );
            }
            body.push_str("</ul>");
        }
        Err(e) => {
            let _ = write!(body, "<p class=\"notice error\">The project store cannot be read: {}</p>", esc(&e));
        }
    }
    body.push_str(
        "</section><section aria-labelledby=\"hosted\"><h2 id=\"hosted\">Hosted datafiles and their experiments</h2>",
    );
    match datafiles {
        Ok(list) if list.is_empty() => body.push_str("<p class=\"muted\">No datafiles hosted yet.</p>"),
        Ok(list) => {
            body.push_str(
                "<div class=\"scroll\"><table class=\"data\" id=\"datafiles\"><thead><tr><th scope=\"col\">SDK key</th>\
                 <th scope=\"col\">Revision</th><th scope=\"col\">Experiments (results)</th><th scope=\"col\" class=\"n\">Flags</th></tr></thead><tbody>",
            );
            for stored in list {
                let doc: Value = serde_json::from_slice(&stored.bytes).unwrap_or(Value::Null);
                let experiments: Vec<String> = all_experiments(&doc)
                    .filter_map(|e| e["key"].as_str())
                    .map(|k| {
                        let q = format!("?sdk_key={}", url_encode(&stored.sdk_key));
                        format!("<a href=\"/ui/experiments/{}{}\">{}</a>", esc(&url_encode(k)), esc(&q), esc(k))
                    })
                    .collect();
                let flags = doc["featureFlags"].as_array().map_or(0, Vec::len);
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\"><a href=\"/datafiles/{0}.json\">{1}</a></th><td>{2}</td><td>{3}</td><td class=\"n\">{flags}</td></tr>",
                    esc(&url_encode(&stored.sdk_key)),
                    esc(&stored.sdk_key),
                    esc(doc["revision"].as_str().unwrap_or("?")),
                    if experiments.is_empty() { "–".into() } else { experiments.join(", ") },
                );
            }
            body.push_str("</tbody></table></div>");
        }
        Err(e) => {
            let _ = write!(body, "<p class=\"notice error\">The datafiles cannot be read: {}</p>", esc(&e));
        }
    }
    body.push_str("</section>");
    respond(StatusCode::OK, page("Overview", Nav::Home, &body))
}

/// Top-level experiments and those inside groups.
fn all_experiments(doc: &Value) -> impl Iterator<Item = &Value> {
    let top = doc["experiments"].as_array().into_iter().flatten();
    let grouped =
        doc["groups"].as_array().into_iter().flatten().flat_map(|g| g["experiments"].as_array().into_iter().flatten());
    top.chain(grouped)
}

/// Per event key: (events in the last [`RECENT_DAYS`] days, all events, last time).
type Volume = HashMap<String, (u64, u64, Option<i64>)>;

fn event_volume(app: &AppState, project_id: &str) -> Result<Volume, String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let since = now - RECENT_DAYS * 86_400_000;
    let sql = format!(
        "SELECT event_key, sum(CASE WHEN timestamp >= {since} THEN 1 ELSE 0 END) AS recent, count(*) AS total, \
         max(timestamp) AS last FROM events WHERE kind = 'conversion' AND project_id = '{}' GROUP BY event_key",
        project_id.replace('\'', "''")
    );
    let answer = vario_store::query(&app.config().data_dir, &sql).map_err(|e| e.to_string())?;
    Ok(answer
        .rows
        .into_iter()
        .filter_map(|row| {
            let key = row.first()?.as_str()?.to_owned();
            let n = |i: usize| row.get(i).and_then(Value::as_u64).unwrap_or(0);
            Some((key, (n(1), n(2), row.get(3).and_then(Value::as_i64))))
        })
        .collect())
}

/// `GET /ui/projects/{project}`.
pub(super) async fn project_page(State(app): State<AppState>, Path(key): Path<String>) -> Response {
    let worker = app.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let store = worker.projects().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let stored = vario_project::load(&*store, &key).map_err(|e| match e {
            vario_project::ProjectError::NotFound(_) => (StatusCode::NOT_FOUND, format!("no project {key:?}")),
            e => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        })?;
        let audit = store.read(|tx| tx.audit_log(&key, AUDIT_ENTRIES)).map_err(|e| e.to_string());
        let volume = event_volume(&worker, &stored.project.id);
        Ok((stored, audit, volume))
    })
    .await;
    let (stored, audit, volume) = match loaded {
        Ok(Ok(found)) => found,
        Ok(Err((status, message))) => return error_page(status, "Project", &message),
        Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Project", "the project could not be read"),
    };
    let project = vario_project::live(&stored.project);
    let mut body = format!(
        "<h1>Project {}</h1><p class=\"summary\">{} · id {} · revision {}</p>",
        esc(&project.key),
        esc(&project.name),
        esc(&project.id),
        stored.revision
    );
    body.push_str(&environments(&app, &project));
    body.push_str(&experiments(&project));
    body.push_str(&flags(&project));
    body.push_str(&audiences(&project));
    body.push_str(&events(&project, volume));
    body.push_str(&audit_log(audit));
    respond(StatusCode::OK, page(&format!("Project {}", project.key), Nav::Home, &body))
}

/// How the API spells an enum value (`running`, `ab_test`, `create`).
fn wire_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn table(id: &str, title: &str, head: &[&str], rows: &str) -> String {
    let mut out = format!("<section aria-labelledby=\"{id}-h\"><h2 id=\"{id}-h\">{title}</h2>");
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">None.</p></section>");
        return out;
    }
    let _ = write!(out, "<div class=\"scroll\"><table class=\"data\" id=\"{id}\"><thead><tr>");
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{h}</th>");
    }
    let _ = write!(out, "</tr></thead><tbody>{rows}</tbody></table></div></section>");
    out
}

fn environments(app: &AppState, project: &Project) -> String {
    let mut rows = String::new();
    for env in &project.environments {
        let revision = app
            .hosted(&env.sdk_key)
            .and_then(|h| serde_json::from_slice::<Value>(&h.bytes).ok())
            .and_then(|d| d["revision"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "not published".into());
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td><a href=\"/datafiles/{}.json\">{}</a></td><td data-field=\"revision\">{}</td></tr>",
            esc(&env.key),
            esc(&url_encode(&env.sdk_key)),
            esc(&env.sdk_key),
            esc(&revision)
        );
    }
    table("environments", "Environments", &["Environment", "SDK key (datafile)", "Datafile revision"], &rows)
}

fn status(map: &StatusMap, project: &Project) -> String {
    let parts: Vec<String> = project
        .environments
        .iter()
        .map(|env| {
            let s = status_in(map, &env.key);
            let name = wire_name(s);
            format!(
                "<span class=\"badge st-{n}\">{}: {}</span>",
                esc(&env.key),
                esc(&name.replace('_', " ")),
                n = esc(&name)
            )
        })
        .collect();
    parts.join(" ")
}

/// "control 50% · treatment 50%" (a range without a variation is a hole: nobody).
fn traffic(ranges: &[Range]) -> String {
    let mut start = 0;
    let mut parts = Vec::new();
    for r in ranges {
        let share = (r.end - start).max(0) as f64 / 100.0;
        start = r.end;
        if let Some(to) = &r.to {
            parts.push(format!("{} {share}%", esc(to)));
        }
    }
    if parts.is_empty() { "–".into() } else { parts.join(" · ") }
}

fn audience(conditions: Option<&Value>) -> String {
    conditions.map_or_else(|| "everyone".into(), |c| format!("<code>{}</code>", esc(&compact(c))))
}

/// Audience trees as written in YAML: strings bare, lists in brackets.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn results_link(key: &str) -> String {
    format!("<a href=\"/ui/experiments/{}\">results</a>", esc(&url_encode(key)))
}

fn experiments(project: &Project) -> String {
    let mut rows = String::new();
    for e in &project.experiments {
        let variations: Vec<String> = e.variations.iter().map(|v| esc(&v.key)).collect();
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.key),
            status(&e.status, project),
            traffic(&e.traffic),
            audience(e.audiences.as_ref()),
            variations.join(", "),
            esc(&e.metrics.join(", ")),
            results_link(&e.key)
        );
    }
    table(
        "experiments",
        "A/B tests",
        &["Experiment", "Status", "Traffic", "Audiences", "Variations", "Metrics", ""],
        &rows,
    )
}

fn flags(project: &Project) -> String {
    let mut rows = String::new();
    for f in &project.flags {
        let variations: Vec<String> =
            f.variations.iter().map(|v| format!("{}{}", esc(&v.key), if v.enabled { " (on)" } else { "" })).collect();
        let mut rules = String::from("<ol class=\"rules\">");
        for r in &f.rules {
            let kind = wire_name(r.kind);
            let link = if kind == "ab_test" { format!(" · {}", results_link(&r.key)) } else { String::new() };
            let _ = write!(
                rules,
                "<li><strong>{}</strong> <span class=\"muted\">{}</span> {} · {} · audiences {}{link}</li>",
                esc(&r.key),
                esc(&kind.replace('_', " ")),
                status(&r.status, project),
                traffic(&r.traffic),
                audience(r.audiences.as_ref())
            );
        }
        let everyone = f.everyone_else.variation.as_deref().map_or_else(
            || "no decision".into(),
            |v| format!("{} ({}%)", esc(v), f.everyone_else.end.unwrap_or(10_000) as f64 / 100.0),
        );
        let _ = write!(rules, "<li><strong>everyone else</strong> · {everyone}</li></ol>");
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{rules}</td></tr>",
            esc(&f.key),
            variations.join(", ")
        );
    }
    table("flags", "Flags", &["Flag", "Variations", "Rules, in order"], &rows)
}

fn audiences(project: &Project) -> String {
    let mut rows = String::new();
    for a in &project.audiences {
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td><code>{}</code></td></tr>",
            esc(&a.key),
            esc(&a.name),
            esc(&a.conditions.to_string())
        );
    }
    table("audiences", "Audiences", &["Audience", "Name", "Conditions"], &rows)
}

fn events(project: &Project, volume: Result<Volume, String>) -> String {
    let (volume, problem) = match volume {
        Ok(v) => (v, String::new()),
        Err(e) => (Volume::new(), format!("<p class=\"muted\">Event counts are not available: {}</p>", esc(&e))),
    };
    let mut rows = String::new();
    for e in &project.events {
        let (recent, total, last) = volume.get(&e.key).copied().unwrap_or((0, 0, None));
        let _ = write!(
            rows,
            "<tr data-event=\"{k}\"><th scope=\"row\">{k}</th><td>{}</td><td class=\"n\" data-field=\"recent\">{}</td>\
             <td class=\"n\" data-field=\"total\">{}</td><td>{}</td></tr>",
            esc(&e.description),
            int(recent),
            int(total),
            last.map_or_else(|| "never".into(), date_hour),
            k = esc(&e.key),
        );
    }
    let recent = format!("Last {RECENT_DAYS} days");
    let mut out = table("events", "Events", &["Event", "Description", &recent, "All time", "Last seen (UTC)"], &rows);
    out.push_str(&problem);
    out
}

fn audit_log(entries: Result<Vec<vario_project::AuditEntry>, String>) -> String {
    let entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            return format!(
                "<h2>Audit log</h2><p class=\"notice error\">The audit log cannot be read: {}</p>",
                esc(&e)
            );
        }
    };
    let mut rows = String::new();
    for e in &entries {
        let action = wire_name(e.action);
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{} <strong>{}</strong></td><td>{}</td><td>{}</td></tr>",
            esc(&e.at),
            esc(&e.actor),
            e.revision,
            esc(&e.kind),
            esc(&e.key),
            esc(&action),
            esc(&e.fields.join(", "))
        );
    }
    let title = format!("Audit log (latest {AUDIT_ENTRIES})");
    table("audit", &title, &["When (UTC)", "Who", "Revision", "Object", "Action", "Fields"], &rows)
}
