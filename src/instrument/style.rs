//! The seam between the shared mechanics and the three conventions: a style turns a
//! call's facts into a span's name, kind, attributes, events and status, and nothing else.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, StringValue, Value};

use super::content::ContentCapture;
use super::endpoint::Endpoint;
use super::errors::ErrorInfo;
use super::facts::{ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult};

/// What is being called, with everything known before the call.
pub(crate) struct Call<'a> {
    pub endpoint: &'a Endpoint,
    pub content: ContentCapture,
    pub request: Request<'a>,
}

pub(crate) enum Request<'a> {
    Chat(&'a ChatRequest),
    Embeddings(&'a EmbeddingRequest),
}

pub(crate) enum Outcome<'a> {
    Chat(&'a ChatResult),
    Embeddings(&'a EmbeddingResult),
    Failed(&'a ErrorInfo),
}

/// When the call started and when each stream chunk arrived.
pub(crate) struct StreamTiming<'a> {
    pub started: SystemTime,
    pub chunk_times: &'a [SystemTime],
}

impl StreamTiming<'_> {
    pub fn first_chunk(&self) -> Option<SystemTime> {
        self.chunk_times.first().copied()
    }

    pub fn time_to_first_chunk(&self) -> Option<Duration> {
        self.first_chunk()
            .map(|t| t.duration_since(self.started).unwrap_or_default())
    }
}

pub(crate) struct SpanStart {
    pub name: String,
    pub kind: SpanKind,
    pub attributes: Vec<KeyValue>,
}

pub(crate) struct PlannedEvent {
    pub name: &'static str,
    pub at: SystemTime,
    pub attributes: Vec<KeyValue>,
}

pub(crate) struct SpanEnd {
    pub attributes: Vec<KeyValue>,
    pub events: Vec<PlannedEvent>,
    pub status: Status,
}

/// One instrumentation convention.
pub(crate) trait Convention: Sync {
    /// Name, kind and the attributes known before the call (sampling sees these).
    fn start(&self, call: &Call) -> SpanStart;
    /// Everything learned from the outcome. `stream` is set for streamed chats, also
    /// when the stream failed part-way; `ended` is when the outcome was known.
    fn end(
        &self,
        call: &Call,
        outcome: &Outcome,
        stream: Option<&StreamTiming>,
        ended: SystemTime,
    ) -> SpanEnd;
}

/// The `exception` event every style records on failure, in the OpenTelemetry shape
/// (`exception.type` is the bare Python class name, as Python's `record_exception` writes).
pub(crate) fn exception_event(err: &ErrorInfo, at: SystemTime) -> PlannedEvent {
    PlannedEvent {
        name: "exception",
        at,
        attributes: vec![
            KeyValue::new("exception.type", err.class.python_name()),
            KeyValue::new("exception.message", err.message.clone()),
        ],
    }
}

pub(crate) fn string_array(values: Vec<String>) -> Value {
    Value::Array(
        values
            .into_iter()
            .map(StringValue::from)
            .collect::<Vec<_>>()
            .into(),
    )
}

pub(crate) fn double_array(values: &[f64]) -> Value {
    Value::Array(values.to_vec().into())
}

/// Pushes `key=value` when the value is present.
pub(crate) fn push_opt<V: Into<Value>>(attrs: &mut Vec<KeyValue>, key: &'static str, v: Option<V>) {
    if let Some(v) = v {
        attrs.push(KeyValue::new(key, v.into()));
    }
}
