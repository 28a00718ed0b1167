//! `run --target live` end to end, with `hh-compat replica serve` posing as Azure.
//!
//! Nothing here reaches Azure: the "live" resource is the replica in its own process,
//! reached the way an app behind a corporate proxy reaches Azure — the endpoint keeps
//! the Azure host name and `HTTP_PROXY` delivers the calls. To the harness this is a
//! live run: no embedded replica, the environment's variables, live retries.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_hh-compat");
/// Secrets that must never be written or printed by the harness.
const CANARY_KEY: &str = "canary-key-7f3a91c2e5";
const CANARY_TOKEN: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiI3ZjNhOTEifQ.c2lnLWNhbmFyeS03ZjNhOTE";

/// `hh-compat replica serve` in its own process, killed on drop.
struct FakeAzure {
    child: Child,
    url: String,
}

impl FakeAzure {
    fn start(deployments: &[&str], faults: &[&str]) -> FakeAzure {
        let mut cmd = Command::new(BIN);
        cmd.args(["replica", "serve"])
            .env("HH_COMPAT_REPLICA_API_KEY", CANARY_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for d in deployments {
            cmd.args(["--deployment", d]);
        }
        for f in faults {
            cmd.args(["--fault", f]);
        }
        let mut child = cmd.spawn().expect("replica serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut url = String::new();
        reader
            .read_line(&mut url)
            .expect("the first line is the URL");
        // Keep reading: a closed pipe would kill the server at its next line.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        FakeAzure {
            child,
            url: url.trim().to_string(),
        }
    }

    /// The standard deployment set: the three the shipped matrix's live section needs.
    fn standard(faults: &[&str]) -> FakeAzure {
        FakeAzure::start(
            &[
                "prod-4o=gpt-4o-2024-08-06",
                "prod-mini=gpt-4o-mini-2024-07-18",
                "prod-embed=text-embedding-3-small",
                "flaky-4o=gpt-4o-2024-08-06",
                "down-4o=gpt-4o-2024-08-06",
            ],
            faults,
        )
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-compat-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn matrix() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("matrix/azure-openai.yaml")
        .display()
        .to_string()
}

/// The variables of a complete live configuration (key auth) for `azure`.
fn live_env(azure: &FakeAzure) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("HTTP_PROXY", azure.url.clone()),
        (
            "AZURE_OPENAI_ENDPOINT",
            "http://contoso.openai.azure.com/".to_string(),
        ),
        ("AZURE_OPENAI_API_KEY", CANARY_KEY.to_string()),
        ("AZURE_OPENAI_DEPLOYMENT_NAME", "prod-4o".to_string()),
        (
            "AZURE_OPENAI_SECOND_DEPLOYMENT_NAME",
            "prod-mini".to_string(),
        ),
        (
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
            "prod-embed".to_string(),
        ),
    ])
}

