//! Pure conversion of an OTLP `ExportTraceServiceRequest` into the shared
//! [`CapturedSpan`] model, so received spans read exactly like in-process ones.
//!
//! Mapping choices (OTLP allows more than the model holds):
//! - Homogeneous arrays of bool/int/double/string become the typed array variants;
//!   an empty array becomes an empty `StringArray` (OTLP carries no element type).
//! - Values the model has no variant for — `kvlistValue`, mixed or nested arrays,
//!   arrays with empty elements — become a `String` holding their JSON rendering, so
//!   nothing the instrumentor sent is silently lost. `bytesValue` becomes its base64
//!   string, as in OTLP/JSON.
//! - An attribute without a value (an empty `AnyValue`) is skipped: there is nothing
//!   to assert on.
//! - Links, trace state, flags and dropped counts are ignored.
//! - `SPAN_KIND_UNSPECIFIED` and unknown kinds map to `internal` (what SDKs default to);
//!   unknown status codes map to `unset`.
//! - Ids become lowercase hex; an empty or all-zero parent id means "root".

use std::sync::Arc;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};

use crate::capture::span::{
    AttrValue, Attributes, CapturedEvent, CapturedSpan, Scope, SpanKind, SpanStatus, StatusCode,
};

/// Converts every span of an export request, in request order.
pub fn convert(request: ExportTraceServiceRequest) -> Vec<CapturedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        // One resource for all its spans, shared rather than copied.
        let resource: Arc<Attributes> = Arc::new(
            resource_spans
                .resource
                .map(|r| attributes_of(r.attributes))
                .unwrap_or_default(),
        );
        for scope_spans in resource_spans.scope_spans {
            let scope = match scope_spans.scope {
                Some(s) => Scope {
                    name: s.name,
                    version: (!s.version.is_empty()).then_some(s.version),
                },
                None => Scope {
                    name: String::new(),
                    version: None,
                },
            };
            out.extend(
                scope_spans
                    .spans
                    .into_iter()
                    .map(|s| span_of(s, &scope, &resource)),
            );
        }
    }
    out
}

fn span_of(span: Span, scope: &Scope, resource: &Arc<Attributes>) -> CapturedSpan {
    let parent_span_id =
        (!span.parent_span_id.iter().all(|b| *b == 0)).then(|| hex_lower(&span.parent_span_id));
    CapturedSpan {
        name: span.name,
        kind: kind_of(span.kind),
        status: status_of(span.status),
        attributes: attributes_of(span.attributes),
        events: span
            .events
            .into_iter()
            .map(|e| CapturedEvent {
                name: e.name,
                attributes: attributes_of(e.attributes),
            })
            .collect(),
        trace_id: hex_lower(&span.trace_id),
        span_id: hex_lower(&span.span_id),
        parent_span_id,
        scope: scope.clone(),
        resource: resource.clone(),
        start_unix_nanos: span.start_time_unix_nano,
        end_unix_nanos: span.end_time_unix_nano,
    }
}

fn kind_of(kind: i32) -> SpanKind {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(span::SpanKind::Internal | span::SpanKind::Unspecified) | Err(_) => SpanKind::Internal,
    }
}

fn status_of(status: Option<Status>) -> SpanStatus {
    let Some(status) = status else {
        return SpanStatus {
            code: StatusCode::Unset,
            message: None,
        };
    };
    // Values from the proto's `StatusCode` enum: 1 = OK, 2 = ERROR.
    let code = match status.code {
        1 => StatusCode::Ok,
        2 => StatusCode::Error,
        _ => StatusCode::Unset,
    };
    SpanStatus {
        code,
        message: (!status.message.is_empty()).then_some(status.message),
    }
}

fn attributes_of(kvs: Vec<KeyValue>) -> Attributes {
    kvs.into_iter()
        .filter_map(|kv| {
            let value = kv.value.and_then(|v| v.value)?;
            Some((kv.key, attr_value_of(value)))
        })
        .collect()
}

