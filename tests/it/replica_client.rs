//! The replica driven by the real async-openai 0.43 client, as the rust driver will use it.

use async_openai::config::{AzureConfig, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionNamedToolChoice, ChatCompletionRequestMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    FinishReason, FunctionName, FunctionObjectArgs,
};
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EncodingFormat};
use async_openai::Client;
use futures::StreamExt;
use hh_compat::replica::{
    self, AuthKind, Deployment, Fault, FaultKind, ReplicaConfig, ReplicaHandle, RouteKind,
};

const KEY: &str = "test-key-123";
const GA: &str = "2024-10-21";

/// A client without async-openai's built-in retries, so every attempt is visible.
fn azure(h: &ReplicaHandle, deployment: &str, version: &str, key: &str) -> Client<AzureConfig> {
    let cfg = AzureConfig::new()
        .with_api_base(h.base_url())
        .with_api_key(key)
        .with_deployment_id(deployment)
        .with_api_version(version);
    Client::with_config(cfg).with_http_service(ReqwestService::new(reqwest::Client::new()))
}

fn openai(base: String) -> Client<OpenAIConfig> {
    let cfg = OpenAIConfig::new().with_api_base(base).with_api_key(KEY);
    Client::with_config(cfg).with_http_service(ReqwestService::new(reqwest::Client::new()))
}

async fn replica_with(extra: Vec<Deployment>) -> ReplicaHandle {
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.deployments.extend(extra);
    replica::start(config).await.expect("replica starts")
}

fn chat_request(text: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model("gpt-4o")
        .messages(vec![ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage::from(text),
        )])
        .build()
        .expect("request")
}

fn api_error(e: OpenAIError) -> (u16, Option<String>, String) {
    match e {
        OpenAIError::ApiError(r) => (
            r.status_code.as_u16(),
            r.api_error.code,
            r.api_error.message,
        ),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn azure_chat_answers_with_the_snapshot_and_usage() {
    let h = replica_with(vec![]).await;
    let client = azure(&h, "gpt-4o", GA, KEY);
    let r = client
        .chat()
        .create(chat_request("Hello"))
        .await
        .expect("chat");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    assert!(r.id.starts_with("chatcmpl-"));
    #[allow(deprecated)] // deprecated upstream, still sent by Azure
    let fingerprint = r.system_fingerprint.clone();
    assert!(fingerprint.is_some_and(|f| f.starts_with("fp_")));
    let text = r.choices[0].message.content.clone().expect("content");
    assert!(text.len() > 10);
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    let u = r.usage.expect("usage");
    assert!(u.prompt_tokens > 0 && u.completion_tokens > 0);
    assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);

    let again = client
        .chat()
        .create(chat_request("Hello"))
        .await
        .expect("chat");
    assert_eq!(
        again.choices[0].message.content.as_deref(),
        Some(text.as_str())
    );
    assert_eq!(again.id, r.id);
    let other = client
        .chat()
        .create(chat_request("Goodbye"))
        .await
        .expect("chat");
    assert_ne!(
        other.choices[0].message.content.as_deref(),
        Some(text.as_str())
    );

    let mini = azure(&h, "gpt-4o-mini", GA, KEY)
        .chat()
        .create(chat_request("Hello"))
        .await
        .expect("mini");
    assert_eq!(mini.model, "gpt-4o-mini-2024-07-18");

    let j = h.journal().entries();
    assert_eq!(j.len(), 4);
    assert_eq!(j[0].route, RouteKind::AzureChat);
    assert_eq!(j[0].deployment.as_deref(), Some("gpt-4o"));
    assert_eq!(j[0].api_version.as_deref(), Some(GA));
    assert_eq!(j[0].auth, AuthKind::ApiKey);
    assert_eq!(j[0].status, 200);
    assert!(!j[0].stream);
}

#[tokio::test]
async fn stream_text_equals_non_stream_text_and_usage_comes_last() {
    let h = replica_with(vec![]).await;
    let client = azure(&h, "gpt-4o", GA, KEY);
    let plain = client
        .chat()
        .create(chat_request("Stream me"))
        .await
        .expect("chat");
    let expected = plain.choices[0].message.content.clone().expect("content");

    for include_usage in [false, true] {
        let mut req = chat_request("Stream me");
        if include_usage {
            req.stream_options = Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            });
        }
        let mut stream = client.chat().create_stream(req).await.expect("stream");
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk.expect("chunk"));
        }
        assert!(chunks.len() >= 4);
        assert!(
            chunks[0].choices.is_empty(),
            "Azure's first chunk has no choices"
        );
        assert_eq!(chunks[0].id, "");
        assert_eq!(chunks[0].model, "");
        assert_eq!(chunks[1].model, "gpt-4o-2024-08-06");
        let text: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .filter_map(|c| c.delta.content.clone())
            .collect();
        assert_eq!(text, expected);
        let last = chunks.last().expect("last");
        if include_usage {
            assert!(last.choices.is_empty());
            let u = last.usage.as_ref().expect("usage chunk");
            assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
            assert_eq!(
                u.completion_tokens,
                plain.usage.as_ref().expect("usage").completion_tokens
            );
        } else {
            assert!(chunks.iter().all(|c| c.usage.is_none()));
            assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Stop));
        }
    }
    assert!(h.journal().entries().iter().filter(|e| e.stream).count() == 2);
}

