//! One run: start the replica, run the cells concurrently and in isolation, judge
//! each cell's spans, and return the results in the matrix's order.

mod judge;
mod target;

pub use crate::drivers::command::CommandOptions;
pub use crate::drivers::python::PythonOptions;
pub use crate::drivers::venv::EnvSpec;
pub use target::Target;

use crate::capture::{OtlpReceiver, ReceiverConfig, ReceiverError};
use crate::cassette::ReplayMiss;
use crate::drivers::python::CellOutcome;
use crate::drivers::{self, DriverContext, DriverError, DriverRun};
use crate::matrix::{Cell, Matrix};
use crate::replica::{self, ReplicaHandle};
use crate::report::{CellResult, RequestRecord, RunResults};
use crate::vocab::{DriverKind, Style};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How a run is carried out.
#[derive(Debug)]
pub struct RunOptions {
    /// Cells run at once.
    pub jobs: usize,
    /// The longest one cell may take before it is an `error`.
    pub cell_timeout: Duration,
    /// The longest one HTTP request may take.
    pub request_timeout: Duration,
    /// Where the calls go.
    pub target: Target,
    /// How python cells are run (environments, timeouts).
    pub python: PythonOptions,
    /// The program command cells run; required when there are any.
    pub command: Option<CommandOptions>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            cell_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            target: Target::Replica,
            python: PythonOptions::default(),
            command: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("command cells need the program to run: give it with --command \"...\"")]
    NoCommand,
    #[error("could not start the replica: {0}")]
    Replica(#[from] replica::ReplicaError),
    #[error("could not start the OTLP receiver: {0}")]
    Receiver(#[from] ReceiverError),
}

/// Runs `cells` of `matrix`; `on_done` is told about each cell as it finishes (for progress).
pub async fn run(
    matrix: &Matrix,
    matrix_label: &str,
    cells: Vec<Cell>,
    options: &RunOptions,
    on_done: impl Fn(&CellResult) + Send + Sync + 'static,
) -> Result<RunResults, RunError> {
    if options.command.is_none() && cells.iter().any(|c| c.driver == DriverKind::Command) {
        return Err(RunError::NoCommand);
    }
    let (replica, ctx) = options.target.reach(matrix, options).await?;
    let replica = replica.map(Arc::new);
    let ctx = Arc::new(ctx);

    let on_done = Arc::new(on_done);
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = JoinSet::new();
    // What each cell is, kept so a cell whose task died is reported, not dropped.
    let planned: Vec<Cell> = cells.clone();
    // Python cells run in one interpreter per (style, version set), so they go in
    // batches; command cells run one after another (their unscoped requests are told
    // apart by time); the receiver they export to is started only when there are any.
    type BatchKey = (Style, Option<String>, crate::vocab::Setup);
    let mut python_batches: Vec<(BatchKey, Vec<(usize, Cell)>)> = Vec::new();
    let mut commands: Vec<(usize, Cell)> = Vec::new();
    let mut single: Vec<(usize, Cell)> = Vec::new();
    for (index, cell) in cells.into_iter().enumerate() {
        let key = (
            cell.style,
            cell.version_set_name().map(str::to_string),
            cell.setup,
        );
        match cell.driver {
            DriverKind::Rust => single.push((index, cell)),
            DriverKind::Command => commands.push((index, cell)),
            DriverKind::Python => match python_batches.iter_mut().find(|(k, _)| *k == key) {
                Some((_, batch)) => batch.push((index, cell)),
                None => python_batches.push((key, vec![(index, cell)])),
            },
        }
    }
    let receiver = if python_batches.is_empty() && commands.is_empty() {
        None
    } else {
        Some(Arc::new(
            OtlpReceiver::start(ReceiverConfig::default()).await?,
        ))
    };
    for ((style, _, _), batch) in python_batches {
        let (ctx, replica, on_done) = (ctx.clone(), replica.clone(), on_done.clone());
        let (receiver, permits) = (receiver.clone(), permits.clone());
        let python = options.python.clone();
        tasks.spawn(async move {
            // At most --jobs interpreters at once: each one is a whole app starting up.
            let _permit = permits.acquire_owned().await.ok();
            let started = Instant::now();
            let (indices, cells): (Vec<usize>, Vec<Cell>) = batch.into_iter().unzip();
            let outcomes = match &receiver {
                Some(receiver) => {
                    drivers::python::run_batch(&ctx, receiver, &python, style, &cells, &|_| {})
                        .await
                }
                None => Vec::new(),
            };
            let mut out = Vec::with_capacity(cells.len());
            for ((index, cell), outcome) in indices.into_iter().zip(&cells).zip(outcomes) {
                let result = match outcome {
                    CellOutcome::Skipped(reason) => judge::skipped(cell, reason, started),
                    CellOutcome::Ran(run) => finish(replica.as_deref(), cell, run, started),
                };
                on_done(&result);
                out.push((index, result));
            }
            out
        });
    }
    if let (Some(receiver), Some(command)) = (receiver.clone(), options.command.clone()) {
        if !commands.is_empty() {
            let (ctx, replica, on_done) = (ctx.clone(), replica.clone(), on_done.clone());
            let python = options.python.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                let env = drivers::command::prepare_env(&command, &python).await;
                let mut out = Vec::with_capacity(commands.len());
                for (index, cell) in commands {
                    let result = match &env {
                        Ok(env) => {
                            let replica = replica.as_deref();
                            command_cell(&ctx, &receiver, &command, env.as_ref(), replica, &cell)
                                .await
                        }
                        Err(CellOutcome::Skipped(reason)) => {
                            judge::skipped(&cell, reason.clone(), started)
                        }
                        Err(CellOutcome::Ran(run)) => {
                            finish(replica.as_deref(), &cell, run.clone(), started)
                        }
                    };
                    on_done(&result);
                    out.push((index, result));
                }
                out
            });
        }
    }
    for (index, cell) in single {
        let (ctx, replica, on_done, permits) = (
            ctx.clone(),
            replica.clone(),
            on_done.clone(),
            permits.clone(),
        );
        let timeout = options.cell_timeout;
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = permits.acquire_owned().await.ok();
            let result = run_cell(&ctx, replica.as_deref(), &cell, timeout).await;
            on_done(&result);
            vec![(index, result)]
        });
    }
    let mut results: Vec<Option<CellResult>> = planned.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        // A panicking cell is a harness bug; it must not take the run down with it.
        if let Ok(done) = joined {
            for (index, result) in done {
                results[index] = Some(result);
            }
        }
    }
    let cells: Vec<CellResult> = results
        .into_iter()
        .zip(&planned)
        .map(|(result, cell)| result.unwrap_or_else(|| judge::harness_failure(cell)))
        .collect();
    Ok(RunResults::new(matrix_label, options.target.kind(), cells))
}

