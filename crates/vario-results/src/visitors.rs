//! The visitor table: visitor ids numbered 0, 1, 2... in the order first seen.
//!
//! Numbering the experiment's visitors is the hot loop of a cold results request: tens
//! of millions of lookups in a table far larger than the CPU caches, each one a cache
//! miss. The index is an open-addressing table of fingerprints, so that a batch of
//! lookups can touch the slot of a row a few rows ahead of the one it works on: the
//! misses of several rows are then in flight together instead of one after another.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// A visitor id's 128-bit fingerprint. Keying the table by it instead of the text saves
/// an allocation and a string comparison per row; two ids share a fingerprint with
/// probability about n²/2¹²⁹, 10⁻²⁵ for 10 million. Two halves rather than a `u128`,
/// whose 16-byte alignment would pad every slot from 24 to 32 bytes.
pub(crate) type Fingerprint = (u64, u64);

pub(crate) fn fingerprint(visitor: &str) -> Fingerprint {
    let a = FixedState::with_seed(0x5641_5249_4f5f_4944).hash_one(visitor);
    let b = FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(visitor);
    (a, b)
}

/// How many rows ahead a batch touches the slot it will need.
const LOOKAHEAD: usize = 8;

/// Visitor ids numbered 0, 1, 2... in the order first seen.
#[derive(Debug, Clone, Default)]
pub struct VisitorTable {
    index: Index,
    // Every visitor id, end to end; `ends[i]` is where visitor `i`'s id ends.
    names: String,
    ends: Vec<usize>,
}

impl VisitorTable {
    /// The number of `visitor`, numbering it if it is new; and whether it was new.
    pub fn intern(&mut self, visitor: &str) -> (u32, bool) {
        self.index.reserve(1);
        self.intern_fingerprint(fingerprint(visitor), visitor)
    }

    /// Numbers every id of `visitors` (as [`VisitorTable::intern`]), appending the
    /// numbers to `numbers` in order; faster than one at a time for long batches.
    pub fn intern_all(&mut self, visitors: &[&str], numbers: &mut Vec<u32>) {
        let fingerprints: Vec<Fingerprint> = visitors.iter().map(|v| fingerprint(v)).collect();
        // Room for all first, so that the slots touched ahead stay where they are.
        self.index.reserve(fingerprints.len());
        let mut touched = 0;
        for (i, (&fp, visitor)) in fingerprints.iter().zip(visitors).enumerate() {
            if let Some(&ahead) = fingerprints.get(i + LOOKAHEAD) {
                touched ^= self.index.touch(ahead);
            }
            numbers.push(self.intern_fingerprint(fp, visitor).0);
        }
        std::hint::black_box(touched);
    }

    fn intern_fingerprint(&mut self, fp: Fingerprint, visitor: &str) -> (u32, bool) {
        let next = u32::try_from(self.ends.len()).unwrap_or(EMPTY - 1).min(EMPTY - 1);
        let (number, new) = self.index.find_or_insert(fp, next);
        if new {
            self.names.push_str(visitor);
            self.ends.push(self.names.len());
        }
        (number, new)
    }

    /// The number of `visitor`, if it has one.
    pub fn get(&self, visitor: &str) -> Option<u32> {
        self.index.get(fingerprint(visitor))
    }

    /// The numbers of `visitors` (as [`VisitorTable::get`]), appended to `numbers`.
    pub fn get_all(&self, visitors: &[&str], numbers: &mut Vec<Option<u32>>) {
        let fingerprints: Vec<Fingerprint> = visitors.iter().map(|v| fingerprint(v)).collect();
        let mut touched = 0;
        for (i, &fp) in fingerprints.iter().enumerate() {
            if let Some(&ahead) = fingerprints.get(i + LOOKAHEAD) {
                touched ^= self.index.touch(ahead);
            }
            numbers.push(self.index.get(fp));
        }
        std::hint::black_box(touched);
    }

    /// The number of the visitor with fingerprint `fp`, if it has one.
    pub(crate) fn get_fingerprint(&self, fp: Fingerprint) -> Option<u32> {
        self.index.get(fp)
    }

