//! Command-line definitions only: each subcommand maps onto one library call in `main.rs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use hh_compat::vocab::{DriverKind, Feature, Provider, Setup as TracingSetup, Style, Target};
use std::path::PathBuf;

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
    List(SelectArgs),
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
    Cassettes(hh_compat::commands::CassettesCommand),
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List the pins of the matrix's version sets that have newer releases.
    #[command(
        long_about = "List the pins of the matrix's version sets that have newer releases.\n\n\
            Every package is looked up with pip's own client (`python3 -m pip index versions`, \
            the interpreter from $HH_COMPAT_PYTHON3 or PATH), so PIP_INDEX_URL, \
            PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS and pip.conf apply. Pre-releases count only \
            for pins that are themselves pre-releases (0.66b2 is compared with 0.67b0, \
            1.45.2 only with final releases).",
        after_help = "Exit codes: 0 every pin is the newest release · 1 some pins have newer \
            releases · 2 usage or matrix error · 3 the index could not be asked (the package \
            is named).\n\n\
            Examples:\n  hh-compat versions check\n  \
            hh-compat versions check --version-set latest\n  \
            hh-compat versions check --matrix my-matrix.yaml --timeout 30 --jobs 8\n  \
            PIP_INDEX_URL=https://mirror.example/simple hh-compat versions check --provider openai"
    )]
    Check(VersionsCheckArgs),
    /// Rewrite one version set's pins in the matrix file to the newest releases.
    #[command(
        long_about = "Rewrite one version set's pins in the matrix file to the newest releases.\n\n\
            Only the version strings change: comments, blank lines, quoting and anchors stay \
            byte for byte. A pin reached through a YAML alias is changed at its anchor (every \
            set using the anchor moves with it; the output marks these). The file is written \
            atomically and validated again; the changes are printed.",
        after_help = "Exit codes: 0 bumped, or already the newest · 2 usage or matrix error \
            (an unknown set) · 3 the index could not be asked; the file is then unchanged.\n\n\
            Examples:\n  hh-compat versions bump --set latest\n  \
            hh-compat versions bump --set latest --dry-run\n  \
            hh-compat versions bump --set latest --matrix matrix/openai.yaml && \
            hh-compat drivers setup --version-set latest"
    )]
    Bump(VersionsBumpArgs),
}

/// How the package index is asked.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Seconds one index query may take (1-3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Index queries at once (1-32).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: u16,
}

#[derive(Debug, Args)]
pub struct VersionsCheckArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    /// Only these version sets (repeatable; default: all of the matrix's).
    #[arg(long = "version-set", value_name = "NAME")]
    pub version_sets: Vec<String>,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(Debug, Args)]
pub struct VersionsBumpArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    /// The version set whose pins to bump.
    #[arg(long, value_name = "NAME")]
    pub set: String,
    /// Print what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

impl From<&IndexArgs> for hh_compat::commands::IndexOptions {
    fn from(a: &IndexArgs) -> Self {
        Self {
            timeout: std::time::Duration::from_secs(a.timeout),
            jobs: usize::from(a.jobs),
        }
    }
}

impl From<VersionsCheckArgs> for hh_compat::commands::VersionsCheck {
    fn from(a: VersionsCheckArgs) -> Self {
        Self {
            provider: a.source.provider,
            matrix: a.source.matrix,
            version_sets: a.version_sets,
            index: (&a.index).into(),
        }
    }
}

