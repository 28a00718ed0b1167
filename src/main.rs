//! The `hh-compat` binary: parse the command line, call the library, map outcomes to
//! exit codes. Everything else lives in the library so tests can drive it.

mod cli;

use clap::Parser;
use cli::{Cli, Command, DriversCommand, ReplicaCommand};
use hh_compat::report::ExitStatus;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                ExitStatus::Infrastructure,
                &format!("could not start the async runtime: {e}"),
            )
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => hh_compat::commands::run(args.into()).await,
            Command::Record(args) => {
                let (run, recording) = args.into_parts();
                hh_compat::commands::record(run, recording).await
            }
            Command::List(args) => hh_compat::commands::list(&args.into()),
            Command::Report(args) => {
                hh_compat::commands::report(&args.results, &(&args.output).into())
            }
            Command::Replica(ReplicaCommand::Serve(args)) => {
                hh_compat::commands::replica_serve(args.into()).await
            }
            Command::Drivers(DriversCommand::Setup(args)) => {
                hh_compat::commands::drivers_setup(&args.into()).await
            }
        }
    });
    match outcome {
        Ok(status) => ExitCode::from(status.code() as u8),
        Err(e) => fail(e.exit_status(), &format!("{e:#}")),
    }
}

/// Prints the error (through the one redaction pass: a message may quote a file or a
/// program's output) and returns its exit code.
fn fail(status: ExitStatus, message: &str) -> ExitCode {
    let message = hh_compat::redact::Redactor::from_env().text(message);
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(status.code() as u8)
}
