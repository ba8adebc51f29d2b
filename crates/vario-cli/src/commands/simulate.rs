//! `vario simulate`: a traffic generator. Visitors decide every flag and activate every
//! A/B experiment of a datafile with the Vario SDK, then convert with a modelled
//! probability (a base rate per event, times the true effect of the variations they
//! saw) and track revenue and values; their events go to a Vario server through the
//! SDK's batched delivery. It is the demo data source and the load generator.
//!
//! Every visitor is a pure function of the seed and its number: its user id,
//! attributes, decisions, conversions, revenue and (with `--start-time`) timestamps are
//! the same on every run and with any `--concurrency`; only event uuids differ (a rerun
//! adds new events rather than being deduplicated away).
//!
//! The SDK's decide calls stamp events with the current time, and past timestamps
//! cannot be asked of it; so the client decides without an event dispatcher, and the
//! impressions and conversions are built here with `vario_events`' factory (the SDK's
//! own builder) and handed to the SDK's [`EventProcessor`]: one per thread, each with
//! its own HTTP connection.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use vario_core::{AttributeValue, Attributes, DecisionSource};
use vario_datafile::{ExactValue, Matcher, Origin, ProjectConfig};
use vario_events::{EventFactory, Impression, RuleType, UserEvent};
use vario_sdk::{
    Client, DatafileManagerOptions, DecideOptions, EventProcessor, EventProcessorConfig, EventStats,
    HttpEventDispatcher, NotificationCenter, PollingDatafileManager,
};

use crate::exit_code;

/// The server of a zero-config `vario serve`.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// Visitors when neither `--visitors` nor `--duration` is given.
pub const DEFAULT_VISITORS: u64 = 1000;
/// How long `--sdk-key` waits for the datafile.
const DATAFILE_TIMEOUT: Duration = Duration::from_secs(10);
/// Mean delay between a visitor's arrival and a conversion, with spread timestamps.
const MEAN_CONVERSION_DELAY_MS: f64 = 10.0 * 60.0 * 1000.0;
/// Share of the attributes read by audiences that a visitor carries.
const ATTRIBUTE_PRESENCE: f64 = 0.85;

/// `vario simulate` flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["datafile", "sdk_key"])))]
pub struct Args {
    /// The Vario server: events go to `{server}/v1/events`, `--sdk-key` datafiles come
    /// from `{server}/datafiles/{key}.json`.
    #[arg(long, default_value = DEFAULT_SERVER, value_name = "URL")]
    pub server: String,
    /// The datafile to simulate.
    #[arg(long, value_name = "PATH")]
    pub datafile: Option<PathBuf>,
    /// Fetch the datafile of this SDK key from the server instead.
    #[arg(long, value_name = "KEY")]
    pub sdk_key: Option<String>,
    /// Write key sent with every batch (`X-Vario-Write-Key`).
    #[arg(long, env = "VARIO_WRITE_KEY", value_name = "KEY", hide_env_values = true)]
    pub write_key: Option<String>,
    /// Visitors to simulate [default: 1000].
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub visitors: Option<u64>,
    /// Simulate for this long instead of a number of visitors (`90s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Visitors per second over all threads (`200` or `200/s`); 0: as fast as possible.
    #[arg(long, value_name = "N/s", default_value = "0", value_parser = parse_rate)]
    pub rate: f64,
    /// Seed of every random choice: user ids, attributes, conversions, revenue.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads making visitors, each with its own event processor and connection.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// An event to track, with its base conversion rate (repeatable; e.g. `purchase=0.05`)
    /// [default: every event of the datafile].
    #[arg(long = "event", value_name = "KEY[=RATE]")]
    pub events: Vec<String>,
    /// Base conversion rate of events given without one.
    #[arg(long, value_name = "RATE", default_value_t = 0.1)]
    pub conversion_rate: f64,
    /// True effect of a variation: relative lift of conversion rates, revenue and values
    /// of visitors who saw it (repeatable; `treatment=+10%`, `checkout_test:b=-5%`, where
    /// the part before `:` is a rule, experiment or flag key).
    #[arg(long = "effect", value_name = "[RULE:]VARIATION=±N%")]
    pub effects: Vec<String>,
    /// Mean revenue of a conversion in cents, log-normally distributed; 0: no revenue.
    #[arg(long, value_name = "CENTS", default_value_t = 0.0)]
    pub revenue_mean: f64,
    /// Spread of revenue and values: the standard deviation of their logarithm.
    #[arg(long, value_name = "SIGMA", default_value_t = 0.8)]
    pub revenue_sigma: f64,
    /// An event that carries revenue (repeatable) [default: the first tracked event].
    #[arg(long = "revenue-event", value_name = "KEY")]
    pub revenue_events: Vec<String>,
    /// Mean `value` tag of every conversion, log-normally distributed; 0: no value tag.
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    pub value_mean: f64,
    /// Timestamps from this moment (`2024-05-01`, `2024-05-01T08:00:00Z` or epoch
    /// milliseconds) to now, or over `--days` from it.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start_time: Option<i64>,
    /// Spread timestamps over this many days: the last days up to now, or from `--start-time`.
    #[arg(long, value_name = "DAYS")]
    pub days: Option<f64>,
    /// Events per request.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batch_size: usize,
    /// Compress request bodies with gzip.
    #[arg(long)]
    pub gzip: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Log filter for the SDK's messages on stderr.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log: String,
}

