//! A run: an immutable file of sorted, unique uuid keys, the stored form of the keys of
//! the events with seqs `first..=last`. In memory a run keeps a Bloom filter (so most
//! lookups of a new key read nothing) and the first key of every block (so a lookup
//! that passes the filter reads one 4 KiB block).
//!
//! File layout: `VARIORUN` (8 bytes), the key count (u64, little-endian), the keys in
//! ascending order (16 bytes each), and a CRC-32 of everything before it (u32,
//! little-endian). A file is written under a temporary name, fsync'd, then renamed, so
//! a run file is always whole; the checksum catches damage after that.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fastbloom::BloomFilter;

use super::key::Key;
use crate::error::StoreError;
use crate::store::sync_dir;

pub(crate) const MAGIC: &[u8; 8] = b"VARIORUN";
const HEADER_LEN: u64 = 16;
const KEY_LEN: usize = 16;
/// Keys per block: one block is 4 KiB, one read.
const BLOCK_KEYS: usize = 256;
/// About one new key in a hundred passes a run's filter and costs a block read.
const FALSE_POSITIVE_RATE: f64 = 0.01;

/// One run file, open for lookups.
pub(crate) struct Run {
    /// Seqs of the events whose keys this run holds: `first..=last`.
    pub(crate) first: i64,
    pub(crate) last: i64,
    path: PathBuf,
    file: File,
    len: u64,
    fences: Vec<Key>,
    filter: BloomFilter,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("path", &self.path).field("len", &self.len).finish_non_exhaustive()
    }
}

/// The file name of the run of seqs `first..=last`; names sort in seq order.
pub(crate) fn file_name(first: i64, last: i64) -> String {
    format!("run-{first:020}-{last:020}.keys")
}

