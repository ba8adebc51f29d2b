//! Results over a data directory: the DataFusion scans (`docs/results.md` shows them),
//! attribution in one pass over their answers, the statistics, and a cache keyed by the
//! state of the stored events.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use vario_datafile::ProjectConfig;
use vario_stats::{AnalysisSettings, MixingRule};

use crate::ResultsError;
use crate::analysis::{AnalysisInput, MetricSpec, alpha, analyse};
use crate::attribution::Attributed;
use crate::columns::{floats, ints, strings};
use crate::design::ExperimentDesign;
use crate::document::{Aggregation, ResultsDocument};
use crate::request::ResultsRequest;
use crate::scanned::Scanned;

/// How many answers the cache keeps.
const CACHE_ENTRIES: usize = 64;

/// What a long computation reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Decision rows read so far.
    Decisions(u64),
    /// Conversion (and SQL metric) rows read so far.
    Conversions(u64),
}

/// A text literal for SQL: quotes doubled.
pub fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The scan of the experiment's decisions.
pub fn decisions_sql(design: &ExperimentDesign, req: &ResultsRequest) -> String {
    let mut sql = format!(
        "SELECT visitor_id, variation_id, timestamp, seq{} FROM events \
         WHERE kind = 'decision' AND experiment_id = {} AND project_id = {}",
        if req.segment.is_some() { ", attributes" } else { "" },
        sql_text(&design.id),
        sql_text(&design.project_id),
    );
    push_window(&mut sql, req);
    sql
}

/// The scan of the conversions of the experiment's metric events (`None` when it has
/// none).
pub fn conversions_sql(design: &ExperimentDesign, req: &ResultsRequest) -> Option<String> {
    if design.events.is_empty() {
        return None;
    }
    let keys: Vec<String> = design.events.iter().map(|e| sql_text(&e.key)).collect();
    let mut sql = format!(
        "SELECT visitor_id, event_key, timestamp, revenue, value FROM events \
         WHERE kind = 'conversion' AND project_id = {} AND event_key IN ({})",
        sql_text(&design.project_id),
        keys.join(", "),
    );
    push_window(&mut sql, req);
    Some(sql)
}

fn push_window(sql: &mut String, req: &ResultsRequest) {
    // No conversion before the window's start can follow a decision inside it.
    if let Some(from) = req.window.from {
        sql.push_str(&format!(" AND timestamp >= {from}"));
    }
    if let Some(to) = req.window.to {
        sql.push_str(&format!(" AND timestamp <= {to}"));
    }
}

/// The metrics of a design and request, in output order, and the number of slots.
pub fn metric_specs(design: &ExperimentDesign, req: &ResultsRequest) -> (Vec<MetricSpec>, usize) {
    let mut metrics = Vec::new();
    for (slot, event) in design.events.iter().enumerate() {
        for (aggregation, what) in [
            (Aggregation::UniqueConversions, "conversion rate"),
            (Aggregation::TotalConversions, "conversions per visitor"),
            (Aggregation::Revenue, "revenue per visitor"),
            (Aggregation::Value, "value per visitor"),
        ] {
            metrics.push(MetricSpec {
                name: format!("{}: {what}", event.key),
                event_key: Some(event.key.clone()),
                aggregation,
                slot,
            });
        }
    }
    for (i, m) in req.sql_metrics.iter().enumerate() {
        metrics.push(MetricSpec {
            name: m.name.clone(),
            event_key: None,
            aggregation: Aggregation::Sql,
            slot: design.events.len() + i,
        });
    }
    let slots = design.events.len() + req.sql_metrics.len();
    (metrics, slots)
}

/// Everything attribution produced, for results and exports.
#[derive(Debug)]
pub struct Attribution {
    /// The experiment.
    pub design: ExperimentDesign,
    /// Its metrics.
    pub metrics: Vec<MetricSpec>,
    /// Visitors and their attributed conversions.
    pub attributed: Attributed,
}

/// Results of experiments in one data directory.
#[derive(Debug)]
pub struct Engine {
    data_dir: PathBuf,
    cache: Mutex<VecDeque<(String, Arc<ResultsDocument>)>>,
    scans: Mutex<Option<(String, Arc<Scanned>)>>,
}

