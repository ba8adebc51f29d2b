//! Integration tests of vario-events.

mod checklist;
mod examples;
mod fixture;
mod props;
mod snapshot;
mod wire;
