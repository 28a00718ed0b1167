//! The python driver: the real `openai` SDK instrumented by the real instrumentor
//! package from PyPI, in a pinned virtual environment ([`super::venv`]).
//!
//! In the `instrumentor` setup one interpreter runs every cell of one (style, version
//! set): startup is paid once. The app instruments an explicit provider, as customers
//! do; each cell's spans go over OTLP/HTTP to the run's receiver with that cell's own
//! API key, which the receiver files them under. It reaches the replica through
//! `HTTP_PROXY` (the Azure host name kept), and prints one JSON document with per-cell
//! outcomes and the installed versions. The plan (keys included) goes to its stdin so
//! no secret appears in a process list.
//!
//! Other setups (HoneyHive's tracer, a vendor's init) are a customer's script: one
//! process per cell, tracing wired by the SDK, which is pointed at the receiver as its
//! backend (`HH_API_URL`, `TRACELOOP_BASE_URL`, `PHOENIX_COLLECTOR_ENDPOINT`) with a key
//! of the cell's own; the receiver attributes what arrives by that key and logs the
//! requests, which the judge checks against the setup's `backend:` expectations.

use super::venv::{self, EnvSpec, VenvError};
use super::{redact, AppError, Credential, DriverContext, DriverError, DriverRun};
use crate::capture::otlp::new_key;
use crate::capture::OtlpReceiver;
use crate::matrix::Cell;
use crate::vocab::{Setup, Style};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How python cells are run.
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// Base interpreter for building environments; `None` = `venv::find_python3`.
    pub python3: Option<PathBuf>,
    /// Holds `driver.py`.
    pub driver_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Per tool invocation while building an environment.
    pub install_timeout: Duration,
    /// The longest one cell may take (the run's `--timeout`): the driver process gets
    /// this much per cell of its batch, plus `STARTUP_ALLOWANCE`.
    pub cell_timeout: Duration,
    /// How long to wait for a cell's spans after the process has exited (they are
    /// exported synchronously before it prints, so this is only a safety margin).
    pub span_wait: Duration,
    /// Reach no package index: environments come from the cache or not at all.
    pub offline: bool,
}

impl Default for PythonOptions {
    fn default() -> Self {
        Self {
            python3: None,
            driver_dir: venv::driver_dir(),
            cache_dir: venv::default_cache_dir(),
            install_timeout: Duration::from_secs(600),
            cell_timeout: Duration::from_secs(30),
            span_wait: Duration::from_millis(500),
            offline: false,
        }
    }
}

/// Time the driver process gets beyond its cells' own: starting the interpreter and
/// importing the SDK, the instrumentor and OpenTelemetry.
pub(crate) const STARTUP_ALLOWANCE: Duration = Duration::from_secs(60);

/// The most of the driver's stdout kept: its report, one JSON line with every cell's
/// outcome (the spans themselves travel over OTLP).
const REPORT_KEPT: usize = 16 * 1024 * 1024;

/// What became of one python cell.
#[derive(Debug, Clone)]
pub(crate) enum CellOutcome {
    Ran(DriverRun),
    /// Not runnable here (no interpreter), with the reason.
    Skipped(String),
}

/// The driver's stdout document.
#[derive(Debug, Deserialize)]
struct Report {
    versions: BTreeMap<String, Option<String>>,
    setup_error: Option<SetupError>,
    features: Vec<FeatureReport>,
}

#[derive(Debug, Deserialize)]
struct SetupError {
    error: String,
    message: String,
    #[serde(default)]
    traceback: String,
}

#[derive(Debug, Deserialize)]
struct FeatureReport {
    cell: String,
    ok: bool,
    /// What the service answered (chat and streaming), for content checks.
    #[serde(default)]
    answer: Option<String>,
    /// The first tool call the service made (tools, streaming-tools): its id and
    /// arguments, for the history checks.
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    tool_arguments: Option<String>,
    error: Option<String>,
    kind: Option<String>,
    message: Option<String>,
    #[serde(default)]
    notes: Vec<String>,
    duration_ms: u64,
}

