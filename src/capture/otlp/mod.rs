//! The embedded OTLP trace receiver that out-of-process drivers (python, command,
//! HoneyHive's SDK) export to. It listens on loopback only — OTLP/HTTP (protobuf and
//! JSON, gzip) and HoneyHive's ingestion routes on one port, OTLP/gRPC on another —
//! and turns every received span into the same [`CapturedSpan`](crate::capture::CapturedSpan)
//! as in-process capture, filed by the cell named in its resource
//! (`OTEL_RESOURCE_ATTRIBUTES=hh_compat.cell=<id>` in the exporting process) or, for
//! an SDK that owns its resource, by the cell's API key (`backend.rs`).

mod backend;
mod convert;
mod grpc;
mod http;
mod receiver;
mod store;

pub use backend::{new_key, BackendRequest, KEY_PREFIX};
pub use convert::{cell_of, convert};
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use receiver::{OtlpReceiver, ReceiverConfig, ReceiverError, DEFAULT_CELL_ATTRIBUTE};
pub use store::ReceiverStats;
