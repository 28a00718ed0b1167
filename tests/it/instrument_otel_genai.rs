//! The OpenTelemetry GenAI reference emitter against the real instrumentor's span shapes.

use crate::instrument_support::*;
use hh_compat::capture::{AttrValue, SpanKind, StatusCode};
use hh_compat::instrument::ContentCapture;
use hh_compat::vocab::Style;

const STYLE: Style = Style::OtelGenAi;

// Attribute keys of the real instrumentor (reference/instrumentor-spans/otel-genai.json,
// recorded with content capture on).
const CHAT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.provider.name",
    "gen_ai.request.max_tokens",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "openai.response.system_fingerprint",
    "server.address",
];
const STREAM: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.request.stream",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.time_to_first_chunk",
    "server.address",
];
const STREAM_USAGE: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.request.stream",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "server.address",
];
const EMBEDDINGS: &[&str] = &[
    "gen_ai.embeddings.dimension.count",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "server.address",
];
const MULTI_DEPLOYMENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "openai.response.system_fingerprint",
    "server.address",
];
const NOT_FOUND: &[&str] = &[
    "error.type",
    "gen_ai.input.messages",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "server.address",
];

/// `server.port` (the real one omits it); the stream's system fingerprint; the
/// requested encoding format of embeddings.
const EXTRA: &[&str] = &[
    "server.port",
    "openai.response.system_fingerprint",
    "gen_ai.request.encoding_formats",
];

fn reference(case: Case) -> &'static [&'static str] {
    match case {
        Case::Chat => CHAT,
        Case::Stream => STREAM,
        Case::StreamUsage => STREAM_USAGE,
        Case::Embeddings => EMBEDDINGS,
        Case::MultiDeployment => MULTI_DEPLOYMENT,
        Case::NotFound => NOT_FOUND,
    }
}

#[tokio::test]
async fn every_case_has_the_reference_names_kinds_and_keys() {
    for case in Case::ALL {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::On).await;
        for span in llm_spans(&spans) {
            let op = if case == Case::Embeddings {
                "embeddings"
            } else {
                "chat"
            };
            let model = s(span, "gen_ai.request.model");
            assert_eq!(span.name, format!("{op} {model}"), "{case:?}");
            assert_eq!(span.kind, SpanKind::Client);
            assert_keys_match(span, reference(case), &[], EXTRA);
            assert_eq!(s(span, "gen_ai.provider.name"), "azure.ai.openai");
            assert_eq!(s(span, "server.address"), "myres.openai.azure.com");
            assert_eq!(i(span, "server.port"), 80);
        }
    }
}

#[tokio::test]
async fn chat_and_streams() {
    let spans = run_case(STYLE, Case::Chat, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(span.name, "chat my-gpt4o");
    assert_eq!(span.status.code, StatusCode::Unset);
    assert_eq!(s(span, "gen_ai.response.model"), SNAPSHOT_MODEL);
    assert_eq!(i(span, "gen_ai.usage.input_tokens"), 11);
    assert_eq!(i(span, "gen_ai.usage.output_tokens"), 7);
    assert!(span.attr("gen_ai.request.stream").is_none());
    assert!(span.attr("gen_ai.response.time_to_first_chunk").is_none());
    let input: serde_json::Value =
        serde_json::from_str(s(span, "gen_ai.input.messages")).expect("json");
    assert_eq!(input[0]["parts"][0]["content"], "Say hello");
    assert!(input[0]["name"].is_null());

    for (case, usage) in [(Case::Stream, false), (Case::StreamUsage, true)] {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::On).await;
        let span = &spans[0];
        assert_eq!(span.status.code, StatusCode::Unset);
        assert!(span.events.is_empty());
        assert_eq!(
            span.attr("gen_ai.request.stream"),
            Some(&AttrValue::Bool(true))
        );
        let ttfc = span
            .attr("gen_ai.response.time_to_first_chunk")
            .expect("ttfc");
        assert!(
            matches!(ttfc, AttrValue::Double(d) if *d >= 0.0 && *d < 5.0),
            "{ttfc:?}"
        );
        assert_eq!(s(span, "gen_ai.response.id"), "chatcmpl-REF2");
        assert_eq!(
            span.attr("gen_ai.usage.input_tokens").is_some(),
            usage,
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn embeddings_and_multi_deployment() {
    let spans = run_case(
        STYLE,
        Case::Embeddings,
        azure_endpoint(),
        ContentCapture::On,
    )
    .await;
    let span = &spans[0];
    assert_eq!(span.name, "embeddings my-embed");
    assert_eq!(i(span, "gen_ai.embeddings.dimension.count"), 3);
    assert_eq!(s(span, "gen_ai.response.model"), EMBED_MODEL);

    let spans = run_case(
        STYLE,
        Case::MultiDeployment,
        azure_endpoint(),
        ContentCapture::On,
    )
    .await;
    let parent = spans
        .iter()
        .find(|s| s.name == "multi-deployment")
        .expect("parent");
    let names: Vec<_> = llm_spans(&spans)
        .iter()
        .map(|span| {
            assert_eq!(span.trace_id, parent.trace_id);
            assert_eq!(
                span.parent_span_id.as_deref(),
                Some(parent.span_id.as_str())
            );
            span.name.clone()
        })
        .collect();
    assert_eq!(names, ["chat dep-a", "chat dep-b"]);
}

#[tokio::test]
async fn not_found_is_an_error_with_prefixed_type() {
    let spans = run_case(STYLE, Case::NotFound, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(span.name, "chat missing");
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(s(span, "error.type"), "openai.NotFoundError");
    let ev = span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    assert_eq!(
        ev.attributes["exception.type"],
        AttrValue::from("NotFoundError")
    );
    assert!(ev.attributes["exception.message"]
        .to_string()
        .contains("DeploymentNotFound"));
}

#[tokio::test]
async fn content_is_off_unless_asked_and_non_azure_is_openai() {
    let spans = run_case(STYLE, Case::Chat, openai_endpoint(), ContentCapture::Off).await;
    let span = &spans[0];
    assert_eq!(s(span, "gen_ai.provider.name"), "openai");
    assert_eq!(i(span, "server.port"), 443);
    assert!(span.attr("gen_ai.input.messages").is_none());
    assert!(span.attr("gen_ai.output.messages").is_none());
    assert_eq!(s(span, "gen_ai.response.model"), SNAPSHOT_MODEL);
}
