//! Prints `vario eval` request lines for the medium datafile, for throughput runs:
//! `cargo run -p vario-testkit --example eval_requests -- [LINES] [SEED]`. The mix is
//! decide_all-heavy: half `decide_all`, a quarter `decide` of one flag, a quarter
//! `track` with revenue, over 1,000 users.

use std::io::Write;

use serde_json::json;
use vario_testkit::users;

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(11);
    let users = users(1000, seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..lines {
        let (id, attrs) = &users[i % users.len()];
        let request = match i % 4 {
            0 | 1 => json!({"op": "decide_all", "user_id": id, "attributes": attrs}),
            2 => json!({"op": "decide", "flag_key": format!("flag_{}", i % 20), "user_id": id, "attributes": attrs}),
            _ => json!({"op": "track", "event_key": "event_1", "user_id": id, "attributes": attrs,
                        "event_tags": {"revenue": 1200}}),
        };
        if writeln!(out, "{request}").is_err() {
            return;
        }
    }
}
