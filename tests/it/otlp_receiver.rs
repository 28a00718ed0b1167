//! The embedded OTLP receiver against real exporters (the Rust `opentelemetry-otlp`
//! SDK exporter over HTTP/protobuf and gRPC, with and without gzip) and against
//! hand-made good and bad payloads over real loopback HTTP.

use std::io::Write as _;
use std::time::Duration;

use flate2::write::GzEncoder;
use hh_compat::capture::otlp::{convert, ExportTraceServiceRequest};
use hh_compat::capture::{
    AttrValue, CapturedSpan, OtlpReceiver, ReceiverConfig, SpanKind, StatusCode,
};
use opentelemetry::trace::{
    Span as _, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::{
    Compression, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use prost::Message as _;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Transport {
    HttpProtobuf,
    HttpProtobufGzip,
    Grpc,
    GrpcGzip,
}

async fn receiver() -> OtlpReceiver {
    OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver starts")
}

/// A real SDK exporter for `transport`, pointed at `receiver`. Built inside the
/// runtime because the tonic channel spawns its worker on it.
fn exporter(receiver: &OtlpReceiver, transport: Transport) -> opentelemetry_otlp::SpanExporter {
    let http = |gzip: bool| {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client");
        let mut b = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", receiver.http_endpoint()))
            .with_timeout(Duration::from_secs(10));
        if gzip {
            b = b.with_compression(Compression::Gzip);
        }
        b.build().expect("http exporter")
    };
    let grpc = |gzip: bool| {
        let mut b = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(receiver.grpc_endpoint())
            .with_timeout(Duration::from_secs(10));
        if gzip {
            b = b.with_compression(Compression::Gzip);
        }
        b.build().expect("grpc exporter")
    };
    match transport {
        Transport::HttpProtobuf => http(false),
        Transport::HttpProtobufGzip => http(true),
        Transport::Grpc => grpc(false),
        Transport::GrpcGzip => grpc(true),
    }
}

/// Runs `body` with a tracer of a fresh provider whose resource names `cell`, then
/// shuts the provider down (which flushes through the exporter). The SDK's
/// processors block on the export future, so this runs on a blocking thread that
/// still sees the tokio runtime the async exporters need.
async fn export_with(
    exporter: opentelemetry_otlp::SpanExporter,
    cell: &str,
    body: impl FnOnce(&opentelemetry_sdk::trace::SdkTracer) + Send + 'static,
) {
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "otlp-receiver-test"),
            KeyValue::new("hh_compat.cell", cell.to_string()),
        ])
        .build();
    tokio::task::spawn_blocking(move || {
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("test.instrumentor")
                .with_version("1.2.3")
                .build(),
        );
        body(&tracer);
        provider.shutdown().expect("provider shuts down cleanly");
    })
    .await
    .expect("export thread");
}

/// A parent server span with a client child carrying every attribute type, an event
/// and an error status.
fn parent_and_child(tracer: &opentelemetry_sdk::trace::SdkTracer) {
    let parent = tracer
        .span_builder("parent")
        .with_kind(opentelemetry::trace::SpanKind::Server)
        .start(tracer);
    let cx = opentelemetry::Context::current_with_span(parent);
    let mut child = tracer
        .span_builder("chat gpt-4o")
        .with_kind(opentelemetry::trace::SpanKind::Client)
        .start_with_context(tracer, &cx);
    child.set_attributes([
        KeyValue::new("gen_ai.system", "openai"),
        KeyValue::new("gen_ai.usage.input_tokens", 12_i64),
        KeyValue::new("gen_ai.request.temperature", 0.5_f64),
        KeyValue::new("llm.is_streaming", false),
        KeyValue::new(
            "gen_ai.response.finish_reasons",
            Value::Array(Array::String(vec![StringValue::from("stop")])),
        ),
        KeyValue::new("ints", Value::Array(Array::I64(vec![1, 2, 3]))),
        KeyValue::new("doubles", Value::Array(Array::F64(vec![0.25]))),
        KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
    ]);
    child.add_event(
        "exception",
        vec![KeyValue::new("exception.type", "RateLimitError")],
    );
    child.set_status(Status::error("429"));
    child.end();
    cx.span().set_status(Status::Ok);
    cx.span().end();
}

