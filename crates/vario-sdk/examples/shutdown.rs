//! Batched delivery in a long-running service, with a spool directory so that events
//! survive an outage of the endpoint and a restart, and a clean flush on shutdown.
//!
//! Run with `cargo run -p vario-sdk --example shutdown -- DATAFILE EVENTS_URL SPOOL_DIR`.

use std::time::Duration;

use vario_sdk::{Attributes, Client, DecideOptions, EventProcessorConfig, HttpEventDispatcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(datafile), Some(endpoint), Some(spool)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: shutdown DATAFILE EVENTS_URL SPOOL_DIR".into());
    };
    let client = Client::builder()
        .datafile(&std::fs::read_to_string(datafile)?)?
        .event_dispatcher(HttpEventDispatcher::builder().endpoint(endpoint).build()?)
        .event_processor(EventProcessorConfig {
            batch_size: 50,
            flush_interval: Duration::from_secs(1),
            queue_capacity: 100_000,
            close_timeout: Duration::from_secs(10),
            spool_dir: Some(spool.into()),
            ..EventProcessorConfig::default()
        })
        .build()?;
    client.notification_center().add_log_event_failed_listener(|failure| {
        eprintln!("batch not delivered ({:?}); spooled: {}", failure.reason, failure.spooled);
    });

    for i in 0..1000 {
        let user = client.create_user_context(format!("user-{i}"), Attributes::new());
        for decision in user.decide_all(DecideOptions::NONE) {
            if decision.enabled() {
                user.track_event("purchase", None);
            }
        }
    }

    // On SIGTERM a service would do this: what cannot be delivered before the close
    // timeout is written to the spool first, then what time is left goes to delivery.
    // When close returns the process may exit: the next start on the spool sends the
    // rest.
    let report = client.close();
    println!(
        "delivered {}, spooled {}, dropped {}, in flight {}",
        report.delivered, report.spooled, report.dropped, report.in_flight
    );
    Ok(())
}