/// Runs the simulation; exits 1 when events were not delivered.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    init_logging(&args.log)?;
    let server = args.server.trim_end_matches('/').to_owned();
    let config = match load_config(args, &server) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vario simulate: {error:#}");
            return Ok(exit_code::BAD_INPUT.into());
        }
    };
    let plan = match Plan::new(args, config) {
        Ok(plan) => Arc::new(plan),
        Err(error) => {
            eprintln!("vario simulate: {error:#}");
            return Ok(exit_code::BAD_INPUT.into());
        }
    };
    let processors =
        (0..args.concurrency).map(|_| start_processor(args, &server)).collect::<anyhow::Result<Vec<_>>>()?;

    let progress = progress_bar(args);
    let started = Instant::now();
    let run = Run {
        plan,
        next: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        started,
        deadline: args.duration.map(|d| started + d),
        rate: args.rate,
        progress: progress.clone(),
    };
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let workers: Vec<_> = processors.iter().map(|p| scope.spawn(|| run.work(p))).collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    let mut closed = true;
    for processor in &processors {
        closed &= processor.close().all_delivered();
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();

    let tally = tallies.into_iter().fold(Tally::default(), Tally::merge);
    let stats = processors.iter().map(EventProcessor::stats).fold(EventStats::default(), add_stats);
    let summary = Summary { tally, stats, elapsed, aborted: run.abort.load(Ordering::Relaxed), closed };
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", summary.to_json())?;
    } else {
        summary.write_text(&mut stdout, &run.plan)?;
    }
    stdout.flush()?;
    Ok(if summary.failed() == 0 && closed { ExitCode::SUCCESS } else { exit_code::FAILURE.into() })
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: tracing_subscriber::filter::Targets =
        filter.parse().with_context(|| format!("invalid log filter {filter:?}"))?;
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false))
        .with(targets)
        .try_init();
    Ok(())
}

/// The datafile from `--datafile`, or fetched by the SDK's datafile manager.
fn load_config(args: &Args, server: &str) -> anyhow::Result<Arc<ProjectConfig>> {
    if let Some(path) = &args.datafile {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let config = ProjectConfig::from_json(&text).with_context(|| format!("invalid datafile {}", path.display()))?;
        return Ok(Arc::new(config));
    }
    let key = args.sdk_key.as_deref().unwrap_or_default();
    let options = DatafileManagerOptions::new(key).base_url(server).timeout(DATAFILE_TIMEOUT);
    let url = options.url();
    let manager = PollingDatafileManager::start(options, |_| {});
    let found = manager.wait_for_first(DATAFILE_TIMEOUT);
    manager.stop();
    match manager.current() {
        Some(config) if found => Ok(config),
        _ => {
            let stats = manager.stats();
            bail!(
                "no datafile from {url} within {} s ({} answers, {} failed requests, {} invalid datafiles)",
                DATAFILE_TIMEOUT.as_secs(),
                stats.fetches,
                stats.errors,
                stats.rejected
            )
        }
    }
}

fn start_processor(args: &Args, server: &str) -> anyhow::Result<EventProcessor> {
    let mut dispatcher = HttpEventDispatcher::builder().endpoint(format!("{server}/v1/events")).gzip(args.gzip);
    if let Some(key) = &args.write_key {
        dispatcher = dispatcher.header("X-Vario-Write-Key", key);
    }
    let dispatcher = dispatcher.build().with_context(|| format!("invalid --server {server:?}"))?;
    let batch_size = args.batch_size.max(1);
    let config = EventProcessorConfig {
        batch_size,
        flush_interval: Duration::from_millis(500),
        queue_capacity: (batch_size * 50).max(10_000),
        close_timeout: Duration::from_secs(30),
        max_backoff: Duration::from_secs(2),
        ..EventProcessorConfig::default()
    };
    EventProcessor::start(config, Arc::new(dispatcher), NotificationCenter::new())
        .context("cannot start the event processor")
}