fn assert_parent_and_child(spans: &[CapturedSpan], cell: &str) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let parent = spans.iter().find(|s| s.name == "parent").expect("parent");
    let child = spans
        .iter()
        .find(|s| s.name == "chat gpt-4o")
        .expect("child");
    assert_eq!(parent.kind, SpanKind::Server);
    assert_eq!(parent.status.code, StatusCode::Ok);
    assert_eq!(parent.parent_span_id, None);
    assert_eq!(child.kind, SpanKind::Client);
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(parent.span_id.as_str())
    );
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.trace_id.len(), 32);
    assert_eq!(child.span_id.len(), 16);
    assert!(child
        .trace_id
        .chars()
        .chain(child.span_id.chars())
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert_eq!(child.status.code, StatusCode::Error);
    assert_eq!(child.status.message.as_deref(), Some("429"));
    let a = &child.attributes;
    assert_eq!(a["gen_ai.system"], AttrValue::String("openai".into()));
    assert_eq!(a["gen_ai.usage.input_tokens"], AttrValue::Int(12));
    assert_eq!(a["gen_ai.request.temperature"], AttrValue::Double(0.5));
    assert_eq!(a["llm.is_streaming"], AttrValue::Bool(false));
    assert_eq!(
        a["gen_ai.response.finish_reasons"],
        AttrValue::StringArray(vec!["stop".into()])
    );
    assert_eq!(a["ints"], AttrValue::IntArray(vec![1, 2, 3]));
    assert_eq!(a["doubles"], AttrValue::DoubleArray(vec![0.25]));
    assert_eq!(a["bools"], AttrValue::BoolArray(vec![true, false]));
    assert_eq!(child.events.len(), 1);
    assert_eq!(child.events[0].name, "exception");
    assert_eq!(
        child.events[0].attributes["exception.type"],
        AttrValue::String("RateLimitError".into())
    );
    assert_eq!(child.scope.name, "test.instrumentor");
    assert_eq!(child.scope.version.as_deref(), Some("1.2.3"));
    assert_eq!(
        child.resource["hh_compat.cell"],
        AttrValue::String(cell.into())
    );
    assert_eq!(
        child.resource["service.name"],
        AttrValue::String("otlp-receiver-test".into())
    );
    assert!(parent.start_unix_nanos > 0);
    assert!(parent.start_unix_nanos <= child.start_unix_nanos);
    assert!(child.end_unix_nanos >= child.start_unix_nanos);
    assert!(parent.end_unix_nanos >= child.end_unix_nanos);
}

