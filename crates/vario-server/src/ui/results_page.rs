//! The results page of an experiment (`/ui/experiments/{key}`) and its data
//! (`results.csv`, `results.json`): the results document of the API, as tables and
//! charts, with a segment and date-range picker that reload it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vario_results::{Aggregation, Granularity, MetricDoc, MetricVariation, ResultsDocument, Verdict, find_config};

use super::chart::{improvement_chart, interval_bar, visitors_chart};
use super::html::{Nav, date, esc, int, num, page, pct, query, respond, secure, signed_num, signed_pct};
use crate::error::ApiError;
use crate::routes::results::compute;
use crate::state::AppState;

/// Options the page passes on to the results API as they are.
const PASSED_ON: [&str; 7] = ["from", "to", "interval", "baseline", "alpha", "sdk_key", "exclude_multiple_exposures"];

/// The page's form (`attribute` + `value` make the segment) as results API parameters.
fn api_params(form: &HashMap<String, String>) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = PASSED_ON
        .iter()
        .filter_map(|k| form.get(*k).filter(|v| !v.trim().is_empty()).map(|v| ((*k).to_owned(), v.trim().to_owned())))
        .collect();
    match (form.get("attribute").map(|a| a.trim()), form.get("segment")) {
        (Some(attribute), _) if !attribute.is_empty() => {
            let value = form.get("value").map_or("", String::as_str);
            params.insert("segment".into(), format!("{attribute}={value}"));
        }
        (_, Some(segment)) if !segment.is_empty() => {
            params.insert("segment".into(), segment.clone());
        }
        _ => {}
    }
    params
}

/// The query string of `params` in a fixed order (links to the CSV, JSON and API).
fn api_query(params: &HashMap<String, String>) -> String {
    let order = ["from", "to", "segment", "interval", "baseline", "alpha", "sdk_key", "exclude_multiple_exposures"];
    let pairs: Vec<(&str, Option<&str>)> = order.iter().map(|k| (*k, params.get(*k).map(String::as_str))).collect();
    query(&pairs)
}

/// `GET /ui/experiments/{key}`.
pub(super) async fn results_page(
    State(app): State<AppState>,
    Path(key): Path<String>,
    Query(form): Query<HashMap<String, String>>,
) -> Response {
    let params = api_params(&form);
    let choices = segment_choices(&app, &key, params.get("sdk_key").cloned()).await;
    let answer = compute(&app, &key, &params).await;
    let mut body = format!("<h1>Results: {}</h1>", esc(&key));
    body.push_str(&filters(&key, &form, &choices));
    let status = match answer {
        Ok(doc) => {
            body.push_str(&links(&key, &params));
            body.push_str(&document(&doc));
            StatusCode::OK
        }
        Err(e) => {
            let _ = write!(body, "<p class=\"notice error\" role=\"alert\" id=\"error\">{}</p>", esc(&e.message));
            e.code.status()
        }
    };
    respond(status, page(&format!("Results: {key}"), Nav::Home, &body))
}

/// `GET /ui/experiments/{key}/results.csv`: the CSV of `vario results --format csv`.
pub(super) async fn results_csv(
    State(app): State<AppState>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let doc = compute(&app, &key, &params).await?;
    let mut response = vario_results::table::render_csv(&doc).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let file: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}-results.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    secure(headers);
    Ok(response)
}

/// `GET /ui/experiments/{key}/results.json`: the results document, for a signed-in
/// browser (the API itself wants the token in a header).
pub(super) async fn results_json(
    State(app): State<AppState>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let doc = compute(&app, &key, &params).await?;
    let mut response = Json((*doc).clone()).into_response();
    secure(response.headers_mut());
    Ok(response)
}