/// The environment for `spec`: from the cache, else built from the package index,
/// unless the options say `offline`.
pub(crate) async fn environment(
    base: &std::path::Path,
    spec: &EnvSpec,
    options: &PythonOptions,
    progress: venv::Progress<'_>,
) -> Result<venv::Venv, VenvError> {
    if options.offline {
        return venv::cached(base, spec, &options.cache_dir)
            .ok_or_else(|| VenvError::Offline(spec.label()));
    }
    let timeout = options.install_timeout;
    venv::ensure(base, spec, &options.cache_dir, timeout, progress).await
}

/// Runs `cells` (all of one style and one version set) in one driver process;
/// outcomes in `cells`' order.
pub(crate) async fn run_batch(
    ctx: &DriverContext,
    receiver: &OtlpReceiver,
    options: &PythonOptions,
    style: Style,
    cells: &[Cell],
    progress: venv::Progress<'_>,
) -> Vec<CellOutcome> {
    let all = |make: &dyn Fn() -> CellOutcome| cells.iter().map(|_| make()).collect();
    let Some(set) = cells.first().and_then(|c| c.version_set.clone()) else {
        let error = DriverError::Setup(
            "a python cell needs a version set (the matrix's `version_sets`)".to_string(),
        );
        return all(&|| CellOutcome::Ran(DriverRun::failed(Vec::new(), error.clone())));
    };
    let base = match venv::base_python(options.python3.as_deref()) {
        Ok(b) => b,
        Err(e) => return all(&|| CellOutcome::Skipped(e.to_string())),
    };
    let setup = cells.first().map_or(Setup::Instrumentor, |c| c.setup);
    let spec = EnvSpec::new(style, &set.name, setup, set.requirements);
    let env = match environment(&base, &spec, options, progress).await {
        Ok(env) => env,
        Err(e @ (VenvError::NoPython(_) | VenvError::Offline(_))) => {
            let reason = e.to_string();
            return all(&|| CellOutcome::Skipped(reason.clone()));
        }
        Err(e) => {
            let error = DriverError::Setup(format!(
                "installing the {style} packages (version set `{}`) failed: {e}",
                spec.set
            ));
            return all(&|| CellOutcome::Ran(DriverRun::failed(Vec::new(), error.clone())));
        }
    };

    // A customer's script is one process, one session and one key per cell; the
    // instrumentor setup runs the whole batch in one interpreter, still one key per cell.
    let processes: Vec<&[Cell]> = if setup == Setup::Instrumentor {
        vec![cells]
    } else {
        cells.chunks(1).collect()
    };
    let mut out = Vec::with_capacity(cells.len());
    for cells in processes {
        let keys: Vec<String> = cells.iter().map(|_| new_key()).collect();
        let admitted = cells
            .iter()
            .zip(&keys)
            .all(|(cell, key)| receiver.admit_key(key, &cell.id));
        let report = if admitted {
            let wired = (setup, keys.as_slice());
            run_process(ctx, receiver, options, style, &env.python, cells, wired).await
        } else {
            Err(DriverError::Setup(
                "the receiver holds too many API keys".to_string(),
            ))
        };
        let runs = collect(receiver, options, style, cells, report).await;
        for key in &keys {
            receiver.revoke_key(key);
        }
        out.extend(runs.into_iter().map(CellOutcome::Ran));
    }
    out
}

