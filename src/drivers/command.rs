//! The command driver: any program — typically a customer's own script — run with
//! the environment an Azure OpenAI app reads (endpoint, key, api-version, deployment)
//! and an OTLP exporter pointed at the run's receiver.
//!
//! Nothing is asked of the program beyond honouring the standard variables: the
//! `openai` SDKs read `AZURE_OPENAI_*` (`OPENAI_API_VERSION` only when the matrix
//! sets `target.api_version_env`, since it changes what some releases do), OpenTelemetry SDKs read
//! `OTEL_*` (including `OTEL_RESOURCE_ATTRIBUTES`, which carries the cell id so its
//! spans are attributed even while other cells export), and HTTP clients read
//! `HTTP_PROXY`, which offline delivers the calls to the replica with the Azure host
//! name kept.

use super::python::{CellOutcome, PythonOptions};
use super::venv::{self, EnvSpec, VenvError};
use super::{Credential, DriverContext, DriverError, DriverRun};
use crate::capture::OtlpReceiver;
use crate::matrix::{Cell, FeaturePlan};
use crate::vocab::Provider;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How command cells are run.
#[derive(Debug, Clone)]
pub struct CommandOptions {
    /// A shell command line, run with `sh -c`.
    pub command: String,
    /// The longest the program may run (the run's `--timeout`).
    pub timeout: Duration,
    /// How long to wait for spans after the program exits (exporters flush on exit,
    /// but delivery is asynchronous on the receiving side).
    pub span_wait: Duration,
    /// Packages to run the program with (`--with`, `--version-set`): the harness builds
    /// this environment and puts it first on `PATH`.
    pub environment: Option<EnvSpec>,
}

/// The pinned environment a command runs in, built once for all its cells.
#[derive(Debug, Clone)]
pub(crate) struct CommandEnv {
    /// The virtual environment (`VIRTUAL_ENV`; its `bin/` goes first on `PATH`).
    pub dir: PathBuf,
    /// What is installed there, as the environment itself reports it.
    pub versions: BTreeMap<String, String>,
}

/// Packages whose versions a command cell records: the SDKs and instrumentation.
fn recorded_package(name: &str) -> bool {
    [
        "openai",
        "opentelemetry",
        "openinference",
        "traceloop",
        "honeyhive",
        "arize-phoenix",
        "openlit",
        "azure-",
        "httpx",
        "wrapt",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Prints every installed distribution as `{name: version}` JSON, and the interpreter's
/// own version as `python`: what ran, read from the environment, not from the pins.
const LIST_DISTRIBUTIONS: &str = "import importlib.metadata as m, json, platform; \
d = {x.metadata['Name'].lower().replace('_', '-'): x.version for x in m.distributions() if x.metadata['Name']}; \
d['python'] = platform.python_version(); print(json.dumps(d))";

/// Builds (or reuses, from the python driver's cache) the command's environment.
/// `Ok(None)` when the command runs with whatever is on `PATH`.
pub(crate) async fn prepare_env(
    options: &CommandOptions,
    python: &PythonOptions,
) -> Result<Option<CommandEnv>, CellOutcome> {
    let Some(spec) = &options.environment else {
        return Ok(None);
    };
    let base = venv::base_python(python.python3.as_deref())
        .map_err(|e| CellOutcome::Skipped(e.to_string()))?;
    let env = super::python::environment(&base, spec, python, &|_| {})
        .await
        .map_err(|e| match e {
            e @ (VenvError::NoPython(_) | VenvError::Offline(_)) => {
                CellOutcome::Skipped(e.to_string())
            }
            e => CellOutcome::Ran(DriverRun::failed(
                Vec::new(),
                DriverError::Setup(format!(
                    "installing the command's packages ({}) failed: {e}",
                    spec.requirements.join(" ")
                )),
            )),
        })?;
    let mut cmd = tokio::process::Command::new(&env.python);
    cmd.args(["-c", LIST_DISTRIBUTIONS]);
    let limits = crate::process::Limits {
        timeout: Duration::from_secs(60),
        stdout: 1 << 20,
        stderr: OUTPUT_KEPT,
    };
    let listed = crate::process::run(cmd, None, limits).await;
    let all: BTreeMap<String, String> = listed
        .ok()
        .filter(|o| o.status.is_some_and(|s| s.success()))
        .and_then(|o| serde_json::from_str(o.stdout.text().trim()).ok())
        .unwrap_or_default();
    // What the command asked for is recorded too, whatever its name.
    let pinned: Vec<String> = (spec.requirements.iter())
        .map(|r| crate::pep440::requirement_name(r))
        .collect();
    let versions = all
        .into_iter()
        .filter(|(name, _)| {
            name == "python"
                || recorded_package(name)
                || pinned.contains(&crate::pep440::normalize_name(name))
        })
        .collect();
    Ok(Some(CommandEnv {
        dir: env.dir,
        versions,
    }))
}

impl CommandOptions {
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            timeout,
            span_wait: Duration::from_millis(1500),
            environment: None,
        }
    }
}

