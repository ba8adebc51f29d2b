//! The hash and bucket test vectors of the SDK spec (bucketing.md §11), and the
//! range-semantics and group examples below that table.

use serde_json::{Value, json};
use vario_core::{Attributes, User, bucket_value, experiment_variation, find_range, murmur3_32};
use vario_datafile::{ProjectConfig, TrafficRange};

fn vectors() -> Vec<Value> {
    let text = include_str!("data/bucketing-vectors.json");
    let doc: Value = serde_json::from_str(text).expect("vectors file is JSON");
    assert_eq!(doc["seed"], json!(1));
    doc["vectors"].as_array().expect("a list of vectors").clone()
}

#[test]
fn bucketing_vectors_hash_and_bucket() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 22, "every row of the spec table");
    assert_eq!(vectors.iter().filter(|v| v["published"] == json!(true)).count(), 5);
    for v in &vectors {
        let bucketing_id = v["bucketing_id"].as_str().unwrap();
        let entity_id = v["entity_id"].as_str().unwrap();
        let key = v["key"].as_str().unwrap();
        let hash = u32::try_from(v["hash"].as_u64().unwrap()).unwrap();
        let bucket = u32::try_from(v["bucket"].as_u64().unwrap()).unwrap();
        assert_eq!(format!("{bucketing_id}{entity_id}"), key, "key = bucketing id ++ entity id, no separator");
        assert_eq!(key.len() as u64, v["utf8_bytes"].as_u64().unwrap(), "{key}: UTF-8 length");
        assert_eq!(format!("{hash:#010x}"), v["hash_hex"].as_str().unwrap(), "{key}: hex and decimal agree");
        assert_eq!(murmur3_32(key.as_bytes(), b"", 1), hash, "{key}: hash of the whole key");
        assert_eq!(murmur3_32(bucketing_id.as_bytes(), entity_id.as_bytes(), 1), hash, "{key}: hash in two parts");
        assert_eq!(bucket_value(bucketing_id, entity_id), bucket, "{key}: bucket");
        assert_eq!(((u64::from(hash) * 10_000) >> 32) as u32, bucket, "{key}: the table's own arithmetic");
    }
}

#[test]
fn raw_murmur3_sanity_vectors() {
    assert_eq!(murmur3_32(b"", b"", 0), 0);
    assert_eq!(murmur3_32(b"", b"", 1), 0x514E_28B7);
    assert_eq!(murmur3_32(&[0x21, 0x43, 0x65, 0x87], b"", 0), 0xF55B_516B);
    assert_eq!(murmur3_32(&[0x21, 0x43, 0x65], b"", 0), 0x7E4A_8634);
    assert_eq!(murmur3_32(&[0x21, 0x43], b"", 0), 0xA0F7_B07A);
    assert_eq!(murmur3_32(&[0x21], b"", 0), 0x7266_1CF4);
    assert_eq!(murmur3_32(b"Hello, world!", b"", 1234), 0xFAF6_CDB3);
}

fn ranges(entries: &[(&str, i64)]) -> Vec<TrafficRange> {
    entries
        .iter()
        .map(|(e, end)| TrafficRange { entity_id: (*e).to_owned(), end_of_range: *end, variation: None })
        .collect()
}

fn config(experiments: Value, groups: Value) -> ProjectConfig {
    let doc = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "events": [], "audiences": [], "attributes": [], "experiments": experiments, "groups": groups});
    ProjectConfig::from_value(&doc).expect("test datafile loads")
}

fn experiment(id: &str, key: &str, traffic: Value) -> Value {
    json!({"id": id, "key": key, "layerId": "l", "status": "Running", "audienceIds": [], "forcedVariations": {},
        "variations": [{"id": "A", "key": "a"}, {"id": "B", "key": "b"}], "trafficAllocation": traffic})
}

/// The variation key `user` gets in `experiment_key`.
fn variation(config: &ProjectConfig, experiment_key: &str, user: &str) -> Option<String> {
    let attributes = Attributes::new();
    let e = config.experiment_by_key(experiment_key).expect("known experiment");
    let (v, _) = experiment_variation(config, e, &User::new(user, &attributes), None, &mut ());
    v.map(|v| config.variation(v).key.clone())
}

#[test]
fn range_semantics_examples_below_the_vector_table() {
    let two = ranges(&[("A", 5000), ("B", 10000)]);
    let pick =
        |user: &str, r: &[TrafficRange]| find_range(r, bucket_value(user, "1886780721")).map(|r| r.entity_id.clone());
    assert_eq!(pick("user3808", &two).as_deref(), Some("A"), "4999");
    assert_eq!(pick("user22025", &two).as_deref(), Some("B"), "5000");
    assert_eq!(pick("user2867", &two).as_deref(), Some("B"), "9999");
    assert_eq!(pick("user6187", &two).as_deref(), Some("A"), "0");
    let one = ranges(&[("A", 5000)]);
    assert_eq!(pick("user22025", &one), None, "5000 is past the only end");

    // The same through an experiment of a config.
    let traffic = json!([{"entityId": "A", "endOfRange": 5000}, {"entityId": "B", "endOfRange": 10000}]);
    let c = config(json!([experiment("1886780721", "exp", traffic)]), json!([]));
    for (user, want) in [("user3808", "a"), ("user22025", "b"), ("user2867", "b"), ("user6187", "a")] {
        assert_eq!(variation(&c, "exp", user).as_deref(), Some(want), "{user}");
    }
    let c = config(json!([experiment("1886780721", "exp", json!([{"entityId": "A", "endOfRange": 5000}]))]), json!([]));
    assert_eq!(variation(&c, "exp", "user22025"), None);
    assert_eq!(variation(&c, "exp", "user3808").as_deref(), Some("a"));
}

#[test]
fn group_example_below_the_vector_table() {
    let group_ranges = ranges(&[("50011", 4000), ("50012", 8000)]);
    let pick = |user: &str| find_range(&group_ranges, bucket_value(user, "50001")).map(|r| r.entity_id.clone());
    assert_eq!(pick("user_3").as_deref(), Some("50011"), "group bucket 1580");
    assert_eq!(pick("user_2").as_deref(), Some("50012"), "group bucket 6343");
    let full = json!([{"entityId": "A", "endOfRange": 10000}]);
    let group = json!([{
        "id": "50001", "policy": "random",
        "trafficAllocation": [{"entityId": "50011", "endOfRange": 4000}, {"entityId": "50012", "endOfRange": 8000}],
        "experiments": [experiment("50011", "first", full.clone()), experiment("50012", "second", full)]
    }]);
    let c = config(json!([]), group);
    let both = |user: &str| (variation(&c, "first", user), variation(&c, "second", user));
    assert_eq!(both("user_3"), (Some("a".into()), None));
    assert_eq!(both("user_2"), (None, Some("a".into())));
    // A user whose group bucket is 8000 or more is in neither experiment.
    let outside = (0..1000).map(|i| format!("user{i}")).find(|u| bucket_value(u, "50001") >= 8000).unwrap();
    assert_eq!(both(&outside), (None, None), "{outside}: group bucket {}", bucket_value(&outside, "50001"));
}
