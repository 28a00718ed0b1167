//! Chat completions: request validation, the deterministic answer, the non-streamed body.

use std::fmt::Write as _;

use serde_json::Value;

use super::content::{self, reply_words};
use super::errors;
use super::reply::Reply;
use super::schema;
use super::shapes::Shapes;
use super::versions::supports_stream_options;

/// Which API family's body shape to write: Azure's adds content-filter annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Azure,
    OpenAi,
}

/// A forced tool call the replica answers with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One choice's answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    /// Text pieces as streamed; concatenated they are the message content.
    pub pieces: Vec<String>,
    /// The tools called, in order (several when calls are parallel); empty for text.
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: &'static str,
    pub completion_tokens: u32,
}

impl Answer {
    pub(super) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// Everything needed to write a response, streamed or not.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// `None` where Azure sends `"system_fingerprint": null` (see [`azure_fingerprint`]).
    pub system_fingerprint: Option<String>,
    pub prompt_tokens: u32,
    pub answers: Vec<Answer>,
    pub stream: bool,
    pub include_usage: bool,
    /// `stream_options.include_obfuscation` (default true).
    pub include_obfuscation: bool,
    /// Which month's Azure the body looks like.
    pub shapes: Shapes,
    /// Image parts in the prompt's messages (each gets a `prompt_filter_results` entry).
    pub image_parts: usize,
}

impl Plan {
    /// The `system_fingerprint` JSON value Azure sends for this model: `null` for the
    /// gpt-5 family, gpt-35-turbo and gpt-4-32k (as recorded from 2024 to 2026), else the
    /// fingerprint.
    pub(super) fn azure_fingerprint(&self) -> String {
        let unfingerprinted = ["gpt-5", "gpt-35-turbo", "gpt-4-32k"]
            .iter()
            .any(|family| self.model.starts_with(family));
        match &self.system_fingerprint {
            Some(fp) if !unfingerprinted => format!("\"{fp}\""),
            _ => "null".to_string(),
        }
    }

    /// The `system_fingerprint` JSON value the plain OpenAI API sends.
    pub(super) fn openai_fingerprint(&self) -> String {
        match &self.system_fingerprint {
            Some(fp) => format!("\"{fp}\""),
            None => "null".to_string(),
        }
    }

    /// The `prompt_filter_results` JSON array. A text prompt has one entry. With images,
    /// Azure sends one entry per prompt part under the singular key `content_filter_result`
    /// (recorded 2026-01, one text part and one image): the text's verdicts first, with the
    /// highest `prompt_index` and no `jailbreak`, then `{}` for each image, counting down
    /// to index 0.
    pub(super) fn prompt_filter_results(&self) -> std::borrow::Cow<'static, str> {
        if self.image_parts == 0 {
            return PROMPT_FILTER_RESULTS.into();
        }
        let mut out = format!(
            r#"[{{"prompt_index":{},"content_filter_result":{PROMPT_PART_FILTER_RESULT}}}"#,
            self.image_parts
        );
        for index in (0..self.image_parts).rev() {
            let _ = write!(
                out,
                r#",{{"prompt_index":{index},"content_filter_result":{{}}}}"#
            );
        }
        out.push(']');
        out.into()
    }

    pub(super) fn completion_tokens(&self) -> u32 {
        self.answers.iter().map(|a| a.completion_tokens).sum()
    }
}

