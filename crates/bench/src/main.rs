//! `skiff-bench`: measures a live `skiff server` (the release binary) and prints each figure
//! beside the goal and the reference figures from the control-plane issue.
//!
//! Usage: `cargo build --release -p skiff -p skiff-bench && ./target/release/skiff-bench`
//! (`--skiff PATH` to measure another binary). Figures are measurements, not assertions.

mod apiserver;
mod stats;

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut skiff = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--skiff" => skiff = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: skiff-bench [--skiff PATH]");
                return;
            }
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
    rt.block_on(apiserver::run(&skiff));
}
