//! The Traceloop / OpenLLMetry convention (`opentelemetry-instrumentation-openai`):
//! CLIENT spans `openai.chat` / `openai.embeddings`, `gen_ai.*` attributes plus
//! `gen_ai.openai.api_base` / `api_version`, messages as JSON with `parts`, one
//! `gen_ai.content.completion.chunk` event per stream chunk, status OK on finished streams.

use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::KeyValue;
use serde_json::{json, Value};

use super::facts::{Api, ChatRequest, ChatResult, EmbeddingRequest};
use super::style::{
    failure, genai_response, message_parts, output_messages, push_opt, tool_definitions, Call,
    Convention, Outcome, PlannedEvent, Request, SpanEnd, SpanStart, StreamTiming,
};

pub(crate) struct Traceloop;

impl Convention for Traceloop {
    fn start(&self, call: &Call) -> SpanStart {
        let e = call.endpoint;
        let (op, model, streaming) = match &call.request {
            Request::Chat(r) => ("chat", r.model.clone(), r.stream),
            Request::Embeddings(r) => ("embeddings", r.model.clone(), false),
        };
        let mut a = vec![
            KeyValue::new("gen_ai.operation.name", op),
            KeyValue::new(
                "gen_ai.provider.name",
                if e.is_azure() {
                    "azure.ai.openai"
                } else {
                    "openai"
                },
            ),
            KeyValue::new("gen_ai.request.model", model),
            KeyValue::new("gen_ai.is_streaming", streaming),
            KeyValue::new("gen_ai.openai.api_base", e.api_base.clone()),
            // Not recorded by the real instrumentor; the conventions ask for it.
            KeyValue::new("server.address", e.host.clone()),
            KeyValue::new("server.port", i64::from(e.port)),
        ];
        push_opt(&mut a, "gen_ai.openai.api_version", e.api_version.clone());
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
                // The package's own key for a `json_schema` format (recorded whatever the
                // content setting); `gen_ai.output.type` is what the conventions ask for.
                push_opt(
                    &mut a,
                    "gen_ai.request.structured_output_schema",
                    r.structured_output_schema(),
                );
                push_opt(&mut a, "gen_ai.output.type", r.output_type());
                if call.content.inputs() {
                    a.push(KeyValue::new("gen_ai.input.messages", chat_input(r)));
                    push_opt(&mut a, "gen_ai.tool.definitions", tool_definitions(r));
                }
            }
            Request::Embeddings(r) => {
                if call.content.inputs() {
                    a.push(KeyValue::new("gen_ai.input.messages", embedding_input(r)));
                }
            }
        }
        let name = match &call.request {
            Request::Chat(r) if r.api == Api::Responses => "openai.response".to_string(),
            _ => format!("openai.{op}"),
        };
        SpanStart {
            name,
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
        // One event per chunk received, Azure's empty first chunk and the usage chunk
        // included, as the real instrumentor does.
        // A streamed response gets none: the package's Responses API wrapper records
        // no per-event events.
        let responses = matches!(&call.request, Request::Chat(r) if r.api == Api::Responses);
        let mut events: Vec<PlannedEvent> = stream
            .filter(|_| !responses)
            .map(|s| s.chunk_times)
            .unwrap_or_default()
            .iter()
            .map(|at| PlannedEvent {
                name: "gen_ai.content.completion.chunk",
                at: *at,
                attributes: Vec::new(),
            })
            .collect();
        let status = match outcome {
            Outcome::Chat(r) => {
                chat_result(&mut a, r, call.content.outputs());
                // The real instrumentor sets OK when a stream completes, nothing otherwise.
                if stream.is_some() {
                    Status::Ok
                } else {
                    Status::Unset
                }
            }
            // The real instrumentor says OK here too, as if the stream had completed.
            Outcome::Abandoned(r) => {
                chat_result(&mut a, r, call.content.outputs());
                Status::Unset
            }
            Outcome::Embeddings(r) => {
                a.push(KeyValue::new("gen_ai.response.model", r.model.clone()));
                a.push(KeyValue::new("gen_ai.usage.input_tokens", r.prompt_tokens));
                a.push(KeyValue::new("gen_ai.usage.total_tokens", r.total_tokens));
                // Embeddings report no cache details; the real instrumentor records 0.
                a.push(KeyValue::new("gen_ai.usage.cache_read.input_tokens", 0_i64));
                Status::Unset
            }
            Outcome::Failed(err) => failure(
                &mut a,
                &mut events,
                err,
                err.class.python_name().into(),
                ended,
            ),
        };
        SpanEnd {
            attributes: a,
            events,
            status,
        }
    }
}

