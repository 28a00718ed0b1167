//! The Responses API (`POST /openai/v1/responses`, and `/openai/responses?api-version=…`
//! from `2025-03-01-preview` on): request validation, the deterministic answer, the
//! `response` object and its typed event stream.
//!
//! The non-streamed body follows a real Azure answer (recorded 2026-04, gpt-5.2-chat): the
//! `response` object's keys in Azure's order, Azure's `content_filters` (prompt, then
//! completion), a `reasoning` item before the `message` for reasoning models (gpt-5, o1, o3,
//! o4), and `usage` with `input_tokens_details.cached_tokens` and
//! `output_tokens_details.reasoning_tokens`. No streamed answer was recorded; the stream
//! follows the openai SDK's event types (`types/responses/`): `event:` + `data:` pairs,
//! `response.created` and `response.in_progress` (the response with `status: in_progress`,
//! empty `output`, `usage: null`), then per output item `response.output_item.added`,
//! for the message `response.content_part.added`, one `response.output_text.delta` per
//! word, `response.output_text.done`, `response.content_part.done`, and
//! `response.output_item.done`, and last `response.completed` with the full response. Every
//! event carries its `sequence_number`, from 0; no `[DONE]` follows.
//!
//! The answer's words come from the same generator as chat's ([`content`]), seeded by the
//! `input` and `instructions`, so a streamed and a plain request get the same text.

use serde_json::{json, Map, Value};

use super::chat::{self, bool_field, field, positive_int};
use super::content::{self, reply_words};
use super::errors;
use super::reply::Reply;

/// The dated api-versions that serve `/openai/responses` (previews from 2025-03 on).
pub(super) fn dated_route_serves(api_version: &str) -> bool {
    api_version.ends_with("-preview") && api_version.get(..10).is_some_and(|d| d >= "2025-03-01")
}

/// The parts of a request that shape the answer, after validation.
#[derive(Debug)]
pub(super) struct ResponsesRequest<'a> {
    pub body: &'a Map<String, Value>,
    pub stream: bool,
    pub max_output_tokens: Option<u64>,
}

/// Validates the body's types the way the service does (400 with an `error` object).
pub(super) fn validate(body: &Value) -> Result<ResponsesRequest<'_>, Reply> {
    let Value::Object(map) = body else {
        return Err(errors::invalid_type(
            "body",
            "an object",
            chat::type_name(body),
        ));
    };
    match field(map, "input") {
        None => return Err(errors::missing_param("input")),
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    return Err(errors::invalid_type(
                        &format!("input[{i}]"),
                        "an object",
                        chat::type_name(item),
                    ));
                }
            }
        }
        Some(other) => {
            return Err(errors::invalid_type(
                "input",
                "a string or an array",
                chat::type_name(other),
            ))
        }
    }
    if let Some(v) = field(map, "instructions") {
        if !v.is_string() {
            return Err(errors::invalid_type(
                "instructions",
                "a string",
                chat::type_name(v),
            ));
        }
    }
    let stream = bool_field(map, "stream")?.unwrap_or(false);
    let max_output_tokens = positive_int(map, "max_output_tokens")?;
    Ok(ResponsesRequest {
        body: map,
        stream,
        max_output_tokens,
    })
}

/// Everything needed to write a response, streamed or not.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub id: String,
    pub message_id: String,
    /// Set for reasoning models, whose output starts with a `reasoning` item.
    pub reasoning_id: Option<String>,
    pub created_at: u64,
    pub model: String,
    /// Text pieces as streamed; concatenated they are the message's `output_text`.
    pub pieces: Vec<String>,
    /// The answer stopped at `max_output_tokens` (`status: incomplete`).
    pub truncated: bool,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub instructions: Option<String>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_output_tokens: Option<u64>,
}

