//! The command line and what each subcommand does. [`Cli`] is what clap parses; each
//! subcommand's module holds its clap arguments and its `exec` (what the binary calls and
//! the integration tests drive); `args` holds the argument groups several flatten. Here:
//! the dispatch, what the subcommands share (loading and selecting a matrix's cells,
//! writing a report), the errors and their exit codes.
//!
//! A run, end to end: `main.rs` → [`Cli::exec`] → `run.rs` ([`RunArgs::exec`]) →
//! `plan.rs` (the request resolved against the matrix and the target) → `runner/mod.rs`.

// The arguments' doc comments are clap's `--help` text, written for a terminal
// (`matrix/<PROVIDER>.yaml`, `NAME=KIND[,times=N]`, quoted URLs), not for rustdoc.
#![allow(
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links
)]

mod args;
mod bisect;
mod cassettes;
mod diff;
mod drivers;
mod list;
mod plan;
mod real_packages;
mod record;
mod render;
mod run;
mod serve;
mod versions;

pub use args::{IndexArgs, MatrixArgs, OutputArgs, SelectArgs};
pub use bisect::BisectArgs;
pub use cassettes::{CassettesCommand, ImportArgs, ImportFormat};
pub use diff::{DiffArgs, DiffFormat};
pub use drivers::{DriversCommand, SetupArgs};
pub use list::ListArgs;
pub use record::RecordArgs;
pub use render::ReportArgs;
pub use run::RunArgs;
pub use serve::{ReplicaCommand, ServeArgs};
pub use versions::{VersionsBumpArgs, VersionsCheckArgs, VersionsCommand};

pub use crate::index::IndexError;

