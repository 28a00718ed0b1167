//! One library function per subcommand: what the binary calls, and what the
//! integration tests drive.

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
use crate::runner::{self, RunError, RunOptions, RunTarget};
use crate::vocab::{DriverKind, Feature, Provider, Style, Target};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which matrix and which of its cells.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub provider: Option<Provider>,
    pub matrix: Option<PathBuf>,
    pub styles: Vec<Style>,
    pub features: Vec<Feature>,
    pub drivers: Vec<DriverKind>,
    /// Version set names (python cells); cells of other drivers are not narrowed.
    pub version_sets: Vec<String>,
    pub patterns: Vec<String>,
    /// Only the cells of this shard.
    pub shard: Option<matrix::Shard>,
}

/// Where and how results are written.
#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RunCommand {
    pub selection: Selection,
    pub target: Target,
    /// A `.env` file for the live target (default: `./.env` when it exists).
    pub env_file: Option<PathBuf>,
    /// The program `--driver command` cells run.
    pub command: Option<String>,
    /// Requirements the command runs with (`--with`).
    pub with: Vec<String>,
    /// A cassette directory to answer from instead of generating (`--fixtures`).
    pub fixtures: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub cell_timeout: Duration,
    pub output: Output,
    pub stable: bool,
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
            | CommandError::Unredactable => ExitStatus::Infrastructure,
        }
    }
}

/// Loads the selected matrix and returns it with the label it is reported under.
fn load(selection: &Selection) -> Result<(Matrix, String), CommandError> {
    let path = match &selection.matrix {
        Some(p) => p.clone(),
        None => matrix::default_matrix_path(selection.provider.unwrap_or(Provider::AzureOpenAi)),
    };
    let loaded = matrix::load_file(&path)?;
    if let Some(asked) = selection.provider {
        if asked != loaded.provider() {
            return Err(CommandError::Usage(format!(
                "{} is a matrix for provider `{}`, but --provider {asked} was given",
                path.display(),
                loaded.provider()
            )));
        }
    }
    Ok((loaded, display_path(&path)))
}

