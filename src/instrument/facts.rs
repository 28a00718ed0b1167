//! The facts a span is made of, read once from async-openai's request and response
//! types, so the style modules deal with plain data instead of the SDK's type zoo.

use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput,
};
use serde_json::Value;

/// One request message, reduced to what conventions record.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Message {
    pub role: String,
    /// Plain-string content.
    pub content: Option<String>,
    /// The text parts of array content, in order.
    pub text_parts: Vec<String>,
    pub name: Option<String>,
    /// An assistant message's function calls.
    pub tool_calls: Vec<ToolCall>,
    /// A `tool` message: the call it answers.
    pub tool_call_id: Option<String>,
}

/// One function call of the model: in a response, or in a request's history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text.
    pub arguments: String,
}

impl ToolCall {
    /// Reads `{"id", "function": {"name", "arguments"}}`.
    fn of(v: &Value) -> ToolCall {
        ToolCall {
            id: str_at(v, "id").unwrap_or_default(),
            name: v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            arguments: v
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// The call as a request's assistant message carries it.
    pub(super) fn request_json(&self) -> Value {
        serde_json::json!({"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}})
    }

    /// The arguments as JSON when they parse, else as the text they are.
    pub(super) fn arguments_value(&self) -> Value {
        serde_json::from_str(&self.arguments)
            .unwrap_or_else(|_| Value::from(self.arguments.clone()))
    }
}

fn tool_calls_at(v: &Value, pointer: &str) -> Vec<ToolCall> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|calls| calls.iter().map(ToolCall::of).collect())
        .unwrap_or_default()
}

/// Which API a chat-like call went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Api {
    /// `POST …/chat/completions`.
    #[default]
    ChatCompletions,
    /// `POST …/responses`: the instructions are the first (system) message and
    /// `input` the others; the answer is the output items' text.
    Responses,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    pub api: Api,
    /// What the caller asked for: the Azure deployment name, or the OpenAI model.
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: Option<i64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub seed: Option<i64>,
    pub n: Option<i64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// The `tools` entries as sent (`{"type": "function", "function": {...}}`).
    pub tools: Vec<Value>,
    /// `response_format` as sent (`{"type": "json_schema", "json_schema": {...}}`).
    pub response_format: Option<Value>,
    /// The request body as JSON text.
    pub json: String,
    /// The body without `messages`: what OpenInference calls invocation parameters.
    pub invocation_parameters: String,
}

impl ChatRequest {
    /// `gen_ai.output.type` for the requested format: `json` for `json_object` and
    /// `json_schema`, `text` for `text`, nothing when no format was asked for.
    pub(super) fn output_type(&self) -> Option<&'static str> {
        match self.response_format.as_ref()?.get("type")?.as_str()? {
            "json_object" | "json_schema" => Some("json"),
            "text" => Some("text"),
            _ => None,
        }
    }

    /// The JSON schema a `json_schema` format asks for, as JSON text.
    pub(super) fn structured_output_schema(&self) -> Option<String> {
        self.response_format
            .as_ref()?
            .pointer("/json_schema/schema")
            .map(Value::to_string)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    pub index: u32,
    pub role: String,
    pub content: Option<String>,
    pub finish_reason: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub prompt: i64,
    pub completion: i64,
    pub total: i64,
    pub cached_prompt: Option<i64>,
    pub reasoning: Option<i64>,
}

/// A finished chat completion, streamed or not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatResult {
    pub id: Option<String>,
    /// The model that answered (Azure: the snapshot, never the deployment).
    pub model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub service_tier: Option<String>,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
    /// The response body as JSON text (for streams: reassembled).
    pub json: String,
    /// Azure's `prompt_filter_results`, when the HTTP layer handed them over.
    pub prompt_filter_results: Option<Value>,
}

