//! The shipped azure-openai expectations applied to the real Python instrumentors'
//! spans (shared/reference/instrumentor-spans): every failure must be one of the
//! matrix's python known issues, and every such issue must reproduce (xfail, not xpass).
//! This proves both the assertions and the known issues against real data.

use hh_compat::capture::{
    AttrValue, CapturedEvent, CapturedSpan, Scope, SpanKind, SpanStatus, StatusCode,
};
use hh_compat::expect::{evaluate, judge, TemplateVars, Verdict};
use hh_compat::matrix::{default_matrix_path, load_file};
use hh_compat::vocab::{DriverKind, Feature, Provider, Style};
use std::path::Path;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference");

fn to_span(v: &serde_json::Value, i: usize) -> CapturedSpan {
    let attrs = v["attributes"].as_object().expect("attributes");
    let attributes = attrs
        .iter()
        .map(|(k, v)| {
            let value: AttrValue = serde_json::from_value(v.clone()).expect("attr value");
            (k.clone(), value)
        })
        .collect();
    let kind = match v["kind"].as_str().unwrap_or_default() {
        "SpanKind.CLIENT" => SpanKind::Client,
        _ => SpanKind::Internal,
    };
    let code = match v["status"].as_str().unwrap_or_default() {
        "StatusCode.OK" => StatusCode::Ok,
        "StatusCode.ERROR" => StatusCode::Error,
        _ => StatusCode::Unset,
    };
    CapturedSpan {
        name: v["name"].as_str().unwrap_or_default().to_string(),
        kind,
        status: SpanStatus {
            code,
            message: None,
        },
        attributes,
        events: v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| CapturedEvent {
                        name: e.as_str().unwrap_or_default().into(),
                        attributes: Default::default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        trace_id: "t".into(),
        span_id: format!("s{i}"),
        parent_span_id: None,
        scope: Scope {
            name: "reference".into(),
            version: None,
        },
        resource: Default::default(),
        start_unix_nanos: 0,
        end_unix_nanos: 1,
    }
}

fn vars(style: Style, feature: Feature, deployment: &str, model: &str) -> TemplateVars {
    let mut v = TemplateVars::new();
    v.set("provider", "azure-openai")
        .set("style", style.as_str())
        .set("feature", feature.as_str())
        .set("driver", "python")
        .set("host", "myres.openai.azure.com")
        .set("resource", "myres")
        .set("api_version", "2024-10-21")
        .set("deployment", deployment)
        .set("model", model);
    v
}

fn verdict(
    style: Style,
    feature: Feature,
    case: &str,
    deployment: &str,
    model: &str,
) -> (Verdict, String) {
    let file = Path::new(REFERENCE).join(format!("{style}.json"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reference spans {}: {e}", file.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference json");
    let spans: Vec<CapturedSpan> = json[case]
        .as_array()
        .expect("case")
        .iter()
        .enumerate()
        .map(|(i, s)| to_span(s, i))
        .collect();
    let m = load_file(&default_matrix_path(Provider::AzureOpenAi)).expect("matrix");
    let checks = m.checks(style, feature).expect("checks");
    // The reference spans were recorded with the `latest` packages.
    let latest: std::collections::BTreeMap<String, String> = m
        .version_set("latest")
        .expect("latest")
        .requirements(style)
        .expect("pins")
        .iter()
        .filter_map(|r| r.split_once("=="))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let known: Vec<_> = m
        .known_issues()
        .iter()
        .filter(|k| {
            k.applies_to(style, feature, DriverKind::Python)
                && k.applies_to_version_set(Some("latest"))
                && k.applies_to_versions(&latest)
        })
        .cloned()
        .collect();
    let findings = evaluate(checks, &spans, &vars(style, feature, deployment, model));
    let j = judge(findings, &known);
    let detail = format!(
        "failures:\n{}\nunreproduced: {:?}",
        j.failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        j.unreproduced.iter().map(|k| &k.id).collect::<Vec<_>>()
    );
    (j.verdict(), detail)
}

/// Every style's real spans for `case` fail exactly as the matrix's known issues say.
fn assert_xfail_for_every_style(feature: Feature, case: &str, deployment: &str, model: &str) {
    for style in Style::ALL {
        let (v, detail) = verdict(*style, feature, case, deployment, model);
        assert_eq!(v, Verdict::XFail, "{style}: {detail}");
    }
}

#[test]
fn real_instrumentors_chat_is_xfail_exactly_on_known_issues() {
    assert_xfail_for_every_style(Feature::Chat, "chat", "my-gpt4o", "gpt-4o-2024-08-06");
}

#[test]
fn real_instrumentors_streams_without_usage_report_no_tokens() {
    // Traceloop/otel-genai streams lack nothing else; openinference lacks server.address.
    assert_xfail_for_every_style(
        Feature::Streaming,
        "stream",
        "my-gpt4o",
        "gpt-4o-2024-08-06",
    );
}

#[test]
fn real_instrumentors_embeddings() {
    assert_xfail_for_every_style(
        Feature::Embeddings,
        "embeddings",
        "my-embed",
        "text-embedding-3-small",
    );
}
