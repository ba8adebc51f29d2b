//! Attribution rules, pure and in memory: which visitor saw which variation first, and
//! which of their conversions count.
//!
//! 1. [`Exposures`] takes every decision event of the experiment. A visitor's variation
//!    is the one of their first decision in the window, by timestamp and then by log
//!    position (`seq`), so ties resolve to the decision stored first. A visitor whose
//!    decisions name more than one variation is a *multiple exposure*.
//! 2. [`Attributed`] then takes conversions: one counts only when its visitor has a
//!    decision and it happened at or after the first one (same millisecond counts),
//!    and not after the window's end.
//! 3. [`Attributed::finish`] folds everything into cumulative sums per time bucket, so
//!    the estimate at the end of every bucket (each *look* of the sequential test) comes
//!    from one pass.
//!
//! Duplicated events never reach this module: the store keeps each event uuid once.

use std::sync::Arc;

use foldhash::HashMap;
use foldhash::HashMapExt;
use smallvec::SmallVec;

pub use crate::visitors::VisitorTable;
use crate::visitors::{Fingerprint, fingerprint};

/// Series and looks never have more buckets than this; later events fall into the last.
pub const MAX_BUCKETS: usize = 10_000;

/// An inclusive time window in Unix epoch milliseconds; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Window {
    /// First millisecond included.
    pub from: Option<i64>,
    /// Last millisecond included.
    pub to: Option<i64>,
}

impl Window {
    /// Whether `ts` lies in the window.
    pub fn contains(&self, ts: i64) -> bool {
        self.from.is_none_or(|f| ts >= f) && self.to.is_none_or(|t| ts <= t)
    }
}

/// The width of the series' buckets, which are also the sequential test's looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One bucket per UTC hour.
    Hour,
    /// One bucket per UTC day.
    #[default]
    Day,
}

impl Granularity {
    /// Bucket width in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Exposure {
    variation: u32,
    first_ts: i64,
    first_seq: i64,
    multiple: bool,
    in_segment: bool,
}

impl Exposure {
    /// A visitor of the table without a decision in the window (yet).
    const NONE: Self =
        Self { variation: u32::MAX, first_ts: i64::MAX, first_seq: i64::MAX, multiple: false, in_segment: false };

    fn exposed(&self) -> bool {
        self.first_ts != i64::MAX
    }
}

/// Phase one: every decision event of the experiment.
#[derive(Debug, Default)]
pub struct Exposures {
    window: Window,
    table: Arc<VisitorTable>,
    visitors: Vec<Exposure>,
}

impl Exposures {
    /// Collects decisions that fall in `window`.
    pub fn new(window: Window) -> Self {
        Self { window, table: Arc::default(), visitors: Vec::new() }
    }

    /// Collects decisions of the visitors of `table`, by number ([`Exposures::add_numbered`]).
    pub fn with_table(window: Window, table: Arc<VisitorTable>) -> Self {
        let visitors = vec![Exposure::NONE; table.len()];
        Self { window, table, visitors }
    }

    /// One decision of visitor number `i` of the table.
    pub fn add_numbered(&mut self, i: u32, variation: usize, ts: i64, seq: i64, in_segment: impl FnOnce() -> bool) {
        if !self.window.contains(ts) {
            return;
        }
        let variation = u32::try_from(variation).unwrap_or(u32::MAX);
        let Some(e) = self.visitors.get_mut(i as usize) else { return };
        if !e.exposed() {
            *e = Exposure { variation, first_ts: ts, first_seq: seq, multiple: false, in_segment: in_segment() };
            return;
        }
        if e.variation != variation {
            e.multiple = true;
        }
        if (ts, seq) < (e.first_ts, e.first_seq) {
            e.variation = variation;
            e.first_ts = ts;
            e.first_seq = seq;
            e.in_segment = in_segment();
        }
    }

