//! The replica at the HTTP level: raw SSE, headers, error bodies, proxy mode, scopes.

use std::time::Duration;

use hh_compat::replica::{
    self, AuthKind, Deployment, Fault, FaultKind, JournalEntry, ReplicaConfig, ReplicaHandle,
    RouteKind, SCOPE_HEADER,
};
use serde_json::{json, Value};

const KEY: &str = "http-test-key";
const GA: &str = "2024-10-21";

async fn replica_with(extra: Vec<Deployment>) -> ReplicaHandle {
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.deployments.extend(extra);
    replica::start(config).await.expect("replica starts")
}

fn chat_url(h: &ReplicaHandle, dep: &str) -> String {
    format!(
        "{}/openai/deployments/{dep}/chat/completions?api-version={GA}",
        h.base_url()
    )
}

async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The `data:` payloads of a stream, split exactly as Azure frames them (`data: …` then a
/// blank line, LF only): strict on purpose, so a change in the replica's framing fails here
/// even though the crate's tolerant framer (`src/sse.rs`) would still read it.
fn sse_events(body: &str) -> Vec<&str> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a `data: ` event: {e:?}"))
        })
        .collect()
}

const HELLO: &str = r#"{"messages":[{"role":"user","content":"hello"}]}"#;

#[tokio::test]
async fn raw_stream_follows_azures_order() {
    let h = replica_with(vec![]).await;
    let body = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    let (status, headers, text) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], body).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/event-stream"));
    let events = sse_events(&text);
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| json_of(e))
        .collect();
    let first = &chunks[0];
    assert_eq!(first["choices"], json!([]));
    assert_eq!(
        (
            first["id"].as_str(),
            first["model"].as_str(),
            first["object"].as_str()
        ),
        (Some(""), Some(""), Some(""))
    );
    assert_eq!(first["created"], 0);
    assert_eq!(first["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(chunks[1]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[1]["model"], "gpt-4o-2024-08-06");
    let n = chunks.len();
    let content = &chunks[2..n - 2];
    assert!(content.len() >= 2, "content spread over several chunks");
    for c in content {
        assert!(c["choices"][0]["delta"]["content"].is_string());
        assert_eq!(
            c["choices"][0]["content_filter_results"]["hate"]["filtered"],
            false
        );
    }
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 2]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert!(chunks[n - 1]["usage"]["total_tokens"].as_u64().is_some());

    let (_, _, plain) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    let plain = json_of(&plain);
    let streamed: String = content
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(plain["choices"][0]["message"]["content"], streamed.as_str());

    let without = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;
    let (_, _, text) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], without).await;
    assert!(
        !text.contains("\"usage\""),
        "no usage chunk without include_usage"
    );
}

