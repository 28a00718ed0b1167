//! What async-openai's typed responses drop but Azure-aware instrumentors record:
//! Azure's `prompt_filter_results`. The Python instrumentors read it off the raw
//! response; here the HTTP layer, which sees the raw body, hands it over through a
//! [`RawResponseTap`], and the instrumentor reads it when it ends the span.

use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The most of a stream scanned for the first chunk's `prompt_filter_results`.
const MAX_SCAN: usize = 64 * 1024;

/// A slot for one call's raw extras; calls of one app run one after another.
#[derive(Debug, Clone, Default)]
pub struct RawResponseTap(Arc<Mutex<Option<Value>>>);

impl RawResponseTap {
    /// Reads a JSON response body.
    pub fn record_body(&self, body: &[u8]) {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            self.keep(&value);
        }
    }

    /// The `prompt_filter_results` of the last call, if it had any; clears the slot.
    pub fn take(&self) -> Option<Value> {
        self.lock().take()
    }

    /// A scanner for a streamed body; Azure puts the results in the first chunk.
    pub fn stream_scanner(&self) -> SseScanner {
        SseScanner {
            tap: self.clone(),
            framer: crate::sse::Framer::default(),
            scanned: 0,
            done: false,
        }
    }

    fn keep(&self, value: &Value) -> bool {
        match value.get("prompt_filter_results") {
            Some(results) => {
                *self.lock() = Some(results.clone());
                true
            }
            None => false,
        }
    }

    // Poison cannot leave an Option inconsistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Value>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Looks through a server-sent-event stream, chunk by chunk as it passes, for the first
/// event carrying `prompt_filter_results`; stops looking after it or after `MAX_SCAN` bytes.
#[derive(Debug)]
pub struct SseScanner {
    tap: RawResponseTap,
    framer: crate::sse::Framer,
    scanned: usize,
    done: bool,
}

impl SseScanner {
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        self.scanned = self.scanned.saturating_add(bytes.len());
        for event in self.framer.feed(bytes) {
            if let Ok(value) = serde_json::from_str::<Value>(&event.data) {
                if self.tap.keep(&value) {
                    self.done = true;
                    return;
                }
            }
        }
        if self.scanned > MAX_SCAN || self.framer.pending() > MAX_SCAN {
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_hands_over_its_prompt_filter_results_once() {
        let tap = RawResponseTap::default();
        tap.record_body(br#"{"id":"x","prompt_filter_results":[{"prompt_index":0}]}"#);
        assert_eq!(tap.take(), Some(json!([{"prompt_index": 0}])));
        assert_eq!(tap.take(), None);
        tap.record_body(b"not json");
        tap.record_body(br#"{"id":"no results"}"#);
        assert_eq!(tap.take(), None);
    }

    #[test]
    fn a_stream_is_scanned_across_chunk_boundaries() {
        let tap = RawResponseTap::default();
        let mut scanner = tap.stream_scanner();
        let stream = "data: {\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\ndata: {\"choices\":[{\"delta\":{}}]}\n\ndata: [DONE]\n\n";
        for piece in stream.as_bytes().chunks(7) {
            scanner.feed(piece);
        }
        assert_eq!(
            tap.take(),
            Some(json!([{"prompt_index": 0, "content_filter_results": {}}]))
        );
        // Framed with CRLF, as HTTP servers may: the results are still found.
        let crlf = RawResponseTap::default();
        let mut scanner = crlf.stream_scanner();
        for piece in stream.replace("\n", "\r\n").as_bytes().chunks(5) {
            scanner.feed(piece);
        }
        assert_eq!(
            crlf.take(),
            Some(json!([{"prompt_index": 0, "content_filter_results": {}}])),
            "a CRLF-framed stream is scanned"
        );
        let plain = RawResponseTap::default();
        let mut scanner = plain.stream_scanner();
        scanner.feed(b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
        assert_eq!(plain.take(), None);
    }
}