/// Attribute keys of the experiment's datafile, each with values seen on its decisions
/// (a sample, as suggestions: any value may be typed).
async fn segment_choices(app: &AppState, key: &str, sdk_key: Option<String>) -> BTreeMap<String, BTreeSet<String>> {
    let data_dir = app.config().data_dir.clone();
    let key = key.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        let config = find_config(&data_dir, &key, sdk_key.as_deref(), None).ok()?;
        let experiment = &config.experiments[config.experiment_by_key(&key)?];
        let mut choices: BTreeMap<String, BTreeSet<String>> =
            config.attributes.iter().map(|a| (a.key.clone(), BTreeSet::new())).collect();
        let sql = format!(
            "SELECT attributes FROM events WHERE kind = 'decision' AND experiment_id = '{}' LIMIT 2000",
            experiment.id.replace('\'', "''")
        );
        // No events yet (or no log) leaves the suggestions empty; the page still works.
        let rows = vario_store::query(&data_dir, &sql).map(|r| r.rows).unwrap_or_default();
        for row in rows {
            let Some(text) = row.first().and_then(|v| v.as_str()) else { continue };
            let Ok(list) = serde_json::from_str::<Vec<serde_json::Value>>(text) else { continue };
            for attribute in list {
                let Some(name) = attribute["key"].as_str().filter(|k| !k.starts_with("$opt_")) else { continue };
                let value = match &attribute["value"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let values = choices.entry(name.to_owned()).or_default();
                // Suggestions, not a census: a few dozen values per attribute.
                if values.len() < 40 {
                    values.insert(value);
                }
            }
        }
        Some(choices)
    })
    .await;
    found.ok().flatten().unwrap_or_default()
}

fn filters(key: &str, form: &HashMap<String, String>, choices: &BTreeMap<String, BTreeSet<String>>) -> String {
    let get = |k: &str| form.get(k).map_or("", |v| v.as_str());
    let (mut attribute, mut value) = (get("attribute").to_owned(), get("value").to_owned());
    if attribute.is_empty()
        && let Some((a, v)) = get("segment").split_once('=')
    {
        (attribute, value) = (a.to_owned(), v.to_owned());
    }
    let mut options = String::from("<option value=\"\">All visitors</option>");
    let mut names: BTreeSet<&str> = choices.keys().map(String::as_str).collect();
    if !attribute.is_empty() {
        names.insert(&attribute);
    }
    for name in names {
        let selected = if name == attribute { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{0}\"{selected}>{0}</option>", esc(name));
    }
    let mut datalist = String::new();
    for (name, values) in choices {
        for v in values {
            let _ = write!(datalist, "<option value=\"{}\" label=\"{}\"></option>", esc(v), esc(name));
        }
    }
    let interval = get("interval");
    let hour = if interval == "hour" { " selected" } else { "" };
    let mut hidden = String::new();
    for k in ["baseline", "alpha", "sdk_key", "exclude_multiple_exposures"] {
        if !get(k).is_empty() {
            let _ = write!(hidden, "<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(get(k)));
        }
    }
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/experiments/{path}\" aria-label=\"Segment and dates\">\
         <label>From <input type=\"date\" name=\"from\" id=\"from\" value=\"{from}\"></label>\
         <label>To <input type=\"date\" name=\"to\" id=\"to\" value=\"{to}\"></label>\
         <label>Segment <select name=\"attribute\" id=\"attribute\">{options}</select></label>\
         <label>Value <input name=\"value\" id=\"value\" list=\"segment-values\" value=\"{value}\" autocomplete=\"off\"></label>\
         <datalist id=\"segment-values\">{datalist}</datalist>\
         <label>Looks <select name=\"interval\" id=\"interval\"><option value=\"day\">daily</option><option value=\"hour\"{hour}>hourly</option></select></label>\
         {hidden}<div class=\"actions\"><button type=\"submit\" id=\"apply\">Apply</button>\
         <a href=\"/ui/experiments/{path}\">Reset</a></div></form>",
        path = esc(&super::html::url_encode(key)),
        from = esc(get("from")),
        to = esc(get("to")),
        value = esc(&value),
    )
}

fn links(key: &str, params: &HashMap<String, String>) -> String {
    let path = esc(&super::html::url_encode(key));
    let q = api_query(params);
    format!(
        "<p class=\"links\"><a id=\"csv\" href=\"/ui/experiments/{path}/results.csv{q}\" download>Download CSV</a>\
         <a id=\"json\" href=\"/ui/experiments/{path}/results.json{q}\">JSON</a>\
         <span>API: <code>GET /api/v1/experiments/{path}/results{q}</code></span></p>"
    )
}