    /// One decision: `visitor` saw `variation` at `ts` (log position `seq`).
    /// `in_segment` tells whether this decision's attributes match the segment; it is
    /// asked only when this decision becomes the visitor's first.
    pub fn add(&mut self, visitor: &str, variation: usize, ts: i64, seq: i64, in_segment: impl FnOnce() -> bool) {
        if !self.window.contains(ts) {
            return;
        }
        let (i, new) = Arc::make_mut(&mut self.table).intern(visitor);
        if new {
            self.visitors.push(Exposure::NONE);
        }
        self.add_numbered(i, variation, ts, seq, in_segment);
    }

    /// Ends phase one. `variations` and `slots` size the output; `exclude_multiple`
    /// leaves multiple-exposure visitors (and their conversions) out.
    pub fn attribute(
        self,
        variations: usize,
        slots: usize,
        granularity: Granularity,
        exclude_multiple: bool,
    ) -> Attributed {
        let width = granularity.millis();
        let first = self
            .window
            .from
            .or_else(|| self.visitors.iter().filter(|e| e.exposed()).map(|e| e.first_ts).min())
            .unwrap_or(0);
        let origin = first.div_euclid(width) * width;
        let mut attributed = Attributed {
            exposures: self,
            origin,
            width,
            slots,
            variations,
            exclude_multiple,
            conversions: HashMap::new(),
            last_bucket: 0,
        };
        for i in 0..attributed.exposures.visitors.len() {
            let e = attributed.exposures.visitors[i];
            if e.exposed() {
                let b = attributed.bucket(e.first_ts);
                attributed.last_bucket = attributed.last_bucket.max(b);
            }
        }
        attributed
    }
}

/// The conversions of one visitor for one metric slot, per bucket, in bucket order.
#[derive(Debug, Clone, Copy)]
struct Entry {
    bucket: u32,
    count: u32,
    revenue: i64,
    value: f64,
}

/// What one visitor did for one metric slot, as exported per visitor.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VisitorOutcome {
    /// Conversions counted.
    pub conversions: u64,
    /// Sum of their revenue (integer, e.g. cents).
    pub revenue: i128,
    /// Sum of their values.
    pub value: f64,
}

/// One visitor of the experiment, as exported per visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitorRow<'a> {
    /// Visitor id.
    pub visitor_id: &'a str,
    /// Variation index of their first decision.
    pub variation: usize,
    /// Time of their first decision.
    pub first_decision: i64,
    /// Whether their decisions named more than one variation.
    pub multiple_exposures: bool,
    /// Whether they are in the requested segment (always true without one).
    pub in_segment: bool,
    /// Per metric slot.
    pub outcomes: Vec<VisitorOutcome>,
}

/// Phase two: conversions, attributed to the visitors of phase one.
#[derive(Debug)]
pub struct Attributed {
    exposures: Exposures,
    origin: i64,
    width: i64,
    slots: usize,
    variations: usize,
    exclude_multiple: bool,
    conversions: HashMap<u64, SmallVec<[Entry; 1]>>,
    last_bucket: usize,
}

impl Attributed {
    fn bucket(&self, ts: i64) -> usize {
        let b = (ts.saturating_sub(self.origin)).div_euclid(self.width);
        usize::try_from(b).unwrap_or(0).min(MAX_BUCKETS - 1)
    }

    /// The variation a conversion of `visitor` at `ts` is attributed to, if it counts.
    pub fn attribute(&self, visitor: &str, ts: i64) -> Option<usize> {
        self.counted(fingerprint(visitor), ts).map(|(_, v)| v)
    }

    /// The visitor's index and variation when a conversion of theirs at `ts` counts.
    fn counted(&self, fingerprint: Fingerprint, ts: i64) -> Option<(u32, usize)> {
        let i = self.exposures.table.get_fingerprint(fingerprint)?;
        self.counted_numbered(i, ts).map(|v| (i, v))
    }

    /// The variation of visitor number `i` when a conversion of theirs at `ts` counts.
    fn counted_numbered(&self, i: u32, ts: i64) -> Option<usize> {
        let e = self.exposures.visitors.get(i as usize)?;
        let counts = e.exposed()
            && ts >= e.first_ts
            && self.exposures.window.to.is_none_or(|t| ts <= t)
            && e.in_segment
            && !(self.exclude_multiple && e.multiple);
        counts.then_some(e.variation as usize)
    }

