//! `hh-compat replica serve`: the replica on its own.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum ReplicaCommand {
    /// Serve the replica until Ctrl-C; the first line printed is its base URL.
    #[command(after_help = "Examples:\n  hh-compat replica serve\n  \
        hh-compat replica serve --addr 127.0.0.1:8080 --api-key test-key \\\n      \
        --deployment my-gpt4o=gpt-4o-2024-08-06 --deployment my-embed=text-embedding-3-small\n  \
        hh-compat replica serve --deployment flaky=gpt-4o-2024-08-06 --fault flaky=rate_limit,times=2,retry_after_ms=50\n  \
        hh-compat replica serve --fixtures fixtures/azure-quirks")]
    Serve(ServeArgs),
}

// Its doc comments are clap's `--help` text, written for a terminal, not for rustdoc.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: std::net::SocketAddr,
    /// The key clients must send in `api-key` (or as `Authorization: Bearer` on /v1 routes).
    #[arg(
        long,
        env = "HH_COMPAT_REPLICA_API_KEY",
        default_value = "replica-key",
        hide_env_values = true
    )]
    pub api_key: String,
    /// A deployment, NAME=MODEL[,kind=chat|embedding] (repeatable; the kind is inferred from
    /// the model when absent: text-embedding* embeds). Default: a built-in set, printed at start.
    #[arg(long = "deployment", value_name = "NAME=MODEL[,kind=KIND]")]
    pub deployments: Vec<String>,
    /// A fault, NAME=KIND[,times=N][,retry_after_ms=M][,ms=M] (repeatable).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Answer from the cassettes in DIR (e.g. fixtures/azure-quirks) instead of generating.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["deployments", "faults"])]
    pub fixtures: Option<PathBuf>,
    /// Microseconds between two chunks of a streamed answer, 0-60000000 (0: no pause).
    #[arg(long, value_name = "MICROSECONDS", default_value_t = crate::replica::DEFAULT_STREAM_INTERVAL_US,
        value_parser = clap::value_parser!(u64).range(0..=60_000_000))]
    pub stream_interval_us: u64,
    /// Answer in the shapes Azure sent in this month, YYYY-MM (e.g. 2024-12) [default: the newest].
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_shapes)]
    pub shapes: Option<crate::replica::Shapes>,
}

fn parse_shapes(value: &str) -> Result<crate::replica::Shapes, String> {
    crate::replica::Shapes::parse(value)
        .ok_or_else(|| "expected a month YYYY-MM from 2023-01 on, e.g. 2024-12".to_string())
}

impl ReplicaCommand {
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        match self {
            ReplicaCommand::Serve(args) => args.exec().await,
        }
    }
}

impl ServeArgs {
    /// Serves until Ctrl-C or SIGTERM.
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        let mut options = ServeOptions::new(self.api_key);
        options.addr = self.addr;
        options.fixtures = self.fixtures;
        options.stream_interval_us = self.stream_interval_us;
        options.shapes = self.shapes;
        for flag in &self.deployments {
            options
                .deployments
                .push(replica::parse_deployment_flag(flag)?);
        }
        for flag in &self.faults {
            options.faults.push(replica::parse_fault_flag(flag)?);
        }
        replica::serve(options).await?;
        Ok(ExitStatus::Ok)
    }
}
