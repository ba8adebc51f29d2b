//! Prints a generated datafile, for load tools that need one:
//! `cargo run -p vario-testkit --example datafile -- [small|medium|large] [SEED]`.

use vario_testkit::{Shape, datafile};

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = match args.next().as_deref() {
        None | Some("medium") => Shape::MEDIUM,
        Some("large") => Shape::LARGE,
        Some("small") => Shape { experiments: 4, flags: 4, audiences: 4, variables_per_flag: 2 },
        Some(other) => {
            eprintln!("unknown size {other:?}: small, medium or large");
            std::process::exit(2);
        }
    };
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    println!("{}", datafile(shape, seed));
}