#[tokio::test]
async fn stream_options_on_an_old_api_version_is_rejected() {
    let h = replica_with(vec![]).await;
    let mut req = chat_request("hi");
    req.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    let err = azure(&h, "gpt-4o", "2024-06-01", KEY)
        .chat()
        .create_stream(req)
        .await;
    let err = match err {
        Err(e) => e,
        Ok(mut s) => match s.next().await {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {:?}", other.map(|r| r.is_ok())),
        },
    };
    let text = err.to_string();
    assert!(
        text.contains("Unrecognized request argument supplied: stream_options"),
        "{text}"
    );
}

#[tokio::test]
async fn v1_and_plain_openai_routes() {
    let h = replica_with(vec![]).await;
    let v1 = openai(format!("{}/openai/v1", h.base_url()));
    let r = v1
        .chat()
        .create(chat_request("Hi v1"))
        .await
        .expect("v1 chat");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    let plain = openai(format!("{}/v1", h.base_url()));
    let p = plain
        .chat()
        .create(chat_request("Hi v1"))
        .await
        .expect("openai chat");
    assert_eq!(p.model, "gpt-4o-2024-08-06");
    assert_eq!(p.choices[0].message.content, r.choices[0].message.content);

    let e = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input("hello")
        .build()
        .expect("request");
    let v1e = v1
        .embeddings()
        .create(e.clone())
        .await
        .expect("v1 embeddings");
    assert_eq!(v1e.data[0].embedding.len(), 1536);
    let pe = plain
        .embeddings()
        .create(e)
        .await
        .expect("openai embeddings");
    assert_eq!(pe.data[0].embedding, v1e.data[0].embedding);

    let j = h.journal().entries();
    let routes: Vec<RouteKind> = j.iter().map(|e| e.route).collect();
    assert_eq!(
        routes,
        vec![
            RouteKind::V1Chat,
            RouteKind::OpenAiChat,
            RouteKind::V1Embeddings,
            RouteKind::OpenAiEmbeddings
        ]
    );
    assert!(j
        .iter()
        .all(|e| e.auth == AuthKind::Bearer && e.deployment.is_some()));

    let bad = OpenAIConfig::new()
        .with_api_base(format!("{}/v1", h.base_url()))
        .with_api_key("wrong");
    let bad =
        Client::with_config(bad).with_http_service(ReqwestService::new(reqwest::Client::new()));
    let (status, code, _) = api_error(
        bad.chat()
            .create(chat_request("x"))
            .await
            .expect_err("wrong key"),
    );
    assert_eq!((status, code.as_deref()), (401, Some("invalid_api_key")));
}

#[tokio::test]
async fn embeddings_float_base64_and_dimensions() {
    let h = replica_with(vec![Deployment::new("large", "text-embedding-3-large")]).await;
    let client = azure(&h, "text-embedding-3-small", GA, KEY);
    let req = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(vec!["alpha", "beta"])
        .build()
        .expect("request");
    let floats = client
        .embeddings()
        .create(req.clone())
        .await
        .expect("float");
    assert_eq!(floats.model, "text-embedding-3-small");
    assert_eq!(floats.data.len(), 2);
    assert_ne!(floats.data[0].embedding, floats.data[1].embedding);
    assert!(floats.usage.prompt_tokens > 0);
    assert_eq!(floats.usage.total_tokens, floats.usage.prompt_tokens);
    let norm: f32 = floats.data[0].embedding.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-3);

    let mut b64 = req.clone();
    b64.encoding_format = Some(EncodingFormat::Base64);
    let encoded = client
        .embeddings()
        .create_base64(b64)
        .await
        .expect("base64");
    for (f, b) in floats.data.iter().zip(encoded.data) {
        let decoded: Vec<f32> = b.embedding.into();
        assert_eq!(decoded, f.embedding);
    }

    let large = azure(&h, "large", GA, KEY);
    let full = large.embeddings().create(req.clone()).await.expect("large");
    assert_eq!(full.data[0].embedding.len(), 3072);
    let mut small = req;
    small.dimensions = Some(256);
    let cut = large.embeddings().create(small).await.expect("dimensions");
    assert_eq!(cut.data[0].embedding.len(), 256);
}