impl ChatResult {
    pub(super) fn finish_reasons(&self) -> Vec<String> {
        self.choices
            .iter()
            .filter_map(|c| c.finish_reason.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmbeddingRequest {
    pub model: String,
    /// The inputs when they are text (token-id inputs have no text to record).
    pub texts: Vec<String>,
    pub encoding_format: Option<String>,
    pub dimensions: Option<i64>,
    pub json: String,
    /// The body without `input`.
    pub invocation_parameters: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmbeddingResult {
    pub model: String,
    pub vectors: Vec<Vec<f64>>,
    pub prompt_tokens: i64,
    pub total_tokens: i64,
    pub json: String,
}

/// An `f32` as the decimal it prints as (`0.2`, not `0.20000000298023224`), which is
/// what the caller wrote and what Python records.
pub(crate) fn f32_to_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Serializes to JSON text and back to a value. Going through text keeps `f32` fields
/// as their short decimal form. These types always serialize; a failure yields `null`.
fn to_json<T: serde::Serialize>(v: &T) -> (String, Value) {
    let text = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (text, value)
}

fn without_key(value: &Value, key: &str) -> String {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.shift_remove(key);
    }
    v.to_string()
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn message_of(v: &Value) -> Message {
    let (content, text_parts) = match v.get("content") {
        Some(Value::String(s)) => (Some(s.clone()), Vec::new()),
        Some(Value::Array(parts)) => (
            None,
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| str_at(p, "text"))
                .collect(),
        ),
        _ => (None, Vec::new()),
    };
    Message {
        role: str_at(v, "role").unwrap_or_default(),
        content,
        text_parts,
        name: str_at(v, "name"),
        tool_calls: tool_calls_at(v, "/tool_calls"),
        tool_call_id: str_at(v, "tool_call_id"),
    }
}

// `max_tokens` and `seed` are deprecated upstream, but callers (and Azure) still use them.
#[allow(deprecated)]
pub(crate) fn chat_request(req: &CreateChatCompletionRequest) -> ChatRequest {
    let (json, value) = to_json(req);
    let messages = value
        .get("messages")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().map(message_of).collect())
        .unwrap_or_default();
    let stop = match value.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    ChatRequest {
        api: Api::ChatCompletions,
        model: req.model.clone(),
        messages,
        max_tokens: req.max_tokens.or(req.max_completion_tokens).map(i64::from),
        temperature: req.temperature.map(f32_to_f64),
        top_p: req.top_p.map(f32_to_f64),
        frequency_penalty: req.frequency_penalty.map(f32_to_f64),
        presence_penalty: req.presence_penalty.map(f32_to_f64),
        seed: req.seed,
        n: req.n.map(i64::from),
        stop,
        stream: req.stream.unwrap_or(false),
        include_usage: value
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tools: value
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        response_format: value
            .get("response_format")
            .filter(|f| f.is_object())
            .cloned(),
        invocation_parameters: without_key(&value, "messages"),
        json,
    }
}

/// A Responses API request as a chat: `instructions` as a system message first, then
/// `input` (a string is one user message; items with a role are messages).
pub(crate) fn responses_request(
    req: &async_openai::types::responses::CreateResponse,
) -> ChatRequest {
    let (json, value) = to_json(req);
    let mut messages = Vec::new();
    if let Some(text) = value.get("instructions").and_then(Value::as_str) {
        messages.push(Message {
            role: "system".into(),
            content: Some(text.to_string()),
            ..Default::default()
        });
    }
    match value.get("input") {
        Some(Value::String(text)) => messages.push(Message {
            role: "user".into(),
            content: Some(text.clone()),
            ..Default::default()
        }),
        Some(Value::Array(items)) => {
            messages.extend(items.iter().filter(|i| i.get("role").is_some()).map(|i| {
                let mut m = message_of(i);
                // Responses input parts are `input_text`, not `text`.
                if let Some(Value::Array(parts)) = i.get("content") {
                    m.text_parts = parts
                        .iter()
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_text"))
                        .filter_map(|p| str_at(p, "text"))
                        .collect();
                }
                m
            }))
        }
        _ => {}
    }
    let int = |k: &str| value.get(k).and_then(Value::as_i64);
    let float = |k: &str| value.get(k).and_then(Value::as_f64);
    let mut params = value.clone();
    if let Some(obj) = params.as_object_mut() {
        obj.shift_remove("input");
        obj.shift_remove("instructions");
    }
    ChatRequest {
        api: Api::Responses,
        model: str_at(&value, "model").unwrap_or_default(),
        messages,
        max_tokens: int("max_output_tokens"),
        temperature: float("temperature"),
        top_p: float("top_p"),
        frequency_penalty: None,
        presence_penalty: None,
        seed: None,
        n: None,
        stop: Vec::new(),
        stream: value
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        include_usage: false,
        tools: Vec::new(),
        response_format: None,
        invocation_parameters: params.to_string(),
        json,
    }
}

/// A Responses API response (or the one a stream's `response.completed` carries) as a
/// chat result: one choice with the output messages' text, finishing `stop` when the
/// response completed and `length` when it stopped at `max_output_tokens`.
pub(crate) fn responses_result(value: &Value) -> ChatResult {
    let text: String = value
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
        .filter_map(|item| item.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let finish = match value.get("status").and_then(Value::as_str) {
        Some("completed") => Some("stop".to_string()),
        Some("incomplete") => Some("length".to_string()),
        _ => None,
    };
    let usage = value.get("usage").filter(|u| u.is_object()).map(|u| {
        let int = |p: &str| u.pointer(p).and_then(Value::as_i64);
        Usage {
            prompt: int("/input_tokens").unwrap_or(0),
            completion: int("/output_tokens").unwrap_or(0),
            total: int("/total_tokens").unwrap_or(0),
            cached_prompt: int("/input_tokens_details/cached_tokens"),
            reasoning: int("/output_tokens_details/reasoning_tokens"),
        }
    });
    ChatResult {
        id: str_at(value, "id").filter(|s| !s.is_empty()),
        model: str_at(value, "model").filter(|s| !s.is_empty()),
        system_fingerprint: None,
        service_tier: str_at(value, "service_tier"),
        choices: vec![Choice {
            index: 0,
            role: "assistant".into(),
            content: Some(text),
            finish_reason: finish,
            tool_calls: Vec::new(),
        }],
        usage,
        json: value.to_string(),
        prompt_filter_results: None,
    }
}

pub(crate) fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let int = |p: &str| u.pointer(p).and_then(Value::as_i64);
    Some(Usage {
        prompt: int("/prompt_tokens").unwrap_or(0),
        completion: int("/completion_tokens").unwrap_or(0),
        total: int("/total_tokens").unwrap_or(0),
        cached_prompt: int("/prompt_tokens_details/cached_tokens"),
        reasoning: int("/completion_tokens_details/reasoning_tokens"),
    })
}

pub(crate) fn chat_result(resp: &CreateChatCompletionResponse) -> ChatResult {
    let (json, value) = to_json(resp);
    let choices = value
        .get("choices")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Choice {
                    index: c
                        .get("index")
                        .and_then(Value::as_u64)
                        .and_then(|i| u32::try_from(i).ok())
                        .unwrap_or(0),
                    role: c
                        .pointer("/message/role")
                        .and_then(Value::as_str)
                        .unwrap_or("assistant")
                        .to_string(),
                    content: c
                        .pointer("/message/content")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    finish_reason: str_at(c, "finish_reason"),
                    tool_calls: tool_calls_at(c, "/message/tool_calls"),
                })
                .collect()
        })
        .unwrap_or_default();
    ChatResult {
        id: str_at(&value, "id").filter(|s| !s.is_empty()),
        model: str_at(&value, "model").filter(|s| !s.is_empty()),
        system_fingerprint: str_at(&value, "system_fingerprint"),
        service_tier: str_at(&value, "service_tier"),
        choices,
        usage: usage_of(&value),
        json,
        prompt_filter_results: None,
    }
}

