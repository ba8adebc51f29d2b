//! `vario explain`: what one user gets from every flag and experiment of an
//! environment, and why, at the current datafile or at an older revision.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;
use vario_datafile::ProjectConfig;
use vario_project::{SqliteStore, Store};
use vario_sdk::Attributes;
use vario_server::explain::{explain, parse_attribute};
use vario_store::Datafiles;

use crate::exit_code;

/// `vario explain` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment's SDK key.
    #[arg(long, required_unless_present = "datafile")]
    pub sdk_key: Option<String>,
    /// The user id.
    #[arg(long)]
    pub user: String,
    /// A user attribute, `KEY=VALUE` (repeatable); numbers, `true`/`false` and `null` are typed, the rest are strings.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// An older datafile revision of the environment (from the project history).
    #[arg(long)]
    pub revision: Option<u64>,
    /// Explain against this datafile file instead.
    #[arg(long, conflicts_with_all = ["sdk_key", "revision"])]
    pub datafile: Option<PathBuf>,
    /// Data directory of the server [default: ./vario-data].
    #[arg(long, env = super::serve::env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vario explain`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut attributes = Attributes::new();
    for pair in &args.attributes {
        let Some((key, value)) = parse_attribute(pair) else {
            eprintln!("error: --attr {pair:?} is not KEY=VALUE");
            return Ok(exit_code::BAD_INPUT.into());
        };
        attributes.insert(key, value);
    }
    let Some(text) = datafile(args)? else {
        eprintln!(
            "error: no datafile for this SDK key{}",
            args.revision.map_or(String::new(), |r| format!(" at revision {r}"))
        );
        return Ok(exit_code::BAD_INPUT.into());
    };
    let config = match ProjectConfig::from_json(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid datafile: {e}");
            return Ok(exit_code::BAD_INPUT.into());
        }
    };
    let report = explain(&text, &config, &args.user, &attributes)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn datafile(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(file) = &args.datafile {
        return std::fs::read_to_string(file).map(Some).with_context(|| format!("cannot read {}", file.display()));
    }
    let dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from(super::serve::DEFAULT_DATA_DIR));
    let sdk_key = args.sdk_key.as_deref().unwrap_or_default();
    if let Some(revision) = args.revision {
        let store = SqliteStore::open_in(&dir)?;
        return Ok(store.read(|tx| tx.datafile_at(sdk_key, revision))?.map(|r| r.json));
    }
    let hosted = Datafiles::new(&dir).get(sdk_key).with_context(|| format!("cannot read the datafile of {sdk_key}"))?;
    Ok(hosted.map(|d| String::from_utf8_lossy(&d.bytes).into_owned()))
}

fn print_text(report: &Value) {
    println!("user {} at datafile revision {}", report["user"].as_str().unwrap_or_default(), report["revision"]);
    let reasons = |item: &Value| {
        for r in item["reasons"].as_array().into_iter().flatten() {
            println!("    why: {}", r.as_str().unwrap_or_default());
        }
    };
    for f in report["flags"].as_array().into_iter().flatten() {
        let state = if f["enabled"].as_bool() == Some(true) { "on" } else { "off" };
        println!(
            "flag {}: {state}, variation {}, rule {}",
            f["flag"].as_str().unwrap_or_default(),
            f["variation"],
            f["rule"]
        );
        if f["variables"].as_object().is_some_and(|m| !m.is_empty()) {
            println!("    variables: {}", f["variables"]);
        }
        reasons(f);
    }
    for e in report["experiments"].as_array().into_iter().flatten() {
        println!("experiment {}: variation {}", e["experiment"].as_str().unwrap_or_default(), e["variation"]);
        reasons(e);
    }
}
