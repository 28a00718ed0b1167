//! `hh-compat record` and `run --fixtures` end to end: recording from the replica
//! posing as a live resource, replaying offline, the shipped cassette sets, and the
//! customer-repro workflow with `--driver command`.

use crate::live_support::*;
use std::collections::BTreeMap;
use std::path::Path;

fn fixtures(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// No variable at all: replay needs none.
fn offline() -> BTreeMap<&'static str, String> {
    BTreeMap::new()
}

/// Status, findings and spans of every cell, for comparing two runs.
fn outcome(results: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    results["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap_or_default().to_string();
            (
                id,
                serde_json::json!([c["status"], c["findings"], c["spans"]]),
            )
        })
        .collect()
}

#[test]
fn record_then_replay_gives_the_live_runs_results_and_spans() {
    // Every cell's first call to the chat deployment is rate limited once, so the
    // recording holds 429s and the replay must retry exactly as the live run did.
    let fault = "prod-4o=rate_limit,times=1,retry_after_ms=20";
    let dir = temp_dir("record");

    // Fault counters are per cell, so each run gets a fresh "live" resource.
    let azure = FakeAzure::standard(&[fault]);
    let live_args = ["run", "--target", "live", "--jobs", "1", "--stable"];
    let (_, live) = run_json(&dir, &live_env(&azure), &live_args, 0);
    let azure = FakeAzure::standard(&[fault]);
    let record_args = ["record", "cassettes", "--jobs", "1"];
    let (recorded, _) = run_json(&dir, &live_env(&azure), &record_args, 0);
    let stderr = text(&recorded.stderr);
    // 42 cassettes (45 rust cells less the 3 raw-response ones async-openai skips) and
    // the set's cassette.yaml.
    assert!(stderr.contains("recorded 43 file(s)"), "{stderr}");

    // Offline: no proxy, no variables, and the "live" resource gone.
    drop(azure);
    let replay_args = ["run", "--fixtures", "cassettes", "--jobs", "1", "--stable"];
    let (replayed, replay) = run_json(&dir, &offline(), &replay_args, 0);
    assert_eq!(replay["target"], "replay");
    let (live_cells, replay_cells) = (outcome(&live), outcome(&replay));
    assert_eq!(live_cells.len(), replay_cells.len());
    for ((id, a), (_, b)) in live_cells.iter().zip(&replay_cells) {
        assert!(
            a == b,
            "{id} differs:\nlive:   {:#}\nreplay: {:#}",
            a[1],
            b[1]
        );
    }
    let chat = cell(&replay, "azure-openai/openinference/chat/rust");
    assert!(
        findings(chat)
            .iter()
            .any(|m| m.starts_with("retried after 20 ms: HTTP 429")),
        "the recorded 429 replays: {chat:#}"
    );
    assert_no_leak(&dir.join("cassettes"), &replayed, &[CANARY_KEY]);
    assert_no_leak(&dir, &recorded, &[CANARY_KEY]);
}

#[test]
fn recording_with_an_entra_token_and_an_anonymized_host_writes_neither() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("record-token");
    let features = ["--feature", "chat", "--feature", "errors"];
    let record = [&["record", "cassettes", "--anonymize-host"][..], &features].concat();
    let (out, _) = run_json(&dir, &entra_env(&azure), &record, 0);
    assert_no_leak(&dir.join("cassettes"), &out, &[CANARY_TOKEN, "contoso"]);
    let meta = std::fs::read_to_string(dir.join("cassettes/cassette.yaml")).expect("meta");
    assert!(
        meta.contains("host: anonymized-resource.openai.azure.com"),
        "{meta}"
    );

    // The anonymized set replays on its own: the spans name the placeholder host.
    let replay = [&["run", "--fixtures", "cassettes"][..], &features].concat();
    let (_, r) = run_json(&dir, &offline(), &replay, 0);
    let c = cell(&r, "azure-openai/otel-genai/chat/rust");
    assert_eq!(
        c["spans"][0]["attributes"]["server.address"],
        "anonymized-resource.openai.azure.com"
    );
}

