//! The argument groups several subcommands flatten (which matrix, which cells, where the
//! report goes, how the package index is asked) and the value parsers behind them.
//!
//! Contract: what clap accepts here is already valid as a value — vocabulary names,
//! requirement syntax, ranges of numbers — so the stages after parsing only check what
//! needs the matrix (a version set's name, a style the matrix has).

use crate::matrix::Shard;
use crate::report::{Colour, Format};
use crate::vocab::{DriverKind, Feature, Provider, Setup, Style, UnknownName};
use clap::builder::TypedValueParser;
use clap::Args;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// Which matrix: a provider's shipped one or a file.
// Its doc comments are clap's `--help` text, written for a terminal, not for rustdoc.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Clone, Default, Args)]
pub struct MatrixArgs {
    /// The provider whose shipped matrix to use, matrix/<PROVIDER>.yaml [default: azure-openai].
    #[arg(long, value_parser = parse_name::<Provider>)]
    pub provider: Option<Provider>,
    /// A matrix file to use instead of the provider's shipped one.
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
}

/// Which matrix and which of its cells.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    #[arg(long = "style", value_name = "STYLE", value_parser = parse_name::<Style>, help = names_help("Only these styles (repeatable)", &Style::names()))]
    pub styles: Vec<Style>,
    #[arg(long = "feature", value_name = "FEATURE", value_parser = parse_name::<Feature>, help = names_help("Only these features (repeatable)", &Feature::names()))]
    pub features: Vec<Feature>,
    #[arg(long = "driver", value_name = "DRIVER", value_parser = parse_name::<DriverKind>, help = names_help("Only these drivers (repeatable)", &DriverKind::names()))]
    pub drivers: Vec<DriverKind>,
    /// Only python cells of these version sets (repeatable); implies --driver python
    /// on `run` when no --driver is given.
    #[arg(long = "version-set", value_name = "NAME")]
    pub version_sets: Vec<String>,
    #[arg(long = "setup", value_name = "SETUP", value_parser = parse_name::<Setup>, help = names_help("Only cells whose app wires tracing this way (repeatable); a setup other than instrumentor implies --driver python on `run`", &Setup::names()))]
    pub setups: Vec<Setup>,
    /// Only cells whose id matches PATTERN (`*` is a wildcard; repeatable, any may match).
    #[arg(long = "filter", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Only shard K of N (1-based): a stable partition by cell id, so N machines running
    /// 1/N … N/N together run every selected cell once; merge with `hh-compat report`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

/// Where and how a report is written.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format [default: from the --out file's extension (.json, .xml, .md),
    /// else table]. With --out, the file gets this format and the terminal the table.
    #[arg(long = "format", value_name = "FORMAT", value_enum)]
    pub format_asked: Option<Format>,
    /// Write the output to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Colour the table's statuses: auto colours a terminal unless NO_COLOR is set or
    /// TERM=dumb (CLICOLOR_FORCE colours any output); always and never override them.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = clap::ColorChoice::Auto)]
    pub color: clap::ColorChoice,
    /// After the table, print these cells' findings in full, as for failed cells (a cell
    /// id, a substring of one, or a pattern with `*`; repeatable).
    #[arg(long, value_name = "CELL")]
    pub show: Vec<String>,
}

impl OutputArgs {
    /// Uncoloured output in `format` to stdout, for runs whose report a program reads.
    pub fn plain(format: Format) -> Self {
        Self {
            format_asked: Some(format),
            out: None,
            color: clap::ColorChoice::Never,
            show: Vec::new(),
        }
    }

    /// The format asked for, else the one the `--out` file's extension names, else the table.
    pub fn format(&self) -> Format {
        let from_extension = || {
            let ext = self
                .out
                .as_ref()?
                .extension()?
                .to_str()?
                .to_ascii_lowercase();
            Some(match ext.as_str() {
                "json" => Format::Json,
                "xml" => Format::Junit,
                "md" | "markdown" => Format::Markdown,
                _ => return None,
            })
        };
        (self.format_asked)
            .or_else(from_extension)
            .unwrap_or(Format::Table)
    }

    /// `--color always|never`; `None` (auto) follows the terminal and the environment's
    /// conventions ([`Colour::detect`]).
    pub fn colour(&self) -> Option<Colour> {
        match self.color {
            clap::ColorChoice::Always => Some(Colour::Always),
            clap::ColorChoice::Never => Some(Colour::Never),
            clap::ColorChoice::Auto => None,
        }
    }
}

/// How the package index is asked.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// Seconds one index query may take (1-3600).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds(3600))]
    pub timeout: Duration,
    /// Index queries at once (1-32).
    #[arg(long, short = 'j', value_name = "N", default_value = "4", value_parser = clap::value_parser!(u16).range(1..=32).map(usize::from))]
    pub jobs: usize,
}

impl Default for IndexArgs {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            jobs: 4,
        }
    }
}

/// A number of seconds from 1 to `max`, as a duration.
pub(crate) fn seconds(max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(1..=max)
        .map(Duration::from_secs)
}

/// `--jobs`: cells at once, 1-256; never zero, by its type.
pub(crate) fn jobs() -> impl TypedValueParser<Value = NonZeroUsize> {
    clap::value_parser!(u16)
        .range(1..=256)
        .try_map(|n| NonZeroUsize::try_from(usize::from(n)))
}

/// A requirement by name from the package index: a PEP 508 name, optional extras and
/// version specifiers (`openai==1.40.0`, `opentelemetry-instrumentation-openai>=0.30,<0.40`,
/// `honeyhive[openai]==1.0`). Anything that could change where packages come from or what
/// pip reads — options (`--index-url`), URLs and paths (`@`, `/`, `:`), environment
/// references (`$`), markers, line breaks — is refused.
pub(crate) fn parse_requirement(s: &str) -> Result<String, String> {
    let s = s.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.[],=<>!~* ".contains(c);
    let name_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !name_first || s.len() > 200 || !s.chars().all(allowed) {
        return Err(format!(
            "`{s}` is not a package requirement; expected a name and versions from the \
             index, e.g. openai==1.40.0 or opentelemetry-instrumentation-openai>=0.30 \
             (no URLs, paths, options or markers)"
        ));
    }
    // The versions are checked here, so a typo is a usage error, not an install failure.
    if let Some(at) = s.find(|c: char| "=<>!~".contains(c)) {
        crate::pep440::Specifiers::parse(&s[at..])
            .map_err(|e| format!("`{s}`: {e} (versions as the index writes them, e.g. 1.40.0)"))?;
    }
    Ok(s.to_string())
}

/// A flag's help with the names it takes, from the vocabulary itself.
pub(crate) fn names_help(what: &str, names: &[&str]) -> String {
    format!("{what}: {}.", names.join(", "))
}

/// clap value parser for the vocabulary enums, keeping their did-you-mean messages.
pub(crate) fn parse_name<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = UnknownName>,
{
    s.parse::<T>().map_err(|e| e.to_string())
}
