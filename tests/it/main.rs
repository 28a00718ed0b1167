//! The integration tests: one test binary, so the crate and its dependency tree are
//! linked once, with one module per area and the helpers written once (`*_support`).
//! `cargo test --test it MODULE::` runs one area, e.g. `cargo test --test it adversarial::`.

mod cassette_support;
mod index_support;
mod instrument_support;
mod live_support;

mod adversarial;
mod bisect;
mod cassette_import;
mod cassette_record_replay;
mod cassette_replay;
mod ci_tools;
mod cli;
mod expect_reference;
mod instrument_openinference;
mod instrument_otel_genai;
mod instrument_snapshots;
mod instrument_traceloop;
mod junit_schema;
mod live_target;
mod markdown_render;
mod matrix_load;
mod otlp_python;
mod otlp_receiver;
mod python_driver;
mod python_fidelity;
mod record_replay;
mod replica_client;
mod replica_http;
mod run_snapshots;
mod versions_index;