/// The parts of a request that shape the answer, after validation.
#[derive(Debug)]
pub(super) struct ChatRequest<'a> {
    pub body: &'a serde_json::Map<String, Value>,
    pub stream: bool,
    pub include_usage: bool,
    pub include_obfuscation: bool,
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `Some(value)` unless absent or null (null means "default" in OpenAI's API).
pub(super) fn field<'a>(body: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

pub(super) fn bool_field(
    body: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, Reply> {
    match field(body, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(errors::invalid_type(key, "a boolean", type_name(v))),
    }
}

pub(super) fn positive_int(
    body: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<u64>, Reply> {
    match field(body, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= 1 => Ok(Some(v)),
            _ => Err(errors::invalid_value(
                key,
                &format!("Invalid '{key}': integer below minimum value. Expected a value >= 1, but got {n} instead."),
            )),
        },
        Some(v) => Err(errors::invalid_type(key, "an integer", type_name(v))),
    }
}

/// Validates the body's types the way the service does (400 with an `error` object).
/// `api_version` is the dated version for Azure routes (gates `stream_options`).
pub(super) fn validate<'a>(
    body: &'a Value,
    api_version: Option<&str>,
) -> Result<ChatRequest<'a>, Reply> {
    let Value::Object(map) = body else {
        return Err(errors::invalid_type("body", "an object", type_name(body)));
    };
    match map.get("messages") {
        None => return Err(errors::missing_param("messages")),
        Some(Value::Array(messages)) => {
            if messages.is_empty() {
                return Err(errors::invalid_value(
                    "messages",
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                ));
            }
            for (i, m) in messages.iter().enumerate() {
                let Value::Object(m) = m else {
                    return Err(errors::invalid_type(
                        &format!("messages[{i}]"),
                        "an object",
                        type_name(m),
                    ));
                };
                match m.get("role") {
                    Some(Value::String(_)) => {}
                    None => return Err(errors::missing_param(&format!("messages[{i}].role"))),
                    Some(v) => {
                        return Err(errors::invalid_type(
                            &format!("messages[{i}].role"),
                            "a string",
                            type_name(v),
                        ))
                    }
                }
                match m.get("content") {
                    None | Some(Value::Null | Value::String(_) | Value::Array(_)) => {}
                    Some(v) => {
                        return Err(errors::invalid_type(
                            &format!("messages[{i}].content"),
                            "one of a string or array of objects",
                            type_name(v),
                        ))
                    }
                }
            }
            check_tool_history(messages)?;
        }
        Some(v) => return Err(errors::invalid_type("messages", "an array", type_name(v))),
    }
    let stream = bool_field(map, "stream")?.unwrap_or(false);
    let mut include_usage = false;
    let mut include_obfuscation = true;
    if let Some(opts) = field(map, "stream_options") {
        if api_version.is_some_and(|v| !supports_stream_options(v)) {
            return Err(errors::unrecognized_argument("stream_options"));
        }
        let Value::Object(opts) = opts else {
            return Err(errors::invalid_type(
                "stream_options",
                "an object",
                type_name(opts),
            ));
        };
        if !stream {
            return Err(errors::openai_shape(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                Some("invalid_request_error"),
                Some("stream_options"),
                None,
            ));
        }
        include_usage = bool_field(opts, "include_usage")?.unwrap_or(false);
        include_obfuscation = bool_field(opts, "include_obfuscation")?.unwrap_or(true);
    }
    if let Some(n) = positive_int(map, "n")? {
        if n > 128 {
            return Err(errors::invalid_value(
                "n",
                "Invalid 'n': integer above maximum value. Expected a value <= 128.",
            ));
        }
    }
    positive_int(map, "max_tokens")?;
    positive_int(map, "max_completion_tokens")?;
    if let Some(tools) = field(map, "tools") {
        let Value::Array(tools) = tools else {
            return Err(errors::invalid_type("tools", "an array", type_name(tools)));
        };
        for (i, t) in tools.iter().enumerate() {
            if t.pointer("/function/name")
                .and_then(Value::as_str)
                .is_none()
            {
                return Err(errors::missing_param(&format!("tools[{i}].function.name")));
            }
        }
    }
    match field(map, "tool_choice") {
        None => {}
        Some(Value::String(s)) if matches!(s.as_str(), "auto" | "none" | "required") => {}
        Some(Value::String(s)) => {
            return Err(errors::invalid_value(
                "tool_choice",
                &format!(
                    "Invalid value: '{s}'. Supported values are: 'none', 'auto', and 'required'."
                ),
            ))
        }
        Some(v @ Value::Object(_))
            if v.pointer("/function/name")
                .and_then(Value::as_str)
                .is_none() =>
        {
            return Err(errors::missing_param("tool_choice.function.name"));
        }
        Some(Value::Object(_)) => {}
        Some(v) => {
            return Err(errors::invalid_type(
                "tool_choice",
                "a string or an object",
                type_name(v),
            ))
        }
    }
    check_response_format(map)?;
    Ok(ChatRequest {
        body: map,
        stream,
        include_usage,
        include_obfuscation,
    })
}

/// `response_format`: an object whose `type` is `text`, `json_object` or `json_schema`,
/// the last with a `json_schema` object naming the schema.
fn check_response_format(map: &serde_json::Map<String, Value>) -> Result<(), Reply> {
    let Some(format) = field(map, "response_format") else {
        return Ok(());
    };
    let Value::Object(f) = format else {
        return Err(errors::invalid_type(
            "response_format",
            "an object",
            type_name(format),
        ));
    };
    match f.get("type") {
        None => Err(errors::missing_param("response_format.type")),
        Some(Value::String(t)) if t == "text" || t == "json_object" => Ok(()),
        Some(Value::String(t)) if t == "json_schema" => match f.get("json_schema") {
            Some(Value::Object(s)) if s.get("name").is_some_and(Value::is_string) => Ok(()),
            Some(Value::Object(_)) => Err(errors::missing_param("response_format.json_schema.name")),
            None | Some(Value::Null) => Err(errors::missing_param("response_format.json_schema")),
            Some(v) => Err(errors::invalid_type(
                "response_format.json_schema",
                "an object",
                type_name(v),
            )),
        },
        Some(Value::String(t)) => Err(errors::invalid_value(
            "response_format.type",
            &format!(
                "Invalid value: '{t}'. Supported values are: 'json_object', 'json_schema', and 'text'."
            ),
        )),
        Some(v) => Err(errors::invalid_type(
            "response_format.type",
            "a string",
            type_name(v),
        )),
    }
}