fn attr_value_of(value: Value) -> AttrValue {
    match value {
        Value::StringValue(s) => AttrValue::String(s),
        Value::BoolValue(b) => AttrValue::Bool(b),
        Value::IntValue(i) => AttrValue::Int(i),
        Value::DoubleValue(d) => AttrValue::Double(d),
        Value::ArrayValue(array) => array_of(array.values),
        Value::BytesValue(bytes) => {
            AttrValue::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        other @ (Value::KvlistValue(_) | Value::StringValueStrindex(_)) => {
            AttrValue::String(json_of(&Some(other)).to_string())
        }
    }
}

/// A typed array when every element has the same scalar type, else its JSON string.
fn array_of(values: Vec<AnyValue>) -> AttrValue {
    let Some(first) = values.first() else {
        return AttrValue::StringArray(Vec::new());
    };
    macro_rules! homogeneous {
        ($variant:ident, $out:ident) => {{
            let typed: Option<Vec<_>> = values
                .iter()
                .map(|v| match &v.value {
                    Some(Value::$variant(x)) => Some(x.clone()),
                    _ => None,
                })
                .collect();
            if let Some(typed) = typed {
                return AttrValue::$out(typed);
            }
        }};
    }
    match &first.value {
        Some(Value::StringValue(_)) => homogeneous!(StringValue, StringArray),
        Some(Value::BoolValue(_)) => homogeneous!(BoolValue, BoolArray),
        Some(Value::IntValue(_)) => homogeneous!(IntValue, IntArray),
        Some(Value::DoubleValue(_)) => homogeneous!(DoubleValue, DoubleArray),
        _ => {}
    }
    let json: Vec<serde_json::Value> = values.iter().map(|v| json_of(&v.value)).collect();
    AttrValue::String(serde_json::Value::Array(json).to_string())
}

/// A plain JSON rendering of an OTLP value (not the OTLP/JSON wrapper form), used
/// for the values the typed model cannot hold.
fn json_of(value: &Option<Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(d.to_string())),
        Some(Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| json_of(&v.value)).collect())
        }
        Some(Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.clone());
                    (kv.key.clone(), json_of(&v))
                })
                .collect(),
        ),
        Some(Value::BytesValue(b)) => {
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // A string-table index only means something inside profiles; keep the number.
        Some(Value::StringValueStrindex(i)) => J::from(*i),
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// The cell a converted span belongs to: the string value of `cell_attribute` on its
/// resource, falling back to the same key on the span itself (for exporters that
/// cannot set resource attributes). Empty values count as absent.
pub fn cell_of<'a>(span: &'a CapturedSpan, cell_attribute: &str) -> Option<&'a str> {
    [
        span.resource.get(cell_attribute),
        span.attributes.get(cell_attribute),
    ]
    .into_iter()
    .flatten()
    .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        }
    }

    fn any(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    fn array(values: Vec<Value>) -> Value {
        Value::ArrayValue(ArrayValue {
            values: values.into_iter().map(any).collect(),
        })
    }

    fn base_span(name: &str) -> Span {
        Span {
            trace_id: vec![0xAB; 16],
            span_id: vec![0x0C, 0xD0, 1, 2, 3, 4, 5, 6],
            name: name.into(),
            kind: 3,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_500,
            ..Default::default()
        }
    }

    fn request(
        resource: Vec<KeyValue>,
        scope: Option<InstrumentationScope>,
        spans: Vec<Span>,
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn one(span: Span) -> CapturedSpan {
        let mut spans = convert(request(vec![], None, vec![span]));
        assert_eq!(spans.len(), 1);
        spans.remove(0)
    }

    #[test]
    fn scalar_and_array_attributes_keep_their_types() {
        let mut span = base_span("typed");
        span.attributes = vec![
            kv("s", Value::StringValue("text".into())),
            kv("b", Value::BoolValue(true)),
            kv("i", Value::IntValue(-7)),
            kv("d", Value::DoubleValue(0.25)),
            kv(
                "sa",
                array(vec![
                    Value::StringValue("a".into()),
                    Value::StringValue("b".into()),
                ]),
            ),
            kv(
                "ba",
                array(vec![Value::BoolValue(true), Value::BoolValue(false)]),
            ),
            kv("ia", array(vec![Value::IntValue(1), Value::IntValue(2)])),
            kv("da", array(vec![Value::DoubleValue(0.5)])),
            kv("empty", array(vec![])),
        ];
        let a = one(span).attributes;
        assert_eq!(a["s"], AttrValue::String("text".into()));
        assert_eq!(a["b"], AttrValue::Bool(true));
        assert_eq!(a["i"], AttrValue::Int(-7));
        assert_eq!(a["d"], AttrValue::Double(0.25));
        assert_eq!(
            a["sa"],
            AttrValue::StringArray(vec!["a".into(), "b".into()])
        );
        assert_eq!(a["ba"], AttrValue::BoolArray(vec![true, false]));
        assert_eq!(a["ia"], AttrValue::IntArray(vec![1, 2]));
        assert_eq!(a["da"], AttrValue::DoubleArray(vec![0.5]));
        assert_eq!(a["empty"], AttrValue::StringArray(vec![]));
    }

    #[test]
    fn values_without_a_typed_twin_become_json_strings() {
        let mut span = base_span("odd");
        span.attributes = vec![
            kv(
                "mixed",
                array(vec![Value::IntValue(1), Value::StringValue("x".into())]),
            ),
            kv("nested", array(vec![array(vec![Value::IntValue(1)])])),
            kv(
                "kv",
                Value::KvlistValue(KeyValueList {
                    values: vec![
                        kv("role", Value::StringValue("user".into())),
                        kv("n", Value::IntValue(2)),
                    ],
                }),
            ),
            kv("bytes", Value::BytesValue(vec![0, 1, 2, 255])),
            KeyValue {
                key: "no-value".into(),
                value: Some(AnyValue { value: None }),
                key_strindex: 0,
            },
            KeyValue {
                key: "no-any".into(),
                value: None,
                key_strindex: 0,
            },
        ];
        let a = one(span).attributes;
        assert_eq!(a["mixed"], AttrValue::String(r#"[1,"x"]"#.into()));
        assert_eq!(a["nested"], AttrValue::String("[[1]]".into()));
        assert_eq!(
            a["kv"],
            AttrValue::String(r#"{"role":"user","n":2}"#.into())
        );
        assert_eq!(a["bytes"], AttrValue::String("AAEC/w==".into()));
        assert!(!a.contains_key("no-value"), "empty values are skipped");
        assert!(!a.contains_key("no-any"));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn ids_are_lowercase_hex_and_zero_parent_is_root() {
        let mut span = base_span("ids");
        span.parent_span_id = vec![0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10];
        let s = one(span.clone());
        assert_eq!(s.trace_id, "abababababababababababababababab");
        assert_eq!(s.span_id, "0cd0010203040506");
        assert_eq!(s.parent_span_id.as_deref(), Some("fedcba9876543210"));

        span.parent_span_id = vec![];
        assert_eq!(one(span.clone()).parent_span_id, None);
        span.parent_span_id = vec![0; 8];
        assert_eq!(one(span).parent_span_id, None);
    }

    #[test]
    fn kinds_map_with_unspecified_and_unknown_as_internal() {
        for (raw, want) in [
            (0, SpanKind::Internal),
            (1, SpanKind::Internal),
            (2, SpanKind::Server),
            (3, SpanKind::Client),
            (4, SpanKind::Producer),
            (5, SpanKind::Consumer),
            (99, SpanKind::Internal),
            (-1, SpanKind::Internal),
        ] {
            let mut span = base_span("k");
            span.kind = raw;
            assert_eq!(one(span).kind, want, "kind {raw}");
        }
    }

    #[test]
    fn status_codes_and_messages() {
        let cases = [
            (None, StatusCode::Unset, None),
            (Some((0, "")), StatusCode::Unset, None),
            (Some((1, "")), StatusCode::Ok, None),
            (Some((2, "boom")), StatusCode::Error, Some("boom")),
            (Some((7, "")), StatusCode::Unset, None),
        ];
        for (status, code, message) in cases {
            let mut span = base_span("st");
            span.status = status.map(|(code, message)| Status {
                code,
                message: message.into(),
            });
            let got = one(span).status;
            assert_eq!(got.code, code);
            assert_eq!(got.message.as_deref(), message);
        }
    }

    #[test]
    fn events_keep_attributes_and_links_are_ignored() {
        let mut span = base_span("ev");
        span.events = vec![
            span::Event {
                time_unix_nano: 1_500,
                name: "exception".into(),
                attributes: vec![kv("exception.type", Value::StringValue("APIError".into()))],
                dropped_attributes_count: 0,
            },
            span::Event {
                name: "bare".into(),
                ..Default::default()
            },
        ];
        span.links = vec![span::Link {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        }];
        let s = one(span);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].name, "exception");
        assert_eq!(
            s.events[0].attributes["exception.type"],
            AttrValue::String("APIError".into())
        );
        assert!(s.events[1].attributes.is_empty());
        assert_eq!(s.start_unix_nanos, 1_000);
        assert_eq!(s.end_unix_nanos, 2_500);
    }

    #[test]
    fn resource_and_scope_are_copied_onto_every_span() {
        let req = request(
            vec![
                kv("service.name", Value::StringValue("svc".into())),
                kv("hh_compat.cell", Value::StringValue("cell-1".into())),
            ],
            Some(InstrumentationScope {
                name: "openinference.instrumentation.openai".into(),
                version: "0.1.2".into(),
                ..Default::default()
            }),
            vec![base_span("a"), base_span("b")],
        );
        let spans = convert(req);
        assert_eq!(spans.len(), 2);
        for s in &spans {
            assert_eq!(s.scope.name, "openinference.instrumentation.openai");
            assert_eq!(s.scope.version.as_deref(), Some("0.1.2"));
            assert_eq!(s.resource["service.name"], AttrValue::String("svc".into()));
            assert_eq!(cell_of(s, "hh_compat.cell"), Some("cell-1"));
        }
        assert_eq!(spans[0].name, "a");
        assert_eq!(spans[1].name, "b");
        // One resource in memory for all its spans, not one copy each.
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    }

    #[test]
    fn missing_scope_and_resource_and_empty_version() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "s".into(),
                        ..Default::default()
                    }),
                    spans: vec![base_span("x")],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let s = &convert(req)[0];
        assert_eq!(s.scope.version, None);
        assert!(s.resource.is_empty());
        assert_eq!(cell_of(s, "hh_compat.cell"), None);
        assert!(convert(request(vec![], None, vec![])).is_empty());
        assert_eq!(one(base_span("y")).scope.name, "");
    }

    #[test]
    fn cell_falls_back_to_span_attribute_and_ignores_empty_or_non_string() {
        let mut span = base_span("c");
        span.attributes = vec![kv("hh_compat.cell", Value::StringValue("from-span".into()))];
        let s = one(span.clone());
        assert_eq!(cell_of(&s, "hh_compat.cell"), Some("from-span"));

        let req = request(
            vec![kv("hh_compat.cell", Value::StringValue(String::new()))],
            None,
            vec![span],
        );
        assert_eq!(
            cell_of(&convert(req)[0], "hh_compat.cell"),
            Some("from-span")
        );

        let req = request(
            vec![kv("hh_compat.cell", Value::IntValue(3))],
            None,
            vec![base_span("n")],
        );
        assert_eq!(cell_of(&convert(req)[0], "hh_compat.cell"), None);
    }
}
