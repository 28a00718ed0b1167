//! The official OpenTelemetry GenAI convention (`opentelemetry-instrumentation-genai-openai`):
//! CLIENT spans named `{operation} {request model}`, `gen_ai.*` attributes with
//! `server.address` / `server.port`, content only on opt-in, status left UNSET on success.

use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::KeyValue;
use serde_json::{json, Value};

use super::facts::{Api, ChatRequest, ChatResult};
use super::style::{
    failure, genai_response, message_parts, output_messages, push_opt, string_array,
    tool_definitions, Call, Convention, Outcome, Request, SpanEnd, SpanStart, StreamTiming,
};

pub(crate) struct OtelGenAi;

impl Convention for OtelGenAi {
    fn start(&self, call: &Call) -> SpanStart {
        let e = call.endpoint;
        let (op, model) = match &call.request {
            Request::Chat(r) => ("chat", r.model.clone()),
            Request::Embeddings(r) => ("embeddings", r.model.clone()),
        };
        let mut a = vec![
            KeyValue::new("gen_ai.operation.name", op),
            // The real instrumentor says `openai` even on Azure; the conventions define
            // `azure.ai.openai` for Azure OpenAI, which is what this reference records.
            KeyValue::new(
                "gen_ai.provider.name",
                if e.is_azure() {
                    "azure.ai.openai"
                } else {
                    "openai"
                },
            ),
            KeyValue::new("gen_ai.request.model", model.clone()),
            KeyValue::new("server.address", e.host.clone()),
            KeyValue::new("server.port", i64::from(e.port)),
        ];
        match &call.request {
            Request::Chat(r) => {
                push_opt(&mut a, "gen_ai.request.max_tokens", r.max_tokens);
                push_opt(&mut a, "gen_ai.request.temperature", r.temperature);
                push_opt(&mut a, "gen_ai.request.top_p", r.top_p);
                push_opt(
                    &mut a,
                    "gen_ai.request.frequency_penalty",
                    r.frequency_penalty,
                );
                push_opt(
                    &mut a,
                    "gen_ai.request.presence_penalty",
                    r.presence_penalty,
                );
                push_opt(&mut a, "gen_ai.request.seed", r.seed);
                push_opt(
                    &mut a,
                    "gen_ai.request.choice.count",
                    r.n.filter(|n| *n != 1),
                );
                if !r.stop.is_empty() {
                    a.push(KeyValue::new(
                        "gen_ai.request.stop_sequences",
                        string_array(r.stop.clone()),
                    ));
                }
                if r.stream {
                    a.push(KeyValue::new("gen_ai.request.stream", true));
                }
                push_opt(&mut a, "gen_ai.output.type", r.output_type());
                if r.api == Api::Responses {
                    a.push(KeyValue::new("openai.api.type", "responses"));
                }
                if call.content.inputs() {
                    a.push(KeyValue::new("gen_ai.input.messages", chat_input(r)));
                    push_opt(&mut a, "gen_ai.system_instructions", system_instructions(r));
                    push_opt(&mut a, "gen_ai.tool.definitions", tool_definitions(r));
                }
            }
            Request::Embeddings(r) => {
                if let Some(f) = &r.encoding_format {
                    a.push(KeyValue::new(
                        "gen_ai.request.encoding_formats",
                        string_array(vec![f.clone()]),
                    ));
                }
            }
        }
        SpanStart {
            name: format!("{op} {model}"),
            kind: SpanKind::Client,
            attributes: a,
        }
    }

