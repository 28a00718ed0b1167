//! The `hh-compat` binary as a user meets it: exit codes, outputs, and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-compat-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The default run on a machine without Python: the reference rows, and a note naming
/// the real packages' cells that could not run, why, and what to do.
#[test]
fn the_default_run_passes_and_prints_the_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(["run", "--provider", "azure-openai"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HH_COMPAT_PYTHON3", "/nonexistent/python3")
        .env_remove("NO_COLOR")
        .output()
        .expect("the binary runs");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for style in ["openinference", "traceloop", "otel-genai"] {
        for feature in [
            "chat",
            "streaming",
            "streaming-usage",
            "embeddings",
            "multi-deployment",
            "errors",
            "tools",
            "streaming-tools",
            "stream-abandoned",
            "raw-response",
            "async",
            "structured-output",
            "responses",
            "responses-streaming",
        ] {
            let id = format!("azure-openai/{style}/{feature}/rust");
            assert!(stdout.contains(&id), "table lacks {id}:\n{stdout}");
        }
    }
    // Skipped: raw-response, which async-openai has no API for.
    assert!(
        stdout.contains("39 passed, 0 failed, 3 xfail, 0 xpass, 3 skipped"),
        "{stdout}"
    );
    // The reference rows are not taken for the real packages: what did not run is said,
    // with the reason and what would run them.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "Not run: 144 cells of the real instrumentor packages (version sets: latest, honeyhive-1.6, openai-v1): \
             HH_COMPAT_PYTHON3 names /nonexistent/python3, which does not exist; then run `hh-compat run` again"
        ),
        "{stderr}"
    );
    // Not a terminal: no colour codes, no progress bar.
    assert!(!stdout.contains('\u{1b}'), "escape codes in piped output");
}

