//! `CapturedSpan`: the one span model that assertions, snapshots and reports share,
//! whether the span came from the in-memory exporter or (later) the OTLP receiver.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A span attribute value with its OpenTelemetry type kept, so `type:` assertions
/// can tell `7` from `"7"` and `7.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    BoolArray(Vec<bool>),
    IntArray(Vec<i64>),
    DoubleArray(Vec<f64>),
    StringArray(Vec<String>),
}

/// The OpenTelemetry type name of an attribute value, as assertions spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrType {
    Bool,
    Int,
    Double,
    String,
    BoolArray,
    IntArray,
    DoubleArray,
    StringArray,
}

impl AttrValue {
    pub fn attr_type(&self) -> AttrType {
        match self {
            AttrValue::Bool(_) => AttrType::Bool,
            AttrValue::Int(_) => AttrType::Int,
            AttrValue::Double(_) => AttrType::Double,
            AttrValue::String(_) => AttrType::String,
            AttrValue::BoolArray(_) => AttrType::BoolArray,
            AttrValue::IntArray(_) => AttrType::IntArray,
            AttrValue::DoubleArray(_) => AttrType::DoubleArray,
            AttrValue::StringArray(_) => AttrType::StringArray,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, when it is one (a double with no fraction counts:
    /// some SDKs export token counts as doubles).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Double(d) => Some(*d),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    /// Strings print bare; everything else prints as JSON, so messages read naturally.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            other => {
                let json = serde_json::to_string(other).map_err(|_| fmt::Error)?;
                f.write_str(&json)
            }
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::String(s.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::String(s)
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}
impl From<f64> for AttrValue {
    fn from(d: f64) -> Self {
        AttrValue::Double(d)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

pub type Attributes = BTreeMap<String, AttrValue>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Internal,
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanStatus {
    pub code: StatusCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedEvent {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: Attributes,
}

/// The instrumentation scope (tracer name and version) that produced a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One finished span, normalized. Ids are lowercase hex as in OTLP/JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedSpan {
    pub name: String,
    pub kind: SpanKind,
    pub status: SpanStatus,
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<CapturedEvent>,
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub scope: Scope,
    /// Shared by every span of one resource (an export names it once for many spans).
    #[serde(default, skip_serializing_if = "no_attributes")]
    pub resource: Arc<Attributes>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
}

#[cfg(test)]
impl CapturedSpan {
    /// A finished client span named `name` with `attrs` and status unset, for unit tests.
    pub(crate) fn for_test(name: &str, attrs: &[(&str, AttrValue)]) -> Self {
        CapturedSpan {
            name: name.into(),
            kind: SpanKind::Client,
            status: SpanStatus {
                code: StatusCode::Unset,
                message: None,
            },
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            events: Vec::new(),
            trace_id: "t1".into(),
            span_id: format!("s-{name}"),
            parent_span_id: None,
            scope: Scope {
                name: "test".into(),
                version: None,
            },
            resource: Default::default(),
            start_unix_nanos: 0,
            end_unix_nanos: 1,
        }
    }
}

fn no_attributes(a: &Arc<Attributes>) -> bool {
    a.is_empty()
}

impl CapturedSpan {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.events.iter().any(|e| e.name == name)
    }

    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}
