//! Synthetic experiment data with a known effect, written straight into Parquet
//! storage: for benchmarks at sizes the Events API would take hours to ingest, and for
//! demonstrations. Deterministic for a seed.
//!
//! One A/B test (`checkout_test`: `control` and `treatment`, 50/50) with one metric
//! event (`purchase`, with revenue and value) and two events that are no metric of it
//! (`page_view`, `add_to_cart`). Each visitor arrives on a random day, gets one to three
//! decisions, and sends on average eight conversions, some of them before their first
//! decision (which must not count). About one visitor in a hundred gets a decision for
//! the other variation too (a multiple exposure).

use std::path::Path;

use serde_json::json;
use vario_store::{BulkWriter, DecisionRow, EventKind, EventRow, StoredEvent};

use crate::ResultsError;

/// The experiment's key.
pub const EXPERIMENT_KEY: &str = "checkout_test";
/// SDK key under which the datafile is hosted.
pub const SDK_KEY: &str = "synthetic";
const EXPERIMENT_ID: &str = "990000";
const LAYER_ID: &str = "990099";
const VARIATIONS: [(&str, &str); 2] = [("990001", "control"), ("990002", "treatment")];
const BROWSERS: [&str; 4] = ["chrome", "safari", "firefox", "edge"];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    /// Visitors.
    pub visitors: u64,
    /// Days the experiment runs.
    pub days: u32,
    /// First day (Unix epoch ms of its midnight UTC).
    pub start: i64,
    /// Purchase probability in the control.
    pub purchase_rate: f64,
    /// Relative lift of the purchase probability in the treatment (0.1 = +10%).
    pub lift: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Self { visitors: 10_000, days: 14, start: 1_793_577_600_000, purchase_rate: 0.1, lift: 0.1, seed: 1 }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generated {
    /// Decision events.
    pub decisions: u64,
    /// Conversion events.
    pub conversions: u64,
}

/// The datafile of the synthetic project.
pub fn datafile() -> serde_json::Value {
    json!({
        "version": "4", "accountId": "7001", "projectId": "7002", "revision": "1", "sdkKey": SDK_KEY,
        "attributes": [{"id": "7101", "key": "browser"}],
        "audiences": [], "groups": [], "featureFlags": [], "rollouts": [],
        "experiments": [{
            "id": EXPERIMENT_ID, "key": EXPERIMENT_KEY, "layerId": LAYER_ID, "status": "Running",
            "audienceIds": [], "forcedVariations": {},
            "variations": [{"id": VARIATIONS[0].0, "key": VARIATIONS[0].1}, {"id": VARIATIONS[1].0, "key": VARIATIONS[1].1}],
            "trafficAllocation": [{"entityId": VARIATIONS[0].0, "endOfRange": 5000},
                                  {"entityId": VARIATIONS[1].0, "endOfRange": 10000}]
        }],
        "events": [
            {"id": "7201", "key": "purchase", "experimentIds": [EXPERIMENT_ID]},
            {"id": "7202", "key": "page_view", "experimentIds": []},
            {"id": "7203", "key": "add_to_cart", "experimentIds": []}
        ]
    })
}

/// SplitMix64: a tiny, well-mixed generator; one independent stream per visitor.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Per-date buffers are written once they hold this many events.
const FLUSH_EVENTS: usize = 400_000;

