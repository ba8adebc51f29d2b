//! Integration tests of the `vario` command.

/// `vario backup` under load and `vario restore`.
mod backup;
/// Headless Chromium over WebDriver, for the page tests.
mod browser;
/// The official-SDK case sets in `spec/compat`, run through `vario eval`.
mod compat;
/// `vario datafile validate`.
mod datafile;
/// The protocol details of `vario eval` (errors, exit codes, flushing).
mod eval;
/// `vario serve` against clients that try to exhaust it: limits, timeouts, budgets.
mod hardening;
/// `vario --version`, shell completions and manual pages.
mod install;
/// The official Python and JavaScript SDKs pointed at a running `vario serve`.
mod official_clients;
/// The official OpenFeature OFREP providers (JavaScript server and web, Python).
mod openfeature;
/// The differential fuzzer: mutated datafiles through `vario eval` and both official SDKs.
mod oracle_fuzz;
/// The Parquet files read by pyarrow.
mod parquet_check;
/// `vario project`, `vario explain` and `vario datafile diff` on a data directory.
mod project;
/// `vario query` on a data directory written by the store.
mod query;
/// `vario results` and `vario export` on simulated traffic.
mod results;
/// `vario serve` as a process: SIGKILL crash safety, SIGTERM, configuration, read-only data.
mod serve;
/// The systemd unit and the container image of `deploy/`.
mod service;
/// `vario simulate` against a running server.
mod simulate;
/// A `vario serve` process for the tests that need one.
mod support;
/// The pages in a real browser: results, projects, explain, sign-in.
mod ui;
/// Data directories of older and newer formats: `vario migrate`, refusals.
mod upgrade;
/// The official browser SDKs (JavaScript, React) on a page of another origin, in Chromium.
mod web_sdk;
