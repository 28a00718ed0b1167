//! What a handler produces before it becomes a wiremock response.

use std::time::Duration;

/// A response body with its status and the few headers that vary per response.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Empty: no `content-type` header at all.
    pub content_type: &'static str,
    /// For 429s: announced as `retry-after-ms` and, rounded up to seconds, `retry-after`.
    pub retry_after_ms: Option<u64>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            body,
            content_type: "application/json",
            retry_after_ms: None,
            delay: None,
        }
    }

    pub(super) fn event_stream(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            body,
            content_type: "text/event-stream; charset=utf-8",
            retry_after_ms: None,
            delay: None,
        }
    }

    pub(super) fn with_delay(mut self, delay: Option<Duration>) -> Self {
        if delay.is_some() {
            self.delay = delay;
        }
        self
    }
}