impl Engine {
    /// An engine over `data_dir` (as `vario serve` writes it).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self { data_dir: data_dir.into(), cache: Mutex::new(VecDeque::new()), scans: Mutex::new(None) }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The results document of `req` over the events stored now. Answers again from
    /// the cache while neither the events nor the datafile changed.
    pub fn results(
        &self,
        config: &ProjectConfig,
        req: &ResultsRequest,
        progress: &dyn Fn(Progress),
    ) -> Result<Arc<ResultsDocument>, ResultsError> {
        let version = vario_store::data_version(&self.data_dir)?;
        let key = format!("{version}\n{}\n{}\n{}", config.project_id, config.revision, req.cache_key());
        if let Some(doc) = self.cached(&key) {
            return Ok(doc);
        }
        let settings = AnalysisSettings { alpha: alpha(req.alpha)?, mixing: MixingRule::default() };
        let attribution = self.attribute_at(&version, config, req, progress)?;
        let baseline = match &req.baseline {
            Some(key) => attribution
                .design
                .variations
                .iter()
                .position(|v| v.key == *key)
                .ok_or_else(|| ResultsError::InvalidRequest(format!("baseline: no variation with key {key:?}")))?,
            None => 0,
        };
        let tallies = attribution.attributed.finish();
        let doc = Arc::new(analyse(
            &tallies,
            &AnalysisInput {
                design: &attribution.design,
                metrics: &attribution.metrics,
                settings,
                baseline,
                segment: req.segment.clone(),
                granularity: req.granularity,
                exclude_multiple: req.exclude_multiple_exposures,
            },
        ));
        self.store(key, Arc::clone(&doc));
        Ok(doc)
    }

    fn cached(&self, key: &str) -> Option<Arc<ResultsDocument>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.iter().find(|(k, _)| k == key).map(|(_, d)| Arc::clone(d))
    }

    fn store(&self, key: String, doc: Arc<ResultsDocument>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(k, _)| *k != key);
        if cache.len() >= CACHE_ENTRIES {
            cache.pop_front();
        }
        cache.push_back((key, doc));
    }

    /// Reads the events and attributes them (no statistics): what exports need.
    pub fn attribute(
        &self,
        config: &ProjectConfig,
        req: &ResultsRequest,
        progress: &dyn Fn(Progress),
    ) -> Result<Attribution, ResultsError> {
        self.attribute_at(&vario_store::data_version(&self.data_dir)?, config, req, progress)
    }

    /// [`Engine::attribute`] over the events at data version `version`.
    fn attribute_at(
        &self,
        version: &str,
        config: &ProjectConfig,
        req: &ResultsRequest,
        progress: &dyn Fn(Progress),
    ) -> Result<Attribution, ResultsError> {
        if let (Some(from), Some(to)) = (req.window.from, req.window.to)
            && from > to
        {
            return Err(ResultsError::InvalidRequest(format!("the window starts ({from}) after it ends ({to})")));
        }
        alpha(req.alpha)?;
        let design = ExperimentDesign::from_config(config, &req.experiment)?;
        if design.variations.is_empty() {
            return Err(ResultsError::InvalidRequest(format!("experiment {:?} has no variations", design.key)));
        }
        let (metrics, slots) = metric_specs(&design, req);
        if slots >= 1 << 16 {
            return Err(ResultsError::InvalidRequest(format!("too many metrics ({slots})")));
        }

        let scanned = self.scanned(version, &design, req, progress)?;
        let mut attributed = scanned.replay(
            req.window,
            req.segment.as_ref(),
            design.variations.len(),
            slots,
            req.granularity,
            req.exclude_multiple_exposures,
        );
        let mut rows = 0u64;
        for (i, metric) in req.sql_metrics.iter().enumerate() {
            let slot = design.events.len() + i;
            let sql = format!(
                "SELECT visitor_id, timestamp, value FROM ({}) AS metric",
                metric.sql.trim().trim_end_matches(';')
            );
            vario_store::scan(&self.data_dir, &sql, |batch: &RecordBatch| {
                add_sql_rows(&mut attributed, slot, batch)?;
                rows += batch.num_rows() as u64;
                progress(Progress::Conversions(rows));
                Ok::<(), ResultsError>(())
            })
            .map_err(|e| match ResultsError::from(e) {
                ResultsError::Query(q) => ResultsError::InvalidRequest(format!("SQL metric {:?}: {q}", metric.name)),
                ResultsError::InvalidRequest(m) => {
                    ResultsError::InvalidRequest(format!("SQL metric {:?}: {m}", metric.name))
                }
                other => other,
            })?;
        }
        Ok(Attribution { design, metrics, attributed })
    }

    /// The experiment's events for all time, from the cache while the stored events are
    /// at `version`, else read with the scans.
    fn scanned(
        &self,
        version: &str,
        design: &ExperimentDesign,
        req: &ResultsRequest,
        progress: &dyn Fn(Progress),
    ) -> Result<Arc<Scanned>, ResultsError> {
        let keys: Vec<&str> = design.events.iter().map(|e| e.key.as_str()).collect();
        let key = format!("{version}\n{}\n{}\n{}", design.project_id, design.id, keys.join("\n"));
        let need_attributes = req.segment.is_some();
        {
            let cached = self.scans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((k, scanned)) = cached.as_ref()
                && *k == key
                && (scanned.has_attributes() || !need_attributes)
            {
                return Ok(Arc::clone(scanned));
            }
        }
        // For all time: windows are applied when replaying.
        let mut all_time = ResultsRequest::new(&req.experiment);
        all_time.segment = req.segment.clone();
        let mut scanned = Scanned::new(need_attributes);
        let mut rows = 0u64;
        vario_store::scan(&self.data_dir, &decisions_sql(design, &all_time), |batch: &RecordBatch| {
            scanned.add_decisions(design, batch)?;
            rows += batch.num_rows() as u64;
            progress(Progress::Decisions(rows));
            Ok::<(), ResultsError>(())
        })?;
        let mut rows = 0u64;
        if let Some(sql) = conversions_sql(design, &all_time) {
            let slot_of: foldhash::HashMap<&str, usize> =
                design.events.iter().enumerate().map(|(i, e)| (e.key.as_str(), i)).collect();
            vario_store::scan(&self.data_dir, &sql, |batch: &RecordBatch| {
                scanned.add_conversions(&slot_of, batch)?;
                rows += batch.num_rows() as u64;
                progress(Progress::Conversions(rows));
                Ok::<(), ResultsError>(())
            })?;
        }
        scanned.seal();
        let scanned = Arc::new(scanned);
        // One experiment's events at a time: they can take a good part of memory.
        *self.scans.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((key, Arc::clone(&scanned)));
        Ok(scanned)
    }
}

