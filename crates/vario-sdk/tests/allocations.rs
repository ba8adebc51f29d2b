//! The decision hot paths allocate nothing once a user context exists.
//!
//! A separate test binary (not a module of `tests/it`) because it installs a counting
//! global allocator and must be the only test running in its process: allocations are
//! counted process-wide.

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vario_sdk::{Attributes, Client, DecideOptions, ProjectConfig};
use vario_testkit::{Shape, datafile, users};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn decide_get_variation_and_is_feature_enabled_do_not_allocate() {
    let config = ProjectConfig::from_value(&datafile(Shape::MEDIUM, 1)).unwrap();
    let client = Client::builder().config(config.into()).build().unwrap();
    let users: Vec<(String, Attributes)> = users(200, 2).into_iter().map(|(id, a)| (id, a.into())).collect();
    let contexts: Vec<_> = users.iter().map(|(id, a)| client.create_user_context(id.clone(), a.clone())).collect();
    let flags: Vec<String> = (0..20).map(|f| format!("flag_{f}")).collect();
    let experiments: Vec<String> = (0..20).map(|e| format!("exp_{e}")).collect();

    // The first config read on a thread sets up that thread's slot in the config swap.
    let _ = contexts[0].decide(&flags[0], DecideOptions::NONE);

    let region = Region::new(GLOBAL);
    let mut enabled = 0;
    for (i, ctx) in contexts.iter().enumerate() {
        let decision = ctx.decide(&flags[i % 20], DecideOptions::NONE);
        enabled += usize::from(decision.enabled());
        let (id, attributes) = &users[i];
        enabled += usize::from(client.get_variation(&experiments[i % 20], id, attributes).is_some());
        enabled += usize::from(client.is_feature_enabled(&flags[i % 20], id, attributes));
    }
    let stats = region.change();
    assert!(enabled > 0, "the loop must decide something");
    assert_eq!(stats.allocations, 0, "decisions allocated: {stats:?}");
}
