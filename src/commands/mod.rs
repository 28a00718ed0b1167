//! One library function per subcommand — what the binary calls, and what the
//! integration tests drive — one module each; here, what they share: the selection of
//! a matrix's cells, the errors and their exit codes, and writing a report.

mod bisect;
mod cassettes;
mod diff;
mod drivers;
mod list;
mod real_packages;
mod render;
mod run;
mod serve;
mod versions;

pub use bisect::{bisect, BisectCommand, Bounds};
pub use cassettes::{cassettes, CassettesCommand, ImportArgs, ImportFormat};
pub use diff::{diff, DiffFormat};
pub use drivers::{drivers_setup, setup_envs, SetupCommand};
pub use list::list;
pub use render::report;
pub use run::{record, run, Recording, RunCommand};
pub use serve::{replica_serve, ServeCommand};
pub use versions::{versions_bump, versions_check, IndexOptions, VersionsBump, VersionsCheck};

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
use crate::vocab::{DriverKind, Feature, Provider, Setup, Style, Target};
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
    /// How the app wires tracing (python cells; every other cell is `instrumentor`).
    pub setups: Vec<Setup>,
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
    /// `--color always|never`; `None` (auto) follows the terminal and the environment's
    /// conventions ([`Colour::detect`]).
    pub colour: Option<Colour>,
    /// Cells (ids or patterns) whose findings the table shows in full (`--show`).
    pub show: Vec<String>,
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
fn load(selection: &Selection) -> Result<(Matrix, String), CommandError> {
    let Some(path) = &selection.matrix else {
        let provider = selection.provider.unwrap_or(Provider::AzureOpenAi);
        return Ok(matrix::load_default(provider)?);
    };
    let loaded = matrix::load_file(path)?;
    if let Some(asked) = selection.provider {
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
fn filter(matrix: &Matrix, selection: &Selection) -> Vec<matrix::Cell> {
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
pub fn select(selection: &Selection) -> Result<(Matrix, Vec<matrix::Cell>, String), CommandError> {
    let (loaded, label) = load(selection)?;
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
fn write_output(results: &RunResults, output: &Output) -> Result<bool, CommandError> {
    let colour = output.colour.unwrap_or_else(|| {
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
    let rendered = report::render(results, output.format, &table)?;
    let Some(path) = &output.out else {
        console::out(&rendered);
        if output.format != Format::Table {
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

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
