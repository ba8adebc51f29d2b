//! One full payload pinned as an insta snapshot (§10.3), so any change of the wire
//! format shows up in review.

use vario_events::LogEvent;

use crate::examples::track_10_3;

#[test]
fn track_payload_snapshot() {
    let log = LogEvent::from(track_10_3());
    let mut params = log.params().clone();
    // The crate version changes with releases; the format does not.
    params.client_version = "[client_version]".into();
    let pretty = serde_json::to_string_pretty(&params).unwrap();
    insta::assert_snapshot!("track_10_3", pretty);
}