fn progress_bar(args: &Args) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match args.duration {
        Some(_) => (ProgressBar::new_spinner(), "{spinner} {pos} visitors, {per_sec}, {elapsed} {msg}"),
        None => (
            ProgressBar::new(args.visitors.unwrap_or(DEFAULT_VISITORS)),
            "{bar:40} {pos}/{len} visitors, {per_sec}, eta {eta} {msg}",
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stdout());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What every visitor is made from; shared by the threads, read-only.
struct Plan {
    config: Arc<ProjectConfig>,
    client: Client,
    factory: EventFactory,
    seed: u64,
    /// `None` with `--duration`.
    visitors: Option<u64>,
    /// A/B experiments (not feature tests, not delivery rules), activated by every visitor.
    ab_experiments: Vec<usize>,
    /// Attribute keys read by audiences, with values that make conditions true or false.
    attributes: Vec<(String, Vec<Value>)>,
    events: Vec<EventModel>,
    effects: Vec<Effect>,
    revenue: Option<LogNormal>,
    value: Option<LogNormal>,
    clock: Clock,
}

/// One tracked event.
#[derive(Debug, Clone, PartialEq)]
struct EventModel {
    key: String,
    rate: f64,
    revenue: bool,
}

/// A true effect: the relative lift of visitors who saw `variation` (of `rule`, if given).
#[derive(Debug, Clone, PartialEq)]
struct Effect {
    rule: Option<String>,
    variation: String,
    lift: f64,
}

impl Effect {
    fn matches(&self, seen: &Seen) -> bool {
        self.variation == seen.variation
            && self.rule.as_ref().is_none_or(|r| *r == seen.rule || seen.flag.as_deref() == Some(r))
    }
}

/// Where event timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Clock {
    /// The time the visitor is simulated.
    Now,
    /// Spread over `[start, start + span)` epoch milliseconds.
    Spread { start: i64, span: i64 },
}

/// A log-normal distribution given by its mean.
#[derive(Debug, Clone, Copy)]
struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    fn with_mean(mean: f64, sigma: f64) -> Self {
        Self { mu: mean.ln() - sigma * sigma / 2.0, sigma }
    }

    /// A sample scaled by `factor` (the mean is scaled by it).
    fn sample(&self, rng: &mut Rng, factor: f64) -> f64 {
        (self.mu + self.sigma * rng.normal()).exp() * factor
    }
}

impl Plan {
    fn new(args: &Args, config: Arc<ProjectConfig>) -> anyhow::Result<Self> {
        let clock = clock(args.start_time, args.days, now_ms())?;
        if !(0.0..=1.0).contains(&args.conversion_rate) {
            bail!("--conversion-rate must be between 0 and 1, not {}", args.conversion_rate);
        }
        let events = event_models(&config, args)?;
        let effects = args.effects.iter().map(|e| parse_effect(e)).collect::<anyhow::Result<Vec<_>>>()?;
        for effect in &effects {
            if !effect_applies(&config, effect) {
                bail!(
                    "--effect: no variation {:?} in the datafile{}",
                    effect.variation,
                    match &effect.rule {
                        Some(rule) => format!(" under a rule, experiment or flag {rule:?}"),
                        None => String::new(),
                    }
                );
            }
        }
        for (name, mean) in [("--revenue-mean", args.revenue_mean), ("--value-mean", args.value_mean)] {
            if !(mean.is_finite() && mean >= 0.0) {
                bail!("{name} must be a number of at least 0, not {mean}");
            }
        }
        if !(args.revenue_sigma.is_finite() && args.revenue_sigma >= 0.0) {
            bail!("--revenue-sigma must be a number of at least 0, not {}", args.revenue_sigma);
        }
        let lognormal = |mean: f64| (mean > 0.0).then(|| LogNormal::with_mean(mean, args.revenue_sigma));
        let ab_experiments = (0..config.experiments.len())
            .filter(|&e| {
                let exp = &config.experiments[e];
                !exp.is_feature_test && !matches!(exp.origin, Origin::Rollout(_))
            })
            .collect();
        let client = Client::builder().config(Arc::clone(&config)).build().context("cannot start the SDK client")?;
        Ok(Self {
            factory: EventFactory::new(&config),
            attributes: attribute_values(&config),
            client,
            config,
            seed: args.seed,
            visitors: match args.duration {
                Some(_) => None,
                None => Some(args.visitors.unwrap_or(DEFAULT_VISITORS)),
            },
            ab_experiments,
            events,
            effects,
            revenue: lognormal(args.revenue_mean),
            value: lognormal(args.value_mean),
            clock,
        })
    }

