//! Stand-in for `hh-compat replica serve` until the CLI lands: same flags, same output.
//!
//! `cargo run --example replica_serve -- --api-key KEY [--addr A] [--deployment N=M]... [--fault N=KIND,...]...`

use std::process::ExitCode;

use clap::Parser;
use hh_compat::replica::{
    self, parse_deployment_flag, parse_fault_flag, Deployment, Fault, ServeOptions,
};

#[derive(Parser)]
#[command(about = "Serve the Azure OpenAI replica until Ctrl-C or SIGTERM")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    /// The key clients must send in `api-key` (never printed).
    #[arg(long, env = "HH_COMPAT_REPLICA_API_KEY", hide_env_values = true)]
    api_key: String,
    /// NAME=MODEL, repeatable; without any, a built-in set is served.
    #[arg(long = "deployment", value_parser = parse_deployment)]
    deployments: Vec<Deployment>,
    /// NAME=KIND[,times=N][,retry_after_ms=M][,ms=M], repeatable.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<(String, Fault)>,
}

fn parse_deployment(s: &str) -> Result<Deployment, String> {
    parse_deployment_flag(s).map_err(|e| e.to_string())
}

fn parse_fault(s: &str) -> Result<(String, Fault), String> {
    parse_fault_flag(s).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut options = ServeOptions::new(args.api_key);
    options.addr = args.addr;
    options.deployments = args.deployments;
    options.faults = args.faults;
    match replica::serve(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ replica::ReplicaError::Flag { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
