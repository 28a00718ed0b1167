//! The receiver against the real Python OpenTelemetry exporters (HTTP protobuf and
//! HTTP JSON, plain and gzip), each in its own process with the cell set through
//! `OTEL_RESOURCE_ATTRIBUTES`, all exporting at once.
//!
//! Needs the interpreter from `HH_COMPAT_PYTHON` (default `.venv/bin/python` at the
//! repository root) with `tests/python/requirements-otlp.txt` installed; run
//! `scripts/setup-python` first. A missing interpreter fails the test: it never
//! passes silently.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use hh_compat::capture::{
    AttrValue, CapturedSpan, OtlpReceiver, ReceiverConfig, SpanKind, StatusCode,
};

fn python() -> PathBuf {
    let python = std::env::var_os("HH_COMPAT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python interpreter at {}: run `scripts/setup-python` (it installs \
         tests/python/requirements-otlp.txt into .venv) or set HH_COMPAT_PYTHON",
        python.display()
    );
    python
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_export.py")
}

/// Runs the exporter script for one protocol/compression, attributed to `cell`.
async fn run_exporter(
    python: PathBuf,
    endpoint: String,
    protocol: &'static str,
    compression: &'static str,
    cell: String,
) {
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(script())
        .args([
            "--endpoint",
            &endpoint,
            "--protocol",
            protocol,
            "--compression",
            compression,
        ])
        .env("OTEL_RESOURCE_ATTRIBUTES", format!("hh_compat.cell={cell}"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{protocol}/{compression} exporter timed out"))
        .unwrap_or_else(|e| panic!("could not run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{protocol}/{compression} exporter failed ({}); if an import failed, run \
         `scripts/setup-python`.\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn assert_python_spans(spans: &[CapturedSpan], cell: &str, protocol: &str) {
    assert_eq!(spans.len(), 2, "{cell}: {spans:#?}");
    let parent = spans
        .iter()
        .find(|s| s.name == "py-parent")
        .expect("parent");
    let child = spans.iter().find(|s| s.name == "py-child").expect("child");
    assert_eq!(parent.kind, SpanKind::Server);
    assert_eq!(parent.parent_span_id, None);
    assert_eq!(
        parent.attributes["protocol"],
        AttrValue::String(protocol.into())
    );
    assert_eq!(child.kind, SpanKind::Client);
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(parent.span_id.as_str())
    );
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.trace_id.len(), 32);
    assert!(child
        .trace_id
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    let a = &child.attributes;
    assert_eq!(a["gen_ai.system"], AttrValue::String("openai".into()));
    assert_eq!(a["gen_ai.usage.input_tokens"], AttrValue::Int(12));
    assert_eq!(a["gen_ai.request.temperature"], AttrValue::Double(0.5));
    assert_eq!(a["llm.is_streaming"], AttrValue::Bool(true));
    assert_eq!(
        a["gen_ai.response.finish_reasons"],
        AttrValue::StringArray(vec!["stop".into(), "length".into()])
    );
    assert_eq!(a["ints"], AttrValue::IntArray(vec![1, 2, 3]));
    assert_eq!(a["doubles"], AttrValue::DoubleArray(vec![0.25, 0.5]));
    assert_eq!(a["bools"], AttrValue::BoolArray(vec![true, false]));
    assert_eq!(a["empty"], AttrValue::StringArray(vec![]));
    assert_eq!(child.events.len(), 1);
    assert_eq!(child.events[0].name, "exception");
    assert_eq!(
        child.events[0].attributes["exception.type"],
        AttrValue::String("RateLimitError".into())
    );
    assert_eq!(child.status.code, StatusCode::Error);
    assert_eq!(child.status.message.as_deref(), Some("429"));
    assert_eq!(child.scope.name, "hh_compat.python.test");
    assert_eq!(child.scope.version.as_deref(), Some("0.0.1"));
    assert_eq!(
        child.resource["hh_compat.cell"],
        AttrValue::String(cell.into())
    );
    assert_eq!(
        child.resource["telemetry.sdk.language"],
        AttrValue::String("python".into())
    );
    assert_eq!(
        child.resource["service.name"],
        AttrValue::String("otlp-python-test".into())
    );
    assert!(
        parent.start_unix_nanos > 1_600_000_000_000_000_000,
        "real wall-clock nanos"
    );
    assert!(child.end_unix_nanos >= child.start_unix_nanos);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exporters_protobuf_and_json_reach_their_cells() {
    let python = python();
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver starts");
    let variants = [
        ("http/protobuf", "none", "py-cell"),
        ("http/protobuf", "gzip", "py-cell-gzip"),
        ("http/json", "none", "py-cell-json"),
        ("http/json", "gzip", "py-cell-json-gzip"),
    ];
    // All processes export concurrently, as the python drivers of a run do.
    let runs = variants.iter().map(|(protocol, compression, cell)| {
        run_exporter(
            python.clone(),
            receiver.http_endpoint(),
            protocol,
            compression,
            cell.to_string(),
        )
    });
    futures::future::join_all(runs).await;

    for (protocol, _, cell) in variants {
        let spans = receiver
            .wait_for_spans(cell, 2, Duration::from_secs(10))
            .await;
        assert_python_spans(&spans, cell, protocol);
    }
    assert!(receiver.unattributed().is_empty());
    let stats = receiver.stats();
    assert_eq!(stats.rejected_requests, 0, "{stats:?}");
    assert_eq!(stats.spans_accepted, 8);
}