/// The most of the program's output a finding keeps (head and tail).
const OUTPUT_KEPT: usize = 2000;

/// The variables the program gets, in a stable order (documented in the README).
pub(crate) fn environment(
    ctx: &DriverContext,
    receiver: &OtlpReceiver,
    cell: &Cell,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    // The resource origin for the Azure SDKs (they append `/openai` themselves); the
    // full base URL (`…/openai/v1/`) for the v1 and OpenAI providers.
    let endpoint = ctx.endpoint_url(cell.provider);
    set("AZURE_OPENAI_ENDPOINT", endpoint.clone());
    if cell.provider != Provider::AzureOpenAi {
        set("OPENAI_BASE_URL", endpoint);
    }
    match &ctx.credential {
        Credential::ApiKey(key) => {
            set("AZURE_OPENAI_API_KEY", key.clone());
            set("OPENAI_API_KEY", key.clone());
        }
        Credential::EntraToken(token) => set("AZURE_OPENAI_AD_TOKEN", token.clone()),
    }
    if let Some(version) = ctx.api_version_for(cell.provider) {
        // The openai SDK reads OPENAI_API_VERSION by itself, which changes what some
        // SDK and instrumentor releases do: set only when the matrix asks for it.
        if ctx.api_version_env {
            set("OPENAI_API_VERSION", version.to_string());
        }
        set("AZURE_OPENAI_API_VERSION", version.to_string());
    }
    let deployments: Vec<&str> = cell
        .plan
        .deployments()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    if let Some(first) = deployments.first() {
        set("AZURE_OPENAI_DEPLOYMENT_NAME", first.to_string());
    }
    match &cell.plan {
        FeaturePlan::Embeddings { deployment, .. }
        | FeaturePlan::RawResponse {
            embedding_deployment: deployment,
            ..
        }
        | FeaturePlan::Async {
            embedding_deployment: deployment,
            ..
        } => set("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", deployment.name.clone()),
        _ => {}
    }
    set("AZURE_OPENAI_DEPLOYMENT_NAMES", deployments.join(","));
    if let Some(proxy) = &ctx.proxy {
        for var in ["HTTP_PROXY", "http_proxy"] {
            set(var, proxy.clone());
        }
    }
    let no_proxy = super::no_proxy_with_loopback();
    set("NO_PROXY", no_proxy.clone());
    set("no_proxy", no_proxy);
    set("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint());
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string());
    set(
        "OTEL_RESOURCE_ATTRIBUTES",
        format!("hh_compat.cell={}", cell.id),
    );
    set("OTEL_TRACES_EXPORTER", "otlp".to_string());
    set("HH_COMPAT_CELL", cell.id.clone());
    set("HH_COMPAT_STYLE", cell.style.to_string());
    set("HH_COMPAT_FEATURE", cell.feature.to_string());
    // The feature's parameters, so a script can make the calls the matrix describes:
    // the prompt on its own, and the whole plan as JSON (deployments, the errors
    // feature's missing deployment, inputs, tools…).
    if let Some(prompt) = plan_prompt(&cell.plan) {
        set("HH_COMPAT_PROMPT", prompt.to_string());
    }
    if let Ok(plan) = serde_json::to_string(&cell.plan) {
        set("HH_COMPAT_PLAN", plan);
    }
    env
}

