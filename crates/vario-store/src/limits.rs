//! Limits of one query: memory (the DataFusion memory pool, and a bound on the string
//! functions that can make huge values from small inputs, which the pool does not see),
//! time, rows of the answer, and cancellation.
//!
//! [`query`](crate::query()) and [`scan`](crate::scan()) take the limits of the calling
//! thread, set with [`QueryLimits::apply`]: code that scans on behalf of a request (the
//! results engine) is limited without passing them through every call.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;
use tokio_util::sync::CancellationToken;

/// What one query may use. `None` everywhere (the default) is no limit.
#[derive(Debug, Clone, Default)]
pub struct QueryLimits {
    /// Bytes of memory the query's operators may reserve (sorts, joins, aggregations),
    /// and the largest total a string function may produce per batch.
    pub memory_bytes: Option<usize>,
    /// Longest running time.
    pub timeout: Option<Duration>,
    /// Most rows of a [`query`](crate::query()) answer (a [`scan`](crate::scan()) streams
    /// and is not limited in rows).
    pub max_rows: Option<usize>,
    /// Stops the query when cancelled.
    pub cancel: Option<CancellationToken>,
}

thread_local! {
    static CURRENT: RefCell<Option<QueryLimits>> = const { RefCell::new(None) };
}

impl QueryLimits {
    /// Runs `f` with these limits on every query and scan it makes on this thread.
    pub fn apply<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        // Restored even if `f` unwinds.
        struct Restore(Option<QueryLimits>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _restore = Restore(previous);
        f()
    }

    /// The limits of the calling thread.
    pub(crate) fn current() -> Self {
        CURRENT.with(|c| c.borrow().clone()).unwrap_or_default()
    }
}

/// Functions whose result can be far larger than their arguments.
const AMPLIFIERS: [(&str, Growth); 3] = [("repeat", Growth::Repeat), ("lpad", Growth::Pad), ("rpad", Growth::Pad)];

/// Replaces the amplifying string functions of `ctx` with ones that refuse to produce
/// more than `max_bytes` per batch.
pub(crate) fn bound_string_functions(ctx: &SessionContext, max_bytes: usize) -> DfResult<()> {
    for (name, growth) in AMPLIFIERS {
        let inner = ctx.udf(name)?;
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded { inner, growth, max_bytes }));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(s, n)`: `len(s) * n` bytes.
    Repeat,
    /// `lpad(s, n [, fill])`: `n` characters, up to 4 bytes each.
    Pad,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    max_bytes: usize,
}

impl Bounded {
    /// An upper bound of the bytes the call would produce.
    fn output_bytes(&self, args: &[ColumnarValue], rows: usize) -> DfResult<u128> {
        let counts = match args.get(1) {
            Some(count) => integers(count, rows)?,
            None => return Ok(0),
        };
        let total = match self.growth {
            Growth::Repeat => {
                let lengths = byte_lengths(&args[0], rows)?;
                lengths.iter().zip(&counts).map(|(l, n)| *l as u128 * (*n).max(0) as u128).sum()
            }
            Growth::Pad => counts.iter().map(|n| (*n).max(0) as u128 * 4).sum(),
        };
        Ok(total)
    }
}

/// Per row, the value of an integer argument (0 for null).
fn integers(value: &ColumnarValue, rows: usize) -> DfResult<Vec<i64>> {
    let array = one_or_all(value)?;
    let array = arrow::compute::cast(&array, &DataType::Int64)?;
    let ints = array.as_primitive::<Int64Type>();
    let at = |i: usize| if ints.is_null(i) { 0 } else { ints.value(i) };
    Ok(if ints.len() == 1 { vec![at(0); rows.max(1)] } else { (0..ints.len()).map(at).collect() })
}

/// Per row, the byte length of a string argument (0 for null).
fn byte_lengths(value: &ColumnarValue, rows: usize) -> DfResult<Vec<u64>> {
    let array = one_or_all(value)?;
    let array = arrow::compute::cast(&array, &DataType::LargeUtf8)?;
    let strings = array.as_string::<i64>();
    let at = |i: usize| if strings.is_null(i) { 0 } else { strings.value(i).len() as u64 };
    Ok(if strings.len() == 1 { vec![at(0); rows.max(1)] } else { (0..strings.len()).map(at).collect() })
}

fn one_or_all(value: &ColumnarValue) -> DfResult<ArrayRef> {
    match value {
        ColumnarValue::Array(array) => Ok(Arc::clone(array)),
        ColumnarValue::Scalar(scalar) => scalar_array(scalar),
    }
}

fn scalar_array(scalar: &ScalarValue) -> DfResult<ArrayRef> {
    scalar.to_array_of_size(1)
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let bytes = self.output_bytes(&args.args, args.number_rows)?;
        if bytes > self.max_bytes as u128 {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would produce {bytes} bytes, more than the query's memory limit of {} bytes",
                self.name(),
                self.max_bytes
            )));
        }
        self.inner.invoke_with_args(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
