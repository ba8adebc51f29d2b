//! A process that uses the event processor as an application would, for the tests that
//! need a real process to exit or be killed (`tests/it/durability.rs`), and for the
//! figures of the README's "The SDK in production" section.
//!
//! `vario-sdk-event-child MODE key=value...`, with keys `endpoint` (required), `spool`,
//! `events` (default 20,000), `batch` (50), `queue` (100,000), `close_ms` (10,000),
//! `flush_ms` (1,000), `attempts`, `initial_backoff_ms`, `max_backoff_ms`, `pace_us` (0):
//! - `close`: tracks `events` conversions, closes, prints one JSON line of counts and
//!   exits at once, as a service does on SIGTERM;
//! - `drain`: tracks nothing; waits until the spool holds no batch (at most `close_ms`),
//!   closes, prints the counts and how long the spool took to drain;
//! - `run`: tracks `events` conversions `pace_us` apart, printing `accepted <uuid>` for
//!   each one the processor accepted, then waits to be killed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use vario_core::Attributes;
use vario_events::EventFactory;
use vario_sdk::{EventProcessor, EventProcessorConfig, HttpEventDispatcher, NotificationCenter, ProjectConfig};

const DATAFILE: &str = r#"{"version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
    "groups": [], "experiments": [], "audiences": [], "attributes": [],
    "events": [{"id": "90001", "key": "purchase", "experimentIds": []}]}"#;

struct Args {
    mode: String,
    endpoint: String,
    spool: Option<PathBuf>,
    events: usize,
    pace: Duration,
    config: EventProcessorConfig,
}

fn parse() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mode = argv.next().ok_or("usage: vario-sdk-event-child close|drain|run key=value...")?;
    let mut args = Args {
        mode,
        endpoint: String::new(),
        spool: None,
        events: 20_000,
        pace: Duration::ZERO,
        config: EventProcessorConfig {
            batch_size: 50,
            queue_capacity: 100_000,
            close_timeout: Duration::from_secs(10),
            ..EventProcessorConfig::default()
        },
    };
    for arg in argv {
        let (key, value) = arg.split_once('=').ok_or_else(|| format!("not key=value: {arg}"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{key}: {e}"));
        let millis = || number().map(Duration::from_millis);
        let c = &mut args.config;
        match key {
            "endpoint" => args.endpoint = value.to_owned(),
            "spool" => args.spool = Some(PathBuf::from(value)),
            "events" => args.events = number()? as usize,
            "pace_us" => args.pace = Duration::from_micros(number()?),
            "batch" => c.batch_size = number()? as usize,
            "queue" => c.queue_capacity = number()? as usize,
            "close_ms" => c.close_timeout = millis()?,
            "flush_ms" => c.flush_interval = millis()?,
            "attempts" => c.max_attempts = number()? as u32,
            "initial_backoff_ms" => c.initial_backoff = millis()?,
            "max_backoff_ms" => c.max_backoff = millis()?,
            _ => return Err(format!("unknown key {key}")),
        }
    }
    if args.endpoint.is_empty() {
        return Err("endpoint=URL is required".into());
    }
    args.config.spool_dir = args.spool.clone();
    Ok(args)
}

/// The `.batch` files in the spool.
fn spooled_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "batch")).count())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let dispatcher = HttpEventDispatcher::builder().endpoint(args.endpoint.clone()).build()?;
    let started = Instant::now();
    let processor = EventProcessor::start(args.config.clone(), Arc::new(dispatcher), NotificationCenter::new())?;
    let factory = EventFactory::new(&ProjectConfig::from_json(DATAFILE)?);
    let mut out = std::io::stdout().lock();
    match args.mode.as_str() {
        "close" => {
            let mut accepted = 0u64;
            for i in 0..args.events {
                let event = factory
                    .conversion("purchase", &format!("user-{i}"), &Attributes::new(), None)
                    .ok_or("purchase is declared")?;
                accepted += u64::from(processor.process(event));
            }
            let closing = Instant::now();
            let report = processor.close();
            let close_ms = closing.elapsed().as_millis() as u64;
            let line = json!({
                "accepted": accepted, "close_ms": close_ms, "delivered": report.delivered,
                "spooled": report.spooled, "dropped": report.dropped, "in_flight": report.in_flight,
                "refused": report.refused, "timed_out": report.timed_out,
            });
            writeln!(out, "{line}")?;
            out.flush()?;
            // Exit at once, as a service does after close() on SIGTERM: no thread gets
            // more time.
            std::process::exit(0);
        }
        "drain" => {
            let dir = args.spool.as_deref().ok_or("drain needs spool=DIR")?;
            let limit = args.config.close_timeout;
            while spooled_files(dir) > 0 && started.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(5));
            }
            let drain_ms = started.elapsed().as_millis() as u64;
            let report = processor.close();
            let s = processor.stats();
            let line = json!({
                "drain_ms": drain_ms, "left_files": spooled_files(dir), "recovered_events": s.recovered_events,
                "delivered": report.delivered, "spooled": report.spooled, "dropped": report.dropped,
            });
            writeln!(out, "{line}")?;
            out.flush()?;
            std::process::exit(0);
        }
        "run" => {
            for i in 0..args.events {
                let event = factory
                    .conversion("purchase", &format!("user-{i}"), &Attributes::new(), None)
                    .ok_or("purchase is declared")?;
                let uuid = event.uuid().to_owned();
                if processor.process(event) {
                    writeln!(out, "accepted {uuid}")?;
                    out.flush()?;
                }
                if !args.pace.is_zero() {
                    std::thread::sleep(args.pace);
                }
            }
            writeln!(out, "done")?;
            out.flush()?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}