/// The seq range in a run's file name, or `None` for another file.
pub(crate) fn parse_name(name: &str) -> Option<(i64, i64)> {
    let (first, last) = name.strip_prefix("run-")?.strip_suffix(".keys")?.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// What a run keeps in memory, gathered while its keys stream past once.
struct Summary {
    fences: Vec<Key>,
    filter: BloomFilter,
    count: u64,
    previous: Option<Key>,
}

impl Summary {
    fn new(expected: u64) -> Self {
        let expected = usize::try_from(expected).unwrap_or(usize::MAX).max(1);
        Self {
            fences: Vec::with_capacity(expected.div_ceil(BLOCK_KEYS)),
            filter: BloomFilter::with_false_pos(FALSE_POSITIVE_RATE).expected_items(expected),
            count: 0,
            previous: None,
        }
    }

    /// Takes the next key; keys must ascend strictly (they are unique).
    fn add(&mut self, key: Key) -> Result<(), String> {
        if self.previous.is_some_and(|p| p >= key) {
            return Err(format!("key {} out of order", self.count));
        }
        if self.count.is_multiple_of(BLOCK_KEYS as u64) {
            self.fences.push(key);
        }
        self.filter.insert(&key);
        self.previous = Some(key);
        self.count += 1;
        Ok(())
    }
}

impl Run {
    /// Writes `keys` (ascending, unique, exactly `count` of them) as the run of seqs
    /// `first..=last` in `dir`, durably, and opens it.
    pub(crate) fn write(
        dir: &Path,
        first: i64,
        last: i64,
        count: u64,
        keys: impl IntoIterator<Item = Result<Key, StoreError>>,
    ) -> Result<Self, StoreError> {
        let path = dir.join(file_name(first, last));
        let tmp = path.with_extension("keys.tmp");
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e: std::io::Error| StoreError::io(&p, &e)
        };
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut crc = crc32fast::Hasher::new();
        let mut summary = Summary::new(count);
        let mut put = |bytes: &[u8], out: &mut BufWriter<File>| {
            crc.update(bytes);
            out.write_all(bytes)
        };
        put(MAGIC, &mut out).map_err(io(&tmp))?;
        put(&count.to_le_bytes(), &mut out).map_err(io(&tmp))?;
        for key in keys {
            let key = key?;
            summary.add(key).map_err(|e| StoreError::Internal(format!("{}: {e}", tmp.display())))?;
            put(&key, &mut out).map_err(io(&tmp))?;
        }
        if summary.count != count {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Internal(format!(
                "{}: {} keys written where {count} were due",
                tmp.display(),
                summary.count
            )));
        }
        out.write_all(&crc.finalize().to_le_bytes()).map_err(io(&tmp))?;
        let file = out.into_inner().map_err(|e| StoreError::io(&tmp, e.error()))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(dir)?;
        let file = File::open(&path).map_err(io(&path))?;
        Ok(Self { first, last, path, file, len: count, fences: summary.fences, filter: summary.filter })
    }

    /// Opens the run of seqs `first..=last` in `dir`, reading it once to check it and to
    /// build its filter.
    pub(crate) fn open(dir: &Path, first: i64, last: i64) -> Result<Self, StoreError> {
        let path = dir.join(file_name(first, last));
        let damaged = |detail: String| StoreError::Unavailable {
            reason: crate::error::Unavailable::Corrupt,
            path: path.clone(),
            detail: format!("damaged uuid index run: {detail}"),
        };
        let file = File::open(&path).map_err(|e| StoreError::io(&path, &e))?;
        let size = file.metadata().map_err(|e| StoreError::io(&path, &e))?.len();
        let mut input = BufReader::with_capacity(1 << 20, &file);
        let mut header = [0; HEADER_LEN as usize];
        input.read_exact(&mut header).map_err(|_| damaged(format!("{size} bytes is too short")))?;
        if &header[..8] != MAGIC {
            return Err(damaged("not a run file (bad magic)".into()));
        }
        let count = u64::from_le_bytes(header[8..].try_into().unwrap_or_default());
        if count.checked_mul(KEY_LEN as u64).and_then(|n| n.checked_add(HEADER_LEN + 4)) != Some(size) {
            return Err(damaged(format!("{size} bytes cannot hold {count} keys")));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        let mut summary = Summary::new(count);
        let mut key = [0; KEY_LEN];
        for _ in 0..count {
            input.read_exact(&mut key).map_err(|e| StoreError::io(&path, &e))?;
            crc.update(&key);
            summary.add(key).map_err(damaged)?;
        }
        let mut stored = [0; 4];
        input.read_exact(&mut stored).map_err(|e| StoreError::io(&path, &e))?;
        if u32::from_le_bytes(stored) != crc.finalize() {
            return Err(damaged("checksum mismatch".into()));
        }
        drop(input);
        Ok(Self { first, last, path, file, len: count, fences: summary.fences, filter: summary.filter })
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the run holds `key`: the filter answers most misses, else one block read.
    pub(crate) fn contains(&self, key: &Key) -> Result<bool, StoreError> {
        if !self.filter.contains(key) {
            return Ok(false);
        }
        let block = self.fences.partition_point(|fence| fence <= key);
        let Some(block) = block.checked_sub(1) else { return Ok(false) };
        let start = (block * BLOCK_KEYS) as u64;
        let keys = (self.len - start).min(BLOCK_KEYS as u64) as usize;
        let mut buf = [0; BLOCK_KEYS * KEY_LEN];
        let buf = &mut buf[..keys * KEY_LEN];
        self.file
            .read_exact_at(buf, HEADER_LEN + start * KEY_LEN as u64)
            .map_err(|e| StoreError::io(&self.path, &e))?;
        Ok(buf.as_chunks::<KEY_LEN>().0.binary_search(key).is_ok())
    }

    /// The keys in order, read from the file (for merging runs).
    pub(crate) fn keys(&self) -> Result<KeyReader, StoreError> {
        let file = File::open(&self.path).map_err(|e| StoreError::io(&self.path, &e))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut header = [0; HEADER_LEN as usize];
        input.read_exact(&mut header).map_err(|e| StoreError::io(&self.path, &e))?;
        Ok(KeyReader { input, left: self.len, path: self.path.clone() })
    }

    /// Deletes the file (the run was merged into another).
    pub(crate) fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot delete a merged uuid run");
        }
    }

    /// Bytes of memory the run keeps (filter and block index).
    pub(crate) fn memory(&self) -> usize {
        self.filter.num_bits() / 8 + self.fences.len() * KEY_LEN
    }
}

