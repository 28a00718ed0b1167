//! Receiver throughput: batches of realistic protobuf spans posted over loopback
//! (OTLP/HTTP with keep-alive, and OTLP/gRPC), each batch then taken out of the
//! receiver as a driver would. Criterion reports elements/s = spans/s.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hh_compat::capture::otlp::ExportTraceServiceRequest;
use hh_compat::capture::{OtlpReceiver, ReceiverConfig};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;

const BATCH: usize = 512;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

/// A batch shaped like an instrumented chat call: ~12 attributes and one event per span.
fn batch(cell: &str) -> ExportTraceServiceRequest {
    let spans = (0..BATCH)
        .map(|i| Span {
            trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            parent_span_id: if i % 2 == 1 {
                (i as u64).to_be_bytes().to_vec()
            } else {
                vec![]
            },
            name: "chat gpt-4o".into(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_500_000_000 + i as u64,
            attributes: vec![
                kv("gen_ai.system", Value::StringValue("openai".into())),
                kv("gen_ai.operation.name", Value::StringValue("chat".into())),
                kv("gen_ai.request.model", Value::StringValue("gpt-4o".into())),
                kv(
                    "gen_ai.response.model",
                    Value::StringValue("gpt-4o-2024-08-06".into()),
                ),
                kv("gen_ai.request.temperature", Value::DoubleValue(0.7)),
                kv("gen_ai.request.max_tokens", Value::IntValue(256)),
                kv("gen_ai.usage.input_tokens", Value::IntValue(42)),
                kv("gen_ai.usage.output_tokens", Value::IntValue(128)),
                kv(
                    "server.address",
                    Value::StringValue("example.openai.azure.com".into()),
                ),
                kv("server.port", Value::IntValue(443)),
                kv(
                    "llm.input_messages.0.message.content",
                    Value::StringValue("Hello! ".repeat(20)),
                ),
                kv(
                    "llm.output_messages.0.message.content",
                    Value::StringValue("Hi there. ".repeat(30)),
                ),
            ],
            events: vec![span::Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "gen_ai.content.prompt".into(),
                attributes: vec![kv("gen_ai.prompt", Value::StringValue("Hello".into()))],
                dropped_attributes_count: 0,
            }],
            status: Some(Status {
                message: String::new(),
                code: 1,
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue("bench".into())),
                    kv("hh_compat.cell", Value::StringValue(cell.into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "openinference.instrumentation.openai".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn receiver_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = rt
        .block_on(OtlpReceiver::start(ReceiverConfig::default()))
        .expect("receiver");
    let mut group = c.benchmark_group("otlp_receiver");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));

    let body = bytes::Bytes::from(batch("http").encode_to_vec());
    let url = format!("{}/v1/traces", receiver.http_endpoint());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    group.bench_function("http_protobuf_batch_512", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .await
                .expect("post");
            assert_eq!(resp.status(), 200);
            assert_eq!(receiver.take_cell("http").len(), BATCH);
        })
    });

    let request = batch("grpc");
    let grpc = rt
        .block_on(TraceServiceClient::connect(receiver.grpc_endpoint()))
        .expect("grpc connect");
    group.bench_function("grpc_batch_512", |b| {
        b.to_async(&rt).iter(|| async {
            grpc.clone().export(request.clone()).await.expect("export");
            assert_eq!(receiver.take_cell("grpc").len(), BATCH);
        })
    });
    group.finish();
}

criterion_group!(benches, receiver_throughput);
criterion_main!(benches);
