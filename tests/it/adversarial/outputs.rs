//! What the tool writes and prints: nothing the user owns is deleted, a failed write
//! loses neither the old file nor the run, secrets never reach any output, and bad
//! numbers or closed pipes give clean exits instead of panics.

use crate::live_support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// Every file under `dir` (recursively) as (path, bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(tree(&path));
        } else {
            out.insert(
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            );
        }
    }
    out
}

#[test]
fn record_refuses_a_directory_it_did_not_write_and_touches_nothing() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("record-foreign");
    let project = dir.join("project");
    std::fs::create_dir_all(project.join("matrix")).expect("mkdir");
    std::fs::write(project.join("docker-compose.yaml"), "services: {}\n").expect("write");
    std::fs::copy(matrix(), project.join("matrix/azure-openai.yaml")).expect("copy");
    let before = tree(&project);
    for target in [".", "matrix"] {
        let out = hh(
            &project,
            &live_env(&azure),
            &["record", target, "--feature", "chat", "--matrix", &matrix()],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "record {target}: {stderr}");
        assert!(stderr.contains("--force"), "{stderr}");
        assert_eq!(tree(&project), before, "record {target} changed files");
    }
}

#[test]
fn re_recording_one_feature_keeps_the_others_and_the_users_files() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("record-again");
    let both = [
        "record",
        "set",
        "--feature",
        "chat",
        "--feature",
        "embeddings",
    ];
    run_json(&dir, &live_env(&azure), &both, 0);
    std::fs::write(dir.join("set/NOTES.md"), "the customer's case\n").expect("notes");
    let embeddings: Vec<String> = tree(&dir.join("set"))
        .into_keys()
        .filter(|p| p.contains("embeddings"))
        .collect();
    assert!(!embeddings.is_empty());

    let again = ["record", "set", "--feature", "chat"];
    run_json(&dir, &live_env(&azure), &again, 0);
    let after = tree(&dir.join("set"));
    for p in &embeddings {
        assert!(after.contains_key(p), "{p} was removed");
    }
    assert!(after.keys().any(|p| p.ends_with("NOTES.md")));

    // The set still replays both features.
    let replay = [
        "run",
        "--fixtures",
        "set",
        "--feature",
        "chat",
        "--feature",
        "embeddings",
    ];
    let (_, r) = run_json(&dir, &BTreeMap::new(), &replay, 0);
    assert_eq!(r["summary"]["pass"], 6, "{:#}", r["summary"]);
}

#[test]
fn an_unwritable_out_keeps_the_table_the_old_file_and_both_exit_meanings() {
    let dir = temp_dir("out-fails");
    // A non-empty directory where the results file should go: the rename must fail.
    std::fs::create_dir_all(dir.join("results.json/keep")).expect("mkdir");
    let m = matrix();
    let args = [
        "run",
        "--matrix",
        &m,
        "--feature",
        "chat",
        "--format",
        "json",
        "--out",
        "results.json",
    ];
    let out = hh(&dir, &BTreeMap::new(), &args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stdout.contains("azure-openai"),
        "the table still prints: {stdout}"
    );
    assert!(stderr.contains("could not be written"), "{stderr}");
    assert!(dir.join("results.json/keep").is_dir(), "nothing replaced");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".hh-compat-tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_runs_exit_code() {
    let m = matrix();
    let mut child = Command::new(BIN)
        .args(["run", "--matrix", &m, "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn out_of_range_numbers_are_usage_errors() {
    let dir = temp_dir("numbers");
    for args in [
        &["run", "--jobs", "2305843009213693952"][..],
        &["run", "--jobs", "0"],
        &["run", "--timeout", "0"],
        &["record", "x", "--timeout", "0"],
    ] {
        let out = hh(&dir, &BTreeMap::new(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("is not in"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_dotenv_given_as_the_matrix_is_not_echoed() {
    let dir = temp_dir("dotenv-matrix");
    let secret = "AZURE_OPENAI_API_KEY=canary-dotenv-0123456789";
    std::fs::write(
        dir.join(".env"),
        format!("AZURE_OPENAI_ENDPOINT=x\n{secret}\n"),
    )
    .expect(".env");
    let out = hh(&dir, &BTreeMap::new(), &["run", "--matrix", ".env"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(".env:"), "located: {stderr}");
    assert!(!stderr.contains("canary-dotenv"), "{stderr}");
}

/// A customer-style program that records its key everywhere it can: in a span attribute
/// (exported to the harness's OTLP receiver as JSON), on stderr, and on stdout.
const LEAKY_APP: &str = r#"
import json, os, sys, urllib.request
key = os.environ["AZURE_OPENAI_API_KEY"]
resource = [
    {"key": k, "value": {"stringValue": v}}
    for k, v in (kv.split("=", 1) for kv in os.environ["OTEL_RESOURCE_ATTRIBUTES"].split(","))
]
span = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "name": "ChatCompletion",
    "kind": 3,
    "startTimeUnixNano": "1700000000000000000",
    "endTimeUnixNano": "1700000001000000000",
    "attributes": [
        {"key": "app.debug.api_key", "value": {"stringValue": key}},
        {"key": "http.request.header.authorization", "value": {"stringValue": "Bearer " + key}},
    ],
}
body = {"resourceSpans": [{"resource": {"attributes": resource},
        "scopeSpans": [{"scope": {"name": "customer-app"}, "spans": [span]}]}]}
request = urllib.request.Request(
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces",
    data=json.dumps(body).encode(), headers={"content-type": "application/json"})
urllib.request.urlopen(request, timeout=10).read()
print("using key " + key)
print("AZURE_OPENAI_API_KEY=" + key, file=sys.stderr)
sys.exit(1)
"#;

#[test]
fn canary_secrets_reach_no_output_of_a_run() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("canary");
    std::fs::write(dir.join("leaky_app.py"), LEAKY_APP).expect("app");
    // The secret is on the command line too, as customers' repro commands have it.
    let command = format!("KEY_COPY={CANARY_KEY} python3 leaky_app.py");
    let args = [
        "run",
        "--target",
        "live",
        "--command",
        &command,
        "--style",
        "openinference",
        "--feature",
        "chat",
    ];
    let (out, results) = run_json(&dir, &live_env(&azure), &args, 1);
    // The app's span did arrive: the redaction happened on real evidence.
    let cell = &results["cells"][0];
    let attrs = &cell["spans"][0]["attributes"];
    assert_eq!(attrs["app.debug.api_key"], "[REDACTED]", "{cell:#}");
    assert_no_leak(&dir, &out, &[CANARY_KEY]);
    for format in ["junit", "markdown", "table"] {
        let file = format!("report.{format}");
        let out = hh(
            &dir,
            &BTreeMap::new(),
            &["report", RESULTS, "--format", format, "--out", &file],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert_no_leak(&dir, &out, &[CANARY_KEY]);
    }
}
