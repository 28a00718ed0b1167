//! Feeds an in-process OTLP receiver hostile exports, for measuring with
//! `/usr/bin/time -v cargo run --example otlp_hostile -- CASE` (peak RSS) :
//! - `shared-resource`: one 1.3 MB export whose 1 MB resource covers 10,000 spans;
//! - `many-cells`: 100,000 distinct cells (capacity 100,000), then 20,000 more spans,
//!   each forcing an eviction; prints how long those took to be accepted.

use std::time::Instant;

use hh_compat::capture::otlp::ExportTraceServiceRequest;
use hh_compat::capture::{OtlpReceiver, ReceiverConfig};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

fn export(cells: impl Iterator<Item = String>, spans: usize, padding: usize) -> Vec<u8> {
    let resource_spans = cells
        .map(|cell| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("hh_compat.cell", cell),
                    kv("padding", "x".repeat(padding)),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: "s".into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let r = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let url = format!("{}/v1/traces", r.http_endpoint());
    let client = reqwest::Client::new();
    match case.as_str() {
        "shared-resource" => {
            let body = export(std::iter::once("c".to_string()), 10_000, 1 << 20);
            println!("export of {} bytes", body.len());
            println!("status {}", send(&client, &url, body).await);
            println!("spans held {}", r.pending("c"));
        }
        "many-cells" => {
            for chunk in 0..10 {
                let cells = (chunk * 10_000..(chunk + 1) * 10_000).map(|i| format!("cell-{i}"));
                assert_eq!(send(&client, &url, export(cells, 1, 0)).await, 200);
            }
            let started = Instant::now();
            let status = send(
                &client,
                &url,
                export(std::iter::once("new".into()), 20_000, 0),
            )
            .await;
            println!(
                "20,000 spans over a full store of 100,000 cells: status {status}, accepted in {:.3}s",
                started.elapsed().as_secs_f64()
            );
            println!("{:?}", r.stats());
        }
        _ => eprintln!("usage: otlp_hostile shared-resource|many-cells"),
    }
}
