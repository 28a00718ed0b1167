//! In-process capture: one tracer provider per cell, exporting into memory, and the
//! normalization of the SDK's `SpanData` into the shared [`CapturedSpan`] model.
//!
//! Each cell builds its own provider so that cells running concurrently never see each
//! other's spans; no global provider is ever installed.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status, TracerProvider as _};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use opentelemetry_sdk::Resource;

use super::span::{
    AttrValue, Attributes, CapturedEvent, CapturedSpan, Scope, SpanKind, SpanStatus, StatusCode,
};

/// The tracing of one cell: a private provider whose spans stay in memory until
/// [`CellTracing::finish`] reads them.
#[derive(Debug)]
pub struct CellTracing {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    resource: Resource,
}

impl CellTracing {
    /// A provider whose resource holds exactly `resource_attrs` (no environment
    /// detectors, so two runs describe themselves identically).
    pub fn new(resource_attrs: &[(&str, String)]) -> Self {
        let resource = Resource::builder_empty()
            .with_attributes(
                resource_attrs
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.to_string(), v.clone())),
            )
            .build();
        let exporter = InMemorySpanExporter::default();
        // The simple processor exports each span as it ends, so a span is readable as
        // soon as the call that produced it has returned.
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_resource(resource.clone())
            .build();
        CellTracing {
            provider,
            exporter,
            resource,
        }
    }

    /// A tracer of this cell's provider, with the instrumentation scope the real
    /// instrumentor would report.
    pub fn tracer(&self, scope_name: &'static str, version: Option<&'static str>) -> SdkTracer {
        let mut scope = InstrumentationScope::builder(scope_name);
        if let Some(v) = version {
            scope = scope.with_version(v);
        }
        self.provider.tracer_with_scope(scope.build())
    }

    /// Flushes, reads and normalizes every finished span, then shuts the provider down.
    /// Spans come back sorted by start time, then span id, so the order is stable.
    pub fn finish(self) -> Vec<CapturedSpan> {
        // With a simple processor both calls only fail if the provider was already shut
        // down, which `self` being owned rules out; nothing useful can be done on error.
        let _ = self.provider.force_flush();
        let spans = self.exporter.get_finished_spans().unwrap_or_default();
        let _ = self.provider.shutdown();
        let mut captured: Vec<CapturedSpan> =
            spans.iter().map(|s| normalize(s, &self.resource)).collect();
        captured.sort_by(|a, b| {
            a.start_unix_nanos
                .cmp(&b.start_unix_nanos)
                .then_with(|| a.span_id.cmp(&b.span_id))
        });
        captured
    }
}

/// Converts one SDK span into the shared model: typed attributes, events, status, kind,
/// lowercase-hex ids (no parent id for a root span) and the instrumentation scope.
pub fn normalize(span: &SpanData, resource: &Resource) -> CapturedSpan {
    let parent_span_id =
        (span.parent_span_id != SpanId::INVALID).then(|| span.parent_span_id.to_string());
    CapturedSpan {
        name: span.name.to_string(),
        kind: kind_of(&span.span_kind),
        status: status_of(&span.status),
        attributes: attributes_of(span.attributes.iter()),
        events: span
            .events
            .iter()
            .map(|e| CapturedEvent {
                name: e.name.to_string(),
                attributes: attributes_of(e.attributes.iter()),
            })
            .collect(),
        trace_id: span.span_context.trace_id().to_string(),
        span_id: span.span_context.span_id().to_string(),
        parent_span_id,
        scope: Scope {
            name: span.instrumentation_scope.name().to_string(),
            version: span.instrumentation_scope.version().map(str::to_string),
        },
        resource: std::sync::Arc::new(attributes_of(resource.iter())),
        start_unix_nanos: unix_nanos(span.start_time),
        end_unix_nanos: unix_nanos(span.end_time),
    }
}

