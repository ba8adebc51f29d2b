//! An OpenFeature client deciding with Vario's SDK on a local datafile:
//! `cargo run -p vario-openfeature-provider --example checkout -- DATAFILE FLAG USER`.

use open_feature::{EvaluationContext, OpenFeature};
use vario_openfeature_provider::VarioProvider;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(flag), Some(user)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: checkout DATAFILE FLAG USER".into());
    };
    // Events go to the endpoint the datafile's project uses; point `event_dispatcher`
    // at Vario's Events API in a real service (README, "Using the SDK").
    let client = vario_sdk::Client::builder().datafile(&std::fs::read_to_string(path)?)?.build()?;
    OpenFeature::singleton_mut().await.set_provider(VarioProvider::new(client)).await;
    let flags = OpenFeature::singleton().await.create_client();
    let context = EvaluationContext::default().with_targeting_key(user);
    let details = flags
        .get_bool_details(&flag, Some(&context), None)
        .await
        .map_err(|e| format!("{flag}: {:?} {}", e.code, e.message.unwrap_or_default()))?;
    println!("{flag}: {} (variant {:?}, reason {:?})", details.value, details.variant, details.reason);
    Ok(())
}