/// `--offline` reaches no package index: with nothing cached, the default run leaves the
/// real packages' cells out and says so; cells asked for by name are skipped, not failed.
#[test]
fn offline_builds_nothing_and_says_what_it_left_out() {
    let dir = temp_dir("offline");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hh-compat"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HH_COMPAT_CACHE_DIR", dir.join("empty-cache"))
            .output()
            .expect("the binary runs")
    };
    let out = run(&["run", "--offline", "--feature", "chat"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("cells of the real instrumentor packages")
            && stderr.contains("--offline, and their environments are not built yet"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("3 passed, 0 failed"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !dir.join("empty-cache").exists(),
        "--offline built something"
    );
    // Nothing of the selection can run: an error, not an empty green report.
    let out = run(&[
        "run",
        "--offline",
        "--filter",
        "*python@*",
        "--feature",
        "chat",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("none of the selected cells can run here"),
        "{}",
        text(&out.stderr)
    );

    let named = [
        "run",
        "--driver",
        "python",
        "--style",
        "traceloop",
        "--version-set",
        "latest",
        "--feature",
        "chat",
        "--format",
        "json",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(named)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HH_COMPAT_CACHE_DIR", dir.join("empty-cache"))
        .env("HH_COMPAT_OFFLINE", "1")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let cell = &json["cells"][0];
    assert_eq!(cell["status"], "skip", "{cell}");
    assert!(
        cell["findings"][0]["message"].as_str().is_some_and(
            |m| m.contains("--offline: the traceloop@latest environment is not built yet")
        ),
        "{cell}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_keeps_the_spans_and_is_byte_identical_with_stable() {
    let a = hh(&["run", "--driver", "rust", "--format", "json", "--stable"]);
    let b = hh(&["run", "--driver", "rust", "--format", "json", "--stable"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout, "two stable runs differ");
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).expect("valid JSON");
    assert_eq!(json["schema"], "hh-compat/results/v1");
    assert_eq!(json["summary"]["total"], 45);
    assert_eq!(json["summary"]["pass"], 39);
    assert_eq!(json["summary"]["skip"], 3, "raw-response on async-openai");
    assert_eq!(
        json["summary"]["xfail"], 3,
        "async-openai and the async filter"
    );
    let cells = json["cells"].as_array().unwrap();
    let chat = cells
        .iter()
        .find(|c| c["id"] == "azure-openai/traceloop/chat/rust")
        .expect("traceloop chat cell");
    let span = &chat["spans"][0];
    assert_eq!(span["name"], "openai.chat");
    assert_eq!(span["kind"], "client");
    assert_eq!(span["attributes"]["gen_ai.request.model"], "gpt-4o");
    assert_eq!(
        span["attributes"]["gen_ai.response.model"],
        "gpt-4o-2024-08-06"
    );
    assert_eq!(
        span["attributes"]["server.address"],
        "contoso.openai.azure.com"
    );
    // The errors cell shows the retry the rate-limited deployment forced.
    let errors = cells
        .iter()
        .find(|c| c["id"] == "azure-openai/otel-genai/errors/rust")
        .unwrap();
    let statuses: Vec<u64> = errors["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![404, 429, 200]);
}

#[test]
fn report_rerenders_a_saved_run() {
    let dir = temp_dir("report");
    let results = dir.join("results.json");
    let run = hh(&[
        "run",
        "--driver",
        "rust",
        "--stable",
        "--format",
        "json",
        "--out",
        results.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0));
    assert!(
        text(&run.stdout).contains("39 passed"),
        "the terminal still gets the table"
    );
    let md1 = hh(&["report", results.to_str().unwrap(), "--format", "markdown"]);
    let md2 = hh(&["report", results.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(md1.status.code(), Some(0));
    assert_eq!(md1.stdout, md2.stdout);
    let md = text(&md1.stdout);
    assert!(
        md.contains("| openinference (rust reference) | ✅ | ✅ | ✅ | ⚠️ app failed, status ERROR +2 [^async-openai-no-delta] | ✅ | ✅ | ✅ | ✅ | ✅ | ✅ | ⏭ [^note-3ac5edb3] | ✅ |"),
        "{md}"
    );
    let junit = hh(&["report", results.to_str().unwrap(), "--format", "junit"]);
    let xml = text(&junit.stdout);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"45\""), "{xml}");
}

#[test]
fn filters_select_cells_and_an_empty_selection_is_a_usage_error() {
    let out = hh(&[
        "list",
        "--style",
        "traceloop",
        "--feature",
        "chat",
        "--feature",
        "errors",
        "--setup",
        "instrumentor",
    ]);
    assert_eq!(
        text(&out.stdout),
        "azure-openai/traceloop/chat/rust\nazure-openai/traceloop/chat/python@latest\n\
         azure-openai/traceloop/chat/python@openai-v1\nazure-openai/traceloop/errors/rust\n\
         azure-openai/traceloop/errors/python@latest\nazure-openai/traceloop/errors/python@openai-v1\n"
    );
    let out = hh(&["list", "--feature", "chat", "--setup", "honeyhive"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        6,
        "3 styles x 2 HoneyHive releases:\n{}",
        text(&out.stdout)
    );
    let out = hh(&["list", "--feature", "chat", "--version-set", "openai-v1"]);
    let listed = text(&out.stdout);
    assert_eq!(
        listed.lines().count(),
        6,
        "3 rust + 3 python@openai-v1:\n{listed}"
    );
    assert!(!listed.contains("@latest"), "{listed}");
    let out = hh(&["list", "--version-set", "lates"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown version set `lates` (did you mean `latest`?)"),
        "{}",
        text(&out.stderr)
    );
    let out = hh(&["list", "--filter", "*/streaming*", "--driver", "rust"]);
    assert_eq!(text(&out.stdout).lines().count(), 12);
    for command in ["run", "list"] {
        let out = hh(&[command, "--filter", "nothing-matches-this"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            text(&out.stderr).contains("no cell matches"),
            "{command}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{command}: {}", text(&out.stdout));
    }
}

#[test]
fn out_without_format_takes_the_format_from_the_extension() {
    let dir = temp_dir("out-ext");
    for (name, starts) in [
        ("r.json", "{"),
        ("r.xml", "<?xml"),
        ("r.md", "#"),
        ("r.txt", "┌"),
    ] {
        let path = dir.join(name);
        let out = hh(&[
            "run",
            "--feature",
            "chat",
            "--driver",
            "rust",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with(starts), "{name}: {written}");
    }
}

#[test]
fn bad_names_on_the_command_line_exit_2_with_a_suggestion() {
    let out = hh(&["run", "--style", "tracelop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `traceloop`?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn matrix_errors_exit_2_with_file_line_column_and_no_backtrace() {
    let dir = temp_dir("matrix");
    let bad = write(
        &dir,
        "bad.yaml",
        "provider: azure-openai\ntarget:\n  resource: x\n  api_version: \"2024-10-21\"\nstyles: [openinfrence]\n",
    );
    let out = hh(&["run", "--matrix", bad.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:5:10:"), "{stderr}");
    assert!(stderr.contains("did you mean `openinference`?"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );

    let missing = hh(&["run", "--matrix", "/definitely/not/here.yaml"]);
    assert_eq!(missing.status.code(), Some(2));

    let bomb = write(
        &dir,
        "bomb.yaml",
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
    );
    let out = hh(&["list", "--matrix", bomb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_provider_mismatch_is_a_usage_error() {
    let out = hh(&[
        "list",
        "--provider",
        "openai",
        "--matrix",
        "matrix/azure-openai.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is a matrix for provider `azure-openai`"));
}

#[test]
fn a_failing_assertion_exits_1_and_shows_expected_and_actual() {
    let dir = temp_dir("fail");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix/azure-openai.yaml"),
    )
    .unwrap();
    // Claim the span should say the provider is plain OpenAI: the emitter says azure.
    let edited = shipped.replacen(
        "            llm.provider: azure",
        "            llm.provider: openai",
        1,
    );
    assert_ne!(
        edited, shipped,
        "the shipped matrix asserts llm.provider: azure"
    );
    let matrix = write(&dir, "edited.yaml", &edited);
    let out = hh(&[
        "run",
        "--matrix",
        matrix.to_str().unwrap(),
        "--driver",
        "rust",
        "--style",
        "openinference",
        "--feature",
        "chat",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = &json["cells"][0];
    assert_eq!(cell["status"], "fail");
    let finding = &cell["findings"][0];
    assert_eq!(finding["kind"], "failure");
    assert_eq!(finding["subject"], "attribute `llm.provider`");
    assert!(
        finding["expected"].as_str().unwrap().contains("openai"),
        "{finding}"
    );
    assert!(
        finding["actual"].as_str().unwrap().contains("azure"),
        "{finding}"
    );
    // The message carries the span's attributes so the reader need not rerun.
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("llm.model_name"),
        "{finding}"
    );
}

#[test]
fn replica_serve_rejects_bad_flags_with_exit_2() {
    let out = hh(&["replica", "serve", "--fault", "gpt-4o=ratelimit"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rate_limit"),
        "{}",
        text(&out.stderr)
    );
    let out = hh(&["replica", "serve", "--deployment", "no-equals-sign"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_shows_examples() {
    let out = hh(&["run", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("hh-compat run --provider azure-openai"),
        "{help}"
    );
}

#[test]
fn drivers_setup_usage_errors_exit_2_before_building_anything() {
    let cache = temp_dir("setup-usage");
    let setup = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hh-compat"))
            .args(["drivers", "setup"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HH_COMPAT_CACHE_DIR", &cache)
            .output()
            .expect("the binary runs")
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--version-set", "openai-v2"], "did you mean `openai-v1`?"),
        (&["--style", "tracelop"], "did you mean `traceloop`?"),
        (&["--provider", "azure"], "unknown provider `azure`"),
        (&["--matrix", "no/such/matrix.yaml"], "no/such/matrix.yaml"),
        (&["--bogus"], "unexpected argument"),
    ];
    for (args, needle) in cases {
        let out = setup(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: want `{needle}` in {stderr}"
        );
    }
    let dir = temp_dir("setup-style");
    let matrix = write(
        &dir,
        "m.yaml",
        "provider: openai\ntarget: {api_key: k}\ndeployments:\n  gpt-4o: {model: gpt-4o-2024-08-06}\n\
         styles: [traceloop]\ndrivers: [python]\nversion_sets:\n  latest:\n    styles:\n\
         \x20     traceloop: [opentelemetry-instrumentation-openai==0.62.4]\n\
         features:\n  chat: {deployment: gpt-4o}\nexpect:\n  all:\n    llm: {name: openai.chat}\n",
    );
    let out = setup(&[
        "--matrix",
        matrix.to_str().unwrap(),
        "--style",
        "otel-genai",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no such style"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0),
        0,
        "a usage error builds nothing"
    );
    let out = hh(&["drivers", "setup", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("hh-compat drivers setup --style traceloop"),
        "{help}"
    );
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drivers_setup_reports_an_install_failure_with_exit_3_and_pips_output() {
    let dir = temp_dir("setup-fail");
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix/openai.yaml"))
            .unwrap();
    let start = base
        .find("version_sets:\n")
        .expect("the openai matrix has version sets");
    let end = base[start..]
        .find("\n\n")
        .map(|i| start + i)
        .expect("block end");
    let text_ = format!(
        "{}version_sets:\n  broken:\n    styles:\n      traceloop: [hh-compat-no-such-package-7f3a==0.0.1]\n{}",
        &base[..start],
        &base[end..]
    )
    .replace("version_sets: [latest]", "version_sets: [broken]");
    let matrix = write(&dir, "m.yaml", &text_);
    let out = Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(["drivers", "setup", "--matrix", matrix.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HH_COMPAT_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("the binary runs");
    let stderr = text(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("traceloop@broken") && stderr.contains("hh-compat-no-such-package-7f3a"),
        "{stderr}"
    );
    assert!(
        stderr.contains("drivers setup: traceloop@broken: creating"),
        "plain one-line progress when stderr is not a terminal: {stderr}"
    );
}

#[test]
fn the_v1_provider_runs_its_extending_matrix() {
    let out = hh(&[
        "run",
        "--provider",
        "azure-openai-v1",
        "--driver",
        "rust",
        "--style",
        "traceloop",
        "--format",
        "json",
        "--stable",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(json["matrix"], "matrix/azure-openai-v1.yaml");
    let chat = &json["cells"][0];
    assert_eq!(chat["id"], "azure-openai-v1/traceloop/chat/rust");
    assert_eq!(chat["status"], "pass", "{chat:#}");
    // The v1 route, and no api-version anywhere in the span.
    assert_eq!(chat["requests"][0]["route"], "v1_chat");
    assert!(chat["spans"][0]["attributes"]
        .get("gen_ai.openai.api_version")
        .is_none());
}

/// `run --stable --format json --out NAME` in `dir` with `extra` arguments; returns the
/// exit code.
fn run_to(dir: &Path, name: &str, extra: &[&str]) -> i32 {
    let matrix = Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix/azure-openai.yaml");
    let out_path = dir.join(name);
    let mut args = vec![
        "run",
        "--matrix",
        matrix.to_str().unwrap(),
        "--driver",
        "rust",
        "--stable",
        "--format",
        "json",
        "--out",
        out_path.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = hh(&args);
    out.status.code().unwrap_or(-1)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn four_shards_merged_equal_the_unsharded_run() {
    let dir = temp_dir("shards");
    assert_eq!(run_to(&dir, "whole.json", &[]), 0);
    let mut parts = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=4 {
        let name = format!("shard-{k}.json");
        let shard = format!("{k}/4");
        assert_eq!(run_to(&dir, &name, &["--shard", &shard]), 0);
        sizes.push(json(&dir.join(&name))["cells"].as_array().unwrap().len());
        parts.push(dir.join(name).display().to_string());
    }
    assert!(
        sizes.iter().all(|n| *n < 45),
        "every shard holds part: {sizes:?}"
    );
    let merged = dir.join("merged.json");
    let mut args = vec!["report"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--format", "json", "--out", merged.to_str().unwrap()]);
    let out = hh(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (whole, merged) = (json(&dir.join("whole.json")), json(&merged));
    assert_eq!(whole["summary"], merged["summary"]);
    assert_eq!(whole["cells"], merged["cells"]);

    // The same shard twice is refused.
    let out = hh(&["report", &parts[0], &parts[0]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is in both"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn diff_shows_a_planted_regression_and_exits_1() {
    let dir = temp_dir("diff");
    assert_eq!(run_to(&dir, "before.json", &["--feature", "chat"]), 0);
    let mut after = json(&dir.join("before.json"));
    let cell = &mut after["cells"][1];
    let id = cell["id"].as_str().unwrap().to_string();
    cell["status"] = "fail".into();
    cell["findings"] =
        serde_json::json!([{"kind": "failure", "message": "attribute `server.address` is absent"}]);
    std::fs::write(dir.join("after.json"), after.to_string()).unwrap();
    let (b, a) = (dir.join("before.json"), dir.join("after.json"));
    let out = hh(&["diff", b.to_str().unwrap(), a.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&id) && stdout.contains("regression"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ failure: attribute `server.address` is absent"),
        "{stdout}"
    );
    let out = hh(&[
        "diff",
        b.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["regressions"], 0);
    // A hand-merged file whose summary lies: report recomputes it from the cells.
    let mut lying = json(&a);
    lying["summary"]["fail"] = 0.into();
    std::fs::write(dir.join("lying.json"), lying.to_string()).unwrap();
    let out = hh(&["report", dir.join("lying.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// The keys docs/results.md lists in the table under `heading`.
fn documented_keys(doc: &str, heading: &str) -> std::collections::BTreeSet<String> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/results.md has no section `{heading}`"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn results_files_hold_exactly_the_documented_keys() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let dir = temp_dir("schema");
    // A shard of a run with the python driver's real packages is not needed: the rust
    // cells carry every field but the optional ones checked below.
    assert_eq!(run_to(&dir, "r.json", &["--shard", "1/1"]), 0);
    let r = json(&dir.join("r.json"));
    let keys = |v: &serde_json::Value| -> std::collections::BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let top = documented_keys(&doc, "Top level");
    assert!(
        keys(&r).is_subset(&top),
        "undocumented: {:?}",
        keys(&r).difference(&top).collect::<Vec<_>>()
    );
    let (mut cells, mut findings, mut requests, mut spans) = Default::default();
    let merge =
        |acc: &mut std::collections::BTreeSet<String>, v: &serde_json::Value| acc.extend(keys(v));
    for c in r["cells"].as_array().unwrap() {
        merge(&mut cells, c);
        c["findings"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(|f| merge(&mut findings, f));
        c["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(|q| merge(&mut requests, q));
        c["spans"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(|s| merge(&mut spans, s));
    }
    for (seen, heading) in [
        (&cells, "A cell"),
        (&findings, "A finding"),
        (&requests, "A request"),
        (&spans, "A span"),
    ] {
        let documented = documented_keys(&doc, heading);
        let undocumented: Vec<_> = seen.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "{heading}: undocumented keys {undocumented:?}"
        );
        // Every documented key but the optional ones is in real output.
        let optional = [
            "version_set",
            "ordinal",
            "path",
            "status_message",
            "parent",
            "events",
            "reason",
            "link",
            "check",
            "subject",
            "expected",
            "actual",
            "versions",
            "requests",
            "setup",
            "backend",
            "deployment",
            "shard",
        ];
        let missing: Vec<_> = documented
            .iter()
            .filter(|k| !seen.contains(*k) && !optional.contains(&k.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{heading}: documented but never written {missing:?}"
        );
    }
    assert_eq!(r["schema"], "hh-compat/results/v1");
    assert_eq!(r["shard"], "1/1");
}

/// The per-cell API keys the embedded backend hands a setup's app never leave the run:
/// not in the table, the progress and notes on stderr, the JSON results or JUnit.
#[test]
fn backend_keys_never_reach_any_output() {
    let dir = temp_dir("backend-keys");
    let json = dir.join("r.json");
    let junit = dir.join("r.xml");
    let args = |out: &Path, format: &str| {
        vec![
            "run".to_string(),
            "--setup".into(),
            "honeyhive".into(),
            "--style".into(),
            "traceloop".into(),
            "--feature".into(),
            "enrichment".into(),
            "--version-set".into(),
            "latest".into(),
            "--format".into(),
            format.into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let mut outputs = Vec::new();
    for (path, format) in [(&json, "json"), (&junit, "junit")] {
        let a = args(path, format);
        let out = hh(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            out.status.code(),
            Some(0),
            "the guide's setup is xfail on the style's known issue only:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        outputs.push(text(&out.stdout));
        outputs.push(text(&out.stderr));
        outputs.push(std::fs::read_to_string(path).expect("written"));
    }
    let results: serde_json::Value = serde_json::from_str(&outputs[2]).expect("json");
    let backend = &results["cells"][0]["backend"];
    assert!(
        backend.as_array().is_some_and(|b| b.len() >= 2),
        "the backend log is there to be leaked: {backend}"
    );
    for output in &outputs {
        assert!(
            !output.contains(hh_compat::capture::otlp::KEY_PREFIX),
            "a backend key leaked:\n{output}"
        );
    }
}

/// `run --matrix MATRIX --driver rust --style STYLE --feature …` as JSON: the exit code
/// and the results.
fn rust_cells_json(
    matrix: &str,
    style: &str,
    features: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let mut args = vec![
        "run", "--matrix", matrix, "--driver", "rust", "--style", style,
    ];
    for feature in features {
        args.extend(["--feature", feature]);
    }
    args.extend(["--format", "json"]);
    let out = hh(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    (out.status.code(), json)
}

/// A placeholder written once for every feature (`expect.all`) holds in the
/// multi-deployment cells too, where `{deployment}`/`{model}` are any one of the
/// deployments: the right expectation passes span by span, a wrong one fails there.
#[test]
fn placeholders_at_the_all_layer_apply_to_multi_deployment_cells() {
    let dir = temp_dir("all-layer");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix/azure-openai.yaml");
    let overlay = |attribute: &str| {
        format!(
            "extends: {}\nexpect:\n  styles:\n    traceloop:\n      all:\n        llm:\n          \
             attributes:\n            {attribute}\n",
            shipped.display()
        )
    };
    let run = |name: &str, attribute: &str| {
        let matrix = write(&dir, name, &overlay(attribute));
        let features = ["chat", "multi-deployment"];
        let (code, json) = rust_cells_json(matrix.to_str().unwrap(), "traceloop", &features);
        let status = |feature: &str| {
            json["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["feature"] == feature)
                .map(|c| c["status"].as_str().unwrap().to_string())
                .unwrap()
        };
        (code, status("chat"), status("multi-deployment"))
    };
    let right = run(
        "right.yaml",
        "gen_ai.request.model: \"{deployment}\"\n            gen_ai.response.model: {regex: '^{model}$'}\n            \
         gen_ai.openai.api_base: {contains: \"{host}\"}",
    );
    assert_eq!(right, (Some(0), "pass".into(), "pass".into()));
    // The request model is the deployment's name, not its snapshot.
    let wrong = run("wrong.yaml", "gen_ai.request.model: \"{model}\"");
    assert_eq!(wrong, (Some(1), "fail".into(), "fail".into()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--color` overrides the environment's conventions; without it, `CLICOLOR_FORCE`
/// colours a pipe and `NO_COLOR` wins over it.
#[test]
fn color_flag_and_conventions_decide_the_tables_colour() {
    let run = |flag: Option<&str>, env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hh-compat"));
        cmd.args([
            "run",
            "--driver",
            "rust",
            "--style",
            "traceloop",
            "--feature",
            "chat",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("TERM");
        if let Some(flag) = flag {
            cmd.args(["--color", flag]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the binary runs");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout).contains("\u{1b}[")
    };
    assert!(!run(None, &[]), "a pipe is not coloured");
    assert!(run(None, &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(None, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(run(Some("always"), &[("NO_COLOR", "1")]));
    assert!(!run(Some("never"), &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(Some("auto"), &[]));

    let out = hh(&["run", "--color", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[possible values: auto, always, never]"));
}

/// `--show` prints the named cells' findings in full after the table, and says when a
/// pattern names no cell of the run.
#[test]
fn show_prints_named_cells_in_full() {
    let out = hh(&[
        "run",
        "--driver",
        "rust",
        "--style",
        "openinference",
        "--feature",
        "streaming-async-filter",
        "--show",
        "streaming-async-filter/rust",
        "--show",
        "no-such-cell",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // An xfail cell: the table cuts its findings; --show prints every line of them.
    let full = stdout
        .split("azure-openai/openinference/streaming-async-filter/rust (xfail):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no full section:\n{stdout}"));
    assert!(
        full.lines().filter(|l| l.starts_with("  - ")).count() >= 3,
        "{stdout}"
    );
    assert!(!full.contains("… and"), "{stdout}");
    assert!(
        stderr.contains("--show no-such-cell: no cell of these results matches"),
        "{stderr}"
    );
}

/// A run records when it began (RFC 3339, UTC), JUnit reports carry it as `timestamp`
/// on the report and every suite, merged shards keep the earliest, and `--stable` runs
/// leave it out so their bytes stay identical.
#[test]
fn results_and_junit_carry_when_the_run_began() {
    let dir = temp_dir("timestamps");
    let run = |name: &str, extra: &[&str]| {
        let path = dir.join(name);
        let mut args = vec![
            "run",
            "--driver",
            "rust",
            "--feature",
            "chat",
            "--format",
            "json",
        ];
        args.extend(extra);
        args.extend(["--out", path.to_str().unwrap()]);
        let out = hh(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        path
    };
    let whole = run("whole.json", &[]);
    let began = json(&whole)["started_at"].as_str().unwrap().to_string();
    let shape = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").unwrap();
    assert!(shape.is_match(&began), "{began}");

    let junit = hh(&["report", whole.to_str().unwrap(), "--format", "junit"]);
    let xml = text(&junit.stdout);
    let stamped = format!("timestamp=\"{}", &began[..19]);
    // The report and its three suites (one per style).
    assert_eq!(xml.matches(&stamped).count(), 4, "{xml}");

    let stable = run("stable.json", &["--stable"]);
    assert!(json(&stable).get("started_at").is_none());
    let junit = hh(&["report", stable.to_str().unwrap(), "--format", "junit"]);
    assert!(!text(&junit.stdout).contains("timestamp="));

    // Two shards: the merge keeps the earlier start.
    let first = run("s1.json", &["--shard", "1/2"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = run("s2.json", &["--shard", "2/2"]);
    let (a, b) = (
        json(&first)["started_at"].clone(),
        json(&second)["started_at"].clone(),
    );
    assert!(a.as_str() < b.as_str(), "{a} {b}");
    let merged = dir.join("merged.json");
    let out = hh(&[
        "report",
        second.to_str().unwrap(),
        first.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&merged)["started_at"], a);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tool-call history is compared with what the service said: the shipped checks pass
/// with the call's real id and arguments, and an expectation that puts the arguments
/// where the id belongs fails on the reference emitter.
#[test]
fn tool_call_history_is_checked_against_the_call_the_service_made() {
    let dir = temp_dir("tool-history");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix/azure-openai.yaml");
    let run =
        |matrix: &str| rust_cells_json(matrix, "openinference", &["tools", "streaming-tools"]);
    let (code, json) = run(shipped.to_str().unwrap());
    assert_eq!(code, Some(0), "{json:#}");
    let notes: Vec<&str> = json["cells"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(
        !notes.iter().any(|n| n.contains("not evaluated")),
        "the rust driver reports the call: {notes:?}"
    );
    let wrong = write(
        &dir,
        "wrong.yaml",
        &format!(
            "extends: {}\nexpect:\n  styles:\n    openinference:\n      tools:\n        tool result:\n          \
             attributes:\n            llm.input_messages.2.message.tool_call_id: \"{{tool_arguments}}\"\n",
            shipped.display()
        ),
    );
    let (code, json) = run(wrong.to_str().unwrap());
    assert_eq!(code, Some(1), "{json:#}");
    let tools = &json["cells"][0];
    assert_eq!(tools["feature"], "tools");
    assert_eq!(tools["status"], "fail", "{tools:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copied or installed binary works outside the checkout: the shipped matrices (the
/// v1 overlay included) and the python driver are built in, results carry the same
/// matrix label as in the checkout, and a file in the working directory still wins.
#[test]
fn the_binary_works_outside_the_checkout() {
    let dir = temp_dir("anywhere");
    let cache = dir.join("cache");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hh-compat"))
            .args(args)
            .current_dir(&dir)
            .env("HH_COMPAT_CACHE_DIR", &cache)
            .output()
            .expect("the binary runs")
    };
    for provider in ["azure-openai", "azure-openai-v1", "openai"] {
        let out = run(&[
            "run",
            "--provider",
            provider,
            "--driver",
            "rust",
            "--feature",
            "chat",
            "--format",
            "json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{provider}: {}",
            text(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["matrix"], format!("matrix/{provider}.yaml"));
        assert_eq!(json["summary"]["pass"], 3, "{provider}: {json:#}");
    }
    // The python driver is written into the cache from the binary, once, under its hash.
    let out = run(&[
        "run",
        "--driver",
        "python",
        "--style",
        "traceloop",
        "--feature",
        "chat",
        "--version-set",
        "latest",
        "--offline",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("driver-"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let shipped =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("drivers/python/driver.py"))
            .unwrap();
    assert_eq!(
        std::fs::read(written[0].path().join("driver.py")).unwrap(),
        shipped
    );

    // A matrix file where the checkout keeps it wins over the built-in copy.
    std::fs::create_dir_all(dir.join("matrix")).unwrap();
    write(
        &dir.join("matrix"),
        "azure-openai.yaml",
        "provider: azure-openai\n",
    );
    let out = run(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("matrix/azure-openai.yaml:"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a machine without uv, the first environment build installs the pinned uv release
/// into the cache (once) and builds with it; later builds reuse that copy.
#[test]
fn without_uv_on_path_the_first_build_installs_it_into_the_cache() {
    let dir = temp_dir("uv-bootstrap");
    let cache = dir.join("cache");
    // No PATH entry holding a `uv`; the interpreter is named directly, in case it lived
    // beside one.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let python3 = std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .expect("python3 on PATH");
    let without_uv: Vec<_> = std::env::split_paths(&path)
        .filter(|d| !d.join("uv").exists())
        .collect();
    let path = std::env::join_paths(without_uv).expect("a PATH");
    let matrix = |pin: &str| {
        write(
            &dir,
            "m.yaml",
            &format!(
                "provider: openai\ntarget: {{api_key: k}}\ndeployments:\n  gpt-4o: {{model: gpt-4o-2024-08-06}}\n\
                 styles: [traceloop]\ndrivers: [python]\nversion_sets:\n  tiny:\n    styles:\n\
                 \x20     traceloop: [{pin}]\n\
                 features:\n  chat: {{deployment: gpt-4o}}\nexpect:\n  all:\n    llm: {{name: openai.chat}}\n"
            ),
        )
    };
    let setup = |matrix: &Path| {
        Command::new(env!("CARGO_BIN_EXE_hh-compat"))
            .args(["drivers", "setup", "--matrix", matrix.to_str().unwrap()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HH_COMPAT_CACHE_DIR", &cache)
            .env("HH_COMPAT_PYTHON3", &python3)
            .env("PATH", &path)
            .output()
            .expect("the binary runs")
    };
    let out = setup(&matrix("six==1.17.0"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("no uv on PATH: installing uv==0.13.9 into the cache once"),
        "{stderr}"
    );
    assert!(
        stderr.contains("traceloop@tiny: creating a virtual environment with uv"),
        "{stderr}"
    );
    assert!(cache.join(".tools/uv-0.13.9/bin/uv").is_file());

    // Another environment: built with the cached uv, nothing installed again.
    let out = setup(&matrix("six==1.16.0"));
    let stderr = text(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("installing uv"), "{stderr}");
    assert!(stderr.contains("with uv"), "{stderr}");
}