#[test]
fn the_shipped_recorded_set_replays_every_cell() {
    let dir = temp_dir("shipped");
    let set = fixtures("replica-as-live");
    let mut args = vec![
        "run",
        "--fixtures",
        &set,
        "--driver",
        "rust",
        "--driver",
        "python",
        "--version-set",
        "latest",
        // The recorded set holds the lab's wiring; setups run the same calls.
        "--setup",
        "instrumentor",
    ];
    // The features the set was recorded with (the later ones have no cassettes in it).
    for feature in [
        "chat",
        "streaming",
        "streaming-usage",
        "streaming-async-filter",
        "embeddings",
        "multi-deployment",
        "errors",
    ] {
        args.extend(["--feature", feature]);
    }
    let (_, r) = run_json(&dir, &offline(), &args, 0);
    let cells = r["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 42);
    for c in cells {
        // Rust cells pass but for async-openai's known issue; the real packages show
        // exactly their known issues.
        let rust = c["driver"] == "rust" && c["feature"] != "streaming-async-filter";
        assert_eq!(c["status"], if rust { "pass" } else { "xfail" }, "{c:#}");
        assert!(!c["spans"].as_array().is_none_or(Vec::is_empty), "{c:#}");
    }
    // The recorded deployment names went out (the set's cassette.yaml aims the matrix).
    let chat = cell(&r, "azure-openai/traceloop/chat/rust");
    assert_eq!(
        chat["spans"][0]["attributes"]["gen_ai.request.model"],
        "prod-gpt-4o"
    );
}

#[test]
fn a_request_the_cassettes_do_not_hold_is_an_error_naming_the_closest_exchange() {
    let dir = temp_dir("miss");
    // The quirk set holds one streamed chat; a non-streamed chat is not in it.
    let set = fixtures("azure-quirks");
    let args = [
        "run",
        "--fixtures",
        &set,
        "--style",
        "openinference",
        "--feature",
        "chat",
    ];
    let (_, r) = run_json(&dir, &offline(), &args, 3);
    let c = cell(&r, "azure-openai/openinference/chat/rust");
    assert_eq!(c["status"], "error", "{c:#}");
    let first = findings(c).remove(0);
    assert!(first.contains("replay:"), "{first}");
    assert!(
        first.contains("async-filter-stream.yaml:"),
        "names the closest exchange: {first}"
    );
}

#[test]
fn broken_cassettes_exit_2_with_file_and_line() {
    let dir = temp_dir("broken");
    let set = dir.join("set");
    std::fs::create_dir_all(&set).expect("dir");
    std::fs::write(
        set.join("bad.yaml"),
        "exchanges:\n- request:\n    path: /openai/deployments/gpt-4o/chat/completions\n    body: {messages: [\n",
    )
    .expect("write");
    for (args, says) in [
        (["run", "--fixtures", "set"], "bad.yaml:"),
        (["run", "--target", "replay"], "--fixtures"),
    ] {
        let out = hh(
            &dir,
            &offline(),
            &[&args[..], &["--matrix", &matrix()]].concat(),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The Azure quirk: delta-less content-filter annotation chunks and a trailing chunk
/// whose `model` is "". What each real client and instrumentor makes of it.
/// The `streaming` cells of the rust driver and the `latest` set, replayed from a shipped
/// cassette set; the run must exit with `exit`.
fn replay_streaming(set: &str, exit: i32) -> serde_json::Value {
    let dir = temp_dir(set);
    let set = fixtures(set);
    let args = [
        "run",
        "--fixtures",
        &set,
        "--feature",
        "streaming",
        "--driver",
        "rust",
        "--driver",
        "python",
        "--version-set",
        "latest",
    ];
    run_json(&dir, &offline(), &args, exit).1
}

#[test]
fn the_azure_quirk_cassette_shows_what_each_app_makes_of_the_annotation_chunks() {
    let r = replay_streaming("azure-quirks", 1);
    // async-openai 0.43 requires `delta` in every choice: the stream errors out.
    let rust = cell(&r, "azure-openai/traceloop/streaming/rust");
    assert_eq!(rust["status"], "fail");
    assert!(
        findings(rust)[0].contains("missing field `delta`"),
        "{rust:#}"
    );
    // The real instrumentors keep the last chunk's empty model: the response model is lost.
    for (id, attribute) in [
        ("openinference", "attribute `llm.model_name`"),
        ("traceloop", "attribute `gen_ai.response.model`"),
    ] {
        let c = cell(&r, &format!("azure-openai/{id}/streaming/python@latest"));
        assert!(failure_subjects(c).iter().any(|s| s == attribute), "{c:#}");
    }
    // The official instrumentor is unaffected: only its usual known issues.
    let otel = cell(&r, "azure-openai/otel-genai/streaming/python@latest");
    assert_eq!(otel["status"], "xfail", "{otel:#}");
}

/// Valid but unusual stream shapes (explicit nulls in deltas, an empty `choices` chunk in
/// the middle, fields no SDK knows) go through the reference app and every real
/// instrumentor without crashing anything: each cell is judged on its spans, and the
/// answer the apps reassembled is the one the instrumentors recorded.
#[test]
fn unusual_stream_shapes_are_judged_not_crashed_on() {
    let r = replay_streaming("odd-streams", 0);
    let cells = r["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 6);
    for c in cells {
        let status = c["status"].as_str().unwrap_or_default();
        assert!(matches!(status, "pass" | "xfail"), "{c:#}");
        assert!(!c["spans"].as_array().expect("spans").is_empty(), "{c:#}");
        // The content checks compared the recorded answer with "1, 2, 3" and held.
        let about_output = (c["findings"].as_array().into_iter().flatten())
            .filter_map(|f| f["subject"].as_str())
            .any(|s| s.contains("output"));
        assert!(!about_output, "{c:#}");
    }
}

/// README "Reproducing a customer's bug", step by step: the customer's own script
/// replayed against a hand-written cassette and judged by a feature's expectations.
#[test]
fn a_customers_script_reproduces_the_quirk_offline() {
    let dir = temp_dir("repro");
    let set = fixtures("azure-quirks");
    let command = format!(
        "{} {}",
        driver_python("traceloop").display(),
        repro_script()
    );
    let args = [
        "run",
        "--fixtures",
        &set,
        "--command",
        &command,
        "--style",
        "traceloop",
        "--feature",
        "streaming",
    ];
    let (_, r) = run_json(&dir, &offline(), &args, 1);
    let c = cell(&r, "azure-openai/traceloop/streaming/command");
    assert_eq!(
        failure_subjects(c),
        [
            "attribute `gen_ai.response.model`",
            "attribute `server.address`"
        ],
        "{c:#}"
    );
    // The script's one request was answered from the cassette and attributed to the cell.
    assert_eq!(c["requests"].as_array().map(Vec::len), Some(1), "{c:#}");
}

#[test]
fn a_customer_script_runs_in_the_pinned_environment_and_records_what_ran() {
    let dir = temp_dir("repro-with");
    let set = fixtures("azure-quirks");
    // `python` is the pinned environment's interpreter: the system one has no packages.
    let command = format!("python {}", repro_script());
    let run = |extra: &[&str], exit| {
        let mut args = vec![
            "run",
            "--fixtures",
            &set,
            "--command",
            &command,
            "--style",
            "traceloop",
            "--feature",
            "streaming",
        ];
        args.extend(extra);
        run_json(&dir, &offline(), &args, exit).1
    };
    // The version set's own pins (the same environment the python driver caches).
    let r = run(&["--version-set", "openai-v1"], 1);
    let c = cell(&r, "azure-openai/traceloop/streaming/command");
    assert_eq!(c["versions"]["openai"], "1.109.1", "{c:#}");
    assert_eq!(
        c["versions"]["opentelemetry-instrumentation-openai"], "0.47.5",
        "{c:#}"
    );
    assert!(c["versions"]["python"].is_string(), "{c:#}");
    // The customer's exact pin replaces the set's, and the cell says what ran.
    let r = run(
        &["--version-set", "openai-v1", "--with", "openai==1.108.2"],
        1,
    );
    let c = cell(&r, "azure-openai/traceloop/streaming/command");
    assert_eq!(c["versions"]["openai"], "1.108.2", "{c:#}");
    assert_eq!(
        c["versions"]["opentelemetry-instrumentation-openai"], "0.47.5",
        "{c:#}"
    );
    // The bug's symptom reproduces there too, and stands out: the command cell is judged
    // by the era of the release it reported (the older names, chosen at judging), and
    // its missing `server.address` is a known issue as for python cells.
    let failures = failure_subjects(c);
    assert!(
        failures.contains(&"attribute `gen_ai.response.model`".to_string()),
        "{failures:?}"
    );
    assert!(
        !failures.contains(&"attribute `gen_ai.is_streaming`".to_string()),
        "{failures:?}"
    );
    let known: Vec<&str> = (c["findings"].as_array().into_iter().flatten())
        .filter(|f| f["kind"] == "known_issue")
        .filter_map(|f| f["subject"].as_str())
        .collect();
    assert!(known.contains(&"attribute `server.address`"), "{known:?}");
    assert!(
        !known.contains(&"attribute `gen_ai.is_streaming`"),
        "0.47.5 is judged by its own llm.is_streaming: {known:?}"
    );
}

#[test]
fn with_refuses_options_and_needs_a_command() {
    let dir = temp_dir("with-usage");
    for args in [
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "--index-url=http://x",
        ][..],
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "openai==1\n-e .",
        ],
        &["run", "--with", "openai==1.0.0"],
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "openai @ https://evil.example/x.whl",
        ],
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "git+https://evil.example/x",
        ],
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "./local-dir",
        ],
        &[
            "run",
            "--command",
            "true",
            "--style",
            "traceloop",
            "--with",
            "openai==${AZURE_OPENAI_API_KEY}",
        ],
    ] {
        let out = hh(&dir, &offline(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn command_cells_need_a_command_one_style_and_a_program_that_works() {
    let dir = temp_dir("command-usage");
    for (args, says) in [
        (
            &["run", "--driver", "command", "--style", "traceloop"][..],
            "--command",
        ),
        (&["run", "--command", "true"][..], "exactly one --style"),
    ] {
        let out = hh(&dir, &offline(), &[args, &["--matrix", &matrix()]].concat());
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }

    // A program that exports nothing and fails: evidence against it, never a pass.
    let failing = [
        "run",
        "--command",
        "echo boom >&2; exit 3",
        "--style",
        "traceloop",
        "--feature",
        "chat",
    ];
    let (_, r) = run_json(&dir, &offline(), &failing, 1);
    let c = cell(&r, "azure-openai/traceloop/chat/command");
    assert_eq!(c["status"], "fail");
    let messages = findings(c);
    assert!(
        messages[0].contains("exit status: 3") && messages[0].contains("boom"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("no span")),
        "no spans is a failure: {messages:?}"
    );

    // A program that succeeds without exporting anything still fails.
    let silent = [
        "run",
        "--command",
        "true",
        "--style",
        "otel-genai",
        "--feature",
        "chat",
    ];
    run_json(&dir, &offline(), &silent, 1);

    // The feature's parameters reach the program: its prompt, and the whole plan.
    let echo = [
        "run",
        "--command",
        "echo \"prompt=$HH_COMPAT_PROMPT plan=$HH_COMPAT_PLAN\" >&2; exit 3",
        "--style",
        "traceloop",
        "--feature",
        "errors",
    ];
    let (_, r) = run_json(&dir, &offline(), &echo, 1);
    let said = &findings(cell(&r, "azure-openai/traceloop/errors/command"))[0];
    assert!(
        said.contains("prompt=Say hello")
            && said.contains(r#""feature":"errors""#)
            && said.contains(r#""missing_deployment":"does-not-exist""#),
        "{said}"
    );
}

/// An app that appends `/openai/…` to its endpoint without trimming it, as openai SDKs
/// before 1.58 do: given `http://host/`, it calls `//openai/…`.
const DOUBLE_SLASH_APP: &str = r#"
import json, os, urllib.request
url = (os.environ["AZURE_OPENAI_ENDPOINT"] + "/openai/deployments/"
       + os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"] + "/chat/completions?api-version="
       + os.environ["AZURE_OPENAI_API_VERSION"])
body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
request = urllib.request.Request(url, data=body, headers={
    "api-key": os.environ["AZURE_OPENAI_API_KEY"], "content-type": "application/json"})
try:
    urllib.request.urlopen(request, timeout=10)
except urllib.error.HTTPError as e:
    print("HTTP", e.code)
"#;

#[test]
fn a_route_azure_does_not_serve_is_a_setup_error_not_an_instrumentor_failure() {
    let dir = temp_dir("double-slash");
    std::fs::write(dir.join("app.py"), DOUBLE_SLASH_APP).expect("app");
    // The customer's endpoint, exactly as written, with its trailing slash.
    let args = [
        "run",
        "--command",
        "python3 app.py",
        "--endpoint",
        "https://contoso.openai.azure.com/",
        "--style",
        "traceloop",
        "--feature",
        "chat",
    ];
    let (_, r) = run_json(&dir, &offline(), &args, 3);
    let c = cell(&r, "azure-openai/traceloop/chat/command");
    assert_eq!(c["status"], "error", "{c:#}");
    let first = findings(c).first().cloned().unwrap_or_default();
    assert!(
        first.contains("`POST //openai/deployments/gpt-4o/chat/completions`")
            && first.contains("does not serve (404)"),
        "{first}"
    );
    assert_eq!(
        c["requests"][0]["path"],
        "//openai/deployments/gpt-4o/chat/completions"
    );
}

/// A customer's app on an openai release from before the SDK trimmed the endpoint.
const OPENAI_1_40_APP: &str = r#"
import os
from openai import AzureOpenAI
client = AzureOpenAI(azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
                     api_key=os.environ["AZURE_OPENAI_API_KEY"],
                     api_version=os.environ["AZURE_OPENAI_API_VERSION"])
reply = client.chat.completions.create(
    model=os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"],
    messages=[{"role": "user", "content": os.environ["HH_COMPAT_PROMPT"]}])
print("answered:", reply.choices[0].message.content[:20])
"#;

#[test]
fn an_openai_1_40_app_reaches_real_routes_with_the_default_endpoint() {
    let dir = temp_dir("openai-1-40");
    std::fs::write(dir.join("app.py"), OPENAI_1_40_APP).expect("app");
    let run = |extra: &[&str], exit| {
        let mut args = vec![
            "run",
            "--command",
            "python app.py",
            "--with",
            "openai==1.40.0",
            // openai 1.40 passes `proxies=` to httpx, which httpx 0.28 removed.
            "--with",
            "httpx==0.27.2",
            "--style",
            "traceloop",
            "--feature",
            "chat",
        ];
        args.extend(extra);
        run_json(&dir, &offline(), &args, exit).1
    };
    // The default endpoint: the call reaches the chat route and is answered; the app
    // exports no span, so the cell fails on the spans, not on the setup.
    let r = run(&[], 1);
    let c = cell(&r, "azure-openai/traceloop/chat/command");
    assert_eq!(c["versions"]["openai"], "1.40.0", "{c:#}");
    assert_eq!(c["requests"][0]["route"], "azure_chat", "{c:#}");
    assert_eq!(c["requests"][0]["status"], 200, "{c:#}");
    assert!(c["requests"][0].get("path").is_none(), "{c:#}");
    assert!(
        !findings(c).iter().any(|f| f.starts_with("setup:")),
        "{c:#}"
    );
    // The same app given the endpoint with a trailing slash calls `//openai/…`: a setup
    // error that names the request.
    let r = run(&["--endpoint", "http://contoso.openai.azure.com/"], 3);
    let c = cell(&r, "azure-openai/traceloop/chat/command");
    assert_eq!(c["status"], "error", "{c:#}");
    assert_eq!(
        c["requests"][0]["path"], "//openai/deployments/gpt-4o/chat/completions",
        "{c:#}"
    );
}

#[test]
fn an_endpoint_for_another_host_is_a_usage_error() {
    let dir = temp_dir("endpoint-host");
    let matrix = matrix();
    let out = hh(
        &dir,
        &offline(),
        &[
            "run",
            "--matrix",
            &matrix,
            "--endpoint",
            "https://fabrikam.openai.azure.com/",
            "--feature",
            "chat",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--endpoint") && stderr.contains("fabrikam.openai.azure.com"),
        "{stderr}"
    );
}
