//! The seam between the shared mechanics and the three conventions: a style turns a
//! call's facts into a span's name, kind, attributes, events and status, and nothing else.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, StringValue, Value};

use super::content::ContentCapture;
use super::endpoint::Endpoint;
use super::errors::ErrorInfo;
use super::facts::{ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult};

/// What is being called, with everything known before the call.
pub(crate) struct Call<'a> {
    pub endpoint: &'a Endpoint,
    pub content: ContentCapture,
    pub request: Request<'a>,
}

pub(crate) enum Request<'a> {
    Chat(&'a ChatRequest),
    Embeddings(&'a EmbeddingRequest),
}

pub(crate) enum Outcome<'a> {
    Chat(&'a ChatResult),
    /// A stream the app stopped reading before it finished: what had arrived by then.
    /// No error happened and no answer was completed, so every style leaves the status
    /// UNSET (neither OK nor ERROR).
    Abandoned(&'a ChatResult),
    Embeddings(&'a EmbeddingResult),
    Failed(&'a ErrorInfo),
}

/// When the call started and when each stream chunk arrived.
pub(crate) struct StreamTiming<'a> {
    pub started: SystemTime,
    pub chunk_times: &'a [SystemTime],
}

impl StreamTiming<'_> {
    pub(super) fn first_chunk(&self) -> Option<SystemTime> {
        self.chunk_times.first().copied()
    }

    pub(super) fn time_to_first_chunk(&self) -> Option<Duration> {
        self.first_chunk()
            .map(|t| t.duration_since(self.started).unwrap_or_default())
    }
}

pub(crate) struct SpanStart {
    pub name: String,
    pub kind: SpanKind,
    pub attributes: Vec<KeyValue>,
}

pub(crate) struct PlannedEvent {
    pub name: &'static str,
    pub at: SystemTime,
    pub attributes: Vec<KeyValue>,
}

pub(crate) struct SpanEnd {
    pub attributes: Vec<KeyValue>,
    pub events: Vec<PlannedEvent>,
    pub status: Status,
}

/// One instrumentation convention.
pub(crate) trait Convention: Sync {
    /// Name, kind and the attributes known before the call (sampling sees these).
    fn start(&self, call: &Call) -> SpanStart;
    /// Everything learned from the outcome. `stream` is set for streamed chats, also
    /// when the stream failed part-way; `ended` is when the outcome was known.
    fn end(
        &self,
        call: &Call,
        outcome: &Outcome,
        stream: Option<&StreamTiming>,
        ended: SystemTime,
    ) -> SpanEnd;
}

/// The `exception` event every style records on failure, in the OpenTelemetry shape
/// (`exception.type` is the bare Python class name, as Python's `record_exception` writes).
pub(crate) fn exception_event(err: &ErrorInfo, at: SystemTime) -> PlannedEvent {
    PlannedEvent {
        name: "exception",
        at,
        attributes: vec![
            KeyValue::new("exception.type", err.class.python_name()),
            KeyValue::new("exception.message", err.message.clone()),
        ],
    }
}

/// What every style records for a failed call: `error.type` (each style names the
/// class its own way), the standard `exception` event, and ERROR with the message.
pub(crate) fn failure(
    attributes: &mut Vec<KeyValue>,
    events: &mut Vec<PlannedEvent>,
    err: &ErrorInfo,
    error_type: String,
    at: SystemTime,
) -> Status {
    attributes.push(KeyValue::new("error.type", error_type));
    events.push(exception_event(err, at));
    Status::error(err.message.clone())
}

/// The GenAI-convention response attributes Traceloop and the official instrumentor
/// share: id, model, finish reasons, and input/output/cached token counts. With
/// `conventional_reasons`, finish reasons use the conventions' names (`tool_call`, as
/// Traceloop records them) instead of OpenAI's (`tool_calls`, as the official one does).
pub(crate) fn genai_response(
    a: &mut Vec<KeyValue>,
    r: &super::facts::ChatResult,
    conventional_reasons: bool,
) {
    push_opt(a, "gen_ai.response.id", r.id.clone());
    push_opt(a, "gen_ai.response.model", r.model.clone());
    let mut reasons = r.finish_reasons();
    if conventional_reasons {
        reasons = reasons
            .iter()
            .map(|r| conventional_finish_reason(r).to_string())
            .collect();
    }
    if !reasons.is_empty() {
        a.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            string_array(reasons),
        ));
    }
    if let Some(u) = &r.usage {
        a.push(KeyValue::new("gen_ai.usage.input_tokens", u.prompt));
        a.push(KeyValue::new("gen_ai.usage.output_tokens", u.completion));
        push_opt(a, "gen_ai.usage.cache_read.input_tokens", u.cached_prompt);
    }
}