/// Runs the binary in `cwd` with exactly `env` (plus PATH/HOME), no inherited AZURE_*.
fn hh(cwd: &Path, env: &BTreeMap<&str, String>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env_clear();
    for keep in [
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_CACHE_HOME",
        "HH_COMPAT_CACHE_DIR",
    ] {
        if let Ok(v) = std::env::var(keep) {
            cmd.env(keep, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn results(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("results written");
    serde_json::from_str(&text).expect("results are JSON")
}

fn cell<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["cells"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no cell {id} in {results:#}"))
}

fn findings(cell: &serde_json::Value) -> Vec<String> {
    cell["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| f["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Every file under `dir` and both output streams are free of `secrets`.
fn assert_no_leak(dir: &Path, output: &Output, secrets: &[&str]) {
    let mut texts = vec![
        ("stdout".to_string(), text(&output.stdout)),
        ("stderr".to_string(), text(&output.stderr)),
    ];
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_file() && entry.file_name() != ".env" {
            let content = std::fs::read(entry.path()).expect("read");
            texts.push((entry.path().display().to_string(), text(&content)));
        }
    }
    for (name, content) in &texts {
        for secret in secrets {
            assert!(
                !content.contains(secret),
                "{name} leaks a secret:\n{content}"
            );
        }
    }
}

#[test]
fn a_live_run_passes_every_rust_cell_and_leaks_no_key() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("success");
    let out = hh(
        &dir,
        &live_env(&azure),
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--format",
            "json",
            "--out",
            "results.json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = results(&dir.join("results.json"));
    assert_eq!(r["target"], "live");
    let cells = r["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 18, "{r:#}");
    for c in cells {
        assert_eq!(c["status"], "pass", "{c:#}");
    }
    // The live names went out, and the spans name the live resource.
    let chat = cell(&r, "azure-openai/traceloop/chat/rust");
    let span = &chat["spans"][0];
    assert_eq!(span["attributes"]["gen_ai.request.model"], "prod-4o");
    assert_eq!(
        span["attributes"]["server.address"],
        "contoso.openai.azure.com"
    );
    // Also the other formats: nothing in them may carry the key.
    let junit = hh(
        &dir,
        &live_env(&azure),
        &[
            "report",
            "results.json",
            "--format",
            "junit",
            "--out",
            "junit.xml",
        ],
    );
    assert!(junit.status.success(), "{}", text(&junit.stderr));
    let md = hh(
        &dir,
        &live_env(&azure),
        &[
            "report",
            "results.json",
            "--format",
            "markdown",
            "--out",
            "report.md",
        ],
    );
    assert!(md.status.success(), "{}", text(&md.stderr));
    assert_no_leak(&dir, &out, &[CANARY_KEY]);
}

#[test]
fn missing_variables_are_all_named_before_any_call() {
    let dir = temp_dir("missing");
    let env = BTreeMap::from([("AZURE_OPENAI_DEPLOYMENT_NAME", "prod-4o".to_string())]);
    let out = hh(
        &dir,
        &env,
        &["run", "--target", "live", "--matrix", &matrix()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for var in [
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN or AZURE_OPENAI_AD_TOKEN_COMMAND",
        "AZURE_OPENAI_SECOND_DEPLOYMENT_NAME",
        "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
    ] {
        assert!(stderr.contains(var), "{var} not named in:\n{stderr}");
    }
    assert!(
        !stderr.contains("\n  AZURE_OPENAI_DEPLOYMENT_NAME\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        text(&out.stdout).is_empty(),
        "nothing ran: {}",
        text(&out.stdout)
    );
}

#[test]
fn a_deployment_that_rate_limits_twice_passes_with_the_retries_in_its_findings() {
    let azure = FakeAzure::standard(&["flaky-4o=rate_limit,times=2,retry_after_ms=30"]);
    let dir = temp_dir("flaky");
    let mut env = live_env(&azure);
    env.insert("AZURE_OPENAI_DEPLOYMENT_NAME", "flaky-4o".to_string());
    let out = hh(
        &dir,
        &env,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--style",
            "traceloop",
            "--feature",
            "chat",
            "--format",
            "json",
            "--out",
            "results.json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = results(&dir.join("results.json"));
    let c = cell(&r, "azure-openai/traceloop/chat/rust");
    assert_eq!(c["status"], "pass", "{c:#}");
    let retries: Vec<String> = findings(c)
        .into_iter()
        .filter(|m| m.starts_with("retried after 30 ms: HTTP 429"))
        .collect();
    assert_eq!(retries.len(), 2, "{c:#}");
    assert!(
        retries.iter().all(|m| m.contains("apim-request-id=")),
        "{retries:?}"
    );
}

#[test]
fn a_deployment_that_is_always_down_is_an_error_with_request_ids_and_exit_3() {
    let azure = FakeAzure::standard(&["down-4o=service_unavailable,retry_after_ms=10"]);
    let dir = temp_dir("down");
    let mut env = live_env(&azure);
    env.insert("AZURE_OPENAI_DEPLOYMENT_NAME", "down-4o".to_string());
    let out = hh(
        &dir,
        &env,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--style",
            "openinference",
            "--feature",
            "chat",
            "--format",
            "json",
            "--out",
            "results.json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = results(&dir.join("results.json"));
    let c = cell(&r, "azure-openai/openinference/chat/rust");
    assert_eq!(c["status"], "error", "{c:#}");
    let first = &c["findings"][0];
    assert_eq!(first["kind"], "error", "{c:#}");
    let message = first["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("HTTP 503 (ServiceUnavailable)"),
        "{message}"
    );
    assert!(message.contains("apim-request-id="), "{message}");
    // Infrastructure, not incompatibility: no assertion failures are reported.
    assert!(
        c["findings"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["kind"] != "failure")),
        "{c:#}"
    );
    let retried = findings(c)
        .iter()
        .filter(|m| m.starts_with("retried after 10 ms: HTTP 503"))
        .count();
    assert_eq!(retried, 4, "the live policy retries four times: {c:#}");
}

#[test]
fn an_entra_token_from_a_dotenv_file_authenticates_and_never_leaks() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("entra");
    let mut env = live_env(&azure);
    env.remove("AZURE_OPENAI_API_KEY");
    // Everything but the proxy comes from .env, as a nightly job's secret file would.
    let mut dotenv = String::from("# live settings\n");
    for (k, v) in &env {
        if *k != "HTTP_PROXY" {
            dotenv.push_str(&format!("{k}={v}\n"));
        }
    }
    dotenv.push_str(&format!("AZURE_OPENAI_AD_TOKEN=\"{CANARY_TOKEN}\"\n"));
    std::fs::write(dir.join(".env"), dotenv).expect("write .env");
    let proxy_only = BTreeMap::from([("HTTP_PROXY", azure.url.clone())]);
    let out = hh(
        &dir,
        &proxy_only,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--feature",
            "chat",
            "--feature",
            "embeddings",
            "--format",
            "json",
            "--out",
            "results.json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = results(&dir.join("results.json"));
    assert_eq!(r["cells"].as_array().map(Vec::len), Some(6));
    assert_no_leak(&dir, &out, &[CANARY_TOKEN, CANARY_KEY]);
}

#[test]
fn a_token_command_provides_the_token() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("token-command");
    let mut env = live_env(&azure);
    env.remove("AZURE_OPENAI_API_KEY");
    env.insert(
        "AZURE_OPENAI_AD_TOKEN_COMMAND",
        format!("printf '%s\\n' {CANARY_TOKEN}"),
    );
    let out = hh(
        &dir,
        &env,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--style",
            "otel-genai",
            "--feature",
            "chat",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_no_leak(&dir, &out, &[CANARY_TOKEN, CANARY_KEY]);

    env.insert(
        "AZURE_OPENAI_AD_TOKEN_COMMAND",
        "echo 'az: not logged in' >&2; exit 1".to_string(),
    );
    let out = hh(
        &dir,
        &env,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--feature",
            "chat",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("az: not logged in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_refused_key_is_an_infrastructure_error_not_an_incompatibility() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("wrong-key");
    let mut env = live_env(&azure);
    env.insert("AZURE_OPENAI_API_KEY", "not-the-key".to_string());
    let out = hh(
        &dir,
        &env,
        &[
            "run",
            "--target",
            "live",
            "--matrix",
            &matrix(),
            "--style",
            "openinference",
            "--feature",
            "chat",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("refused the credential"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stdout).contains("not-the-key"),
        "{}",
        text(&out.stdout)
    );
}