impl Plan {
    pub(super) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// The model families Azure answers with a `reasoning` output item.
fn is_reasoning_model(model: &str) -> bool {
    ["gpt-5", "o1", "o3", "o4"]
        .iter()
        .any(|family| model.starts_with(family))
}

/// Input tokens: a string input is one user message; each message costs 3 plus
/// ceil(bytes/4) of its text, the instructions one more message, and the reply priming 3
/// (see [`content`] for why an approximation).
fn input_tokens(req: &ResponsesRequest<'_>) -> u32 {
    let mut tokens: usize = 3;
    match req.body.get("input") {
        Some(Value::String(s)) => tokens += 3 + s.len().div_ceil(4),
        Some(Value::Array(items)) => {
            for item in items {
                tokens += 3 + chat::message_text(item.get("content")).div_ceil(4);
            }
        }
        _ => {}
    }
    if let Some(Value::String(s)) = req.body.get("instructions") {
        tokens += 3 + s.len().div_ceil(4);
    }
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

fn number(body: &Map<String, Value>, key: &str, default: f64) -> f64 {
    field(body, key).and_then(Value::as_f64).unwrap_or(default)
}

/// Builds the answer. The seed depends on `input` and `instructions` only.
pub(super) fn plan(req: &ResponsesRequest<'_>, model: &str) -> Plan {
    let mut seed_src = Vec::with_capacity(256);
    for key in ["input", "instructions"] {
        if let Some(v) = req.body.get(key) {
            // Writing a Value to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut seed_src, v);
        }
    }
    let seed = content::hash(&seed_src);
    let max_words = req
        .max_output_tokens
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let (words, truncated) = reply_words(seed, max_words);
    let id_seed = content::hash(&[seed.to_le_bytes(), (req.stream as u64).to_le_bytes()].concat());
    // Azure's ids share a 24-hex-digit prefix per response (recorded 2026-04).
    let prefix = format!("{:016x}{:08x}", id_seed, id_seed >> 32);
    let item_id = |tag: &str, k: u64| {
        let suffix = content::hash(&[id_seed.to_le_bytes(), k.to_le_bytes()].concat());
        format!("{tag}_{prefix}{suffix:016x}{:010x}", suffix >> 24)
    };
    Plan {
        id: item_id("resp", 0),
        message_id: item_id("msg", 2),
        reasoning_id: is_reasoning_model(model).then(|| item_id("rs", 1)),
        created_at: content::created(seed),
        model: model.to_string(),
        pieces: content::pieces(&words, truncated),
        truncated,
        input_tokens: input_tokens(req),
        output_tokens: u32::try_from(words.len()).unwrap_or(u32::MAX),
        instructions: req
            .body
            .get("instructions")
            .and_then(Value::as_str)
            .map(str::to_string),
        temperature: number(req.body, "temperature", 1.0),
        top_p: number(req.body, "top_p", 1.0),
        max_output_tokens: req.max_output_tokens,
    }
}

/// Azure's verdicts on the prompt and the completion, as the `content_filters` array.
fn content_filters(plan: &Plan) -> Value {
    let safe = || json!({"filtered": false, "severity": "safe"});
    let offsets = |end: usize| json!({"start_offset": 0, "end_offset": end, "check_offset": 0});
    json!([
        {
            "blocked": false,
            "source_type": "prompt",
            "content_filter_raw": [],
            "content_filter_results": {
                "jailbreak": {"detected": false, "filtered": false},
                "hate": safe(), "sexual": safe(), "violence": safe(), "self_harm": safe()
            },
            "content_filter_offsets": offsets(plan.input_tokens as usize * 4)
        },
        {
            "blocked": false,
            "source_type": "completion",
            "content_filter_raw": [],
            "content_filter_results": {
                "protected_material_code": {"detected": false, "filtered": false},
                "protected_material_text": {"detected": false, "filtered": false},
                "hate": safe(), "sexual": safe(), "violence": safe(), "self_harm": safe()
            },
            "content_filter_offsets": offsets(plan.text().len())
        }
    ])
}

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

fn reasoning_item(id: &str) -> Value {
    json!({"id": id, "type": "reasoning", "summary": []})
}

fn message_item(plan: &Plan, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": plan.message_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant"
    })
}

fn usage(plan: &Plan) -> Value {
    json!({
        "input_tokens": plan.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": plan.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": plan.input_tokens.saturating_add(plan.output_tokens)
    })
}