    /// The id of visitor number `i`.
    pub fn name(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
        self.names.get(start..self.ends.get(i).copied().unwrap_or(start)).unwrap_or("")
    }

    /// Number of visitors.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Marks an empty slot (so no visitor gets this number).
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    fp: Fingerprint,
    number: u32,
}

const EMPTY_SLOT: Slot = Slot { fp: (0, 0), number: EMPTY };

/// Fingerprint → number, open addressing with linear probing, at most 3/4 full. The
/// first fingerprint half is already a good hash: its low bits pick the slot.
#[derive(Debug, Clone, Default)]
struct Index {
    slots: Vec<Slot>,
    len: usize,
}

impl Index {
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Makes room for `more` entries without moving slots in between.
    fn reserve(&mut self, more: usize) {
        let needed = self.len.saturating_add(more);
        if needed.saturating_mul(4) <= self.slots.len().saturating_mul(3) {
            return;
        }
        let capacity = needed.saturating_mul(4).div_ceil(3).next_power_of_two().max(1024);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; capacity]);
        let mask = self.mask();
        for slot in old.into_iter().filter(|s| s.number != EMPTY) {
            let mut i = slot.fp.0 as usize & mask;
            while self.slots[i].number != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Reads the slot `fp` starts at, only so that it is in cache when needed.
    fn touch(&self, fp: Fingerprint) -> u64 {
        self.slots.get(fp.0 as usize & self.mask()).map_or(0, |s| s.fp.1)
    }

    /// The number of `fp`, inserting `next` for it when absent (needs room: `reserve`).
    fn find_or_insert(&mut self, fp: Fingerprint, next: u32) -> (u32, bool) {
        let mask = self.mask();
        let mut i = fp.0 as usize & mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.number == EMPTY {
                *slot = Slot { fp, number: next };
                self.len += 1;
                return (next, true);
            }
            if slot.fp == fp {
                return (slot.number, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn get(&self, fp: Fingerprint) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = fp.0 as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.number == EMPTY {
                return None;
            }
            if slot.fp == fp {
                return Some(slot.number);
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_first_appearance_one_by_one_and_in_batches() {
        let ids: Vec<String> = (0..5000).map(|i| format!("user-{}", i % 3000)).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut single = VisitorTable::default();
        let one_by_one: Vec<u32> = refs.iter().map(|v| single.intern(v).0).collect();
        let mut batched = VisitorTable::default();
        let mut numbers = Vec::new();
        for chunk in refs.chunks(777) {
            batched.intern_all(chunk, &mut numbers);
        }
        assert_eq!(numbers, one_by_one);
        assert_eq!((single.len(), batched.len()), (3000, 3000));
        for (i, id) in refs.iter().enumerate().take(3000) {
            assert_eq!(batched.name(i), *id);
            assert_eq!(batched.get(id), Some(i as u32));
        }
        assert_eq!(batched.get("user-3000"), None);
        let mut found = Vec::new();
        batched.get_all(&["user-5", "nobody", "user-2999"], &mut found);
        assert_eq!(found, [Some(5), None, Some(2999)]);
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let table = VisitorTable::default();
        assert_eq!(table.get("a"), None);
        assert!(table.is_empty());
        assert_eq!(table.name(0), "");
    }

    #[test]
    fn colliding_slots_probe_to_the_right_entries() {
        // Fingerprints with equal low bits all start at the same slot.
        let mut index = Index::default();
        index.reserve(100);
        for n in 0..100u32 {
            assert_eq!(index.find_or_insert((u64::from(n) << 32, 7), n), (n, true));
        }
        for n in 0..100u32 {
            assert_eq!(index.get((u64::from(n) << 32, 7)), Some(n));
            assert_eq!(index.find_or_insert((u64::from(n) << 32, 7), 999), (n, false));
        }
        assert_eq!(index.get((5, 7)), None);
        // Growing keeps every entry.
        index.reserve(10_000);
        for n in 0..100u32 {
            assert_eq!(index.get((u64::from(n) << 32, 7)), Some(n));
        }
    }
}