/// Each cell's run from the driver's report (or its failure), with the spans and the
/// backend requests the receiver holds for it.
async fn collect(
    receiver: &OtlpReceiver,
    options: &PythonOptions,
    style: Style,
    cells: &[Cell],
    report: Result<Report, DriverError>,
) -> Vec<DriverRun> {
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            // Whatever the cells exported before the failure is still evidence.
            let mut out = Vec::with_capacity(cells.len());
            for cell in cells {
                let spans = receiver.take_cell(&cell.id);
                let mut run = DriverRun::failed(spans, error.clone());
                run.backend = backend_of(receiver, cell);
                out.push(run);
            }
            return out;
        }
    };

    let versions: BTreeMap<String, String> = report
        .versions
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut out = Vec::with_capacity(cells.len());
    for cell in cells {
        let spans = receiver
            .wait_for_spans(&cell.id, 1, options.span_wait)
            .await;
        let mut run = DriverRun::new(spans);
        run.versions = versions.clone();
        run.backend = backend_of(receiver, cell);
        if let Some(setup) = &report.setup_error {
            // The package is installed but does not load or refuses to instrument:
            // a real incompatibility, so the cell fails (never passes).
            let message = format!(
                "the {style} instrumentor could not be set up ({}): {} ({}){}",
                cell.setup,
                setup.message,
                setup.error,
                if setup.traceback.is_empty() {
                    String::new()
                } else {
                    format!("\n{}", venv::tail(&setup.traceback, venv::MAX_OUTPUT_KEPT))
                }
            );
            run.error = Some(DriverError::Instrument(AppError::new(
                Some(&setup.error),
                message,
            )));
            out.push(run);
            continue;
        }
        match report.features.iter().find(|f| f.cell == cell.id) {
            None => {
                run.error = Some(DriverError::Setup(format!(
                    "the python driver reported nothing for cell `{}`",
                    cell.id
                )))
            }
            Some(f) => {
                run.notes = f.notes.clone();
                let said = [
                    ("answer", &f.answer),
                    ("tool_call_id", &f.tool_call_id),
                    ("tool_arguments", &f.tool_arguments),
                ];
                for (name, value) in said {
                    if let Some(value) = value {
                        run.answered.insert(name.to_string(), value.clone());
                    }
                }
                run.notes
                    .push(format!("python driver: {} ms in the SDK", f.duration_ms));
                if !f.ok {
                    run.error = Some(classify(f));
                }
            }
        }
        out.push(run);
    }
    out
}

/// What the cell's key delivered, for a setup whose backend is judged (the harness's
/// own export in the `instrumentor` setup is not the app's backend).
fn backend_of(receiver: &OtlpReceiver, cell: &Cell) -> Vec<crate::capture::BackendRequest> {
    let log = receiver.take_backend_requests(&cell.id);
    if cell.setup == Setup::Instrumentor {
        Vec::new()
    } else {
        log
    }
}

