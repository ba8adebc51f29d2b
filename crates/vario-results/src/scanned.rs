//! The experiment's events as read from storage, in compact form and for all time:
//! decisions and metric conversions numbered by visitor. Every request on unchanged
//! data (another window, segment, baseline or α) is recomputed from this in memory,
//! without reading storage again.

use std::sync::Arc;

use arrow::array::RecordBatch;
use foldhash::HashMap;

use crate::attribution::{Attributed, Exposures, Granularity, VisitorTable, Window};
use crate::columns::{floats, ints, strings};
use crate::design::ExperimentDesign;
use crate::document::SegmentDoc;
use crate::{ResultsError, segment};

/// Decisions are kept in chunks of this many: a single vector would, while doubling,
/// briefly hold its old and new buffers, 1.5 times the memory of all decisions.
const CHUNK: usize = 1 << 20;

/// 24 bytes: the log position and the variation share a word (a log position never
/// reaches 2⁴⁸, a variation index never 2¹⁶ here).
#[derive(Debug, Clone, Copy)]
struct Decision {
    visitor: u32,
    /// Number of the decision's attributes text in [`Scanned::attributes`] (0 without).
    attributes: u32,
    ts: i64,
    seq_variation: u64,
}

const SEQ_BITS: u32 = 48;

impl Decision {
    fn seq(&self) -> i64 {
        (self.seq_variation & ((1 << SEQ_BITS) - 1)) as i64
    }

    fn variation(&self) -> usize {
        (self.seq_variation >> SEQ_BITS) as usize
    }
}

#[derive(Debug, Clone, Copy)]
struct Conversion {
    visitor: u32,
    slot: u32,
    ts: i64,
    revenue: Option<i64>,
    value: Option<f64>,
}

/// Decisions and conversions of one experiment, numbered by visitor.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    table: Arc<VisitorTable>,
    decisions: Vec<Vec<Decision>>,
    /// Distinct attribute texts of decisions, when they were read.
    attributes: Option<Vec<Box<str>>>,
    attribute_numbers: HashMap<Box<str>, u32>,
    conversions: Vec<Conversion>,
}

impl Scanned {
    pub(crate) fn new(with_attributes: bool) -> Self {
        Self { attributes: with_attributes.then(Vec::new), ..Self::default() }
    }

    /// Whether segments can be computed from it.
    pub(crate) fn has_attributes(&self) -> bool {
        self.attributes.is_some()
    }

    /// Rows of the decisions scan.
    pub(crate) fn add_decisions(&mut self, design: &ExperimentDesign, batch: &RecordBatch) -> Result<(), ResultsError> {
        let visitors = strings(batch, "visitor_id")?;
        let variations = strings(batch, "variation_id")?;
        let ts = ints(batch, "timestamp")?;
        let seq = ints(batch, "seq")?;
        let attributes = if self.attributes.is_some() { Some(strings(batch, "attributes")?) } else { None };
        // The rows that make decisions, then their visitors numbered in one batch.
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut names = Vec::with_capacity(batch.num_rows());
        // Variation ids repeat: look each distinct one up once per run of equal ids.
        let mut last: Option<(&str, Option<usize>)> = None;
        for i in 0..batch.num_rows() {
            let (Some(visitor), Some(variation), Some(ts), Some(seq)) =
                (visitors.get(i), variations.get(i), ts[i], seq[i])
            else {
                continue;
            };
            let index = match last {
                Some((id, index)) if id == variation => index,
                _ => {
                    let index = design.variation_by_id(variation);
                    last = Some((variation, index));
                    index
                }
            };
            // A decision for a variation the datafile no longer has cannot be shown.
            let Some(index) = index else { continue };
            // Out of the packed range: not a log position or variation Vario writes.
            let (Ok(packed_seq), Ok(packed_variation)) = (u64::try_from(seq), u16::try_from(index)) else { continue };
            if packed_seq >> SEQ_BITS != 0 {
                continue;
            }
            rows.push((i, ts, packed_seq | (u64::from(packed_variation) << SEQ_BITS)));
            names.push(visitor);
        }
        let mut numbers = Vec::with_capacity(names.len());
        Arc::make_mut(&mut self.table).intern_all(&names, &mut numbers);
        for (&(i, ts, seq_variation), visitor) in rows.iter().zip(numbers) {
            let attributes = match (&mut self.attributes, &attributes) {
                (Some(texts), Some(column)) => {
                    let text = column.get(i).unwrap_or("[]");
                    match self.attribute_numbers.get(text) {
                        Some(&n) => n,
                        None => {
                            let n = u32::try_from(texts.len()).unwrap_or(u32::MAX);
                            texts.push(text.into());
                            self.attribute_numbers.insert(text.into(), n);
                            n
                        }
                    }
                }
                _ => 0,
            };
            if self.decisions.last().is_none_or(|c| c.len() == CHUNK) {
                self.decisions.push(Vec::with_capacity(CHUNK));
            }
            if let Some(chunk) = self.decisions.last_mut() {
                chunk.push(Decision { visitor, attributes, ts, seq_variation });
            }
        }
        Ok(())
    }

