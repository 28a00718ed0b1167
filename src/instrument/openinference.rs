//! The OpenInference convention (`openinference-instrumentation-openai`): INTERNAL spans
//! `ChatCompletion` / `CreateEmbeddings`, flattened `llm.*` / `embedding.*` attributes,
//! the raw request and response as `input.value` / `output.value`, status OK on success.

use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::KeyValue;

use super::facts::{
    Api, ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult, ToolCall, Usage,
};
use super::style::{
    double_array, failure, Call, Convention, Outcome, PlannedEvent, Request, SpanEnd, SpanStart,
    StreamTiming,
};

pub(crate) struct OpenInference;

/// What OpenInference puts in place of hidden input or output values.
const REDACTED: &str = "__REDACTED__";
const JSON: &str = "application/json";

impl Convention for OpenInference {
    fn start(&self, call: &Call) -> SpanStart {
        let mut a = vec![
            KeyValue::new("llm.system", "openai"),
            // Derived from the host, as the real instrumentor does.
            KeyValue::new(
                "llm.provider",
                if call.endpoint.is_azure() {
                    "azure"
                } else {
                    "openai"
                },
            ),
            // OpenInference has no endpoint attribute; the OpenTelemetry general
            // conventions do, and an Azure user needs to see which resource answered.
            KeyValue::new("server.address", call.endpoint.host.clone()),
            KeyValue::new("server.port", i64::from(call.endpoint.port)),
        ];
        let inputs = call.content.inputs();
        let (name, json) = match &call.request {
            Request::Chat(r) => {
                a.push(KeyValue::new("openinference.span.kind", "LLM"));
                a.push(KeyValue::new(
                    "llm.invocation_parameters",
                    r.invocation_parameters.clone(),
                ));
                for (i, tool) in r.tools.iter().enumerate() {
                    a.push(KeyValue::new(
                        format!("llm.tools.{i}.tool.json_schema"),
                        tool.to_string(),
                    ));
                }
                if inputs {
                    input_messages(&mut a, r);
                }
                let name = match r.api {
                    Api::ChatCompletions => "ChatCompletion",
                    Api::Responses => "Response",
                };
                (name, &r.json)
            }
            Request::Embeddings(r) => {
                a.push(KeyValue::new("openinference.span.kind", "EMBEDDING"));
                a.push(KeyValue::new(
                    "embedding.invocation_parameters",
                    r.invocation_parameters.clone(),
                ));
                if inputs {
                    embedding_texts(&mut a, r);
                }
                ("CreateEmbeddings", &r.json)
            }
        };
        if inputs {
            a.push(KeyValue::new("input.value", json.clone()));
            a.push(KeyValue::new("input.mime_type", JSON));
        } else {
            a.push(KeyValue::new("input.value", REDACTED));
        }
        SpanStart {
            name: name.to_string(),
            kind: SpanKind::Internal,
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
        let mut events: Vec<PlannedEvent> = stream
            .and_then(|s| s.first_chunk())
            .map(|at| PlannedEvent {
                name: "First Token Stream Event",
                at,
                attributes: Vec::new(),
            })
            .into_iter()
            .collect();
        let outputs = call.content.outputs();
        let api = match &call.request {
            Request::Chat(r) => r.api,
            Request::Embeddings(_) => Api::ChatCompletions,
        };
        let status = match outcome {
            Outcome::Chat(r) => {
                chat_result(&mut a, r, outputs, api);
                Status::Ok
            }
            // Left unset, as the real instrumentor leaves a stream that did not finish.
            Outcome::Abandoned(r) => {
                chat_result(&mut a, r, outputs, api);
                Status::Unset
            }
            Outcome::Embeddings(r) => {
                embedding_result(&mut a, r, outputs);
                Status::Ok
            }
            // OpenInference itself records no `error.type`; the general OpenTelemetry
            // convention for failed operations asks for it, so the reference adds it.
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

fn input_messages(a: &mut Vec<KeyValue>, r: &ChatRequest) {
    for (i, m) in r.messages.iter().enumerate() {
        a.push(KeyValue::new(
            format!("llm.input_messages.{i}.message.role"),
            m.role.clone(),
        ));
        if let Some(c) = &m.content {
            a.push(KeyValue::new(
                format!("llm.input_messages.{i}.message.content"),
                c.clone(),
            ));
        }
        for (j, text) in m.text_parts.iter().enumerate() {
            let p = format!("llm.input_messages.{i}.message.contents.{j}.message_content");
            a.push(KeyValue::new(format!("{p}.type"), "text"));
            a.push(KeyValue::new(format!("{p}.text"), text.clone()));
        }
        if let Some(n) = &m.name {
            a.push(KeyValue::new(
                format!("llm.input_messages.{i}.message.name"),
                n.clone(),
            ));
        }
        tool_calls(a, &format!("llm.input_messages.{i}.message"), &m.tool_calls);
        if let Some(id) = &m.tool_call_id {
            a.push(KeyValue::new(
                format!("llm.input_messages.{i}.message.tool_call_id"),
                id.clone(),
            ));
        }
    }
}

/// `{prefix}.tool_calls.{j}.tool_call.{id, function.name, function.arguments}`.
fn tool_calls(a: &mut Vec<KeyValue>, prefix: &str, calls: &[ToolCall]) {
    for (j, t) in calls.iter().enumerate() {
        let p = format!("{prefix}.tool_calls.{j}.tool_call");
        a.push(KeyValue::new(format!("{p}.id"), t.id.clone()));
        a.push(KeyValue::new(format!("{p}.function.name"), t.name.clone()));
        a.push(KeyValue::new(
            format!("{p}.function.arguments"),
            t.arguments.clone(),
        ));
    }
}

fn embedding_texts(a: &mut Vec<KeyValue>, r: &EmbeddingRequest) {
    for (i, t) in r.texts.iter().enumerate() {
        a.push(KeyValue::new(
            format!("embedding.embeddings.{i}.embedding.text"),
            t.clone(),
        ));
    }
}

fn token_counts(a: &mut Vec<KeyValue>, u: &Usage) {
    a.push(KeyValue::new("llm.token_count.prompt", u.prompt));
    a.push(KeyValue::new("llm.token_count.completion", u.completion));
    a.push(KeyValue::new("llm.token_count.total", u.total));
    if let Some(c) = u.cached_prompt {
        a.push(KeyValue::new(
            "llm.token_count.prompt_details.cache_read",
            c,
        ));
    }
    if let Some(r) = u.reasoning {
        a.push(KeyValue::new(
            "llm.token_count.completion_details.reasoning",
            r,
        ));
    }
}

fn chat_result(a: &mut Vec<KeyValue>, r: &ChatResult, outputs: bool, api: Api) {
    if let Some(m) = &r.model {
        a.push(KeyValue::new("llm.model_name", m.clone()));
    }
    if let Some(u) = &r.usage {
        token_counts(a, u);
    }
    if let Some(reason) = r.choices.first().and_then(|c| c.finish_reason.clone()) {
        a.push(KeyValue::new("llm.finish_reason", reason));
    }
    if outputs {
        for (i, c) in r.choices.iter().enumerate() {
            a.push(KeyValue::new(
                format!("llm.output_messages.{i}.message.role"),
                c.role.clone(),
            ));
            match (&c.content, api) {
                (Some(text), Api::ChatCompletions) => a.push(KeyValue::new(
                    format!("llm.output_messages.{i}.message.content"),
                    text.clone(),
                )),
                // A response's output is content parts, recorded as such.
                (Some(text), Api::Responses) => {
                    let p = format!("llm.output_messages.{i}.message.contents.0.message_content");
                    a.push(KeyValue::new(format!("{p}.type"), "text"));
                    a.push(KeyValue::new(format!("{p}.text"), text.clone()));
                }
                (None, _) => {}
            }
            tool_calls(
                a,
                &format!("llm.output_messages.{i}.message"),
                &c.tool_calls,
            );
        }
        a.push(KeyValue::new("output.value", r.json.clone()));
        a.push(KeyValue::new("output.mime_type", JSON));
    } else {
        a.push(KeyValue::new("output.value", REDACTED));
    }
}

fn embedding_result(a: &mut Vec<KeyValue>, r: &EmbeddingResult, outputs: bool) {
    a.push(KeyValue::new("embedding.model_name", r.model.clone()));
    a.push(KeyValue::new("llm.token_count.prompt", r.prompt_tokens));
    a.push(KeyValue::new("llm.token_count.total", r.total_tokens));
    if outputs {
        for (i, v) in r.vectors.iter().enumerate() {
            a.push(KeyValue::new(
                format!("embedding.embeddings.{i}.embedding.vector"),
                double_array(v),
            ));
        }
        a.push(KeyValue::new("output.value", r.json.clone()));
        a.push(KeyValue::new("output.mime_type", JSON));
    } else {
        a.push(KeyValue::new("output.value", REDACTED));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::content::ContentCapture;
    use crate::instrument::style::testkit::*;

    #[test]
    fn azure_host_sets_provider_and_failures_add_exception() {
        let req = chat_request(false);
        for (url, provider) in [
            ("http://r.openai.azure.com/", "azure"),
            ("http://127.0.0.1:9/", "openai"),
        ] {
            let e = endpoint(url);
            let call = Call {
                endpoint: &e,
                content: ContentCapture::On,
                request: Request::Chat(&req),
            };
            let start = OpenInference.start(&call);
            assert_eq!(start.name, "ChatCompletion");
            assert_eq!(start.kind, SpanKind::Internal);
            assert_eq!(
                get(&start.attributes, "llm.provider").map(|v| v.to_string()),
                Some(provider.into())
            );
        }
        let e = endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: ContentCapture::On,
            request: Request::Chat(&req),
        };
        let err = not_found();
        let end = OpenInference.end(&call, &Outcome::Failed(&err), None, SystemTime::now());
        assert!(matches!(end.status, Status::Error { .. }));
        assert_eq!(end.events.len(), 1);
        assert_eq!(end.events[0].name, "exception");
        let ok = OpenInference.end(
            &call,
            &Outcome::Chat(&sample_result()),
            None,
            SystemTime::now(),
        );
        assert_eq!(ok.status, Status::Ok);
        assert!(has(&ok.attributes, "llm.token_count.total"));
    }

    #[test]
    fn content_off_redacts_values() {
        let req = chat_request(false);
        let e = endpoint("http://r.openai.azure.com/");
        let call = Call {
            endpoint: &e,
            content: ContentCapture::Off,
            request: Request::Chat(&req),
        };
        let start = OpenInference.start(&call);
        assert_eq!(
            get(&start.attributes, "input.value").map(|v| v.to_string()),
            Some(REDACTED.into())
        );
        assert!(!has(
            &start.attributes,
            "llm.input_messages.0.message.content"
        ));
        let end = OpenInference.end(
            &call,
            &Outcome::Chat(&sample_result()),
            None,
            SystemTime::now(),
        );
        assert!(!has(
            &end.attributes,
            "llm.output_messages.0.message.content"
        ));
    }
}
