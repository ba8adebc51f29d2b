//! What a results computation needs from the datafile: the experiment, its variations
//! with their configured split, and the events that are its metrics.

use vario_datafile::ProjectConfig;

use crate::ResultsError;

/// One variation as the results show it.
#[derive(Debug, Clone, PartialEq)]
pub struct VariationSpec {
    /// Variation id, as stored in decision events.
    pub id: String,
    /// Variation key.
    pub key: String,
    /// Configured share of traffic (bucket units out of 10,000) for the SRM check.
    pub weight: f64,
}

/// A conversion event that is a metric of the experiment (`experimentIds` in the datafile).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    /// Event id.
    pub id: String,
    /// Event key, as stored in conversion events.
    pub key: String,
}

/// The experiment under analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentDesign {
    /// Project id: only events of this project count.
    pub project_id: String,
    /// Experiment (or rule) id, as stored in decision events.
    pub id: String,
    /// Experiment (or rule) key.
    pub key: String,
    /// Variations in datafile order; the first is the default baseline.
    pub variations: Vec<VariationSpec>,
    /// Metric events, in datafile order.
    pub events: Vec<EventSpec>,
}

impl ExperimentDesign {
    /// The design of the experiment or rule `key` in `config`.
    pub fn from_config(config: &ProjectConfig, key: &str) -> Result<Self, ResultsError> {
        let index =
            config.experiment_by_key(key).ok_or_else(|| ResultsError::UnknownExperiment { key: key.to_owned() })?;
        let experiment = &config.experiments[index];
        let mut variations: Vec<VariationSpec> = experiment
            .variations
            .iter()
            .map(|v| VariationSpec { id: v.id.clone(), key: v.key.clone(), weight: 0.0 })
            .collect();
        // Each range covers the buckets from the previous range's end to its own.
        let mut start = 0;
        for range in &experiment.traffic_allocation {
            let end = range.end_of_range.clamp(start, 10_000);
            if let Some(v) = range.variation.and_then(|v| variations.get_mut(v)) {
                v.weight += (end - start) as f64;
            }
            start = end;
        }
        let events = config
            .events
            .iter()
            .filter(|e| e.experiment_ids.contains(&experiment.id))
            .map(|e| EventSpec { id: e.id.clone(), key: e.key.clone() })
            .collect();
        Ok(Self {
            project_id: config.project_id.clone(),
            id: experiment.id.clone(),
            key: experiment.key.clone(),
            variations,
            events,
        })
    }

    /// The index of the variation with this id.
    pub fn variation_by_id(&self, id: &str) -> Option<usize> {
        self.variations.iter().position(|v| v.id == id)
    }
}