impl From<VersionsBumpArgs> for hh_compat::commands::VersionsBump {
    fn from(a: VersionsBumpArgs) -> Self {
        Self {
            provider: a.source.provider,
            matrix: a.source.matrix,
            set: a.set,
            dry_run: a.dry_run,
            index: (&a.index).into(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DriversCommand {
    /// Build the virtual environment of every (style, version set) ahead of a run.
    #[command(
        long_about = "Build the virtual environment of every (style, version set) ahead of a run.\n\n\
            The matrix's `version_sets` pin the packages; each environment is created once (with \
            `uv` when it is on PATH, else `python3 -m venv` + pip) and cached under \
            $HH_COMPAT_CACHE_DIR (default: $XDG_CACHE_HOME/hh-compat/venvs) by the hash of its \
            pins. Prints each environment's path and installed versions.",
        after_help = "Exit codes: 0 every environment is ready · 2 usage or matrix error · \
            3 an environment could not be built (pip's output is shown).\n\n\
            Examples:\n  hh-compat drivers setup\n  \
            hh-compat drivers setup --style traceloop --version-set openai-v1\n  \
            hh-compat drivers setup --provider openai\n  \
            HH_COMPAT_CACHE_DIR=/tmp/venvs hh-compat drivers setup --matrix my-matrix.yaml"
    )]
    Setup(SetupArgs),
}

/// Which matrix: a provider's shipped one or a file.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// The provider whose shipped matrix to use, matrix/<PROVIDER>.yaml [default: azure-openai].
    #[arg(long, value_parser = parse_name::<Provider>)]
    pub provider: Option<Provider>,
    /// A matrix file to use instead of the provider's shipped one.
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    #[arg(long = "style", value_name = "STYLE", value_parser = parse_name::<Style>, help = names_help("Only these styles (repeatable)", &Style::names()))]
    pub styles: Vec<Style>,
    /// Only these version sets (repeatable; default: all of the matrix's).
    #[arg(long = "version-set", value_name = "NAME")]
    pub version_sets: Vec<String>,
}

#[derive(Debug, Args)]
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
    #[arg(long = "setup", value_name = "SETUP", value_parser = parse_name::<TracingSetup>, help = names_help("Only cells whose app wires tracing this way (repeatable); a setup other than instrumentor implies --driver python on `run`", &TracingSetup::names()))]
    pub setups: Vec<TracingSetup>,
    /// Only cells whose id matches PATTERN (`*` is a wildcard; repeatable, any may match).
    #[arg(long = "filter", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Only shard K of N (1-based): a stable partition by cell id, so N machines running
    /// 1/N … N/N together run every selected cell once; merge with `hh-compat report`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<hh_compat::matrix::Shard>,
}

#[derive(Debug, Args)]
// `--with` pins packages for a command or for the named version sets' python cells.
#[command(group(clap::ArgGroup::new("pinned").args(["command", "version_sets"]).multiple(true)))]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Where the calls go: the offline replica, or a live resource configured by
    /// AZURE_OPENAI_* variables (see env.example).
    #[arg(long, default_value = "replica", value_parser = parse_name::<Target>)]
    pub target: Target,
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
    #[arg(long = "with", value_name = "PKG==VER", requires = "pinned", value_parser = parse_requirement)]
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
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
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

#[derive(Debug, Args)]
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
    #[arg(long = "with", value_name = "PKG==VER", requires = "command", value_parser = parse_requirement)]
    pub with: Vec<String>,
    /// Cells run at once, 1-256 (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl RecordArgs {
    pub fn into_parts(
        self,
    ) -> (
        hh_compat::commands::RunCommand,
        hh_compat::commands::Recording,
    ) {
        let recording = hh_compat::commands::Recording {
            dir: self.dir,
            label: self.label,
            anonymize_host: self.anonymize_host,
            force: self.force,
        };
        let command = hh_compat::commands::RunCommand {
            output: (&self.output).into(),
            selection: self.select.into(),
            target: Target::Live,
            env_file: self.env_file,
            command: self.command,
            with: self.with,
            endpoint: None,
            api_version_env: false,
            fixtures: None,
            jobs: self
                .jobs
                .map(usize::from)
                .and_then(std::num::NonZeroUsize::new),
            cell_timeout: std::time::Duration::from_secs(self.timeout),
            stable: false,
            offline: false,
        };
        (command, recording)
    }
}

#[derive(Debug, Args)]
// What is bisected: a customer's command, or the python cells of one version set.
#[command(group(clap::ArgGroup::new("subject").args(["command", "version_sets"]).required(true).multiple(true)))]
pub struct BisectArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The package whose releases are searched, e.g. opentelemetry-instrumentation-openai.
    #[arg(long, value_name = "NAME")]
    pub package: String,
    /// A release that behaves as it should.
    #[arg(
        long,
        value_name = "VERSION",
        requires = "bad",
        conflicts_with = "range"
    )]
    pub good: Option<String>,
    /// A release that shows the bug (older or newer than --good).
    #[arg(long, value_name = "VERSION", requires = "good")]
    pub bad: Option<String>,
    /// FROM..TO: the first release after FROM whose verdicts differ from FROM's.
    #[arg(long, value_name = "FROM..TO", required_unless_present = "good", value_parser = parse_range)]
    pub range: Option<(String, String)>,
    /// Count pre-releases between the bounds too.
    #[arg(long)]
    pub pre: bool,
    /// The program command cells run (with `sh -c`); without it, python cells of the
    /// one --version-set are run.
    #[arg(long, value_name = "COMMAND LINE")]
    pub command: Option<String>,
    /// Other packages to pin (repeatable), as `run --with`.
    #[arg(long = "with", value_name = "PKG==VER", value_parser = parse_requirement)]
    pub with: Vec<String>,
    /// Answer from the cassettes in DIR instead of generating answers.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// The endpoint string apps receive, as the customer writes it (see `run --help`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

