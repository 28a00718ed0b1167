//! The servers the harness runs (the replica, the OTLP receiver) against hostile
//! clients: oversized and slow requests, broken targets, clients that vanish mid-body,
//! accept errors, huge embeddings requests, huge exports. Every answer must be a status,
//! never a panic, a hang or a dead listener.

use std::net::SocketAddr;
use std::time::Duration;

use hh_compat::capture::otlp::ExportTraceServiceRequest;
use hh_compat::capture::{OtlpReceiver, ReceiverConfig};
use hh_compat::replica::{self, ReplicaConfig, ReplicaHandle};
use hh_compat::ServerTimeouts;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::live_support::BIN;

const KEY: &str = "servers-test-key";
const GA: &str = "2024-10-21";
/// How long a test waits for anything before calling it a hang.
const PATIENCE: Duration = Duration::from_secs(120);

async fn replica() -> ReplicaHandle {
    replica::start(ReplicaConfig::with_builtin_deployments(KEY))
        .await
        .expect("replica starts")
}

fn chat_path() -> String {
    format!("/openai/deployments/gpt-4o/chat/completions?api-version={GA}")
}

/// Writes `head` (and nothing more) and reads until the server closes or `PATIENCE`
/// passes; returns what was read, or None on a hang.
async fn exchange(addr: SocketAddr, head: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head).await.expect("write");
    read_all(&mut s).await
}

async fn read_all(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&out).into_owned())
}

/// Writes `head` and reads one whole response (head and `content-length` body), even
/// while the connection stays open.
async fn one_response(addr: SocketAddr, head: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return;
                }
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&out).into_owned())
}