    /// One conversion for metric `slot`: `count` conversions (1 for an event), with
    /// revenue and value when the event had them. Returns whether it counted.
    pub fn add(
        &mut self,
        visitor: &str,
        slot: usize,
        ts: i64,
        count: u32,
        revenue: Option<i64>,
        value: Option<f64>,
    ) -> bool {
        if slot >= self.slots {
            return false;
        }
        let Some((i, _)) = self.counted(fingerprint(visitor), ts) else { return false };
        self.add_counted(i, slot, ts, count, revenue, value);
        true
    }

    /// [`Attributed::add`] for visitor number `i` of the table.
    pub fn add_numbered(
        &mut self,
        i: u32,
        slot: usize,
        ts: i64,
        count: u32,
        revenue: Option<i64>,
        value: Option<f64>,
    ) -> bool {
        if slot >= self.slots || self.counted_numbered(i, ts).is_none() {
            return false;
        }
        self.add_counted(i, slot, ts, count, revenue, value);
        true
    }

    fn add_counted(&mut self, i: u32, slot: usize, ts: i64, count: u32, revenue: Option<i64>, value: Option<f64>) {
        let bucket = self.bucket(ts);
        self.last_bucket = self.last_bucket.max(bucket);
        let entry = Entry {
            bucket: bucket as u32,
            count,
            revenue: revenue.unwrap_or(0),
            value: value.filter(|v| v.is_finite()).unwrap_or(0.0),
        };
        let key = (u64::from(i) << 16) | slot as u64;
        let entries = self.conversions.entry(key).or_default();
        // Conversions usually arrive in time order; keep entries sorted by bucket.
        match entries.iter().rposition(|e| e.bucket <= entry.bucket) {
            Some(p) if entries[p].bucket == entry.bucket => {
                let e = &mut entries[p];
                e.count = e.count.saturating_add(entry.count);
                e.revenue = e.revenue.saturating_add(entry.revenue);
                e.value += entry.value;
            }
            Some(p) => entries.insert(p + 1, entry),
            None => entries.insert(0, entry),
        }
    }

