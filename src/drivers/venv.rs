//! Virtual environments for the python driver: one per (style, version set), from the
//! requirement lines the matrix pins (`version_sets`), created once and cached under a
//! directory named by the hash of those lines, so a changed pin gets a fresh
//! environment and an unchanged one is reused. The lines are kept in the environment
//! as `requirements.txt`.
//!
//! Created with `uv` when it is on PATH (fast); else with the uv release this module
//! installs into the cache the first time (`.tools/`, with pip); else, when that cannot
//! be installed, with `python3 -m venv` + pip. The environment is built in a temporary
//! directory and renamed into place only once every package installed, so an
//! interrupted install never looks ready.

use crate::vocab::{Setup, Style};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most bytes of a failing tool's output kept for the report (the tail: pip's
/// conclusion is at the end).
pub(crate) const MAX_OUTPUT_KEPT: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum VenvError {
    /// No interpreter to build environments with: python cells are skipped.
    #[error("{0}")]
    NoPython(String),
    /// `--offline` and the environment is not in the cache: its cells are skipped.
    #[error("--offline: the {0} environment is not built yet (`hh-compat drivers setup` builds it from the package index)")]
    Offline(String),
    /// A tool ran and failed (pip's resolver, a missing package, a network error).
    #[error("`{command}` failed: {output}")]
    Install { command: String, output: String },
    #[error("`{command}` did not finish within {}s", .timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl VenvError {
    /// True when the installer said the index has no such package, or no such version,
    /// for one of `requirements` itself (not for a dependency of one): the request is
    /// wrong, not the machine. uv and pip phrase it differently; pip says the same for
    /// a missing package and a missing version.
    pub(crate) fn not_on_index(&self, requirements: &[String]) -> bool {
        let VenvError::Install { output, .. } = self else {
            return false;
        };
        let wanted: Vec<String> = (requirements.iter())
            .map(|r| crate::pep440::requirement_name(r))
            .collect();
        let said = output.to_ascii_lowercase();
        let said = said.as_str();
        // The name each phrase is about, compared whole and normalized (pip echoes the
        // requirement as written, `opentelemetry_instrumentation_openai==9.9`).
        let after = |phrase: &'static str| {
            (said.match_indices(phrase)).map(move |(i, p)| &said[i + p.len()..])
        };
        let missing_package = after("because ").filter(|rest| {
            let words: Vec<&str> = rest.split_whitespace().take(4).collect();
            words.get(1..4) == Some(&["was", "not", "found"][..])
        });
        let missing_version =
            after("there is no version of ").chain(after("no matching distribution found for "));
        missing_package
            .chain(missing_version)
            .any(|rest| wanted.contains(&crate::pep440::requirement_name(rest)))
    }

    /// True when the installer could not reach the package index at all (no network,
    /// DNS, refused connection): nothing about the pins is known.
    pub(crate) fn unreachable_index(&self) -> bool {
        let VenvError::Install { output, .. } = self else {
            return false;
        };
        [
            "Failed to fetch",
            "error sending request",
            "dns error",
            "Connection refused",
            "tcp connect error",
            "Could not fetch URL",
            "NewConnectionError",
            "Failed to establish a new connection",
            "Temporary failure in name resolution",
        ]
        .iter()
        .any(|said| output.contains(said))
    }

    /// The message's conclusion: its last non-empty line (an installer ends with it),
    /// at most 240 bytes.
    pub(crate) fn conclusion(&self) -> String {
        let text = self.to_string();
        let line = text.lines().rev().find(|l| !l.trim().is_empty());
        tail(line.unwrap_or(&text).trim(), 240)
    }
}

/// One step of building an environment, for whoever shows progress. `Display` gives
/// the plain line (`traceloop@latest: installing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvEvent {
    /// A build starts, with `uv` or `python3 -m venv` + pip, for this many pins.
    Creating { env: String, uv: bool, pins: usize },
    /// The packages are being installed.
    Installing { env: String },
    /// Built, at `dir`.
    Ready { env: String, dir: PathBuf },
    /// Already in the cache, at `dir`.
    UpToDate { env: String, dir: PathBuf },
    /// The build failed (the error is returned with the outcome).
    Failed { env: String },
    /// No `uv` on PATH: the pinned release is being installed into the cache, once.
    InstallingUv { release: &'static str },
    /// That did not work; pip builds the environments (slower, same result).
    NoUv { why: String },
}

