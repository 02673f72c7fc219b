//! How long `query!` itself takes per expansion (parse, migrations, prepare, describe, code
//! generation), without the compiler around it. Part of bench/compile-time (see
//! docs/benchmarks.md):
//!
//! `cargo run --release -p hiqlite-macros-core --example expand_timing [-- migrations_dir [n]]`

use std::time::Instant;

use hiqlite_macros_core::query::input::QueryInput;
use hiqlite_macros_core::query::{try_expand, Env, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations").to_string());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let env = Env {
        manifest_dir: std::env::current_dir().unwrap_or_default(),
        migrations_dir: Some(dir),
    };
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let sql = format!("SELECT id, name, email FROM users WHERE id > ? AND name <> 'n{i}'");
        let tokens = quote::quote!(#sql, 1);
        let start = Instant::now();
        let input = QueryInput::parse(tokens, Mode::Query).expect("valid input");
        let out = try_expand(&input, Mode::Query, &env);
        times.push(start.elapsed());
        if let Err(e) = out {
            eprintln!("expansion failed: {e}");
            std::process::exit(1);
        }
    }
    let first = times[0];
    let rest = &times[1..];
    let avg = rest.iter().sum::<std::time::Duration>() / rest.len().max(1) as u32;
    println!(
        "query! expansion: first (applies the migrations) {first:?}, then {avg:?} on average over {} more",
        rest.len()
    );
}
