//! `hh-compat replica serve`: the replica on its own.

use super::*;

/// `hh-compat replica serve` as typed on the command line.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    pub addr: std::net::SocketAddr,
    pub api_key: String,
    /// `NAME=MODEL` flags; empty means the built-in set.
    pub deployments: Vec<String>,
    /// `NAME=KIND[,times=N][,retry_after_ms=M][,ms=M]` flags.
    pub faults: Vec<String>,
    /// Replay the cassettes in this directory instead of generating.
    pub fixtures: Option<PathBuf>,
    /// Microseconds between two chunks of a streamed answer.
    pub stream_interval_us: u64,
    /// The month whose shapes the replica answers in; `None`: the newest.
    pub shapes: Option<crate::replica::Shapes>,
}

/// `hh-compat replica serve`: serves until Ctrl-C or SIGTERM.
pub async fn replica_serve(command: ServeCommand) -> Result<ExitStatus, CommandError> {
    let mut options = ServeOptions::new(command.api_key);
    options.addr = command.addr;
    options.fixtures = command.fixtures;
    options.stream_interval_us = command.stream_interval_us;
    options.shapes = command.shapes;
    for flag in &command.deployments {
        options
            .deployments
            .push(replica::parse_deployment_flag(flag)?);
    }
    for flag in &command.faults {
        options.faults.push(replica::parse_fault_flag(flag)?);
    }
    replica::serve(options).await?;
    Ok(ExitStatus::Ok)
}
