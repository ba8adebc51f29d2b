//! Property tests of bucketing: bucket values stay in 0..10000 and are deterministic,
//! the hash does not depend on where the key is split, and a bucket lands in the first
//! range whose end is above it.

use proptest::prelude::*;
use vario_core::{bucket_value, find_range, murmur3_32};
use vario_datafile::TrafficRange;

fn ranges(ends: &[i64]) -> Vec<TrafficRange> {
    ends.iter()
        .enumerate()
        .map(|(i, &end)| TrafficRange { entity_id: i.to_string(), end_of_range: end, variation: None })
        .collect()
}

proptest! {
    #[test]
    fn bucket_values_are_below_10000_and_deterministic(user in ".{0,40}", entity in "[0-9a-z_]{0,12}") {
        let b = bucket_value(&user, &entity);
        prop_assert!(b < 10_000);
        prop_assert_eq!(b, bucket_value(&user, &entity));
        let key = format!("{user}{entity}");
        let h = murmur3_32(key.as_bytes(), b"", 1);
        prop_assert_eq!(u64::from(b), (u64::from(h) * 10_000) >> 32);
    }

    #[test]
    fn hash_is_independent_of_where_the_key_is_split(bytes in prop::collection::vec(any::<u8>(), 0..64), at in any::<prop::sample::Index>(), seed in any::<u32>()) {
        let whole = murmur3_32(&bytes, b"", seed);
        let cut = at.index(bytes.len() + 1);
        let (a, b) = bytes.split_at(cut);
        prop_assert_eq!(murmur3_32(a, b, seed), whole);
        prop_assert_eq!(murmur3_32(b"", &bytes, seed), whole);
    }

    #[test]
    fn bucket_lands_in_the_first_range_whose_end_is_above_it(
        ends in prop::collection::vec(-100i64..10_100, 0..8),
        user in "[a-z0-9]{0,12}",
    ) {
        let r = ranges(&ends);
        let bucket = bucket_value(&user, "1886780721");
        let got = find_range(&r, bucket).map(|r| r.entity_id.parse::<usize>().unwrap());
        let want = ends.iter().position(|&end| i64::from(bucket) < end);
        prop_assert_eq!(got, want);
        if let Some(i) = got {
            prop_assert!(ends[..i].iter().all(|&end| end <= i64::from(bucket)), "an earlier range ends above the bucket");
        }
    }

    #[test]
    fn with_cumulative_ends_the_chosen_range_never_moves_back_as_buckets_grow(
        widths in prop::collection::vec(0i64..3000, 1..8),
    ) {
        let ends: Vec<i64> = widths.iter().scan(0, |acc, w| { *acc += w; Some(*acc) }).collect();
        let r = ranges(&ends);
        let mut last = 0usize;
        for bucket in (0..10_000u32).step_by(7).chain([9_999]) {
            match find_range(&r, bucket) {
                Some(range) => {
                    let i: usize = range.entity_id.parse().unwrap();
                    prop_assert!(i >= last, "bucket {} went back from range {} to {}", bucket, last, i);
                    prop_assert!(i64::from(bucket) < ends[i]);
                    prop_assert!(i == 0 || ends[i - 1] <= i64::from(bucket));
                    last = i;
                }
                None => {
                    prop_assert!(i64::from(bucket) >= *ends.last().unwrap());
                    last = usize::MAX;
                }
            }
        }
    }
}