/// Runs one command cell. The program cannot send the scope header, so its requests
/// (and replay misses) are the unscoped ones that arrived while it ran; command cells
/// run one after another for that reason.
async fn command_cell(
    ctx: &DriverContext,
    receiver: &OtlpReceiver,
    command: &CommandOptions,
    env: Option<&drivers::command::CommandEnv>,
    replica: Option<&ReplicaHandle>,
    cell: &Cell,
) -> CellResult {
    let started = Instant::now();
    let seen = replica.map_or(0, |r| r.journal().len());
    let missed = replica.map_or(0, |r| r.replay_misses().len());
    let run = drivers::command::run(ctx, receiver, command, env, cell).await;
    let misses: Vec<ReplayMiss> = replica
        .map(|r| r.replay_misses().into_iter().skip(missed).collect())
        .unwrap_or_default();
    // The program's requests carry no scope: they are the unscoped ones of its run.
    let unscoped: Vec<RequestRecord> = replica
        .map(|r| {
            r.journal()
                .entries()
                .into_iter()
                .skip(seen)
                .filter(|e| e.scope.is_none())
                .map(request_record)
                .collect()
        })
        .unwrap_or_default();
    finish_with(replica, cell, with_misses(run, &misses), started, unscoped)
}

async fn run_cell(
    ctx: &DriverContext,
    replica: Option<&ReplicaHandle>,
    cell: &Cell,
    timeout: Duration,
) -> CellResult {
    let started = Instant::now();
    let unsupported = (cell.driver == DriverKind::Rust)
        .then(|| drivers::rust::unsupported(&cell.plan))
        .flatten();
    if let Some(reason) = unsupported {
        return judge::skipped(cell, reason, started);
    }
    let run = match cell.driver {
        DriverKind::Rust => tokio::time::timeout(timeout, drivers::rust::run(ctx, cell))
            .await
            .unwrap_or_else(|_| {
                DriverRun::failed(
                    Vec::new(),
                    DriverError::Timeout(format!(
                        "the cell did not finish within {}s (--timeout)",
                        timeout.as_secs()
                    )),
                )
            }),
        // Batched by `run`; a cell reaching here is a harness bug, reported as such.
        DriverKind::Python | DriverKind::Command => DriverRun::failed(
            Vec::new(),
            DriverError::Setup(format!("{} cells are run in batches", cell.driver)),
        ),
    };
    finish(replica, cell, run, started)
}

/// Judges a driver's run together with what the replica journaled for the cell
/// (nothing, against a live target).
fn finish(
    replica: Option<&ReplicaHandle>,
    cell: &Cell,
    run: DriverRun,
    started: Instant,
) -> CellResult {
    finish_with(replica, cell, run, started, Vec::new())
}

/// [`finish`], with requests the journal cannot attribute by scope (a command's).
fn finish_with(
    replica: Option<&ReplicaHandle>,
    cell: &Cell,
    run: DriverRun,
    started: Instant,
    unscoped: Vec<RequestRecord>,
) -> CellResult {
    let mut requests: Vec<RequestRecord> = replica
        .map(|r| r.journal().for_scope(&cell.id))
        .unwrap_or_default()
        .into_iter()
        .map(request_record)
        .collect();
    requests.extend(unscoped);
    let misses = replica
        .map(|r| r.replay_misses_for(&cell.id))
        .unwrap_or_default();
    judge::judge(cell, with_misses(run, &misses), requests, started.elapsed())
}

/// A request the recording does not cover leaves the cell unjudgeable: the fixture,
/// not the instrumentor, is what is missing.
fn with_misses(mut run: DriverRun, misses: &[ReplayMiss]) -> DriverRun {
    if let Some(first) = misses.first() {
        let more = match misses.len() {
            1 => String::new(),
            n => format!(" (and {} more unmatched request(s))", n - 1),
        };
        run.error = Some(DriverError::Setup(format!(
            "replay: {}{more}",
            first.message()
        )));
    }
    run
}

fn request_record(e: replica::JournalEntry) -> RequestRecord {
    let unserved = e.route == replica::RouteKind::Unknown;
    RequestRecord {
        method: e.method,
        route: e.route.to_string(),
        deployment: e.deployment,
        status: e.status,
        path: unserved.then_some(e.path),
    }
}