    /// Every visitor with a decision in the window, with their outcome per slot (for
    /// export), in the order first seen.
    pub fn visitors(&self) -> impl Iterator<Item = VisitorRow<'_>> {
        let table = &self.exposures.table;
        (0..self.exposures.visitors.len()).filter(|&i| self.exposures.visitors[i].exposed()).map(move |i| {
            let id = table.name(i);
            let e = &self.exposures.visitors[i];
            let i = i as u32;
            let outcomes = (0..self.slots)
                .map(|slot| {
                    let key = (u64::from(i) << 16) | slot as u64;
                    let mut o = VisitorOutcome::default();
                    for entry in self.conversions.get(&key).into_iter().flatten() {
                        o.conversions += u64::from(entry.count);
                        o.revenue += i128::from(entry.revenue);
                        o.value += entry.value;
                    }
                    o
                })
                .collect();
            VisitorRow {
                visitor_id: id,
                variation: e.variation as usize,
                first_decision: e.first_ts,
                multiple_exposures: e.multiple,
                in_segment: e.in_segment,
                outcomes,
            }
        })
    }

    /// Folds everything into cumulative sums at the end of each bucket.
    pub fn finish(&self) -> Tallies {
        let buckets = self.last_bucket + 1;
        let v = self.variations;
        let mut visitors = vec![vec![0u64; buckets]; v];
        let mut multiple = 0u64;
        let mut excluded = 0u64;
        let mut unknown = 0u64;
        for e in &self.exposures.visitors {
            if !e.exposed() || !e.in_segment {
                continue;
            }
            if e.multiple {
                multiple += 1;
                if self.exclude_multiple {
                    excluded += 1;
                    continue;
                }
            }
            match visitors.get_mut(e.variation as usize) {
                Some(row) => row[self.bucket(e.first_ts)] += 1,
                None => unknown += 1,
            }
        }
        let mut deltas = vec![vec![vec![Delta::default(); buckets]; v]; self.slots];
        // In visitor-number order, not the hash table's: with the same numbering the
        // float sums come out digit for digit the same.
        let mut keys: Vec<u64> = self.conversions.keys().copied().collect();
        keys.sort_unstable();
        for key in &keys {
            let Some(entries) = self.conversions.get(key) else { continue };
            let visitor = (key >> 16) as usize;
            let slot = (key & 0xffff) as usize;
            let variation = self.exposures.visitors[visitor].variation as usize;
            let Some(row) = deltas.get_mut(slot).and_then(|s| s.get_mut(variation)) else { continue };
            let (mut count, mut revenue, mut value) = (0i128, 0i128, 0.0f64);
            for (k, entry) in entries.iter().enumerate() {
                let d = &mut row[entry.bucket as usize];
                if k == 0 {
                    d.converters += 1;
                }
                let (c, r, x) =
                    (count + i128::from(entry.count), revenue + i128::from(entry.revenue), value + entry.value);
                d.count += i128::from(entry.count);
                d.count_sq += c * c - count * count;
                d.revenue += i128::from(entry.revenue);
                d.revenue_sq += r * r - revenue * revenue;
                d.value += entry.value;
                d.value_sq += x * x - value * value;
                (count, revenue, value) = (c, r, x);
            }
        }
        for row in &mut visitors {
            for b in 1..buckets {
                row[b] += row[b - 1];
            }
        }
        let slots = deltas
            .into_iter()
            .map(|per_variation| {
                per_variation
                    .into_iter()
                    .map(|row| {
                        let mut acc = Delta::default();
                        row.into_iter()
                            .map(|d| {
                                acc.add(&d);
                                acc.to_sums()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Tallies {
            origin: self.origin,
            width: self.width,
            buckets,
            visitors,
            slots,
            multiple_exposures: multiple,
            excluded_multiple: excluded,
            unknown_variation: unknown,
            window: self.exposures.window,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    converters: i64,
    count: i128,
    count_sq: i128,
    revenue: i128,
    revenue_sq: i128,
    value: f64,
    value_sq: f64,
}

impl Delta {
    fn add(&mut self, d: &Self) {
        self.converters += d.converters;
        self.count += d.count;
        self.count_sq += d.count_sq;
        self.revenue += d.revenue;
        self.revenue_sq += d.revenue_sq;
        self.value += d.value;
        self.value_sq += d.value_sq;
    }

    fn to_sums(self) -> SlotSums {
        SlotSums {
            converters: self.converters.max(0) as u64,
            count: self.count.max(0) as u128,
            count_sq: self.count_sq.max(0) as u128,
            revenue: self.revenue,
            revenue_sq: self.revenue_sq.max(0) as u128,
            value: self.value,
            // Float rounding of the telescoped squares may dip just below zero.
            value_sq: self.value_sq.max(0.0),
        }
    }
}

/// Sufficient statistics of one metric slot in one variation, cumulative at a bucket's
/// end: per visitor, whether they converted, their conversions, revenue and value, and
/// the sums of their squares.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlotSums {
    /// Visitors with at least one counted conversion.
    pub converters: u64,
    /// Conversions counted.
    pub count: u128,
    /// Sum over visitors of their conversion count squared.
    pub count_sq: u128,
    /// Revenue.
    pub revenue: i128,
    /// Sum over visitors of their revenue squared.
    pub revenue_sq: u128,
    /// Value.
    pub value: f64,
    /// Sum over visitors of their value squared.
    pub value_sq: f64,
}

/// Everything the statistics need, per bucket (cumulative).
#[derive(Debug, Clone, PartialEq)]
pub struct Tallies {
    /// Start of bucket 0 (ms).
    pub origin: i64,
    /// Bucket width (ms).
    pub width: i64,
    /// Number of buckets.
    pub buckets: usize,
    /// `[variation][bucket]`: visitors first exposed by the bucket's end.
    pub visitors: Vec<Vec<u64>>,
    /// `[slot][variation][bucket]`.
    pub slots: Vec<Vec<Vec<SlotSums>>>,
    /// Visitors (in the segment) whose decisions named more than one variation.
    pub multiple_exposures: u64,
    /// Of those, how many were left out because the request asked so.
    pub excluded_multiple: u64,
    /// Visitors whose first decision names a variation the datafile does not have.
    pub unknown_variation: u64,
    /// The window the tallies cover.
    pub window: Window,
}

impl Tallies {
    /// The last millisecond bucket `b` covers (the window end for the last bucket).
    pub fn bucket_end(&self, b: usize) -> i64 {
        let end = self.origin.saturating_add(self.width.saturating_mul(b as i64 + 1)) - 1;
        self.window.to.map_or(end, |t| end.min(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn exposures(rows: &[(&str, usize, i64, i64)]) -> Exposures {
        let mut e = Exposures::new(Window::default());
        for &(v, var, ts, seq) in rows {
            e.add(v, var, ts, seq, || true);
        }
        e
    }

    #[test]
    fn first_decision_wins_by_time_then_seq() {
        let a =
            exposures(&[("u", 1, 10, 5), ("u", 0, 10, 2), ("u", 1, 5_000, 1)]).attribute(2, 1, Granularity::Day, false);
        assert_eq!(a.attribute("u", 10), Some(0));
        let t = a.finish();
        assert_eq!(t.visitors, vec![vec![1], vec![0]]);
        assert_eq!(t.multiple_exposures, 1);
    }

    #[test]
    fn conversion_at_the_decision_millisecond_counts_and_before_does_not() {
        let mut a = exposures(&[("u", 0, 1_000, 1)]).attribute(1, 1, Granularity::Day, false);
        assert!(!a.add("u", 0, 999, 1, None, None));
        assert!(a.add("u", 0, 1_000, 1, Some(250), Some(1.5)));
        assert!(!a.add("stranger", 0, 2_000, 1, None, None));
        let s = a.finish().slots[0][0][0];
        assert_eq!((s.converters, s.count, s.revenue, s.value), (1, 1, 250, 1.5));
    }

    #[test]
    fn squares_are_per_visitor_totals_across_buckets() {
        let mut a = exposures(&[("u", 0, 0, 1), ("w", 0, 0, 2)]).attribute(1, 1, Granularity::Day, false);
        a.add("u", 0, 2 * DAY, 1, Some(5), None);
        a.add("u", 0, 10, 1, Some(3), None);
        a.add("w", 0, DAY, 1, Some(-2), None);
        let t = a.finish();
        let s: Vec<_> = t.slots[0][0].iter().map(|s| (s.count, s.count_sq, s.revenue, s.revenue_sq)).collect();
        assert_eq!(s, vec![(1, 1, 3, 9), (2, 2, 1, 13), (3, 5, 6, 68)]);
        assert_eq!(t.visitors[0], vec![2, 2, 2]);
    }

    #[test]
    fn window_bounds_exposures_and_conversions() {
        let mut e = Exposures::new(Window { from: Some(100), to: Some(200) });
        e.add("early", 0, 99, 1, || true);
        e.add("in", 0, 150, 2, || true);
        let mut a = e.attribute(1, 1, Granularity::Hour, false);
        assert!(a.add("in", 0, 200, 1, None, None));
        assert!(!a.add("in", 0, 201, 1, None, None));
        assert!(!a.add("early", 0, 150, 1, None, None));
        assert_eq!(a.finish().visitors[0], vec![1]);
    }

    #[test]
    fn excluded_multiple_exposures_drop_their_conversions() {
        let mut a =
            exposures(&[("m", 0, 0, 1), ("m", 1, 1, 2), ("s", 1, 0, 3)]).attribute(2, 1, Granularity::Day, true);
        assert!(!a.add("m", 0, 5, 1, None, None));
        let t = a.finish();
        assert_eq!((t.multiple_exposures, t.excluded_multiple), (1, 1));
        assert_eq!(t.visitors, vec![vec![0], vec![1]]);
    }

    #[test]
    fn segment_is_decided_by_the_first_decision() {
        let mut e = Exposures::new(Window::default());
        e.add("u", 0, 50, 2, || true);
        e.add("u", 0, 10, 1, || false);
        let mut a = e.attribute(1, 1, Granularity::Day, false);
        assert!(!a.add("u", 0, 60, 1, None, None));
        assert_eq!(a.finish().visitors[0], vec![0]);
    }
}