/// Either a `KeyValue` or a resource `(key, value)` pair.
trait AsKeyValue {
    fn key_str(&self) -> &str;
    fn val(&self) -> &Value;
}
impl AsKeyValue for &KeyValue {
    fn key_str(&self) -> &str {
        self.key.as_str()
    }
    fn val(&self) -> &Value {
        &self.value
    }
}
impl AsKeyValue for (&opentelemetry::Key, &Value) {
    fn key_str(&self) -> &str {
        self.0.as_str()
    }
    fn val(&self) -> &Value {
        self.1
    }
}

fn attributes_of<T: AsKeyValue>(kvs: impl Iterator<Item = T>) -> Attributes {
    kvs.map(|kv| (kv.key_str().to_string(), value_of(kv.val())))
        .collect()
}

/// Maps an OpenTelemetry value to its typed twin. `Value` is non-exhaustive: anything a
/// future SDK adds is kept as its string form rather than dropped.
pub(crate) fn value_of(value: &Value) -> AttrValue {
    match value {
        Value::Bool(b) => AttrValue::Bool(*b),
        Value::I64(i) => AttrValue::Int(*i),
        Value::F64(d) => AttrValue::Double(*d),
        Value::String(s) => AttrValue::String(s.to_string()),
        Value::Array(Array::Bool(v)) => AttrValue::BoolArray(v.clone()),
        Value::Array(Array::I64(v)) => AttrValue::IntArray(v.clone()),
        Value::Array(Array::F64(v)) => AttrValue::DoubleArray(v.clone()),
        Value::Array(Array::String(v)) => {
            AttrValue::StringArray(v.iter().map(|s| s.to_string()).collect())
        }
        other => AttrValue::String(other.to_string()),
    }
}

fn kind_of(kind: &opentelemetry::trace::SpanKind) -> SpanKind {
    use opentelemetry::trace::SpanKind as K;
    match kind {
        K::Client => SpanKind::Client,
        K::Server => SpanKind::Server,
        K::Producer => SpanKind::Producer,
        K::Consumer => SpanKind::Consumer,
        K::Internal => SpanKind::Internal,
    }
}