    /// Visitor `index`: its decisions and conversions as events, and what it saw.
    fn visit(&self, index: u64) -> Visit {
        let mut rng = Rng::for_visitor(self.seed, index);
        let user_id = format!("visitor-{}-{index}", self.seed);
        let mut attributes = Attributes::new();
        for (key, values) in &self.attributes {
            if rng.chance(ATTRIBUTE_PRESENCE) {
                attributes.insert(key.as_str(), AttributeValue::from(values[rng.below(values.len())].clone()));
            }
        }
        let arrival = match self.clock {
            Clock::Now => now_ms(),
            Clock::Spread { start, span } => {
                let position = match self.visitors {
                    Some(n) => (index as f64 + rng.unit()) / n as f64,
                    None => rng.unit(),
                };
                start + (position * span as f64) as i64
            }
        };
        let mut visit = Visit { events: Vec::new(), seen: Vec::new(), impressions: 0, conversions: Vec::new() };
        let config = &*self.config;

        // Activate every A/B experiment, then decide every flag, as an application would.
        for &e in &self.ab_experiments {
            let exp = &config.experiments[e];
            let Some(decided) = self.client.activate(&exp.key, &user_id, &attributes) else { continue };
            let impression = Impression {
                user_id: &user_id,
                attributes: &attributes,
                layer_id: &exp.layer_id,
                experiment_id: &exp.id,
                variation: Some((decided.id(), decided.key())),
                flag_key: "",
                rule_key: &exp.key,
                rule_type: RuleType::Experiment,
                enabled: true,
                cmab_uuid: None,
            };
            visit.push_impression(self.factory.impression(&impression), arrival);
            visit.seen.push(Seen { rule: exp.key.clone(), flag: None, variation: decided.key().to_owned() });
        }
        let user = self.client.create_user_context(user_id.as_str(), attributes.clone());
        for decision in user.decide_all(DecideOptions::NONE) {
            let Some(d) = decision.flag_decision() else { continue };
            // The SDK's rule: delivery rules and no-decisions only with `sendFlagDecisions`.
            if d.source() == DecisionSource::Rollout && !config.send_flag_decisions {
                continue;
            }
            visit.push_impression(
                self.factory.impression(&Impression::of_flag_decision(config, d, &user_id, &attributes)),
                arrival,
            );
            if let (Some(rule), Some(variation)) = (decision.rule_key(), decision.variation_key()) {
                visit.seen.push(Seen {
                    rule: rule.to_owned(),
                    flag: Some(decision.flag_key().to_owned()),
                    variation: variation.to_owned(),
                });
            }
        }

        // Convert: each event with its base rate times the lift of what the visitor saw.
        let factor: f64 = visit
            .seen
            .iter()
            .map(|seen| self.effects.iter().filter(|e| e.matches(seen)).map(|e| 1.0 + e.lift).product::<f64>())
            .product();
        for event in &self.events {
            if !rng.chance(event.rate * factor) {
                continue;
            }
            let mut tags = Map::new();
            let mut revenue = 0;
            if let (true, Some(model)) = (event.revenue, self.revenue) {
                revenue = (model.sample(&mut rng, factor).round() as i64).max(1);
                tags.insert("revenue".to_owned(), revenue.into());
            }
            if let Some(model) = self.value {
                let value = (model.sample(&mut rng, factor) * 100.0).round() / 100.0;
                tags.insert("value".to_owned(), json!(value));
            }
            let delay = (-rng.unit_open().ln() * MEAN_CONVERSION_DELAY_MS) as i64;
            let timestamp = match self.clock {
                Clock::Now => now_ms(),
                Clock::Spread { start, span } => (arrival + 1000 + delay).min(start + span - 1).max(arrival),
            };
            let tags = (!tags.is_empty()).then_some(tags);
            if let Some(built) = self.factory.conversion_owned(event.key.as_str(), &user_id, &attributes, tags) {
                visit.events.push(built.with_timestamp(timestamp));
                visit.conversions.push((event.key.clone(), revenue));
            }
        }
        visit
    }
}

/// A variation a visitor saw.
#[derive(Debug, Clone)]
struct Seen {
    rule: String,
    flag: Option<String>,
    variation: String,
}