use crate::cassette::{RecordedTarget, Recorder, RecorderConfig, ReplayStore, WriteOptions};
use crate::console;
use crate::drivers::command::CommandOptions;
use crate::drivers::python;
use crate::drivers::venv::{self, EnvSpec, PythonSetup};
use crate::live::{EnvSource, LiveError, LiveSettings};
use crate::matrix::{self, CellFilter, Matrix, MatrixError};
use crate::redact::Redactor;
use crate::replica::{self, ServeOptions};
use crate::report::{self, CellResult, Colour, ExitStatus, Format, RunResults};
use crate::runner::{self, RunError, RunOptions};
use crate::vocab::{DriverKind, Provider, Setup, Style, TargetKind};
use args::{names_help, parse_name};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "hh-compat",
    version,
    about = "Proves, cell by cell, which LLM tracing instrumentors work with which LLM providers.",
    long_about = "Proves, cell by cell, which LLM tracing instrumentors work with which LLM providers.\n\n\
        A cell is provider × instrumentation style × feature × driver. Each cell runs an app \
        against an offline replica of Azure OpenAI (or a live resource), captures the spans it \
        emits, and passes only when they satisfy the matrix's assertions.",
    after_help = "Exit codes: 0 all good · 1 a cell failed or a known issue no longer reproduces · \
        2 usage or matrix error · 3 only infrastructure errors · 4/5/7 the run's 0/1/3, but an \
        output file could not be written · 130/143 interrupted.\n\n\
        Examples:\n  hh-compat run --provider azure-openai\n  hh-compat list --style traceloop\n  \
        hh-compat run --feature streaming --format json --out results.json\n  \
        hh-compat report results.json --format markdown --out reports/azure-openai.md\n  \
        hh-compat replica serve --deployment my-gpt4o=gpt-4o-2024-08-06\n  \
        hh-compat drivers setup && hh-compat run --driver python --version-set openai-v1\n  \
        hh-compat run --target live            # AZURE_OPENAI_* from the environment or .env\n  \
        hh-compat record fixtures/case-1 --feature streaming && hh-compat run --fixtures fixtures/case-1\n  \
        hh-compat run --command \"python repro.py\" --style traceloop --feature chat\n  \
        hh-compat versions check && hh-compat versions bump --set latest\n  \
        hh-compat bisect --package opentelemetry-instrumentation-openai --good 0.44.3 --bad 0.43.0 \\\n      \
        --command \"python repro.py\" --style traceloop --feature stream-abandoned\n  \
        hh-compat cassettes import --from vcrpy test_azure_chat.yaml fixtures/peer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the matrix's cells and report what each instrumentor captured.
    #[command(after_help = "Examples:\n  \
        hh-compat run --provider azure-openai   # reference + real packages (builds their environments once)\n  \
        hh-compat run --driver rust             # the reference emitters only: no python, no package index\n  \
        hh-compat run --offline                 # real packages only from environments already built\n  \
        hh-compat run --style openinference --feature chat --feature streaming\n  \
        hh-compat run --filter '*/traceloop/*usage*' --out results.json\n  \
        hh-compat run --show '*/traceloop/streaming/python@latest'   # one cell's findings in full\n  \
        hh-compat run --driver python --version-set openai-v1\n  \
        hh-compat run --setup honeyhive --feature enrichment   # HoneyHive's guide, its backend's view\n  \
        hh-compat run --format junit --out junit.xml --jobs 4 --timeout 20\n  \
        hh-compat run --target live --env-file .env.nightly --format json --out live.json\n  \
        hh-compat run --command \"python repro.py\" --style traceloop --feature chat\n  \
        hh-compat run --command \"python repro.py\" --style traceloop --version-set latest \\\n      \
        --with opentelemetry-instrumentation-openai==0.40.0 --with openai==1.40.0\n  \
        hh-compat run --command \"python app.py\" --style openinference \\\n      \
        --endpoint \"https://contoso.openai.azure.com/\" --api-version-env   # the customer's exact endpoint\n  \
        hh-compat run --version-set latest --with opentelemetry-instrumentation-openai==0.47.5   # python cells")]
    Run(RunArgs),
    /// Print the ids of the cells a run would execute (after filters).
    #[command(
        after_help = "Examples:\n  hh-compat list\n  hh-compat list --provider openai --feature chat"
    )]
    List(ListArgs),
    /// Run cells against the live target through a recording proxy and write every
    /// exchange as cassettes (credentials redacted) for offline replay.
    #[command(
        after_help = "Examples:\n  hh-compat record fixtures/nightly-2026-11 --feature chat --feature streaming\n  \
        hh-compat record fixtures/case-4711 --anonymize-host --label \"customer 4711: empty model on the last chunk\"\n  \
        hh-compat run --fixtures fixtures/case-4711 --feature streaming\n\n\
        The live target is configured as for `run --target live` (AZURE_OPENAI_* variables or .env;\n\
        see env.example). Apps reach the recorder over plain HTTP with the resource's host name\n\
        kept; the recorder speaks HTTPS to the real endpoint."
    )]
    Record(RecordArgs),
    /// Re-render results saved with `run --format json`, merging shards.
    #[command(after_help = "Examples:\n  hh-compat report results.json\n  \
        hh-compat report results.json --format markdown --out reports/azure-openai.md\n  \
        hh-compat report shard-1.json shard-2.json shard-3.json --format json --out results.json\n\n\
        Shards must come from one matrix and target and must not overlap (exit 2 otherwise). \
        The summary and exit code are recomputed from the cells.")]
    Report(ReportArgs),
    /// Compare two saved runs: status changes, findings added and removed, versions moved.
    #[command(
        after_help = "Exit codes: 0 no regression · 1 a cell went from pass/xfail/skip to \
        fail/xpass/error · 2 usage (a file that is not results) · 4/5 as 0/1, but --out could \
        not be written.\n\n\
        Examples:\n  hh-compat diff last-night.json tonight.json\n  \
        hh-compat diff before.json after.json --format markdown >> \"$GITHUB_STEP_SUMMARY\"\n  \
        hh-compat diff customer-1.109.json customer-2.8.json --format json --out diff.json"
    )]
    Diff(DiffArgs),
    /// Find the first release of a package where the verdict of the selected cells changes.
    #[command(
        after_help = "Runs the cells (a customer's --command, or python cells of one \
        --version-set) with PACKAGE pinned to each release a binary search needs, every other \
        pin fixed, and prints the first release whose verdicts differ from the older bound's, \
        with the findings that differ. Releases are listed by pip's own client (PIP_INDEX_URL \
        and pip.conf apply); environments are cached with the python driver's. A release that \
        cannot be installed with the other pins is reported and skipped.\n\n\
        Exit codes: 0 found · 1 the bounds give the same verdicts · 2 usage (unknown package, \
        bad version, --good equal to --bad) · 3 a bound could not be installed or the index \
        could not be asked.\n\n\
        Examples:\n  \
        hh-compat bisect --package opentelemetry-instrumentation-openai --good 0.40.0 --bad 0.30.0 \\\n      \
        --command \"python repro.py\" --style traceloop --feature streaming --version-set latest\n  \
        hh-compat bisect --package openinference-instrumentation-openai --range 0.1.41..0.1.66 \\\n      \
        --version-set openai-v1 --style openinference --feature chat"
    )]
    Bisect(BisectArgs),
    /// The offline Azure OpenAI replica.
    #[command(subcommand)]
    Replica(ReplicaCommand),
    /// The python driver's environments (real packages from PyPI).
    #[command(subcommand)]
    Drivers(DriversCommand),
    /// The matrix's pinned packages against the package index's newest releases.
    #[command(subcommand)]
    Versions(VersionsCommand),
    /// Cassette sets: import other projects' recordings (vcrpy) for offline replay.
    #[command(subcommand)]
    Cassettes(CassettesCommand),
}