/// The `response` object; `done` is the finished one, else the one in progress (no
/// output, no usage, no content filters yet).
fn response(plan: &Plan, done: bool) -> Value {
    let status = match (done, plan.truncated) {
        (false, _) => "in_progress",
        (true, false) => "completed",
        (true, true) => "incomplete",
    };
    let mut r = Map::new();
    r.insert("id".into(), json!(plan.id));
    r.insert("object".into(), json!("response"));
    r.insert("created_at".into(), json!(plan.created_at));
    r.insert("status".into(), json!(status));
    r.insert("background".into(), json!(false));
    let completed_at = (done && !plan.truncated).then_some(plan.created_at + 1);
    r.insert("completed_at".into(), json!(completed_at));
    if done {
        r.insert("content_filters".into(), content_filters(plan));
    }
    r.insert("error".into(), Value::Null);
    let incomplete = (done && plan.truncated).then(|| json!({"reason": "max_output_tokens"}));
    r.insert("frequency_penalty".into(), json!(0.0));
    r.insert("incomplete_details".into(), json!(incomplete));
    r.insert("instructions".into(), json!(plan.instructions));
    r.insert("max_output_tokens".into(), json!(plan.max_output_tokens));
    r.insert("max_tool_calls".into(), Value::Null);
    r.insert("model".into(), json!(plan.model));
    let output: Vec<Value> = if done {
        let mut items: Vec<Value> = plan
            .reasoning_id
            .iter()
            .map(|id| reasoning_item(id))
            .collect();
        let status = if plan.truncated {
            "incomplete"
        } else {
            "completed"
        };
        items.push(message_item(
            plan,
            status,
            vec![output_text_part(&plan.text())],
        ));
        items
    } else {
        Vec::new()
    };
    r.insert("output".into(), Value::Array(output));
    r.insert("parallel_tool_calls".into(), json!(true));
    r.insert("presence_penalty".into(), json!(0.0));
    r.insert("previous_response_id".into(), Value::Null);
    r.insert("prompt_cache_key".into(), Value::Null);
    r.insert("prompt_cache_retention".into(), Value::Null);
    let effort = plan.reasoning_id.as_ref().map(|_| "medium");
    r.insert(
        "reasoning".into(),
        json!({"effort": effort, "summary": null}),
    );
    r.insert("safety_identifier".into(), Value::Null);
    r.insert("service_tier".into(), json!("default"));
    r.insert("store".into(), json!(true));
    r.insert("temperature".into(), json!(plan.temperature));
    r.insert(
        "text".into(),
        json!({"format": {"type": "text"}, "verbosity": "medium"}),
    );
    r.insert("tool_choice".into(), json!("auto"));
    r.insert("tools".into(), json!([]));
    r.insert("top_logprobs".into(), json!(0));
    r.insert("top_p".into(), json!(plan.top_p));
    r.insert("truncation".into(), json!("disabled"));
    r.insert("usage".into(), if done { usage(plan) } else { Value::Null });
    r.insert("user".into(), Value::Null);
    r.insert("metadata".into(), json!({}));
    Value::Object(r)
}

/// The non-streamed body.
pub(super) fn body(plan: &Plan) -> Vec<u8> {
    serde_json::to_vec(&response(plan, true)).unwrap_or_default()
}

