//! The Traceloop reference emitter against the real instrumentor's span shapes.

use crate::instrument_support::*;
use hh_compat::capture::{AttrValue, SpanKind, StatusCode};
use hh_compat::instrument::ContentCapture;
use hh_compat::vocab::Style;

const STYLE: Style = Style::Traceloop;

// Attribute keys of the real instrumentor (reference/instrumentor-spans/traceloop.json).
const CHAT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.openai.response.system_fingerprint",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.prompt.prompt_filter_results",
    "gen_ai.provider.name",
    "gen_ai.request.max_tokens",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.total_tokens",
];
const STREAM: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.prompt.prompt_filter_results",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
];
const STREAM_USAGE: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.prompt.prompt_filter_results",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.total_tokens",
];
const EMBEDDINGS: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.total_tokens",
];
const MULTI_DEPLOYMENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.openai.response.system_fingerprint",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.prompt.prompt_filter_results",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.total_tokens",
];
const NOT_FOUND: &[&str] = &[
    "error.type",
    "gen_ai.input.messages",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
    "gen_ai.openai.api_version",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
];

/// Azure's `prompt_filter_results` never reaches async-openai's typed response.
const MISSING: &[&str] = &["gen_ai.prompt.prompt_filter_results"];
/// The conventions' server address and port; the stream's system fingerprint.
const EXTRA: &[&str] = &[
    "server.address",
    "server.port",
    "gen_ai.openai.response.system_fingerprint",
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
            let name = if case == Case::Embeddings {
                "openai.embeddings"
            } else {
                "openai.chat"
            };
            assert_eq!(span.name, name, "{case:?}");
            assert_eq!(span.kind, SpanKind::Client);
            assert_keys_match(span, reference(case), MISSING, EXTRA);
            assert_eq!(s(span, "gen_ai.provider.name"), "azure.ai.openai");
            assert_eq!(
                s(span, "gen_ai.openai.api_base"),
                "http://myres.openai.azure.com/openai/"
            );
            assert_eq!(s(span, "gen_ai.openai.api_version"), "2024-10-21");
            assert_eq!(s(span, "server.address"), "myres.openai.azure.com");
            assert_eq!(i(span, "server.port"), 80);
        }
    }
}

#[tokio::test]
async fn chat_records_deployment_snapshot_usage_and_unset_status() {
    let spans = run_case(STYLE, Case::Chat, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(
        span.status.code,
        StatusCode::Unset,
        "as the real instrumentor"
    );
    assert_eq!(s(span, "gen_ai.request.model"), "my-gpt4o");
    assert_eq!(s(span, "gen_ai.response.model"), SNAPSHOT_MODEL);
    assert_eq!(s(span, "gen_ai.response.id"), "chatcmpl-REF1");
    assert_eq!(
        span.attr("gen_ai.is_streaming"),
        Some(&AttrValue::Bool(false))
    );
    assert_eq!(
        span.attr("gen_ai.request.temperature"),
        Some(&AttrValue::Double(0.2))
    );
    assert_eq!(i(span, "gen_ai.request.max_tokens"), 50);
    assert_eq!(
        span.attr("gen_ai.response.finish_reasons"),
        Some(&AttrValue::StringArray(vec!["stop".into()]))
    );
    assert_eq!(i(span, "gen_ai.usage.input_tokens"), 11);
    assert_eq!(i(span, "gen_ai.usage.output_tokens"), 7);
    assert_eq!(i(span, "gen_ai.usage.total_tokens"), 18);
    let input: serde_json::Value =
        serde_json::from_str(s(span, "gen_ai.input.messages")).expect("json");
    assert_eq!(input[0]["parts"][0]["content"], "Say hello");
    let output: serde_json::Value =
        serde_json::from_str(s(span, "gen_ai.output.messages")).expect("json");
    assert_eq!(output[0]["parts"][0]["content"], "Hello from my-gpt4o");
    assert_eq!(output[0]["finish_reason"], "stop");
}

#[tokio::test]
async fn streams_emit_one_chunk_event_per_chunk_and_ok_status() {
    for (case, chunks, usage) in [(Case::Stream, 6, false), (Case::StreamUsage, 7, true)] {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::On).await;
        let span = &spans[0];
        assert_eq!(span.status.code, StatusCode::Ok);
        assert_eq!(span.events.len(), chunks, "{case:?}");
        assert!(span
            .events
            .iter()
            .all(|e| e.name == "gen_ai.content.completion.chunk"));
        assert_eq!(
            span.attr("gen_ai.is_streaming"),
            Some(&AttrValue::Bool(true))
        );
        assert_eq!(
            s(span, "gen_ai.response.id"),
            "chatcmpl-REF2",
            "not the empty first chunk's id"
        );
        assert_eq!(s(span, "gen_ai.response.model"), SNAPSHOT_MODEL);
        assert_eq!(span.attr("gen_ai.usage.total_tokens").is_some(), usage);
        let output: serde_json::Value =
            serde_json::from_str(s(span, "gen_ai.output.messages")).expect("json");
        assert_eq!(output[0]["parts"][0]["content"], "1, 2, 3");
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
    assert_eq!(s(span, "gen_ai.response.model"), EMBED_MODEL);
    assert_eq!(i(span, "gen_ai.usage.input_tokens"), 4);
    assert_eq!(i(span, "gen_ai.usage.cache_read.input_tokens"), 0);
    assert_eq!(span.status.code, StatusCode::Unset);

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
    let deps: Vec<_> = llm_spans(&spans)
        .iter()
        .map(|span| {
            assert_eq!(
                span.parent_span_id.as_deref(),
                Some(parent.span_id.as_str())
            );
            s(span, "gen_ai.request.model").to_string()
        })
        .collect();
    assert_eq!(deps, ["dep-a", "dep-b"]);
}

#[tokio::test]
async fn not_found_is_an_error_with_exception_event() {
    let spans = run_case(STYLE, Case::NotFound, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(s(span, "error.type"), "NotFoundError");
    assert_eq!(s(span, "gen_ai.request.model"), "missing");
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
async fn non_azure_host_and_content_off() {
    let spans = run_case(STYLE, Case::Chat, openai_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(s(span, "gen_ai.provider.name"), "openai");
    assert_eq!(s(span, "server.address"), "api.openai.com");
    assert_eq!(i(span, "server.port"), 443);
    assert!(span.attr("gen_ai.openai.api_version").is_none());

    for case in [Case::Chat, Case::StreamUsage, Case::Embeddings] {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::Off).await;
        let span = &spans[0];
        assert!(span.attr("gen_ai.input.messages").is_none(), "{case:?}");
        assert!(span.attr("gen_ai.output.messages").is_none(), "{case:?}");
        assert!(span.attr("gen_ai.response.model").is_some(), "{case:?}");
    }
}
