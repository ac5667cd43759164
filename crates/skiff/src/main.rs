//! The `skiff` binary: parse the command line and dispatch.

mod agent;
mod agent_cmd;
mod cli;
mod images;
mod join;
mod server;
mod shutdown;
mod sim;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
        Command::Agent(a) => a.debug,
        Command::Sim(a) => a.debug,
        // The agent's internal helpers run before anything else: single-threaded (unshare
        // needs that), without logging setup.
        Command::Shim { dir } => return ExitCode::from(skiff_agent::runtime::shim::shim_main(dir) as u8),
        Command::ExecTty { args } => return ExitCode::from(skiff_agent::runtime::exec_tty::exec_tty_main(args) as u8),
        Command::Sandbox { dir, hostname, host_network } => {
            return match skiff_agent::runtime::sandbox::sandbox_main(dir, hostname, *host_network) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("skiff sandbox: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Version | Command::Killall { .. } | Command::Images(_) => false,
    };
    let level = if debug { tracing::Level::DEBUG } else { tracing::Level::INFO };
    // `skiff agent` fetches the CA unverified on purpose (it then checks it against the token's
    // hash); kube warns about every such handshake.
    let quiet_tls = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("kube_client::client::tls", tracing::Level::ERROR);
    tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).finish().with(quiet_tls).init();
    let result = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Agent(args) => agent_cmd::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Images(args) => images::run(args),
        Command::Shim { .. } | Command::Sandbox { .. } | Command::ExecTty { .. } => Ok(()),
        Command::Killall { data_dir, default_runtime } => {
            let problems = skiff_agent::teardown::killall(&data_dir.join("agent"), &default_runtime);
            if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
        }
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