/// One visitor's events and what it saw.
struct Visit {
    events: Vec<UserEvent>,
    seen: Vec<Seen>,
    impressions: u64,
    /// (event key, revenue) of each conversion.
    conversions: Vec<(String, i64)>,
}

impl Visit {
    fn push_impression(&mut self, event: UserEvent, arrival: i64) {
        // A few milliseconds apart, in the order the calls were made.
        let timestamp = arrival + self.impressions as i64;
        self.events.push(event.with_timestamp(timestamp));
        self.impressions += 1;
    }
}

/// The simulation in progress, shared by the threads.
struct Run {
    plan: Arc<Plan>,
    next: AtomicU64,
    abort: AtomicBool,
    started: Instant,
    deadline: Option<Instant>,
    rate: f64,
    progress: ProgressBar,
}

impl Run {
    /// One thread: takes visitor numbers until there are none left, sends their events.
    fn work(&self, processor: &EventProcessor) -> Tally {
        let mut tally = Tally::default();
        // Keep the queue from overflowing: the SDK drops events beyond its capacity.
        let high_water = (processor.config().queue_capacity * 3 / 4) as u64;
        while !self.abort.load(Ordering::Relaxed) {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if self.plan.visitors.is_some_and(|n| index >= n) {
                break;
            }
            if self.rate > 0.0 {
                let due = self.started + Duration::from_secs_f64(index as f64 / self.rate);
                if self.deadline.is_some_and(|d| due >= d) {
                    break;
                }
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let visit = self.plan.visit(index);
            loop {
                let stats = processor.stats();
                if stats.failed_batches > 0 || stats.dropped() > 0 {
                    // The server refuses or is gone: stop, and say so in the summary.
                    self.abort.store(true, Ordering::Relaxed);
                    break;
                }
                if stats.queued + visit.events.len() as u64 <= high_water {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            tally.add(&visit);
            for event in visit.events {
                processor.process(event);
            }
            self.progress.inc(1);
        }
        tally
    }
}

/// Counts of one thread, merged at the end.
#[derive(Debug, Default)]
struct Tally {
    visitors: u64,
    impressions: u64,
    conversions: u64,
    revenue: i64,
    /// Per (rule, variation): visitors, conversions, revenue.
    variations: BTreeMap<(String, String), VariationTally>,
}

#[derive(Debug, Default, Clone, Copy)]
struct VariationTally {
    visitors: u64,
    conversions: u64,
    revenue: i64,
}

impl Tally {
    fn add(&mut self, visit: &Visit) {
        self.visitors += 1;
        self.impressions += visit.impressions;
        self.conversions += visit.conversions.len() as u64;
        let revenue: i64 = visit.conversions.iter().map(|(_, r)| r).sum();
        self.revenue += revenue;
        for seen in &visit.seen {
            let entry = self.variations.entry((seen.rule.clone(), seen.variation.clone())).or_default();
            entry.visitors += 1;
            entry.conversions += visit.conversions.len() as u64;
            entry.revenue += revenue;
        }
    }

    fn merge(mut self, other: Self) -> Self {
        self.visitors += other.visitors;
        self.impressions += other.impressions;
        self.conversions += other.conversions;
        self.revenue += other.revenue;
        for (key, v) in other.variations {
            let entry = self.variations.entry(key).or_default();
            entry.visitors += v.visitors;
            entry.conversions += v.conversions;
            entry.revenue += v.revenue;
        }
        self
    }
}

fn add_stats(a: EventStats, b: EventStats) -> EventStats {
    EventStats {
        enqueued: a.enqueued + b.enqueued,
        queued: a.queued + b.queued,
        dropped_queue_full: a.dropped_queue_full + b.dropped_queue_full,
        dropped_closed: a.dropped_closed + b.dropped_closed,
        batches_sent: a.batches_sent + b.batches_sent,
        events_sent: a.events_sent + b.events_sent,
        retried_attempts: a.retried_attempts + b.retried_attempts,
        failed_batches: a.failed_batches + b.failed_batches,
        failed_events: a.failed_events + b.failed_events,
        unsent_batches: a.unsent_batches + b.unsent_batches,
        unsent_events: a.unsent_events + b.unsent_events,
        ..EventStats::default()
    }
}

/// The final report.
struct Summary {
    tally: Tally,
    stats: EventStats,
    elapsed: Duration,
    aborted: bool,
    closed: bool,
}

impl Summary {
    /// Events built but not delivered, for any reason.
    fn failed(&self) -> u64 {
        self.stats.failed_events + self.stats.dropped() + self.stats.unsent_events
    }

    fn events_per_second(&self) -> f64 {
        self.stats.events_sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn to_json(&self) -> Value {
        let variations: Vec<Value> = self
            .tally
            .variations
            .iter()
            .map(|((rule, variation), v)| {
                json!({"rule_key": rule, "variation_key": variation, "visitors": v.visitors,
                       "conversions": v.conversions, "revenue": v.revenue})
            })
            .collect();
        json!({
            "visitors": self.tally.visitors,
            "impressions": self.tally.impressions,
            "conversions": self.tally.conversions,
            "revenue": self.tally.revenue,
            "events": self.tally.impressions + self.tally.conversions,
            "events_sent": self.stats.events_sent,
            "batches": self.stats.batches_sent,
            "retries": self.stats.retried_attempts,
            "failed_events": self.failed(),
            "failed_batches": self.stats.failed_batches,
            "stopped_early": self.aborted,
            "seconds": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "events_per_second": self.events_per_second().round(),
            "variations": variations,
        })
    }

    fn write_text(&self, out: &mut impl Write, plan: &Plan) -> std::io::Result<()> {
        let t = &self.tally;
        writeln!(
            out,
            "vario simulate: {} visitors, {} events ({} impressions, {} conversions), {} sent in {} batches, \
             {} failed, {:.1} s, {:.0} events/s",
            t.visitors,
            t.impressions + t.conversions,
            t.impressions,
            t.conversions,
            self.stats.events_sent,
            self.stats.batches_sent,
            self.failed(),
            self.elapsed.as_secs_f64(),
            self.events_per_second()
        )?;
        // The rules with a true effect, variation by variation.
        let rules: Vec<&String> = t
            .variations
            .keys()
            .filter(|(rule, variation)| {
                plan.effects.iter().any(|e| {
                    e.variation == *variation
                        && e.rule.as_ref().is_none_or(|r| r == rule || plan.flag_of_rule(rule) == Some(r.as_str()))
                })
            })
            .map(|(rule, _)| rule)
            .collect();
        for ((rule, variation), v) in t.variations.iter().filter(|((rule, _), _)| rules.contains(&rule)) {
            writeln!(
                out,
                "  {rule} / {variation}: {} visitors, {} conversions ({:.2} per visitor), revenue {}",
                v.visitors,
                v.conversions,
                v.conversions as f64 / v.visitors.max(1) as f64,
                v.revenue
            )?;
        }
        if self.aborted {
            writeln!(out, "stopped early: events were refused or could not be delivered (see the messages above)")?;
        }
        if !self.closed {
            writeln!(out, "the event processor did not finish delivering before its close timeout")?;
        }
        Ok(())
    }
}

impl Plan {
    /// The flag a rule belongs to, if any.
    fn flag_of_rule(&self, rule: &str) -> Option<&str> {
        let e = self.config.experiment_by_key(rule)?;
        self.config
            .flags
            .iter()
            .find(|f| {
                f.experiments.contains(&e) || f.rollout.is_some_and(|r| self.config.rollouts[r].rules.contains(&e))
            })
            .map(|f| f.key.as_str())
    }
}

/// The events to track, from `--event` or every event of the datafile.
fn event_models(config: &ProjectConfig, args: &Args) -> anyhow::Result<Vec<EventModel>> {
    let mut events = Vec::new();
    for spec in &args.events {
        let (key, rate) = match spec.split_once('=') {
            Some((key, rate)) => {
                let rate: f64 = rate.trim().parse().with_context(|| format!("--event {spec}: invalid rate"))?;
                (key.trim(), rate)
            }
            None => (spec.trim(), args.conversion_rate),
        };
        if !(0.0..=1.0).contains(&rate) {
            bail!("--event {spec}: the rate must be between 0 and 1");
        }
        if config.event_by_key(key).is_none() || key.is_empty() {
            let known: Vec<&str> = config.events.iter().map(|e| e.key.as_str()).collect();
            bail!("--event {key:?}: the datafile has no such event (it has: {})", known.join(", "));
        }
        events.push(EventModel { key: key.to_owned(), rate, revenue: false });
    }
    if args.events.is_empty() {
        events = config
            .events
            .iter()
            .filter(|e| !e.key.is_empty())
            .map(|e| EventModel { key: e.key.clone(), rate: args.conversion_rate, revenue: false })
            .collect();
    }
    if args.revenue_mean > 0.0 {
        if let (true, Some(first)) = (args.revenue_events.is_empty(), events.first_mut()) {
            first.revenue = true;
        }
        for key in &args.revenue_events {
            let Some(event) = events.iter_mut().find(|e| e.key == *key) else {
                bail!("--revenue-event {key:?} is not one of the tracked events");
            };
            event.revenue = true;
        }
    }
    Ok(events)
}

/// Whether some variation of the datafile matches `effect`.
fn effect_applies(config: &ProjectConfig, effect: &Effect) -> bool {
    config.experiments.iter().enumerate().any(|(e, exp)| {
        exp.variation_by_key(&effect.variation).is_some()
            && effect.rule.as_ref().is_none_or(|rule| {
                exp.key == *rule
                    || config.flags.iter().any(|f| {
                        f.key == *rule
                            && (f.experiments.contains(&e)
                                || f.rollout.is_some_and(|r| config.rollouts[r].rules.contains(&e)))
                    })
            })
    }) || config.holdouts.iter().chain(&config.local_holdouts).any(|h| {
        h.variations.iter().any(|v| v.key == effect.variation) && effect.rule.as_ref().is_none_or(|r| *r == h.key)
    })
}

/// Attribute values that audiences of the datafile test, per attribute key (sorted):
/// every condition value, values just on either side of numeric and version bounds, and
/// a string that matches nothing.
fn attribute_values(config: &ProjectConfig) -> Vec<(String, Vec<Value>)> {
    let mut values: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for audience in &config.audiences {
        audience.conditions.for_each_leaf(&mut |condition| {
            let found: Vec<Value> = match &condition.matcher {
                // Some visitors match, others carry a value no condition names.
                Matcher::Exact(ExactValue::String(s)) | Matcher::Substring(s) => vec![json!(s), json!("other")],
                Matcher::Exact(ExactValue::Bool(b)) => vec![json!(b), json!(!b)],
                Matcher::Exact(ExactValue::Number(n)) => vec![number(*n)],
                Matcher::Compare(_, n) => vec![number(n - 1.0), number(*n), number(n + 1.0)],
                Matcher::Semver(_, version) => vec![json!(version.as_str()), json!("0.0.1"), json!("99.0.0")],
                Matcher::Exists => vec![json!("yes")],
                Matcher::Qualified(_) => Vec::new(),
            };
            let list = values.entry(condition.attribute.to_string()).or_default();
            for value in found {
                if !list.contains(&value) {
                    list.push(value);
                }
            }
        });
    }
    values.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// A number as an integer when it is one.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) }
}

/// The clock of `--start-time` and `--days`.
fn clock(start: Option<i64>, days: Option<f64>, now: i64) -> anyhow::Result<Clock> {
    let span = match days {
        Some(days) if !(days.is_finite() && days > 0.0) => bail!("--days must be a positive number, not {days}"),
        Some(days) => Some((days * 86_400_000.0) as i64),
        None => None,
    };
    Ok(match (start, span) {
        (None, None) => Clock::Now,
        (None, Some(span)) => Clock::Spread { start: now - span, span },
        (Some(start), Some(span)) => Clock::Spread { start, span },
        (Some(start), None) if start < now => Clock::Spread { start, span: now - start },
        (Some(_), None) => bail!("--start-time is in the future: give --days too"),
    })
}

/// `+10%`, `-5%`, `10%` → 0.1, -0.05, 0.1 inside an `[RULE:]VARIATION=±N%` effect.
fn parse_effect(spec: &str) -> anyhow::Result<Effect> {
    let usage = || format!("--effect {spec:?}: expected [RULE:]VARIATION=±N%, e.g. treatment=+10%");
    let (target, lift) = spec.rsplit_once('=').with_context(usage)?;
    let percent = lift.trim().strip_suffix('%').with_context(usage)?;
    let lift: f64 = percent.trim().trim_start_matches('+').parse().ok().with_context(usage)?;
    if !lift.is_finite() || lift < -100.0 {
        bail!("--effect {spec:?}: a lift is at least -100%");
    }
    let (rule, variation) = match target.rsplit_once(':') {
        Some((rule, variation)) => (Some(rule.trim().to_owned()), variation.trim()),
        None => (None, target.trim()),
    };
    if variation.is_empty() || rule.as_deref() == Some("") {
        bail!("{}", usage());
    }
    Ok(Effect { rule, variation: variation.to_owned(), lift: lift / 100.0 })
}

/// `90s`, `5m`, `1h`, `250ms`, or seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("invalid duration {text:?} (e.g. 90s, 5m, 1h)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        other => return Err(format!("unknown duration unit {other:?} (ms, s, m, h, d)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// `200` or `200/s`, at least 0.
fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!("invalid rate {text:?}: a number of visitors per second, e.g. 200/s")),
    }
}

/// Epoch milliseconds from `2024-05-01`, `2024-05-01T08:00:00Z` (UTC; seconds and a
/// fraction optional) or a number of milliseconds.
fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let invalid = || format!("invalid time {text:?}: use 2024-05-01, 2024-05-01T08:00:00Z or epoch milliseconds");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| invalid());
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time.strip_suffix(['Z', 'z']).ok_or_else(invalid)?)),
        None => (text, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = parts.as_slice() else { return Err(invalid()) };
    let (year, month, day): (i64, u32, u32) = (
        year.parse().map_err(|_| invalid())?,
        month.parse().map_err(|_| invalid())?,
        day.parse().map_err(|_| invalid())?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        let (h, m, s) = match parts.as_slice() {
            [h, m] => (*h, *m, "0"),
            [h, m, s] => (*h, *m, *s),
            _ => return Err(invalid()),
        };
        let h: i64 = h.parse().map_err(|_| invalid())?;
        let m: i64 = m.parse().map_err(|_| invalid())?;
        let s: f64 = s.parse().map_err(|_| invalid())?;
        if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0.0..61.0).contains(&s) {
            return Err(invalid());
        }
        ms += (h * 3600 + m * 60) * 1000 + (s * 1000.0).round() as i64;
    }
    Ok(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// SplitMix64: small, fast, and the same numbers on every platform and version.
struct Rng(u64);

impl Rng {
    /// The generator of one visitor: independent of which thread simulates it.
    fn for_visitor(seed: u64, index: u64) -> Self {
        let mut base = Self(seed);
        Self(base.next_u64() ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `(0, 1]`.
    fn unit_open(&mut self) -> f64 {
        1.0 - self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal sample (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit_open(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_parse() {
        let e = parse_effect("treatment=+10%").unwrap();
        assert_eq!(e, Effect { rule: None, variation: "treatment".into(), lift: 0.1 });
        let e = parse_effect("checkout_test:b=-5.5%").unwrap();
        assert_eq!((e.rule.as_deref(), e.variation.as_str()), (Some("checkout_test"), "b"));
        assert!((e.lift + 0.055).abs() < 1e-12);
        assert_eq!(parse_effect("on=100%").unwrap().lift, 1.0);
        for bad in ["treatment", "treatment=10", "=10%", "t=-150%", ":t=1%", "t=x%"] {
            assert!(parse_effect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14 22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(parse_time("2024-03-01"), Ok(1_709_251_200_000));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        for bad in ["2024-13-01", "yesterday", "2024-05-01T08:00", "2024-05"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_rates_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_rate("200/s"), Ok(200.0));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert!(parse_rate("-1").is_err());
    }

    #[test]
    fn clocks() {
        let now = 1_700_000_000_000;
        assert_eq!(clock(None, None, now).unwrap(), Clock::Now);
        assert_eq!(clock(None, Some(1.0), now).unwrap(), Clock::Spread { start: now - 86_400_000, span: 86_400_000 });
        assert_eq!(clock(Some(5), Some(1.0), now).unwrap(), Clock::Spread { start: 5, span: 86_400_000 });
        assert_eq!(clock(Some(now - 10), None, now).unwrap(), Clock::Spread { start: now - 10, span: 10 });
        assert!(clock(Some(now + 10), None, now).is_err());
        assert!(clock(None, Some(0.0), now).is_err());
    }

    #[test]
    fn lognormal_has_the_asked_mean() {
        let model = LogNormal::with_mean(4200.0, 0.8);
        let mut rng = Rng(7);
        let n = 200_000;
        let mean = (0..n).map(|_| model.sample(&mut rng, 1.0)).sum::<f64>() / f64::from(n);
        assert!((mean / 4200.0 - 1.0).abs() < 0.02, "{mean}");
        let doubled = (0..n).map(|_| model.sample(&mut rng, 2.0)).sum::<f64>() / f64::from(n);
        assert!((doubled / 8400.0 - 1.0).abs() < 0.02, "{doubled}");
    }

    #[test]
    fn visitors_do_not_depend_on_each_other() {
        let a: Vec<u64> = (0..3).map(|i| Rng::for_visitor(1, i).next_u64()).collect();
        assert_eq!(Rng::for_visitor(1, 2).next_u64(), a[2]);
        assert_ne!(a[0], a[1]);
        assert_ne!(Rng::for_visitor(2, 0).next_u64(), a[0]);
    }
}