async fn roundtrip(transport: Transport) {
    let receiver = receiver().await;
    let cell = format!("{transport:?}");
    export_with(exporter(&receiver, transport), &cell, parent_and_child).await;
    let spans = receiver.wait_for_spans(&cell, 2, WAIT).await;
    assert_parent_and_child(&spans, &cell);
    assert!(receiver.unattributed().is_empty());
    let stats = receiver.stats();
    assert_eq!(stats.spans_accepted, 2);
    assert_eq!(stats.rejected_requests, 0);
    assert!(stats.requests >= 1);
    receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_exporter_http_protobuf() {
    roundtrip(Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_exporter_http_protobuf_gzip() {
    roundtrip(Transport::HttpProtobufGzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_exporter_grpc() {
    roundtrip(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_exporter_grpc_gzip() {
    roundtrip(Transport::GrpcGzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exporters_from_several_cells_are_attributed_to_their_cell() {
    let receiver = std::sync::Arc::new(receiver().await);
    let transports = [
        Transport::HttpProtobuf,
        Transport::Grpc,
        Transport::HttpProtobufGzip,
        Transport::GrpcGzip,
    ];
    const PER_CELL: usize = 25;
    let mut tasks = Vec::new();
    for (i, transport) in transports.iter().cycle().take(8).enumerate() {
        let cell = format!("cell-{i}");
        let exporter = exporter(&receiver, *transport);
        tasks.push(tokio::spawn(async move {
            let name_prefix = cell.clone();
            export_with(exporter, &cell, move |tracer| {
                for n in 0..PER_CELL {
                    let mut span = tracer.start(format!("{name_prefix}/{n}"));
                    span.set_attribute(KeyValue::new("n", n as i64));
                    span.end();
                }
            })
            .await;
        }));
    }
    for t in tasks {
        t.await.expect("exporter task");
    }
    for i in 0..8 {
        let cell = format!("cell-{i}");
        let spans = receiver.wait_for_spans(&cell, PER_CELL, WAIT).await;
        assert_eq!(spans.len(), PER_CELL, "cell {cell}");
        for span in &spans {
            assert!(
                span.name.starts_with(&format!("{cell}/")),
                "{} in {cell}",
                span.name
            );
            assert_eq!(
                span.resource["hh_compat.cell"],
                AttrValue::String(cell.clone())
            );
        }
        let mut ns: Vec<i64> = spans.iter().filter_map(|s| s.attr("n")?.as_i64()).collect();
        ns.sort_unstable();
        assert_eq!(ns, (0..PER_CELL as i64).collect::<Vec<_>>());
    }
    assert!(receiver.unattributed().is_empty());
    assert_eq!(receiver.stats().spans_accepted, 8 * PER_CELL as u64);
    assert_eq!(receiver.stats().spans_dropped, 0);
}

// ---- hand-made payloads over plain HTTP ------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn proto_kv(key: &str, value: any_value::Value) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

/// An export request with `n` spans for `cell` (or no cell attribute).
fn request(cell: Option<&str>, n: usize) -> ExportTraceServiceRequest {
    let resource = cell
        .map(|c| {
            vec![proto_kv(
                "hh_compat.cell",
                any_value::Value::StringValue(c.into()),
            )]
        })
        .unwrap_or_default();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: (0..n)
                    .map(|i| ProtoSpan {
                        trace_id: vec![7; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: format!("span-{i}"),
                        kind: 3,
                        start_time_unix_nano: 1_000 + i as u64,
                        end_time_unix_nano: 2_000 + i as u64,
                        attributes: vec![proto_kv("i", any_value::Value::IntValue(i as i64))],
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip write");
    enc.finish().expect("gzip finish")
}

async fn post(
    url: String,
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = client().post(url).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(enc) = encoding {
        req = req.header("content-encoding", enc);
    }
    req.send().await.expect("request sent")
}

/// The `google.rpc.Status` fields of a protobuf error body.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test]
async fn protobuf_body_is_accepted_with_an_empty_protobuf_response() {
    let r = receiver().await;
    let body = request(Some("raw"), 3).encode_to_vec();
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        None,
        body,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    assert!(resp.bytes().await.expect("body").is_empty());
    let spans = r.take_cell("raw");
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].name, "span-0");
    assert_eq!(spans[2].span_id, "0000000000000003");
    assert_eq!(spans[1].attributes["i"], AttrValue::Int(1));
    assert!(r.take_cell("raw").is_empty(), "take removes");
}

#[tokio::test]
async fn honeyhive_trace_route_needs_a_known_key_and_files_spans_under_its_cell() {
    let r = receiver().await;
    let url = format!("{}/opentelemetry/v1/traces", r.http_endpoint());
    let send = |auth: Option<String>, cell: Option<&str>| {
        let mut req = client()
            .post(url.clone())
            .header("content-type", "application/x-protobuf")
            .body(request(cell, 2).encode_to_vec());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let key = hh_compat::capture::otlp::new_key();
    let refused = send(None, Some("hh")).await.expect("answered");
    assert_eq!(refused.status(), 401, "no key, no export");
    let text = refused.text().await.expect("body");
    assert!(text.contains("API key"), "{text}");
    let unknown = send(Some(format!("Bearer {key}")), None)
        .await
        .expect("answered");
    assert_eq!(unknown.status(), 401, "a key the receiver never admitted");
    assert!(r.take_cell("hh").is_empty() && r.unattributed().is_empty());

    assert!(r.admit_key(&key, "cell-of-the-key"));
    let ok = send(Some(format!("Bearer {key}")), None)
        .await
        .expect("answered");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        r.take_cell("cell-of-the-key").len(),
        2,
        "attributed by the key"
    );
    let named = send(Some(format!("Bearer {key}")), Some("hh"))
        .await
        .expect("answered");
    assert_eq!(named.status(), 200);
    assert_eq!(
        r.take_cell("hh").len(),
        2,
        "a resource's cell attribute still wins"
    );
    let log = r.take_backend_requests("cell-of-the-key");
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|q| q.route() == "POST /opentelemetry/v1/traces" && q.status == 200));
    r.revoke_key(&key);
    let revoked = send(Some(format!("Bearer {key}")), None)
        .await
        .expect("answered");
    assert_eq!(revoked.status(), 401);
}

#[tokio::test]
async fn gzip_protobuf_body_is_accepted() {
    let r = receiver().await;
    let body = gzip(&request(Some("gz"), 4).encode_to_vec());
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        Some("gzip"),
        body,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.take_cell("gz").len(), 4);
}

#[tokio::test]
async fn otlp_json_body_is_accepted_with_a_json_response() {
    let r = receiver().await;
    // The OTLP/JSON shape: lowerCamelCase keys, hex ids, int64 as strings, enums as ints.
    let body = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "hh_compat.cell", "value": {"stringValue": "json"}}]},
            "scopeSpans": [{
                "scope": {"name": "json.scope", "version": "0.1"},
                "spans": [{
                    "traceId": "5B8EFFF798038103D269B633813FC60C",
                    "spanId": "eee19b7ec3c1b174",
                    "parentSpanId": "eee19b7ec3c1b173",
                    "name": "json span",
                    "kind": 3,
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": 1544712661000000000u64,
                    "attributes": [
                        {"key": "tokens", "value": {"intValue": "42"}},
                        {"key": "n", "value": {"intValue": 7}},
                        {"key": "t", "value": {"doubleValue": 0.5}},
                        {"key": "empty", "value": {"arrayValue": {}}},
                        {"key": "sa", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}
                    ],
                    "events": [{"timeUnixNano": "1544712660500000000", "name": "ev",
                                "attributes": [{"key": "k", "value": {"boolValue": true}}]}],
                    "status": {"code": 2, "message": "bad"}
                }]
            }]
        }]
    });
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/json"),
        None,
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.expect("text"), "{}");
    let spans = r.take_cell("json");
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(
        s.trace_id, "5b8efff798038103d269b633813fc60c",
        "ids are lowercased"
    );
    assert_eq!(s.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
    assert_eq!(s.kind, SpanKind::Client);
    assert_eq!(s.start_unix_nanos, 1_544_712_660_000_000_000);
    assert_eq!(s.end_unix_nanos, 1_544_712_661_000_000_000);
    assert_eq!(s.attributes["tokens"], AttrValue::Int(42));
    assert_eq!(s.attributes["n"], AttrValue::Int(7));
    assert_eq!(s.attributes["t"], AttrValue::Double(0.5));
    assert_eq!(s.attributes["empty"], AttrValue::StringArray(vec![]));
    assert_eq!(s.attributes["sa"], AttrValue::StringArray(vec!["a".into()]));
    assert_eq!(s.events[0].attributes["k"], AttrValue::Bool(true));
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.scope.name, "json.scope");
}

