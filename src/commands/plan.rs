//! The plan stage: a run request ([`RunArgs`], which `record` and `bisect` also build)
//! resolved once against the matrix and the target into a [`Plan`] the runner carries out.
//!
//! What each side may assume:
//! - **Before** (the request): every value is valid as a value — clap checked names,
//!   ranges, requirement syntax and which flags go together. Nothing is known about the
//!   matrix, the target or the machine.
//! - **After** (the plan): the matrix is final — `--with` and newest-release pins applied,
//!   aimed at the live or recorded resource, given the customer's endpoint form — and the
//!   cells are that matrix's selected cells, picked once by the filters and expanded once
//!   from it, in the matrix's order. There is one [`Target`] (its recording proxy already
//!   listening, its replayed exchanges already loaded). Every cell can be attempted:
//!   command cells have their program and its environment is built; real-package cells
//!   that cannot run on this machine were left out of a default run, with the note that
//!   says so. The redactor knows every secret the run will see.
//!
//! Usage errors (exit 2) are all found here, before any cell runs or any live call is made.

use super::record::ClaimedRecording;
use super::run::RunArgs;
use super::*;
use crate::drivers::python::PythonOptions;
use crate::drivers::venv::VenvError;
use crate::matrix::{Cell, Shard};
use crate::runner::Target;
use std::collections::{HashMap, HashSet};

/// A run resolved: what the runner needs, and what is done with its results.
pub(super) struct Plan {
    pub matrix: Matrix,
    /// The name the matrix is reported under.
    pub label: String,
    pub cells: Vec<Cell>,
    /// The runner's options, the target among them.
    pub options: RunOptions,
    /// A shard's place in the whole selection: each cell's ordinal in it.
    pub shard: Option<(Shard, HashMap<String, usize>)>,
    /// The one redaction pass over everything the run prints and writes.
    pub redactor: Redactor,
    /// Where `record` writes the cassettes of a [`Target::Record`] run.
    pub recording: Option<ClaimedRecording>,
    /// Zero durations and timing attributes (`--stable`).
    pub stable: bool,
    /// What a default run left out, and the command that runs it.
    pub not_run: Option<String>,
}

/// The outcome of planning: a run, or a shard holding none of the selection (not an
/// error: its empty results still merge with the other shards').
pub(super) enum Planned {
    Run(Box<Plan>),
    EmptyShard(RunResults),
}

