//! Raw HTTP traffic → a cassette [`Exchange`]: query as a map, request body as sorted
//! JSON, response body as JSON, SSE events or text, and only the headers worth keeping.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{Exchange, RecordedRequest, RecordedResponse};
use super::normalize::sorted;
use super::redact::keep_header;
use super::sse;

/// One request as the proxy forwarded it.
#[derive(Debug, Clone)]
pub(super) struct RawRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// One response as the upstream sent it.
#[derive(Debug, Clone)]
pub(super) struct RawResponse<'a> {
    pub status: u16,
    /// (name, value) pairs in the order received.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// The exchange as a cassette holds it (before write-time redaction of secrets).
pub(super) fn exchange(request: &RawRequest<'_>, response: &RawResponse<'_>) -> Exchange {
    Exchange {
        request: recorded_request(request),
        response: recorded_response(response),
    }
}

fn recorded_request(r: &RawRequest<'_>) -> RecordedRequest {
    let (body, text) = if r.body.is_empty() {
        (None, None)
    } else {
        match serde_json::from_slice::<Value>(r.body) {
            Ok(v) => (Some(sorted(&v)), None),
            Err(_) => (None, Some(String::from_utf8_lossy(r.body).into_owned())),
        }
    };
    RecordedRequest {
        method: r.method.to_ascii_uppercase(),
        path: r.path.to_string(),
        query: query_map(r.query),
        body,
        text,
    }
}

fn recorded_response(r: &RawResponse<'_>) -> RecordedResponse {
    let mut headers = BTreeMap::new();
    for (name, value) in &r.headers {
        let name = name.to_ascii_lowercase();
        if keep_header(&name) {
            headers
                .entry(name)
                .and_modify(|v: &mut String| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
    }
    let content_type = headers
        .get("content-type")
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_default();
    let mut response = RecordedResponse {
        status: r.status,
        headers,
        body: None,
        events: None,
        text: None,
    };
    if content_type.starts_with("text/event-stream") {
        response.events = Some(sse::parse(r.body));
    } else if !r.body.is_empty() {
        match serde_json::from_slice::<Value>(r.body) {
            Ok(v) => response.body = Some(v),
            Err(_) => response.text = Some(String::from_utf8_lossy(r.body).into_owned()),
        }
    }
    response
}

/// `a=1&b=x%20y` → {a: "1", b: "x y"} (a repeated key keeps its last value).
fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_requests_and_responses() {
        let e = exchange(
            &RawRequest {
                method: "post",
                path: "/openai/deployments/gpt-4o/chat/completions",
                query: Some("api-version=2024-10-21&x=a%20b"),
                body: br#"{"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
            },
            &RawResponse {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "text/event-stream".into()),
                    ("Set-Cookie".into(), "s=1".into()),
                    ("Date".into(), "today".into()),
                    ("apim-request-id".into(), "abc".into()),
                ],
                body: b"data: {\"a\":1}\n\ndata: [DONE]\n\n",
            },
        );
        assert_eq!(e.request.method, "POST");
        assert_eq!(e.request.query["x"], "a b");
        let body = e.request.body.expect("json");
        assert_eq!(
            body.as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["messages".to_string(), "stream".to_string()])
        );
        assert_eq!(
            e.response.headers.keys().collect::<Vec<_>>(),
            vec!["apim-request-id", "content-type"]
        );
        assert_eq!(e.response.events.map(|v| v.len()), Some(2));

        let e = exchange(
            &RawRequest {
                method: "POST",
                path: "/p",
                query: None,
                body: b"not json",
            },
            &RawResponse {
                status: 500,
                headers: vec![],
                body: b"{\"truncated\":",
            },
        );
        assert_eq!(e.request.text.as_deref(), Some("not json"));
        assert_eq!(e.response.text.as_deref(), Some("{\"truncated\":"));
    }
}
