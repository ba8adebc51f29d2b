//! Integration tests of vario-sdk: one test per item of the SDK spec's edge-case
//! checklist (items 1–72), each marked `Checklist N`, plus property tests and the
//! OptimizelyConfig view against the reference SDK's answers.

mod audiences;
mod bucketing;
mod datafile_manager;
mod decide;
mod durability;
mod events;
mod flags;
mod forced;
mod http;
mod notifications;
mod optimizely_config;
mod processor;
mod profiles;
mod props;
mod runtime;
mod spool;
mod support;
