//! Reassembles a streamed chat completion chunk by chunk, minding Azure's quirks: the
//! first chunk has `choices: []`, an empty id and model and `created: 0` (it only
//! carries `prompt_filter_results`), and the `include_usage` chunk has `choices: []`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_openai::types::chat::{
    CompletionUsage, CreateChatCompletionStreamResponse, FinishReason,
};
use serde_json::{json, Map, Value};

use super::facts::{usage_of, ChatResult, Choice, ToolCall};

/// What a consumed stream produced, for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// The text of choice 0.
    pub text: String,
    /// Every chunk received, including Azure's empty first chunk and the usage chunk.
    pub chunks: usize,
    /// Only when the service reported it (`stream_options.include_usage`).
    pub usage: Option<CompletionUsage>,
    pub finish_reason: Option<FinishReason>,
    /// The first non-empty model of the stream.
    pub model: String,
    /// The first non-empty id of the stream.
    pub id: String,
    /// From the call's start to the first chunk.
    pub time_to_first_chunk: Option<Duration>,
    /// Choice 0's function calls, reassembled, in the shape a request's assistant
    /// message carries them (`{"id", "type": "function", "function": {"name", "arguments"}}`).
    pub tool_calls: Vec<Value>,
}

#[derive(Debug, Default)]
struct ChoiceAcc {
    role: Option<String>,
    content: Option<String>,
    finish_reason: Option<FinishReason>,
    /// By the index the deltas give: a header (id, name) then argument fragments.
    tool_calls: BTreeMap<u32, ToolCall>,
}

/// The running state of one stream.
#[derive(Debug)]
pub(crate) struct StreamAccumulator {
    started: SystemTime,
    id: Option<String>,
    model: Option<String>,
    created: Option<u32>,
    system_fingerprint: Option<String>,
    service_tier: Option<Value>,
    choices: BTreeMap<u32, ChoiceAcc>,
    usage: Option<CompletionUsage>,
    /// When each chunk arrived, in order.
    pub chunk_times: Vec<SystemTime>,
}

impl StreamAccumulator {
    pub(super) fn new(started: SystemTime) -> Self {
        StreamAccumulator {
            started,
            id: None,
            model: None,
            created: None,
            system_fingerprint: None,
            service_tier: None,
            choices: BTreeMap::new(),
            usage: None,
            chunk_times: Vec::new(),
        }
    }

    #[allow(deprecated)] // `system_fingerprint` is deprecated upstream but Azure still sends it.
    pub(super) fn push(&mut self, chunk: &CreateChatCompletionStreamResponse, at: SystemTime) {
        self.chunk_times.push(at);
        fill_once(&mut self.id, &chunk.id);
        fill_once(&mut self.model, &chunk.model);
        if self.created.is_none() && chunk.created != 0 {
            self.created = Some(chunk.created);
        }
        if self.system_fingerprint.is_none() {
            self.system_fingerprint = chunk.system_fingerprint.clone().filter(|s| !s.is_empty());
        }
        if self.service_tier.is_none() {
            self.service_tier = chunk
                .service_tier
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok());
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for c in &chunk.choices {
            let acc = self.choices.entry(c.index).or_default();
            if let Some(role) = &c.delta.role {
                if acc.role.is_none() {
                    acc.role = serde_json::to_value(role)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string));
                }
            }
            if let Some(text) = &c.delta.content {
                acc.content.get_or_insert_with(String::new).push_str(text);
            }
            for t in c.delta.tool_calls.iter().flatten() {
                let call = acc.tool_calls.entry(t.index).or_default();
                if let Some(id) = &t.id {
                    call.id.push_str(id);
                }
                if let Some(f) = &t.function {
                    call.name.push_str(f.name.as_deref().unwrap_or_default());
                    call.arguments
                        .push_str(f.arguments.as_deref().unwrap_or_default());
                }
            }
            if c.finish_reason.is_some() {
                acc.finish_reason = c.finish_reason;
            }
        }
    }

    pub(super) fn time_to_first_chunk(&self) -> Option<Duration> {
        self.chunk_times
            .first()
            .map(|t| t.duration_since(self.started).unwrap_or_default())
    }

    pub(super) fn summary(&self) -> StreamSummary {
        let first = self.choices.values().next();
        StreamSummary {
            text: first.and_then(|c| c.content.clone()).unwrap_or_default(),
            chunks: self.chunk_times.len(),
            usage: self.usage.clone(),
            finish_reason: first.and_then(|c| c.finish_reason),
            model: self.model.clone().unwrap_or_default(),
            id: self.id.clone().unwrap_or_default(),
            time_to_first_chunk: self.time_to_first_chunk(),
            tool_calls: first
                .map(|c| c.tool_calls.values().map(ToolCall::request_json).collect())
                .unwrap_or_default(),
        }
    }

    /// The stream as one completion: choices with whole messages, the first real id and
    /// model, and the usage when reported.
    pub(super) fn result(&self) -> ChatResult {
        let choices: Vec<Choice> = self
            .choices
            .iter()
            .map(|(index, c)| Choice {
                index: *index,
                role: c.role.clone().unwrap_or_else(|| "assistant".to_string()),
                content: c.content.clone(),
                finish_reason: c.finish_reason.and_then(finish_reason_str),
                tool_calls: c.tool_calls.values().cloned().collect(),
            })
            .collect();

        let mut body = Map::new();
        body.insert(
            "choices".into(),
            Value::Array(
                choices
                    .iter()
                    .map(|c| {
                        let mut message = json!({"content": c.content, "role": c.role});
                        if !c.tool_calls.is_empty() {
                            message["tool_calls"] =
                                c.tool_calls.iter().map(ToolCall::request_json).collect();
                        }
                        json!({"message": message, "index": c.index, "finish_reason": c.finish_reason})
                    })
                    .collect(),
            ),
        );
        body.insert("id".into(), json!(self.id));
        body.insert("created".into(), json!(self.created));
        body.insert("model".into(), json!(self.model));
        body.insert("object".into(), json!("chat.completion.chunk"));
        body.insert("system_fingerprint".into(), json!(self.system_fingerprint));
        if let Some(tier) = &self.service_tier {
            body.insert("service_tier".into(), tier.clone());
        }
        if let Some(u) = &self.usage {
            body.insert(
                "usage".into(),
                serde_json::to_value(u).unwrap_or(Value::Null),
            );
        }
        let body = Value::Object(body);
        ChatResult {
            id: self.id.clone(),
            model: self.model.clone(),
            system_fingerprint: self.system_fingerprint.clone(),
            service_tier: self
                .service_tier
                .as_ref()
                .and_then(|v| v.as_str().map(str::to_string)),
            choices,
            usage: usage_of(&body),
            json: body.to_string(),
            prompt_filter_results: None,
        }
    }
}

