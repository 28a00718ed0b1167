//! The default run's real-package cells. `hh-compat run` with no `--driver` runs the
//! reference emitters (rust) and, next to them, the python cells of the real
//! instrumentor packages whenever their environments can be had: from the cache, or
//! built from the package index on first use (with progress). What cannot run here —
//! no `python3`, `--offline` with nothing cached, an index that cannot be reached — is
//! left out of the run and named in one note, with the reason and the command that
//! would run it. The note never turns into a verdict: cells that did not run are not
//! reported as failing. An environment that fails to build for any other reason (a pin
//! that cannot resolve) is not left out: its cells run and are `error`, exit 3.

use super::*;
use crate::drivers::python::PythonOptions;
use crate::drivers::venv::VenvError;
use crate::matrix::Cell;
use std::collections::BTreeSet;

/// The cells to run and what to tell the reader about the real packages' cells.
pub(super) struct RealPackages {
    pub cells: Vec<Cell>,
    pub note: Option<String>,
}

/// Splits `cells` (rust and python) into those that can run here and a note on the
/// python cells that cannot; builds the environments that are missing unless
/// `options.offline`.
pub(super) async fn prepare(
    cells: Vec<Cell>,
    options: &PythonOptions,
    redactor: &Redactor,
) -> RealPackages {
    let envs = environments(&cells);
    if envs.is_empty() {
        return RealPackages { cells, note: None };
    }
    let base = match venv::base_python(options.python3.as_deref()) {
        Ok(base) => base,
        Err(e) => {
            let reason = format!("{e}; then run `hh-compat run` again");
            return left_out(cells, &BTreeSet::new(), &reason);
        }
    };
    let missing: Vec<EnvSpec> = envs
        .iter()
        .filter(|spec| venv::cached(&base, spec, &options.cache_dir).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return ran_all(cells);
    }
    if options.offline {
        let ready = ready_sets(&envs, &missing);
        let reason = "--offline, and their environments are not built yet; \
                      `hh-compat drivers setup` builds them (once, from the package index)";
        return left_out(cells, &ready, reason);
    }
    let setup = PythonSetup {
        python3: Some(base),
        cache_dir: options.cache_dir.clone(),
        timeout: options.install_timeout,
        ..PythonSetup::new(missing)
    };
    let started = std::time::Instant::now();
    let (bar, progress) = super::drivers::progress(setup.envs.len(), "run", redactor);
    let outcomes = venv::setup_python(&setup, progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let failed: Vec<(&EnvSpec, &VenvError)> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (&o.spec, e)))
        .collect();
    console::err(&format!(
        "run: {} of {} python environments built in {:.1}s (cache: {})",
        outcomes.len() - failed.len(),
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        display_path(&setup.cache_dir)
    ));
    // Only an index that cannot be reached leaves cells out; any other failure (a pin
    // that cannot resolve) is the run's to report: those cells run, and their driver's
    // install error makes them `error`.
    let unreachable: Vec<&(&EnvSpec, &VenvError)> = failed
        .iter()
        .filter(|(_, e)| e.unreachable_index())
        .collect();
    let Some((spec, error)) = unreachable.first() else {
        return ran_all(cells);
    };
    let absent: Vec<EnvSpec> = unreachable.iter().map(|(s, _)| (*s).clone()).collect();
    let ready = ready_sets(&envs, &absent);
    let reason = format!(
        "the package index could not be reached to build {} of their environments ({}@{}: \
         {}); `hh-compat run` builds them once it can, `--offline` runs what is cached",
        unreachable.len(),
        spec.style,
        spec.set,
        redactor.text(&error.conclusion())
    );
    left_out(cells, &ready, &reason)
}

/// The environment each python cell runs in, once each, in first-use order.
fn environments(cells: &[Cell]) -> Vec<EnvSpec> {
    let mut out: Vec<EnvSpec> = Vec::new();
    for cell in cells.iter().filter(|c| c.driver == DriverKind::Python) {
        if let Some(spec) = env_of(cell) {
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}

fn env_of(cell: &Cell) -> Option<EnvSpec> {
    let set = cell.version_set.as_ref()?;
    let requirements = set.requirements.clone();
    Some(EnvSpec::new(
        cell.style,
        &set.name,
        cell.setup,
        requirements,
    ))
}

/// The environments of `envs` not in `absent`, as `(style, set)` keys.
fn ready_sets(envs: &[EnvSpec], absent: &[EnvSpec]) -> BTreeSet<(Style, String)> {
    envs.iter()
        .filter(|e| !absent.contains(e))
        .map(|e| (e.style, e.set.clone()))
        .collect()
}

/// Every cell runs; the note tells the reference rows from the real packages' rows.
fn ran_all(cells: Vec<Cell>) -> RealPackages {
    let sets = set_names(cells.iter().filter(|c| c.driver == DriverKind::Python));
    let note = format!(
        "note: rows ending in /rust are this project's reference emitters; rows ending in \
         /python@SET are the real instrumentor packages from PyPI (version sets: {sets})."
    );
    RealPackages {
        cells,
        note: Some(note),
    }
}

/// Keeps the rust cells and the python cells whose environment is in `ready`; the note
/// names the rest, why they did not run, and what would run them.
fn left_out(cells: Vec<Cell>, ready: &BTreeSet<(Style, String)>, reason: &str) -> RealPackages {
    let (keep, dropped): (Vec<Cell>, Vec<Cell>) = cells.into_iter().partition(|c| {
        c.driver != DriverKind::Python
            || env_of(c).is_some_and(|e| ready.contains(&(e.style, e.set)))
    });
    let note = format!(
        "note: rows ending in /rust are this project's reference emitters. Not run: {} cells \
         of the real instrumentor packages (version sets: {}): {reason}.",
        dropped.len(),
        set_names(dropped.iter())
    );
    RealPackages {
        cells: keep,
        note: Some(note),
    }
}

pub(super) fn set_names<'a>(cells: impl Iterator<Item = &'a Cell>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in cells.filter_map(Cell::version_set_name) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}
