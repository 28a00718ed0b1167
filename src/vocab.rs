//! The words every other module shares: provider, style, feature, driver, target.
//!
//! They are closed enums on purpose: a typo in a matrix or on the command line is
//! caught where it is read, not deep inside a driver.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order reports list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in matrices, cell ids and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted names, for error messages and suggestions.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName::new($what, s, &Self::names()))
            }
        }
    };
}

named_enum! {
    /// The API being called.
    Provider ("provider") {
        /// Deployment URLs plus a dated `api-version` query parameter.
        AzureOpenAi => "azure-openai",
        /// Azure's `/openai/v1/` API: deployment in the body's `model`.
        AzureOpenAiV1 => "azure-openai-v1",
        /// The plain OpenAI API, the baseline that shows what is Azure-specific.
        OpenAi => "openai",
    }
}

named_enum! {
    /// An instrumentation convention and the instrumentor that emits it.
    Style ("style") {
        /// Arize OpenInference (`openinference-instrumentation-openai`).
        OpenInference => "openinference",
        /// Traceloop / OpenLLMetry (`opentelemetry-instrumentation-openai`).
        Traceloop => "traceloop",
        /// The official OpenTelemetry GenAI conventions (`opentelemetry-instrumentation-genai-openai`).
        OtelGenAi => "otel-genai",
    }
}

named_enum! {
    /// What the app under test does in a cell.
    Feature ("feature") {
        /// One non-streamed chat completion.
        Chat => "chat",
        /// One streamed chat completion without `stream_options.include_usage`.
        Streaming => "streaming",
        /// One streamed chat completion with `stream_options.include_usage: true`.
        StreamingUsage => "streaming-usage",
        /// One streamed chat completion from a deployment with Azure's asynchronous
        /// content filter: delta-less annotation chunks (`model: ""`) interleave the
        /// content and trail the finish chunk.
        StreamingAsyncFilter => "streaming-async-filter",
        /// One embeddings call with several inputs.
        Embeddings => "embeddings",
        /// Two chat calls on two deployments inside one parent span.
        MultiDeployment => "multi-deployment",
        /// An unknown deployment (404) and a rate-limited deployment that succeeds on retry.
        Errors => "errors",
        /// A chat call offering a function tool that the model calls, then the follow-up
        /// call with the tool's result: two LLM spans.
        Tools => "tools",
        /// `tools`, streamed: the tool call arrives as a header and argument fragments.
        StreamingTools => "streaming-tools",
        /// Streams the app stops reading: left after the first content chunk (with
        /// `break` inside `with`, and with `close()`), and one never iterated and dropped.
        StreamAbandoned => "stream-abandoned",
        /// Chat and embeddings through `with_raw_response` (headers first, then `parse()`).
        RawResponse => "raw-response",
        /// Chat, a stream with usage and embeddings through the async client.
        Async => "async",
        /// A chat call whose `response_format` is a strict JSON schema, made twice: with
        /// the schema as a dict (`create`), and with a typed model (`parse`) where the
        /// SDK has one.
        StructuredOutput => "structured-output",
        /// One call of the Responses API (`responses.create`): Azure's dated
        /// `/openai/responses` route, or `/openai/v1/responses` on the v1 API.
        Responses => "responses",
        /// `responses`, streamed (`stream=True`): typed events from `response.created`
        /// to `response.completed`.
        ResponsesStreaming => "responses-streaming",
        /// HoneyHive's pattern: one chat call inside a `@trace()` function that calls
        /// `enrich_span` (setups with the HoneyHive tracer only).
        Enrichment => "enrichment",
    }
}

