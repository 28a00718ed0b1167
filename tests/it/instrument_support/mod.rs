//! Shared fixtures for the instrumentation tests: Azure-shaped bodies (the shapes of the
//! reference spans' `output.value`) deserialized into async-openai types, and a runner
//! that drives one case through an `Instrumentor` into a real `CellTracing`.

use std::collections::BTreeSet;

use async_openai::error::{ApiError, ApiErrorResponse, OpenAIError};
use async_openai::types::chat::{
    ChatCompletionResponseStream, CreateChatCompletionRequest, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
};
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};
use hh_compat::capture::{CapturedSpan, CellTracing};
use hh_compat::instrument::{scope_name, ContentCapture, Endpoint, Instrumentor, SCOPE_VERSION};
use hh_compat::vocab::{Provider, Style};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::Context;
use serde_json::{json, Value};

pub const SNAPSHOT_MODEL: &str = "gpt-4o-2024-08-06";
pub const EMBED_MODEL: &str = "text-embedding-3-small";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Chat,
    Stream,
    StreamUsage,
    Embeddings,
    MultiDeployment,
    NotFound,
}

impl Case {
    pub const ALL: [Case; 6] = [
        Case::Chat,
        Case::Stream,
        Case::StreamUsage,
        Case::Embeddings,
        Case::MultiDeployment,
        Case::NotFound,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::Chat => "chat",
            Case::Stream => "stream",
            Case::StreamUsage => "stream_usage",
            Case::Embeddings => "embeddings",
            Case::MultiDeployment => "multi_deployment",
            Case::NotFound => "not_found",
        }
    }
}

pub fn azure_endpoint() -> Endpoint {
    Endpoint::from_url(
        Provider::AzureOpenAi,
        "http://myres.openai.azure.com/",
        Some("2024-10-21"),
    )
    .expect("valid endpoint")
}

pub fn openai_endpoint() -> Endpoint {
    Endpoint::from_url(Provider::OpenAi, "https://api.openai.com/v1", None).expect("valid")
}

pub fn chat_request(model: &str, extra: Value) -> CreateChatCompletionRequest {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(body).expect("valid chat request")
}

/// Azure's chat body, with its extras (`prompt_filter_results`, `content_filter_results`).
pub fn chat_response(deployment: &str) -> CreateChatCompletionResponse {
    let filter = json!({"hate": {"filtered": false, "severity": "safe"}});
    serde_json::from_value(json!({
        "id": "chatcmpl-REF1",
        "choices": [{"finish_reason": "stop", "index": 0, "logprobs": null,
            "message": {"content": format!("Hello from {deployment}"), "refusal": null, "role": "assistant"},
            "content_filter_results": filter}],
        "created": 1732000000, "model": SNAPSHOT_MODEL, "object": "chat.completion",
        "system_fingerprint": "fp_ref",
        "usage": {"completion_tokens": 7, "prompt_tokens": 11, "total_tokens": 18},
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter}]
    }))
    .expect("azure chat body deserializes")
}

/// Azure's stream for "1, 2, 3": empty first chunk (no id, model, created), role chunk,
/// three content chunks, finish chunk, and the usage chunk when asked for.
pub fn stream_chunks(include_usage: bool) -> Vec<CreateChatCompletionStreamResponse> {
    let filter = json!({"hate": {"filtered": false, "severity": "safe"}});
    let chunk = |choices: Value| {
        json!({"id": "chatcmpl-REF2", "object": "chat.completion.chunk", "created": 1732000000,
               "model": SNAPSHOT_MODEL, "system_fingerprint": "fp_ref", "choices": choices})
    };
    let mut bodies = vec![
        json!({"id": "", "object": "", "created": 0, "model": "", "choices": [],
               "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
        chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        ),
    ];
    for piece in ["1", ", 2", ", 3"] {
        bodies.push(chunk(json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null, "content_filter_results": filter}])));
    }
    bodies.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop", "content_filter_results": {}}]),
    ));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14});
        bodies.push(last);
    }
    bodies
        .into_iter()
        .map(|b| serde_json::from_value(b).expect("azure chunk deserializes"))
        .collect()
}

pub fn as_stream(chunks: Vec<CreateChatCompletionStreamResponse>) -> ChatCompletionResponseStream {
    Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))
}

pub fn embedding_request() -> CreateEmbeddingRequest {
    serde_json::from_value(
        json!({"model": "my-embed", "input": ["a", "b"], "encoding_format": "float"}),
    )
    .expect("valid embeddings request")
}

pub fn embedding_response() -> CreateEmbeddingResponse {
    serde_json::from_value(json!({
        "data": [
            {"embedding": [0.1, 0.2, 0.3], "index": 0, "object": "embedding"},
            {"embedding": [0.1, 0.2, 0.3], "index": 1, "object": "embedding"}
        ],
        "model": EMBED_MODEL, "object": "list",
        "usage": {"prompt_tokens": 4, "total_tokens": 4}
    }))
    .expect("azure embeddings body deserializes")
}