impl Plan {
    /// Resolves `request` (and, for `record`, the claimed cassette directory).
    pub(super) async fn resolve(
        request: RunArgs,
        recording: Option<ClaimedRecording>,
    ) -> Result<Planned, CommandError> {
        let asked = asked(&request)?;
        let mut selection = request.select.clone();
        // With no --driver, a command asks for command cells and a version set or a setup
        // for python cells. Otherwise a run against the generating replica shows the
        // reference emitters and the real packages' cells that can run here
        // (`real_packages`); other targets (a live resource costs money per call; a
        // replay answers only what was recorded) run the reference emitters.
        let defaulted = selection.drivers.is_empty();
        let mut real_packages = false;
        if defaulted {
            selection.drivers = if request.command.is_some() {
                vec![DriverKind::Command]
            } else if !selection.version_sets.is_empty()
                || selection.setups.iter().any(|s| *s != Setup::Instrumentor)
            {
                vec![DriverKind::Python]
            } else if matches!(asked, Asked::Replica) && recording.is_none() {
                real_packages = true;
                vec![DriverKind::Rust, DriverKind::Python]
            } else {
                vec![DriverKind::Rust]
            };
        }
        let wants_command = selection.drivers.contains(&DriverKind::Command);
        match (&request.command, wants_command) {
            (None, true) => {
                return Err(CommandError::Usage(
                    "--driver command needs the program to run: --command \"python repro.py\""
                        .into(),
                ))
            }
            (Some(_), false) => {
                return Err(CommandError::Usage(
                    "--command is run by command cells; add --driver command".into(),
                ))
            }
            _ => {}
        }
        let (mut matrix, label) = load(&selection.source)?;
        check_version_sets(&matrix, &selection.version_sets)?;
        if request.command.is_none() && !request.with.is_empty() {
            // Without a program, `--with` changes the named sets' pins for python cells
            // (the command line requires one or the other).
            matrix = matrix
                .with_pins(&selection.version_sets, &request.with)
                .map_err(|e| CommandError::Usage(format!("--with: {e}")))?;
        }
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

        // The cells are picked once, here; the matrix changes below (pins, the target's
        // host and deployments) change what the cells hold, never which cells they are.
        let whole = filter(
            &matrix,
            &SelectArgs {
                shard: None,
                ..selection.clone()
            },
        );
        let picked: Vec<Cell> = match selection.shard {
            Some(shard) => whole
                .iter()
                .filter(|c| shard.holds(&c.id))
                .cloned()
                .collect(),
            None => whole.clone(),
        };
        if picked.is_empty() {
            if let Some(shard) = selection.shard {
                console::err(&format!("shard {shard} holds none of the selected cells"));
                let mut results = RunResults::new(label, asked.kind(), Vec::new());
                results.shard = Some(shard.to_string());
                return Ok(Planned::EmptyShard(results));
            }
            return Err(CommandError::Usage(
                "no cell matches the filters; `hh-compat list` prints the cell ids".to_string(),
            ));
        }
        let shard = selection.shard.map(|shard| {
            let place = (whole.iter().enumerate())
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
            (shard, place)
        });

        if matrix.version_sets().iter().any(|s| s.newest) {
            // The sets this run uses: its python cells' and a command's --version-set.
            // Pins given with --with stay as given.
            let mut in_use: Vec<String> = (picked.iter())
                .filter_map(|c| c.version_set_name().map(str::to_string))
                .collect();
            in_use.extend(selection.version_sets.iter().cloned());
            let keep: Vec<String> = (request.with.iter())
                .map(|r| crate::pep440::requirement_name(r))
                .collect();
            let newest = super::versions::Newest {
                sets: &in_use,
                keep: &keep,
                offline: request.offline,
                index: &IndexArgs::default(),
            };
            matrix = newest.resolve(matrix).await?;
        }

        // The command's environment: its usage errors come before the target is reached
        // (a token command run, the recording proxy started).
        let environment = match &request.command {
            Some(_) => command_environment(&matrix, &selection, &request.with)?,
            None => None,
        };
        let target = target(asked, &request, recording.is_some(), &matrix, &picked).await?;
        // Live, recorded or replayed traffic names a resource's host and deployments: aim
        // the matrix (and so every check's `{host}` and `{deployment}`) at them.
        if let Some(aim) = target.aim() {
            matrix = matrix.retargeted(&aim.host, aim.api_version.as_deref(), &aim.deployments);
        }
        if let Some(raw) = &request.endpoint {
            matrix = matrix
                .with_endpoint(raw)
                .map_err(|e| CommandError::Usage(format!("--endpoint {e}")))?;
        }
        if request.api_version_env {
            matrix = matrix.with_api_version_env();
        }
        // The final matrix's cells: the picked ones, expanded once from it.
        let ids: HashSet<&str> = picked.iter().map(|c| c.id.as_str()).collect();
        let mut cells: Vec<Cell> = (matrix.cells().into_iter())
            .filter(|c| ids.contains(c.id.as_str()))
            .collect();

        let mut options = RunOptions {
            cell_timeout: request.timeout,
            ..RunOptions::default()
        };
        if target.live().is_some() {
            // A real service is slower than the replica, and retries take their time.
            options.request_timeout = LIVE_REQUEST_TIMEOUT;
            options.cell_timeout = options.cell_timeout.max(Duration::from_secs(180));
        }
        // One timeout for every driver: rust cells, each command, each python cell.
        if let Some(line) = &request.command {
            let mut c = CommandOptions::new(line.clone(), options.cell_timeout);
            c.environment = environment;
            options.command = Some(c);
        }
        options.python.cell_timeout = options.cell_timeout;
        options.python.offline = request.offline;
        if let Some(jobs) = request.jobs {
            options.jobs = jobs.get();
        }
        let redactor = run_redactor(&matrix, &target);
        options.target = target;
        if let Some(spec) = (options.command.as_ref()).and_then(|c| c.environment.as_ref()) {
            build_command_environment(spec, &options.python, &redactor).await?;
        }
        let mut not_run = None;
        if real_packages {
            let prepared = real_packages::prepare(cells, &options.python, &redactor).await;
            if prepared.cells.is_empty() {
                let why = prepared.note.unwrap_or_default();
                return Err(CommandError::Usage(format!(
                    "none of the selected cells can run here. {why}"
                )));
            }
            cells = prepared.cells;
            not_run = prepared.note;
        }
        if defaulted && selection.drivers == [DriverKind::Rust] {
            not_run = what_did_not_run(&matrix, &selection);
        }
        Ok(Planned::Run(Box::new(Plan {
            matrix,
            label,
            cells,
            options,
            shard,
            redactor,
            recording,
            stable: request.stable,
            not_run,
        })))
    }
}

/// The longest one request to a live resource (or through the recorder) may take.
const LIVE_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the run's calls go: the replica, the live resource (through the recording
/// proxy, started here, for `record`), or the replayed exchanges (loaded here).
async fn target(
    asked: Asked<'_>,
    request: &RunArgs,
    recording: bool,
    matrix: &Matrix,
    cells: &[Cell],
) -> Result<Target, CommandError> {
    match asked {
        Asked::Replica => Ok(Target::Replica),
        Asked::Replay(dir) => {
            let store = ReplayStore::load(dir).map_err(replica::ReplicaError::from)?;
            Ok(Target::Replay(store))
        }
        Asked::Live => {
            let env = EnvSource::load(request.env_file.as_deref())?;
            let live = LiveSettings::resolve(matrix, cells, &env)?;
            if !recording {
                return Ok(Target::Live(live));
            }
            let mut config = RecorderConfig::new(live.endpoint_origin.clone());
            config.secrets = vec![live.credential.secret().to_string()];
            config.timeout = LIVE_REQUEST_TIMEOUT;
            let recorder = Recorder::start(config)
                .await
                .map_err(replica::ReplicaError::from)?;
            Ok(Target::Record { live, recorder })
        }
    }
}