fn status_of(status: &Status) -> SpanStatus {
    match status {
        Status::Unset => SpanStatus {
            code: StatusCode::Unset,
            message: None,
        },
        Status::Ok => SpanStatus {
            code: StatusCode::Ok,
            message: None,
        },
        Status::Error { description } => SpanStatus {
            code: StatusCode::Error,
            message: (!description.is_empty()).then(|| description.to_string()),
        },
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, SpanKind as OtelKind, TraceContextExt, Tracer as _};
    use opentelemetry::{Context, StringValue};

    fn cell() -> CellTracing {
        CellTracing::new(&[
            ("service.name", "hh-compat".to_string()),
            ("hh_compat.cell", "c1".to_string()),
        ])
    }

    #[test]
    fn every_attribute_type_keeps_its_type() {
        let tracing = cell();
        let tracer = tracing.tracer("test.scope", Some("1.2.3"));
        let mut span = tracer.start("typed");
        span.set_attributes([
            KeyValue::new("b", true),
            KeyValue::new("i", 7_i64),
            KeyValue::new("d", 0.25_f64),
            KeyValue::new("s", "text"),
            KeyValue::new("ba", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ia", Value::Array(Array::I64(vec![1, 2]))),
            KeyValue::new("da", Value::Array(Array::F64(vec![0.5, 1.5]))),
            KeyValue::new(
                "sa",
                Value::Array(Array::String(vec![StringValue::from("stop")])),
            ),
        ]);
        span.end();
        let spans = tracing.finish();
        assert_eq!(spans.len(), 1);
        let a = &spans[0].attributes;
        assert_eq!(a["b"], AttrValue::Bool(true));
        assert_eq!(a["i"], AttrValue::Int(7));
        assert_eq!(a["d"], AttrValue::Double(0.25));
        assert_eq!(a["s"], AttrValue::String("text".into()));
        assert_eq!(a["ba"], AttrValue::BoolArray(vec![true, false]));
        assert_eq!(a["ia"], AttrValue::IntArray(vec![1, 2]));
        assert_eq!(a["da"], AttrValue::DoubleArray(vec![0.5, 1.5]));
        assert_eq!(a["sa"], AttrValue::StringArray(vec!["stop".into()]));
        assert_eq!(
            spans[0].scope,
            Scope {
                name: "test.scope".into(),
                version: Some("1.2.3".into())
            }
        );
        assert_eq!(
            spans[0].resource.get("hh_compat.cell"),
            Some(&AttrValue::String("c1".into()))
        );
        assert_eq!(spans[0].resource.len(), 2, "no detector adds attributes");
    }

    #[test]
    fn events_status_kind_and_parent_ids() {
        let tracing = cell();
        let tracer = tracing.tracer("t", None);
        let parent = tracer
            .span_builder("parent")
            .with_kind(OtelKind::Server)
            .start(&tracer);
        let parent_cx = Context::current_with_span(parent);
        let mut child = tracer
            .span_builder("child")
            .with_kind(OtelKind::Client)
            .start_with_context(&tracer, &parent_cx);
        child.add_event(
            "exception",
            vec![KeyValue::new("exception.type", "NotFoundError")],
        );
        child.add_event("bare", vec![]);
        child.set_status(Status::error("boom"));
        child.end();
        parent_cx.span().set_status(Status::Ok);
        parent_cx.span().end();

        let spans = tracing.finish();
        assert_eq!(spans.len(), 2);
        let parent = spans.iter().find(|s| s.name == "parent").expect("parent");
        let child = spans.iter().find(|s| s.name == "child").expect("child");
        assert_eq!(spans[0].name, "parent", "sorted by start time");
        assert_eq!(parent.kind, SpanKind::Server);
        assert_eq!(parent.parent_span_id, None);
        assert_eq!(parent.status.code, StatusCode::Ok);
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(
            child.parent_span_id.as_deref(),
            Some(parent.span_id.as_str())
        );
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.trace_id.len(), 32);
        assert_eq!(child.span_id.len(), 16);
        assert!(child
            .trace_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(
            child.status,
            SpanStatus {
                code: StatusCode::Error,
                message: Some("boom".into())
            }
        );
        assert_eq!(child.events.len(), 2);
        assert_eq!(child.events[0].name, "exception");
        assert_eq!(
            child.events[0].attributes["exception.type"],
            AttrValue::String("NotFoundError".into())
        );
        assert!(child.events[1].attributes.is_empty());
        assert!(child.end_unix_nanos >= child.start_unix_nanos);
        assert!(child.start_unix_nanos > 0);
    }

    #[test]
    fn unset_status_and_internal_kind_by_default() {
        let tracing = cell();
        let tracer = tracing.tracer("t", None);
        tracer.start("plain").end();
        let spans = tracing.finish();
        assert_eq!(spans[0].kind, SpanKind::Internal);
        assert_eq!(
            spans[0].status,
            SpanStatus {
                code: StatusCode::Unset,
                message: None
            }
        );
        assert!(spans[0].events.is_empty());
    }

    #[test]
    fn cells_are_isolated() {
        let a = cell();
        let b = cell();
        a.tracer("t", None).start("only-in-a").end();
        assert!(b.finish().is_empty());
        let spans = a.finish();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "only-in-a");
    }

    #[test]
    fn spans_sort_by_start_then_span_id() {
        let tracing = cell();
        let tracer = tracing.tracer("t", None);
        let t0 = UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        for name in ["late", "early"] {
            let start = if name == "early" {
                t0
            } else {
                t0 + std::time::Duration::from_secs(5)
            };
            tracer
                .span_builder(name)
                .with_start_time(start)
                .start(&tracer)
                .end();
        }
        let spans = tracing.finish();
        let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["early", "late"]);
        assert_eq!(spans[0].start_unix_nanos, 1_000_000_000_000);
    }
}