fn parse_range(text: &str) -> Result<(String, String), String> {
    match text.split_once("..") {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
            Ok((from.trim().to_string(), to.trim().to_string()))
        }
        _ => Err(format!(
            "`{text}` is not a range; expected FROM..TO, e.g. 0.16.0..0.17.0"
        )),
    }
}

impl From<BisectArgs> for hh_compat::commands::BisectCommand {
    fn from(a: BisectArgs) -> Self {
        let bounds = match (a.good, a.bad, a.range) {
            (Some(good), Some(bad), _) => hh_compat::commands::Bounds::GoodBad { good, bad },
            (_, _, Some((from, to))) => hh_compat::commands::Bounds::Range { from, to },
            // clap requires one of the two forms.
            _ => unreachable!("clap requires --good/--bad or --range"),
        };
        let run = hh_compat::commands::RunCommand {
            output: hh_compat::commands::Output {
                format: hh_compat::report::Format::Json,
                out: None,
                colour: Some(hh_compat::report::Colour::Never),
                show: Vec::new(),
            },
            selection: a.select.into(),
            target: if a.fixtures.is_some() {
                Target::Replay
            } else {
                Target::Replica
            },
            env_file: None,
            command: a.command,
            with: a.with,
            endpoint: a.endpoint,
            api_version_env: false,
            fixtures: a.fixtures,
            jobs: None,
            cell_timeout: std::time::Duration::from_secs(a.timeout),
            stable: true,
            offline: false,
        };
        Self {
            run,
            package: a.package,
            bounds,
            pre: a.pre,
            index_timeout: std::time::Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format [default: from the --out file's extension (.json, .xml, .md),
    /// else table]. With --out, the file gets this format and the terminal the table.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
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

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files written by `hh-compat run --format json`; several (the shards of
    /// one run, `--shard K/N`) are merged.
    #[arg(value_name = "RESULTS.json", required = true, num_args = 1..)]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier results (e.g. last night's).
    #[arg(value_name = "BEFORE.json")]
    pub before: PathBuf,
    /// The later results.
    #[arg(value_name = "AFTER.json")]
    pub after: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormatArg::Table)]
    pub format: DiffFormatArg,
    /// Write the diff to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormatArg {
    Table,
    Markdown,
    Json,
}

impl From<DiffFormatArg> for hh_compat::commands::DiffFormat {
    fn from(f: DiffFormatArg) -> Self {
        use hh_compat::commands::DiffFormat;
        match f {
            DiffFormatArg::Table => DiffFormat::Table,
            DiffFormatArg::Markdown => DiffFormat::Markdown,
            DiffFormatArg::Json => DiffFormat::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ReplicaCommand {
    /// Serve the replica until Ctrl-C; the first line printed is its base URL.
    #[command(after_help = "Examples:\n  hh-compat replica serve\n  \
        hh-compat replica serve --addr 127.0.0.1:8080 --api-key test-key \\\n      \
        --deployment my-gpt4o=gpt-4o-2024-08-06 --deployment my-embed=text-embedding-3-small\n  \
        hh-compat replica serve --deployment flaky=gpt-4o-2024-08-06 --fault flaky=rate_limit,times=2,retry_after_ms=50\n  \
        hh-compat replica serve --fixtures fixtures/azure-quirks")]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
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
    #[arg(long, value_name = "MICROSECONDS", default_value_t = hh_compat::replica::DEFAULT_STREAM_INTERVAL_US,
        value_parser = clap::value_parser!(u64).range(0..=60_000_000))]
    pub stream_interval_us: u64,
    /// Answer in the shapes Azure sent in this month, YYYY-MM (e.g. 2024-12) [default: the newest].
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_shapes)]
    pub shapes: Option<hh_compat::replica::Shapes>,
}

fn parse_shapes(value: &str) -> Result<hh_compat::replica::Shapes, String> {
    hh_compat::replica::Shapes::parse(value)
        .ok_or_else(|| "expected a month YYYY-MM from 2023-01 on, e.g. 2024-12".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Markdown,
    Json,
    Junit,
}

impl From<FormatArg> for hh_compat::report::Format {
    fn from(f: FormatArg) -> Self {
        use hh_compat::report::Format;
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
        }
    }
}

/// A requirement by name from the package index: a PEP 508 name, optional extras and
/// version specifiers (`openai==1.40.0`, `opentelemetry-instrumentation-openai>=0.30,<0.40`,
/// `honeyhive[openai]==1.0`). Anything that could change where packages come from or what
/// pip reads — options (`--index-url`), URLs and paths (`@`, `/`, `:`), environment
/// references (`$`), markers, line breaks — is refused.
fn parse_requirement(s: &str) -> Result<String, String> {
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
        hh_compat::pep440::Specifiers::parse(&s[at..])
            .map_err(|e| format!("`{s}`: {e} (versions as the index writes them, e.g. 1.40.0)"))?;
    }
    Ok(s.to_string())
}

