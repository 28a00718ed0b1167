//! The OpenInference reference emitter against the real instrumentor's span shapes.

use crate::instrument_support::*;
use hh_compat::capture::{AttrValue, SpanKind, StatusCode};
use hh_compat::instrument::ContentCapture;
use hh_compat::vocab::Style;

const STYLE: Style = Style::OpenInference;

// Attribute keys of the real instrumentor (reference/instrumentor-spans/openinference.json).
const CHAT: &[&str] = &[
    "input.mime_type",
    "input.value",
    "llm.finish_reason",
    "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.role",
    "llm.invocation_parameters",
    "llm.model_name",
    "llm.output_messages.0.message.content",
    "llm.output_messages.0.message.role",
    "llm.provider",
    "llm.system",
    "llm.token_count.completion",
    "llm.token_count.prompt",
    "llm.token_count.total",
    "openinference.span.kind",
    "output.mime_type",
    "output.value",
];
const STREAM: &[&str] = &[
    "input.mime_type",
    "input.value",
    "llm.finish_reason",
    "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.role",
    "llm.invocation_parameters",
    "llm.model_name",
    "llm.output_messages.0.message.content",
    "llm.output_messages.0.message.role",
    "llm.provider",
    "llm.system",
    "openinference.span.kind",
    "output.mime_type",
    "output.value",
];
const EMBEDDINGS: &[&str] = &[
    "embedding.embeddings.0.embedding.text",
    "embedding.embeddings.0.embedding.vector",
    "embedding.embeddings.1.embedding.text",
    "embedding.embeddings.1.embedding.vector",
    "embedding.invocation_parameters",
    "embedding.model_name",
    "input.mime_type",
    "input.value",
    "llm.provider",
    "llm.system",
    "llm.token_count.prompt",
    "llm.token_count.total",
    "openinference.span.kind",
    "output.mime_type",
    "output.value",
];
const NOT_FOUND: &[&str] = &[
    "input.mime_type",
    "input.value",
    "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.role",
    "llm.invocation_parameters",
    "llm.provider",
    "llm.system",
    "openinference.span.kind",
];

// Beyond the real package: the endpoint (general conventions) and the error class.
const EXTRA: &[&str] = &["error.type", "server.address", "server.port"];

fn reference(case: Case) -> &'static [&'static str] {
    match case {
        Case::Chat | Case::StreamUsage | Case::MultiDeployment => CHAT,
        Case::Stream => STREAM,
        Case::Embeddings => EMBEDDINGS,
        Case::NotFound => NOT_FOUND,
    }
}

#[tokio::test]
async fn every_case_has_the_reference_names_kinds_and_keys() {
    for case in Case::ALL {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::On).await;
        let llm = llm_spans(&spans);
        let expected = if case == Case::MultiDeployment { 2 } else { 1 };
        assert_eq!(llm.len(), expected, "{case:?}");
        for span in llm {
            let name = if case == Case::Embeddings {
                "CreateEmbeddings"
            } else {
                "ChatCompletion"
            };
            assert_eq!(span.name, name, "{case:?}");
            assert_eq!(span.kind, SpanKind::Internal, "{case:?}");
            assert_keys_match(span, reference(case), &[], EXTRA);
            assert_eq!(s(span, "llm.provider"), "azure", "Azure from the host");
            assert_eq!(s(span, "llm.system"), "openai");
            assert_eq!(span.scope.name, "hh_compat.instrument.openinference");
        }
    }
}

#[tokio::test]
async fn chat_records_snapshot_model_usage_and_deployment_in_parameters() {
    let spans = run_case(STYLE, Case::Chat, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(span.status.code, StatusCode::Ok);
    assert_eq!(s(span, "openinference.span.kind"), "LLM");
    assert_eq!(s(span, "llm.model_name"), SNAPSHOT_MODEL);
    let params: serde_json::Value =
        serde_json::from_str(s(span, "llm.invocation_parameters")).expect("json");
    assert_eq!(
        params["model"], "my-gpt4o",
        "the deployment is the request model"
    );
    assert_eq!(params["temperature"], 0.2);
    assert!(params.get("messages").is_none());
    assert_eq!(i(span, "llm.token_count.prompt"), 11);
    assert_eq!(i(span, "llm.token_count.completion"), 7);
    assert_eq!(i(span, "llm.token_count.total"), 18);
    assert_eq!(s(span, "llm.finish_reason"), "stop");
    assert_eq!(s(span, "llm.input_messages.0.message.role"), "user");
    assert_eq!(s(span, "llm.input_messages.0.message.content"), "Say hello");
    assert_eq!(
        s(span, "llm.output_messages.0.message.content"),
        "Hello from my-gpt4o"
    );
    let output: serde_json::Value = serde_json::from_str(s(span, "output.value")).expect("json");
    assert_eq!(output["id"], "chatcmpl-REF1");
    assert_eq!(s(span, "output.mime_type"), "application/json");
    assert!(span.events.is_empty());
}

#[tokio::test]
async fn streams_mark_first_token_and_count_tokens_only_when_reported() {
    for (case, usage) in [(Case::Stream, false), (Case::StreamUsage, true)] {
        let spans = run_case(STYLE, case, azure_endpoint(), ContentCapture::On).await;
        let span = &spans[0];
        assert_eq!(span.status.code, StatusCode::Ok);
        let names: Vec<_> = span.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["First Token Stream Event"]);
        assert_eq!(
            s(span, "llm.model_name"),
            SNAPSHOT_MODEL,
            "from the first chunk that has it"
        );
        assert_eq!(s(span, "llm.output_messages.0.message.content"), "1, 2, 3");
        assert_eq!(
            span.attr("llm.token_count.total").is_some(),
            usage,
            "{case:?}"
        );
        if usage {
            assert_eq!(i(span, "llm.token_count.prompt"), 9);
            assert_eq!(i(span, "llm.token_count.completion"), 5);
        }
        let output: serde_json::Value =
            serde_json::from_str(s(span, "output.value")).expect("json");
        assert_eq!(output["id"], "chatcmpl-REF2");
        assert_eq!(output["created"], 1732000000);
        let input: serde_json::Value = serde_json::from_str(s(span, "input.value")).expect("json");
        assert_eq!(input["stream"], true);
    }
}

