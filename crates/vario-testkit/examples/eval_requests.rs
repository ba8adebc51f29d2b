//! Prints `vario eval` request lines for the medium datafile, for throughput runs:
//! `cargo run -p vario-testkit --example eval_requests -- [LINES] [SEED]`. The mix is
//! decide_all-heavy: half `decide_all`, a quarter `decide` of one flag, a quarter
//! `track` with revenue, over 1,000 users.

use std::io::Write;

use vario_testkit::{decide_all_heavy_request, users};

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(11);
    let users = users(1000, seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..lines {
        if writeln!(out, "{}", decide_all_heavy_request(i, &users)).is_err() {
            return;
        }
    }
}
