//! The `hh-compat` binary: parse the command line, run the subcommand, map its outcome to
//! an exit code. The subcommands live in the library (`hh_compat::commands`), so tests
//! drive them as the binary does.

use clap::Parser;
use hh_compat::commands::Cli;
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
    let handles_signals = cli.handles_signals();
    let outcome = runtime.block_on(async {
        if handles_signals {
            return Ok(cli.exec().await);
        }
        tokio::select! {
            outcome = cli.exec() => Ok(outcome),
            code = hh_compat::interrupted() => Err(code),
        }
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(code) => {
            let stopped = hh_compat::clean_up();
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

/// Prints the error (through the one redaction pass: a message may quote a file or a
/// program's output) and returns its exit code.
fn fail(status: ExitStatus, message: &str) -> ExitCode {
    let message = hh_compat::Redactor::from_env().text(message);
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(status.code() as u8)
}
