//! Track a purchase with revenue (integer cents), a numeric value and tags.
//!
//! Run with `cargo run -p vario-sdk --example track_revenue -- DATAFILE EVENTS_URL`
//! (EVENTS_URL: the events endpoint, e.g. `http://127.0.0.1:8080/v1/events` of
//! `vario serve`).

use serde_json::json;
use vario_sdk::{Attributes, Client, HttpEventDispatcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(datafile), Some(endpoint)) = (args.next(), args.next()) else {
        return Err("usage: track_revenue DATAFILE EVENTS_URL".into());
    };
    let client = Client::builder()
        .datafile(&std::fs::read_to_string(datafile)?)?
        .event_dispatcher(HttpEventDispatcher::builder().endpoint(endpoint).gzip(true).build()?)
        .build()?;

    let mut attributes = Attributes::new();
    attributes.insert("plan", "gold");
    // `revenue` must be an integer (cents); `value` any number; other tags are kept.
    let tags = json!({"revenue": 4200, "value": 12.5, "category": "shoes"});
    client.track("purchase", "user-123", &attributes, tags.as_object());

    client.close();
    let stats = client.event_stats().unwrap_or_default();
    println!("sent {} events in {} batches, {} failed", stats.events_sent, stats.batches_sent, stats.failed_events);
    Ok(())
}