#[tokio::test]
async fn azure_errors_in_azure_shapes() {
    let h = replica_with(vec![]).await;
    let (s, c, m) = api_error(
        azure(&h, "nope", GA, KEY)
            .chat()
            .create(chat_request("x"))
            .await
            .expect_err("404"),
    );
    assert_eq!((s, c.as_deref()), (404, Some("DeploymentNotFound")));
    assert!(m.starts_with("The API deployment for this resource does not exist."));

    let (s, c, m) = api_error(
        azure(&h, "gpt-4o", GA, "wrong")
            .chat()
            .create(chat_request("x"))
            .await
            .expect_err("401"),
    );
    assert_eq!((s, c.as_deref()), (401, Some("401")));
    assert!(m.starts_with("Access denied due to invalid subscription key"));

    let (s, c, m) = api_error(
        azure(&h, "gpt-4o", "2023-01-01", KEY)
            .chat()
            .create(chat_request("x"))
            .await
            .expect_err("400"),
    );
    assert_eq!(
        (s, c.as_deref(), m.as_str()),
        (400, Some("BadRequest"), "API version not supported")
    );

    let (s, c, _) = api_error(
        azure(&h, "text-embedding-3-small", GA, KEY)
            .chat()
            .create(chat_request("x"))
            .await
            .expect_err("op"),
    );
    assert_eq!((s, c.as_deref()), (400, Some("OperationNotSupported")));

    let emb = CreateEmbeddingRequestArgs::default()
        .model("x")
        .input("x")
        .build()
        .expect("request");
    let (s, c, m) = api_error(
        azure(&h, "gpt-4o", GA, KEY)
            .embeddings()
            .create(emb)
            .await
            .expect_err("op"),
    );
    assert_eq!((s, c.as_deref()), (400, Some("OperationNotSupported")));
    assert!(m.contains("gpt-4o-2024-08-06"));

    let statuses: Vec<u16> = h.journal().entries().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![404, 401, 400, 400, 400]);
    assert_eq!(h.journal().entries()[1].auth, AuthKind::Invalid);
}

async fn faulty(fault: Fault) -> ReplicaHandle {
    replica_with(vec![
        Deployment::new("faulty", "gpt-4o-2024-08-06").with_fault(fault)
    ])
    .await
}

#[tokio::test]
async fn error_faults_fail_twice_then_succeed() {
    let cases = [
        (FaultKind::RateLimit, 429u16, Some("429")),
        (FaultKind::ServerError, 500, None),
        (FaultKind::Timeout, 408, Some("Timeout")),
        (FaultKind::PromptFilter, 400, Some("content_filter")),
    ];
    for (kind, status, code) in cases {
        let mut fault = Fault::new(kind).times(2);
        fault.retry_after_ms = Some(10);
        let h = faulty(fault).await;
        let client = azure(&h, "faulty", GA, KEY);
        for _ in 0..2 {
            let (s, c, _) = api_error(
                client
                    .chat()
                    .create(chat_request("x"))
                    .await
                    .expect_err("fault"),
            );
            assert_eq!((s, c.as_deref()), (status, code), "{kind:?}");
        }
        let ok = client
            .chat()
            .create(chat_request("x"))
            .await
            .expect("third succeeds");
        assert_eq!(ok.model, "gpt-4o-2024-08-06");
        let j = h.journal().entries();
        assert_eq!(j.len(), 3);
        assert_eq!(j.iter().filter(|e| e.fault == Some(kind)).count(), 2);
        assert_eq!(j[2].status, 200);
    }
}

#[tokio::test]
async fn output_filter_and_latency() {
    let h = faulty(Fault::new(FaultKind::OutputFilter)).await;
    let r = azure(&h, "faulty", GA, KEY)
        .chat()
        .create(chat_request("x"))
        .await
        .expect("200");
    assert_eq!(
        r.choices[0].finish_reason,
        Some(FinishReason::ContentFilter)
    );

    let mut slow = Fault::new(FaultKind::Latency);
    slow.ms = Some(150);
    let h = faulty(slow).await;
    let started = std::time::Instant::now();
    azure(&h, "faulty", GA, KEY)
        .chat()
        .create(chat_request("x"))
        .await
        .expect("slow");
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(h.journal().entries()[0].fault, Some(FaultKind::Latency));
}

#[tokio::test]
async fn forced_tool_choice_gets_a_tool_call() {
    let h = replica_with(vec![]).await;
    let tool = ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObjectArgs::default()
            .name("get_weather")
            .parameters(serde_json::json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}))
            .build()
            .expect("function"),
    });
    let mut req = chat_request("Weather in Paris?");
    req.tools = Some(vec![tool]);
    req.tool_choice = Some(ChatCompletionToolChoiceOption::Function(
        ChatCompletionNamedToolChoice {
            function: FunctionName {
                name: "get_weather".into(),
            },
        },
    ));
    let r = azure(&h, "gpt-4o", GA, KEY)
        .chat()
        .create(req)
        .await
        .expect("tool call");
    // Azure ends a call forced by name with `stop` (recorded 2024-12), not `tool_calls`.
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    let calls = r.choices[0]
        .message
        .tool_calls
        .as_ref()
        .expect("tool_calls");
    let text = serde_json::to_value(&calls[0]).expect("serialize");
    assert_eq!(text["function"]["name"], "get_weather");
    assert_eq!(text["function"]["arguments"], r#"{"city":"replica"}"#);
}