fn fill_once(slot: &mut Option<String>, value: &str) {
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_string());
    }
}

pub(crate) fn finish_reason_str(r: FinishReason) -> Option<String> {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Azure's chunk sequence for "1, 2, 3", optionally with the usage chunk.
    pub(crate) fn azure_chunks(include_usage: bool) -> Vec<CreateChatCompletionStreamResponse> {
        let filter = json!({"hate": {"filtered": false, "severity": "safe"}});
        let chunk = |choices: Value| {
            json!({"id": "chatcmpl-REF2", "object": "chat.completion.chunk", "created": 1732000000,
                   "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_ref", "choices": choices})
        };
        let mut bodies = vec![
            json!({"id": "", "object": "", "created": 0, "model": "", "choices": [],
                   "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
            chunk(
                json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null, "content_filter_results": {}}]),
            ),
        ];
        for piece in ["1", ", 2", ", 3"] {
            bodies.push(chunk(json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null, "content_filter_results": filter}])));
        }
        bodies.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop", "content_filter_results": {}}])));
        if include_usage {
            let mut last = chunk(json!([]));
            last["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14});
            bodies.push(last);
        }
        bodies
            .into_iter()
            .map(|b| serde_json::from_value(b).expect("azure chunk deserializes"))
            .collect()
    }

    #[test]
    fn azure_stream_reassembles_with_first_real_id_and_model() {
        let t0 = SystemTime::now();
        let mut acc = StreamAccumulator::new(t0);
        for (i, c) in azure_chunks(true).iter().enumerate() {
            acc.push(c, t0 + Duration::from_millis(10 * (i as u64 + 1)));
        }
        let s = acc.summary();
        assert_eq!(s.text, "1, 2, 3");
        assert_eq!(s.chunks, 7);
        assert_eq!(s.id, "chatcmpl-REF2");
        assert_eq!(s.model, "gpt-4o-2024-08-06");
        assert_eq!(s.finish_reason, Some(FinishReason::Stop));
        assert_eq!(s.usage.as_ref().map(|u| u.total_tokens), Some(14));
        assert_eq!(s.time_to_first_chunk, Some(Duration::from_millis(10)));
        let r = acc.result();
        assert_eq!(r.finish_reasons(), vec!["stop".to_string()]);
        assert_eq!(r.usage.map(|u| (u.prompt, u.completion)), Some((9, 5)));
        let body: Value = serde_json::from_str(&r.json).expect("json");
        assert_eq!(body["created"], 1732000000);
        assert_eq!(body["choices"][0]["message"]["content"], "1, 2, 3");
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    }

    #[test]
    fn streamed_tool_calls_reassemble_from_header_and_fragments() {
        let chunk = |delta: Value, finish: Value| {
            serde_json::from_value::<CreateChatCompletionStreamResponse>(json!({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            }))
            .expect("chunk")
        };
        let mut acc = StreamAccumulator::new(SystemTime::now());
        for c in [
            chunk(
                json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\""}}]}),
                Value::Null,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": ":\"Paris\"}"}}]}),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
        ] {
            acc.push(&c, SystemTime::now());
        }
        let s = acc.summary();
        assert_eq!(
            s.tool_calls,
            vec![
                json!({"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
            ]
        );
        let r = acc.result();
        assert_eq!(r.choices[0].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(r.finish_reasons(), vec!["tool_calls".to_string()]);
        let body: Value = serde_json::from_str(&r.json).expect("json");
        assert_eq!(
            body["choices"][0]["message"]["tool_calls"][0]["id"],
            "call_1"
        );
    }

    #[test]
    fn no_usage_without_include_usage() {
        let mut acc = StreamAccumulator::new(SystemTime::now());
        for c in azure_chunks(false) {
            acc.push(&c, SystemTime::now());
        }
        assert_eq!(acc.summary().chunks, 6);
        assert!(acc.summary().usage.is_none());
        assert!(acc.result().usage.is_none());
        assert!(!acc.result().json.contains("usage"));
    }

    #[test]
    fn empty_stream_has_no_first_chunk() {
        let acc = StreamAccumulator::new(SystemTime::now());
        let s = acc.summary();
        assert_eq!(s.chunks, 0);
        assert_eq!(s.time_to_first_chunk, None);
        assert_eq!(s.text, "");
        assert!(acc.result().choices.is_empty());
    }
}
