//! `appsignal-bench [--quick|--smoke] [--tsv]`: every Rust-side benchmark, one table.
//! BENCH_QUICK=1 in the environment is the same as `--quick`.

use appsignal_bench::{run_all, Scale};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let scale = if has("--smoke") {
        Scale::smoke()
    } else if has("--quick") || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
        Scale::quick()
    } else {
        Scale::full()
    };
    let rows = run_all(scale);
    if has("--tsv") {
        for row in &rows {
            println!("{}", row.to_tsv());
        }
        return;
    }
    println!(
        "{:<42} {:>12} {:<11} {:<28} {:>12} {:>8}  derived",
        "benchmark", "value", "unit", "baseline", "baseline", "ratio"
    );
    for row in &rows {
        println!(
            "{:<42} {:>12.1} {:<11} {:<28} {:>12.1} {:>7.2}x  {}",
            row.name,
            row.value,
            row.unit,
            row.baseline_name,
            row.baseline_value,
            row.ratio(),
            row.derived.as_deref().unwrap_or("")
        );
    }
}