/// A `tool` message must answer a call of the assistant message before it (directly, or
/// after that message's other tool results), by its `tool_call_id`; anything else is
/// refused as Azure (the OpenAI model service) refuses it.
fn check_tool_history(messages: &[Value]) -> Result<(), Reply> {
    let mut open_calls: std::collections::HashSet<&str> = Default::default();
    for (i, m) in messages.iter().enumerate() {
        match m.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                open_calls = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(|calls| calls.iter().filter_map(|c| c.get("id")?.as_str()).collect())
                    .unwrap_or_default();
            }
            Some("tool") => {
                let id = m.get("tool_call_id").and_then(Value::as_str);
                if !id.is_some_and(|id| open_calls.contains(&id)) {
                    return Err(errors::openai_shape(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        Some("invalid_request_error"),
                        Some(&format!("messages.[{i}].role")),
                        None,
                    ));
                }
            }
            _ => open_calls.clear(),
        }
    }
    Ok(())
}

pub(super) fn message_text(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum(),
        _ => 0,
    }
}

/// Prompt tokens: 3 per message + ceil(bytes/4) of its text, + 3 for the reply priming,
/// + ceil(bytes/4) of the tool definitions (see [`content`] for why an approximation).
fn prompt_tokens(req: &ChatRequest<'_>) -> u32 {
    let messages = req.body.get("messages").and_then(Value::as_array);
    let mut bytes_tokens: usize = 3;
    for m in messages.into_iter().flatten() {
        bytes_tokens += 3 + message_text(m.get("content")).div_ceil(4);
    }
    if let Some(tools) = field(req.body, "tools") {
        bytes_tokens += tools.to_string().len().div_ceil(4);
    }
    u32::try_from(bytes_tokens).unwrap_or(u32::MAX)
}

/// The tools the model calls, if any, and whether the call was forced by name. A named function
/// or `required` (the first tool) force one; under `auto` (or no `tool_choice`) the
/// replica decides from the conversation, deterministically: it calls every tool whose
/// name or description shares a word stem with what the user asked (`Calculate 15 * 8`
/// → `calculator`), in parallel unless `parallel_tool_calls` is false (then the first),
/// unless the last message is already a tool's result, which it answers in text. `none`
/// never calls.
fn chosen_tools<'a>(req: &ChatRequest<'a>) -> Option<(Vec<&'a Value>, bool)> {
    let tools = field(req.body, "tools")?.as_array()?;
    match field(req.body, "tool_choice") {
        Some(Value::String(s)) if s == "required" => tools.first().map(|t| (vec![t], false)),
        Some(Value::String(s)) if s == "none" => None,
        Some(Value::Object(_)) => {
            let name = req
                .body
                .get("tool_choice")?
                .pointer("/function/name")?
                .as_str()?;
            tools
                .iter()
                .find(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
                .map(|t| (vec![t], true))
        }
        _ => {
            let mut asked = auto_tools(req.body, tools);
            // Several at once unless the request turns parallel calls off.
            if field(req.body, "parallel_tool_calls") == Some(&Value::Bool(false)) {
                asked.truncate(1);
            }
            (!asked.is_empty()).then_some((asked, false))
        }
    }
}

/// Under `auto`: the tools the user's words ask for, in the request's order (see
/// [`chosen_tools`]).
fn auto_tools<'a>(body: &'a serde_json::Map<String, Value>, tools: &'a [Value]) -> Vec<&'a Value> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    let last_role = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    if last_role == Some("tool") {
        return Vec::new();
    }
    // What the user asked last (string content or text parts): an earlier turn's request
    // has had its answer.
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let asked: std::collections::HashSet<String> = match last_user.and_then(|m| m.get("content")) {
        Some(Value::String(text)) => stems(text),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .flat_map(stems)
            .collect(),
        _ => return Vec::new(),
    }
    .into_iter()
    .collect();
    tools
        .iter()
        .filter(|tool| {
            let name = tool
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let description = tool
                .pointer("/function/description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            stems(&name.replace(['_', '-'], " "))
                .into_iter()
                .chain(stems(description))
                .any(|stem| asked.contains(&stem))
        })
        .collect()
}

/// Words too common to say which tool is wanted.
const COMMON_WORDS: &[&str] = &[
    "about", "after", "again", "before", "could", "curren", "given", "number", "other", "please",
    "return", "should", "string", "their", "there", "these", "thing", "those", "using", "value",
    "where", "which", "would",
];

/// The first six letters of each word of five letters or more, lower case, leaving out
/// numbers and common words: enough to match `calculate` with `calculator` and
/// `weather` with `weather`, not `the` with `then` or "current date" with
/// `get_current_weather`. A heuristic, deterministic by design.
fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 5 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| w.to_lowercase().chars().take(6).collect::<String>())
        .filter(|stem| !COMMON_WORDS.contains(&stem.as_str()))
        .collect()
}