/// A flag's help with the names it takes, from the vocabulary itself.
fn names_help(what: &str, names: &[&str]) -> String {
    format!("{what}: {}.", names.join(", "))
}

/// clap value parser for the vocabulary enums, keeping their did-you-mean messages.
fn parse_name<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = hh_compat::vocab::UnknownName>,
{
    s.parse::<T>().map_err(|e| e.to_string())
}

impl From<SelectArgs> for hh_compat::commands::Selection {
    fn from(a: SelectArgs) -> Self {
        Self {
            provider: a.source.provider,
            matrix: a.source.matrix,
            styles: a.styles,
            features: a.features,
            drivers: a.drivers,
            setups: a.setups,
            version_sets: a.version_sets,
            patterns: a.patterns,
            shard: a.shard,
        }
    }
}

impl From<&OutputArgs> for hh_compat::commands::Output {
    fn from(a: &OutputArgs) -> Self {
        let from_extension = || {
            let ext = a.out.as_ref()?.extension()?.to_str()?.to_ascii_lowercase();
            Some(match ext.as_str() {
                "json" => FormatArg::Json,
                "xml" => FormatArg::Junit,
                "md" | "markdown" => FormatArg::Markdown,
                _ => return None,
            })
        };
        let format = a.format.or_else(from_extension).unwrap_or(FormatArg::Table);
        Self {
            format: format.into(),
            out: a.out.clone(),
            colour: match a.color {
                clap::ColorChoice::Always => Some(hh_compat::report::Colour::Always),
                clap::ColorChoice::Never => Some(hh_compat::report::Colour::Never),
                clap::ColorChoice::Auto => None,
            },
            show: a.show.clone(),
        }
    }
}

impl From<RunArgs> for hh_compat::commands::RunCommand {
    fn from(a: RunArgs) -> Self {
        Self {
            output: (&a.output).into(),
            selection: a.select.into(),
            target: a.target,
            env_file: a.env_file,
            command: a.command,
            with: a.with,
            endpoint: a.endpoint,
            api_version_env: a.api_version_env,
            fixtures: a.fixtures,
            jobs: a
                .jobs
                .map(usize::from)
                .and_then(std::num::NonZeroUsize::new),
            cell_timeout: std::time::Duration::from_secs(a.timeout),
            stable: a.stable,
            offline: a.offline,
        }
    }
}

impl From<ServeArgs> for hh_compat::commands::ServeCommand {
    fn from(a: ServeArgs) -> Self {
        Self {
            addr: a.addr,
            api_key: a.api_key,
            deployments: a.deployments,
            faults: a.faults,
            fixtures: a.fixtures,
            stream_interval_us: a.stream_interval_us,
            shapes: a.shapes,
        }
    }
}

impl From<SetupArgs> for hh_compat::commands::SetupCommand {
    fn from(a: SetupArgs) -> Self {
        Self {
            provider: a.source.provider,
            matrix: a.source.matrix,
            styles: a.styles,
            version_sets: a.version_sets,
        }
    }
}
