//! `hh-compat drivers setup`: the python environments built ahead of a run.

use super::*;

#[derive(Debug, clap::Subcommand)]
pub enum DriversCommand {
    /// Build the virtual environment of every (style, version set) ahead of a run.
    #[command(
        long_about = "Build the virtual environment of every (style, version set) ahead of a run.\n\n\
            The matrix's `version_sets` pin the packages; each environment is created once (with \
            `uv`: from PATH, else the pinned release installed into the cache the first time; \
            `python3 -m venv` + pip when uv cannot be installed) and cached under \
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

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    #[arg(long = "style", value_name = "STYLE", value_parser = parse_name::<Style>, help = names_help("Only these styles (repeatable)", &Style::names()))]
    pub styles: Vec<Style>,
    /// Only these version sets (repeatable; default: all of the matrix's).
    #[arg(long = "version-set", value_name = "NAME")]
    pub version_sets: Vec<String>,
}

impl DriversCommand {
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        match self {
            DriversCommand::Setup(args) => args.exec().await,
        }
    }
}

/// The environments `command` asks for, from the matrix's version sets.
fn setup_envs(command: &SetupArgs) -> Result<Vec<EnvSpec>, CommandError> {
    let (matrix, label) = load(&command.source)?;
    for style in &command.styles {
        if !matrix.styles().contains(style) {
            return Err(CommandError::Usage(format!(
                "--style {style}: {label} has no such style (it has: {})",
                join(matrix.styles())
            )));
        }
    }
    check_version_sets(&matrix, &command.version_sets)?;
    let mut envs = Vec::new();
    for set in matrix.version_sets() {
        if !command.version_sets.is_empty() && !command.version_sets.contains(&set.name) {
            continue;
        }
        for (style, _) in &set.styles {
            if !command.styles.is_empty() && !command.styles.contains(style) {
                continue;
            }
            for spec in matrix.setups() {
                let used = matrix
                    .features()
                    .iter()
                    .any(|(f, _)| spec.applies(*style, *f));
                if let Some(requirements) =
                    set.requirements_for(*style, spec.setup).filter(|_| used)
                {
                    let env = EnvSpec::new(*style, &set.name, spec.setup, requirements);
                    // HoneyHive's setups share one environment.
                    if !envs.contains(&env) {
                        envs.push(env);
                    }
                }
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

impl SetupArgs {
    /// Builds every python environment a run would need, a few at a time, with progress
    /// on stderr; prints where each is and what it holds. Exit 3 when any environment
    /// could not be built (pip's output tail is shown).
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        let envs = setup_envs(&self)?;
        let setup = PythonSetup::new(envs);
        let driver_dir = venv::driver_dir();
        let started = std::time::Instant::now();
        // pip's output can quote an index URL with credentials: one redaction pass here too.
        let redactor = Redactor::from_env();
        let (bar, progress) = progress(setup.envs.len(), "drivers setup", &redactor);
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
}

/// How environment builds are shown: an indicatif bar on a TTY, else one plain line per
/// step on stderr, prefixed with the subcommand's name; every line redacted.
pub(super) fn progress(
    count: usize,
    prefix: &'static str,
    redactor: &Redactor,
) -> (Option<ProgressBar>, impl Fn(&venv::EnvEvent) + Send + Sync) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = progress_bar(count as u64, "environments");
        bar.set_message("building python environments");
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let redactor = redactor.clone();
    let shown = bar.clone();
    let report = move |event: &venv::EnvEvent| {
        let line = redactor.text(&event.to_string());
        match &shown {
            Some(bar) => {
                if event.finishes() {
                    bar.inc(1);
                }
                bar.set_message(line);
            }
            None => console::err(&format!("{prefix}: {line}")),
        }
    };
    (bar, report)
}