/// Writes the data set into the fresh data directory `data_dir`: the datafile is
/// hosted under [`SDK_KEY`] and the events go straight into Parquet partitions.
pub fn generate(data_dir: &Path, spec: &Synthetic, progress: &dyn Fn(u64)) -> Result<Generated, ResultsError> {
    let mut writer = BulkWriter::create(data_dir)?;
    vario_store::Datafiles::new(data_dir).put(SDK_KEY, datafile().to_string().as_bytes())?;
    let days = spec.days.max(1) as usize;
    let mut buffers: Vec<Vec<EventRow>> = (0..days + 1).map(|_| Vec::new()).collect();
    let mut out = Generated::default();
    let day_ms = 86_400_000i64;
    let end = spec.start + days as i64 * day_ms - 1;
    for visitor in 0..spec.visitors {
        let mut rng = Rng::new(spec.seed, visitor);
        let id = format!("visitor-{visitor:010}");
        let v = (rng.next() & 1) as usize;
        let browser = BROWSERS[rng.below(4) as usize];
        let arrival = spec.start + rng.below(days as u64 * day_ms as u64) as i64;
        let attributes = format!(r#"[{{"entity_id":"7101","key":"browser","type":"custom","value":"{browser}"}}]"#);
        let decisions = 1 + rng.below(3);
        let mut t = arrival;
        for k in 0..decisions {
            // One visitor in a hundred is later decided into the other variation.
            let variation = if k > 0 && rng.below(100) == 0 { 1 - v } else { v };
            let row = decision_row(&id, &attributes, VARIATIONS[variation], t, spec.seed, visitor, k);
            buffers[((t - spec.start) / day_ms) as usize].push(row);
            out.decisions += 1;
            t = (t + rng.below(2 * day_ms as u64) as i64).min(end);
        }
        let p = spec.purchase_rate * if v == 1 { 1.0 + spec.lift } else { 1.0 };
        let purchases = u64::from(rng.unit() < p) + u64::from(rng.unit() < p * 0.2);
        let others = rng.below(17);
        for k in 0..purchases + others {
            // Some activity comes before the first decision; it must not count.
            let before = rng.below(20) == 0;
            let t = if before {
                (arrival - rng.below(day_ms as u64) as i64).max(spec.start)
            } else {
                (arrival + rng.below(3 * day_ms as u64) as i64).min(end)
            };
            let key = if k < purchases {
                "purchase"
            } else if rng.below(4) == 0 {
                "add_to_cart"
            } else {
                "page_view"
            };
            let (revenue, value) = if key == "purchase" {
                let cents = (2000.0 * (-(1.0 - rng.unit()).ln()) * 1.5) as i64 + 500;
                (Some(cents), Some((rng.below(50) as f64) / 10.0))
            } else {
                (None, None)
            };
            let row = conversion_row(&id, key, t, revenue, value, spec.seed, visitor, 100 + k);
            buffers[((t - spec.start) / day_ms) as usize].push(row);
            out.conversions += 1;
        }
        for buffer in &mut buffers {
            if buffer.len() >= FLUSH_EVENTS {
                flush(&mut writer, buffer)?;
            }
        }
        if visitor % 100_000 == 0 {
            progress(visitor);
        }
    }
    for buffer in &mut buffers {
        flush(&mut writer, buffer)?;
    }
    writer.finish()?;
    Ok(out)
}

fn flush(writer: &mut BulkWriter, buffer: &mut Vec<EventRow>) -> Result<(), ResultsError> {
    let first = writer.next_seq();
    let events: Vec<StoredEvent> = std::mem::take(buffer)
        .into_iter()
        .enumerate()
        .map(|(i, row)| StoredEvent { seq: first + i as i64, batch_id: 1, row })
        .collect();
    writer.write(events)?;
    Ok(())
}

fn uuid(seed: u64, visitor: u64, k: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:04x}{:08x}", seed as u32, k as u16, visitor as u32)
}

fn base_row(id: &str, kind: EventKind, t: i64) -> EventRow {
    EventRow {
        kind,
        account_id: "7001".into(),
        project_id: "7002".into(),
        revision: "1".into(),
        visitor_id: id.to_owned(),
        attributes: "[]".into(),
        entity_id: String::new(),
        decision: None,
        decisions: None,
        event_key: String::new(),
        timestamp: t,
        uuid: String::new(),
        revenue: None,
        value: None,
        tags: None,
        client_name: "python-sdk".into(),
        client_version: "5.7.0".into(),
        received_at: t,
    }
}

fn decision_row(
    id: &str,
    attributes: &str,
    variation: (&str, &str),
    t: i64,
    seed: u64,
    visitor: u64,
    k: u64,
) -> EventRow {
    let mut row = base_row(id, EventKind::Decision, t);
    row.attributes = attributes.to_owned();
    row.entity_id = LAYER_ID.into();
    row.event_key = "campaign_activated".into();
    row.uuid = uuid(seed, visitor, k);
    row.decision = Some(DecisionRow {
        campaign_id: LAYER_ID.into(),
        experiment_id: EXPERIMENT_ID.into(),
        variation_id: Some(variation.0.into()),
        flag_key: String::new(),
        rule_key: EXPERIMENT_KEY.into(),
        rule_type: "experiment".into(),
        variation_key: variation.1.into(),
        enabled: true,
        cmab_uuid: None,
    });
    row
}

#[allow(clippy::too_many_arguments)]
fn conversion_row(
    id: &str,
    key: &str,
    t: i64,
    revenue: Option<i64>,
    value: Option<f64>,
    seed: u64,
    visitor: u64,
    k: u64,
) -> EventRow {
    let mut row = base_row(id, EventKind::Conversion, t);
    row.entity_id = match key {
        "purchase" => "7201",
        "page_view" => "7202",
        _ => "7203",
    }
    .into();
    row.event_key = key.to_owned();
    row.uuid = uuid(seed, visitor, k);
    row.revenue = revenue;
    row.value = value;
    row
}