#[tokio::test]
async fn embeddings_record_texts_vectors_and_model() {
    let spans = run_case(
        STYLE,
        Case::Embeddings,
        azure_endpoint(),
        ContentCapture::On,
    )
    .await;
    let span = &spans[0];
    assert_eq!(s(span, "openinference.span.kind"), "EMBEDDING");
    assert_eq!(s(span, "embedding.model_name"), EMBED_MODEL);
    assert_eq!(s(span, "embedding.embeddings.1.embedding.text"), "b");
    assert_eq!(
        span.attr("embedding.embeddings.0.embedding.vector"),
        Some(&AttrValue::DoubleArray(vec![0.1, 0.2, 0.3]))
    );
    assert_eq!(i(span, "llm.token_count.prompt"), 4);
    assert_eq!(i(span, "llm.token_count.total"), 4);
    let params: serde_json::Value =
        serde_json::from_str(s(span, "embedding.invocation_parameters")).expect("json");
    assert_eq!(params["model"], "my-embed");
    assert!(params.get("input").is_none());
}

#[tokio::test]
async fn multi_deployment_spans_share_the_parent_trace() {
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
    let llm = llm_spans(&spans);
    let deployments: Vec<_> = llm
        .iter()
        .map(|span| {
            assert_eq!(span.trace_id, parent.trace_id);
            assert_eq!(
                span.parent_span_id.as_deref(),
                Some(parent.span_id.as_str())
            );
            let p: serde_json::Value =
                serde_json::from_str(s(span, "llm.invocation_parameters")).expect("json");
            p["model"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(deployments, ["dep-a", "dep-b"]);
}

#[tokio::test]
async fn not_found_is_an_error_with_exception_event() {
    let spans = run_case(STYLE, Case::NotFound, azure_endpoint(), ContentCapture::On).await;
    let span = &spans[0];
    assert_eq!(span.status.code, StatusCode::Error);
    assert!(span
        .status
        .message
        .as_deref()
        .unwrap_or_default()
        .contains("DeploymentNotFound"));
    assert_eq!(s(span, "error.type"), "NotFoundError");
    assert_eq!(span.events.len(), 1);
    let ev = &span.events[0];
    assert_eq!(ev.name, "exception");
    assert_eq!(
        ev.attributes["exception.type"],
        AttrValue::from("NotFoundError")
    );
    assert!(ev.attributes["exception.message"]
        .to_string()
        .contains("DeploymentNotFound"));
    assert!(span.attr("llm.model_name").is_none());
    assert!(span.attr("output.value").is_none());
}

#[tokio::test]
async fn non_azure_host_is_openai() {
    let spans = run_case(STYLE, Case::Chat, openai_endpoint(), ContentCapture::On).await;
    assert_eq!(s(&spans[0], "llm.provider"), "openai");
}

#[tokio::test]
async fn hidden_content_is_redacted_or_dropped() {
    let spans = run_case(STYLE, Case::Chat, azure_endpoint(), ContentCapture::Off).await;
    let span = &spans[0];
    assert_eq!(s(span, "input.value"), "__REDACTED__");
    assert_eq!(s(span, "output.value"), "__REDACTED__");
    assert!(span
        .attributes
        .keys()
        .all(|k| !k.starts_with("llm.input_messages")
            && !k.starts_with("llm.output_messages")
            && k != "input.mime_type"
            && k != "output.mime_type"));
    // Non-content facts stay.
    assert_eq!(s(span, "llm.model_name"), SNAPSHOT_MODEL);
    assert_eq!(i(span, "llm.token_count.total"), 18);

    let spans = run_case(
        STYLE,
        Case::Chat,
        azure_endpoint(),
        ContentCapture::OutputsOnly,
    )
    .await;
    let span = &spans[0];
    assert_eq!(s(span, "input.value"), "__REDACTED__");
    assert_eq!(
        s(span, "llm.output_messages.0.message.content"),
        "Hello from my-gpt4o"
    );

    let spans = run_case(
        STYLE,
        Case::Embeddings,
        azure_endpoint(),
        ContentCapture::Off,
    )
    .await;
    assert!(spans[0]
        .attributes
        .keys()
        .all(|k| !k.starts_with("embedding.embeddings.")));
}