    fn end(
        &self,
        call: &Call,
        outcome: &Outcome,
        stream: Option<&StreamTiming>,
        ended: SystemTime,
    ) -> SpanEnd {
        let mut a = Vec::new();
        let mut events = Vec::new();
        if let Some(ttfc) = stream.and_then(|s| s.time_to_first_chunk()) {
            a.push(KeyValue::new(
                "gen_ai.response.time_to_first_chunk",
                ttfc.as_secs_f64(),
            ));
        }
        let status = match outcome {
            // An abandoned stream is no error (the real instrumentor makes the one never
            // read an ERROR `abandoned stream` when it is collected).
            Outcome::Chat(r) | Outcome::Abandoned(r) => {
                chat_result(&mut a, r, call.content.outputs());
                Status::Unset
            }
            Outcome::Embeddings(r) => {
                a.push(KeyValue::new("gen_ai.response.model", r.model.clone()));
                a.push(KeyValue::new("gen_ai.usage.input_tokens", r.prompt_tokens));
                if let Some(first) = r.vectors.first() {
                    a.push(KeyValue::new(
                        "gen_ai.embeddings.dimension.count",
                        i64::try_from(first.len()).unwrap_or(i64::MAX),
                    ));
                }
                Status::Unset
            }
            // The real instrumentor records no event; the reference adds the standard
            // exception event so every style's failure carries the service's message.
            Outcome::Failed(err) => {
                let error_type = format!("openai.{}", err.class.python_name());
                failure(&mut a, &mut events, err, error_type, ended)
            }
        };
        SpanEnd {
            attributes: a,
            events,
            status,
        }
    }
}

/// The Responses API's instructions as the conventions' `gen_ai.system_instructions`
/// (text parts), which the real instrumentor keeps out of the input messages.
fn system_instructions(r: &ChatRequest) -> Option<String> {
    let system: Vec<Value> = r
        .messages
        .iter()
        .filter(|m| r.api == Api::Responses && m.role == "system")
        .flat_map(|m| m.content.iter().chain(m.text_parts.iter()))
        .map(|t| json!({"content": t, "type": "text"}))
        .collect();
    (!system.is_empty()).then(|| Value::Array(system).to_string())
}

fn chat_input(r: &ChatRequest) -> String {
    Value::Array(
        r.messages
            .iter()
            .filter(|m| !(r.api == Api::Responses && m.role == "system"))
            .map(|m| json!({"role": m.role, "parts": message_parts(m), "name": m.name}))
            .collect(),
    )
    .to_string()
}

fn chat_result(a: &mut Vec<KeyValue>, r: &ChatResult, outputs: bool) {
    genai_response(a, r, false);
    push_opt(
        a,
        "openai.response.system_fingerprint",
        r.system_fingerprint.clone(),
    );
    push_opt(a, "openai.response.service_tier", r.service_tier.clone());
    if outputs {
        a.push(KeyValue::new(
            "gen_ai.output.messages",
            output_messages(r, true),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::content::ContentCapture;
    use crate::instrument::style::testkit::*;
    use std::time::Duration;

    #[test]
    fn name_provider_ttfc_and_prefixed_error() {
        let req = chat_request(true);
        let e = endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: ContentCapture::Off,
            request: Request::Chat(&req),
        };
        let start = OtelGenAi.start(&call);
        assert_eq!(start.name, "chat my-gpt4o");
        assert_eq!(start.kind, SpanKind::Client);
        assert!(
            !has(&start.attributes, "gen_ai.input.messages"),
            "off by default"
        );
        assert_eq!(
            get(&start.attributes, "gen_ai.request.temperature"),
            Some(&opentelemetry::Value::F64(0.2))
        );
        let t0 = SystemTime::now();
        let times = [t0 + Duration::from_millis(250)];
        let timing = StreamTiming {
            started: t0,
            chunk_times: &times,
        };
        let end = OtelGenAi.end(&call, &Outcome::Chat(&sample_result()), Some(&timing), t0);
        assert_eq!(
            get(&end.attributes, "gen_ai.response.time_to_first_chunk"),
            Some(&opentelemetry::Value::F64(0.25))
        );
        assert_eq!(end.status, Status::Unset);
        assert!(end.events.is_empty());
        let err = not_found();
        let end = OtelGenAi.end(&call, &Outcome::Failed(&err), None, t0);
        assert_eq!(
            get(&end.attributes, "error.type").map(|v| v.to_string()),
            Some("openai.NotFoundError".into())
        );
        assert!(matches!(end.status, Status::Error { .. }));
    }
}