/// The versions installed in an environment, as the driver reports them (`openai`,
/// the instrumentor and its version, the OpenTelemetry SDK, Python).
pub(crate) async fn installed_versions(
    python: &std::path::Path,
    driver_dir: &std::path::Path,
    style: Style,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(driver_dir.join("driver.py"))
        .args(["--style", style.as_str(), "--versions"]);
    let limits = crate::process::Limits {
        timeout,
        stdout: venv::MAX_OUTPUT_KEPT,
        stderr: venv::MAX_OUTPUT_KEPT,
    };
    let output = crate::process::run(cmd, None, limits)
        .await
        .map_err(|e| format!("could not run {}: {e}", python.display()))?;
    let Some(status) = output.status else {
        return Err(format!(
            "the driver did not answer within {}s",
            timeout.as_secs()
        ));
    };
    if !status.success() {
        return Err(format!(
            "the driver failed ({status}): {}",
            venv::tail(output.stderr.text().trim(), venv::MAX_OUTPUT_KEPT)
        ));
    }
    let parsed: BTreeMap<String, Option<String>> = serde_json::from_str(&output.stdout.text())
        .map_err(|e| format!("the driver printed no versions: {e}"))?;
    Ok(parsed
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

fn classify(f: &FeatureReport) -> DriverError {
    let message = format!(
        "{}: {}",
        f.error.as_deref().unwrap_or("Exception"),
        f.message.as_deref().unwrap_or("")
    );
    match f.kind.as_deref() {
        Some("unavailable") => DriverError::Unavailable(message),
        Some("prompt_filtered") => DriverError::PromptFiltered(message),
        Some("credential") => {
            DriverError::Setup(format!("the service refused the credential: {message}"))
        }
        Some("unexpected") => DriverError::Unexpected(message),
        _ => DriverError::Call(AppError::new(f.error.as_deref(), message)),
    }
}

/// Starts the driver, feeds it the plan, and parses its report.
async fn run_process(
    ctx: &DriverContext,
    receiver: &OtlpReceiver,
    options: &PythonOptions,
    style: Style,
    python: &std::path::Path,
    cells: &[Cell],
    (setup, keys): (Setup, &[String]),
) -> Result<Report, DriverError> {
    let provider = match cells.first() {
        Some(c) => c.provider,
        None => return Err(DriverError::Setup("no cells to run".to_string())),
    };
    let (api_key, ad_token) = match &ctx.credential {
        Credential::ApiKey(k) => (Some(k.as_str()), None),
        Credential::EntraToken(t) => (None, Some(t.as_str())),
    };
    let plan = json!({
        "provider": provider.as_str(),
        "endpoint": ctx.endpoint_url(provider),
        "api_version": ctx.api_version_for(provider),
        "api_key": api_key,
        "azure_ad_token": ad_token,
        // The SDK's own retries (it honours retry-after-ms): exact offline, patient live.
        "max_retries": ctx.retries.max_retries.max(2),
        "request_timeout_s": ctx.request_timeout.as_secs_f64(),
        "otlp_endpoint": receiver.http_endpoint(),
        "cells": cells
            .iter()
            .zip(keys)
            .map(|(c, key)| json!({"cell": c.id, "key": key, "plan": c.plan}))
            .collect::<Vec<_>>(),
    });
    let script = options.driver_dir.join("driver.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(&script).args(["--style", style.as_str()]);
    if setup != Setup::Instrumentor {
        cmd.args(["--setup", setup.as_str()]);
    }
    // Offline the replica is the only proxy; live, the environment's proxies apply.
    if ctx.proxy.is_some() {
        for var in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
    }
    for var in [
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SERVICE_NAME",
    ] {
        cmd.env_remove(var);
    }
    if let Some(proxy) = &ctx.proxy {
        cmd.env("HTTP_PROXY", proxy).env("http_proxy", proxy);
    }
    for var in [
        "HH_API_KEY",
        "HH_API_URL",
        "HH_PROJECT",
        "HONEYHIVE_API_KEY",
        "HONEYHIVE_SERVER_URL",
        "HH_SERVER_URL",
        "TRACELOOP_API_KEY",
        "TRACELOOP_BASE_URL",
        "PHOENIX_API_KEY",
        "PHOENIX_COLLECTOR_ENDPOINT",
        "PHOENIX_CLIENT_HEADERS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        cmd.env_remove(var);
    }
    let no_proxy = super::no_proxy_with_loopback();
    cmd.env("NO_PROXY", &no_proxy).env("no_proxy", &no_proxy);
    // The SDK's own configuration, as its documentation tells customers to set it; a
    // setup process runs one cell, so one key.
    let key = keys.first().map_or("", String::as_str);
    match setup {
        Setup::Instrumentor => {}
        Setup::TraceloopSdk => {
            cmd.env("TRACELOOP_BASE_URL", receiver.http_endpoint())
                .env("TRACELOOP_API_KEY", key)
                .env("TRACELOOP_TELEMETRY", "false");
        }
        Setup::Phoenix => {
            cmd.env("PHOENIX_COLLECTOR_ENDPOINT", receiver.http_endpoint())
                .env("PHOENIX_API_KEY", key);
        }
        Setup::Honeyhive | Setup::HoneyhiveInstrumentors | Setup::HoneyhiveLate => {
            cmd.env("HH_API_URL", receiver.http_endpoint())
                .env("HH_API_KEY", key)
                .env("HH_PROJECT", "hh-compat");
        }
    }
    cmd
        // Message content capture, switched on the way each package documents it.
        .env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "span_only",
        )
        .env("TRACELOOP_TRACE_CONTENT", "true")
        .env("OPENINFERENCE_HIDE_INPUTS", "false")
        .env("OPENINFERENCE_HIDE_OUTPUTS", "false")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONIOENCODING", "utf-8");

    let body = serde_json::to_vec(&plan)
        .map_err(|e| DriverError::Setup(format!("encoding the driver's plan: {e}")))?;
    let cells_time = options
        .cell_timeout
        .saturating_mul(u32::try_from(cells.len()).unwrap_or(u32::MAX));
    let limits = crate::process::Limits {
        timeout: STARTUP_ALLOWANCE.saturating_add(cells_time),
        stdout: REPORT_KEPT,
        stderr: venv::MAX_OUTPUT_KEPT,
    };
    let output = crate::process::run(cmd, Some(body), limits)
        .await
        .map_err(|e| DriverError::Setup(format!("could not start {}: {e}", python.display())))?;
    let stderr = redact(output.stderr.text().trim(), ctx.credential.secret());
    let stderr = keys.iter().fold(stderr, |text, key| redact(&text, key));
    let Some(status) = output.status else {
        return Err(DriverError::Timeout(format!(
            "the python driver ({style}) did not finish its {} cell(s) within {}s \
             (--timeout per cell plus {}s to start); stderr: {}",
            cells.len(),
            limits.timeout.as_secs(),
            STARTUP_ALLOWANCE.as_secs(),
            venv::tail(&stderr, venv::MAX_OUTPUT_KEPT)
        )));
    };
    let stdout = output.stdout.text();
    let last_line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match last_line.map(serde_json::from_str::<Report>) {
        Some(Ok(report)) if status.success() => Ok(report),
        Some(Err(e)) => Err(DriverError::Setup(format!(
            "the python driver ({style}) printed no valid report ({e}); stderr: {}",
            venv::tail(stderr.trim(), venv::MAX_OUTPUT_KEPT)
        ))),
        _ => Err(DriverError::Setup(format!(
            "the python driver ({style}) failed ({}); stderr: {}",
            status,
            venv::tail(stderr.trim(), venv::MAX_OUTPUT_KEPT)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(kind: Option<&str>) -> FeatureReport {
        FeatureReport {
            cell: "c".into(),
            ok: false,
            error: Some("RateLimitError".into()),
            kind: kind.map(String::from),
            message: Some("429".into()),
            answer: None,
            tool_call_id: None,
            tool_arguments: None,
            notes: vec![],
            duration_ms: 1,
        }
    }

    #[test]
    fn outcomes_are_classified_by_kind() {
        assert!(classify(&feature(Some("unavailable"))).is_infrastructure());
        assert!(!classify(&feature(Some("call"))).is_infrastructure());
        assert!(matches!(
            classify(&feature(Some("unexpected"))),
            DriverError::Unexpected(_)
        ));
        assert!(matches!(classify(&feature(None)), DriverError::Call(_)));
    }

    #[test]
    fn the_key_is_redacted_from_stderr() {
        assert_eq!(redact("key=sekrit!", "sekrit"), "key=***!");
        assert_eq!(redact("nothing", ""), "nothing");
    }

    #[test]
    fn the_report_parses() {
        let text = r#"{"versions":{"python":"3.11.7","openai":null},"setup_error":null,
            "features":[{"feature":"chat","cell":"a/b","ok":true,"error":null,"kind":null,
            "message":null,"notes":[],"duration_ms":12}]}"#;
        let r: Report = serde_json::from_str(text).expect("parses");
        assert_eq!(r.features[0].cell, "a/b");
        assert_eq!(r.versions["openai"], None);
    }
}