    /// Rows of the conversions scan; `slot_of` maps event keys to metric slots.
    pub(crate) fn add_conversions(
        &mut self,
        slot_of: &HashMap<&str, usize>,
        batch: &RecordBatch,
    ) -> Result<(), ResultsError> {
        let visitors = strings(batch, "visitor_id")?;
        let keys = strings(batch, "event_key")?;
        let ts = ints(batch, "timestamp")?;
        let revenue = ints(batch, "revenue")?;
        let value = floats(batch, "value")?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut names = Vec::with_capacity(batch.num_rows());
        for (i, &t) in ts.iter().enumerate() {
            let (Some(visitor), Some(key), Some(t)) = (visitors.get(i), keys.get(i), t) else { continue };
            let Some(&slot) = slot_of.get(key) else { continue };
            rows.push((i, slot, t));
            names.push(visitor);
        }
        let mut numbers = Vec::with_capacity(names.len());
        self.table.get_all(&names, &mut numbers);
        for (&(i, slot, t), visitor) in rows.iter().zip(numbers) {
            // Conversions of people who never got a decision can never count.
            let Some(visitor) = visitor else { continue };
            self.conversions.push(Conversion {
                visitor,
                slot: slot as u32,
                ts: t,
                revenue: revenue[i],
                value: value[i],
            });
        }
        Ok(())
    }

    /// Puts conversions in visitor order, so that sums of values (whose last digits
    /// depend on the order of additions) do not depend on how the scan's threads
    /// interleaved the conversions. (Visitor numbers follow the decisions scan's order,
    /// so two cold runs may still differ in the last digit of a value sum.)
    pub(crate) fn seal(&mut self) {
        self.conversions.sort_unstable_by(|a, b| {
            (a.visitor, a.slot, a.ts, a.revenue, a.value.map(f64::to_bits)).cmp(&(
                b.visitor,
                b.slot,
                b.ts,
                b.revenue,
                b.value.map(f64::to_bits),
            ))
        });
    }

    /// Attribution for one request, from memory.
    pub(crate) fn replay(
        &self,
        window: Window,
        segment: Option<&SegmentDoc>,
        variations: usize,
        slots: usize,
        granularity: Granularity,
        exclude_multiple: bool,
    ) -> Attributed {
        let mut exposures = Exposures::with_table(window, Arc::clone(&self.table));
        // Each distinct attributes text is matched against the segment once.
        let texts = self.attributes.as_deref().unwrap_or(&[]);
        let mut memo: Vec<Option<bool>> = vec![None; texts.len()];
        for d in self.decisions.iter().flatten() {
            exposures.add_numbered(d.visitor, d.variation(), d.ts, d.seq(), || {
                let Some(segment) = segment else { return true };
                let n = d.attributes as usize;
                match memo.get(n).copied().flatten() {
                    Some(m) => m,
                    None => {
                        let m = texts.get(n).is_some_and(|t| segment::matches(t, segment));
                        if let Some(slot) = memo.get_mut(n) {
                            *slot = Some(m);
                        }
                        m
                    }
                }
            });
        }
        let mut attributed = exposures.attribute(variations, slots, granularity, exclude_multiple);
        for c in self.conversions.iter() {
            attributed.add_numbered(c.visitor, c.slot as usize, c.ts, 1, c.revenue, c.value);
        }
        attributed
    }
}