named_enum! {
    /// How the app under test wires tracing: what a customer's `main` does before the
    /// first call. The instrumentor and the calls are the same in every setup; what the
    /// backend receives is not.
    Setup ("setup") {
        /// The style's instrumentor on an explicit SDK `TracerProvider`
        /// (`instrument(tracer_provider=…)`), exporting OTLP to the receiver.
        Instrumentor => "instrumentor",
        /// HoneyHive's guide: `HoneyHiveTracer.init` first, then the instrumentor on
        /// `tracer.provider`; `force_flush` at the end.
        Honeyhive => "honeyhive",
        /// `HoneyHiveTracer.init(instrumentors=[Instrumentor()])`, never calling `instrument()`.
        HoneyhiveInstrumentors => "honeyhive-instrumentors",
        /// The pitfall the guide warns about: `instrument()` first, `HoneyHiveTracer.init` after.
        HoneyhiveLate => "honeyhive-late",
        /// Traceloop's one-line `Traceloop.init()` (package `traceloop-sdk`).
        TraceloopSdk => "traceloop-sdk",
        /// Arize Phoenix's `register(auto_instrument=True)` (package `arize-phoenix-otel`).
        Phoenix => "phoenix",
    }
}

impl Setup {
    /// True for the setups that initialise HoneyHive's tracer (and so offer `@trace`
    /// and `enrich_span`, and talk to HoneyHive's backend routes).
    pub fn is_honeyhive(self) -> bool {
        matches!(
            self,
            Setup::Honeyhive | Setup::HoneyhiveInstrumentors | Setup::HoneyhiveLate
        )
    }

    /// Whether a cell of this setup can run `feature`: only HoneyHive's tracer has the
    /// `enrich_span` the `enrichment` feature calls.
    pub fn supports(self, feature: Feature) -> bool {
        feature != Feature::Enrichment || self.is_honeyhive()
    }
}

named_enum! {
    /// What the app under test is.
    DriverKind ("driver") {
        /// async-openai plus the project's own reference emitter for the style.
        Rust => "rust",
        /// The real `openai` Python SDK plus the real instrumentor package.
        Python => "python",
        /// Any program, e.g. a customer's script.
        Command => "command",
    }
}

named_enum! {
    /// Where the calls go.
    TargetKind ("target") {
        /// The embedded Azure OpenAI replica (the default).
        Replica => "replica",
        /// A real Azure resource from environment variables.
        Live => "live",
        /// Recorded exchanges (`--fixtures DIR`) answered by the replica.
        Replay => "replay",
    }
}

named_enum! {
    /// Where an app's own error came from, for the known issues that expect one.
    ErrorKind ("error kind") {
        /// Setting up tracing raised (an instrumentor or tracer that would not import
        /// or instrument): nothing is traced.
        Instrument => "instrument",
        /// A call the feature makes raised (the SDK's exception, async-openai's error,
        /// a command that exited non-zero).
        Call => "call",
        /// The service answered, but the app did not behave as the feature expects
        /// (e.g. no error where one was due).
        Unexpected => "unexpected",
    }
}

/// A name that is not one of an enum's values, with the closest valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`{}; expected one of: {}", suggestion_suffix(.suggestion), .expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub suggestion: Option<String>,
    pub expected: Vec<String>,
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

impl UnknownName {
    pub fn new(what: &'static str, given: &str, expected: &[&str]) -> Self {
        Self {
            what,
            given: given.to_string(),
            suggestion: did_you_mean(given, expected.iter().copied()).map(str::to_string),
            expected: expected.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The candidate closest to `given` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(given, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Style::ALL {
            assert_eq!(s.as_str().parse::<Style>().unwrap(), *s);
        }
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>().unwrap(), *f);
        }
    }

    #[test]
    fn unknown_name_suggests_the_closest() {
        let err = "tracelop".parse::<Style>().unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("traceloop"));
        assert!(
            err.to_string().contains("did you mean `traceloop`?"),
            "{err}"
        );
        let err = "zzzzzzzz".parse::<Feature>().unwrap_err();
        assert_eq!(err.suggestion, None);
    }

    #[test]
    fn serde_uses_the_kebab_names() {
        assert_eq!(
            serde_json::to_string(&Feature::StreamingUsage).unwrap(),
            "\"streaming-usage\""
        );
        assert_eq!(
            serde_json::from_str::<Style>("\"otel-genai\"").unwrap(),
            Style::OtelGenAi
        );
    }
}
