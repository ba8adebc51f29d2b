//! `vario eval`: the batch decision protocol (eval-protocol.md). One SDK client answers
//! every request line in order, so forced variations and user profiles carry over.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use vario_datafile::{Experiment, Origin, ProjectConfig};
use vario_sdk::{
    Attributes, Client, DecideOptions, Decision, DispatchError, EventDispatcher, InMemoryUserProfileService, LogEvent,
};

use crate::exit_code;

/// Arguments of `vario eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The datafile every request is answered against.
    #[arg(long)]
    pub datafile: PathBuf,
    /// Where to write every dispatched event, one JSON line each.
    #[arg(long)]
    pub events_out: Option<PathBuf>,
    /// The endpoint URL reported in event lines (default: the datafile region's endpoint).
    #[arg(long)]
    pub event_endpoint: Option<String>,
}

/// Runs `vario eval` over stdin and stdout.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = match std::fs::read_to_string(&args.datafile) {
        Ok(text) => ProjectConfig::from_json(&text).map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot read {}: {e}", args.datafile.display())),
    };
    let config = match config {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("vario eval: datafile warning: {warning}");
            }
            config
        }
        Err(message) => {
            eprintln!("vario eval: invalid datafile: {message}");
            return Ok(exit_code::BAD_INPUT.into());
        }
    };
    let events = match &args.events_out {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(EventLines::new(Box::new(file), args.event_endpoint.clone()))
        }
        None => None,
    };
    let evaluator = Evaluator::new(config, events.clone())?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    evaluator.run(stdin, stdout, events.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// Event lines `{"url", "http_verb", "params"}` written to a shared, buffered sink.
#[derive(Clone)]
pub struct EventLines {
    out: Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>,
    endpoint: Option<String>,
}

impl EventLines {
    /// Event lines written to `out`; `endpoint` replaces the events' URL when set.
    pub fn new(out: Box<dyn Write + Send>, endpoint: Option<String>) -> Self {
        Self { out: Arc::new(Mutex::new(BufWriter::with_capacity(1 << 16, out))), endpoint }
    }

    /// Flushes what was written so far.
    pub fn flush(&self) -> std::io::Result<()> {
        self.out.lock().map_err(|_| std::io::Error::other("event sink poisoned"))?.flush()
    }
}

impl EventDispatcher for EventLines {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        // `{"url":…,"http_verb":…,"params":…}` with the body as sent: the bytes serde
        // would write for the same object, without building it.
        let failed = |reason: String| DispatchError::Transport { url: "events-out".into(), reason };
        let mut out = self.out.lock().map_err(|_| failed("event sink poisoned".into()))?;
        let mut write = || -> Result<(), Box<dyn std::error::Error>> {
            out.write_all(br#"{"url":"#)?;
            serde_json::to_writer(&mut *out, self.endpoint.as_deref().unwrap_or(&event.url))?;
            out.write_all(br#","http_verb":"#)?;
            serde_json::to_writer(&mut *out, event.http_verb)?;
            out.write_all(br#","params":"#)?;
            out.write_all(&event.json())?;
            out.write_all(b"}\n")?;
            Ok(())
        };
        write().map_err(|e| failed(e.to_string()))
    }
}

/// Answers protocol requests with one client.
pub struct Evaluator {
    client: Client,
}

impl Evaluator {
    /// An evaluator for `config`, with an in-memory user profile service, sending events
    /// to `events` (or nowhere).
    pub fn new(config: ProjectConfig, events: Option<EventLines>) -> anyhow::Result<Self> {
        // Immediate delivery: every event of a call is written before its response line.
        let builder = Client::builder()
            .config(Arc::new(config))
            .user_profile_service(InMemoryUserProfileService::new())
            .immediate_events();
        let client = match events {
            Some(events) => builder.event_dispatcher(events).build()?,
            None => builder.build()?,
        };
        Ok(Self { client })
    }

    /// Reads request lines until end of input, writing one response line each. Output is
    /// flushed whenever no further input is already buffered, so an interactive caller
    /// sees each answer at once while bulk input stays buffered.
    pub fn run(&self, input: impl BufRead, output: impl Write, events: Option<&EventLines>) -> std::io::Result<()> {
        let mut input = BufReader::with_capacity(1 << 16, input);
        let mut output = BufWriter::with_capacity(1 << 16, output);
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                break;
            }
            let response = self.respond(line.trim_end_matches(['\n', '\r']));
            serde_json::to_writer(&mut output, &response)?;
            output.write_all(b"\n")?;
            if input.buffer().is_empty() {
                if let Some(events) = events {
                    events.flush()?;
                }
                output.flush()?;
            }
        }
        if let Some(events) = events {
            events.flush()?;
        }
        output.flush()
    }

    /// The response to one request line.
    pub fn answer_line(&self, line: &str) -> Value {
        serde_json::to_value(self.respond(line)).unwrap_or_else(|e| json!({"error": e.to_string()}))
    }

    /// The response to one request.
    pub fn answer(&self, request: &Map<String, Value>) -> Value {
        serde_json::to_value(self.respond_to(request)).unwrap_or_else(|e| json!({"error": e.to_string()}))
    }

    /// The response to one request line, ready to write.
    fn respond(&self, line: &str) -> Answer {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(request)) => self.respond_to(&request),
            Ok(_) => Answer::error("a request must be a JSON object"),
            Err(e) => Answer::error(format!("malformed JSON: {e}")),
        }
    }

    fn respond_to(&self, request: &Map<String, Value>) -> Answer {
        let mut req = Request { fields: request, problems: Vec::new() };
        let Some(op) = request.get("op").and_then(Value::as_str) else {
            return Answer::error("missing string field `op`");
        };
        let body = match op {
            "activate" | "get_variation" => Body::Fields(self.variation(&mut req, op == "activate")),
            "track" => Body::Fields(self.track(&mut req)),
            "is_feature_enabled" => Body::Fields(self.is_feature_enabled(&mut req)),
            "get_feature_variable" => Body::Fields(self.feature_variable(&mut req)),
            "get_enabled_features" => Body::Fields(self.enabled_features(&mut req)),
            "decide" => Body::Decision(self.decide(&mut req)),
            "decide_all" => Body::Decisions(self.decide_all(&mut req)),
            "set_forced_variation" => Body::Fields(self.set_forced_variation(&mut req)),
            "get_forced_variation" => Body::Fields(self.get_forced_variation(&mut req)),
            other => return Answer::error(format!("unknown op `{other}`")),
        };
        let error = (!req.problems.is_empty()).then(|| req.problems.join("; "));
        Answer { body, error }
    }

    fn variation(&self, req: &mut Request<'_>, activate: bool) -> Map<String, Value> {
        let key = req.experiment_key(&self.client);
        let user = req.user();
        let variation = match (key, user) {
            (Some(key), Some((user_id, attributes))) if activate => self.client.activate(key, user_id, &attributes),
            (Some(key), Some((user_id, attributes))) => self.client.get_variation(key, user_id, &attributes),
            _ => None,
        };
        object([("variation_key", variation.map_or(Value::Null, |v| v.key().into()))])
    }

    fn track(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let key = req.string("event_key", |k| self.client.config().is_some_and(|c| c.event_by_key(k).is_some()));
        let tags = match req.fields.get("event_tags") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(tags)) => Ok(Some(tags)),
            Some(_) => {
                req.problem("`event_tags` must be an object");
                Err(())
            }
        };
        if let (Some(key), Some((user_id, attributes)), Ok(tags)) = (key, req.user(), tags) {
            self.client.track(key, user_id, &attributes, tags);
        }
        Map::new()
    }

    fn is_feature_enabled(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let key = req.flag_key(&self.client, "feature_key");
        let enabled = match (key, req.user()) {
            (Some(key), Some((user_id, attributes))) => self.client.is_feature_enabled(key, user_id, &attributes),
            _ => false,
        };
        object([("enabled", enabled.into())])
    }

    fn feature_variable(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let flag = req.flag_key(&self.client, "feature_key");
        let variable = req.string("variable_key", |v| {
            let config = self.client.config();
            let found = config.as_ref().and_then(|c| Some((c, c.flag_by_key(flag?)?)));
            found.is_some_and(|(c, f)| c.flags[f].variable_by_key(v).is_some())
        });
        let value = match (flag, variable, req.user()) {
            (Some(flag), Some(variable), Some((user_id, attributes))) => {
                self.client.get_feature_variable(flag, variable, user_id, &attributes)
            }
            _ => None,
        };
        object([("value", value.unwrap_or(Value::Null))])
    }

    fn enabled_features(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let keys = match req.user() {
            Some((user_id, attributes)) => self.client.get_enabled_features(user_id, &attributes),
            None => Vec::new(),
        };
        object([("feature_keys", keys.into())])
    }

    fn decide(&self, req: &mut Request<'_>) -> DecisionOut {
        let key = req.flag_key(&self.client, "flag_key");
        let options = req.options();
        match (key, req.context_user()) {
            (Some(key), Some((user_id, attributes))) => {
                let decision = self.client.create_user_context(user_id, attributes).decide(key, options);
                DecisionOut::of(decision, options)
            }
            _ => DecisionOut::none(req.fields.get("flag_key").cloned().unwrap_or(Value::Null)),
        }
    }

    fn decide_all(&self, req: &mut Request<'_>) -> Vec<DecisionOut> {
        let options = req.options();
        match req.context_user() {
            Some((user_id, attributes)) => self
                .client
                .create_user_context(user_id, attributes)
                .decide_all(options)
                .into_iter()
                .map(|d| DecisionOut::of(d, options))
                .collect(),
            None => Vec::new(),
        }
    }

    fn set_forced_variation(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let key = req.experiment_key(&self.client);
        let user_id = req.user_id();
        let variation = match req.fields.get("variation_key") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(()),
        };
        let known = match (key, variation) {
            (Some(key), Ok(Some(v))) => self
                .client
                .config()
                .is_some_and(|c| protocol_experiment(&c, key).is_some_and(|e| e.variation_by_key(v).is_some())),
            (_, Ok(None)) => true,
            _ => false,
        };
        if !known {
            req.problem("`variation_key` must be null or a variation of the experiment");
        }
        let ok = match (key, user_id, variation) {
            (Some(key), Some(user_id), Ok(variation)) => self.client.set_forced_variation(key, user_id, variation),
            _ => false,
        };
        object([("ok", ok.into())])
    }

    fn get_forced_variation(&self, req: &mut Request<'_>) -> Map<String, Value> {
        let key = req.experiment_key(&self.client);
        let variation = match (key, req.user_id()) {
            (Some(key), Some(user_id)) => self.client.get_forced_variation(key, user_id),
            _ => None,
        };
        object([("variation_key", variation.map_or(Value::Null, Value::String))])
    }
}