fn document(doc: &ResultsDocument) -> String {
    let mut out = String::new();
    let window = |t: Option<i64>, open: &str| t.map_or_else(|| open.to_owned(), date);
    let segment =
        doc.segment.as_ref().map_or_else(|| "all visitors".to_owned(), |s| format!("{} = {}", s.attribute, s.value));
    let _ = write!(
        out,
        "<p class=\"summary\" id=\"summary\">Experiment {} · baseline <strong>{}</strong> · α = {} · \
         <span id=\"window\">{} to {}</span> · segment <strong id=\"segment\">{}</strong></p>",
        esc(&doc.experiment.id),
        esc(&doc.baseline),
        doc.alpha,
        window(doc.window.from, "first visitor"),
        window(doc.window.to, "now"),
        esc(&segment)
    );
    let observed: u64 = doc.variations.iter().map(|v| v.visitors).sum();
    if doc.srm.mismatch {
        let _ = write!(
            out,
            "<div class=\"notice error\" role=\"alert\" id=\"srm-warning\"><strong>Sample ratio mismatch.</strong> \
             The visitors are not split as the traffic allocation says (χ² p = {}). Assignment or logging is \
             broken; do not trust these results until that is explained.</div>",
            num(doc.srm.p_value)
        );
    }
    if doc.multiple_exposures.visitors > 0 {
        let _ = write!(
            out,
            "<p class=\"notice\">{} visitors saw more than one variation{}.</p>",
            int(doc.multiple_exposures.visitors),
            if doc.multiple_exposures.excluded { " and are left out" } else { "; they count in their first" }
        );
    }
    for (i, metric) in doc.metrics.iter().enumerate() {
        out.push_str(&metric_section(i, metric, doc.granularity));
    }
    if doc.metrics.is_empty() {
        out.push_str("<p class=\"notice\">No metrics: no event of the datafile lists this experiment.</p>");
    }
    out.push_str("<section aria-labelledby=\"traffic\"><h2 id=\"traffic\">Visitors</h2><div class=\"scroll\"><table class=\"data\" id=\"visitors\">\
                  <thead><tr><th scope=\"col\">Variation</th><th scope=\"col\" class=\"n\">Visitors</th>\
                  <th scope=\"col\" class=\"n\">Share</th><th scope=\"col\" class=\"n\">Configured</th></tr></thead><tbody>");
    for (i, v) in doc.variations.iter().enumerate() {
        let share = if observed > 0 { pct(v.visitors as f64 / observed as f64) } else { "–".into() };
        let expected = doc.srm.expected_shares.get(i).map_or_else(|| "–".into(), |s| pct(*s));
        let _ = write!(
            out,
            "<tr data-variation=\"{k}\"><th scope=\"row\"><span class=\"key s{c}\">{k}</span></th>\
             <td class=\"n\" data-field=\"visitors\" data-value=\"{n}\">{}</td><td class=\"n\">{share}</td><td class=\"n\">{expected}</td></tr>",
            int(v.visitors),
            k = esc(&v.key),
            c = i % 6,
            n = v.visitors
        );
    }
    let _ = write!(
        out,
        "</tbody></table></div><p class=\"muted\">Sample ratio check: p = {}{}</p>",
        num(doc.srm.p_value),
        if doc.srm.mismatch { " (mismatch)" } else { ", no mismatch" }
    );
    if let Some(first) = doc.metrics.first() {
        out.push_str(&visitors_chart(first, doc.granularity));
    }
    out.push_str("</section>");
    out
}

fn labels(aggregation: Aggregation) -> (&'static str, &'static str) {
    match aggregation {
        Aggregation::UniqueConversions => ("Converted visitors", "Conversion rate"),
        Aggregation::TotalConversions => ("Conversions", "Per visitor"),
        Aggregation::Revenue => ("Revenue", "Per visitor"),
        Aggregation::Value => ("Value", "Per visitor"),
        Aggregation::Sql => ("Sum", "Per visitor"),
    }
}

