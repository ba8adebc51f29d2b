//! A conversion from `track` to the JSON body of its one-event batch: the per-event cost
//! of the SDK's event path with batch size 1.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use vario_core::Attributes;
use vario_datafile::ProjectConfig;
use vario_events::{EventFactory, LogEvent};

const DATAFILE: &str = r#"{
    "version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
    "anonymizeIP": true, "botFiltering": true,
    "groups": [], "experiments": [], "audiences": [],
    "attributes": [{"id": "20001", "key": "device"}, {"id": "20002", "key": "age"},
                   {"id": "20004", "key": "plan"}],
    "events": [{"id": "90001", "key": "purchase", "experimentIds": []}]
}"#;

fn track(c: &mut Criterion) {
    let Ok(config) = ProjectConfig::from_json(DATAFILE) else { return };
    let factory = EventFactory::new(&config);
    let mut attributes = Attributes::new();
    attributes.insert("device", "iphone");
    attributes.insert("age", 34_i64);
    attributes.insert("plan", "gold");
    let tags = json!({"revenue": 4200, "value": 12.5, "category": "shoes"});
    let tags = tags.as_object();

    // The build alone, to split the figure below between building and writing.
    c.bench_function("conversion_only", |b| {
        b.iter(|| factory.conversion(black_box("purchase"), black_box("user_4"), &attributes, tags));
    });
    c.bench_function("track_to_json", |b| {
        b.iter(|| {
            let event = factory.conversion(black_box("purchase"), black_box("user_4"), &attributes, tags);
            event.map(|e| LogEvent::from(e).into_json_bytes())
        });
    });
}

criterion_group!(benches, track);
criterion_main!(benches);
