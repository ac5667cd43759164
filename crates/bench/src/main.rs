//! `skiff-bench`: measures a live `skiff server` (the release binary) and prints each figure
//! beside the goal and the reference figures from the control-plane issue.
//!
//! Usage: `cargo build --release -p skiff -p skiff-bench && ./target/release/skiff-bench
//! [control-plane | scheduler [WORKLOAD] | controllers | agent]` (control plane and scheduler by default; `--skiff PATH` to measure another
//! binary; `SKIFF_BENCH_SERVER_ARGS="--disable-controllers"` passes extra server flags to the
//! scheduler workloads, to compare configurations). Figures are measurements, not assertions.

mod agent;
mod apiserver;
mod controllers;
mod scheduler;
mod stats;

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut skiff = None;
    let mut suites: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--skiff" => skiff = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!(
                    "usage: skiff-bench [--skiff PATH] [control-plane | scheduler [WORKLOAD] | controllers | agent]"
                );
                return;
            }
            "control-plane" | "scheduler" | "controllers" | "agent" => suites.push(a),
            w if suites.last().is_some_and(|s| s == "scheduler") => suites.push(format!("scheduler:{w}")),
            other => {
                eprintln!("skiff-bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let skiff = skiff.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name("skiff")
    });
    if !skiff.exists() {
        eprintln!("skiff-bench: no skiff binary at {} (build it with cargo build --release -p skiff)", skiff.display());
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let all = suites.is_empty();
    rt.block_on(async {
        if all || suites.iter().any(|s| s == "control-plane") {
            apiserver::run(&skiff).await;
            println!();
        }
        if all || suites.iter().any(|s| s.starts_with("scheduler")) {
            let only = suites.iter().find_map(|s| s.strip_prefix("scheduler:"));
            scheduler::run(&skiff, only).await;
        }
        if suites.iter().any(|s| s == "controllers") {
            controllers::run(&skiff).await;
        }
        if suites.iter().any(|s| s == "agent") {
            agent::run(&skiff).await;
        }
    });
}
