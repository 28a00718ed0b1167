//! `text/event-stream` bodies ↔ cassette events.
//!
//! Only `event:` and `data:` fields are kept (Azure and OpenAI send nothing else);
//! comments, `id:` and `retry:` lines are dropped.

use serde_json::Value;

use super::model::SseEvent;

/// Splits a stream body into events (framed by the crate's one SSE framer, `src/sse.rs`); `data:` payloads that
/// are JSON (other than a bare JSON string) are parsed, anything else is kept as the
/// verbatim string.
pub fn parse(body: &[u8]) -> Vec<SseEvent> {
    crate::sse::events(body)
        .into_iter()
        .map(|e| SseEvent {
            event: e.event,
            data: payload(e.data),
        })
        .collect()
}

fn payload(raw: String) -> Value {
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::String(_)) | Err(_) => Value::String(raw),
        Ok(v) => v,
    }
}

/// The stream body a client receives for `events`.
pub fn render(events: &[SseEvent]) -> String {
    let mut out = String::new();
    for e in events {
        if let Some(name) = &e.event {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        let data = match &e.data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_azure_streams() {
        let body = "data: {\"choices\":[],\"id\":\"\"}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
        let events = parse(body.as_bytes());
        assert_eq!(events.len(), 3);
        assert!(events[0].data.is_object());
        assert_eq!(events[2].data, Value::String("[DONE]".into()));
        assert_eq!(render(&events), body);
    }

    #[test]
    fn keeps_malformed_and_string_payloads_verbatim() {
        let body = "event: x\ndata: {\"choices\":[{\"delta\":{\"content\":\n\ndata: \"quoted\"\n\n: comment\n\ndata: a\ndata: b\r\n\r\n";
        let events = parse(body.as_bytes());
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event.as_deref(), Some("x"));
        assert_eq!(
            events[0].data,
            Value::String("{\"choices\":[{\"delta\":{\"content\":".into())
        );
        assert_eq!(events[1].data, Value::String("\"quoted\"".into()));
        assert_eq!(events[2].data, Value::String("a\nb".into()));
        assert_eq!(
            render(&events),
            "event: x\ndata: {\"choices\":[{\"delta\":{\"content\":\n\ndata: \"quoted\"\n\ndata: a\ndata: b\n\n"
        );
    }
}
