//! `run --target live` end to end, with `hh-compat replica serve` posing as Azure.
//!
//! Nothing here reaches Azure: the "live" resource is the replica in its own process,
//! reached the way an app behind a corporate proxy reaches Azure — the endpoint keeps
//! the Azure host name and `HTTP_PROXY` delivers the calls. To the harness this is a
//! live run: no embedded replica, the environment's variables, live retries.

use crate::live_support::*;
use std::collections::BTreeMap;

const LIVE: &[&str] = &["run", "--target", "live"];

fn live_args<'a>(more: &[&'a str]) -> Vec<&'a str> {
    [LIVE, more].concat()
}

#[test]
fn a_live_run_passes_every_rust_cell_and_leaks_no_key() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("success");
    let env = live_env(&azure);
    let (out, r) = run_json(&dir, &env, LIVE, 0);
    assert_eq!(r["target"], "live");
    let cells = r["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 45, "{r:#}");
    for c in cells {
        // async-openai cannot read the async filter's annotation chunks: a known issue;
        // and it has no raw-response API.
        let expected = match c["feature"].as_str() {
            Some("streaming-async-filter") => "xfail",
            Some("raw-response") => "skip",
            _ => "pass",
        };
        assert_eq!(c["status"], expected, "{c:#}");
    }
    // The live names went out, and the spans name the live resource.
    let span = &cell(&r, "azure-openai/traceloop/chat/rust")["spans"][0];
    assert_eq!(span["attributes"]["gen_ai.request.model"], "prod-4o");
    assert_eq!(
        span["attributes"]["server.address"],
        "contoso.openai.azure.com"
    );
    // Also the other formats: nothing in them may carry the key.
    for (format, file) in [("junit", "junit.xml"), ("markdown", "report.md")] {
        let rendered = hh(
            &dir,
            &env,
            &["report", RESULTS, "--format", format, "--out", file],
        );
        assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    }
    assert_no_leak(&dir, &out, &[CANARY_KEY]);
}

#[test]
fn missing_variables_are_all_named_before_any_call() {
    let dir = temp_dir("missing");
    let env = BTreeMap::from([("AZURE_OPENAI_DEPLOYMENT_NAME", "prod-4o".to_string())]);
    let out = hh(&dir, &env, &live_args(&["--matrix", &matrix()]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for var in [
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN or AZURE_OPENAI_AD_TOKEN_COMMAND",
        "AZURE_OPENAI_SECOND_DEPLOYMENT_NAME",
        "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
        "AZURE_OPENAI_ASYNC_FILTER_DEPLOYMENT_NAME",
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
    let args = live_args(&["--style", "traceloop", "--feature", "chat"]);
    let (_, r) = run_json(&dir, &env, &args, 0);
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
    let args = live_args(&["--style", "openinference", "--feature", "chat"]);
    let (_, r) = run_json(&dir, &env, &args, 3);
    let c = cell(&r, "azure-openai/openinference/chat/rust");
    assert_eq!(c["status"], "error", "{c:#}");
    assert_eq!(c["findings"][0]["kind"], "error", "{c:#}");
    let message = findings(c).remove(0);
    assert!(
        message.contains("HTTP 503 (ServiceUnavailable)"),
        "{message}"
    );
    assert!(message.contains("apim-request-id="), "{message}");
    // Infrastructure, not incompatibility: no assertion failures are reported.
    assert!(failure_subjects(c).is_empty(), "{c:#}");
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
    // Everything but the proxy comes from .env, as a nightly job's secret file would.
    let mut dotenv = String::from("# live settings\n");
    for (k, v) in entra_env(&azure) {
        match k {
            "HTTP_PROXY" => {}
            "AZURE_OPENAI_AD_TOKEN" => dotenv.push_str(&format!("{k}=\"{v}\"\n")),
            _ => dotenv.push_str(&format!("{k}={v}\n")),
        }
    }
    std::fs::write(dir.join(".env"), dotenv).expect("write .env");
    let proxy_only = BTreeMap::from([("HTTP_PROXY", azure.url.clone())]);
    let args = live_args(&["--feature", "chat", "--feature", "embeddings"]);
    let (out, r) = run_json(&dir, &proxy_only, &args, 0);
    assert_eq!(r["cells"].as_array().map(Vec::len), Some(6));
    assert_no_leak(&dir, &out, &[CANARY_TOKEN, CANARY_KEY]);
}

#[test]
fn a_token_command_provides_the_token() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("token-command");
    let mut env = entra_env(&azure);
    env.remove("AZURE_OPENAI_AD_TOKEN");
    env.insert(
        "AZURE_OPENAI_AD_TOKEN_COMMAND",
        format!("printf '%s\\n' {CANARY_TOKEN}"),
    );
    let args = live_args(&["--style", "otel-genai", "--feature", "chat"]);
    let (out, _) = run_json(&dir, &env, &args, 0);
    assert_no_leak(&dir, &out, &[CANARY_TOKEN, CANARY_KEY]);

    env.insert(
        "AZURE_OPENAI_AD_TOKEN_COMMAND",
        "echo 'az: not logged in' >&2; exit 1".to_string(),
    );
    let out = hh(
        &dir,
        &env,
        &live_args(&["--matrix", &matrix(), "--feature", "chat"]),
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
    let args = live_args(&["--style", "openinference", "--feature", "chat"]);
    let (out, r) = run_json(&dir, &env, &args, 3);
    let c = cell(&r, "azure-openai/openinference/chat/rust");
    assert!(findings(c)[0].contains("refused the credential"), "{c:#}");
    assert_no_leak(&dir, &out, &["not-the-key"]);
}

#[test]
fn a_content_filter_refusal_of_the_harness_prompt_is_reported_as_such() {
    let azure = FakeAzure::standard(&["down-4o=prompt_filter"]);
    let dir = temp_dir("prompt-filter");
    let mut env = live_env(&azure);
    env.insert("AZURE_OPENAI_DEPLOYMENT_NAME", "down-4o".to_string());
    let args = live_args(&[
        "--style",
        "traceloop",
        "--feature",
        "chat",
        "--driver",
        "rust",
        "--driver",
        "python",
        "--version-set",
        "latest",
    ]);
    let (_, r) = run_json(&dir, &env, &args, 3);
    for id in [
        "azure-openai/traceloop/chat/rust",
        "azure-openai/traceloop/chat/python@latest",
    ] {
        let c = cell(&r, id);
        assert_eq!(c["status"], "error", "{c:#}");
        let first = findings(c).remove(0);
        assert!(
            first.contains("content filter refused the harness's prompt"),
            "{id}: {first}"
        );
    }
}

#[test]
fn the_real_python_instrumentors_run_live_with_an_entra_token() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("python-live");
    let args = live_args(&[
        "--driver",
        "python",
        "--version-set",
        "latest",
        "--style",
        "traceloop",
        "--feature",
        "chat",
        "--feature",
        "embeddings",
    ]);
    let (out, r) = run_json(&dir, &entra_env(&azure), &args, 0);
    for (feature, deployment) in [("chat", "prod-4o"), ("embeddings", "prod-embed")] {
        let c = cell(
            &r,
            &format!("azure-openai/traceloop/{feature}/python@latest"),
        );
        // The package's known gap (no server.address) reproduces live as offline.
        assert_eq!(c["status"], "xfail", "{c:#}");
        assert_eq!(
            c["spans"][0]["attributes"]["gen_ai.request.model"],
            deployment
        );
    }
    assert_no_leak(&dir, &out, &[CANARY_TOKEN, CANARY_KEY]);
}

#[test]
fn a_customers_script_runs_live_as_a_command_cell() {
    let azure = FakeAzure::standard(&[]);
    let dir = temp_dir("command-live");
    let command = format!(
        "{} {}",
        driver_python("traceloop").display(),
        repro_script()
    );
    let args = live_args(&[
        "--command",
        &command,
        "--style",
        "traceloop",
        "--feature",
        "streaming",
    ]);
    let (out, r) = run_json(&dir, &live_env(&azure), &args, 1);
    let c = cell(&r, "azure-openai/traceloop/streaming/command");
    // Judged by the matrix's traceloop expectations on the spans the script exported:
    // the one gap is the real package's missing server.address.
    assert_eq!(failure_subjects(c), ["attribute `server.address`"], "{c:#}");
    assert_eq!(
        c["spans"][0]["attributes"]["gen_ai.request.model"],
        "prod-4o"
    );
    assert_no_leak(&dir, &out, &[CANARY_KEY]);
}
