//! Server-sent events framing, one implementation for whole bodies (cassettes) and for
//! streams read chunk by chunk (the rust driver's tap): lines end with CRLF, LF or a
//! lone CR; an event ends at a blank line; only `event:` and `data:` fields are kept
//! (several `data:` lines join with `\n`), comments and other fields are dropped. Bytes
//! are decoded a whole line at a time, so a character split across chunks survives.

/// One dispatched event: its `event:` name, if any, and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// An incremental parser: feed it bytes as they arrive, take the events they complete.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl Framer {
    /// The events `bytes` completed, in order.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue; // the LF of a CRLF
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    self.end_line(&mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// The event a body left unterminated (no blank line after its last field).
    pub(crate) fn finish(mut self) -> Option<Event> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out.pop()
    }

    /// Bytes of the current, incomplete line (for callers that bound what they buffer).
    pub(crate) fn pending(&self) -> usize {
        self.line.len()
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                out.push(Event { event, data });
            }
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }
}

/// Every event of a whole body, the unterminated last one included.
pub(crate) fn events(body: &[u8]) -> Vec<Event> {
    let mut framer = Framer::default();
    let mut out = framer.feed(body);
    out.extend(framer.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn every_line_ending_frames_the_same_events() {
        let lf = "event: a\ndata: 1\ndata: 2\n\n: comment\n\ndata: [DONE]\n\n";
        for body in [
            lf.to_string(),
            lf.replace('\n', "\r\n"),
            lf.replace('\n', "\r"),
        ] {
            let got = events(body.as_bytes());
            assert_eq!(data(&got), ["1\n2", "[DONE]"], "{body:?}");
            assert_eq!(got[0].event.as_deref(), Some("a"));
            assert_eq!(got[1].event, None);
        }
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_events() {
        let body = "data: {\"text\":\"héllo\"}\r\n\r\ndata: b\r\n\r\n".as_bytes();
        let whole = events(body);
        for size in 1..body.len() {
            let mut framer = Framer::default();
            let mut got = Vec::new();
            for piece in body.chunks(size) {
                got.extend(framer.feed(piece));
            }
            got.extend(framer.finish());
            assert_eq!(got, whole, "chunks of {size}");
        }
        assert_eq!(data(&whole), ["{\"text\":\"héllo\"}", "b"]);
    }

    #[test]
    fn an_unterminated_last_event_is_kept_by_finish() {
        assert_eq!(data(&events(b"data: x")), ["x"]);
        assert_eq!(data(&events(b"data: x\n")), ["x"]);
        assert!(events(b"").is_empty());
        assert!(events(b": only a comment\n\n").is_empty());
    }
}
