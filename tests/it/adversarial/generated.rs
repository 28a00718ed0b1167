//! Generated inputs (proptest, a bounded number of cases so CI time stays fixed): the
//! shipped matrix and a recorded cassette with random edits, arbitrary event-stream
//! bytes, and arbitrary OTLP bodies. Whatever the input, the parsers answer with a value
//! or a located error, and the receiver answers with a status and keeps serving.

use crate::live_support::*;
use hh_compat::capture::{OtlpReceiver, ReceiverConfig};
use proptest::prelude::*;
use std::path::Path;

/// One edit of a text: delete, insert or replace a few bytes at a relative position.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, Vec<u8>),
    Replace(f64, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to YAML and JSON, plus anything at all.
    let byte = prop_oneof![
        prop::sample::select(b":-[]{}\"'#&*!|>\n\t %@`\\,?".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (0.0..1.0, 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0, prop::collection::vec(byte.clone(), 1..8))
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        (0.0..1.0, byte).prop_map(|(at, b)| Edit::Replace(at, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |f: f64, len: usize| ((len as f64) * f) as usize;
        match e {
            Edit::Delete(f, n) => {
                let start = at(*f, bytes.len());
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Edit::Insert(f, b) => {
                let i = at(*f, bytes.len());
                bytes.splice(i..i, b.iter().copied());
            }
            Edit::Replace(f, b) => {
                if !bytes.is_empty() {
                    let i = at(*f, bytes.len()).min(bytes.len() - 1);
                    bytes[i] = *b;
                }
            }
        }
    }
    bytes
}

fn shipped(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("shipped file")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_edited_matrix_loads_or_is_located(edits in prop::collection::vec(edit(), 1..6)) {
        let bytes = apply(shipped("matrix/azure-openai.yaml"), &edits);
        if let Err(e) = hh_compat::matrix::parse_bytes(&bytes, "m.yaml") {
            let shown = e.to_string();
            prop_assert!(shown.starts_with("m.yaml"), "{}", shown);
        }
    }

    #[test]
    fn arbitrary_event_stream_bytes_parse(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let events = hh_compat::cassette::sse::parse(&bytes);
        // What was parsed renders and parses back to the same events.
        let again = hh_compat::cassette::sse::parse(hh_compat::cassette::sse::render(&events).as_bytes());
        prop_assert_eq!(events.len(), again.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_edited_cassette_loads_or_is_located(edits in prop::collection::vec(edit(), 1..4)) {
        let dir = temp_dir("generated-cassette");
        let bytes = apply(shipped("fixtures/replica-as-live/azure-openai_traceloop_streaming_rust.yaml"), &edits);
        std::fs::write(dir.join("case.yaml"), bytes).expect("write");
        if let Err(e) = hh_compat::cassette::ReplayStore::load(&dir) {
            let shown = e.to_string();
            prop_assert!(shown.contains("case.yaml"), "{}", shown);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 80, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_otlp_receiver_answers_any_body_and_keeps_serving(
        body in prop::collection::vec(any::<u8>(), 0..3000),
        json in any::<bool>(),
        gzip in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        runtime.block_on(async {
            let receiver = OtlpReceiver::start(ReceiverConfig::default()).await.expect("receiver");
            let url = format!("{}/v1/traces", receiver.http_endpoint());
            let client = reqwest::Client::new();
            let content_type = if json { "application/json" } else { "application/x-protobuf" };
            let mut request = client.post(&url).header("content-type", content_type).body(body.clone());
            if gzip {
                request = request.header("content-encoding", "gzip");
            }
            let status = request.send().await.expect("an answer").status().as_u16();
            assert!([200, 400, 413, 415].contains(&status), "status {status}");
            // Still serving: an empty export is accepted.
            let ok = client.post(&url).header("content-type", "application/json").body("{}")
                .send().await.expect("an answer").status().as_u16();
            assert_eq!(ok, 200);
        });
    }
}