fn add_sql_rows(attributed: &mut Attributed, slot: usize, batch: &RecordBatch) -> Result<(), ResultsError> {
    let visitors = strings(batch, "visitor_id")?;
    let ts = ints(batch, "timestamp")?;
    let value = floats(batch, "value")?;
    for i in 0..batch.num_rows() {
        let (Some(visitor), Some(t)) = (visitors.get(i), ts[i]) else { continue };
        attributed.add(visitor, slot, t, 1, None, value[i]);
    }
    Ok(())
}

/// The datafile that defines experiment `key`: among the hosted datafiles of `data_dir`
/// (only the one of `sdk_key` when given), or the file `datafile` when given.
pub fn find_config(
    data_dir: &Path,
    key: &str,
    sdk_key: Option<&str>,
    datafile: Option<&Path>,
) -> Result<ProjectConfig, ResultsError> {
    if let Some(path) = datafile {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ResultsError::Datafile(format!("cannot read {}: {e}", path.display())))?;
        return ProjectConfig::from_json(&text).map_err(|e| ResultsError::Datafile(format!("{}: {e}", path.display())));
    }
    let hosted = vario_store::Datafiles::new(data_dir).load_all()?;
    let mut found = Vec::new();
    for stored in hosted {
        if sdk_key.is_some_and(|k| k != stored.sdk_key) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&stored.bytes) else { continue };
        let Ok(config) = ProjectConfig::from_json(text) else { continue };
        if config.experiment_by_key(key).is_some() {
            found.push((stored.sdk_key, config));
        }
    }
    match found.len() {
        0 => Err(match sdk_key {
            Some(k) => ResultsError::Datafile(format!("the datafile of SDK key {k:?} has no experiment {key:?}")),
            None => ResultsError::UnknownExperiment { key: key.to_owned() },
        }),
        1 => Ok(found.remove(0).1),
        _ => {
            let keys: Vec<String> = found.into_iter().map(|(k, _)| k).collect();
            Err(ResultsError::InvalidRequest(format!(
                "experiment {key:?} is in the datafiles of several SDK keys ({}); choose one with the SDK key option",
                keys.join(", ")
            )))
        }
    }
}