impl EnvEvent {
    /// Whether this environment is done, built or not (one step of a progress bar).
    pub(crate) fn finishes(&self) -> bool {
        matches!(
            self,
            EnvEvent::Ready { .. } | EnvEvent::UpToDate { .. } | EnvEvent::Failed { .. }
        )
    }
}

impl std::fmt::Display for EnvEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvEvent::Creating { env, uv, pins } => {
                let tool = if *uv { "uv" } else { "python3 -m venv + pip" };
                write!(
                    f,
                    "{env}: creating a virtual environment with {tool} ({pins} pins)"
                )
            }
            EnvEvent::Installing { env } => write!(f, "{env}: installing"),
            EnvEvent::Ready { env, dir } => write!(f, "{env}: ready at {}", dir.display()),
            EnvEvent::UpToDate { env, dir } => write!(f, "{env}: up to date ({})", dir.display()),
            EnvEvent::Failed { env } => write!(f, "{env}: failed"),
            EnvEvent::InstallingUv { release } => write!(
                f,
                "no uv on PATH: installing {release} into the cache once (it builds \
                 environments several times faster than pip)"
            ),
            EnvEvent::NoUv { why } => write!(f, "uv could not be installed ({why}); using pip"),
        }
    }
}

/// Hears each [`EnvEvent`] of a build.
pub(crate) type Progress<'a> = &'a (dyn Fn(&EnvEvent) + Send + Sync);

/// A ready environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Venv {
    pub dir: PathBuf,
    /// Its interpreter.
    pub python: PathBuf,
    /// False when it already existed in the cache.
    pub created: bool,
}

/// The python driver as built into the binary.
const BUILT_IN_DRIVER: &str = include_str!("../../drivers/python/driver.py");

/// `drivers/python` under the current directory when it has `driver.py` (a checkout:
/// edits need no rebuild); else the copy built into the binary, written once into the
/// cache directory under its hash (a newer binary writes its own). Should writing fail,
/// the driver's start names the missing file.
pub(crate) fn driver_dir() -> PathBuf {
    let local = PathBuf::from("drivers/python");
    if local.join("driver.py").is_file() {
        return local;
    }
    let hash = crate::hash::fnv1a(BUILT_IN_DRIVER.as_bytes());
    let dir = default_cache_dir().join(format!("driver-{hash:016x}"));
    let file = dir.join("driver.py");
    if !file.is_file() {
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|()| crate::atomic::write(&file, BUILT_IN_DRIVER.as_bytes()));
    }
    dir
}

/// `$HH_COMPAT_CACHE_DIR`, else `$XDG_CACHE_HOME/hh-compat/venvs`, else
/// `~/.cache/hh-compat/venvs` (the user's cache directory), else, with no `HOME`,
/// `.cache/hh-compat/venvs` under the current directory.
pub(crate) fn default_cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("HH_COMPAT_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("hh-compat/venvs");
    }
    match var("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/hh-compat/venvs"),
        None => PathBuf::from(".cache/hh-compat/venvs"),
    }
}

/// The base interpreter: `given` when set (it must exist), else `$HH_COMPAT_PYTHON3`,
/// else `python3` on PATH.
pub(crate) fn base_python(given: Option<&Path>) -> Result<PathBuf, VenvError> {
    match given {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(VenvError::NoPython(format!(
            "the Python interpreter {} does not exist",
            p.display()
        ))),
        None => find_python3(),
    }
}

/// `$HH_COMPAT_PYTHON3` if set, else `python3` on PATH.
pub(crate) fn find_python3() -> Result<PathBuf, VenvError> {
    if let Some(p) = std::env::var_os("HH_COMPAT_PYTHON3").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(VenvError::NoPython(format!(
                "HH_COMPAT_PYTHON3 names {}, which does not exist",
                p.display()
            )))
        };
    }
    which("python3").ok_or_else(|| {
        VenvError::NoPython(
            "python3 was not found on PATH (install Python 3.9+ or set HH_COMPAT_PYTHON3)"
                .to_string(),
        )
    })
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The cache key: the requirements' content and the interpreter that builds them.
pub(crate) fn cache_key(requirements: &[u8], base_python: &Path) -> String {
    let mut input = requirements.to_vec();
    input.push(0);
    input.extend_from_slice(base_python.to_string_lossy().as_bytes());
    format!("{:016x}", crate::hash::fnv1a(&input))
}