fn status_of(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

fn body_of(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

async fn chat_works(h: &ReplicaHandle) {
    let resp = reqwest::Client::new()
        .post(format!("{}{}", h.base_url(), chat_path()))
        .header("api-key", KEY)
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":"hi"}]}"#)
        .timeout(PATIENCE)
        .send()
        .await
        .expect("the replica still answers");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_unread_even_without_a_key() {
    let h = replica().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 400000000\r\nconnection: close\r\n\r\n",
        chat_path()
    );
    // No body follows: an answer can only come from refusing it unread.
    let response = one_response(h.address(), head.as_bytes())
        .await
        .expect("answered without the body being sent");
    assert_eq!(status_of(&response), Some(413), "{response}");
    assert_eq!(
        body_of(&response)["error"]["code"],
        "RequestEntityTooLarge",
        "{response}"
    );
    chat_works(&h).await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413() {
    let h = replica().await;
    let chunk = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
    let chunks = (0..20).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let resp = reqwest::Client::new()
        .post(format!("{}{}", h.base_url(), chat_path()))
        .header("api-key", KEY)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    chat_works(&h).await;
}

#[tokio::test]
async fn absolute_form_targets_that_are_not_urls_get_400() {
    let h = replica().await;
    for target in ["http://h:99999/x", "http://xn--/x"] {
        let head = format!("GET {target} HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n");
        let response = exchange(h.address(), head.as_bytes())
            .await
            .expect("answered");
        assert_eq!(status_of(&response), Some(400), "{target}: {response:?}");
    }
    chat_works(&h).await;
}

#[tokio::test]
async fn a_client_leaving_mid_body_is_journaled_and_the_replica_goes_on() {
    let h = replica().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\napi-key: {KEY}\r\ncontent-length: 1000\r\n\r\n{{\"mess",
        chat_path()
    );
    {
        let mut s = TcpStream::connect(h.address()).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        s.shutdown().await.expect("half-close");
        // Whatever comes back, the server must not hang on this connection.
        assert!(read_all(&mut s).await.is_some(), "connection left hanging");
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let statuses: Vec<u16> = h.journal().entries().iter().map(|e| e.status).collect();
        if statuses == [400] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "journal: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    chat_works(&h).await;
}

async fn impatient_replica() -> ReplicaHandle {
    let timeouts = ServerTimeouts {
        header_read: Duration::from_secs(1),
        body_read: Duration::from_secs(1),
    };
    replica::start_with(
        ReplicaConfig::with_builtin_deployments(KEY),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        timeouts,
    )
    .await
    .expect("replica starts")
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let h = impatient_replica().await;
    // Never finishes its head: the server must close the connection itself.
    let partial = format!("POST {} HTTP/1.1\r\nhost: x\r\n", chat_path());
    assert!(exchange(h.address(), partial.as_bytes()).await.is_some());
    // Nor may a connection that sends nothing at all be kept.
    assert!(exchange(h.address(), b"").await.is_some());
    chat_works(&h).await;
}

#[tokio::test]
async fn a_slow_request_body_gets_408() {
    let h = impatient_replica().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\napi-key: {KEY}\r\ncontent-length: 1000\r\n\r\n{{",
        chat_path()
    );
    let response = exchange(h.address(), head.as_bytes())
        .await
        .expect("answered");
    assert_eq!(status_of(&response), Some(408), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "Timeout");
    chat_works(&h).await;
}

/// `replica serve` with few file descriptors: connections beyond them make `accept`
/// fail; once they are gone, the replica must serve again.
#[cfg(unix)]
#[tokio::test]
async fn accept_errors_do_not_stop_the_replica() {
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" replica serve --addr 127.0.0.1:0 --api-key \"$1\"")
        .arg(BIN)
        .arg(KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn replica serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("url in time")
        .expect("read")
        .expect("a first line");
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("address");
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();

    let mut hogs = Vec::new();
    for _ in 0..96 {
        hogs.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let logged = tokio::time::timeout(PATIENCE, stderr.next_line())
        .await
        .expect("an accept error is logged")
        .expect("read")
        .unwrap_or_default();
    assert!(logged.contains("accepting on"), "{logged}");
    drop(hogs);

    let resp = reqwest::Client::new()
        .post(format!("{url}{}", chat_path()))
        .header("api-key", KEY)
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":"hi"}]}"#)
        .timeout(PATIENCE)
        .send()
        .await
        .expect("the replica accepts again");
    assert_eq!(resp.status().as_u16(), 200);
    let _ = child.kill().await;
}

#[tokio::test]
async fn millions_of_embeddings_inputs_get_a_400_not_an_abort() {
    let h = replica().await;
    let url = format!(
        "{}/openai/deployments/text-embedding-3-small/embeddings?api-version={GA}",
        h.base_url()
    );
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(&url)
            .header("api-key", KEY)
            .header("content-type", "application/json")
            .body(body)
            .timeout(PATIENCE)
            .send()
    };
    // 3 million one-letter inputs: 12 MB, under the body limit.
    let huge = format!("{{\"input\":[{}\"a\"]}}", "\"a\",".repeat(3_000_000 - 1));
    let resp = post(huge).await.expect("answered");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    // Just over Azure's input cap, in Azure's words.
    let over = format!("{{\"input\":[{}\"a\"]}}", "\"a\",".repeat(2048));
    let resp = post(over).await.expect("answered");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("The max number of inputs is 2048")));
    chat_works(&h).await;
}

fn export_with(cell: &str, spans: usize, resource_bytes: usize) -> ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let kv = |k: &str, v: String| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("hh_compat.cell", cell.into()),
                    kv("padding", "x".repeat(resource_bytes)),
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
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_message_over_the_limit_gets_resource_exhausted() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let r = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let mut client = TraceServiceClient::connect(r.grpc_endpoint())
        .await
        .expect("grpc connect")
        .max_encoding_message_size(64 * 1024 * 1024);
    // 20 MiB in one message, over the 16 MiB default.
    let err = client
        .export(export_with("big", 1, 20 * 1024 * 1024))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    client
        .export(export_with("small", 3, 10))
        .await
        .expect("a small export still succeeds");
    assert_eq!(r.take_cell("small").len(), 3);
    assert!(r.take_cell("big").is_empty());
}

#[tokio::test]
async fn an_oversized_session_start_gets_413() {
    let r = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    assert!(r.admit_key("hh-adversarial-key", "c"));
    let resp = reqwest::Client::new()
        .post(format!("{}/session/start", r.http_endpoint()))
        .header("authorization", "Bearer hh-adversarial-key")
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .timeout(PATIENCE)
        .send()
        .await
        .expect("answered, not dropped");
    assert_eq!(resp.status().as_u16(), 413);
    let ok = reqwest::Client::new()
        .post(format!("{}/session/start", r.http_endpoint()))
        .header("authorization", "Bearer hh-adversarial-key")
        .header("content-type", "application/json")
        .body("{}")
        .timeout(PATIENCE)
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn a_slow_export_body_is_refused_and_the_receiver_goes_on() {
    let r = OtlpReceiver::start(ReceiverConfig {
        timeouts: ServerTimeouts {
            header_read: Duration::from_secs(1),
            body_read: Duration::from_secs(1),
        },
        ..ReceiverConfig::default()
    })
    .await
    .expect("receiver");
    let head = b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
                 content-length: 1000\r\n\r\nab";
    let response = one_response(r.http_addr(), head).await.expect("answered");
    assert_eq!(status_of(&response), Some(400), "{response}");
    // And a connection that never sends a byte is closed.
    assert!(exchange(r.grpc_addr(), b"").await.is_some());
    assert_eq!(r.stats().rejected_requests, 1);
}
