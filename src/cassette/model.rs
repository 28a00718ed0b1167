//! The cassette file format, as serde types (see docs/cassettes.md).
//!
//! Every field a hand-written cassette can leave out has a default: `method: POST`,
//! `status: 200`, no query, no headers, and a content type inferred from whether the
//! response has `events` (an SSE stream), `body` (JSON) or `text`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scope's file: its exchanges in request order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassetteFile {
    /// The cell scope (`x-hh-compat-scope`) the requests carried; absent for unscoped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
}

/// One request and the response it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    #[serde(default = "default_method")]
    pub method: String,
    /// The path without the query, e.g. `/openai/deployments/gpt-4o/chat/completions`.
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// The JSON body, keys sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A body that is not JSON, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    #[serde(default = "default_status")]
    pub status: u16,
    /// Lower-case names; only the headers that matter (see `redact::KEPT_HEADERS`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, in the order the service sent its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A `text/event-stream` body, event by event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<SseEvent>>,
    /// Any other body (or JSON that did not parse, e.g. a truncated one), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SseEvent {
    /// The `event:` field, when the service sent one (Azure chat streams do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The `data:` payload: parsed JSON, or a string sent verbatim (`[DONE]`, a malformed
    /// chunk). A JSON payload that is itself a string is kept verbatim, quotes included.
    pub data: Value,
}

/// `cassette.yaml`: what the set is and how to match requests against it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassetteMeta {
    /// Where the traffic came from, e.g. "recorded from the replica posing as live".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, rename = "match")]
    pub matching: MatchOptions,
    /// The resource the set was recorded from, so a replay aims the matrix at the same
    /// host and deployment names. Absent in hand-written sets: the matrix is used as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RecordedTarget>,
    /// The scope files `hh-compat record` wrote beside this one: the only files a later
    /// recording into the same directory may replace or remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// The live resource a set was recorded from, as the spans of the recording named it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedTarget {
    /// The endpoint's host (the placeholder when the host was anonymized).
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Matrix deployment name → the deployment name the requests carry.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub deployments: std::collections::BTreeMap<String, String>,
}

/// How replay compares a request with the recorded ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchOptions {
    /// Body fields left out of the comparison: a top-level key (`user`) or a dotted path
    /// (`stream_options.include_usage`). Replaces the default list when given.
    #[serde(default = "default_ignored_fields")]
    pub ignore_fields: Vec<String>,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            ignore_fields: default_ignored_fields(),
        }
    }
}

/// `user` is an end-user id that apps vary per run and that does not change the answer.
/// `seed` does change the answer, so it is matched unless a cassette says otherwise.
pub(super) const DEFAULT_IGNORED_FIELDS: &[&str] = &["user"];

fn default_ignored_fields() -> Vec<String> {
    DEFAULT_IGNORED_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_method() -> String {
    "POST".into()
}

fn default_status() -> u16 {
    200
}

/// The content type of an SSE response when the cassette does not say.
pub(super) const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

impl RecordedResponse {
    /// The recorded `content-type`, else one inferred from the body's form.
    pub fn content_type(&self) -> String {
        if let Some(ct) = self.headers.get("content-type") {
            return ct.clone();
        }
        if self.events.is_some() {
            EVENT_STREAM.into()
        } else if self.body.is_some() {
            "application/json".into()
        } else {
            "text/plain; charset=utf-8".into()
        }
    }

    /// The body bytes a client receives.
    pub fn body_bytes(&self) -> Vec<u8> {
        if let Some(events) = &self.events {
            return super::sse::render(events).into_bytes();
        }
        if let Some(body) = &self.body {
            return serde_json::to_vec(body).unwrap_or_default();
        }
        self.text.clone().unwrap_or_default().into_bytes()
    }

    /// True when the body is a stream (recorded as events).
    pub fn is_stream(&self) -> bool {
        self.events.is_some()
    }
}

impl RecordedRequest {
    /// `METHOD /path?query` for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{k}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_defaults() {
        let e: Exchange = serde_saphyr::from_str(
            "request: {path: /x}\nresponse:\n  events:\n    - data: {a: 1}\n    - data: '[DONE]'\n",
        )
        .expect("parses");
        assert_eq!(e.request.method, "POST");
        assert_eq!(e.response.status, 200);
        assert_eq!(e.response.content_type(), EVENT_STREAM);
        assert_eq!(
            String::from_utf8_lossy(&e.response.body_bytes()),
            "data: {\"a\":1}\n\ndata: [DONE]\n\n"
        );
        let e: Exchange =
            serde_saphyr::from_str("request: {path: /x}\nresponse: {status: 404, body: {}}\n")
                .expect("parses");
        assert_eq!(e.response.content_type(), "application/json");
        assert_eq!(MatchOptions::default().ignore_fields, vec!["user"]);
    }
}