/// One text part in the GenAI-convention shape (`{"content", "type": "text"}`).
fn text_part(text: &str) -> serde_json::Value {
    serde_json::json!({"content": text, "type": "text"})
}

/// OpenAI's finish reason under the GenAI conventions' name for it.
pub(crate) fn conventional_finish_reason(reason: &str) -> &str {
    match reason {
        "tool_calls" | "function_call" => "tool_call",
        other => other,
    }
}

/// A function call as a GenAI-convention part (arguments as JSON when they parse).
fn tool_call_part(t: &super::facts::ToolCall) -> serde_json::Value {
    serde_json::json!({"type": "tool_call", "id": t.id, "name": t.name, "arguments": t.arguments_value()})
}

/// A message as GenAI-convention `parts`: its text, its function calls, or (a `tool`
/// message) the result it carries for a call.
pub(crate) fn message_parts(m: &super::facts::Message) -> Vec<serde_json::Value> {
    if let Some(id) = &m.tool_call_id {
        let response = m.content.clone().unwrap_or_else(|| m.text_parts.concat());
        return vec![
            serde_json::json!({"type": "tool_call_response", "id": id, "response": response}),
        ];
    }
    let mut parts: Vec<serde_json::Value> = match &m.content {
        Some(c) => vec![text_part(c)],
        None => m.text_parts.iter().map(|t| text_part(t)).collect(),
    };
    parts.extend(m.tool_calls.iter().map(tool_call_part));
    parts
}