/// Deterministic arguments: a value of the function's parameter schema (see
/// [`schema::sample`]), `{}` when it declares none.
fn tool_arguments(tool: &Value) -> String {
    tool.pointer("/function/parameters")
        .map(schema::sample)
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
        .to_string()
}

/// The JSON text a structured-output request is answered with, when it asks for one:
/// `response_format` `json_schema` gets a value of its schema, `json_object` an object
/// holding the plain answer's text under `answer`.
fn structured_answer(body: &serde_json::Map<String, Value>, words: &[&str]) -> Option<String> {
    let format = field(body, "response_format")?;
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => Some(
            format
                .pointer("/json_schema/schema")
                .map(schema::sample)
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
                .to_string(),
        ),
        "json_object" => {
            Some(serde_json::json!({"answer": content::pieces(words, false).concat()}).to_string())
        }
        _ => None,
    }
}

/// JSON text as it is streamed: pieces of a few characters, the way the model's tokens
/// cut it (`{"`, `name`, `":"`, ...), never splitting a character.
fn json_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let boundary = matches!(c, '"' | ',' | ':' | '{' | '}' | '[' | ']');
        if boundary && !current.is_empty() && current.chars().count() >= 3 {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(c);
        if current.chars().count() >= 8 {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Builds the answer. The seed depends on the messages (and tools) only, so streamed and
/// non-streamed requests for the same conversation get the same text.
pub(super) fn plan(req: &ChatRequest<'_>, model: &str, output_filtered: bool) -> Plan {
    let mut seed_src = Vec::with_capacity(256);
    if let Some(m) = req.body.get("messages") {
        // Writing a Value to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut seed_src, m);
    }
    if let Some(t) = field(req.body, "tools") {
        let _ = serde_json::to_writer(&mut seed_src, t);
    }
    let seed = content::hash(&seed_src);
    let n = positive_int(req.body, "n")
        .ok()
        .flatten()
        .unwrap_or(1)
        .min(128);
    let max_words = positive_int(req.body, "max_completion_tokens")
        .ok()
        .flatten()
        .or_else(|| positive_int(req.body, "max_tokens").ok().flatten())
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let chosen = chosen_tools(req);
    let answers = (0..n)
        .map(|i| {
            let choice_seed = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            if let Some((tools, by_name)) = &chosen {
                let tool_calls: Vec<ToolCall> = tools
                    .iter()
                    .enumerate()
                    .map(|(k, tool)| {
                        let call_seed =
                            content::hash(&[choice_seed, k as u64].map(u64::to_le_bytes).concat());
                        ToolCall {
                            id: format!("call_{}", &content::id_suffix(call_seed)[..24]),
                            name: tool
                                .pointer("/function/name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            arguments: tool_arguments(tool),
                        }
                    })
                    .collect();
                let completion_tokens = tool_calls
                    .iter()
                    .map(|c| content::text_tokens(&c.arguments) + content::text_tokens(&c.name) + 3)
                    .sum();
                return Answer {
                    pieces: Vec::new(),
                    tool_calls,
                    // Azure ends a call forced by name with `stop`; `tool_calls` is for
                    // `required` (and `auto`), as recorded 2024-12 and 2025-04.
                    finish_reason: if *by_name { "stop" } else { "tool_calls" },
                    completion_tokens,
                };
            }
            let (mut words, truncated) = reply_words(choice_seed, max_words);
            if let Some(json) = structured_answer(req.body, &words).filter(|_| !output_filtered) {
                return Answer {
                    completion_tokens: content::text_tokens(&json),
                    pieces: json_pieces(&json),
                    tool_calls: Vec::new(),
                    finish_reason: "stop",
                };
            }
            let mut finish_reason = if truncated { "length" } else { "stop" };
            if output_filtered {
                // The filter cuts the answer partway; what was generated before the cut is kept.
                words.truncate(words.len().div_ceil(2));
                finish_reason = "content_filter";
            }
            let pieces = content::pieces(&words, truncated || output_filtered);
            Answer {
                completion_tokens: u32::try_from(words.len()).unwrap_or(u32::MAX),
                pieces,
                tool_calls: Vec::new(),
                finish_reason,
            }
        })
        .collect();
    // Different requests (e.g. stream vs not) of the same conversation get different ids.
    let id_seed = content::hash(&[seed.to_le_bytes(), (req.stream as u64).to_le_bytes()].concat());
    Plan {
        id: format!("chatcmpl-{}", content::id_suffix(id_seed)),
        created: content::created(seed),
        model: model.to_string(),
        system_fingerprint: Some(format!(
            "fp_{:010x}",
            content::hash(model.as_bytes()) & 0xff_ffff_ffff
        )),
        prompt_tokens: prompt_tokens(req),
        answers,
        stream: req.stream,
        include_usage: req.include_usage,
        include_obfuscation: req.include_obfuscation,
        shapes: Shapes::CURRENT,
        image_parts: image_parts(req.body.get("messages")),
    }
}

/// How many `image_url` parts the messages' contents hold.
fn image_parts(messages: Option<&Value>) -> usize {
    messages
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|part| part.get("type").and_then(Value::as_str) == Some("image_url"))
        .count()
}

pub(super) const FILTER_SAFE: &str = r#"{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}"#;
pub(super) const FILTER_FILTERED: &str = r#"{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}"#;
/// The text part's verdicts when the prompt has images, in the order Azure wrote them.
const PROMPT_PART_FILTER_RESULT: &str = r#"{"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"},"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"custom_blocklists":{"filtered":false,"details":[]}}"#;
pub(super) const PROMPT_FILTER_RESULTS: &str = r#"[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]"#;

/// A JSON string literal.
pub(super) fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

pub(super) fn write_usage(out: &mut String, plan: &Plan) {
    let completion = plan.completion_tokens();
    if !plan.shapes.refusal_and_usage_details() {
        let _ = write!(
            out,
            r#"{{"completion_tokens":{completion},"prompt_tokens":{},"total_tokens":{}}}"#,
            plan.prompt_tokens,
            plan.prompt_tokens.saturating_add(completion)
        );
        return;
    }
    let _ = write!(
        out,
        r#"{{"completion_tokens":{completion},"completion_tokens_details":{{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0}},"prompt_tokens":{},"prompt_tokens_details":{{"audio_tokens":0,"cached_tokens":0}},"total_tokens":{}}}"#,
        plan.prompt_tokens,
        plan.prompt_tokens.saturating_add(completion)
    );
}

fn write_tool_calls(out: &mut String, calls: &[ToolCall]) {
    out.push('[');
    for (k, call) in calls.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"function":{{"arguments":{},"name":{}}},"id":{},"type":"function"}}"#,
            js(&call.arguments),
            js(&call.name),
            js(&call.id)
        );
    }
    out.push(']');
}

