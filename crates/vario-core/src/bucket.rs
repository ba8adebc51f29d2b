//! MurmurHash3 bucketing (bucketing.md §1–§3).
//!
//! The key is `bucketing_id ++ entity_id`; the hash runs over the two parts in one
//! stream, so no key string is ever built (on the heap or the stack).

use vario_datafile::TrafficRange;

const SEED: u32 = 1;
const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

// Bucket space: traffic ranges end at most at 10,000.
const MAX_TRAFFIC_VALUE: u64 = 10_000;

#[inline]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_h(h: u32, k: u32) -> u32 {
    (h ^ mix_k(k)).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

/// MurmurHash3 x86 32-bit with `seed`, over the concatenation of `a` and `b`.
///
/// The key is never built, not even in a stack buffer: the bytes of `a` left over after
/// its 4-byte blocks are carried in a register and joined with `b`'s bytes as they come,
/// which costs a shift per block instead of two `memcpy` calls per hash.
#[inline]
pub fn murmur3_32(a: &[u8], b: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let (blocks, rest) = a.as_chunks::<4>();
    for block in blocks {
        h = mix_h(h, u32::from_le_bytes(*block));
    }
    // `pending` bytes not hashed yet, little-endian in the low bytes of `carry`; fewer
    // than 4 before each block of `b`, so carry + block fits 64 bits.
    let mut carry = 0u64;
    let mut pending = 0;
    for &byte in rest {
        carry |= u64::from(byte) << (8 * pending);
        pending += 1;
    }
    let (blocks, tail) = b.as_chunks::<4>();
    for block in blocks {
        carry |= u64::from(u32::from_le_bytes(*block)) << (8 * pending);
        h = mix_h(h, carry as u32);
        carry >>= 32;
    }
    for &byte in tail {
        carry |= u64::from(byte) << (8 * pending);
        pending += 1;
    }
    if pending >= 4 {
        h = mix_h(h, carry as u32);
        carry >>= 32;
        pending -= 4;
    }
    if pending > 0 {
        h ^= mix_k(carry as u32);
    }
    // The reference mixes in the length modulo 2^32.
    fmix(h ^ (a.len() + b.len()) as u32)
}

/// The reference algorithm over one contiguous key, to check [`murmur3_32`] against.
#[cfg(test)]
fn murmur3_32_contiguous(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let (blocks, tail) = data.as_chunks::<4>();
    for block in blocks {
        h = mix_h(h, u32::from_le_bytes(*block));
    }
    if !tail.is_empty() {
        let mut k = [0u8; 4];
        k[..tail.len()].copy_from_slice(tail);
        h ^= mix_k(u32::from_le_bytes(k));
    }
    fmix(h ^ data.len() as u32)
}

#[inline]
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The bucket (0..10000) of `bucketing_id ++ entity_id`.
#[inline]
pub fn bucket_value(bucketing_id: &str, entity_id: &str) -> u32 {
    let h = murmur3_32(bucketing_id.as_bytes(), entity_id.as_bytes(), SEED);
    ((u64::from(h) * MAX_TRAFFIC_VALUE) >> 32) as u32
}

/// The first range (in datafile order) whose exclusive end is above `bucket`.
#[inline]
pub fn find_range(ranges: &[TrafficRange], bucket: u32) -> Option<&TrafficRange> {
    ranges.iter().find(|r| i64::from(bucket) < r.end_of_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_hash_sanity_vectors() {
        assert_eq!(murmur3_32(b"", b"", 0), 0);
        assert_eq!(murmur3_32(b"", b"", 1), 0x514E_28B7);
        assert_eq!(murmur3_32(&[0x21, 0x43, 0x65, 0x87], b"", 0), 0xF55B_516B);
        assert_eq!(murmur3_32(&[0x21, 0x43, 0x65], b"", 0), 0x7E4A_8634);
        assert_eq!(murmur3_32(&[0x21, 0x43], b"", 0), 0xA0F7_B07A);
        assert_eq!(murmur3_32(&[0x21], b"", 0), 0x7266_1CF4);
        assert_eq!(murmur3_32(b"Hello, world!", b"", 1234), 0xFAF6_CDB3);
    }

    #[test]
    fn splitting_the_input_anywhere_gives_the_same_hash() {
        let text = "a very very very long ppd string1886780721é用🙂";
        let whole = murmur3_32(text.as_bytes(), b"", 1);
        for i in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(i);
            assert_eq!(murmur3_32(a, b, 1), whole, "split at {i}");
            assert_eq!(murmur3_32_contiguous(text.as_bytes(), 1), whole, "reference");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_split_of_any_bytes_hashes_as_the_whole(a in proptest::collection::vec(0u8.., 0..40), b in proptest::collection::vec(0u8.., 0..40), seed: u32) {
            let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
            proptest::prop_assert_eq!(murmur3_32(&a, &b, seed), murmur3_32_contiguous(&whole, seed));
        }
    }

    #[test]
    fn long_keys_hash_the_same_way() {
        let long: String = (0..300).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        for split in [0, 1, 2, 3, 127, 128, 129, 298, 299, 300] {
            let (a, b) = long.as_bytes().split_at(split);
            assert_eq!(murmur3_32(a, b, 1), murmur3_32_contiguous(long.as_bytes(), 1));
        }
    }
}