/// The prompt of a feature that sends one.
fn plan_prompt(plan: &FeaturePlan) -> Option<&str> {
    match plan {
        FeaturePlan::Embeddings { .. } => None,
        FeaturePlan::Chat { prompt, .. }
        | FeaturePlan::Streaming { prompt, .. }
        | FeaturePlan::MultiDeployment { prompt, .. }
        | FeaturePlan::Errors { prompt, .. }
        | FeaturePlan::Enrichment { prompt, .. }
        | FeaturePlan::Tools { prompt, .. }
        | FeaturePlan::StreamAbandoned { prompt, .. }
        | FeaturePlan::StructuredOutput { prompt, .. }
        | FeaturePlan::Responses { prompt, .. }
        | FeaturePlan::RawResponse { prompt, .. }
        | FeaturePlan::Async { prompt, .. } => Some(prompt.as_str()),
    }
}

/// Runs the program for one cell and collects the spans it exported.
pub(crate) async fn run(
    ctx: &DriverContext,
    receiver: &OtlpReceiver,
    options: &CommandOptions,
    env: Option<&CommandEnv>,
    cell: &Cell,
) -> DriverRun {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", &options.command]);
    if let Some(env) = env {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![env.dir.join("bin")];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            cmd.env("PATH", joined);
        }
        cmd.env("VIRTUAL_ENV", &env.dir).env_remove("PYTHONHOME");
    }
    if ctx.proxy.is_some() {
        // Offline, a proxy inherited from the environment must not take the calls
        // anywhere but the replica.
        for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            cmd.env_remove(var);
        }
    }
    for (k, v) in environment(ctx, receiver, cell) {
        cmd.env(k, v);
    }
    let limits = crate::process::Limits {
        timeout: options.timeout,
        stdout: OUTPUT_KEPT,
        stderr: OUTPUT_KEPT,
    };
    let output = match crate::process::run(cmd, None, limits).await {
        Ok(output) => output,
        Err(e) => {
            return DriverRun::failed(
                Vec::new(),
                DriverError::Setup(format!("could not start `sh -c {}`: {e}", options.command)),
            )
        }
    };
    let clean = |captured: &crate::process::Captured| {
        super::redact(captured.text().trim(), ctx.credential.secret())
    };
    let Some(status) = output.status else {
        let spans = receiver.take_cell(&cell.id);
        return DriverRun::failed(
            spans,
            DriverError::Timeout(format!(
                "the command did not finish within {}s (--timeout); it and every process it \
                 started were killed",
                options.timeout.as_secs()
            )),
        );
    };
    let spans = receiver
        .wait_for_spans(&cell.id, 1, options.span_wait)
        .await;
    let mut run = DriverRun::new(spans);
    if let Some(env) = env {
        run.versions.extend(env.versions.clone());
    }
    run.versions
        .insert("command".into(), options.command.clone());
    let stderr = clean(&output.stderr);
    if !status.success() {
        // The program is the app under test: its crash is evidence, not infrastructure.
        run.error = Some(DriverError::Call(super::AppError::new(
            None,
            format!(
                "the command exited with {}; stderr: {}",
                status,
                if stderr.is_empty() {
                    "(empty)"
                } else {
                    &stderr
                }
            ),
        )));
    } else if !stderr.is_empty() {
        run.notes.push(format!("stderr: {stderr}"));
    }
    if run.spans.is_empty() {
        let stray = receiver.unattributed().len();
        if stray > 0 {
            run.notes.push(format!(
                "{stray} span(s) arrived without the `hh_compat.cell` resource attribute: does the program replace OTEL_RESOURCE_ATTRIBUTES or build its own Resource without it?"
            ));
        }
    }
    run
}
