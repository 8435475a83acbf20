//! `custos`: the licence-plate recognition appliance's one binary. Thin: it parses the command
//! line and config, wires the stage crates together and reports errors with context.

mod cmd;
mod config;
mod http;
mod status_table;

/// The appliance's allocator. Ingest allocates small records by the million; glibc's allocator
/// spent a fifth of the store's ingest time in `malloc`/`free` and their consolidation,
/// mimalloc a third of that. Set here, in the binary (and in each benchmark binary, so that
/// what is measured is what ships), never in a library.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "custos",
    version,
    about = "Licence-plate recognition appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole appliance on loopback with no configuration: test cameras, a demo agency,
    /// gRPC over mutual TLS, and a console that prints the reads and a hotlist alert.
    Demo(cmd::demo::Args),
    /// Ingests the cameras of a config file, printing per-camera status.
    Ingest(cmd::ingest::Args),
    /// Checks a config file and prints what is wrong with it.
    CheckConfig(cmd::ingest::CheckArgs),
    /// Serves synthetic RTSP cameras with plates of known text and writes their ground truth.
    Testcam(cmd::testcam::Args),
    /// Measures the product on labelled real data (e.g. `eval detect`: plate localisation).
    #[command(subcommand_required = true)]
    Eval(cmd::eval::Args),
    /// Agency data: create, export, verify-export, decommission, wipe-due.
    Agency(cmd::agency::Args),
    /// The tamper-evident audit log: `audit verify`.
    Audit(cmd::audit::Args),
    /// Certificates: `pki init` (CA), `pki server`, `pki client` (a person or device).
    Pki(cmd::pki::Args),
    /// Principals: `principal add` (the first admin; later ones over the API).
    Principal(cmd::principal::Args),
    /// Serves the gRPC query/audit API for every agency in the data directory.
    Serve(cmd::serve::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::CheckConfig(args) => cmd::ingest::check(args),
        Command::Testcam(args) => cmd::testcam::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Agency(args) => cmd::agency::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Pki(args) => cmd::pki::run(args),
        Command::Principal(args) => cmd::principal::run(args),
        Command::Serve(args) => cmd::serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("custos: {err:#}");
            ExitCode::FAILURE
        }
    }
}