fn metric_section(index: usize, metric: &MetricDoc, granularity: Granularity) -> String {
    let (sum_label, mean_label) = labels(metric.aggregation);
    let rate = metric.aggregation == Aggregation::UniqueConversions;
    let span = metric
        .variations
        .iter()
        .flat_map(|v| [v.ci_low, v.ci_high, v.improvement])
        .flatten()
        .filter(|x| x.is_finite())
        .fold(0.0_f64, |m, x| m.max(x.abs()));
    let mut out = format!(
        "<section class=\"metric\" data-metric=\"{name}\" aria-labelledby=\"m{index}\"><h2 id=\"m{index}\">{name}</h2>\
         <div class=\"scroll\"><table class=\"data\"><thead><tr><th scope=\"col\">Variation</th>\
         <th scope=\"col\" class=\"n\">Visitors</th><th scope=\"col\" class=\"n\">{sum_label}</th>\
         <th scope=\"col\" class=\"n\">{mean_label}</th><th scope=\"col\" class=\"n\">Improvement</th>\
         <th scope=\"col\">Interval</th><th scope=\"col\" class=\"n\">Significance</th><th scope=\"col\">Result</th></tr></thead><tbody>",
        name = esc(&metric.name)
    );
    let mut relative = false;
    for (i, v) in metric.variations.iter().enumerate() {
        relative |= is_relative(v);
        out.push_str(&row(i, v, rate, span));
    }
    out.push_str("</tbody></table></div>");
    if metric.variations.len() > 1 {
        out.push_str(&improvement_chart(metric, granularity, relative));
    }
    out.push_str("</section>");
    out
}

/// Whether the improvement is a relative lift (shown in percent) rather than a
/// difference of means; read as the document spells the scale.
fn is_relative(v: &MetricVariation) -> bool {
    serde_json::to_value(v.scale).is_ok_and(|s| s == "relative")
}

fn cell(field: &str, value: Option<f64>, text: &str) -> String {
    let data = value.map_or_else(String::new, |v| format!(" data-value=\"{v}\""));
    format!("<td class=\"n\" data-field=\"{field}\"{data}>{}</td>", esc(text))
}

/// Significance in percent; never rounded up to a certain-looking 100%.
fn significance(s: f64) -> String {
    if s > 0.9999 && s < 1.0 { ">99.99%".into() } else { pct(s) }
}

fn row(color: usize, v: &MetricVariation, rate: bool, span: f64) -> String {
    let relative = is_relative(v);
    let show = |x: f64| if relative { signed_pct(x) } else { signed_num(x) };
    let mean = v.mean.map_or_else(|| "–".into(), |m| if rate { pct(m) } else { num(m) });
    let improvement = v.improvement.map_or_else(|| "–".into(), show);
    let (status, label) = match v.status {
        Verdict::Baseline => ("baseline", "Baseline"),
        Verdict::Winner => ("winner", "Winner"),
        Verdict::Loser => ("loser", "Loser"),
        Verdict::Inconclusive => ("inconclusive", "Inconclusive"),
    };
    let interval = match (v.ci_low, v.ci_high, v.improvement) {
        (Some(lo), Some(hi), Some(point)) => {
            let text = format!("{} to {}", show(lo), show(hi));
            format!(
                "<td class=\"interval\" data-field=\"interval\" data-low=\"{lo}\" data-high=\"{hi}\">{}<span>{}</span></td>",
                interval_bar(lo, hi, point, span, status, &format!("interval {text}")),
                esc(&text)
            )
        }
        _ => "<td class=\"interval\" data-field=\"interval\">–</td>".into(),
    };
    let note = v.note.as_deref().map_or_else(String::new, |n| format!("<small>{}</small>", esc(&n.replace('_', " "))));
    format!(
        "<tr data-variation=\"{k}\" data-status=\"{status}\"><th scope=\"row\"><span class=\"key s{c}\">{k}</span></th>{}{}{}{}{interval}{}\
         <td data-field=\"status\"><span class=\"badge {status}\">{label}</span>{note}</td></tr>",
        cell("visitors", Some(v.visitors as f64), &int(v.visitors)),
        cell("sum", Some(v.sum), &num(v.sum)),
        cell("mean", v.mean, &mean),
        cell("improvement", v.improvement, &improvement),
        cell("significance", v.significance, &v.significance.map_or_else(|| "–".into(), significance)),
        k = esc(&v.variation_key),
        c = color % 6,
    )
}