/// `gen_ai.tool.definitions`: each function tool flattened to `{type, name,
/// description, parameters}`, as both GenAI-style instrumentors write it.
pub(crate) fn tool_definitions(r: &super::facts::ChatRequest) -> Option<String> {
    if r.tools.is_empty() {
        return None;
    }
    let defs: Vec<serde_json::Value> = r
        .tools
        .iter()
        .map(|t| {
            let mut def = serde_json::Map::new();
            def.insert(
                "type".into(),
                t.get("type").cloned().unwrap_or_else(|| "function".into()),
            );
            if let Some(f) = t.get("function").and_then(serde_json::Value::as_object) {
                def.extend(f.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            serde_json::Value::Object(def)
        })
        .collect();
    Some(serde_json::Value::Array(defs).to_string())
}

/// `gen_ai.output.messages` as the GenAI conventions shape it; the official
/// instrumentor also writes `"name": null` on each message.
pub(crate) fn output_messages(r: &super::facts::ChatResult, with_name: bool) -> String {
    let messages: Vec<serde_json::Value> = r
        .choices
        .iter()
        .map(|c| {
            let mut parts: Vec<serde_json::Value> =
                c.content.iter().map(|t| text_part(t)).collect();
            parts.extend(c.tool_calls.iter().map(tool_call_part));
            let finish = c.finish_reason.as_deref().map(conventional_finish_reason);
            let mut m =
                serde_json::json!({"role": c.role, "parts": parts, "finish_reason": finish});
            if with_name {
                m["name"] = serde_json::Value::Null;
            }
            m
        })
        .collect();
    serde_json::Value::Array(messages).to_string()
}

pub(crate) fn string_array(values: Vec<String>) -> Value {
    Value::Array(
        values
            .into_iter()
            .map(StringValue::from)
            .collect::<Vec<_>>()
            .into(),
    )
}

pub(crate) fn double_array(values: &[f64]) -> Value {
    Value::Array(values.to_vec().into())
}

/// Pushes `key=value` when the value is present.
pub(crate) fn push_opt<V: Into<Value>>(attrs: &mut Vec<KeyValue>, key: &'static str, v: Option<V>) {
    if let Some(v) = v {
        attrs.push(KeyValue::new(key, v.into()));
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Facts for the style modules' unit tests.
    use super::*;
    use crate::instrument::errors::{ErrorClass, ErrorInfo};
    use crate::instrument::facts::{Choice, Message, Usage};
    use crate::vocab::Provider;

    pub(crate) fn endpoint(url: &str) -> Endpoint {
        Endpoint::from_url(Provider::AzureOpenAi, url, Some("2024-10-21")).expect("valid")
    }

    pub(crate) fn chat_request(stream: bool) -> ChatRequest {
        ChatRequest {
            api: crate::instrument::facts::Api::ChatCompletions,
            model: "my-gpt4o".into(),
            messages: vec![Message {
                role: "user".into(),
                content: Some("Say hello".into()),
                text_parts: vec![],
                name: None,
                ..Default::default()
            }],
            max_tokens: Some(50),
            temperature: Some(0.2),
            top_p: None,
            frequency_penalty: None,
            presence_penalty: None,
            seed: None,
            n: None,
            stop: vec![],
            stream,
            include_usage: false,
            tools: vec![],
            response_format: None,
            json: r#"{"model":"my-gpt4o"}"#.into(),
            invocation_parameters: r#"{"model":"my-gpt4o"}"#.into(),
        }
    }

    pub(crate) fn sample_result() -> ChatResult {
        ChatResult {
            id: Some("chatcmpl-1".into()),
            model: Some("gpt-4o-2024-08-06".into()),
            system_fingerprint: Some("fp".into()),
            service_tier: None,
            choices: vec![Choice {
                index: 0,
                role: "assistant".into(),
                content: Some("Hello".into()),
                finish_reason: Some("stop".into()),
                tool_calls: vec![],
            }],
            usage: Some(Usage {
                prompt: 11,
                completion: 7,
                total: 18,
                cached_prompt: None,
                reasoning: None,
            }),
            json: "{}".into(),
            prompt_filter_results: None,
        }
    }

    pub(crate) fn not_found() -> ErrorInfo {
        ErrorInfo {
            class: ErrorClass::NotFound,
            status: Some(404),
            code: Some("DeploymentNotFound".into()),
            message: "Error code: 404 - DeploymentNotFound".into(),
        }
    }

    pub(crate) fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    pub(crate) fn has(attrs: &[KeyValue], key: &str) -> bool {
        get(attrs, key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::facts::{Message, ToolCall};

    fn call() -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }
    }

    #[test]
    fn tool_calls_and_results_become_genai_parts() {
        let assistant = Message {
            role: "assistant".into(),
            tool_calls: vec![call()],
            ..Default::default()
        };
        let parts = message_parts(&assistant);
        assert_eq!(
            parts,
            vec![
                serde_json::json!({"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}})
            ]
        );
        let result = Message {
            role: "tool".into(),
            content: Some("21C".into()),
            tool_call_id: Some("call_1".into()),
            ..Default::default()
        };
        assert_eq!(
            message_parts(&result),
            vec![
                serde_json::json!({"type": "tool_call_response", "id": "call_1", "response": "21C"})
            ]
        );
    }

    #[test]
    fn tool_definitions_are_flattened_and_finish_reasons_named_by_the_conventions() {
        let mut r = testkit::chat_request(false);
        assert_eq!(tool_definitions(&r), None);
        r.tools = vec![
            serde_json::json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}),
        ];
        assert_eq!(
            tool_definitions(&r).as_deref(),
            Some(r#"[{"type":"function","name":"f","parameters":{"type":"object"}}]"#)
        );
        assert_eq!(conventional_finish_reason("tool_calls"), "tool_call");
        assert_eq!(conventional_finish_reason("stop"), "stop");
        let mut result = testkit::sample_result();
        result.choices[0].finish_reason = Some("tool_calls".into());
        result.choices[0].content = None;
        result.choices[0].tool_calls = vec![call()];
        let out: serde_json::Value =
            serde_json::from_str(&output_messages(&result, false)).expect("json");
        assert_eq!(out[0]["finish_reason"], "tool_call");
        assert_eq!(out[0]["parts"][0]["type"], "tool_call");
        let mut a = Vec::new();
        genai_response(&mut a, &result, true);
        assert_eq!(
            testkit::get(&a, "gen_ai.response.finish_reasons"),
            Some(&string_array(vec!["tool_call".into()]))
        );
        let mut a = Vec::new();
        genai_response(&mut a, &result, false);
        assert_eq!(
            testkit::get(&a, "gen_ai.response.finish_reasons"),
            Some(&string_array(vec!["tool_calls".into()]))
        );
    }

    #[test]
    fn a_json_schema_format_is_recorded_as_each_style_records_it() {
        let mut req = testkit::chat_request(false);
        req.response_format = Some(serde_json::json!({"type": "json_schema",
            "json_schema": {"name": "e", "strict": true, "schema": {"type": "object"}}}));
        req.invocation_parameters =
            r#"{"model":"my-gpt4o","response_format":{"type":"json_schema"}}"#.into();
        let e = testkit::endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: crate::instrument::ContentCapture::Off,
            request: Request::Chat(&req),
        };
        let start = |style| crate::instrument::convention(style).start(&call).attributes;
        use crate::vocab::Style;
        let traceloop = start(Style::Traceloop);
        assert_eq!(
            testkit::get(&traceloop, "gen_ai.request.structured_output_schema")
                .map(|v| v.to_string()),
            Some(r#"{"type":"object"}"#.into())
        );
        for attrs in [&traceloop, &start(Style::OtelGenAi)] {
            assert_eq!(
                testkit::get(attrs, "gen_ai.output.type").map(|v| v.to_string()),
                Some("json".into())
            );
        }
        let oi = start(Style::OpenInference);
        assert!(testkit::get(&oi, "llm.invocation_parameters")
            .is_some_and(|v| v.to_string().contains("json_schema")));
        assert!(!testkit::has(&oi, "gen_ai.output.type"));
    }

    #[test]
    fn a_response_is_named_and_shaped_as_each_package_records_it() {
        let mut req = testkit::chat_request(true);
        req.api = crate::instrument::facts::Api::Responses;
        req.messages.insert(
            0,
            crate::instrument::facts::Message {
                role: "system".into(),
                content: Some("Be brief".into()),
                ..Default::default()
            },
        );
        let e = testkit::endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: crate::instrument::ContentCapture::On,
            request: Request::Chat(&req),
        };
        let t0 = SystemTime::now();
        let timing = StreamTiming {
            started: t0,
            chunk_times: &[t0, t0],
        };
        use crate::vocab::Style;
        let conv = |style| crate::instrument::convention(style);
        let names: Vec<String> = Style::ALL
            .iter()
            .map(|s| conv(*s).start(&call).name)
            .collect();
        assert_eq!(names, ["Response", "openai.response", "chat my-gpt4o"]);
        let otel = conv(Style::OtelGenAi).start(&call).attributes;
        assert_eq!(
            testkit::get(&otel, "gen_ai.system_instructions").map(|v| v.to_string()),
            Some(r#"[{"content":"Be brief","type":"text"}]"#.into())
        );
        assert!(testkit::get(&otel, "gen_ai.input.messages")
            .is_some_and(|v| !v.to_string().contains("Be brief")));
        let result = testkit::sample_result();
        let traceloop =
            conv(Style::Traceloop).end(&call, &Outcome::Chat(&result), Some(&timing), t0);
        assert!(traceloop.events.is_empty(), "no per-event events");
        let oi = conv(Style::OpenInference).end(&call, &Outcome::Chat(&result), Some(&timing), t0);
        assert!(testkit::has(
            &oi.attributes,
            "llm.output_messages.0.message.contents.0.message_content.text"
        ));
    }

    #[test]
    fn an_abandoned_stream_is_unset_in_every_style() {
        let req = testkit::chat_request(true);
        let e = testkit::endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: crate::instrument::ContentCapture::On,
            request: Request::Chat(&req),
        };
        let t0 = SystemTime::now();
        let timing = StreamTiming {
            started: t0,
            chunk_times: &[t0],
        };
        let mut partial = testkit::sample_result();
        partial.choices[0].finish_reason = None;
        partial.usage = None;
        for style in crate::vocab::Style::ALL {
            let conv = crate::instrument::convention(*style);
            let done = conv.end(&call, &Outcome::Chat(&partial), Some(&timing), t0);
            let left = conv.end(&call, &Outcome::Abandoned(&partial), Some(&timing), t0);
            assert_eq!(left.status, Status::Unset, "{style}");
            assert_eq!(done.attributes, left.attributes, "{style}: same attributes");
        }
    }
}
