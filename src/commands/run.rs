//! `hh-compat run`: the request, its plan carried out by the runner, the results
//! redacted and reported. `record` and `bisect` run their cells through here too.

use super::plan::{Plan, Planned};
use super::record::ClaimedRecording;
use super::*;
use crate::runner::Target;
use args::parse_name;

// Its doc comments are clap's `--help` text, written for a terminal, not for rustdoc.
#[allow(rustdoc::bare_urls)]
#[derive(Debug, Clone, clap::Args)]
// `--with` pins packages for a command or for the named version sets' python cells.
#[command(group(clap::ArgGroup::new("pinned").args(["command", "version_sets"]).multiple(true)))]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Where the calls go: the offline replica, or a live resource configured by
    /// AZURE_OPENAI_* variables (see env.example).
    #[arg(long, default_value = "replica", value_parser = parse_name::<TargetKind>)]
    pub target: TargetKind,
    /// A .env file with the live target's variables [default: ./.env when it exists].
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// The program command cells run (with `sh -c`), e.g. "python repro.py"; implies
    /// --driver command when no --driver is given.
    #[arg(long, value_name = "COMMAND LINE")]
    pub command: Option<String>,
    /// Run the command with this package installed (repeatable, like `uv run --with`):
    /// the harness builds and caches the environment and puts it first on PATH. With
    /// --version-set NAME, these replace that set's pins of the same packages; without
    /// --command, the python cells of the named sets run with them (exact pins only).
    #[arg(long = "with", value_name = "PKG==VER", requires = "pinned", value_parser = args::parse_requirement)]
    pub with: Vec<String>,
    /// The endpoint string apps receive, exactly as the customer writes it (e.g.
    /// "https://contoso.openai.azure.com/" with its trailing slash); it must name the
    /// target's host [default: the matrix's `target.endpoint`, else the resource origin
    /// without a trailing slash, which every openai SDK release from 1.0 on accepts].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Give command cells OPENAI_API_VERSION too, as the customer's environment does (the
    /// openai SDK reads it by itself; default: the matrix's `target.api_version_env`).
    #[arg(long, requires = "command")]
    pub api_version_env: bool,
    /// Answer from the cassettes in DIR (written by `hh-compat record`, or by hand)
    /// instead of generating answers; implies --target replay.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Cells run at once, 1-256 (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = args::jobs())]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = args::seconds(86_400))]
    pub timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Zero durations and timing attributes so identical runs give identical bytes.
    #[arg(long)]
    pub stable: bool,
    /// Reach no package index: python cells run only from environments already built
    /// (by an earlier run or `hh-compat drivers setup`); the others are skipped, or, in
    /// a run with no --driver, named in a note.
    #[arg(long, env = "HH_COMPAT_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
}

impl RunArgs {
    /// Runs the selected cells and writes the chosen report.
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        execute(self, None).await
    }
}

/// A run, recorded into cassettes when `recording` is given, and its report written.
pub(super) async fn execute(
    request: RunArgs,
    recording: Option<ClaimedRecording>,
) -> Result<ExitStatus, CommandError> {
    let output = request.output.clone();
    let ran = collect(request, recording).await?;
    let written = ran.recording_written & write_output(&ran.results, &output)?;
    if let Some(note) = &ran.not_run {
        console::err(note);
    }
    let status = if ran.results.cells.is_empty() {
        ExitStatus::Ok
    } else {
        ran.results.exit_status()
    };
    Ok(if written { status } else { status.unwritten() })
}

/// What a run produced, redacted, before any report is written.
pub(super) struct Ran {
    pub results: RunResults,
    /// False when the cassettes of a recording could not be written.
    pub recording_written: bool,
    /// What the default run left out, and the command that runs it.
    pub not_run: Option<String>,
}

/// Plans the request, runs the cells and returns their results (redacted); `record`
/// also writes its cassettes here.
pub(super) async fn collect(
    request: RunArgs,
    recording: Option<ClaimedRecording>,
) -> Result<Ran, CommandError> {
    let plan = match Plan::resolve(request, recording).await? {
        Planned::Run(plan) => *plan,
        Planned::EmptyShard(results) => {
            return Ok(Ran {
                results,
                recording_written: true,
                not_run: None,
            })
        }
    };
    let progress = progress_bar(plan.cells.len() as u64, "cells");
    let bar = progress.clone();
    let began = std::time::SystemTime::now();
    let mut results = runner::run(
        &plan.matrix,
        &plan.label,
        plan.cells,
        &plan.options,
        move |cell: &CellResult| {
            bar.set_message(cell.id.clone());
            bar.inc(1);
        },
    )
    .await?;
    progress.finish_and_clear();
    results.started(began);
    if let Some((shard, place)) = &plan.shard {
        results.shard = Some(shard.to_string());
        // Each cell's place in the whole selection, so merged shards keep the run's order.
        for result in &mut results.cells {
            result.ordinal = place.get(&result.id).copied();
        }
    }
    let mut written = true;
    if let (Target::Record { recorder, live }, Some(recording)) =
        (plan.options.target, &plan.recording)
    {
        let aim = live.recorded_target();
        if let Err(e) = super::record::write(recorder, aim, recording, &plan.redactor).await {
            console::err(&format!("error: {}", plan.redactor.text(&e.to_string())));
            written = false;
        }
    }
    if plan.stable {
        results.stabilize();
    }
    let results = (plan.redactor)
        .scrub(&results)
        .ok_or(CommandError::Unredactable)?;
    Ok(Ran {
        results,
        recording_written: written,
        not_run: plan.not_run,
    })
}
