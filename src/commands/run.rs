//! `hh-compat run` and `hh-compat record`: the request resolved against the matrix and the
//! target, the cells run, the outputs redacted and written (and, for `record`, the
//! cassettes).

use super::*;
use crate::drivers::python::PythonOptions;
use crate::drivers::venv::VenvError;

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
    /// The endpoint string apps receive, as the customer writes it (`--endpoint`).
    pub endpoint: Option<String>,
    /// Command cells get `OPENAI_API_VERSION` (`--api-version-env`).
    pub api_version_env: bool,
    /// A cassette directory to answer from instead of generating (`--fixtures`).
    pub fixtures: Option<PathBuf>,
    /// Cells at once (default: the cores); never zero, by its type.
    pub jobs: Option<std::num::NonZeroUsize>,
    pub cell_timeout: Duration,
    pub output: Output,
    pub stable: bool,
    /// Reach no package index: python cells run only from environments already built.
    pub offline: bool,
}

/// `hh-compat run`: runs the selected cells and writes the chosen report.
pub async fn run(command: RunCommand) -> Result<ExitStatus, CommandError> {
    execute(command, None).await
}

/// A run, recorded into cassettes when `recording` is given, and its report written.
async fn execute(
    command: RunCommand,
    recording: Option<ClaimedRecording>,
) -> Result<ExitStatus, CommandError> {
    let output = command.output.clone();
    let ran = collect(command, recording).await?;
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

/// Resolves the request against the matrix and the target, runs the cells and returns
/// their results (redacted); `record` also writes its cassettes here.
pub(super) async fn collect(
    command: RunCommand,
    recording: Option<ClaimedRecording>,
) -> Result<Ran, CommandError> {
    let mut selection = command.selection.clone();
    // With no --driver, a command asks for command cells and a version set or a setup
    // for python cells. Otherwise a run against the generating replica shows the
    // reference emitters and the real packages' cells that can run here
    // (`real_packages`); other targets (a live resource costs money per call; a replay
    // answers only what was recorded) run the reference emitters.
    let defaulted = selection.drivers.is_empty();
    let mut real_packages = false;
    if defaulted {
        selection.drivers = if command.command.is_some() {
            vec![DriverKind::Command]
        } else if !selection.version_sets.is_empty()
            || selection.setups.iter().any(|s| *s != Setup::Instrumentor)
        {
            vec![DriverKind::Python]
        } else if command.target == Target::Replica
            && command.fixtures.is_none()
            && recording.is_none()
        {
            real_packages = true;
            vec![DriverKind::Rust, DriverKind::Python]
        } else {
            vec![DriverKind::Rust]
        };
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
    if command.command.is_none() && !command.with.is_empty() {
        // Without a program, `--with` changes the named sets' pins for python cells (the
        // command line requires one or the other).
        matrix = matrix
            .with_pins(&selection.version_sets, &command.with)
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
    let mut cells = filter(&matrix, &selection);
    if cells.is_empty() {
        if let Some(shard) = selection.shard {
            // A shard may hold nothing of a small selection; that is not an error.
            console::err(&format!("shard {shard} holds none of the selected cells"));
            let mut results = RunResults::new(label, command.target, Vec::new());
            results.shard = Some(shard.to_string());
            return Ok(Ran {
                results,
                recording_written: true,
                not_run: None,
            });
        }
        return Err(CommandError::Usage(
            "no cell matches the filters; `hh-compat list` prints the cell ids".to_string(),
        ));
    }
    if matrix.version_sets().iter().any(|s| s.newest) {
        // The sets this run uses: its python cells' and a command's --version-set. Pins
        // given with --with stay as given.
        let mut in_use: Vec<String> = (cells.iter())
            .filter_map(|c| c.version_set_name().map(str::to_string))
            .collect();
        in_use.extend(selection.version_sets.iter().cloned());
        let keep: Vec<String> = (command.with.iter())
            .map(|r| crate::pep440::requirement_name(r))
            .collect();
        let index = super::versions::IndexOptions {
            timeout: Duration::from_secs(60),
            jobs: 4,
        };
        let newest = super::versions::Newest {
            sets: &in_use,
            keep: &keep,
            offline: command.offline,
            index: &index,
        };
        matrix = newest.resolve(matrix).await?;
        cells = filter(&matrix, &selection);
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
    if let Some(raw) = &command.endpoint {
        matrix = matrix
            .with_endpoint(raw)
            .map_err(|e| CommandError::Usage(format!("--endpoint {e}")))?;
    }
    if command.api_version_env {
        matrix = matrix.with_api_version_env();
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
    options.python.offline = command.offline;
    let redactor = run_redactor(&matrix, &target);
    if let Some(spec) = options
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
    {
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
    options.target = target;
    if let Some(jobs) = command.jobs {
        options.jobs = jobs.get();
    }
    let progress = progress_bar(cells.len() as u64, "cells");
    let bar = progress.clone();
    let began = std::time::SystemTime::now();
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
    results.started(began);
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
        let place: std::collections::HashMap<&str, usize> = whole
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        for result in &mut results.cells {
            result.ordinal = place.get(result.id.as_str()).copied();
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
    if defaulted && selection.drivers == [DriverKind::Rust] {
        not_run = what_did_not_run(&matrix, &selection);
    }
    Ok(Ran {
        results,
        recording_written: written,
        not_run,
    })
}

/// A default run against a live resource, a replay or a recording shows the reference emitters
/// only; a reader must not take that for "the real instrumentors work": say which
/// real-package cells did not run and the command that runs them.
fn what_did_not_run(matrix: &Matrix, selection: &Selection) -> Option<String> {
    let python = filter(
        matrix,
        &Selection {
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
pub(super) struct ClaimedRecording {
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