/// Python truthiness is false for this JSON value.
fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn object<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A response line: the op's fields, then `error` when the request had problems.
/// Decisions are written straight from the SDK's answer, not through JSON values: a
/// `decide_all` answers every flag, and building maps was most of its cost.
struct Answer {
    body: Body,
    error: Option<String>,
}

enum Body {
    Fields(Map<String, Value>),
    Decision(DecisionOut),
    Decisions(Vec<DecisionOut>),
}

impl Answer {
    fn error(message: impl Into<String>) -> Self {
        Self { body: Body::Fields(Map::new()), error: Some(message.into()) }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.body {
            Body::Fields(fields) => {
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
            }
            Body::Decision(d) => d.entries(&mut map)?,
            Body::Decisions(decisions) => map.serialize_entry("decisions", &DecisionsByFlag(decisions))?,
        }
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        map.end()
    }
}

/// A decision as the protocol answers it: `flag_key`, `enabled`, `variation_key`,
/// `rule_key`, `variables`, and `reasons` when asked for.
struct DecisionOut {
    flag_key: Value,
    enabled: bool,
    variation_key: Option<String>,
    rule_key: Option<String>,
    variables: Map<String, Value>,
    reasons: Option<Vec<String>>,
}

impl DecisionOut {
    fn of(d: Decision, options: DecideOptions) -> Self {
        Self {
            flag_key: d.flag_key().into(),
            enabled: d.enabled(),
            variation_key: d.variation_key().map(str::to_owned),
            rule_key: d.rule_key().map(str::to_owned),
            reasons: options.contains(DecideOptions::INCLUDE_REASONS).then(|| d.reasons()),
            variables: d.into_variables(),
        }
    }