/// The streamed body: typed events, each as `event: TYPE` and `data: JSON`.
pub(super) fn stream_body(plan: &Plan) -> Vec<u8> {
    let mut out = String::with_capacity(8192);
    let mut seq: u64 = 0;
    let mut event = |kind: &str, mut data: Map<String, Value>| {
        data.insert("sequence_number".into(), json!(seq));
        let mut ordered = Map::new();
        ordered.insert("type".into(), json!(kind));
        ordered.extend(data);
        out.push_str("event: ");
        out.push_str(kind);
        out.push_str("\ndata: ");
        out.push_str(&Value::Object(ordered).to_string());
        out.push_str("\n\n");
        seq += 1;
    };
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    event(
        "response.created",
        obj(json!({"response": response(plan, false)})),
    );
    event(
        "response.in_progress",
        obj(json!({"response": response(plan, false)})),
    );
    let mut output_index = 0;
    if let Some(id) = &plan.reasoning_id {
        let item = reasoning_item(id);
        event(
            "response.output_item.added",
            obj(json!({"output_index": 0, "item": item})),
        );
        event(
            "response.output_item.done",
            obj(json!({"output_index": 0, "item": item})),
        );
        output_index = 1;
    }
    event(
        "response.output_item.added",
        obj(
            json!({"output_index": output_index, "item": message_item(plan, "in_progress", vec![])}),
        ),
    );
    let part = |text: &str| json!({"item_id": plan.message_id, "output_index": output_index, "content_index": 0, "part": output_text_part(text)});
    event("response.content_part.added", obj(part("")));
    for (k, piece) in plan.pieces.iter().enumerate() {
        let obfuscation = super::shapes::obfuscation(content::hash(
            &[plan.created_at.to_le_bytes(), (k as u64).to_le_bytes()].concat(),
        ));
        event(
            "response.output_text.delta",
            obj(json!({
                "item_id": plan.message_id, "output_index": output_index, "content_index": 0,
                "delta": piece, "logprobs": [], "obfuscation": obfuscation
            })),
        );
    }
    let text = plan.text();
    event(
        "response.output_text.done",
        obj(json!({
            "item_id": plan.message_id, "output_index": output_index, "content_index": 0,
            "text": text, "logprobs": []
        })),
    );
    event("response.content_part.done", obj(part(&text)));
    let status = if plan.truncated {
        "incomplete"
    } else {
        "completed"
    };
    event(
        "response.output_item.done",
        obj(json!({
            "output_index": output_index,
            "item": message_item(plan, status, vec![output_text_part(&text)])
        })),
    );
    let last = if plan.truncated {
        "response.incomplete"
    } else {
        "response.completed"
    };
    event(last, obj(json!({"response": response(plan, true)})));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_for(body: Value, model: &str) -> Plan {
        let req = validate(&body).expect("valid");
        plan(&req, model)
    }

    /// (type, data) of every event, checking the `event:` line matches the data's `type`
    /// and that the body is framed exactly as Azure frames it (`event:` then `data:`, LF).
    fn events(body: &[u8]) -> Vec<(String, Value)> {
        let events = crate::sse::events(body);
        let reframed: String = events
            .iter()
            .map(|e| {
                format!(
                    "event: {}\ndata: {}\n\n",
                    e.event.as_deref().unwrap_or(""),
                    e.data
                )
            })
            .collect();
        assert_eq!(reframed.as_bytes(), body, "framing");
        events
            .into_iter()
            .map(|e| {
                let kind = e.event.expect("event line");
                let data: Value = serde_json::from_str(&e.data).expect("json");
                assert_eq!(data["type"], kind);
                (kind, data)
            })
            .collect()
    }

    #[test]
    fn plain_body_has_the_recorded_key_set_and_consistent_usage() {
        let p = plan_for(
            json!({"model": "gpt-4o", "input": [{"role": "user", "content": "Say hello in one sentence."}]}),
            "gpt-4o-2024-08-06",
        );
        let v: Value = serde_json::from_slice(&body(&p)).expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "object",
                "created_at",
                "status",
                "background",
                "completed_at",
                "content_filters",
                "error",
                "frequency_penalty",
                "incomplete_details",
                "instructions",
                "max_output_tokens",
                "max_tool_calls",
                "model",
                "output",
                "parallel_tool_calls",
                "presence_penalty",
                "previous_response_id",
                "prompt_cache_key",
                "prompt_cache_retention",
                "reasoning",
                "safety_identifier",
                "service_tier",
                "store",
                "temperature",
                "text",
                "tool_choice",
                "tools",
                "top_logprobs",
                "top_p",
                "truncation",
                "usage",
                "user",
                "metadata"
            ]
        );
        assert!(v["id"].as_str().expect("id").starts_with("resp_"));
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        // gpt-4o reasons not: one message item.
        let output = v["output"].as_array().expect("output");
        assert_eq!(output.len(), 1);
        assert_eq!(output[0]["type"], "message");
        assert_eq!(output[0]["content"][0]["type"], "output_text");
        let text = output[0]["content"][0]["text"].as_str().expect("text");
        assert!(text.ends_with('.'), "{text}");
        let u = &v["usage"];
        assert_eq!(u["input_tokens"], 13);
        assert_eq!(u["output_tokens"], text.split(' ').count());
        assert_eq!(
            u["total_tokens"].as_u64(),
            Some(u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap())
        );
        assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
        assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(v["content_filters"][0]["source_type"], "prompt");
        assert_eq!(v["content_filters"][1]["source_type"], "completion");
        assert_eq!(v["reasoning"]["effort"], Value::Null);
    }

    #[test]
    fn reasoning_models_answer_with_a_reasoning_item_first() {
        let p = plan_for(json!({"input": "hi"}), "gpt-5.2-chat");
        let v: Value = serde_json::from_slice(&body(&p)).expect("json");
        let kinds: Vec<&str> = v["output"]
            .as_array()
            .expect("output")
            .iter()
            .map(|i| i["type"].as_str().expect("type"))
            .collect();
        assert_eq!(kinds, ["reasoning", "message"]);
        assert!(v["output"][0]["id"]
            .as_str()
            .expect("id")
            .starts_with("rs_"));
        assert!(v["output"][1]["id"]
            .as_str()
            .expect("id")
            .starts_with("msg_"));
        assert_eq!(v["reasoning"]["effort"], "medium");
    }

    #[test]
    fn stream_events_come_in_order_numbered_and_add_up_to_the_plain_answer() {
        let input = json!({"input": "Say hello", "instructions": "Be brief."});
        let plain = plan_for(input.clone(), "gpt-4o");
        let mut streamed_req = input;
        streamed_req["stream"] = json!(true);
        let p = plan_for(streamed_req, "gpt-4o");
        assert_eq!(p.text(), plain.text(), "same conversation, same words");
        assert_ne!(p.id, plain.id);
        let evs = events(&stream_body(&p));
        for (i, (_, data)) in evs.iter().enumerate() {
            assert_eq!(data["sequence_number"], i, "{data}");
        }
        let kinds: Vec<&str> = evs.iter().map(|(k, _)| k.as_str()).collect();
        let deltas = p.pieces.len();
        let mut want = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        want.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        want.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(kinds, want);
        assert_eq!(evs[0].1["response"]["status"], "in_progress");
        assert_eq!(evs[0].1["response"]["usage"], Value::Null);
        let joined: String = evs
            .iter()
            .filter(|(k, _)| k == "response.output_text.delta")
            .map(|(_, d)| d["delta"].as_str().expect("delta").to_string())
            .collect();
        assert_eq!(joined, p.text());
        let done = &evs.last().expect("last").1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["instructions"], "Be brief.");
        assert_eq!(done["output"][0]["content"][0]["text"], p.text());
        assert_eq!(done["usage"]["output_tokens"], p.output_tokens);
    }

    #[test]
    fn max_output_tokens_cuts_the_answer_and_leaves_it_incomplete() {
        let p = plan_for(
            json!({"input": "hi", "max_output_tokens": 2, "stream": true}),
            "gpt-4o",
        );
        assert!(p.truncated);
        assert_eq!(p.output_tokens, 2);
        let evs = events(&stream_body(&p));
        let (kind, last) = evs.last().expect("last");
        assert_eq!(kind, "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(
            last["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        assert_eq!(
            validate(&json!({"model": "m"}))
                .expect_err("no input")
                .status,
            400
        );
        assert_eq!(
            validate(&json!({"input": 3})).expect_err("number").status,
            400
        );
        assert_eq!(
            validate(&json!({"input": ["x"]})).expect_err("item").status,
            400
        );
        assert_eq!(
            validate(&json!({"input": "x", "stream": "yes"}))
                .expect_err("stream")
                .status,
            400
        );
        assert!(validate(&json!({"input": "x", "stream": null})).is_ok());
    }

    #[test]
    fn only_recent_previews_serve_the_dated_route() {
        assert!(dated_route_serves("2025-03-01-preview"));
        assert!(dated_route_serves("2025-04-01-preview"));
        assert!(!dated_route_serves("2024-10-21"));
        assert!(!dated_route_serves("2025-02-01-preview"));
    }
}
