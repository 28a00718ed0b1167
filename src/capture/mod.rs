//! Span capture: the shared `CapturedSpan` model and the glue that fills it from the
//! OpenTelemetry SDK's in-memory exporter (and, later, from an OTLP receiver).

mod memory;
pub mod otlp;
mod span;

pub use memory::{normalize, CellTracing};
pub use otlp::{BackendRequest, OtlpReceiver, ReceiverConfig, ReceiverError, ReceiverStats};
pub use span::{
    AttrType, AttrValue, Attributes, CapturedEvent, CapturedSpan, Scope, SpanKind, SpanStatus,
    StatusCode,
};
