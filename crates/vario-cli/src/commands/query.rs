//! `vario query`: read-only SQL over the stored events of a data directory, whether or
//! not a server is running on it (the log is opened read-only).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use vario_store::{QueryError, QueryResult};

use crate::commands::serve::{DEFAULT_DATA_DIR, env};
use crate::exit_code;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// RFC 4180 CSV with a header row; NULL is an empty field.
    Csv,
    /// `{"columns": [...], "rows": [[...], ...]}`, as the HTTP API answers.
    Json,
}

/// `vario query` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One read-only query (SELECT or WITH) over the `events` table.
    pub sql: String,
    /// Data directory of `vario serve`.
    #[arg(long, env = env::DATA_DIR, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs the query and prints its answer.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        eprintln!("{}: no such data directory", args.data_dir.display());
        return Ok(exit_code::BAD_INPUT.into());
    }
    let result = match vario_store::query(&args.data_dir, &args.sql) {
        Ok(result) => result,
        Err(QueryError::Invalid(message)) => {
            eprintln!("invalid query: {message}");
            return Ok(exit_code::BAD_INPUT.into());
        }
        Err(e) => return Err(e).context("the query failed"),
    };
    let text = match args.format {
        Format::Table => table(&result),
        Format::Csv => csv(&result),
        Format::Json => format!("{}\n", json!({"columns": result.columns, "rows": result.rows})),
    };
    std::io::stdout().lock().write_all(text.as_bytes()).context("cannot write the answer")?;
    Ok(ExitCode::SUCCESS)
}

/// A value as text: strings bare, NULL as `null_text`.
fn text(value: &Value, null_text: &str) -> String {
    match value {
        Value::Null => null_text.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(result: &QueryResult) -> String {
    let cells: Vec<Vec<String>> = result.rows.iter().map(|row| row.iter().map(|v| text(v, "NULL")).collect()).collect();
    let mut widths: Vec<usize> = result.columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, values: &[String]| {
        let padded: Vec<String> = values.iter().zip(&widths).map(|(v, &w)| format!("{v:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join(" | ").trim_end());
    };
    let mut out = String::new();
    line(&mut out, &result.columns);
    let _ = writeln!(out, "{}", widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>().join("-+-"));
    for row in &cells {
        line(&mut out, row);
    }
    let n = cells.len();
    let _ = writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" });
    out
}

fn csv(result: &QueryResult) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    let mut out = String::new();
    let header: Vec<String> = result.columns.iter().map(|c| field(c)).collect();
    let _ = write!(out, "{}\r\n", header.join(","));
    for row in &result.rows {
        let fields: Vec<String> = row.iter().map(|v| field(&text(v, ""))).collect();
        let _ = write!(out, "{}\r\n", fields.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> QueryResult {
        QueryResult {
            columns: vec!["kind".into(), "n".into()],
            rows: vec![vec![json!("a,\"b\""), json!(3)], vec![Value::Null, json!(1.5)]],
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv(&result()), "kind,n\r\n\"a,\"\"b\"\"\",3\r\n,1.5\r\n");
    }

    #[test]
    fn table_aligns_columns() {
        assert_eq!(table(&result()), "kind  | n\n------+----\na,\"b\" | 3\nNULL  | 1.5\n(2 rows)\n");
    }
}
