//! Exports for other tools: the experiment's conversions with the variation each was
//! attributed to, the per-visitor table, and the results as CSV.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use crate::ResultsError;
use crate::columns::{floats, ints, strings};
use crate::engine::{Attribution, conversions_sql};
use crate::request::ResultsRequest;

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }
}

/// One column of rows to write.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<bool>),
}

impl Column {
    fn data_type(&self) -> DataType {
        match self {
            Self::Text(_) => DataType::Utf8,
            Self::Int(_) => DataType::Int64,
            Self::Float(_) => DataType::Float64,
            Self::Bool(_) => DataType::Boolean,
        }
    }

    fn cell(&self, i: usize) -> String {
        match self {
            Self::Text(v) => v[i].clone().unwrap_or_default(),
            Self::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Self::Float(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Self::Bool(v) => v[i].to_string(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }

    fn into_array(self) -> ArrayRef {
        match self {
            Self::Text(v) => Arc::new(StringArray::from(v)),
            Self::Int(v) => Arc::new(Int64Array::from(v)),
            Self::Float(v) => Arc::new(Float64Array::from(v)),
            Self::Bool(v) => Arc::new(BooleanArray::from(v)),
        }
    }
}

/// Writes rows in one format.
enum TableWriter {
    Csv(csv::Writer<File>),
    Parquet(Option<ArrowWriter<File>>),
}

struct Table {
    path: PathBuf,
    names: Vec<String>,
    writer: TableWriter,
}

impl Table {
    fn create(path: PathBuf, names: Vec<String>, format: Format) -> Result<Self, ResultsError> {
        let file = File::create(&path).map_err(|e| export_error(&path, e))?;
        let writer = match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(&names).map_err(|e| export_error(&path, e))?;
                TableWriter::Csv(w)
            }
            // The Parquet writer needs the schema, known with the first rows.
            Format::Parquet => {
                drop(file);
                TableWriter::Parquet(None)
            }
        };
        Ok(Self { path, names, writer })
    }

    fn write(&mut self, columns: Vec<Column>) -> Result<(), ResultsError> {
        let rows = columns.first().map_or(0, Column::len);
        match &mut self.writer {
            TableWriter::Csv(w) => {
                for i in 0..rows {
                    w.write_record(columns.iter().map(|c| c.cell(i))).map_err(|e| export_error(&self.path, e))?;
                }
            }
            TableWriter::Parquet(slot) => {
                let fields: Vec<Field> =
                    self.names.iter().zip(&columns).map(|(n, c)| Field::new(n.as_str(), c.data_type(), true)).collect();
                let schema = Arc::new(Schema::new(fields));
                let batch =
                    RecordBatch::try_new(Arc::clone(&schema), columns.into_iter().map(Column::into_array).collect())
                        .map_err(|e| export_error(&self.path, e))?;
                if slot.is_none() {
                    let file = File::create(&self.path).map_err(|e| export_error(&self.path, e))?;
                    *slot = Some(ArrowWriter::try_new(file, schema, None).map_err(|e| export_error(&self.path, e))?);
                }
                if let Some(w) = slot {
                    w.write(&batch).map_err(|e| export_error(&self.path, e))?;
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<PathBuf, ResultsError> {
        match self.writer {
            TableWriter::Csv(mut w) => w.flush().map_err(|e| export_error(&self.path, e))?,
            TableWriter::Parquet(Some(w)) => {
                w.close().map_err(|e| export_error(&self.path, e))?;
            }
            TableWriter::Parquet(None) => {}
        }
        Ok(self.path)
    }
}

fn export_error(path: &Path, e: impl std::fmt::Display) -> ResultsError {
    ResultsError::Export { path: path.display().to_string(), message: e.to_string() }
}

/// Writes `conversions.{ext}` (every conversion of the experiment's metric events in
/// the window, with the variation it was attributed to, or none when it does not
/// count) and `visitors.{ext}` (one row per visitor: variation, first decision, and per
/// metric event their conversions, revenue and value) into directory `out`. Returns
/// the files written.
pub fn export_events(
    data_dir: &Path,
    attribution: &Attribution,
    req: &ResultsRequest,
    format: Format,
    out: &Path,
) -> Result<Vec<PathBuf>, ResultsError> {
    std::fs::create_dir_all(out).map_err(|e| export_error(out, e))?;
    let ext = format.extension();
    let design = &attribution.design;
    let mut files = Vec::new();

    let mut conversions = Table::create(
        out.join(format!("conversions.{ext}")),
        ["visitor_id", "event_key", "timestamp", "revenue", "value", "counted", "variation_key"]
            .map(String::from)
            .to_vec(),
        format,
    )?;
    if let Some(sql) = conversions_sql(design, req) {
        vario_store::scan(data_dir, &sql, |batch: &RecordBatch| {
            let visitors = strings(batch, "visitor_id")?;
            let keys = strings(batch, "event_key")?;
            let ts = ints(batch, "timestamp")?;
            let mut variation = Vec::with_capacity(batch.num_rows());
            let mut counted = Vec::with_capacity(batch.num_rows());
            let mut ids = Vec::with_capacity(batch.num_rows());
            let mut event_keys = Vec::with_capacity(batch.num_rows());
            for (i, t) in ts.iter().enumerate() {
                let v = match (visitors.get(i), t) {
                    (Some(visitor), Some(t)) => attribution.attributed.attribute(visitor, *t),
                    _ => None,
                };
                counted.push(v.is_some());
                variation.push(v.and_then(|v| design.variations.get(v)).map(|v| v.key.clone()));
                ids.push(visitors.get(i).map(str::to_owned));
                event_keys.push(keys.get(i).map(str::to_owned));
            }
            conversions.write(vec![
                Column::Text(ids),
                Column::Text(event_keys),
                Column::Int(ts),
                Column::Int(ints(batch, "revenue")?),
                Column::Float(floats(batch, "value")?),
                Column::Bool(counted),
                Column::Text(variation),
            ])
        })?;
    }
    files.push(conversions.finish()?);

    // One column group per metric event: conversions, revenue, value.
    let mut names: Vec<String> = ["visitor_id", "variation_key", "first_decision", "multiple_exposures", "in_segment"]
        .map(String::from)
        .to_vec();
    for e in &design.events {
        names.extend([format!("{}_conversions", e.key), format!("{}_revenue", e.key), format!("{}_value", e.key)]);
    }
    let mut visitors = Table::create(out.join(format!("visitors.{ext}")), names, format)?;
    const CHUNK: usize = 65_536;
    let mut rows = attribution.attributed.visitors().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        let mut columns = vec![
            Column::Text(chunk.iter().map(|r| Some(r.visitor_id.to_owned())).collect()),
            Column::Text(chunk.iter().map(|r| design.variations.get(r.variation).map(|v| v.key.clone())).collect()),
            Column::Int(chunk.iter().map(|r| Some(r.first_decision)).collect()),
            Column::Bool(chunk.iter().map(|r| r.multiple_exposures).collect()),
            Column::Bool(chunk.iter().map(|r| r.in_segment).collect()),
        ];
        for slot in 0..design.events.len() {
            columns.push(Column::Int(chunk.iter().map(|r| i64::try_from(r.outcomes[slot].conversions).ok()).collect()));
            columns.push(Column::Int(chunk.iter().map(|r| i64::try_from(r.outcomes[slot].revenue).ok()).collect()));
            columns.push(Column::Float(chunk.iter().map(|r| Some(r.outcomes[slot].value)).collect()));
        }
        visitors.write(columns)?;
    }
    files.push(visitors.finish()?);
    Ok(files)
}