/// Where the calls go, as the flags ask for it.
#[derive(Debug, Clone, Copy)]
enum Asked<'a> {
    Replica,
    Live,
    Replay(&'a Path),
}

impl Asked<'_> {
    fn kind(self) -> TargetKind {
        match self {
            Asked::Replica => TargetKind::Replica,
            Asked::Live => TargetKind::Live,
            Asked::Replay(_) => TargetKind::Replay,
        }
    }
}

/// The flags that name a target must agree; checked before anything is loaded, asked
/// or started.
fn asked(request: &RunArgs) -> Result<Asked<'_>, CommandError> {
    if request.env_file.is_some() && request.target != TargetKind::Live {
        return Err(CommandError::Usage(
            "--env-file is read for --target live (and by `record`) only".into(),
        ));
    }
    match (request.target, request.fixtures.as_deref()) {
        (TargetKind::Replay, None) => Err(CommandError::Usage(
            "--target replay answers from recorded exchanges: give them with --fixtures DIR".into(),
        )),
        (TargetKind::Live, Some(_)) => Err(CommandError::Usage(
            "--fixtures replays recorded exchanges; it cannot be combined with --target live"
                .into(),
        )),
        (TargetKind::Replica | TargetKind::Replay, Some(dir)) => Ok(Asked::Replay(dir)),
        (TargetKind::Live, None) => Ok(Asked::Live),
        (TargetKind::Replica, None) => Ok(Asked::Replica),
    }
}

/// Every secret this run knows, for the one redaction pass over what it writes and
/// prints: secret-looking environment variables, the key apps are given for the replica,
/// and the live credential (a key, a token, or what the token command printed).
fn run_redactor(matrix: &Matrix, target: &Target) -> Redactor {
    let mut redactor = Redactor::from_env();
    redactor.add([matrix.api_key()]);
    if let Some(live) = target.live() {
        redactor.add([live.credential.secret()]);
    }
    redactor
}

/// A default run against a live resource, a replay or a recording shows the reference
/// emitters only; a reader must not take that for "the real instrumentors work": say
/// which real-package cells did not run and the command that runs them.
fn what_did_not_run(matrix: &Matrix, selection: &SelectArgs) -> Option<String> {
    let python = filter(
        matrix,
        &SelectArgs {
            drivers: vec![DriverKind::Python],
            ..selection.clone()
        },
    );
    if python.is_empty() {
        return None;
    }
    Some(format!(
        "note: these rows are the reference emitters (rust). Not run against this target: {} \
         cells of the real instrumentor packages (version sets: {}); `--driver rust --driver \
         python` runs them too.",
        python.len(),
        real_packages::set_names(python.iter())
    ))
}

/// The environment a command runs in: the `--version-set`'s pins for the command's style,
/// with `--with` requirements replacing pins of the same package and adding the rest.
/// `None` when neither is given (the command runs with what is on `PATH`).
fn command_environment(
    matrix: &Matrix,
    selection: &SelectArgs,
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
        let name = crate::pep440::requirement_name(requirement);
        requirements.retain(|r| crate::pep440::requirement_name(r) != name);
        requirements.push(requirement.clone());
    }
    Ok(Some(EnvSpec {
        style,
        set,
        requirements,
    }))
}

/// Builds the command's pinned environment before any cell runs, so a requirement the
/// index does not have is a usage error (exit 2) and another install failure one line
/// (exit 3), not the same `error` in every command cell. Without an interpreter, or
/// `--offline`, nothing is built and the cells say why they are skipped.
async fn build_command_environment(
    spec: &EnvSpec,
    python: &PythonOptions,
    redactor: &Redactor,
) -> Result<(), CommandError> {
    let Ok(base) = venv::base_python(python.python3.as_deref()) else {
        return Ok(());
    };
    let (bar, progress) = super::drivers::progress(1, "run", redactor);
    let built = crate::drivers::python::environment(&base, spec, python, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match built {
        Ok(_) | Err(VenvError::NoPython(_) | VenvError::Offline(_)) => Ok(()),
        Err(e) => {
            let said = redactor.text(&e.conclusion());
            let pins = spec.requirements.join(" ");
            Err(if e.not_on_index(&spec.requirements) {
                CommandError::NotOnIndex(format!(
                    "the package index has no such package or version among {pins}: {said}"
                ))
            } else {
                CommandError::Install(format!(
                    "installing the command's packages ({pins}) failed: {said}"
                ))
            })
        }
    }
}