/// Streams a run's keys in order.
pub(crate) struct KeyReader {
    input: BufReader<File>,
    left: u64,
    path: PathBuf,
}

impl Iterator for KeyReader {
    type Item = Result<Key, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut key = [0; KEY_LEN];
        Some(self.input.read_exact(&mut key).map(|()| key).map_err(|e| StoreError::io(&self.path, &e)))
    }
}

/// Merges runs' key streams (each ascending, all disjoint) into one ascending stream.
pub(crate) fn merge_keys(runs: &[&Run]) -> Result<impl Iterator<Item = Result<Key, StoreError>>, StoreError> {
    let mut readers = runs.iter().map(|r| r.keys().map(Iterator::peekable)).collect::<Result<Vec<_>, _>>()?;
    Ok(std::iter::from_fn(move || {
        // Few runs merge at once, so a linear pick of the smallest head is enough.
        let mut best: Option<(usize, Key)> = None;
        for (i, reader) in readers.iter_mut().enumerate() {
            match reader.peek() {
                Some(Ok(key)) if best.is_none_or(|(_, b)| *key < b) => best = Some((i, *key)),
                Some(Ok(_)) | None => {}
                Some(Err(_)) => return reader.next(),
            }
        }
        let (i, _) = best?;
        readers[i].next()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        let mut k = [0; 16];
        k[..8].copy_from_slice(&n.to_be_bytes());
        k[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        k
    }

    #[test]
    fn a_written_run_finds_every_key_and_no_other_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Key> = (0..2000).map(|n| key(n * 2)).collect();
        let run = Run::write(dir.path(), 1, 2000, 2000, keys.iter().copied().map(Ok)).unwrap();
        assert_eq!(parse_name(&file_name(1, 2000)), Some((1, 2000)));
        for r in [run, Run::open(dir.path(), 1, 2000).unwrap()] {
            assert_eq!(r.len(), 2000);
            assert!(keys.iter().all(|k| r.contains(k).unwrap()));
            assert!((0..2000).all(|n| !r.contains(&key(n * 2 + 1)).unwrap()));
            assert!(!r.contains(&[0; 16]).unwrap() || keys.contains(&[0; 16]));
            assert!(!r.contains(&[0xff; 16]).unwrap());
        }
    }

    #[test]
    fn unsorted_or_miscounted_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Run::write(dir.path(), 1, 2, 2, [Ok(key(2)), Ok(key(1))]).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
        let err = Run::write(dir.path(), 1, 2, 3, [Ok(key(1)), Ok(key(2))]).unwrap_err();
        assert!(err.to_string().contains("2 keys written where 3 were due"), "{err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no file left behind");
    }

    #[test]
    fn a_damaged_run_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        Run::write(dir.path(), 1, 300, 300, (0..300).map(|n| Ok(key(n)))).unwrap();
        let path = dir.path().join(file_name(1, 300));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[16 + 16 * 5 + 15] ^= 1; // the last byte of a key: order unchanged
        std::fs::write(&path, &bytes).unwrap();
        let err = Run::open(dir.path(), 1, 300).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch") && err.contains("run-"), "{err}");
        std::fs::write(&path, &bytes[..50]).unwrap();
        let err = Run::open(dir.path(), 1, 300).unwrap_err().to_string();
        assert!(err.contains("cannot hold 300 keys"), "{err}");
    }

    #[test]
    fn merging_runs_interleaves_their_keys_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = Run::write(dir.path(), 1, 10, 500, (0..500).map(|n| Ok(key(n * 3)))).unwrap();
        let b = Run::write(dir.path(), 11, 20, 500, (0..500).map(|n| Ok(key(n * 3 + 1)))).unwrap();
        let c = Run::write(dir.path(), 21, 30, 1, [Ok(key(2))]).unwrap();
        let merged = Run::write(dir.path(), 1, 30, 1001, merge_keys(&[&a, &b, &c]).unwrap()).unwrap();
        let all: Vec<Key> = merged.keys().unwrap().map(Result::unwrap).collect();
        let mut expected: Vec<Key> = (0..500).flat_map(|n| [key(n * 3), key(n * 3 + 1)]).chain([key(2)]).collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
    }
}
