//! Typed access to the columns of the scans' Arrow batches, whatever string or integer
//! encoding the engine chose for them.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::ResultsError;

/// A text column.
pub(crate) enum Strings<'a> {
    Utf8(&'a arrow::array::StringArray),
    Large(&'a arrow::array::LargeStringArray),
    View(&'a arrow::array::StringViewArray),
}

impl Strings<'_> {
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        match self {
            Self::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            Self::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            Self::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, ResultsError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ResultsError::InvalidRequest(format!("the query must return a column named {name:?}")))
}

/// The text column `name`.
pub(crate) fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<Strings<'a>, ResultsError> {
    let c = column(batch, name)?;
    match c.data_type() {
        DataType::Utf8 => Ok(Strings::Utf8(c.as_string::<i32>())),
        DataType::LargeUtf8 => Ok(Strings::Large(c.as_string::<i64>())),
        DataType::Utf8View => Ok(Strings::View(c.as_string_view())),
        other => Err(ResultsError::InvalidRequest(format!("column {name:?} must be text, it is {other}"))),
    }
}

/// The column `name` as 64-bit integers (nulls as `None`).
pub(crate) fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, ResultsError> {
    let c = column(batch, name)?;
    let cast = arrow::compute::cast(c, &DataType::Int64)
        .map_err(|e| ResultsError::InvalidRequest(format!("column {name:?} must be an integer: {e}")))?;
    let a = cast.as_primitive::<Int64Type>();
    Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
}

/// The column `name` as doubles (nulls as `None`).
pub(crate) fn floats(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, ResultsError> {
    let c = column(batch, name)?;
    let cast = arrow::compute::cast(c, &DataType::Float64)
        .map_err(|e| ResultsError::InvalidRequest(format!("column {name:?} must be a number: {e}")))?;
    let a = cast.as_primitive::<Float64Type>();
    Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
}
