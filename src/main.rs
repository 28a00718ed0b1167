//! The `hh-compat` binary: parse the command line, call the library, map outcomes to
//! exit codes. Everything else lives in the library so tests can drive it.

mod cli;

use clap::Parser;
use cli::{Cli, Command, DriversCommand, ReplicaCommand, VersionsCommand};
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
    // `replica serve` handles its own signals (it exits 0 on Ctrl-C); everything else
    // stops its children and removes its temporary directories when interrupted.
    let handles_signals = matches!(cli.command, Command::Replica(_));
    let outcome = runtime.block_on(async {
        if handles_signals {
            return Ok(dispatch(cli).await);
        }
        tokio::select! {
            outcome = dispatch(cli) => Ok(outcome),
            code = hh_compat::process::interrupted() => Err(code),
        }
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(code) => {
            let stopped = hh_compat::process::clean_up();
            let _ = writeln!(
                std::io::stderr(),
                "interrupted: stopped {stopped} child process group(s); no results were written"
            );
            // Tasks still holding children are dropped with the runtime; do not wait for them.
            runtime.shutdown_background();
            return ExitCode::from(code);
        }
    };
    match outcome {
        Ok(status) => ExitCode::from(status.code() as u8),
        Err(e) => fail(e.exit_status(), &format!("{e:#}")),
    }
}

/// Calls the library for the subcommand.
async fn dispatch(cli: Cli) -> Result<ExitStatus, hh_compat::commands::CommandError> {
    match cli.command {
        Command::Run(args) => hh_compat::commands::run(args.into()).await,
        Command::Record(args) => {
            let (run, recording) = args.into_parts();
            hh_compat::commands::record(run, recording).await
        }
        Command::List(args) => hh_compat::commands::list(&args.into()),
        Command::Report(args) => hh_compat::commands::report(&args.results, &(&args.output).into()),
        Command::Diff(args) => hh_compat::commands::diff(
            &args.before,
            &args.after,
            args.format.into(),
            args.out.as_deref(),
        ),
        Command::Bisect(args) => hh_compat::commands::bisect(args.into()).await,
        Command::Replica(ReplicaCommand::Serve(args)) => {
            hh_compat::commands::replica_serve(args.into()).await
        }
        Command::Drivers(DriversCommand::Setup(args)) => {
            hh_compat::commands::drivers_setup(&args.into()).await
        }
        Command::Versions(VersionsCommand::Check(args)) => {
            hh_compat::commands::versions_check(&args.into()).await
        }
        Command::Versions(VersionsCommand::Bump(args)) => {
            hh_compat::commands::versions_bump(&args.into()).await
        }
        Command::Cassettes(command) => hh_compat::commands::cassettes(&command),
    }
}

/// Prints the error (through the one redaction pass: a message may quote a file or a
/// program's output) and returns its exit code.
fn fail(status: ExitStatus, message: &str) -> ExitCode {
    let message = hh_compat::redact::Redactor::from_env().text(message);
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(status.code() as u8)
}