const READY_MARKER: &str = ".hh-compat-ready";

/// One environment to build: a style's requirement lines in one version set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    pub style: Style,
    pub set: String,
    /// `package==version` lines, as the matrix pins them.
    pub requirements: Vec<String>,
}

impl EnvSpec {
    /// The environment of `style` in version set `set` under `setup`; setups other than
    /// `instrumentor` get their own environment, named `<set>-<setup>`, except that
    /// HoneyHive's three setups install the same packages and share `<set>-honeyhive`.
    pub fn new(style: Style, set: &str, setup: Setup, requirements: Vec<String>) -> Self {
        let set = match setup {
            Setup::Instrumentor => set.to_string(),
            s if s.is_honeyhive() => format!("{set}-{}", Setup::Honeyhive),
            s => format!("{set}-{s}"),
        };
        Self {
            style,
            set,
            requirements,
        }
    }

    /// How messages name the environment: `traceloop@latest`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.style, self.set)
    }

    /// The environment's directory name in the cache: style, set and cache key.
    fn dir_name(&self, base_python: &Path) -> String {
        let key = cache_key(&self.content(), base_python);
        format!("{}-{}-{key}", self.style.as_str(), self.set)
    }

    /// What the cache key hashes and `requirements.txt` holds.
    fn content(&self) -> Vec<u8> {
        let mut text = format!(
            "# hh-compat: style `{}`, version set `{}` (from the matrix)\n",
            self.style, self.set
        );
        for line in &self.requirements {
            text.push_str(line);
            text.push('\n');
        }
        text.into_bytes()
    }
}

/// The environment for `spec` when the cache already holds it complete; builds nothing
/// and reaches no package index.
pub(crate) fn cached(base_python: &Path, spec: &EnvSpec, cache_dir: &Path) -> Option<Venv> {
    let dir = cache_dir.join(spec.dir_name(base_python));
    let python = dir.join("bin/python");
    (dir.join(READY_MARKER).is_file() && python.exists()).then_some(Venv {
        dir,
        python,
        created: false,
    })
}