#[tokio::test]
async fn azure_headers_and_body_annotations() {
    let h = replica_with(vec![]).await;
    let (status, headers, text) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(status, 200);
    for name in [
        "apim-request-id",
        "x-request-id",
        "x-ms-region",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-limit-requests",
        "x-ratelimit-reset-tokens",
        "azureml-model-session",
        "x-ms-rai-invoked",
    ] {
        assert!(headers.contains_key(name), "missing {name}");
    }
    assert_eq!(headers["x-ms-region"], "East US");
    assert_ne!(
        headers["apim-request-id"], headers["x-request-id"],
        "Azure's two ids differ"
    );
    // Errors as Azure sends them: a 401 has the apim id only; a 404 no x-request-id and
    // no rate-limit headers.
    let (status, headers, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", "wrong")], HELLO).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("apim-request-id"));
    for absent in [
        "x-request-id",
        "x-ms-region",
        "x-ratelimit-remaining-requests",
    ] {
        assert!(!headers.contains_key(absent), "401 has {absent}");
    }
    let (status, headers, _) = post(&chat_url(&h, "nope"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(status, 404);
    assert!(headers.contains_key("apim-request-id") && headers.contains_key("x-ms-region"));
    for absent in ["x-request-id", "x-ratelimit-remaining-requests"] {
        assert!(!headers.contains_key(absent), "404 has {absent}");
    }
    let v = json_of(&text);
    assert_eq!(v["object"], "chat.completion");
    assert!(v["prompt_filter_results"].is_array());
    assert!(v["choices"][0]["content_filter_results"]["violence"].is_object());
    assert!(v["usage"]["completion_tokens_details"].is_object());
    assert!(v["usage"]["prompt_tokens_details"]["cached_tokens"].is_number());
    let (_, _, again) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(text, again, "same request, same body");

    let (_, headers, text) = post(
        &format!("{}/v1/chat/completions", h.base_url()),
        &[("authorization", &format!("Bearer {KEY}"))],
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#,
    )
    .await;
    let v = json_of(&text);
    assert!(v.get("prompt_filter_results").is_none());
    assert!(v["choices"][0].get("content_filter_results").is_none());
    assert!(!headers.contains_key("apim-request-id"));
}

#[tokio::test]
async fn auth_variants() {
    let h = replica_with(vec![]).await;
    let url = chat_url(&h, "gpt-4o");
    let (s, _, body) = post(
        &url,
        &[("authorization", "Bearer eyJhbGciOi.eyJhdWQiOi.c2lnbmF0dXJl")],
        HELLO,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) = post(&url, &[("authorization", "Bearer not-a-token")], HELLO).await;
    assert_eq!(s, 401);
    let v = json_of(&body);
    assert_eq!(v["statusCode"], 401);
    assert!(v.get("error").is_none(), "bearer failures are unwrapped");
    assert!(v["message"]
        .as_str()
        .unwrap_or("")
        .contains("https://cognitiveservices.azure.com"));
    let (s, _, body) = post(&url, &[], HELLO).await;
    assert_eq!(s, 401);
    assert_eq!(json_of(&body)["error"]["code"], "401");
    let (s, _, body) = post(&url, &[("api-key", "wrong-secret-value")], HELLO).await;
    assert_eq!(s, 401);
    assert_eq!(
        json_of(&body),
        json!({"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}})
    );
    let auths: Vec<AuthKind> = h.journal().entries().iter().map(|e| e.auth).collect();
    assert_eq!(
        auths,
        vec![
            AuthKind::Bearer,
            AuthKind::Invalid,
            AuthKind::None,
            AuthKind::Invalid
        ]
    );
    let dump = format!("{:?}", h.journal().entries());
    assert!(
        !dump.contains(KEY) && !dump.contains("wrong-secret-value") && !dump.contains("eyJhbGciOi")
    );
}

#[tokio::test]
async fn routing_and_request_errors() {
    let h = replica_with(vec![]).await;
    let base = h.base_url();
    let not_found = json!({"error":{"code":"404","message":"Resource not found"}});
    let (s, _, b) = post(
        &format!("{base}/openai/deployments/gpt-4o/chat/completions"),
        &[("api-key", KEY)],
        HELLO,
    )
    .await;
    assert_eq!(
        (s, json_of(&b)),
        (404, not_found.clone()),
        "missing api-version"
    );
    let (s, _, b) = post(
        &format!("{base}/openai/deployments/gpt-4o/completions?api-version={GA}"),
        &[("api-key", KEY)],
        HELLO,
    )
    .await;
    assert_eq!((s, json_of(&b)), (404, not_found.clone()), "unknown path");
    let r = reqwest::get(chat_url(&h, "gpt-4o")).await.expect("get");
    assert_eq!(r.status().as_u16(), 404);

    let url = chat_url(&h, "gpt-4o");
    let (s, _, b) = post(&url, &[("api-key", KEY)], "{not json").await;
    assert_eq!(s, 400);
    assert_eq!(json_of(&b)["error"]["type"], "invalid_request_error");
    for bad in [
        r#"{"messages":"hello"}"#,
        r#"{"messages":[{"role":1,"content":"x"}]}"#,
        r#"{"messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
        r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}"#,
        r#"[]"#,
        "\u{0}\u{1}\u{2}",
    ] {
        let (s, _, b) = post(&url, &[("api-key", KEY)], bad).await;
        assert_eq!(s, 400, "{bad}");
        assert!(json_of(&b)["error"].is_object(), "{bad}");
    }
    let emb =
        format!("{base}/openai/deployments/text-embedding-3-small/embeddings?api-version={GA}");
    let (s, _, _) = post(&emb, &[("api-key", KEY)], r#"{"input":{"a":1}}"#).await;
    assert_eq!(s, 400);

    let huge = vec![b' '; 16 * 1024 * 1024 + 1];
    let (s, _, b) = post(&url, &[("api-key", KEY)], huge).await;
    assert_eq!(s, 413);
    assert!(json_of(&b)["error"].is_object());
    // The connection survived all of this.
    let (s, _, _) = post(&url, &[("api-key", KEY)], HELLO).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn proxy_mode_keeps_the_azure_host() {
    let h = replica_with(vec![]).await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(h.base_url()).expect("proxy"))
        .build()
        .expect("client");
    let url = format!("http://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version={GA}");
    let resp = client
        .post(&url)
        .header("api-key", KEY)
        .header("content-type", "application/json")
        .body(HELLO)
        .send()
        .await
        .expect("proxied");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["model"], "gpt-4o-2024-08-06");
    let e: &JournalEntry = &h.journal().entries()[0];
    assert_eq!(e.host.as_deref(), Some("contoso.openai.azure.com"));
    assert_eq!(e.route, RouteKind::AzureChat);
    let direct = h.base_url().trim_start_matches("http://").to_string();
    let (_, _, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(
        h.journal().entries()[1].host.as_deref(),
        Some(direct.as_str())
    );
}

#[tokio::test]
async fn fault_times_are_counted_per_scope() {
    let mut limit = Fault::new(FaultKind::RateLimit).times(1);
    limit.retry_after_ms = Some(1500);
    let h = replica_with(vec![
        Deployment::new("limited", "gpt-4o-2024-08-06").with_fault(limit)
    ])
    .await;
    let url = chat_url(&h, "limited");
    for scope in ["cell-a", "cell-b"] {
        let (s, headers, body) =
            post(&url, &[("api-key", KEY), (SCOPE_HEADER, scope)], HELLO).await;
        assert_eq!(s, 429);
        assert_eq!(headers["retry-after-ms"], "1500");
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(json_of(&body)["error"]["code"], "429");
        let (s, _, _) = post(&url, &[("api-key", KEY), (SCOPE_HEADER, scope)], HELLO).await;
        assert_eq!(s, 200);
    }
    let (s, _, _) = post(&url, &[("api-key", KEY)], HELLO).await;
    assert_eq!(s, 429, "the unscoped requests have their own counter");
    let a = h.journal().for_scope("cell-a");
    assert_eq!(
        a.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    assert_eq!(a[0].fault, Some(FaultKind::RateLimit));
    assert_eq!(h.journal().for_scope("cell-b").len(), 2);
    assert_eq!(h.journal().entries().len(), 5);

    let listed: Vec<Value> =
        reqwest::get(format!("{}/_replica/journal?scope=cell-a", h.base_url()))
            .await
            .expect("journal")
            .json()
            .await
            .expect("json");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["fault"], "rate_limit");
    assert_eq!(listed[0]["route"], "azure_chat");
}

#[tokio::test]
async fn stream_faults() {
    let deps = vec![
        Deployment::new("trunc", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::TruncatedStream)),
        Deployment::new("broken", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::MalformedChunk)),
        Deployment::new("async", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::AsyncFilter)),
        Deployment::new("filtered", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::OutputFilter)),
    ];
    let h = replica_with(deps).await;
    let body = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;

    let (_, _, t) = post(&chat_url(&h, "trunc"), &[("api-key", KEY)], body).await;
    assert!(!t.contains("[DONE]") && !t.contains("finish_reason\":\"stop"));
    let (_, _, t) = post(&chat_url(&h, "broken"), &[("api-key", KEY)], body).await;
    let events = sse_events(&t);
    assert!(events
        .iter()
        .any(|e| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err()));
    assert_eq!(events.last(), Some(&"[DONE]"));
    let (_, _, t) = post(&chat_url(&h, "async"), &[("api-key", KEY)], body).await;
    let annotation = sse_events(&t)
        .into_iter()
        .filter(|e| *e != "[DONE]")
        .map(json_of)
        .find(|c| c["choices"][0].get("content_filter_offsets").is_some())
        .expect("annotation chunk");
    assert!(annotation["choices"][0].get("delta").is_none());
    let (_, _, t) = post(&chat_url(&h, "filtered"), &[("api-key", KEY)], body).await;
    assert!(t.contains(r#""finish_reason":"content_filter""#));

    // Stream-only faults leave non-streamed requests alone.
    let (s, _, b) = post(&chat_url(&h, "trunc"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(
        (s, json_of(&b)["choices"][0]["finish_reason"].as_str()),
        (200, Some("stop"))
    );
    let faults: Vec<Option<FaultKind>> = h.journal().entries().iter().map(|e| e.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some(FaultKind::TruncatedStream),
            Some(FaultKind::MalformedChunk),
            Some(FaultKind::AsyncFilter),
            Some(FaultKind::OutputFilter),
            None
        ]
    );
}

#[tokio::test]
async fn timeout_fault_waits_when_asked() {
    let mut slow = Fault::new(FaultKind::Timeout).times(1);
    slow.ms = Some(100);
    let h = replica_with(vec![
        Deployment::new("slow", "gpt-4o-2024-08-06").with_fault(slow)
    ])
    .await;
    let started = std::time::Instant::now();
    let (s, _, b) = post(&chat_url(&h, "slow"), &[("api-key", KEY)], HELLO).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        (s, json_of(&b)),
        (
            408,
            json!({"error":{"code":"Timeout","message":"The operation was timeout."}})
        )
    );
}

#[tokio::test]
async fn v1_api_version_rules_and_missing_model() {
    let h = replica_with(vec![]).await;
    let bearer = format!("Bearer {KEY}");
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#;
    let (s, _, _) = post(
        &format!(
            "{}/openai/v1/chat/completions?api-version=preview",
            h.base_url()
        ),
        &[("authorization", &bearer)],
        body,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = post(
        &format!(
            "{}/openai/v1/chat/completions?api-version=2024-10-21",
            h.base_url()
        ),
        &[("authorization", &bearer)],
        body,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, b) = post(
        &format!("{}/openai/v1/chat/completions", h.base_url()),
        &[("api-key", KEY)],
        HELLO,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(json_of(&b)["error"]["param"], "model");
    let (s, _, b) = post(
        &format!("{}/openai/v1/chat/completions", h.base_url()),
        &[("api-key", KEY)],
        r#"{"model":"nope","messages":[]}"#,
    )
    .await;
    // The v1 API answers an unknown model with a 400, as Azure does (recorded 2026-01).
    assert_eq!(
        (s, json_of(&b)["error"]["code"].as_str()),
        (400, Some("unknown_model"))
    );
    assert_eq!(json_of(&b)["error"]["message"], "Unknown model: nope");
}

/// Azure writes a stream chunk by chunk (`Transfer-Encoding: chunked`) as tokens come; the
/// replica does too, with a configurable pause, so the first chunk reaches the client
/// before the last is written. Non-streamed answers keep a `Content-Length`.
#[tokio::test]
async fn streams_arrive_chunk_by_chunk_over_time() {
    use futures::StreamExt as _;
    let interval = 25_000u64;
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.stream_interval_us = interval;
    let h = replica::start(config).await.expect("replica starts");
    let body = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .post(chat_url(&h, "gpt-4o"))
        .header("api-key", KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("response");
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    assert!(resp.headers().get("content-length").is_none());
    let mut arrivals = Vec::new();
    let mut text = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        text.extend_from_slice(&chunk.expect("chunk"));
        arrivals.push(started.elapsed());
    }
    let text = String::from_utf8(text).expect("utf-8");
    let events = sse_events(&text).len();
    assert!(events >= 5, "{text}");
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    // Event k is due k intervals after the first is written; the first read may come a
    // little after that, so the spread is at least (events - 2) intervals.
    let spread = Duration::from_micros(interval * (events as u64 - 2));
    assert!(
        last - first >= spread,
        "first {first:?}, last {last:?}, {events} events"
    );
    assert!(
        arrivals.len() >= events / 2,
        "{} reads for {events} events",
        arrivals.len()
    );

    // Zero pause still streams (chunked) but does not wait.
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.stream_interval_us = 0;
    let fast = replica::start(config).await.expect("replica starts");
    let (status, headers, text) = post(&chat_url(&fast, "gpt-4o"), &[("api-key", KEY)], body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["transfer-encoding"], "chunked");
    assert_eq!(sse_events(&text).last(), Some(&"[DONE]"));
    let (_, headers, _) = post(&chat_url(&fast, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert!(headers.get("content-length").is_some());
    assert!(headers.get("transfer-encoding").is_none());

    // Out-of-range pauses are refused when the replica starts.
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.stream_interval_us = replica::MAX_STREAM_INTERVAL_US + 1;
    let e = replica::start(config).await.expect_err("too slow");
    assert!(e.to_string().contains("stream_interval_us"), "{e}");
}

/// A replica configured with an older month answers in that month's shapes (as recorded
/// in December 2024: no `refusal`, `annotations` or usage details); the default is the
/// newest, with `obfuscation` on stream chunks.
#[tokio::test]
async fn shapes_month_changes_the_bodies() {
    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.shapes = replica::Shapes::parse("2024-12");
    let old = replica::start(config).await.expect("replica starts");
    let (status, _, text) = post(&chat_url(&old, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert_eq!(status, 200);
    let v = json_of(&text);
    let message = v["choices"][0]["message"].as_object().expect("message");
    assert_eq!(message.keys().collect::<Vec<_>>(), ["content", "role"]);
    assert!(v["usage"].get("prompt_tokens_details").is_none());

    let new = replica_with(vec![]).await;
    let streamed = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;
    let (_, _, text) = post(&chat_url(&new, "gpt-4o"), &[("api-key", KEY)], streamed).await;
    let events = sse_events(&text);
    assert!(!events[0].contains("obfuscation"));
    assert!(events[1..events.len() - 1]
        .iter()
        .all(|e| json_of(e)["obfuscation"].is_string()));
}

/// Headers that repeat the request, as Azure sent them 2025-04 to 2026-04: a success names
/// the deployment that answered (`x-ms-deployment-name`) and echoes the client's
/// `x-ms-client-request-id` (the v1 route says `Not-Set` when there was none); a
/// prompt-filter 400 names the deployment too, with `x-ms-rai-invoked`; a 401 or 404
/// repeats nothing. Before 2025-04 there was no deployment header.
#[tokio::test]
async fn success_headers_repeat_the_deployment_and_client_request_id() {
    let filtered = Deployment::new("filtered", "gpt-4o-mini-2024-07-18")
        .with_fault(Fault::new(FaultKind::PromptFilter));
    let h = replica_with(vec![filtered]).await;
    let id = ("x-ms-client-request-id", "4b1d-client-id");
    let (status, headers, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY), id], HELLO).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ms-deployment-name"], "gpt-4o");
    assert_eq!(headers["x-ms-client-request-id"], "4b1d-client-id");
    let (_, headers, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    assert!(!headers.contains_key("x-ms-client-request-id"));

    let (status, headers, _) =
        post(&chat_url(&h, "filtered"), &[("api-key", KEY), id], HELLO).await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-ms-deployment-name"], "filtered");
    assert_eq!(headers["x-ms-rai-invoked"], "true");
    assert!(!headers.contains_key("x-ms-client-request-id"));

    for (url, key) in [
        (chat_url(&h, "gpt-4o"), "wrong"),
        (chat_url(&h, "nope"), KEY),
    ] {
        let (status, headers, _) = post(&url, &[("api-key", key), id], HELLO).await;
        assert!(status == 401 || status == 404, "{status}");
        for absent in ["x-ms-deployment-name", "x-ms-client-request-id"] {
            assert!(!headers.contains_key(absent), "{status} has {absent}");
        }
    }

    let (status, headers, _) = post(
        &format!("{}/openai/v1/chat/completions", h.base_url()),
        &[("api-key", KEY)],
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ms-deployment-name"], "gpt-4o-mini");
    assert_eq!(headers["x-ms-client-request-id"], "Not-Set");

    let mut config = ReplicaConfig::with_builtin_deployments(KEY);
    config.shapes = replica::Shapes::parse("2025-01");
    let old = replica::start(config).await.expect("replica starts");
    let (_, headers, _) = post(&chat_url(&old, "gpt-4o"), &[("api-key", KEY), id], HELLO).await;
    assert!(!headers.contains_key("x-ms-deployment-name"));
    assert_eq!(headers["x-ms-client-request-id"], "4b1d-client-id");
}

/// Rate-limit headers follow the month (as recorded): only the `remaining` pair through
/// 2025-01, the `limit` pair beside it from 2025-04, and on successes the `reset`,
/// `renewalperiod` and `abusepenalty` headers from 2026-03 (the default).
#[tokio::test]
async fn rate_limit_headers_by_month() {
    const LIMITS: [&str; 2] = ["x-ratelimit-limit-requests", "x-ratelimit-limit-tokens"];
    const RESETS: [&str; 5] = [
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-renewalperiod-requests",
        "x-ratelimit-renewalperiod-tokens",
        "x-ratelimit-abusepenalty-active",
    ];
    for (month, limits, resets) in [
        (Some("2024-12"), false, false),
        (Some("2025-06"), true, false),
        (Some("2026-02"), true, false),
        (None, true, true),
    ] {
        let mut config = ReplicaConfig::with_builtin_deployments(KEY);
        config.shapes = month.and_then(replica::Shapes::parse);
        let h = replica::start(config).await.expect("replica starts");
        let (status, headers, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
        assert_eq!(status, 200);
        assert!(headers.contains_key("x-ratelimit-remaining-requests"));
        assert!(headers.contains_key("x-ratelimit-remaining-tokens"));
        for name in LIMITS {
            assert_eq!(headers.contains_key(name), limits, "{month:?} {name}");
        }
        for name in RESETS {
            assert_eq!(headers.contains_key(name), resets, "{month:?} {name}");
        }
    }
}

/// The gateway's headers, as recorded 2024-2026: every answer but a 401 has
/// `strict-transport-security` and `x-content-type-options: nosniff`; the gateway's own
/// 404 for a path it does not serve names no region (a missing deployment's does); the
/// v1 route's 400 for an unknown model has no rate-limit headers.
#[tokio::test]
async fn gateway_headers_by_answer() {
    let h = replica_with(vec![]).await;
    let (_, ok, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", KEY)], HELLO).await;
    let (_, missing, _) = post(&chat_url(&h, "nope"), &[("api-key", KEY)], HELLO).await;
    for headers in [&ok, &missing] {
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["strict-transport-security"]
            .to_str()
            .is_ok_and(|v| v.starts_with("max-age=")));
    }
    let (status, refused, _) = post(&chat_url(&h, "gpt-4o"), &[("api-key", "wrong")], HELLO).await;
    assert_eq!(status, 401);
    assert!(!refused.contains_key("strict-transport-security"));

    let (status, gateway, _) = post(
        &format!("{}/chat/completions", h.base_url()),
        &[("api-key", KEY)],
        HELLO,
    )
    .await;
    assert_eq!(status, 404);
    assert!(!gateway.contains_key("x-ms-region"));
    assert!(missing.contains_key("x-ms-region"));

    let (status, unknown, text) = post(
        &format!("{}/openai/v1/chat/completions", h.base_url()),
        &[("api-key", KEY)],
        r#"{"model":"no-such-model","messages":[{"role":"user","content":"hello"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(!unknown.contains_key("x-ratelimit-remaining-requests"));
    assert!(ok.contains_key("x-ratelimit-remaining-requests"));
}