/// The cells of `matrix` the selection's filters keep.
fn filter(matrix: &Matrix, selection: &Selection) -> Vec<matrix::Cell> {
    CellFilter {
        styles: selection.styles.clone(),
        features: selection.features.clone(),
        drivers: selection.drivers.clone(),
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
pub fn select(selection: &Selection) -> Result<(Matrix, Vec<matrix::Cell>, String), CommandError> {
    let (loaded, label) = load(selection)?;
    check_version_sets(&loaded, &selection.version_sets)?;
    let cells = filter(&loaded, selection);
    Ok((loaded, cells, label))
}

/// `hh-compat list`: prints cell ids, one per line. Nothing selected is a usage error,
/// as for `run` (an empty shard is not).
pub fn list(selection: &Selection) -> Result<ExitStatus, CommandError> {
    let (_, cells, _) = select(selection)?;
    if cells.is_empty() && selection.shard.is_none() {
        return Err(CommandError::Usage(
            "no cell matches the filters; `hh-compat list` without filters prints every id"
                .to_string(),
        ));
    }
    let ids: String = cells.iter().map(|c| format!("{}\n", c.id)).collect();
    console::out(&ids);
    Ok(ExitStatus::Ok)
}

/// `hh-compat run`: runs the selected cells and writes the chosen report.
pub async fn run(command: RunCommand) -> Result<ExitStatus, CommandError> {
    execute(command, None).await
}

/// A run, recorded into cassettes when `recording` is given.
async fn execute(
    command: RunCommand,
    recording: Option<ClaimedRecording>,
) -> Result<ExitStatus, CommandError> {
    let mut selection = command.selection.clone();
    // The default run stays offline and fast: real Python packages (which need an
    // interpreter and, the first time, PyPI) run only when asked for with --driver.
    // Naming a version set asks for the python cells that run under it.
    if selection.drivers.is_empty() {
        selection.drivers = vec![if command.command.is_some() {
            DriverKind::Command
        } else if !selection.version_sets.is_empty() {
            DriverKind::Python
        } else {
            DriverKind::Rust
        }];
    }
    let wants_command = selection.drivers.contains(&DriverKind::Command);
    match (&command.command, wants_command) {
        (None, true) => {
            return Err(CommandError::Usage(
                "--driver command needs the program to run: --command \"python repro.py\"".into(),
            ))
        }
        (Some(_), false) => {
            return Err(CommandError::Usage(
                "--command is run by command cells; add --driver command".into(),
            ))
        }
        _ => {}
    }
    let (mut matrix, label) = load(&selection)?;
    check_version_sets(&matrix, &selection.version_sets)?;
    if wants_command {
        // A program instruments itself one way: its spans are judged by one style.
        if selection.styles.len() != 1 {
            let styles: Vec<&str> = matrix.styles().iter().map(|s| s.as_str()).collect();
            return Err(CommandError::Usage(format!(
                "--driver command needs exactly one --style: the instrumentation the program uses ({})",
                styles.join(", ")
            )));
        }
        matrix.add_driver(DriverKind::Command);
    }
    let mut cells = filter(&matrix, &selection);
    if cells.is_empty() {
        if let Some(shard) = selection.shard {
            // A shard may hold nothing of a small selection; that is not an error.
            console::err(&format!("shard {shard} holds none of the selected cells"));
            let mut results = RunResults::new(label, command.target, Vec::new());
            results.shard = Some(shard.to_string());
            return Ok(if write_output(&results, &command.output)? {
                ExitStatus::Ok
            } else {
                ExitStatus::Ok.unwritten()
            });
        }
        return Err(CommandError::Usage(
            "no cell matches the filters; `hh-compat list` prints the cell ids".to_string(),
        ));
    }
    let mut options = RunOptions {
        cell_timeout: command.cell_timeout,
        ..RunOptions::default()
    };
    let (target, aim, recorder) =
        prepare_target(&command, recording.as_ref(), &matrix, &cells).await?;
    // Live, recorded or replayed traffic names a resource's host and deployments: aim
    // the matrix (and so every check's `{host}` and `{deployment}`) at them.
    if let Some(aim) = &aim {
        matrix = matrix.retargeted(&aim.host, aim.api_version.as_deref(), &aim.deployments);
        cells = filter(&matrix, &selection);
    }
    if matches!(target, RunTarget::Live(_) | RunTarget::Recording { .. }) {
        // A real service is slower than the replica, and retries take their time.
        options.request_timeout = LIVE_REQUEST_TIMEOUT;
        options.cell_timeout = options.cell_timeout.max(Duration::from_secs(180));
    }
    // One timeout for every driver: rust cells, each command, each python cell.
    if let Some(line) = &command.command {
        let mut c = CommandOptions::new(line.clone(), options.cell_timeout);
        c.environment = command_environment(&matrix, &selection, &command.with)?;
        options.command = Some(c);
    }
    options.python.cell_timeout = options.cell_timeout;
    let redactor = run_redactor(&matrix, &target);
    options.target = target;
    if let Some(jobs) = command.jobs {
        if jobs == 0 {
            return Err(CommandError::Usage("--jobs must be at least 1".to_string()));
        }
        options.jobs = jobs;
    }
    let progress = progress_bar(cells.len() as u64, "cells");
    let bar = progress.clone();
    let mut results = runner::run(
        &matrix,
        &label,
        cells,
        &options,
        move |cell: &CellResult| {
            bar.set_message(cell.id.clone());
            bar.inc(1);
        },
    )
    .await?;
    progress.finish_and_clear();
    if let Some(shard) = selection.shard {
        results.shard = Some(shard.to_string());
        // Each cell's place in the whole selection, so merged shards keep the run's order.
        let whole = filter(
            &matrix,
            &Selection {
                shard: None,
                ..selection.clone()
            },
        );
        for result in &mut results.cells {
            result.ordinal = whole.iter().position(|c| c.id == result.id);
        }
    }
    let mut written = true;
    if let (Some(recorder), Some(aim), Some(recording)) = (recorder, aim, recording) {
        if let Err(e) = write_recording(recorder, aim, &recording, &redactor).await {
            console::err(&format!("error: {}", redactor.text(&e.to_string())));
            written = false;
        }
    }
    if command.stable {
        results.stabilize();
    }
    let results = redactor.scrub(&results).ok_or(CommandError::Unredactable)?;
    written &= write_output(&results, &command.output)?;
    let status = results.exit_status();
    Ok(if written { status } else { status.unwritten() })
}

/// The environment a command runs in: the `--version-set`'s pins for the command's style,
/// with `--with` requirements replacing pins of the same package and adding the rest.
/// `None` when neither is given (the command runs with what is on `PATH`).
fn command_environment(
    matrix: &Matrix,
    selection: &Selection,
    with: &[String],
) -> Result<Option<EnvSpec>, CommandError> {
    let style = match selection.styles.as_slice() {
        [style] => *style,
        _ => return Ok(None),
    };
    let (set, mut requirements) = match selection.version_sets.as_slice() {
        [] if with.is_empty() => return Ok(None),
        [] => ("command".to_string(), Vec::new()),
        [name] => {
            let set = matrix
                .version_set(name)
                .map_err(|m| CommandError::Usage(format!("--version-set: {m}")))?;
            let pins = set.requirements(style).ok_or_else(|| {
                CommandError::Usage(format!(
                    "--version-set {name} pins nothing for style `{style}`"
                ))
            })?;
            (set.name.clone(), pins.to_vec())
        }
        _ => {
            return Err(CommandError::Usage(
                "a command runs in one environment: give at most one --version-set".into(),
            ))
        }
    };
    for requirement in with {
        let name = requirement_name(requirement);
        requirements.retain(|r| requirement_name(r) != name);
        requirements.push(requirement.clone());
    }
    Ok(Some(EnvSpec {
        style,
        set,
        requirements,
    }))
}

/// A requirement's package name, normalized as PyPI compares names (PEP 503: lower
/// case, each run of `-`, `_` and `.` one `-`).
fn requirement_name(requirement: &str) -> String {
    let name = requirement
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every secret this run knows, for the one redaction pass over what it writes and
/// prints: secret-looking environment variables, the key apps are given for the replica,
/// and the live credential (a key, a token, or what the token command printed).
fn run_redactor(matrix: &Matrix, target: &RunTarget) -> Redactor {
    let mut redactor = Redactor::from_env();
    redactor.add([matrix.api_key()]);
    if let RunTarget::Live(live) | RunTarget::Recording { live, .. } = target {
        redactor.add([live.credential.secret()]);
    }
    redactor
}

/// The longest one request to a live resource (or through the recorder) may take.
const LIVE_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a run's calls go; what the matrix must be aimed at for that (the live or
/// recorded resource's host and deployment names); and the recording proxy, if any.
async fn prepare_target(
    command: &RunCommand,
    recording: Option<&ClaimedRecording>,
    matrix: &Matrix,
    cells: &[matrix::Cell],
) -> Result<(RunTarget, Option<RecordedTarget>, Option<Recorder>), CommandError> {
    if command.env_file.is_some() && command.target != Target::Live {
        return Err(CommandError::Usage(
            "--env-file is read for --target live (and by `record`) only".into(),
        ));
    }
    match (command.target, &command.fixtures) {
        (Target::Replay, None) => Err(CommandError::Usage(
            "--target replay answers from recorded exchanges: give them with --fixtures DIR".into(),
        )),
        (Target::Live, Some(_)) => Err(CommandError::Usage(
            "--fixtures replays recorded exchanges; it cannot be combined with --target live"
                .into(),
        )),
        (_, Some(dir)) => {
            let store = ReplayStore::load(dir).map_err(replica::ReplicaError::from)?;
            let aim = store.meta().target.clone();
            Ok((RunTarget::Replay(store), aim, None))
        }
        (Target::Live, None) => {
            let env = EnvSource::load(command.env_file.as_deref())?;
            let live = LiveSettings::resolve(matrix, cells, &env)?;
            let aim = RecordedTarget {
                host: live.host.clone(),
                api_version: live.api_version.clone(),
                deployments: live.deployments.clone(),
            };
            if recording.is_none() {
                return Ok((RunTarget::Live(live), Some(aim), None));
            }
            let mut config = RecorderConfig::new(live.endpoint_origin.clone());
            config.secrets = vec![live.credential.secret().to_string()];
            config.timeout = LIVE_REQUEST_TIMEOUT;
            let recorder = Recorder::start(config)
                .await
                .map_err(replica::ReplicaError::from)?;
            let proxy = recorder.proxy_url();
            Ok((
                RunTarget::Recording { live, proxy },
                Some(aim),
                Some(recorder),
            ))
        }
        (Target::Replica, None) => Ok((RunTarget::Replica, None, None)),
    }
}

/// Writes what the recording proxy saw as cassettes, labelled and aimed at `aim`.
async fn write_recording(
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

/// `hh-compat record`: where the cassettes go and how they are labelled.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The cassette directory, e.g. `fixtures/my-repro`.
    pub dir: PathBuf,
    /// What the set is, written to `cassette.yaml` (default: "recorded live from HOST").
    pub label: Option<String>,
    /// Replace the resource's host (and name) by a placeholder in every file.
    pub anonymize_host: bool,
    /// Write into a directory that is neither empty nor a set `record` wrote.
    pub force: bool,
}

/// A recording whose directory was claimed before the run (see [`crate::cassette::claim`]).
struct ClaimedRecording {
    dir: PathBuf,
    label: Option<String>,
    anonymize_host: bool,
    claim: crate::cassette::Claim,
}

/// `hh-compat record`: runs the selected cells against the live target through a
/// recording proxy and writes every exchange as cassettes under `recording.dir`.
pub async fn record(
    mut command: RunCommand,
    recording: Recording,
) -> Result<ExitStatus, CommandError> {
    command.target = Target::Live;
    // Decided before anything runs: a refused directory costs no live calls.
    let claim = crate::cassette::claim(&recording.dir, recording.force)
        .map_err(replica::ReplicaError::from)?;
    let recording = ClaimedRecording {
        dir: recording.dir,
        label: recording.label,
        anonymize_host: recording.anonymize_host,
        claim,
    };
    execute(command, Some(recording)).await
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

/// `hh-compat report`: re-renders saved results; several files (the shards of one run)
/// are merged first. The summary and the exit code are recomputed from the cells.
pub fn report(paths: &[PathBuf], output: &Output) -> Result<ExitStatus, CommandError> {
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        parts.push((display_path(path), read_results(path)?));
    }
    let results =
        report::merge(parts).map_err(|e| CommandError::Usage(format!("cannot merge: {e}")))?;
    let status = results.exit_status();
    Ok(if write_output(&results, output)? {
        status
    } else {
        status.unwritten()
    })
}

/// `hh-compat diff`: how the format is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

/// `hh-compat diff BEFORE AFTER`: what changed between two runs; exit 1 when AFTER has
/// a regression.
pub fn diff(
    before: &Path,
    after: &Path,
    format: DiffFormat,
    out: Option<&Path>,
) -> Result<ExitStatus, CommandError> {
    let (a, b) = (read_results(before)?, read_results(after)?);
    let d = report::diff(&display_path(before), &a, &display_path(after), &b);
    let rendered = match format {
        DiffFormat::Table => d.table(),
        DiffFormat::Markdown => d.markdown(),
        DiffFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&d).map_err(report::RenderError::from)?
        ),
    };
    let status = if d.regressions > 0 {
        ExitStatus::Incompatible
    } else {
        ExitStatus::Ok
    };
    let Some(path) = out else {
        console::out(&rendered);
        return Ok(status);
    };
    if let Err(e) = crate::atomic::write(path, rendered.as_bytes()) {
        console::err(&format!(
            "error: {}: the diff could not be written ({e})",
            path.display()
        ));
        console::out(&d.table());
        return Ok(status.unwritten());
    }
    console::err(&d.summary_line());
    Ok(status)
}

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
}

