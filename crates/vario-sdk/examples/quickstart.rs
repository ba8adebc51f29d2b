//! Decide a flag for a user, with the datafile kept up to date by polling.
//!
//! Run with `cargo run -p vario-sdk --example quickstart -- SDK_KEY [BASE_URL]`
//! (BASE_URL defaults to Optimizely's CDN; point it at `vario serve` to use Vario's own
//! datafile hosting, e.g. `http://127.0.0.1:8080`).

use std::time::Duration;

use vario_sdk::{Attributes, Client, DatafileManagerOptions, DecideOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let sdk_key = args.next().ok_or("usage: quickstart SDK_KEY [BASE_URL]")?;
    let mut polling = DatafileManagerOptions::new(sdk_key).interval(Duration::from_secs(60));
    if let Some(base) = args.next() {
        polling = polling.base_url(base);
    }
    let client = Client::builder().datafile_polling(polling).build()?;
    if !client.wait_for_config(Duration::from_secs(10)) {
        eprintln!("no datafile yet; decisions answer \"off\" until one arrives");
    }

    let mut attributes = Attributes::new();
    attributes.insert("country", "de");
    let user = client.create_user_context("user-123", attributes);
    for decision in user.decide_all(DecideOptions::INCLUDE_REASONS) {
        println!(
            "{}: enabled={} variation={:?} rule={:?}",
            decision.flag_key(),
            decision.enabled(),
            decision.variation_key(),
            decision.rule_key()
        );
        for reason in decision.reasons() {
            println!("    because: {reason}");
        }
    }
    // Deliver the impressions before exiting.
    client.close();
    Ok(())
}
