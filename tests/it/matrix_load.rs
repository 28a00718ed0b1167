//! Loading the shipped matrices, and rejecting bad ones with exact `file:line:column`.

use hh_compat::capture::StatusCode;
use hh_compat::expect::{AttrAssertion, Count, StatusExpect};
use hh_compat::matrix::{
    default_matrix_path, load_file, parse_bytes, parse_str, CellFilter, FeaturePlan, MatrixError,
};
use hh_compat::vocab::{DriverKind, Feature, Provider, Setup, Style};

fn azure() -> hh_compat::matrix::Matrix {
    load_file(&default_matrix_path(Provider::AzureOpenAi)).unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped matrix's cells in the lab's wiring (`instrumentor`), as every driver has them.
fn instrumentor_cells(m: &hh_compat::matrix::Matrix) -> Vec<hh_compat::matrix::Cell> {
    let f = CellFilter {
        setups: vec![Setup::Instrumentor],
        ..Default::default()
    };
    f.apply(m.cells())
}

#[test]
fn shipped_azure_matrix_expands_to_135_instrumentor_cells_in_file_order() {
    let m = azure();
    assert_eq!(m.provider(), Provider::AzureOpenAi);
    assert_eq!(m.target().host, "contoso.openai.azure.com");
    assert_eq!(m.target().api_version.as_deref(), Some("2024-10-21"));
    assert_eq!(m.deployments().len(), 5);
    let flaky = m
        .deployments()
        .iter()
        .find(|d| d.name == "gpt-4o-flaky")
        .expect("flaky");
    assert_eq!(flaky.faults[0].times, Some(1));
    assert_eq!(flaky.faults[0].retry_after_ms, Some(20));
    let cells = instrumentor_cells(&m);
    // 3 styles x 15 features x (rust + python@latest + python@openai-v1)
    assert_eq!(cells.len(), 3 * 15 * 3);
    assert_eq!(cells[0].id, "azure-openai/openinference/chat/rust");
    assert_eq!(cells[0].version_set, None);
    assert_eq!(cells[1].id, "azure-openai/openinference/chat/python@latest");
    assert_eq!(
        cells[2].id,
        "azure-openai/openinference/chat/python@openai-v1"
    );
    assert_eq!(cells[3].id, "azure-openai/openinference/streaming/rust");
    assert_eq!(
        cells[134].id,
        "azure-openai/otel-genai/responses-streaming/python@openai-v1"
    );
    let v1 = cells[2]
        .version_set
        .as_ref()
        .expect("a python cell has a set");
    assert_eq!(v1.name, "openai-v1");
    assert_eq!(v1.requirements[0], "openai==1.109.1");
    assert!(
        v1.requirements
            .iter()
            .any(|r| r.starts_with("openinference-instrumentation-openai==")),
        "{:?}",
        v1.requirements
    );
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids are unique");
    assert!(
        cells.iter().all(|c| !c.checks.is_empty()),
        "every cell has checks"
    );
    // The rust reference app has one known issue: async-openai and the async filter.
    let rust_issues: Vec<(&str, &str)> = cells
        .iter()
        .filter(|c| c.driver == DriverKind::Rust)
        .flat_map(|c| {
            c.known_issues
                .iter()
                .map(move |k| (c.feature.as_str(), k.id.as_str()))
        })
        .collect();
    assert_eq!(
        rust_issues,
        [("streaming-async-filter", "async-openai-no-delta"); 3],
        "the other shipped issues are about python packages, which rust cells never run"
    );
    // Issues scoped by release apply to the python cells whose set pins that release.
    let issues_of = |id: &str| -> Vec<&str> {
        cells
            .iter()
            .filter(|c| c.known_issues.iter().any(|k| k.id == id))
            .filter_map(|c| c.version_set_name())
            .collect()
    };
    let openinference = issues_of("openinference-no-server-address");
    assert!(openinference.contains(&"latest"), "{openinference:?}");
    assert!(!openinference.contains(&"openai-v1"), "0.1.41 is older");
    let old_names = issues_of("traceloop-0.47-responses-system-openai");
    assert_eq!(old_names, ["openai-v1"]);
    // The Traceloop era before 0.62.4 is chosen at expansion from the set's pins: the
    // openai-v1 cells (0.47.5) are judged by the older names, the latest ones (0.62.4)
    // by the newer, and the rust cells (no python packages) by the newer.
    let asserts = |set: Option<&str>, driver: DriverKind, key: &str| {
        let cell = (cells.iter())
            .find(|c| {
                c.style == Style::Traceloop
                    && c.feature == Feature::Chat
                    && c.driver == driver
                    && c.setup == Setup::Instrumentor
                    && c.version_set_name() == set
            })
            .expect("the traceloop chat cell");
        (cell.checks.iter()).any(|c| c.attributes.iter().any(|(k, _)| k == key))
    };
    assert!(asserts(
        Some("openai-v1"),
        DriverKind::Python,
        "llm.request.type"
    ));
    assert!(!asserts(
        Some("openai-v1"),
        DriverKind::Python,
        "gen_ai.operation.name"
    ));
    assert!(asserts(
        Some("latest"),
        DriverKind::Python,
        "gen_ai.operation.name"
    ));
    assert!(!asserts(
        Some("latest"),
        DriverKind::Python,
        "llm.request.type"
    ));
    assert!(asserts(None, DriverKind::Rust, "gen_ai.operation.name"));
}

#[test]
fn cells_carry_plans_and_vars() {
    let cells = azure().cells();
    let chat = &cells[0];
    match &chat.plan {
        FeaturePlan::Chat {
            deployment,
            max_tokens,
            temperature,
            ..
        } => {
            assert_eq!(
                (deployment.name.as_str(), deployment.model.as_str()),
                ("gpt-4o", "gpt-4o-2024-08-06")
            );
            assert_eq!((*max_tokens, *temperature), (Some(50), Some(0.2)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(chat.vars.deployment(), Some("gpt-4o"));
    assert_eq!(chat.vars.host(), Some("contoso.openai.azure.com"));
    let usage = cells
        .iter()
        .find(|c| c.feature == Feature::StreamingUsage)
        .expect("usage");
    assert!(matches!(
        usage.plan,
        FeaturePlan::Streaming {
            include_usage: true,
            ..
        }
    ));
    let errors = cells
        .iter()
        .find(|c| c.feature == Feature::Errors)
        .expect("errors");
    match &errors.plan {
        FeaturePlan::Errors {
            missing_deployment,
            flaky,
            ..
        } => {
            assert_eq!(missing_deployment, "does-not-exist");
            assert_eq!(flaky.name, "gpt-4o-flaky");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(errors.checks.len(), 2);
}

#[test]
fn layers_merge_and_null_removes() {
    let m = azure();
    let chat = m.checks(Style::OpenInference, Feature::Chat).expect("chat");
    let keys: Vec<&str> = chat[0].attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"llm.model_name"));
    let emb = m
        .checks(Style::OpenInference, Feature::Embeddings)
        .expect("emb");
    let keys: Vec<&str> = emb[0].attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        !keys.contains(&"llm.model_name"),
        "null removed it: {keys:?}"
    );
    assert!(keys.contains(&"embedding.model_name"));
    // Streaming replaces the inherited token assertions with `absent`.
    let stream = m
        .checks(Style::Traceloop, Feature::Streaming)
        .expect("stream");
    let tokens: Vec<&AttrAssertion> = stream[0]
        .attributes
        .iter()
        .filter(|(k, _)| k == "gen_ai.usage.input_tokens")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(tokens, vec![&AttrAssertion::Absent]);
    let multi = m
        .checks(Style::OtelGenAi, Feature::MultiDeployment)
        .expect("multi");
    assert_eq!(multi[0].count, Count::Exactly(2));
    assert_eq!(
        multi[0].status,
        Some(StatusExpect(vec![StatusCode::Unset, StatusCode::Ok]))
    );
}

#[test]
fn shipped_openai_matrix_loads() {
    let m = load_file(&default_matrix_path(Provider::OpenAi)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.target().host, "api.openai.com");
    assert_eq!(m.target().api_version, None);
    let cells = m.cells();
    assert_eq!(cells.len(), 18, "rust only: no python driver listed");
    assert_eq!(cells[0].id, "openai/openinference/chat/rust");
    assert_eq!(m.version_sets().len(), 1);
    assert_eq!(m.version_sets()[0].name, "latest");
}

#[test]
fn filters_select_by_style_feature_driver_and_pattern() {
    let cells = instrumentor_cells(&azure());
    let f = CellFilter {
        styles: vec![Style::Traceloop],
        ..Default::default()
    };
    assert_eq!(f.apply(cells.clone()).len(), 45);
    let f = CellFilter {
        features: vec![Feature::Chat, Feature::Errors],
        ..Default::default()
    };
    assert_eq!(f.apply(cells.clone()).len(), 18);
    let f = CellFilter {
        drivers: vec![DriverKind::Python],
        ..Default::default()
    };
    assert_eq!(f.apply(cells.clone()).len(), 90);
    // A version-set filter narrows python cells only; rust cells have no set.
    let f = CellFilter {
        version_sets: vec!["openai-v1".into()],
        ..Default::default()
    };
    let kept = f.apply(cells.clone());
    assert_eq!(kept.len(), 90, "45 rust + 45 python@openai-v1");
    assert!(kept
        .iter()
        .all(|c| c.version_set_name().is_none_or(|v| v == "openai-v1")));
    let f = CellFilter {
        patterns: vec!["*@latest".into()],
        ..Default::default()
    };
    assert_eq!(f.apply(cells.clone()).len(), 45);
    let f = CellFilter {
        patterns: vec!["*/streaming*".into(), "otel-genai/chat".into()],
        ..Default::default()
    };
    let ids: Vec<String> = f.apply(cells.clone()).into_iter().map(|c| c.id).collect();
    // streaming, streaming-usage, streaming-async-filter, streaming-tools; + otel-genai chat
    assert_eq!(ids.len(), 39, "{ids:?}");
    assert!(CellFilter::default().is_empty());
    assert_eq!(CellFilter::default().apply(cells.clone()).len(), 135);
}

#[test]
fn debug_output_never_shows_the_key() {
    let m = azure();
    assert_eq!(m.api_key(), "replica-key");
    let dbg = format!("{m:?}");
    assert!(!dbg.contains("replica-key"), "{dbg}");
}

// ---------------------------------------------------------------- bad inputs

/// A small valid matrix; each bad-input test changes one thing.
const BASE: &str = r#"provider: azure-openai
target:
  resource: contoso
  api_version: "2024-10-21"
  api_key: k
deployments:
  gpt-4o: {model: gpt-4o-2024-08-06}
  emb: {model: text-embedding-3-small}
  flaky:
    model: gpt-4o-2024-08-06
    faults: [{kind: rate_limit, times: 1}]
styles: [openinference]
features:
  chat: {deployment: gpt-4o}
  embeddings: {deployment: emb}
expect:
  all:
    llm:
      name: "{deployment}"
      attributes:
        llm.model_name: "{model}"
"#;

fn err(text: &str) -> MatrixError {
    match parse_str(text, "m.yaml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

fn assert_err(text: &str, at: &str, needle: &str) {
    let e = err(text);
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("m.yaml:{at}: ")),
        "want position {at}, got:\n{shown}"
    );
    assert!(e.message.contains(needle), "want `{needle}` in:\n{shown}");
}

#[test]
fn base_is_valid() {
    let m = parse_str(BASE, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.cells().len(), 2);
}

#[test]
fn unknown_key() {
    let text = BASE.replace("  api_key: k\n", "  api_key: k\n  region: eastus\n");
    assert_err(&text, "6:3", "unknown field `region`");
    let e = err(&text);
    assert!(e.message.contains("expected one of"), "{e}");
}

#[test]
fn unknown_key_in_a_check() {
    let text = BASE.replace(
        "      name: \"{deployment}\"\n",
        "      name: \"{deployment}\"\n      atributes: {}\n",
    );
    assert_err(&text, "20:7", "unknown field `atributes`");
}

#[test]
fn unknown_style_suggests() {
    let text = BASE.replace("styles: [openinference]", "styles: [openinferance]");
    assert_err(&text, "12:10", "did you mean `openinference`?");
}

#[test]
fn unknown_feature_suggests() {
    let text = BASE.replace(
        "  chat: {deployment: gpt-4o}",
        "  chatt: {deployment: gpt-4o}",
    );
    assert_err(
        &text,
        "14:3",
        "unknown feature `chatt` (did you mean `chat`?)",
    );
}

#[test]
fn unknown_feature_parameter() {
    let text = BASE.replace(
        "  chat: {deployment: gpt-4o}",
        "  chat: {deployment: gpt-4o, inputs: [a]}",
    );
    assert_err(&text, "14:30", "unknown field `inputs`");
}

#[test]
fn undefined_deployment_suggests() {
    let text = BASE.replace(
        "  chat: {deployment: gpt-4o}",
        "  chat: {deployment: gpt4o}",
    );
    assert_err(
        &text,
        "14:22",
        "names deployment `gpt4o`, which is not defined (did you mean `gpt-4o`?)",
    );
}

#[test]
fn embeddings_on_a_chat_deployment() {
    let text = BASE.replace(
        "  embeddings: {deployment: emb}",
        "  embeddings: {deployment: gpt-4o}",
    );
    assert_err(
        &text,
        "15:28",
        "needs an embedding deployment, but `gpt-4o` is a chat deployment",
    );
}

#[test]
fn chat_on_an_embedding_deployment() {
    let text = BASE.replace("  chat: {deployment: gpt-4o}", "  chat: {deployment: emb}");
    assert_err(
        &text,
        "14:22",
        "needs a chat deployment, but `emb` is an embedding deployment",
    );
}

#[test]
fn flaky_deployment_without_rate_limit() {
    let text = BASE.replace(
        "  embeddings: {deployment: emb}",
        "  embeddings: {deployment: emb}\n  errors: {missing_deployment: nope, flaky_deployment: gpt-4o}",
    );
    assert_err(&text, "16:56", "has no rate_limit fault");
    let ok = BASE.replace(
        "  embeddings: {deployment: emb}",
        "  embeddings: {deployment: emb}\n  errors: {missing_deployment: nope, flaky_deployment: flaky}",
    );
    assert!(parse_str(&ok, "m.yaml").is_ok());
    let defined = ok.replace("missing_deployment: nope", "missing_deployment: gpt-4o");
    assert_err(&defined, "16:32", "would not answer 404");
}

#[test]
fn bad_regex() {
    let text = BASE.replace(
        "        llm.model_name: \"{model}\"",
        "        llm.model_name: {regex: \"gpt-(4o\"}",
    );
    assert_err(&text, "21:25", "invalid regex `gpt-(4o`");
}

#[test]
fn unknown_placeholder_suggests() {
    let text = BASE.replace(
        "        llm.model_name: \"{model}\"",
        "        llm.model_name: \"{modle}\"",
    );
    assert_err(
        &text,
        "21:25",
        "unknown placeholder `{modle}` (did you mean `{model}`?)",
    );
}

#[test]
fn placeholder_without_a_value_in_a_cell() {
    let text = BASE.replace(
        "        llm.model_name: \"{model}\"",
        "        llm.model_name: \"{flaky_model}\"",
    );
    assert_err(&text, "21:9", "`{flaky_model}` has no value in this cell");
}

#[test]
fn unknown_assertion_operator_suggests() {
    let text = BASE.replace(
        "        llm.model_name: \"{model}\"",
        "        llm.model_name: {regx: a}",
    );
    assert_err(
        &text,
        "21:25",
        "unknown assertion `regx` (did you mean `regex`?)",
    );
}

#[test]
fn wrong_type() {
    let text = BASE.replace(
        "  chat: {deployment: gpt-4o}",
        "  chat: {deployment: gpt-4o, max_tokens: lots}",
    );
    assert_err(&text, "14:42", "expected a non-negative integer");
    let text = BASE.replace("styles: [openinference]", "styles: openinference");
    assert_err(&text, "12:9", "expected a list");
    let text = BASE.replace("deployments:\n  gpt-4o:", "deployments: []\nx:\n  gpt-4o:");
    assert_err(&text, "6:14", "expected a mapping");
}

#[test]
fn known_issue_naming_an_unknown_check() {
    let text = format!("{BASE}known_issues:\n  - {{id: x, reason: r, check: lm}}\n");
    assert_err(
        &text,
        "23:31",
        "names check `lm`, which no cell has (did you mean `llm`?)",
    );
}

#[test]
fn style_without_any_check() {
    let text = BASE
        .replace(
            "styles: [openinference]",
            "styles: [openinference, traceloop]",
        )
        .replace(
            "expect:\n  all:",
            "expect:\n  styles:\n    traceloop:\n      all:\n        llm: null\n  all:",
        );
    assert_err(
        &text,
        "12:25",
        "style `traceloop` has no expectations for feature `chat`",
    );
}

#[test]
fn billion_laughs_is_rejected() {
    let mut text = String::from("provider: azure-openai\nlol: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "l{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    let e = err(&text);
    assert!(e.message.contains("alias bomb"), "{e}");
    assert!(e.pos.is_some(), "{e}");
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let text = format!(
        "{BASE}# {}\n",
        "x".repeat(hh_compat::matrix::MAX_MATRIX_BYTES)
    );
    let e = err(&text);
    assert_eq!(e.pos, None);
    assert!(
        e.to_string()
            .starts_with("m.yaml: the matrix is larger than 1024 KiB"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("hh-compat-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("big.yaml");
    std::fs::write(&path, &text).expect("write");
    let e = load_file(&path).expect_err("too big");
    assert!(e.message.contains("larger than"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_file() {
    assert_err("", "1:1", "the matrix is empty");
    assert_err("# only a comment\n\n", "1:1", "the matrix is empty");
}

#[test]
fn non_utf8() {
    let mut bytes = b"provider: azure-openai\ntarget:\n  resource: con".to_vec();
    bytes.push(0xff);
    bytes.extend_from_slice(b"toso\n");
    let e = parse_bytes(&bytes, "m.yaml").expect_err("not utf-8");
    assert!(
        e.to_string()
            .starts_with("m.yaml:3:16: the matrix is not valid UTF-8 (byte 0xff)"),
        "{e}"
    );
}

#[test]
fn missing_file() {
    let e = load_file(std::path::Path::new("/nonexistent/matrix.yaml")).expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/matrix.yaml: cannot read the matrix"),
        "{e}"
    );
}

#[test]
fn errors_show_a_caret_snippet_without_the_key() {
    let text = BASE.replace("  api_key: k", "  api_key: [k]");
    let e = err(&text);
    let shown = e.to_string();
    assert!(shown.contains("api_key: ***"), "{shown}");
    assert!(shown.contains('^'), "{shown}");
    assert!(!shown.contains("[k]"), "{shown}");
}

#[test]
fn the_documented_example_is_a_valid_matrix() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/matrix.md"))
        .expect("docs");
    let example = doc.split("## Example").nth(1).expect("example section");
    let yaml = example
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("yaml block");
    let m = parse_str(yaml, "docs/matrix.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.cells().len(), 2);
}

// ---------------------------------------------------------------- version sets

const SETS: &str = r#"drivers: [rust, python]
version_sets:
  latest:
    common: [openai==3.57.0, opentelemetry-sdk==1.45.2]
    styles:
      openinference: [openinference-instrumentation-openai==0.1.66]
  old:
    description: an older customer
    common:
      - openai==1.109.1
    styles:
      openinference:
        - openinference-instrumentation-openai==0.1.41
"#;

fn with_sets(sets: &str) -> String {
    BASE.replace("features:\n", &format!("{sets}features:\n"))
}

#[test]
fn version_sets_expand_python_cells_and_keep_rust_ids() {
    let m = parse_str(&with_sets(SETS), "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = m.cells().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "azure-openai/openinference/chat/rust",
            "azure-openai/openinference/chat/python@latest",
            "azure-openai/openinference/chat/python@old",
            "azure-openai/openinference/embeddings/rust",
            "azure-openai/openinference/embeddings/python@latest",
            "azure-openai/openinference/embeddings/python@old",
        ]
    );
    let set = m.version_set("old").expect("defined");
    assert_eq!(set.description.as_deref(), Some("an older customer"));
    assert_eq!(
        set.requirements(Style::OpenInference).expect("covered"),
        [
            "openai==1.109.1",
            "openinference-instrumentation-openai==0.1.41"
        ]
    );
    assert_eq!(set.requirements(Style::Traceloop), None);
    let e = m.version_set("lates").expect_err("unknown");
    assert!(e.contains("did you mean `latest`?"), "{e}");
}

#[test]
fn known_issues_can_be_limited_to_version_sets() {
    let text = format!(
        "{}known_issues:\n  - {{id: x, reason: r, drivers: [python], version_sets: [old]}}\n",
        with_sets(SETS)
    );
    let m = parse_str(&text, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    for c in m.cells() {
        let applies = !c.known_issues.is_empty();
        assert_eq!(applies, c.version_set_name() == Some("old"), "{}", c.id);
    }
}

#[test]
fn known_issue_naming_an_unknown_version_set_suggests() {
    let text = format!(
        "{}known_issues:\n  - {{id: x, reason: r, version_sets: [lates]}}\n",
        with_sets(SETS)
    );
    assert_err(
        &text,
        "36:39",
        "known issue `x`: unknown version set `lates` (did you mean `latest`?)",
    );
}

#[test]
fn python_driver_without_version_sets() {
    let text = BASE.replace("features:\n", "drivers: [rust, python]\nfeatures:\n");
    assert_err(&text, "13:10", "the python driver needs `version_sets`");
}

#[test]
fn a_pin_that_is_not_exact() {
    let text = with_sets(&SETS.replace("openai==3.57.0", "openai>=3.0"));
    assert_err(&text, "16:14", "`openai>=3.0` is not an exact pin");
}

#[test]
fn a_package_pinned_twice_for_a_style() {
    let text = with_sets(&SETS.replace(
        "openinference: [openinference-instrumentation-openai==0.1.66]",
        "openinference: [openinference-instrumentation-openai==0.1.66, OpenAI==3.56.0]",
    ));
    assert_err(
        &text,
        "18:69",
        "`openai` is pinned twice for style `openinference`",
    );
}

#[test]
fn a_version_set_style_must_be_in_styles() {
    let text = with_sets(&SETS.replace(
        "      openinference: [openinference-instrumentation-openai==0.1.66]",
        "      traceloop: [opentelemetry-instrumentation-openai==0.62.4]",
    ));
    assert_err(
        &text,
        "18:7",
        "pins style `traceloop`, which is not in `styles`",
    );
    let text = with_sets(&SETS.replace(
        "      openinference: [openinference-instrumentation-openai==0.1.66]",
        "      openinferense: [openinference-instrumentation-openai==0.1.66]",
    ));
    assert_err(&text, "18:7", "did you mean `openinference`?");
}

#[test]
fn version_set_names_are_id_safe_and_sets_need_styles() {
    let text = with_sets(&SETS.replace("  old:\n", "  Old Set:\n"));
    assert_err(
        &text,
        "19:3",
        "version set name `Old Set` must be lowercase",
    );
    let text = with_sets(&SETS.replace(
        "    styles:\n      openinference: [openinference-instrumentation-openai==0.1.66]\n",
        "    styles: {}\n",
    ));
    assert_err(&text, "16:5", "version set `latest` lists no styles");
    let text = with_sets(&SETS.replace(
        "    description: an older customer\n",
        "    descripton: x\n",
    ));
    assert_err(&text, "20:5", "unknown field `descripton`");
}

fn overlay_dir(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-compat-overlay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write");
    }
    dir
}

const PARENT: &str = r#"provider: azure-openai
target: {resource: contoso, api_version: "2024-10-21"}
deployments: {gpt-4o: {model: gpt-4o-2024-08-06}}
styles: [traceloop]
features: {chat: {deployment: gpt-4o}}
expect:
  all:
    llm:
      name: openai.chat
      attributes:
        gen_ai.openai.api_version: "{api_version}"
        server.address: "{host}"
"#;

#[test]
fn the_shipped_v1_matrix_extends_the_azure_one() {
    let v1 =
        load_file(&default_matrix_path(Provider::AzureOpenAiV1)).unwrap_or_else(|e| panic!("{e}"));
    let azure = azure();
    assert_eq!(v1.provider(), Provider::AzureOpenAiV1);
    assert_eq!(v1.target().api_version, None);
    assert_eq!(v1.target().host, azure.target().host);
    assert_eq!(v1.cells().len(), azure.cells().len());
    assert_eq!(v1.known_issues().len(), azure.known_issues().len());
    assert_eq!(v1.cells()[0].id, "azure-openai-v1/openinference/chat/rust");
    // The overlay's one layer: traceloop's api-version must be absent on v1.
    let api_version = |m: &hh_compat::matrix::Matrix| {
        m.checks(Style::Traceloop, Feature::Chat)
            .and_then(|c| c.iter().find(|c| c.label == "llm"))
            .and_then(|c| {
                c.attributes
                    .iter()
                    .find(|(k, _)| k == "gen_ai.openai.api_version")
            })
            .map(|(_, a)| a.clone())
    };
    assert_eq!(api_version(&v1), Some(AttrAssertion::Absent));
    assert!(matches!(
        api_version(&azure),
        Some(AttrAssertion::Equals(_))
    ));
    // Inherited untouched elsewhere.
    assert_eq!(
        v1.checks(Style::OtelGenAi, Feature::Chat).map(<[_]>::len),
        azure
            .checks(Style::OtelGenAi, Feature::Chat)
            .map(<[_]>::len)
    );
}

#[test]
fn an_overlay_can_remove_and_add_checks() {
    let child = "extends: parent.yaml\nprovider: azure-openai-v1\ntarget: {resource: contoso}\nexpect:\n  all:\n    llm:\n      attributes:\n        gen_ai.openai.api_version: null\n    extra:\n      name: other\n";
    let dir = overlay_dir("ok", &[("parent.yaml", PARENT), ("child.yaml", child)]);
    let m = load_file(&dir.join("child.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let checks = m.checks(Style::Traceloop, Feature::Chat).expect("checks");
    let labels: Vec<&str> = checks.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["llm", "extra"]);
    let keys: Vec<&str> = checks[0]
        .attributes
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["server.address"]);
}

/// A customer's overlay adds their pins, a feature (on a deployment of its own) and a
/// setup; a name the parent has is replaced in place, so the parent's order holds.
#[test]
fn an_overlay_can_add_version_sets_features_deployments_and_setups() {
    let parent = PARENT.replace(
        "styles: [traceloop]\n",
        "styles: [traceloop]\ndrivers: [rust, python]\nversion_sets:\n  latest:\n    common: [openai==3.57.0]\n    \
         styles: {traceloop: [opentelemetry-instrumentation-openai==0.62.4]}\n",
    );
    let child = "extends: parent.yaml
deployments:
  mini: {model: gpt-4o-mini-2024-07-18}
features:
  streaming: {deployment: mini}
version_sets:
  customer:
    common: [openai==1.40.0]
    styles: {traceloop: [opentelemetry-instrumentation-openai==0.47.5]}
    setups: {instrumentor: [], traceloop-sdk: [traceloop-sdk==0.47.5]}
  latest:
    common: [openai==3.58.0]
    styles: {traceloop: [opentelemetry-instrumentation-openai==0.62.4]}
setups:
  instrumentor:
  traceloop-sdk: {features: [chat]}
";
    let dir = overlay_dir("adds", &[("parent.yaml", &parent), ("child.yaml", child)]);
    let m = load_file(&dir.join("child.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = m.cells().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "azure-openai/traceloop/chat/rust",
            "azure-openai/traceloop/chat/python@latest",
            "azure-openai/traceloop/chat/python@customer",
            "azure-openai/traceloop/chat/python@customer/traceloop-sdk",
            "azure-openai/traceloop/streaming/rust",
            "azure-openai/traceloop/streaming/python@latest",
            "azure-openai/traceloop/streaming/python@customer",
        ]
    );
    let cells = m.cells();
    let latest = cells
        .iter()
        .find(|c| c.id.ends_with("chat/python@latest"))
        .and_then(|c| c.version_set.as_ref())
        .expect("the latest set");
    assert!(
        latest.requirements.iter().any(|r| r == "openai==3.58.0"),
        "the overlay's `latest` replaces the parent's: {:?}",
        latest.requirements
    );
    let streaming = cells
        .iter()
        .find(|c| c.id == "azure-openai/traceloop/streaming/rust")
        .expect("streaming");
    assert_eq!(
        streaming.vars.get("deployment"),
        Some(&hh_compat::expect::VarValue::One("mini".into()))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn overlay_mistakes_name_the_right_file_and_line() {
    // The parent is missing.
    let dir = overlay_dir(
        "missing",
        &[("child.yaml", "# v1\nextends: nowhere.yaml\n")],
    );
    let e = load_file(&dir.join("child.yaml")).expect_err("no parent");
    assert!(
        e.location().ends_with("child.yaml:2:10"),
        "{}",
        e.location()
    );
    assert!(
        e.to_string().contains("cannot read the matrix it extends"),
        "{e}"
    );

    // An unknown key in the overlay, located in the overlay.
    let dir = overlay_dir(
        "unknown",
        &[
            ("parent.yaml", PARENT),
            ("child.yaml", "extends: parent.yaml\nstyles: [traceloop]\n"),
        ],
    );
    let e = load_file(&dir.join("child.yaml")).expect_err("styles cannot be overridden");
    assert!(e.location().ends_with("child.yaml:2:1"), "{}", e.location());

    // A mistake in the parent is reported against the parent.
    let broken = PARENT.replace("styles: [traceloop]", "styles: [traceloup]");
    let dir = overlay_dir(
        "parent",
        &[
            ("parent.yaml", &broken),
            ("child.yaml", "extends: parent.yaml\n"),
        ],
    );
    let e = load_file(&dir.join("child.yaml")).expect_err("broken parent");
    assert!(
        e.location().ends_with("parent.yaml:4:10"),
        "{}",
        e.location()
    );

    // Chains are refused; an overlay layer for a style the matrix lacks is an error.
    let dir = overlay_dir(
        "chain",
        &[
            ("parent.yaml", PARENT),
            ("mid.yaml", "extends: parent.yaml\n"),
            ("child.yaml", "extends: mid.yaml\n"),
            ("style.yaml", "extends: parent.yaml\nexpect:\n  styles:\n    otel-genai:\n      all: {llm: {name: x}}\n"),
        ],
    );
    let e = load_file(&dir.join("child.yaml")).expect_err("chain");
    assert!(
        e.to_string().contains("extends another matrix itself"),
        "{e}"
    );
    let e = load_file(&dir.join("style.yaml")).expect_err("unknown style");
    assert!(e.to_string().contains("no such style"), "{e}");
    assert!(e.location().ends_with("style.yaml:4:5"), "{}", e.location());
}

#[test]
fn shipped_setups_expand_after_the_instrumentor_cells_of_their_set() {
    let m = azure();
    let cells = m.cells();
    // honeyhive: 3 styles x 4 features x 2 sets; honeyhive-instrumentors and -late:
    // 3 x 2 x 2 each; traceloop-sdk and phoenix: 1 style x 3 features x latest.
    assert_eq!(cells.len(), 135 + 24 + 12 + 12 + 3 + 3);
    let ids: Vec<&str> = cells
        .iter()
        .filter(|c| c.style == Style::OpenInference && c.feature == Feature::Chat)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "azure-openai/openinference/chat/rust",
            "azure-openai/openinference/chat/python@latest",
            "azure-openai/openinference/chat/python@latest/honeyhive",
            "azure-openai/openinference/chat/python@latest/honeyhive-instrumentors",
            "azure-openai/openinference/chat/python@latest/honeyhive-late",
            "azure-openai/openinference/chat/python@latest/phoenix",
            "azure-openai/openinference/chat/python@honeyhive-1.6/honeyhive",
            "azure-openai/openinference/chat/python@honeyhive-1.6/honeyhive-instrumentors",
            "azure-openai/openinference/chat/python@honeyhive-1.6/honeyhive-late",
            "azure-openai/openinference/chat/python@openai-v1",
        ]
    );
    // `enrichment` exists only where HoneyHive's tracer does, with the backend checks.
    let enrichment: Vec<_> = cells
        .iter()
        .filter(|c| c.feature == Feature::Enrichment)
        .collect();
    assert_eq!(enrichment.len(), 3 * 3 * 2);
    assert!(enrichment
        .iter()
        .all(|c| c.setup.is_honeyhive() && c.backend.len() == 2));
    let guide = enrichment[0];
    assert!(
        guide.checks.iter().any(|c| c.label == "trace"),
        "{:?}",
        guide.checks
    );
    assert!(guide.checks.iter().any(|c| c.label == "session"));
    // A setup's pins replace the common ones of the same package.
    let sdk = cells
        .iter()
        .find(|c| c.setup == Setup::TraceloopSdk)
        .and_then(|c| c.version_set.as_ref())
        .expect("traceloop-sdk cell");
    assert!(sdk
        .requirements
        .contains(&"opentelemetry-sdk==1.45.1".to_string()));
    assert!(!sdk
        .requirements
        .contains(&"opentelemetry-sdk==1.45.2".to_string()));
    // Known issues scoped to a setup apply only there.
    let late = cells
        .iter()
        .find(|c| c.setup == Setup::HoneyhiveLate)
        .expect("late cell");
    assert!(late
        .known_issues
        .iter()
        .all(|k| k.id != "honeyhive-instrumentors-kwarg-ignored"));
}

#[test]
fn bad_setups_are_located_errors() {
    let base = |setups: &str, sets: &str| {
        format!(
            r#"provider: azure-openai
target: {{resource: contoso, api_version: "2024-10-21"}}
deployments: {{gpt-4o: {{model: gpt-4o-2024-08-06}}}}
styles: [traceloop]
drivers: [python]
version_sets:
  latest:
    styles: {{traceloop: [opentelemetry-instrumentation-openai==0.62.4]}}
{sets}features: {{chat: {{deployment: gpt-4o}}}}
{setups}expect: {{all: {{llm: {{name: openai.chat}}}}}}
"#
        )
    };
    let err = |setups: &str, sets: &str| {
        parse_str(&base(setups, sets), "m.yaml")
            .expect_err("must be refused")
            .to_string()
    };
    let e = err("setups:\n  honeyhiv:\n", "");
    assert!(e.contains("did you mean `honeyhive`"), "{e}");
    let e = err("setups:\n  honeyhive:\n", "");
    assert!(e.contains("run by no version set"), "{e}");
    let e = err(
        "setups:\n  instrumentor:\n",
        "    setups: {honeyhive: [honeyhive==1.7.0]}\n",
    );
    assert!(e.contains("which `setups` does not list"), "{e}");
    let e = err(
        "setups:\n  phoenix:\n    features: [chat]\n    backend: {post /v1/traces: 1}\n",
        "    setups: {phoenix: [arize-phoenix-otel==0.17.2]}\n",
    );
    assert!(e.starts_with("m.yaml:") && e.contains("not a route"), "{e}");
    let e = err(
        "setups:\n  instrumentor:\n",
        "    setups: {instrumentor: [], phoenix: [arize-phoenix-otel>=0.17]}\n",
    );
    assert!(e.contains("not an exact pin"), "{e}");
}

/// `target.shapes` picks the month whose Azure shapes the replica answers in; a value that
/// is not a month is refused at load, with its position.
#[test]
fn target_shapes_is_a_month() {
    let m = parse_str(BASE, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.target().shapes, None);
    let text = BASE.replace("  api_key: k\n", "  api_key: k\n  shapes: \"2024-12\"\n");
    let m = parse_str(&text, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.target().shapes.map(|s| s.to_string()).as_deref(),
        Some("2024-12")
    );
    let bad = BASE.replace("  api_key: k\n", "  api_key: k\n  shapes: December\n");
    let e = err(&bad).to_string();
    assert!(e.starts_with("m.yaml:") && e.contains("YYYY-MM"), "{e}");
}

#[test]
fn an_endpoint_form_keeps_its_trailing_slash_and_must_name_the_host() {
    let text = BASE.replace(
        "  api_key: k\n",
        "  api_key: k\n  endpoint: https://contoso.openai.azure.com/\n",
    );
    let m = parse_str(&text, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.target()
            .endpoint
            .url("http://contoso.openai.azure.com", m.provider()),
        "http://contoso.openai.azure.com/"
    );
    assert!(!m.target().api_version_env);
    let text = BASE.replace(
        "  api_key: k\n",
        "  api_key: k\n  endpoint: https://fabrikam.openai.azure.com/\n",
    );
    assert_err(&text, "6:13", "`target.endpoint`");
    assert_err(&text, "6:13", "target's host is `contoso.openai.azure.com`");
}

#[test]
fn a_known_issue_scoped_by_versions_is_checked_at_load() {
    let issue = |when: &str| {
        format!("{BASE}known_issues:\n  - id: old\n    reason: r\n    when: {{{when}}}\n")
    };
    let m = parse_str(
        &issue("opentelemetry_instrumentation_openai: \"<0.40\""),
        "m.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let when = &m.known_issues()[0].when;
    assert_eq!(when[0].package, "opentelemetry-instrumentation-openai");
    assert_eq!(when[0].range.to_string(), "<0.40");
    assert_err(
        &issue("openai: \"0.40\""),
        "25:20",
        "known issue `old`, `when.openai`: `0.40` is not a version clause",
    );
    assert_err(
        &issue("\"open ai\": \"<1\""),
        "25:12",
        "`open ai` is not a package name",
    );
}

/// `BASE` with `eras` under `expect.styles.openinference` (from line 25 on).
fn with_eras(eras: &str) -> String {
    format!("{BASE}  styles:\n    openinference:\n      eras:\n{eras}")
}

#[test]
fn era_mistakes_are_located() {
    assert_err(
        &with_eras("        - when: {}\n"),
        "25:17",
        "`when` is empty",
    );
    assert_err(
        &with_eras("        - when: {openai: \"<<2\"}\n"),
        "25:26",
        "is not a version",
    );
    assert_err(
        // The era's mapping is where serde-saphyr places a key its visitor refuses.
        &with_eras("        - when: {openai: \"<2\"}\n          streming: {}\n"),
        "25:11",
        "streaming",
    );
    let seven = "        - when: {openai: \"<2\"}\n".repeat(7);
    assert_err(&with_eras(&seven), "25:9", "7 eras; at most 6");
    // An era's checks are validated as the style's: an unknown placeholder is named.
    assert_err(
        &with_eras(
            "        - when: {openai: \"<2\"}\n          all: {llm: {attributes: {llm.model_name: \"{modle}\"}}}\n",
        ),
        "26:52",
        "did you mean `{model}`",
    );
}

#[test]
fn a_valid_era_loads_and_leaves_the_ids_alone() {
    let m = parse_str(
        &with_eras(
            "        - when: {openai: \"<2\"}\n          all: {llm: {attributes: {llm.model_name: null}}}\n",
        ),
        "m.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.cells().len(), 2);
}

#[test]
fn a_known_issue_names_the_kind_of_error_it_expects() {
    use hh_compat::expect::ErrorMatch;
    use hh_compat::vocab::ErrorKind;
    let issue = |error: &str| {
        format!("{BASE}known_issues:\n  - id: x\n    reason: r\n    error: {error}\n")
    };
    let line = BASE.lines().count() + 4;
    let m = parse_str(
        &issue(r#"{kind: instrument, exception: TypeError, message: "module"}"#),
        "m.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.known_issues()[0].error,
        Some(ErrorMatch {
            kind: ErrorKind::Instrument,
            exception: Some("TypeError".into()),
            message: Some("module".into()),
        })
    );
    // A bare text says how to write it instead, at its position.
    assert_err(
        &issue(r#""No module named 'httpx'""#),
        &format!("{line}:12"),
        "`error:` names the kind of the app's error, e.g. error: {kind: instrument, message: \"No module named 'httpx'\"}",
    );
    assert_err(
        &issue("{kind: import}"),
        &format!("{line}:19"),
        "unknown error kind `import`",
    );
    assert_err(
        &issue("{kind: unexpected, exception: ValueError}"),
        &format!("{line}:12"),
        "an `unexpected` error has no type to match",
    );
    assert_err(
        &issue("{kind: call, text: x}"),
        &format!("{line}:25"),
        "unknown field `text`",
    );
}