impl Cli {
    /// Runs the subcommand; the exit status is the outcome's.
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        match self.command {
            Command::Run(args) => args.exec().await,
            Command::Record(args) => args.exec().await,
            Command::List(args) => args.exec(),
            Command::Report(args) => args.exec(),
            Command::Diff(args) => args.exec(),
            Command::Bisect(args) => args.exec().await,
            Command::Replica(command) => command.exec().await,
            Command::Drivers(command) => command.exec().await,
            Command::Versions(command) => command.exec().await,
            Command::Cassettes(command) => command.exec(),
        }
    }

    /// Whether the subcommand handles Ctrl-C itself (`replica serve` exits 0 on it); every
    /// other one is stopped by the binary, its children and temporary directories cleaned up.
    pub fn handles_signals(&self) -> bool {
        matches!(self.command, Command::Replica(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Matrix(#[from] MatrixError),
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a results file written by `hh-compat run --format json`: {source}")]
    Results {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("{0}")]
    Live(#[from] LiveError),
    #[error("{0}")]
    Render(#[from] report::RenderError),
    #[error("{0}")]
    Replica(#[from] replica::ReplicaError),
    /// The package index could not be asked (unreachable, timed out, no such package).
    #[error("{0}")]
    Index(#[from] crate::index::IndexError),
    /// Packages the run needs could not be installed.
    #[error("{0}")]
    Install(String),
    /// A requirement asked for a package or version the index does not have.
    #[error("{0}")]
    NotOnIndex(String),
    /// The redaction pass could not rewrite the results; nothing is printed or written
    /// rather than something unredacted.
    #[error("the results could not be redacted, so nothing was printed or written")]
    Unredactable,
}

impl CommandError {
    /// Bad input is the user's to fix (2); anything else is the environment's (3).
    pub fn exit_status(&self) -> ExitStatus {
        // Exhaustive on purpose: a new kind of error must be placed here, not fall into
        // whichever code a wildcard gives.
        match self {
            CommandError::Matrix(_)
            | CommandError::Usage(_)
            | CommandError::Results { .. }
            | CommandError::Io { .. }
            | CommandError::Live(_)
            | CommandError::NotOnIndex(_)
            | CommandError::Run(RunError::NoCommand) => ExitStatus::Usage,
            CommandError::Replica(e) | CommandError::Run(RunError::Replica(e)) => {
                if e.is_usage() {
                    ExitStatus::Usage
                } else {
                    ExitStatus::Infrastructure
                }
            }
            CommandError::Run(RunError::Receiver(_))
            | CommandError::Render(_)
            | CommandError::Index(_)
            | CommandError::Install(_)
            | CommandError::Unredactable => ExitStatus::Infrastructure,
        }
    }
}

/// Loads the selected matrix and returns it with the label it is reported under.
fn load(source: &MatrixArgs) -> Result<(Matrix, String), CommandError> {
    let Some(path) = &source.matrix else {
        let provider = source.provider.unwrap_or(Provider::AzureOpenAi);
        return Ok(matrix::load_default(provider)?);
    };
    let loaded = matrix::load_file(path)?;
    if let Some(asked) = source.provider {
        if asked != loaded.provider() {
            return Err(CommandError::Usage(format!(
                "{} is a matrix for provider `{}`, but --provider {asked} was given",
                path.display(),
                loaded.provider()
            )));
        }
    }
    Ok((loaded, display_path(path)))
}

/// The cells of `matrix` the selection's filters keep.
fn filter(matrix: &Matrix, selection: &SelectArgs) -> Vec<matrix::Cell> {
    CellFilter {
        styles: selection.styles.clone(),
        features: selection.features.clone(),
        drivers: selection.drivers.clone(),
        setups: selection.setups.clone(),
        version_sets: selection.version_sets.clone(),
        patterns: selection.patterns.clone(),
        shard: selection.shard,
    }
    .apply(matrix.cells())
}

/// Every `--version-set` must name a set of the matrix (with a did-you-mean).
fn check_version_sets(matrix: &Matrix, names: &[String]) -> Result<(), CommandError> {
    for name in names {
        matrix
            .version_set(name)
            .map_err(|m| CommandError::Usage(format!("--version-set: {m}")))?;
    }
    Ok(())
}

/// Loads the selected matrix and returns it with the cells the filters keep, and the
/// label the matrix is reported under.
pub fn select(selection: &SelectArgs) -> Result<(Matrix, Vec<matrix::Cell>, String), CommandError> {
    let (loaded, label) = load(&selection.source)?;
    check_version_sets(&loaded, &selection.version_sets)?;
    let cells = filter(&loaded, selection);
    Ok((loaded, cells, label))
}

/// Reads a results file written by `run --format json`.
fn read_results(path: &Path) -> Result<RunResults, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|source| CommandError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let results = report::parse_results(&text).map_err(|source| CommandError::Results {
        path: path.to_path_buf(),
        source,
    })?;
    // A file from an older version, or edited by hand, gets the redaction pass too.
    Redactor::from_env().scrub(&results).ok_or_else(|| {
        CommandError::Usage(format!(
            "{}: the results could not be redacted; nothing was printed",
            path.display()
        ))
    })
}

/// Writes the report: to `--out` (and the table to the terminal), or to stdout. `--out`
/// is written atomically; when that fails the table is still printed, the error is said,
/// and `Ok(false)` lets the exit code say it too.
fn write_output(results: &RunResults, output: &OutputArgs) -> Result<bool, CommandError> {
    let format = output.format();
    let colour = output.colour().unwrap_or_else(|| {
        Colour::detect(std::io::stdout().is_terminal(), |name| {
            std::env::var(name).ok()
        })
    });
    for pattern in &output.show {
        if !results
            .cells
            .iter()
            .any(|c| matrix::pattern_matches(pattern, &c.id))
        {
            console::err(&format!(
                "--show {pattern}: no cell of these results matches"
            ));
        }
    }
    let table = report::TableOptions {
        colour,
        show: &output.show,
    };
    let rendered = report::render(results, format, &table)?;
    let Some(path) = &output.out else {
        console::out(&rendered);
        if format != Format::Table {
            console::err(&report::summary_line(results));
        }
        return Ok(true);
    };
    let outcome = crate::atomic::write(path, rendered.as_bytes());
    console::out(&report::render(results, Format::Table, &table)?);
    match outcome {
        Ok(()) => Ok(true),
        Err(e) => {
            console::err(&format!(
                "error: {}: the {} report could not be written ({e}); the results above \
                 are the run's, and any earlier file there is unchanged",
                path.display(),
                format.name()
            ));
            Ok(false)
        }
    }
}

/// A progress bar on a terminal; nothing when stderr is redirected (CI logs stay clean).
fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Paths inside the working directory are reported relative to it, so reports do not
/// depend on where the repository was cloned.
fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