    /// No decision (a request the SDK could not take): `flag_key` as the request gave it.
    fn none(flag_key: Value) -> Self {
        Self { flag_key, enabled: false, variation_key: None, rule_key: None, variables: Map::new(), reasons: None }
    }

    fn entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("flag_key", &self.flag_key)?;
        map.serialize_entry("enabled", &self.enabled)?;
        map.serialize_entry("variation_key", &self.variation_key)?;
        map.serialize_entry("rule_key", &self.rule_key)?;
        map.serialize_entry("variables", &self.variables)?;
        if let Some(reasons) = &self.reasons {
            map.serialize_entry("reasons", reasons)?;
        }
        Ok(())
    }
}

impl Serialize for DecisionOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.entries(&mut map)?;
        map.end()
    }
}

/// `decide_all`'s decisions keyed by flag key, in the SDK's order (a repeated key keeps
/// its first place and its last decision, as a JSON object built key by key would).
struct DecisionsByFlag<'a>(&'a [DecisionOut]);

impl Serialize for DecisionsByFlag<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let all = self.0;
        let unique = all.iter().enumerate().all(|(i, d)| all[..i].iter().all(|e| e.flag_key != d.flag_key));
        let mut map = serializer.serialize_map(None)?;
        for (i, d) in all.iter().enumerate() {
            if unique {
                map.serialize_entry(d.flag_key.as_str().unwrap_or_default(), d)?;
                continue;
            }
            if all[..i].iter().any(|e| e.flag_key == d.flag_key) {
                continue;
            }
            let last = all.iter().rposition(|e| e.flag_key == d.flag_key).unwrap_or(i);
            map.serialize_entry(d.flag_key.as_str().unwrap_or_default(), &all[last])?;
        }
        map.end()
    }
}