pub(crate) fn embedding_request(req: &CreateEmbeddingRequest) -> EmbeddingRequest {
    let (json, value) = to_json(req);
    let texts = match &req.input {
        EmbeddingInput::String(s) => vec![s.clone()],
        EmbeddingInput::StringArray(a) => a.clone(),
        _ => Vec::new(),
    };
    EmbeddingRequest {
        model: req.model.clone(),
        texts,
        encoding_format: str_at(&value, "encoding_format"),
        dimensions: req.dimensions.map(i64::from),
        invocation_parameters: without_key(&value, "input"),
        json,
    }
}

pub(crate) fn embedding_result(resp: &CreateEmbeddingResponse) -> EmbeddingResult {
    let (json, _) = to_json(resp);
    EmbeddingResult {
        model: resp.model.clone(),
        vectors: resp
            .data
            .iter()
            .map(|d| d.embedding.iter().copied().map(f32_to_f64).collect())
            .collect(),
        prompt_tokens: i64::from(resp.usage.prompt_tokens),
        total_tokens: i64::from(resp.usage.total_tokens),
        json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> CreateChatCompletionRequest {
        serde_json::from_value(body).expect("valid request")
    }

    #[test]
    fn chat_request_facts() {
        let r = chat_request(&request(serde_json::json!({
            "model": "my-gpt4o",
            "messages": [
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "hello"}], "name": "ann"}
            ],
            "temperature": 0.2, "max_tokens": 50, "top_p": 0.9, "stop": "END",
            "stream": true, "stream_options": {"include_usage": true}
        })));
        assert_eq!(r.model, "my-gpt4o");
        assert_eq!(r.temperature, Some(0.2));
        assert_eq!(r.top_p, Some(0.9));
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(r.stop, vec!["END".to_string()]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.messages[0].content.as_deref(), Some("Be brief"));
        assert_eq!(r.messages[1].text_parts, vec!["Say", "hello"]);
        assert_eq!(r.messages[1].name.as_deref(), Some("ann"));
        assert!(!r.invocation_parameters.contains("messages"));
        assert!(r.invocation_parameters.contains("\"temperature\":0.2"));
        assert!(r.json.contains("\"messages\""));
    }

    #[test]
    fn tool_calls_and_tools_are_read_from_history_and_answers() {
        let r = chat_request(&request(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "21C"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        })));
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.messages[1].tool_calls[0].name, "get_weather");
        assert_eq!(
            r.messages[1].tool_calls[0].arguments_value()["city"],
            "Paris"
        );
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("call_1"));
        let resp: CreateChatCompletionResponse = serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]
        }))
        .expect("a tool-call response");
        let result = chat_result(&resp);
        assert_eq!(result.choices[0].tool_calls[0].id, "call_2");
        assert_eq!(result.finish_reasons(), vec!["tool_calls".to_string()]);
    }

    #[test]
    fn response_formats_give_the_output_type_and_schema() {
        let r = chat_request(&request(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "e", "strict": true,
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}
        })));
        assert_eq!(r.output_type(), Some("json"));
        assert_eq!(
            r.structured_output_schema().as_deref(),
            Some(r#"{"type":"object","properties":{"name":{"type":"string"}}}"#)
        );
        assert!(r.invocation_parameters.contains("response_format"));
        let plain = chat_request(&request(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}]
        })));
        assert_eq!(
            (plain.output_type(), plain.structured_output_schema()),
            (None, None)
        );
    }

    #[test]
    fn responses_calls_read_as_chats() {
        let req: async_openai::types::responses::CreateResponse =
            serde_json::from_value(serde_json::json!({
                "model": "my-gpt4o", "input": "Say hello", "instructions": "Be brief",
                "max_output_tokens": 50
            }))
            .expect("a request");
        let r = responses_request(&req);
        assert_eq!(r.api, Api::Responses);
        let roles: Vec<&str> = r.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user"]);
        assert_eq!(r.messages[1].content.as_deref(), Some("Say hello"));
        assert_eq!(r.max_tokens, Some(50));
        assert!(!r.invocation_parameters.contains("Say hello"));
        let result = responses_result(&serde_json::json!({
            "id": "resp_1", "model": "gpt-4o-2024-08-06", "status": "completed",
            "output": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello there."}]}],
            "usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12,
                "output_tokens_details": {"reasoning_tokens": 0}}
        }));
        assert_eq!(result.choices[0].content.as_deref(), Some("Hello there."));
        assert_eq!(result.finish_reasons(), ["stop"]);
        assert_eq!(result.usage.map(|u| (u.prompt, u.total)), Some((9, 12)));
    }

    #[test]
    fn max_completion_tokens_counts_as_max_tokens() {
        let r = chat_request(&request(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 9
        })));
        assert_eq!(r.max_tokens, Some(9));
        assert!(!r.stream && !r.include_usage);
    }

    #[test]
    fn f32_values_keep_their_decimal_form() {
        assert_eq!(f32_to_f64(0.2), 0.2);
        assert_eq!(f32_to_f64(1.0), 1.0);
        assert_eq!(f32_to_f64(-0.125), -0.125);
    }
}