/// Azure's 404 for an unknown deployment, as async-openai surfaces it.
pub fn deployment_not_found() -> OpenAIError {
    let body = json!({"error": {"code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}});
    let api_error: ApiError =
        serde_json::from_value(body["error"].clone()).expect("azure error deserializes");
    OpenAIError::ApiError(ApiErrorResponse {
        status_code: reqwest::StatusCode::NOT_FOUND,
        api_error,
    })
}

pub fn cell(id: &str) -> CellTracing {
    CellTracing::new(&[
        ("service.name", "hh-compat".to_string()),
        ("hh_compat.cell", id.to_string()),
    ])
}

/// Runs one case for one style and returns every captured span (for
/// `MultiDeployment`, the parent span too).
pub async fn run_case(
    style: Style,
    case: Case,
    endpoint: Endpoint,
    content: ContentCapture,
) -> Vec<CapturedSpan> {
    let tracing = cell(&format!("{}/{}", style.as_str(), case.name()));
    let tracer = tracing.tracer(scope_name(style), Some(SCOPE_VERSION));
    let inst = Instrumentor::new(style, tracer.clone(), endpoint).with_content_capture(content);
    match case {
        Case::Chat => {
            let req = chat_request("my-gpt4o", json!({"temperature": 0.2, "max_tokens": 50}));
            let resp = inst
                .chat(&req, async { Ok(chat_response("my-gpt4o")) })
                .await
                .expect("chat succeeds");
            assert_eq!(
                resp.model, SNAPSHOT_MODEL,
                "response is handed back untouched"
            );
        }
        Case::Stream | Case::StreamUsage => {
            let usage = case == Case::StreamUsage;
            let extra = if usage {
                json!({"stream": true, "stream_options": {"include_usage": true}})
            } else {
                json!({"stream": true})
            };
            let req = chat_request("my-gpt4o", extra);
            let summary = inst
                .chat_stream(&req, async move { Ok(as_stream(stream_chunks(usage))) })
                .await
                .expect("stream succeeds");
            assert_eq!(summary.text, "1, 2, 3");
            assert_eq!(summary.chunks, if usage { 7 } else { 6 });
            assert_eq!(summary.usage.is_some(), usage);
        }
        Case::Embeddings => {
            let resp = inst
                .embeddings(&embedding_request(), async { Ok(embedding_response()) })
                .await
                .expect("embeddings succeed");
            assert_eq!(resp.data.len(), 2);
        }
        Case::MultiDeployment => {
            let parent = tracer.start("multi-deployment");
            let cx = Context::current_with_span(parent);
            for dep in ["dep-a", "dep-b"] {
                let req = chat_request(dep, json!({}));
                inst.chat(&req, async move { Ok(chat_response(dep)) })
                    .with_context(cx.clone())
                    .await
                    .expect("chat succeeds");
            }
            cx.span().end();
        }
        Case::NotFound => {
            let req = chat_request("missing", json!({}));
            let err = inst
                .chat(&req, async { Err(deployment_not_found()) })
                .await
                .expect_err("404 is passed through");
            assert!(matches!(err, OpenAIError::ApiError(ref e) if e.status_code == 404));
        }
    }
    tracing.finish()
}

/// The LLM spans of a run (everything but the test's own parent span).
pub fn llm_spans(spans: &[CapturedSpan]) -> Vec<&CapturedSpan> {
    spans
        .iter()
        .filter(|s| s.name != "multi-deployment")
        .collect()
}

pub fn keys(span: &CapturedSpan) -> BTreeSet<&str> {
    span.attributes.keys().map(String::as_str).collect()
}

/// Checks a span's keys against the reference instrumentor's: every reference key not
/// listed in `known_missing` is present, and every key beyond the reference is in
/// `allowed_extra`. Both lists are the documented deviations.
pub fn assert_keys_match(
    span: &CapturedSpan,
    reference: &[&str],
    known_missing: &[&str],
    allowed_extra: &[&str],
) {
    let ours = keys(span);
    let missing: Vec<_> = reference
        .iter()
        .filter(|k| !ours.contains(*k) && !known_missing.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "span {} lacks reference keys {missing:?}; has {ours:?}",
        span.name
    );
    let extra: Vec<_> = ours
        .iter()
        .filter(|k| !reference.contains(k) && !allowed_extra.contains(k))
        .collect();
    assert!(
        extra.is_empty(),
        "span {} has unexpected keys {extra:?}",
        span.name
    );
}

pub fn s<'a>(span: &'a CapturedSpan, key: &str) -> &'a str {
    span.attr(key).and_then(|v| v.as_str()).unwrap_or_else(|| {
        panic!(
            "{key} is not a string attribute of {}: {:?}",
            span.name, span.attributes
        )
    })
}

pub fn i(span: &CapturedSpan, key: &str) -> i64 {
    span.attr(key)
        .filter(|v| matches!(v, hh_compat::capture::AttrValue::Int(_)))
        .and_then(|v| v.as_i64())
        .unwrap_or_else(|| {
            panic!(
                "{key} is not an int attribute of {}: {:?}",
                span.name, span.attributes
            )
        })
}