#[tokio::test]
async fn malformed_protobuf_is_a_400_with_a_status_body() {
    let r = receiver().await;
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        None,
        vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let status = RpcStatus::decode(resp.bytes().await.expect("body")).expect("google.rpc.Status");
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.contains("protobuf"), "{}", status.message);
    assert_eq!(r.stats().rejected_requests, 1);
    assert_eq!(r.stats().spans_accepted, 0);
}

#[tokio::test]
async fn bad_json_is_a_400_with_a_json_status_body() {
    let r = receiver().await;
    for body in [
        "{not json",
        r#"{"resourceSpans": 5}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex"}]}]}]}"#,
    ] {
        let resp = post(
            format!("{}/v1/traces", r.http_endpoint()),
            Some("application/json"),
            None,
            body,
        )
        .await;
        assert_eq!(resp.status(), 400, "{body}");
        let json: serde_json::Value = resp.json().await.expect("json body");
        assert_eq!(json["code"], 3);
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(r.stats().rejected_requests, 3);
}

#[tokio::test]
async fn bad_gzip_is_a_400() {
    let r = receiver().await;
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        Some("gzip"),
        "plain",
    )
    .await;
    assert_eq!(resp.status(), 400);
}

async fn small_receiver(max_body_bytes: usize) -> OtlpReceiver {
    OtlpReceiver::start(ReceiverConfig {
        max_body_bytes,
        ..ReceiverConfig::default()
    })
    .await
    .expect("receiver")
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_or_streamed() {
    let r = small_receiver(64 * 1024).await;
    let url = format!("{}/v1/traces", r.http_endpoint());
    let big = request(Some("big"), 2_000).encode_to_vec();
    assert!(big.len() > 64 * 1024);

    let resp = post(
        url.clone(),
        Some("application/x-protobuf"),
        None,
        big.clone(),
    )
    .await;
    assert_eq!(resp.status(), 413, "with content-length");

    // Chunked, so the size is only known while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = post(url.clone(), Some("application/x-protobuf"), None, stream).await;
    assert_eq!(resp.status(), 413, "chunked");

    assert!(r.take_cell("big").is_empty());
    // Still serving after refusing.
    let ok = post(
        url,
        Some("application/x-protobuf"),
        None,
        request(Some("small"), 1).encode_to_vec(),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(r.take_cell("small").len(), 1);
}

#[tokio::test]
async fn gzip_bomb_is_413() {
    let r = small_receiver(1024 * 1024).await;
    // 32 MiB of zeros compresses to about 32 KiB: small on the wire, huge inflated.
    let bomb = gzip(&vec![0u8; 32 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        Some("gzip"),
        bomb,
    )
    .await;
    assert_eq!(resp.status(), 413);
    assert_eq!(r.stats().rejected_requests, 1);
}

#[tokio::test]
async fn unsupported_content_types_and_encodings_are_415() {
    let r = receiver().await;
    let url = format!("{}/v1/traces", r.http_endpoint());
    let body = request(Some("ct"), 1).encode_to_vec();
    for (ct, enc) in [
        (Some("text/plain"), None),
        (None, None),
        (Some("application/x-protobuf"), Some("br")),
    ] {
        let resp = post(url.clone(), ct, enc, body.clone()).await;
        assert_eq!(resp.status(), 415, "{ct:?} {enc:?}");
    }
    assert!(r.take_cell("ct").is_empty());
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let r = receiver().await;
    let resp = post(
        format!("{}/v1/metrics", r.http_endpoint()),
        Some("application/x-protobuf"),
        None,
        "x",
    )
    .await;
    assert_eq!(resp.status(), 404);
    let resp = client()
        .get(format!("{}/v1/traces", r.http_endpoint()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = client()
        .get(format!("{}/session/start", r.http_endpoint()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn honeyhive_session_start_returns_the_ids_the_sdk_reads() {
    let r = receiver().await;
    assert!(r.admit_key("hh-secret-key-123", "c"));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = client()
            .post(format!("{}/session/start", r.http_endpoint()))
            .header("authorization", "Bearer hh-secret-key-123")
            .json(&serde_json::json!({"session": {"project": "p", "session_name": "s"}}))
            .send()
            .await
            .expect("session start");
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.expect("text");
        assert!(!text.contains("hh-secret-key-123"), "no secret echoed");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        for key in [
            "session_id",
            "event_id",
            "org_id",
            "workspace_id",
            "project_id",
        ] {
            assert!(
                json[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} missing in {json}"
            );
        }
        let session = json["session_id"].as_str().unwrap_or_default().to_string();
        assert_eq!(session.len(), 36, "uuid-shaped: {session}");
        ids.push(session);
    }
    assert_ne!(ids[0], ids[1], "each session gets its own id");
    assert_eq!(r.stats().sessions_started, 2);
}

#[tokio::test]
async fn the_buffer_is_bounded_and_drops_the_oldest() {
    let r = OtlpReceiver::start(ReceiverConfig {
        max_spans_buffered: 10,
        ..ReceiverConfig::default()
    })
    .await
    .expect("receiver");
    let url = format!("{}/v1/traces", r.http_endpoint());
    for _ in 0..5 {
        let resp = post(
            url.clone(),
            Some("application/x-protobuf"),
            None,
            request(Some("flood"), 5).encode_to_vec(),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    let stats = r.stats();
    assert_eq!(stats.spans_accepted, 25);
    assert_eq!(stats.spans_dropped, 15);
    assert_eq!(r.take_cell("flood").len(), 10);
}

#[tokio::test]
async fn spans_without_a_cell_land_in_unattributed() {
    let r = receiver().await;
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        None,
        request(None, 2).encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let spans = r.unattributed();
    assert_eq!(spans.len(), 2);
    assert!(r.unattributed().is_empty());
}

#[tokio::test]
async fn wait_for_spans_gives_up_after_the_timeout() {
    let r = receiver().await;
    let started = std::time::Instant::now();
    let spans = r
        .wait_for_spans("nobody", 1, Duration::from_millis(100))
        .await;
    assert!(spans.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn non_http_garbage_does_not_take_the_receiver_down() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let r = receiver().await;
    for addr in [r.http_addr(), r.grpc_addr()] {
        let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
        sock.write_all(b"\x00\x01\x02garbage\r\n\r\n\xff\xfe")
            .await
            .expect("write");
        let mut buf = Vec::new();
        // The server answers with an error or closes; either way it must not hang.
        let _ = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut buf))
            .await
            .expect("connection closed in time");
    }
    let resp = post(
        format!("{}/v1/traces", r.http_endpoint()),
        Some("application/x-protobuf"),
        None,
        request(Some("after"), 1).encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.take_cell("after").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_messages_over_the_limit_are_refused_and_the_server_keeps_serving() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let r = small_receiver(64 * 1024).await;
    let mut client = TraceServiceClient::connect(r.grpc_endpoint())
        .await
        .expect("grpc connect");
    let err = client
        .export(request(Some("g"), 2_000))
        .await
        .expect_err("too large");
    // A message over the limit as sent: RESOURCE_EXHAUSTED, as the gRPC spec asks.
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    client
        .export(request(Some("g"), 3))
        .await
        .expect("small export succeeds");
    assert_eq!(r.take_cell("g").len(), 3);

    // Compressed small enough to pass on the wire, too large once inflated.
    let mut gz = TraceServiceClient::connect(r.grpc_endpoint())
        .await
        .expect("grpc connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let err = gz
        .export(request(Some("g"), 2_000))
        .await
        .expect_err("too large once decompressed");
    // tonic caps the inflated size too, reporting RESOURCE_EXHAUSTED.
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(r.take_cell("g").is_empty());
}

#[tokio::test]
async fn dropping_the_receiver_frees_its_ports() {
    let r = receiver().await;
    let http = r.http_addr();
    drop(r);
    // Aborted tasks release their listeners promptly; poll briefly for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpListener::bind(http).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "port {http} still bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn convert_is_usable_without_a_server() {
    let spans = convert(request(Some("pure"), 2));
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].trace_id, "07".repeat(16));
}

/// HoneyHive's export contract from Rust: the `opentelemetry-otlp` exporter, in both
/// OTLP/HTTP encodings, posting to `/opentelemetry/v1/traces` with the project key as
/// `Authorization: Bearer` and no cell in its resource (as HoneyHive's SDK sends it).
/// The key alone attributes the spans; without it the receiver answers 401 and keeps
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honeyhive_contract_from_the_rust_exporter_in_both_encodings() {
    let r = receiver().await;
    for protocol in [
        opentelemetry_otlp::Protocol::HttpBinary,
        opentelemetry_otlp::Protocol::HttpJson,
    ] {
        let key = hh_compat::capture::otlp::new_key();
        let cell = format!("rust-honeyhive-{protocol:?}");
        assert!(r.admit_key(&key, &cell));
        let honeyhive = |key: Option<&str>| {
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("reqwest client");
            let mut headers = std::collections::HashMap::new();
            if let Some(key) = key {
                headers.insert("authorization".to_string(), format!("Bearer {key}"));
            }
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_protocol(protocol)
                .with_headers(headers)
                .with_endpoint(format!("{}/opentelemetry/v1/traces", r.http_endpoint()))
                .with_timeout(Duration::from_secs(10))
                .build()
                .expect("http exporter")
        };
        let export = |exporter: opentelemetry_otlp::SpanExporter| async move {
            tokio::task::spawn_blocking(move || {
                let provider = SdkTracerProvider::builder()
                    .with_simple_exporter(exporter)
                    .with_resource(
                        Resource::builder_empty()
                            .with_attributes([KeyValue::new("service.name", "rust-app")])
                            .build(),
                    )
                    .build();
                let tracer = provider.tracer("honeyhive-contract");
                parent_and_child(&tracer);
                let _ = provider.shutdown();
            })
            .await
            .expect("export thread");
        };
        export(honeyhive(None)).await;
        assert!(
            r.unattributed().is_empty(),
            "{protocol:?}: refused without a key"
        );
        assert!(r.take_backend_requests(&cell).is_empty());

        export(honeyhive(Some(&key))).await;
        let spans = r.wait_for_spans(&cell, 2, WAIT).await;
        let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["chat gpt-4o", "parent"], "{protocol:?}");
        let child = spans
            .iter()
            .find(|s| s.name == "chat gpt-4o")
            .expect("child");
        assert_eq!(
            child.kind,
            SpanKind::Client,
            "{protocol:?}: kind survives either encoding"
        );
        assert_eq!(
            child.attributes["gen_ai.usage.input_tokens"],
            AttrValue::Int(12)
        );
        let log = r.take_backend_requests(&cell);
        assert!(
            !log.is_empty()
                && log
                    .iter()
                    .all(|q| q.route() == "POST /opentelemetry/v1/traces" && q.status == 200),
            "{protocol:?}: {log:?}"
        );
        r.revoke_key(&key);
    }
}
