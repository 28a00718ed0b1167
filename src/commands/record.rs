//! `hh-compat record`: cells run against the live target through the recording proxy,
//! every exchange written as cassettes (credentials redacted) for offline replay.

use super::run::{execute, RunArgs};
use super::*;

#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// The cassette directory to write, e.g. fixtures/my-repro: new or empty, or a set
    /// `record` wrote before (then only the files that recording listed are replaced or removed).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
    /// What the set is, written to its cassette.yaml [default: "recorded live from HOST"].
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Replace the resource's host and name by a placeholder in every file written.
    #[arg(long)]
    pub anonymize_host: bool,
    /// Write into DIR even though it is neither empty nor a set `record` wrote: files of
    /// the same names are replaced, nothing is removed.
    #[arg(long)]
    pub force: bool,
    /// A .env file with the live target's variables [default: ./.env when it exists].
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// The program command cells run (with `sh -c`); implies --driver command.
    #[arg(long, value_name = "COMMAND LINE")]
    pub command: Option<String>,
    /// Run the command with this package installed (repeatable); see `run --help`.
    #[arg(long = "with", value_name = "PKG==VER", requires = "command", value_parser = args::parse_requirement)]
    pub with: Vec<String>,
    /// Cells run at once, 1-256 (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = args::jobs())]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value = "180", value_parser = args::seconds(86_400))]
    pub timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl RecordArgs {
    /// Claims the cassette directory (a refused one costs no live calls), runs the
    /// selected cells against the live target through the recording proxy and writes
    /// what it saw under the directory.
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        let claim =
            crate::cassette::claim(&self.dir, self.force).map_err(replica::ReplicaError::from)?;
        let recording = ClaimedRecording {
            dir: self.dir,
            label: self.label,
            anonymize_host: self.anonymize_host,
            claim,
        };
        let request = RunArgs {
            select: self.select,
            target: TargetKind::Live,
            env_file: self.env_file,
            command: self.command,
            with: self.with,
            endpoint: None,
            api_version_env: false,
            fixtures: None,
            jobs: self.jobs,
            timeout: self.timeout,
            output: self.output,
            stable: false,
            offline: false,
        };
        execute(request, Some(recording)).await
    }
}

/// A recording whose directory was claimed before the run (see [`crate::cassette::claim`]).
pub(super) struct ClaimedRecording {
    dir: PathBuf,
    /// What the set is (default: "recorded live from HOST").
    label: Option<String>,
    /// Replace the resource's host (and name) by a placeholder in every file.
    anonymize_host: bool,
    claim: crate::cassette::Claim,
}

/// Writes what the recording proxy saw as cassettes, labelled and aimed at `aim`.
pub(super) async fn write(
    recorder: Recorder,
    aim: RecordedTarget,
    recording: &ClaimedRecording,
    redactor: &Redactor,
) -> Result<(), CommandError> {
    let options = WriteOptions {
        label: Some(
            recording
                .label
                .clone()
                .unwrap_or_else(|| format!("recorded live from {}", aim.host)),
        ),
        anonymize_host: recording.anonymize_host.then(|| aim.host.clone()),
        matching: None,
        claim: Some(recording.claim.clone()),
        target: Some(aim),
    };
    let written = recorder.write(&recording.dir, &options, redactor);
    recorder.shutdown().await;
    let written = written.map_err(replica::ReplicaError::from)?;
    console::err(&format!(
        "recorded {} file(s) under {}",
        written.len(),
        recording.dir.display()
    ));
    Ok(())
}