/// `hh-compat replica serve`: serves until Ctrl-C or SIGTERM.
pub async fn replica_serve(command: ServeCommand) -> Result<ExitStatus, CommandError> {
    let mut options = ServeOptions::new(command.api_key);
    options.addr = command.addr;
    options.fixtures = command.fixtures;
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

/// Writes the report: to `--out` (and the table to the terminal), or to stdout. `--out`
/// is written atomically; when that fails the table is still printed, the error is said,
/// and `Ok(false)` lets the exit code say it too.
fn write_output(results: &RunResults, output: &Output) -> Result<bool, CommandError> {
    let colour = if std::io::stdout().is_terminal() {
        Colour::from_env()
    } else {
        Colour::Never
    };
    let rendered = report::render(results, output.format, colour)?;
    let Some(path) = &output.out else {
        console::out(&rendered);
        if output.format != Format::Table {
            console::err(&report::summary_line(results));
        }
        return Ok(true);
    };
    let outcome = crate::atomic::write(path, rendered.as_bytes());
    console::out(&report::render(results, Format::Table, colour)?);
    match outcome {
        Ok(()) => Ok(true),
        Err(e) => {
            console::err(&format!(
                "error: {}: the {} report could not be written ({e}); the results above \
                 are the run's, and any earlier file there is unchanged",
                path.display(),
                output.format.name()
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

/// `hh-compat drivers setup` as typed on the command line.
#[derive(Debug, Clone, Default)]
pub struct SetupCommand {
    pub provider: Option<Provider>,
    pub matrix: Option<PathBuf>,
    /// Only these styles (empty = every style a version set pins).
    pub styles: Vec<Style>,
    /// Only these version sets (empty = all of the matrix's).
    pub version_sets: Vec<String>,
}

/// The environments `command` asks for, from the matrix's version sets.
pub fn setup_envs(command: &SetupCommand) -> Result<Vec<EnvSpec>, CommandError> {
    let (matrix, label) = load(&Selection {
        provider: command.provider,
        matrix: command.matrix.clone(),
        ..Selection::default()
    })?;
    for style in &command.styles {
        if !matrix.styles().contains(style) {
            return Err(CommandError::Usage(format!(
                "--style {style}: {label} has no such style (it has: {})",
                join(matrix.styles())
            )));
        }
    }
    for name in &command.version_sets {
        matrix
            .version_set(name)
            .map_err(|m| CommandError::Usage(format!("--version-set: {m}")))?;
    }
    let mut envs = Vec::new();
    for set in matrix.version_sets() {
        if !command.version_sets.is_empty() && !command.version_sets.contains(&set.name) {
            continue;
        }
        for (style, requirements) in &set.styles {
            if command.styles.is_empty() || command.styles.contains(style) {
                envs.push(EnvSpec {
                    style: *style,
                    set: set.name.clone(),
                    requirements: requirements.clone(),
                });
            }
        }
    }
    if envs.is_empty() {
        return Err(CommandError::Usage(format!(
            "nothing to set up: {label} has no version set for the styles and sets asked for \
             (see `version_sets` in docs/matrix.md)"
        )));
    }
    Ok(envs)
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `hh-compat drivers setup`: builds every python environment a run would need, a few
/// at a time, with progress on stderr; prints where each is and what it holds. Exit 3
/// when any environment could not be built (pip's output tail is shown).
pub async fn drivers_setup(command: &SetupCommand) -> Result<ExitStatus, CommandError> {
    let envs = setup_envs(command)?;
    let setup = PythonSetup::new(envs);
    let driver_dir = venv::driver_dir();
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let bar = progress_bar(setup.envs.len() as u64, "environments");
        bar.set_message("building python environments");
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    } else {
        None
    };
    // pip's output can quote an index URL with credentials: one redaction pass here too.
    let redactor = Redactor::from_env();
    let progress = {
        let bar = bar.clone();
        let redactor = redactor.clone();
        move |line: &str| match &bar {
            Some(bar) => {
                if line.contains(": ready at ") || line.contains(": up to date") {
                    bar.inc(1);
                }
                bar.set_message(redactor.text(line));
            }
            None => console::err(&format!("drivers setup: {}", redactor.text(line))),
        }
    };
    let outcomes = venv::setup_python(&setup, progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for outcome in &outcomes {
        let (style, set) = (outcome.spec.style, &outcome.spec.set);
        match &outcome.result {
            Ok(env) => {
                let state = if env.created { "created" } else { "cached" };
                let _ = writeln!(stdout, "{style}@{set}: {state} {}", env.dir.display());
                let versions = python::installed_versions(
                    &env.python,
                    &driver_dir,
                    style,
                    Duration::from_secs(60),
                )
                .await;
                let line = match versions {
                    Ok(v) => v
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    Err(e) => format!("(versions unavailable: {e})"),
                };
                let _ = writeln!(stdout, "    {line}");
            }
            Err(e) => {
                failed += 1;
                console::err(&redactor.text(&format!("error: {style}@{set}: {e}")));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "drivers setup: {} of {} environments ready in {elapsed:.1}s (cache: {})",
        outcomes.len() - failed,
        outcomes.len(),
        setup.cache_dir.display()
    );
    Ok(if failed > 0 {
        ExitStatus::Infrastructure
    } else {
        ExitStatus::Ok
    })
}