fn chat_input(r: &ChatRequest) -> String {
    Value::Array(
        r.messages
            .iter()
            .map(|m| json!({"role": m.role, "parts": message_parts(m)}))
            .collect(),
    )
    .to_string()
}

fn embedding_input(r: &EmbeddingRequest) -> String {
    Value::Array(
        r.texts
            .iter()
            .map(|t| json!({"role": "user", "parts": [{"type": "text", "content": t}]}))
            .collect(),
    )
    .to_string()
}

fn chat_result(a: &mut Vec<KeyValue>, r: &ChatResult, outputs: bool) {
    genai_response(a, r, true);
    push_opt(
        a,
        "gen_ai.openai.response.system_fingerprint",
        r.system_fingerprint.clone(),
    );
    if let Some(u) = &r.usage {
        a.push(KeyValue::new("gen_ai.usage.total_tokens", u.total));
    }
    if outputs {
        a.push(KeyValue::new(
            "gen_ai.output.messages",
            output_messages(r, false),
        ));
        // Azure's prompt filter verdicts, recorded as the raw JSON like the package
        // does (with the prompts, so only when content is captured).
        push_opt(
            a,
            "gen_ai.prompt.prompt_filter_results",
            r.prompt_filter_results.as_ref().map(|v| v.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::content::ContentCapture;
    use crate::instrument::style::testkit::*;

    #[test]
    fn one_event_per_chunk_and_ok_only_for_streams() {
        let req = chat_request(true);
        let e = endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: ContentCapture::On,
            request: Request::Chat(&req),
        };
        let start = Traceloop.start(&call);
        assert_eq!(start.name, "openai.chat");
        assert_eq!(start.kind, SpanKind::Client);
        assert_eq!(
            get(&start.attributes, "gen_ai.provider.name").map(|v| v.to_string()),
            Some("azure.ai.openai".into())
        );
        assert!(has(&start.attributes, "server.port"));
        let t0 = SystemTime::now();
        let times = [t0, t0, t0];
        let timing = StreamTiming {
            started: t0,
            chunk_times: &times,
        };
        let end = Traceloop.end(&call, &Outcome::Chat(&sample_result()), Some(&timing), t0);
        assert_eq!(end.events.len(), 3);
        assert_eq!(end.status, Status::Ok);
        let end = Traceloop.end(&call, &Outcome::Chat(&sample_result()), None, t0);
        assert_eq!(end.status, Status::Unset);
        let err = not_found();
        let end = Traceloop.end(&call, &Outcome::Failed(&err), None, t0);
        assert_eq!(
            get(&end.attributes, "error.type").map(|v| v.to_string()),
            Some("NotFoundError".into())
        );
    }

    #[test]
    fn content_off_drops_messages() {
        let req = chat_request(false);
        let e = endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: ContentCapture::Off,
            request: Request::Chat(&req),
        };
        assert!(!has(
            &Traceloop.start(&call).attributes,
            "gen_ai.input.messages"
        ));
        let end = Traceloop.end(
            &call,
            &Outcome::Chat(&sample_result()),
            None,
            SystemTime::now(),
        );
        assert!(!has(&end.attributes, "gen_ai.output.messages"));
        assert!(has(&end.attributes, "gen_ai.usage.total_tokens"));
    }
}