/// Which SDK surface a request goes through; they validate attributes differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Legacy,
    Decide,
}

/// One request's fields, and the protocol problems found while reading them.
/// The experiment the eval protocol means by a key: the last top-level or grouped one with
/// it. Rollout rules are in the SDK's key map but are not experiments to the protocol; with
/// repeated keys the SDK's key map may name a rule while the protocol still knows the key.
fn protocol_experiment<'c>(config: &'c ProjectConfig, key: &str) -> Option<&'c Experiment> {
    config.experiments.iter().rev().find(|e| e.key == key && !matches!(e.origin, Origin::Rollout(_)))
}

struct Request<'a> {
    fields: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Request<'a> {
    fn problem(&mut self, message: &str) {
        self.problems.push(message.to_owned());
    }

    /// A string field that must satisfy `exists`; records a problem otherwise.
    fn string(&mut self, field: &str, exists: impl FnOnce(&str) -> bool) -> Option<&'a str> {
        match self.fields.get(field) {
            Some(Value::String(s)) => {
                if !exists(s) {
                    self.problems.push(format!("`{field}` {s:?} does not exist in the datafile"));
                }
                Some(s.as_str())
            }
            _ => {
                self.problems.push(format!("`{field}` must be a string"));
                None
            }
        }
    }

    fn experiment_key(&mut self, client: &Client) -> Option<&'a str> {
        self.string("experiment_key", |k| client.config().is_some_and(|c| protocol_experiment(&c, k).is_some()))
    }

    fn flag_key(&mut self, client: &Client, field: &str) -> Option<&'a str> {
        self.string(field, |k| client.config().is_some_and(|c| c.flag_by_key(k).is_some()))
    }

    fn user_id(&mut self) -> Option<&'a str> {
        match self.fields.get("user_id") {
            Some(Value::String(s)) => Some(s),
            _ => {
                self.problem("`user_id` must be a string");
                None
            }
        }
    }

    /// The user id and attributes, or `None` when either is unusable (the SDK then
    /// answers as for invalid input).
    fn user(&mut self) -> Option<(&'a str, Attributes)> {
        self.user_for(Api::Legacy)
    }

    /// Like [`Request::user`] for the decide API, whose user context refuses any
    /// non-object attributes.
    fn context_user(&mut self) -> Option<(&'a str, Attributes)> {
        self.user_for(Api::Decide)
    }

    fn user_for(&mut self, api: Api) -> Option<(&'a str, Attributes)> {
        let user_id = self.user_id();
        let attributes = match self.fields.get("attributes") {
            None | Some(Value::Null) => Some(Attributes::new()),
            Some(Value::Object(map)) => {
                if map.values().any(|v| v.is_array() || v.is_object()) {
                    self.problem("attribute values must be strings, numbers, booleans or null");
                }
                Some(map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect())
            }
            Some(other) => {
                self.problem("`attributes` must be an object");
                // The reference SDK's legacy calls read a falsy non-object (`[]`, `0`,
                // `""`, `false`) as "no attributes" and decide; anything else is refused.
                (api == Api::Legacy && falsy(other)).then(Attributes::new)
            }
        };
        Some((user_id?, attributes?))
    }

    fn options(&mut self) -> DecideOptions {
        let mut options = DecideOptions::NONE;
        match self.fields.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Array(names)) => {
                for name in names {
                    match name.as_str().and_then(DecideOptions::from_name) {
                        Some(option) => options |= option,
                        None => self.problems.push(format!("unknown decide option {name}")),
                    }
                }
            }
            Some(_) => self.problem("`options` must be a list of decide option names"),
        }
        options
    }
}
