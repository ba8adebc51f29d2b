//! Counters and histograms, rendered in the Prometheus text format by `GET /metrics`.
//! Written directly: a handful of atomics needs no metrics framework.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use vario_store::{CommitInfo, StoreStats};

use crate::error::Code;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        // Cumulative buckets are summed at render time; each observation counts once.
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The routes requests are timed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/events`.
    Events,
    /// `GET /datafiles/...`.
    Datafiles,
    /// `/api/...`.
    Admin,
    /// `/healthz`, `/metrics`.
    Ops,
    /// Anything else (404s).
    Other,
}

impl Route {
    const ALL: [Self; 5] = [Self::Events, Self::Datafiles, Self::Admin, Self::Ops, Self::Other];

    fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Datafiles => "datafiles",
            Self::Admin => "admin",
            Self::Ops => "ops",
            Self::Other => "other",
        }
    }

    /// The route of a request path.
    pub fn of(path: &str) -> Self {
        if path == "/v1/events" {
            Self::Events
        } else if path.starts_with("/datafiles/") {
            Self::Datafiles
        } else if path.starts_with("/api/") {
            Self::Admin
        } else if path == "/healthz" || path == "/metrics" {
            Self::Ops
        } else {
            Self::Other
        }
    }
}

/// Every metric of the server.
#[derive(Default)]
pub struct Metrics {
    /// Events in batches answered 204.
    pub events_accepted: AtomicU64,
    /// Events newly stored by this process.
    pub events_stored: AtomicU64,
    /// Duplicate events (retries) not stored again.
    pub events_duplicate: AtomicU64,
    /// Event batches answered 204.
    pub batches_accepted: AtomicU64,
    batches_rejected: [AtomicU64; Code::ALL.len()],
    latency: [Histogram; Route::ALL.len()],
    /// Duration of each log commit, fsync included.
    pub commit_latency: Histogram,
    commits_failed: AtomicU64,
    commit_events: AtomicU64,
}

impl Metrics {
    /// Counts an event batch refused with `code`.
    pub fn reject(&self, code: Code) {
        if let Some(i) = Code::ALL.iter().position(|&c| c == code) {
            self.batches_rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Times a request.
    pub fn observe_request(&self, route: Route, duration: Duration) {
        if let Some(i) = Route::ALL.iter().position(|&r| r == route) {
            self.latency[i].observe(duration);
        }
    }

    /// Records a commit of the log (called on the writer thread).
    pub fn observe_commit(&self, info: &CommitInfo) {
        if info.ok {
            self.commit_latency.observe(info.duration);
            self.commit_events.fetch_add(info.events as u64, Ordering::Relaxed);
        } else {
            self.commits_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition of everything, with the store's gauges.
    pub fn render(&self, store: Option<StoreStats>, datafile_bytes: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "vario_events_accepted_total",
            "Events in batches answered 204.",
            load(&self.events_accepted),
        );
        counter(&mut out, "vario_events_stored_total", "Events newly stored.", load(&self.events_stored));
        counter(
            &mut out,
            "vario_events_duplicate_total",
            "Events whose uuid was already stored (retries); counted once.",
            load(&self.events_duplicate),
        );
        counter(
            &mut out,
            "vario_event_batches_accepted_total",
            "Event batches answered 204.",
            load(&self.batches_accepted),
        );

        let _ = writeln!(
            out,
            "# HELP vario_event_batches_rejected_total Event batches refused, by error code.\n\
             # TYPE vario_event_batches_rejected_total counter"
        );
        for (code, n) in Code::ALL.iter().zip(&self.batches_rejected) {
            let _ = writeln!(out, "vario_event_batches_rejected_total{{reason=\"{}\"}} {}", code.as_str(), load(n));
        }

        let _ = writeln!(
            out,
            "# HELP vario_http_request_duration_seconds Time to answer a request, by route.\n\
             # TYPE vario_http_request_duration_seconds histogram"
        );
        for (route, h) in Route::ALL.iter().zip(&self.latency) {
            h.render(&mut out, "vario_http_request_duration_seconds", &format!("route=\"{}\"", route.as_str()));
        }

        let _ = writeln!(
            out,
            "# HELP vario_store_commit_duration_seconds Time of one group commit of the event log, fsync included.\n\
             # TYPE vario_store_commit_duration_seconds histogram"
        );
        self.commit_latency.render(&mut out, "vario_store_commit_duration_seconds", "");
        counter(
            &mut out,
            "vario_store_commit_failures_total",
            "Commits that failed (nothing kept).",
            load(&self.commits_failed),
        );
        counter(
            &mut out,
            "vario_store_commit_events_total",
            "Events offered to successful commits.",
            load(&self.commit_events),
        );

        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        let stats = store.unwrap_or_default();
        counter(
            &mut out,
            "vario_store_commits_total",
            "Group commits of the event log (one fsync each).",
            stats.commits,
        );
        gauge(&mut out, "vario_store_queue_depth", "Batches waiting for the log writer.", stats.queue_depth);
        gauge(&mut out, "vario_storage_bytes", "Bytes on disk: event log and datafiles.", stats.bytes + datafile_bytes);
        gauge(&mut out, "vario_uuid_index_runs", "Run files of the event uuid index.", stats.uuid_runs);
        gauge(
            &mut out,
            "vario_uuid_index_memory_bytes",
            "Memory of the event uuid index: recent keys, filters, block indexes.",
            stats.uuid_index_bytes,
        );
        gauge(
            &mut out,
            "vario_storage_up",
            "1 when the event log is writable, 0 when it is unavailable.",
            u64::from(store.is_some_and(|s| s.healthy)),
        );
        out
    }
}