/// The non-streamed body. Azure writes keys in alphabetical order; OpenAI in its own order.
pub(super) fn body(plan: &Plan, flavor: Flavor) -> Vec<u8> {
    let mut out = String::with_capacity(1024);
    let model = js(&plan.model);
    // The message's keys of the era (see `shapes`), written in alphabetical order.
    let annotations = if plan.shapes.annotations() {
        r#""annotations":[],"#
    } else {
        ""
    };
    let refusal = if plan.shapes.refusal_and_usage_details() {
        r#""refusal":null,"#
    } else {
        ""
    };
    match flavor {
        Flavor::Azure => out.push_str(r#"{"choices":["#),
        Flavor::OpenAi => {
            let _ = write!(
                out,
                r#"{{"id":"{}","object":"chat.completion","created":{},"model":{model},"choices":["#,
                plan.id, plan.created
            );
        }
    }
    for (i, a) in plan.answers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let content = if !a.tool_calls.is_empty() {
            "null".to_string()
        } else {
            js(&a.text())
        };
        match flavor {
            // As Azure sends them (recorded 2025-2026): a tool call's choice has empty filter
            // results; a filtered answer has no content at all.
            Flavor::Azure => match (a.tool_calls.as_slice(), a.finish_reason) {
                (calls @ [_, ..], _) => {
                    let _ = write!(
                        out,
                        r#"{{"content_filter_results":{{}},"finish_reason":"{}","index":{i},"logprobs":null,"message":{{{annotations}"content":null,{refusal}"role":"assistant","tool_calls":"#,
                        a.finish_reason
                    );
                    write_tool_calls(&mut out, calls);
                    out.push_str("}}");
                }
                ([], "content_filter") => {
                    let _ = write!(
                        out,
                        r#"{{"content_filter_results":{FILTER_FILTERED},"finish_reason":"content_filter","index":{i},"logprobs":null,"message":{{{refusal}"role":"assistant"}}}}"#
                    );
                }
                ([], _) => {
                    let _ = write!(
                        out,
                        r#"{{"content_filter_results":{FILTER_SAFE},"finish_reason":"{}","index":{i},"logprobs":null,"message":{{{annotations}"content":{content},{refusal}"role":"assistant"}}}}"#,
                        a.finish_reason
                    );
                }
            },
            Flavor::OpenAi => {
                let _ = write!(
                    out,
                    r#"{{"index":{i},"message":{{"role":"assistant","content":{content},"#
                );
                if !a.tool_calls.is_empty() {
                    out.push_str(r#""tool_calls":"#);
                    write_tool_calls(&mut out, &a.tool_calls);
                    out.push(',');
                }
                let _ = write!(
                    out,
                    r#""refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"{}"}}"#,
                    a.finish_reason
                );
            }
        }
    }
    match flavor {
        Flavor::Azure => {
            let _ = write!(
                out,
                r#"],"created":{},"id":"{}","model":{model},"object":"chat.completion","prompt_filter_results":{},"system_fingerprint":{},"usage":"#,
                plan.created,
                plan.id,
                plan.prompt_filter_results(),
                plan.azure_fingerprint()
            );
            write_usage(&mut out, plan);
            out.push('}');
        }
        Flavor::OpenAi => {
            out.push_str(r#"],"usage":"#);
            write_usage(&mut out, plan);
            let _ = write!(
                out,
                r#","service_tier":"default","system_fingerprint":{}}}"#,
                plan.openai_fingerprint()
            );
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_for(body: &Value) -> Plan {
        let req = validate(body, Some("2024-10-21")).expect("valid");
        plan(&req, "gpt-4o-2024-08-06", false)
    }

    fn sorted_keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort_unstable();
        k
    }

    /// An image in the prompt, as Azure answered it in January 2026 (gpt-4o, one text
    /// part then one image): one `prompt_filter_results` entry per part, keyed
    /// `content_filter_result`; the text's verdicts first with `prompt_index` 1 (no
    /// `jailbreak`, with `custom_blocklists`), then `{}` with index 0. Streams carry the
    /// same array in their first chunk; a text-only prompt keeps its single entry.
    #[test]
    fn image_prompts_get_one_filter_entry_per_part() {
        let image = json!({"messages":[{"role":"user","content":[
            {"type":"text","text":"Describe this image."},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}
        ]}]});
        let v: Value =
            serde_json::from_slice(&body(&plan_for(&image), Flavor::Azure)).expect("json");
        let entries = v["prompt_filter_results"].as_array().expect("array");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["prompt_index"], 1);
        assert_eq!(
            sorted_keys(&entries[0]["content_filter_result"]),
            [
                "custom_blocklists",
                "hate",
                "self_harm",
                "sexual",
                "violence"
            ]
        );
        assert_eq!(
            entries[0]["content_filter_result"]["custom_blocklists"]["details"],
            json!([])
        );
        assert_eq!(
            entries[1],
            json!({"prompt_index":0,"content_filter_result":{}})
        );

        let mut streamed = image.clone();
        streamed["stream"] = json!(true);
        let p = plan_for(&streamed);
        let sse = crate::replica::stream::body(&p, Flavor::Azure, Default::default());
        let first = crate::sse::events(&sse).into_iter().next().expect("event");
        let first: Value = serde_json::from_str(&first.data).expect("json");
        assert_eq!(&first["prompt_filter_results"], &v["prompt_filter_results"]);

        let text: Value = serde_json::from_slice(&body(
            &plan_for(
                &json!({"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}),
            ),
            Flavor::Azure,
        ))
        .expect("json");
        let entries = text["prompt_filter_results"].as_array().expect("array");
        assert_eq!(entries.len(), 1);
        assert!(entries[0]["content_filter_results"]["jailbreak"].is_object());
    }

    /// The message and usage keys of each era, as recorded: 2024-12 (gpt-4o) has neither
    /// `refusal`, `annotations` nor usage details; 2025-04 has `refusal` and the details
    /// but no `annotations`; 2026-01 on has all three.
    #[test]
    fn message_and_usage_keys_follow_the_shapes_month() {
        let mut p = plan_for(&json!({"messages":[{"role":"user","content":"hi"}]}));
        let mut keys_at = |month: &str| {
            p.shapes = Shapes::parse(month).expect("month");
            let v: Value = serde_json::from_slice(&body(&p, Flavor::Azure)).expect("json");
            (
                sorted_keys(&v["choices"][0]["message"]),
                sorted_keys(&v["usage"]),
            )
        };
        let (message, usage) = keys_at("2024-12");
        assert_eq!(message, ["content", "role"]);
        assert_eq!(
            usage,
            ["completion_tokens", "prompt_tokens", "total_tokens"]
        );
        let (message, usage) = keys_at("2025-04");
        assert_eq!(message, ["content", "refusal", "role"]);
        assert!(usage.contains(&"completion_tokens_details".to_string()));
        let (message, _) = keys_at("2026-01");
        assert_eq!(message, ["annotations", "content", "refusal", "role"]);
    }

    #[test]
    fn same_messages_same_text_and_valid_json() {
        let a = plan_for(&json!({"messages":[{"role":"user","content":"hi"}]}));
        let b = plan_for(&json!({"messages":[{"role":"user","content":"hi"}],"stream":true}));
        assert_eq!(a.answers[0].text(), b.answers[0].text());
        assert_ne!(a.id, b.id);
        for flavor in [Flavor::Azure, Flavor::OpenAi] {
            let v: Value = serde_json::from_slice(&body(&a, flavor)).expect("json");
            assert_eq!(v["model"], "gpt-4o-2024-08-06");
            let u = &v["usage"];
            assert_eq!(
                u["total_tokens"].as_u64(),
                Some(
                    u["prompt_tokens"].as_u64().unwrap_or(0)
                        + u["completion_tokens"].as_u64().unwrap_or(0)
                )
            );
        }
        let c = plan_for(&json!({"messages":[{"role":"user","content":"other"}]}));
        assert_ne!(a.answers[0].text(), c.answers[0].text());
    }

    #[test]
    fn json_schema_answers_are_a_value_of_the_schema_streamed_in_pieces() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "participants": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
            "required": ["name", "participants"]});
        let request = json!({"messages": [{"role": "user", "content": "Alice and Bob meet"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "event", "strict": true, "schema": schema}}});
        let p = plan_for(&request);
        let answer = &p.answers[0];
        let parsed: Value = serde_json::from_str(&answer.text()).expect("the content is JSON");
        assert_eq!(
            parsed,
            json!({"name": "replica", "participants": ["replica"]})
        );
        assert_eq!(answer.finish_reason, "stop");
        assert!(answer.pieces.len() > 3, "{:?}", answer.pieces);
        assert_eq!(
            answer.completion_tokens,
            content::text_tokens(&answer.text())
        );
        let object = plan_for(&json!({"messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"}}));
        let parsed: Value = serde_json::from_str(&object.answers[0].text()).expect("JSON");
        assert!(parsed["answer"].as_str().is_some_and(|t| t.ends_with('.')));
        let text = plan_for(&json!({"messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "text"}}));
        assert!(serde_json::from_str::<Value>(&text.answers[0].text()).is_err());
    }

    #[test]
    fn bad_response_formats_are_refused() {
        let msgs = json!([{"role": "user", "content": "hi"}]);
        for format in [
            json!("json"),
            json!({}),
            json!({"type": "xml"}),
            json!({"type": "json_schema"}),
            json!({"type": "json_schema", "json_schema": {"schema": {}}}),
        ] {
            let body = json!({"messages": msgs, "response_format": format});
            assert!(validate(&body, None).is_err(), "{format}");
        }
    }

    #[test]
    fn fingerprint_is_null_where_azure_sends_null() {
        let request = json!({"messages":[{"role":"user","content":"hi"}]});
        let body_of = |model: &str| {
            let req = validate(&request, Some("2024-10-21")).expect("valid");
            let v: Value = serde_json::from_slice(&body(&plan(&req, model, false), Flavor::Azure))
                .expect("json");
            v["system_fingerprint"].clone()
        };
        for model in [
            "gpt-5-mini-2025-08-07",
            "gpt-5.2-chat-2025-12-11",
            "gpt-35-turbo",
            "gpt-4-32k",
        ] {
            assert_eq!(body_of(model), Value::Null, "{model}");
        }
        assert!(body_of("gpt-4o-2024-08-06")
            .as_str()
            .is_some_and(|f| f.starts_with("fp_")));
    }

    #[test]
    fn rejects_wrong_types() {
        for bad in [
            json!([1]),
            json!({}),
            json!({"messages":"hi"}),
            json!({"messages":[]}),
            json!({"messages":[{"content":"x"}]}),
            json!({"messages":[{"role":"user","content":5}]}),
            json!({"messages":[{"role":"user"}],"stream":"yes"}),
            json!({"messages":[{"role":"user"}],"n":0}),
            json!({"messages":[{"role":"user"}],"max_tokens":-1}),
            json!({"messages":[{"role":"user"}],"tools":{}}),
            json!({"messages":[{"role":"user"}],"stream_options":{"include_usage":true}}),
        ] {
            let err = validate(&bad, Some("2024-10-21")).expect_err("invalid");
            assert_eq!(err.status, 400, "{bad}");
        }
        let old = json!({"messages":[{"role":"user"}],"stream":true,"stream_options":{"include_usage":true}});
        let err = validate(&old, Some("2024-06-01")).expect_err("old api");
        assert!(String::from_utf8_lossy(&err.body)
            .contains("Unrecognized request argument supplied: stream_options"));
    }

    #[test]
    fn forced_tool_call() {
        let p = plan_for(&json!({
            "messages":[{"role":"user","content":"weather?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}],
            "tool_choice":{"type":"function","function":{"name":"get_weather"}}
        }));
        let call = p.answers[0].tool_calls.first().expect("tool call");
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments, r#"{"city":"replica","days":1}"#);
        assert_eq!(p.answers[0].finish_reason, "stop", "forced by name");
        let v: Value = serde_json::from_slice(&body(&p, Flavor::Azure)).expect("json");
        assert_eq!(v["choices"][0]["content_filter_results"], json!({}));
        let required = plan_for(&json!({
            "messages":[{"role":"user","content":"weather?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}}],
            "tool_choice":"required"
        }));
        assert_eq!(required.answers[0].finish_reason, "tool_calls");
    }

    #[test]
    fn auto_calls_the_tool_the_user_asks_for_and_answers_its_result() {
        let tools = json!([
            {"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
            {"type":"function","function":{"name":"calculator","description":"Perform mathematical calculations","parameters":{"type":"object","properties":{"expression":{"type":"string"}}}}}
        ]);
        let ask = |content: &str, choice: Option<&str>| {
            let mut body = json!({"messages":[{"role":"user","content":content}],"tools":tools});
            if let Some(c) = choice {
                body["tool_choice"] = json!(c);
            }
            plan_for(&body).answers[0].clone()
        };
        let calc = ask("Calculate what is 15 * 8", None);
        assert_eq!(
            calc.tool_calls.first().map(|c| c.name.as_str()),
            Some("calculator")
        );
        assert_eq!(calc.finish_reason, "tool_calls");
        let weather = ask("What's the weather in Paris?", Some("auto"));
        assert_eq!(
            weather.tool_calls.first().map(|c| c.name.clone()),
            Some("get_weather".to_string())
        );
        assert!(ask("Tell me a story", None).tool_calls.is_empty());
        assert!(ask("Calculate 2 + 2", Some("none")).tool_calls.is_empty());
        // Common words alone ask for nothing.
        assert!(ask("Which value would you return about these?", None)
            .tool_calls
            .is_empty());
        // Both asked for: two calls in parallel, distinct ids.
        let both = ask("Calculate the weather", None);
        let names: Vec<&str> = both.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "calculator"]);
        assert_ne!(both.tool_calls[0].id, both.tool_calls[1].id);
        // After the tool's result, the answer is text.
        let answered = plan_for(&json!({"tools":tools,"messages":[
            {"role":"user","content":"Calculate 15 * 8"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"calculator","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"120"}
        ]}));
        assert!(answered.answers[0].tool_calls.is_empty());
        assert_eq!(answered.answers[0].finish_reason, "stop");
        // A tool result that answers no call is refused.
        let orphan = json!({"messages":[
            {"role":"user","content":"Calculate 15 * 8"},
            {"role":"tool","tool_call_id":"call_1","content":"120"}
        ]});
        let err = validate(&orphan, Some("2024-10-21")).expect_err("orphan tool message");
        assert_eq!(err.status, 400);
        let body: Value = serde_json::from_slice(&err.body).expect("json");
        assert_eq!(body["error"]["param"], "messages.[1].role");
    }

    #[test]
    fn max_tokens_truncates() {
        let p = plan_for(&json!({"messages":[{"role":"user","content":"hi"}],"max_tokens":2}));
        assert_eq!(p.answers[0].completion_tokens, 2);
        assert_eq!(p.answers[0].finish_reason, "length");
    }
}
