//! The `skiff` binary: parse the command line and dispatch.

mod cli;
mod server;
mod sim;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

// glibc's malloc spent about a third of the server's CPU under write load (JSON values are many
// small allocations freed on other threads); with mimalloc the scheduler benchmark runs ~1.7x
// faster. (.cargo/config.toml makes it commit memory lazily, which keeps idle RSS as low as
// glibc's.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let debug = match &cli.command {
        Command::Server(a) => a.debug,
        Command::Sim(a) => a.debug,
        Command::Version => false,
    };
    tracing_subscriber::fmt()
        .with_max_level(if debug { tracing::Level::DEBUG } else { tracing::Level::INFO })
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Version => {
            println!("skiff {} (Kubernetes API v1.33)", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skiff: {e}");
            ExitCode::FAILURE
        }
    }
}
