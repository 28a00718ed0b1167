//! What the end-to-end tests of the live, record, replay and command paths share:
//! `hh-compat replica serve` posing as Azure in its own process, the binary run with a
//! controlled environment, and readers for the results it writes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_hh-compat");
/// Secrets that must never be written or printed by the harness.
pub const CANARY_KEY: &str = "canary-key-7f3a91c2e5";
pub const CANARY_TOKEN: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiI3ZjNhOTEifQ.c2lnLWNhbmFyeS03ZjNhOTE";

/// `hh-compat replica serve` in its own process, killed on drop.
pub struct FakeAzure {
    child: Child,
    pub url: String,
}

impl FakeAzure {
    pub fn start(deployments: &[&str], faults: &[&str]) -> FakeAzure {
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
    pub fn standard(faults: &[&str]) -> FakeAzure {
        FakeAzure::start(
            &[
                "prod-4o=gpt-4o-2024-08-06",
                "prod-mini=gpt-4o-mini-2024-07-18",
                "prod-embed=text-embedding-3-small",
                "flaky-4o=gpt-4o-2024-08-06",
                "down-4o=gpt-4o-2024-08-06",
                "filter-4o=gpt-4o-2024-08-06",
            ],
            &[&["filter-4o=async_filter"][..], faults].concat(),
        )
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-compat-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn matrix() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("matrix/azure-openai.yaml")
        .display()
        .to_string()
}

/// The variables of a complete live configuration (key auth) for `azure`.
pub fn live_env(azure: &FakeAzure) -> BTreeMap<&'static str, String> {
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
        (
            "AZURE_OPENAI_ASYNC_FILTER_DEPLOYMENT_NAME",
            "filter-4o".to_string(),
        ),
    ])
}

/// Runs the binary in `cwd` with exactly `env`, no inherited AZURE_*: only what finding
/// programs and reaching the package index need is kept (PATH, HOME, caches, and the
/// machine's TLS and index settings, which uv reads from the environment rather than
/// from pip's configuration files).
pub fn hh(cwd: &Path, env: &BTreeMap<&str, String>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env_clear();
    for (key, value) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let kept = matches!(
            name,
            "PATH"
                | "HOME"
                | "TMPDIR"
                | "XDG_CACHE_HOME"
                | "HH_COMPAT_CACHE_DIR"
                | "SSL_CERT_FILE"
                | "SSL_CERT_DIR"
                | "REQUESTS_CA_BUNDLE"
        ) || name.starts_with("PIP_")
            || name.starts_with("UV_");
        if kept {
            cmd.env(key, value);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn results(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("results written");
    serde_json::from_str(&text).expect("results are JSON")
}

pub fn cell<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["cells"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no cell {id} in {results:#}"))
}

pub fn findings(cell: &serde_json::Value) -> Vec<String> {
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
pub fn assert_no_leak(dir: &Path, output: &Output, secrets: &[&str]) {
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

/// The interpreter of the python driver's `latest` environment for `style` (built by
/// `hh-compat drivers setup` if needed): it has the real `openai` SDK, the style's real
/// instrumentor and the OTLP exporter — what a customer's script needs.
pub fn driver_python(style: &str) -> PathBuf {
    let out = Command::new(BIN)
        .args([
            "drivers",
            "setup",
            "--style",
            style,
            "--version-set",
            "latest",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("drivers setup runs");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "drivers setup failed:\n{stdout}{}",
        text(&out.stderr)
    );
    let dir = stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(&format!("{style}@latest: "))?;
            rest.split_once(' ')
                .map(|(_, path)| path.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no environment path in:\n{stdout}"));
    PathBuf::from(dir).join("bin/python")
}

/// The customer-style script shipped as the repro example.
pub fn repro_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/repro/stream_chat.py")
        .display()
        .to_string()
}

/// The results file the `run_json` helpers write, in the test's directory.
pub const RESULTS: &str = "results.json";

/// Runs `hh-compat ARGS --matrix <shipped> --format json --out results.json` in `dir`,
/// asserts the exit code, and returns the output and the results written.
pub fn run_json(
    dir: &Path,
    env: &BTreeMap<&str, String>,
    args: &[&str],
    exit: i32,
) -> (Output, serde_json::Value) {
    let matrix = matrix();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--matrix", &matrix, "--format", "json", "--out", RESULTS]);
    let out = hh(dir, env, &all);
    assert_eq!(
        out.status.code(),
        Some(exit),
        "hh-compat {}\n{}{}",
        all.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    let results = results(&dir.join(RESULTS));
    (out, results)
}

/// `live_env` with a Microsoft Entra ID token (the canary) instead of the key.
pub fn entra_env(azure: &FakeAzure) -> BTreeMap<&'static str, String> {
    let mut env = live_env(azure);
    env.remove("AZURE_OPENAI_API_KEY");
    env.insert("AZURE_OPENAI_AD_TOKEN", CANARY_TOKEN.to_string());
    env
}

/// What each failed assertion of a cell was about, e.g. "attribute `server.address`".
pub fn failure_subjects(cell: &serde_json::Value) -> Vec<String> {
    cell["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|f| f["kind"] == "failure")
                .filter_map(|f| f["subject"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
