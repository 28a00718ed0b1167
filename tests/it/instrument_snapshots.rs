//! Snapshots of every style × case, ids and times redacted, so any change in an
//! emitter's output shows up as a reviewable diff under `snapshots/`.

use crate::instrument_support::*;
use hh_compat::instrument::ContentCapture;
use hh_compat::vocab::Style;

async fn snapshot(style: Style) {
    for case in Case::ALL {
        // The reference files were recorded with content capture on for every style.
        let spans = run_case(style, case, azure_endpoint(), ContentCapture::On).await;
        let name = format!(
            "instrument__{}__{}",
            style.as_str().replace('-', "_"),
            case.name()
        );
        insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(name, spans, {
                "[].trace_id" => "[trace_id]",
                "[].span_id" => "[span_id]",
                "[].parent_span_id" => "[parent_span_id]",
                "[].start_unix_nanos" => "[start]",
                "[].end_unix_nanos" => "[end]",
                "[].attributes[\"gen_ai.response.time_to_first_chunk\"]" => "[seconds]",
            });
        });
    }
}

#[tokio::test]
async fn openinference_snapshots() {
    snapshot(Style::OpenInference).await;
}

#[tokio::test]
async fn traceloop_snapshots() {
    snapshot(Style::Traceloop).await;
}

#[tokio::test]
async fn otel_genai_snapshots() {
    snapshot(Style::OtelGenAi).await;
}
