//! Content capture: whether prompts and completions go into spans. Each style has its
//! own default and its own environment switch; they are read once, at construction.

use crate::vocab::Style;

/// Which message contents a span may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCapture {
    On,
    Off,
    /// Prompts only (e.g. `OPENINFERENCE_HIDE_OUTPUTS=true`).
    InputsOnly,
    /// Completions only (e.g. `OPENINFERENCE_HIDE_INPUTS=true`).
    OutputsOnly,
}

impl ContentCapture {
    pub fn inputs(self) -> bool {
        matches!(self, ContentCapture::On | ContentCapture::InputsOnly)
    }

    pub fn outputs(self) -> bool {
        matches!(self, ContentCapture::On | ContentCapture::OutputsOnly)
    }

    fn from_flags(inputs: bool, outputs: bool) -> Self {
        match (inputs, outputs) {
            (true, true) => ContentCapture::On,
            (true, false) => ContentCapture::InputsOnly,
            (false, true) => ContentCapture::OutputsOnly,
            (false, false) => ContentCapture::Off,
        }
    }

    /// The style's setting from the process environment.
    pub fn from_env(style: Style) -> Self {
        Self::from_lookup(style, |k| std::env::var(k).ok())
    }

    /// The style's setting from any variable lookup (tests pass a map, not the process env).
    /// - openinference: on unless `OPENINFERENCE_HIDE_INPUTS` / `_HIDE_INPUT_MESSAGES`
    ///   (prompts) or `OPENINFERENCE_HIDE_OUTPUTS` / `_HIDE_OUTPUT_MESSAGES` (completions)
    ///   is true;
    /// - traceloop: on unless `TRACELOOP_TRACE_CONTENT` is false;
    /// - otel-genai: off unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is
    ///   `true`, `span_only` or `span_and_event`.
    pub fn from_lookup(style: Style, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let truthy = |k: &str| {
            lookup(k)
                .map(|v| v.trim().eq_ignore_ascii_case("true"))
                .unwrap_or(false)
        };
        match style {
            Style::OpenInference => {
                let hide_in = truthy("OPENINFERENCE_HIDE_INPUTS")
                    || truthy("OPENINFERENCE_HIDE_INPUT_MESSAGES");
                let hide_out = truthy("OPENINFERENCE_HIDE_OUTPUTS")
                    || truthy("OPENINFERENCE_HIDE_OUTPUT_MESSAGES");
                Self::from_flags(!hide_in, !hide_out)
            }
            Style::Traceloop => {
                let off = lookup("TRACELOOP_TRACE_CONTENT")
                    .map(|v| v.trim().eq_ignore_ascii_case("false"))
                    .unwrap_or(false);
                if off {
                    ContentCapture::Off
                } else {
                    ContentCapture::On
                }
            }
            Style::OtelGenAi => {
                let on = lookup("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
                    .map(|v| {
                        let v = v.trim().to_ascii_lowercase();
                        matches!(v.as_str(), "true" | "span_only" | "span_and_event")
                    })
                    .unwrap_or(false);
                if on {
                    ContentCapture::On
                } else {
                    ContentCapture::Off
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(style: Style, vars: &[(&str, &str)]) -> ContentCapture {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ContentCapture::from_lookup(style, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_per_style() {
        assert_eq!(with(Style::OpenInference, &[]), ContentCapture::On);
        assert_eq!(with(Style::Traceloop, &[]), ContentCapture::On);
        assert_eq!(with(Style::OtelGenAi, &[]), ContentCapture::Off);
    }

    #[test]
    fn openinference_switches() {
        let s = Style::OpenInference;
        assert_eq!(
            with(s, &[("OPENINFERENCE_HIDE_INPUTS", "true")]),
            ContentCapture::OutputsOnly
        );
        assert_eq!(
            with(s, &[("OPENINFERENCE_HIDE_OUTPUT_MESSAGES", "TRUE")]),
            ContentCapture::InputsOnly
        );
        assert_eq!(
            with(
                s,
                &[
                    ("OPENINFERENCE_HIDE_INPUTS", "true"),
                    ("OPENINFERENCE_HIDE_OUTPUTS", "true")
                ]
            ),
            ContentCapture::Off
        );
        assert_eq!(
            with(s, &[("OPENINFERENCE_HIDE_INPUTS", "false")]),
            ContentCapture::On
        );
    }

    #[test]
    fn traceloop_and_otel_switches() {
        assert_eq!(
            with(Style::Traceloop, &[("TRACELOOP_TRACE_CONTENT", "false")]),
            ContentCapture::Off
        );
        assert_eq!(
            with(Style::Traceloop, &[("TRACELOOP_TRACE_CONTENT", "true")]),
            ContentCapture::On
        );
        for v in ["true", "span_only", "SPAN_AND_EVENT"] {
            assert_eq!(
                with(
                    Style::OtelGenAi,
                    &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", v)]
                ),
                ContentCapture::On,
                "{v}"
            );
        }
        for v in ["false", "event_only", "no_content", ""] {
            assert_eq!(
                with(
                    Style::OtelGenAi,
                    &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", v)]
                ),
                ContentCapture::Off,
                "{v}"
            );
        }
        assert!(ContentCapture::InputsOnly.inputs() && !ContentCapture::InputsOnly.outputs());
    }
}