/// Creates (or reuses) the environment for `spec`. `progress` hears each step.
pub(crate) async fn ensure(
    base_python: &Path,
    spec: &EnvSpec,
    cache_dir: &Path,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<Venv, VenvError> {
    let env = spec.label();
    if let Some(ready) = cached(base_python, spec, cache_dir) {
        return Ok(ready);
    }
    let name = spec.dir_name(base_python);
    let content = spec.content();
    let dir = cache_dir.join(&name);
    let python = dir.join("bin/python");
    let guard = StagingGuard::new(cache_dir, &name)?;
    let staging = guard.0.clone();
    let staged_python = staging.join("bin/python");
    let uv = installer(base_python, cache_dir, timeout, progress).await;
    progress(&EnvEvent::Creating {
        env: env.clone(),
        uv: uv.is_some(),
        pins: spec.requirements.len(),
    });
    let requirements = staging.join("requirements.txt");
    let result = async {
        match &uv {
            Some(uv) => {
                let mut venv = tokio::process::Command::new(uv);
                venv.arg("venv")
                    .arg("--quiet")
                    .arg("--python")
                    .arg(base_python)
                    .arg(&staging);
                run_tool(venv, timeout).await?;
                write_requirements(&requirements, &content)?;
                progress(&EnvEvent::Installing { env: env.clone() });
                let mut pip = tokio::process::Command::new(uv);
                pip.args(["pip", "install", "--quiet", "--python"])
                    .arg(&staged_python)
                    .arg("-r")
                    .arg(&requirements);
                run_tool(pip, timeout).await
            }
            None => {
                let mut venv = tokio::process::Command::new(base_python);
                venv.args(["-m", "venv"]).arg(&staging);
                run_tool(venv, timeout).await?;
                write_requirements(&requirements, &content)?;
                progress(&EnvEvent::Installing { env: env.clone() });
                let mut pip = pip_install(&staged_python);
                pip.arg("-r").arg(&requirements);
                run_tool(pip, timeout).await
            }
        }
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let io = |context: String| move |source| VenvError::Io { context, source };
    std::fs::write(staging.join(READY_MARKER), &content)
        .map_err(io(format!("marking {} ready", staging.display())))?;
    if let Err(e) = std::fs::rename(&staging, &dir) {
        // Another process finished the same environment first: use theirs.
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join(READY_MARKER).is_file() {
            return Err(io(format!("moving the environment into {}", dir.display()))(e));
        }
    }
    progress(&EnvEvent::Ready {
        env,
        dir: dir.clone(),
    });
    Ok(Venv {
        dir,
        python,
        created: true,
    })
}

/// The uv release installed into the cache when none is on PATH: the one
/// `scripts/setup-python` pins for the tests (`tests/python/requirements-tools.txt`).
const UV_RELEASE: &str = "uv==0.13.9";

/// What builds environments: `uv` from PATH; else the copy installed into the cache
/// under `.tools/` (installed with pip the first time it is needed, one build at a time
/// per process, staged and renamed into place like an environment); else `None`, and
/// pip builds them.
async fn installer(
    base_python: &Path,
    cache_dir: &Path,
    timeout: Duration,
    progress: Progress<'_>,
) -> Option<PathBuf> {
    if let Some(uv) = which("uv") {
        return Some(uv);
    }
    let tool = cache_dir.join(".tools").join(UV_RELEASE.replace("==", "-"));
    let uv = tool.join("bin/uv");
    if uv.is_file() {
        return Some(uv);
    }
    // One install at a time; after a failure, pip builds the rest of this process's
    // environments rather than each one trying (and waiting on) the install again.
    static INSTALLING: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let mut failed = INSTALLING.lock().await;
    if uv.is_file() {
        return Some(uv);
    }
    if *failed {
        return None;
    }
    progress(&EnvEvent::InstallingUv {
        release: UV_RELEASE,
    });
    let why = match install_uv(base_python, &tool, timeout).await {
        Ok(()) if uv.is_file() => return Some(uv),
        Ok(()) => format!("{} has no bin/uv", tool.display()),
        Err(e) => e.conclusion(),
    };
    *failed = true;
    progress(&EnvEvent::NoUv { why });
    None
}

/// `python3 -m venv` + `pip install uv` into a staging directory renamed to `tool`.
async fn install_uv(base_python: &Path, tool: &Path, timeout: Duration) -> Result<(), VenvError> {
    let guard = StagingGuard::new(tool.parent().unwrap_or(tool), "uv")?;
    let staging = guard.0.clone();
    let mut venv = tokio::process::Command::new(base_python);
    venv.args(["-m", "venv"]).arg(&staging);
    run_tool(venv, timeout).await?;
    let mut pip = pip_install(&staging.join("bin/python"));
    pip.arg(UV_RELEASE);
    run_tool(pip, timeout).await?;
    if std::fs::rename(&staging, tool).is_err() && !tool.join("bin/uv").is_file() {
        return Err(VenvError::Io {
            context: format!("moving uv into {}", tool.display()),
            source: std::io::Error::other("rename failed"),
        });
    }
    Ok(())
}

/// `python -m pip install`, quiet and never prompting; the caller adds what to install.
fn pip_install(python: &Path) -> tokio::process::Command {
    let mut pip = tokio::process::Command::new(python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    pip
}

fn write_requirements(path: &Path, content: &[u8]) -> Result<(), VenvError> {
    std::fs::write(path, content).map_err(|source| VenvError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// Runs a setup tool; its failure carries the tail of what it printed.
async fn run_tool(cmd: tokio::process::Command, timeout: Duration) -> Result<(), VenvError> {
    let command = describe(&cmd);
    let limits = crate::process::Limits {
        timeout,
        stdout: MAX_OUTPUT_KEPT,
        stderr: MAX_OUTPUT_KEPT,
    };
    let output = crate::process::run(cmd, None, limits)
        .await
        .map_err(|source| VenvError::Io {
            context: format!("starting `{command}`"),
            source,
        })?;
    let Some(status) = output.status else {
        return Err(VenvError::Timeout { command, timeout });
    };
    if status.success() {
        return Ok(());
    }
    let mut text = output.stderr.text();
    if text.trim().is_empty() {
        text = output.stdout.text();
    }
    Err(VenvError::Install {
        command,
        output: format!("({status}) {}", tail(text.trim(), MAX_OUTPUT_KEPT)),
    })
}

/// A staging directory, removed when the build ends any way but by being moved into
/// place: an error, a cancelled task, or (through [`crate::process`]) an interrupt.
struct StagingGuard(PathBuf);

impl StagingGuard {
    /// A fresh, empty staging path for `name` under `parent` (created if missing, with
    /// what killed processes left there removed first), registered for removal on an
    /// interrupt. Unique per build, not just per process: two cells (or tests) of one
    /// process may build the same thing at once; the first rename wins, the other
    /// reuses it.
    fn new(parent: &Path, name: &str) -> Result<Self, VenvError> {
        std::fs::create_dir_all(parent).map_err(|source| VenvError::Io {
            context: format!("creating {}", parent.display()),
            source,
        })?;
        remove_abandoned_staging(parent);
        static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = parent.join(format!(".{name}.tmp-{}-{build}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        crate::process::remove_on_interrupt(&staging);
        Ok(Self(staging))
    }
}

impl Drop for StagingGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        crate::process::forget_temp_dir(&self.0);
    }
}

/// Removes staging directories (`.NAME.tmp-PID-N`) that a killed process left behind:
/// any whose process is gone.
fn remove_abandoned_staging(cache_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp-"))
            .and_then(|(_, rest)| rest.split('-').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() as i32 && !crate::process::is_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn describe(cmd: &tokio::process::Command) -> String {
    let std = cmd.as_std();
    std::iter::once(std.get_program())
        .chain(std.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `max` bytes of `text` (on a character boundary), marked when cut.
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// What `hh-compat drivers setup` prepares.
#[derive(Debug, Clone)]
pub(crate) struct PythonSetup {
    /// Base interpreter; `None` = [`find_python3`].
    pub python3: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub envs: Vec<EnvSpec>,
    /// Per tool invocation (venv creation, install).
    pub timeout: Duration,
    /// Environments built at once (pip is CPU- and network-bound; a few at a time).
    pub concurrency: usize,
}

impl PythonSetup {
    pub(crate) fn new(envs: Vec<EnvSpec>) -> Self {
        Self {
            python3: None,
            cache_dir: default_cache_dir(),
            envs,
            timeout: Duration::from_secs(600),
            concurrency: 3,
        }
    }
}

/// One environment's outcome in [`setup_python`].
#[derive(Debug)]
pub(crate) struct SetupOutcome {
    pub spec: EnvSpec,
    pub result: Result<Venv, VenvError>,
}

/// Creates every environment of `setup` ahead of a run, a few at a time, telling
/// `progress` what happens. A missing interpreter is returned as an error for every
/// environment. Outcomes come back in `setup.envs` order.
pub(crate) async fn setup_python(
    setup: &PythonSetup,
    progress: impl Fn(&EnvEvent) + Send + Sync,
) -> Vec<SetupOutcome> {
    use futures::StreamExt;
    let base = match base_python(setup.python3.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            let reason = e.to_string();
            return setup
                .envs
                .iter()
                .map(|spec| SetupOutcome {
                    spec: spec.clone(),
                    result: Err(VenvError::NoPython(reason.clone())),
                })
                .collect();
        }
    };
    let progress = &progress;
    let base = &base;
    let jobs = setup.envs.iter().map(|spec| async move {
        let result = ensure(base, spec, &setup.cache_dir, setup.timeout, progress).await;
        let env = spec.label();
        match &result {
            Ok(v) if !v.created => progress(&EnvEvent::UpToDate {
                env,
                dir: v.dir.clone(),
            }),
            Ok(_) => {}
            Err(_) => progress(&EnvEvent::Failed { env }),
        }
        SetupOutcome {
            spec: spec.clone(),
            result,
        }
    });
    futures::stream::iter(jobs)
        .buffered(setup.concurrency.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install_error(output: &str) -> VenvError {
        VenvError::Install {
            command: "uv pip install".into(),
            output: output.into(),
        }
    }

    #[test]
    fn a_request_for_what_the_index_lacks_is_told_from_other_install_failures() {
        let asked = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let uv_no_package = install_error(
            "error: No solution found when resolving dependencies\n  cause: Because hhc-not-there was not found in the package registry and you require hhc-not-there==1.0, we can conclude that your requirements are unsatisfiable.",
        );
        assert!(uv_no_package.not_on_index(&asked(&["hhc-not-there==1.0"])));
        let uv_no_version = install_error(
            "  cause: Because there is no version of openai==999.0.0 and you require openai==999.0.0, we can conclude that your requirements are unsatisfiable.",
        );
        assert!(uv_no_version.not_on_index(&asked(&["openai==999.0.0"])));
        // pip echoes the requirement as written: names compare normalized.
        let pip = install_error(
            "ERROR: No matching distribution found for opentelemetry_instrumentation_openai==9.9",
        );
        assert!(pip.not_on_index(&asked(&["opentelemetry-instrumentation-openai==9.9"])));
        // A dependency the index lacks is an install failure, not a wrong request; nor
        // does a name that only starts like a requested one count.
        let dependency = install_error(
            "  cause: Because hhc-missing-dependency was not found in the package registry and hhc-fake-instr==1.2.0 depends on hhc-missing-dependency, we can conclude",
        );
        assert!(!dependency.not_on_index(&asked(&["hhc-fake-instr==1.2.0"])));
        let prefix = install_error("ERROR: No matching distribution found for openai-agents==0.1");
        assert!(!prefix.not_on_index(&asked(&["openai==1.40.0"])));
        assert!(!prefix.unreachable_index());
        let offline = install_error(
            "error: Failed to fetch: `https://pypi.org/simple/openai/`\n  Caused by: error sending request for url",
        );
        assert!(offline.unreachable_index());
        assert!(!offline.not_on_index(&asked(&["openai==1.40.0"])));
    }

    #[test]
    fn events_read_as_plain_lines_and_say_when_an_environment_is_done() {
        let env = || "traceloop@latest".to_string();
        let dir = PathBuf::from("/cache/traceloop-latest-1");
        let lines = [
            (
                EnvEvent::Creating {
                    env: env(),
                    uv: true,
                    pins: 8,
                },
                "traceloop@latest: creating a virtual environment with uv (8 pins)",
                false,
            ),
            (
                EnvEvent::Installing { env: env() },
                "traceloop@latest: installing",
                false,
            ),
            (
                EnvEvent::Ready {
                    env: env(),
                    dir: dir.clone(),
                },
                "traceloop@latest: ready at /cache/traceloop-latest-1",
                true,
            ),
            (
                EnvEvent::UpToDate { env: env(), dir },
                "traceloop@latest: up to date (/cache/traceloop-latest-1)",
                true,
            ),
            (
                EnvEvent::Failed { env: env() },
                "traceloop@latest: failed",
                true,
            ),
        ];
        for (event, line, done) in lines {
            assert_eq!(event.to_string(), line);
            assert_eq!(event.finishes(), done, "{line}");
        }
    }

    #[test]
    fn cache_key_follows_content_and_interpreter() {
        let a = cache_key(b"openai==1.0\n", Path::new("/usr/bin/python3"));
        assert_eq!(
            a,
            cache_key(b"openai==1.0\n", Path::new("/usr/bin/python3"))
        );
        assert_ne!(
            a,
            cache_key(b"openai==1.1\n", Path::new("/usr/bin/python3"))
        );
        assert_ne!(a, cache_key(b"openai==1.0\n", Path::new("/opt/python3")));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("short", 10), "short");
        assert_eq!(tail("abcdef", 3), "…def");
        let cut = tail("ééé", 3);
        assert!(cut.ends_with('é') && cut.starts_with('…'), "{cut}");
    }

    #[test]
    fn env_content_names_the_set_and_keeps_pin_order() {
        let spec = EnvSpec {
            style: Style::Traceloop,
            set: "openai-v1".into(),
            requirements: vec!["openai==1.109.1".into(), "b==2".into()],
        };
        let text = String::from_utf8(spec.content()).expect("utf-8");
        assert!(text.starts_with("# hh-compat: style `traceloop`, version set `openai-v1`"));
        assert!(text.ends_with("openai==1.109.1\nb==2\n"), "{text}");
    }
}
