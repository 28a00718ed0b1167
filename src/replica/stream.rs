//! The streamed (`text/event-stream`) body, in Azure's chunk order.
//!
//! Azure: an annotation chunk with `choices: []`, empty `id`/`model`/`object`, `created: 0`
//! and `prompt_filter_results`; per choice a role chunk, content chunks carrying
//! `content_filter_results`, and a finish chunk; a usage chunk (`choices: []`) only with
//! `stream_options.include_usage`; then `data: [DONE]`. OpenAI's `/v1/` omits the Azure
//! annotations. The whole body is produced at once; clients read it as a stream.

use std::fmt::Write as _;

use super::chat::{js, write_usage, Answer, Flavor, Plan, FILTER_FILTERED, FILTER_SAFE};
use super::faults::Active;

/// What goes wrong in a stream (from the faults).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StreamFaults {
    /// Azure's asynchronous filter: role, content and finish chunks carry no
    /// `content_filter_results` at all; two delta-less annotation chunks trail the finish.
    pub async_filter: bool,
    /// Stop halfway, without a finish chunk or `[DONE]`.
    pub truncated: bool,
    /// One content chunk is not valid JSON.
    pub malformed: bool,
}

impl From<&Active> for StreamFaults {
    fn from(a: &Active) -> Self {
        Self {
            async_filter: a.async_filter,
            truncated: a.truncated_stream,
            malformed: a.malformed_chunk,
        }
    }
}

struct Writer<'a> {
    out: String,
    plan: &'a Plan,
    flavor: Flavor,
    model: String,
    /// Chunks written so far (seeds each chunk's `obfuscation`).
    written: u64,
}

impl Writer<'_> {
    fn event(&mut self, json: &str) {
        self.out.push_str("data: ");
        self.out.push_str(json);
        self.out.push_str("\n\n");
    }

    /// Writes one `chat.completion.chunk` whose `choices` array is `choices`.
    fn chunk(&mut self, choices: &str, usage: Option<&str>) {
        let mut s = String::with_capacity(choices.len() + 200);
        let p = self.plan;
        self.written += 1;
        match self.flavor {
            Flavor::Azure => {
                // Since 2025-08 every chunk after the prompt annotation pads itself with
                // an `obfuscation` string (recorded 2026-01 to 2026-04), unless the request
                // turned it off.
                let obfuscation = if p.shapes.obfuscation() && p.include_obfuscation {
                    let seed = super::content::hash(p.id.as_bytes()) ^ self.written;
                    format!(r#","obfuscation":"{}""#, super::shapes::obfuscation(seed))
                } else {
                    String::new()
                };
                let _ = write!(
                    s,
                    r#"{{"choices":[{choices}],"created":{},"id":"{}","model":{}{obfuscation},"object":"chat.completion.chunk","system_fingerprint":{}"#,
                    p.created,
                    p.id,
                    self.model,
                    p.azure_fingerprint()
                );
            }
            Flavor::OpenAi => {
                let _ = write!(
                    s,
                    r#"{{"id":"{}","object":"chat.completion.chunk","created":{},"model":{},"service_tier":"default","system_fingerprint":{},"choices":[{choices}]"#,
                    p.id,
                    p.created,
                    self.model,
                    p.openai_fingerprint()
                );
            }
        }
        if let Some(u) = usage {
            let _ = write!(s, r#","usage":{u}"#);
        } else if p.include_usage {
            s.push_str(r#","usage":null"#);
        }
        s.push('}');
        self.event(&s);
    }

    fn choice(
        &self,
        index: usize,
        delta: &str,
        finish: Option<&str>,
        filter: Option<&str>,
    ) -> String {
        let finish = finish
            .map(|f| format!("\"{f}\""))
            .unwrap_or_else(|| "null".into());
        match (self.flavor, filter) {
            (Flavor::Azure, Some(filter)) => format!(
                r#"{{"content_filter_results":{filter},"delta":{delta},"finish_reason":{finish},"index":{index},"logprobs":null}}"#
            ),
            (Flavor::Azure, None) => format!(
                r#"{{"delta":{delta},"finish_reason":{finish},"index":{index},"logprobs":null}}"#
            ),
            (Flavor::OpenAi, _) => format!(
                r#"{{"index":{index},"delta":{delta},"logprobs":null,"finish_reason":{finish}}}"#
            ),
        }
    }

    /// Azure's async-filter annotation: no `delta`, empty id/model/object, `created: 0`, the
    /// offsets of what was checked, and one group of filter results.
    fn annotation(&mut self, index: usize, end_offset: usize, filter: &str) {
        let s = format!(
            r#"{{"choices":[{{"content_filter_offsets":{{"check_offset":0,"start_offset":0,"end_offset":{end_offset}}},"content_filter_results":{filter},"finish_reason":null,"index":{index}}}],"created":0,"id":"","model":"","object":""}}"#
        );
        self.event(&s);
    }

    /// Returns false when the stream must stop here (truncation).
    fn answer(&mut self, index: usize, a: &Answer, faults: StreamFaults) -> bool {
        let azure = self.flavor == Flavor::Azure;
        // Under the asynchronous filter no chunk of the answer itself has filter results
        // (recorded 2025-04): they come later, in the annotations.
        let empty_filter = (azure && !faults.async_filter).then_some("{}");
        // A tool call opens with a header (index, id, name, empty arguments) — the first in
        // the role chunk, each later one in its own chunk — then argument fragments.
        let header = |k: usize, call: &super::chat::ToolCall| {
            format!(
                r#"{{"index":{k},"id":{},"type":"function","function":{{"name":{},"arguments":""}}}}"#,
                js(&call.id),
                js(&call.name)
            )
        };
        let calls = &a.tool_calls;
        // The role delta gained `refusal` with the message (see `shapes`).
        let refusal = if self.plan.shapes.refusal_and_usage_details() || !azure {
            r#","refusal":null"#
        } else {
            ""
        };
        let role_delta = match calls.first() {
            Some(first) => format!(
                r#"{{"role":"assistant","content":null{refusal},"tool_calls":[{}]}}"#,
                header(0, first)
            ),
            None => format!(r#"{{"role":"assistant","content":""{refusal}}}"#),
        };
        let c = self.choice(index, &role_delta, None, empty_filter);
        self.chunk(&c, None);

        // Each piece is a delta: content, a tool call's header, or an argument fragment.
        let pieces: Vec<(String, String)> = if calls.is_empty() {
            a.pieces
                .iter()
                .map(|p| (format!(r#"{{"content":{}}}"#, js(p)), p.clone()))
                .collect()
        } else {
            let mut out = Vec::new();
            for (k, call) in calls.iter().enumerate() {
                if k > 0 {
                    out.push((
                        format!(r#"{{"tool_calls":[{}]}}"#, header(k, call)),
                        String::new(),
                    ));
                }
                // Arguments arrive in a few fragments, like the real service's token stream.
                for piece in split_fragments(&call.arguments, 8) {
                    let delta = format!(
                        r#"{{"tool_calls":[{{"index":{k},"function":{{"arguments":{}}}}}]}}"#,
                        js(&piece)
                    );
                    out.push((delta, piece));
                }
            }
            out
        };
        let stop_at = if faults.truncated {
            pieces.len().div_ceil(2)
        } else {
            pieces.len()
        };
        let mut sent = 0usize;
        for (k, (delta, piece)) in pieces.iter().enumerate().take(stop_at) {
            if faults.malformed && k == 1.min(pieces.len().saturating_sub(1)) {
                self.event(r#"{"choices":[{"delta":{"content":"#);
                continue;
            }
            // Azure sends empty filter results on tool-call argument fragments (recorded
            // 2024-12 and 2026-01), none at all under the asynchronous filter.
            let filter = match (azure, faults.async_filter, !calls.is_empty()) {
                (true, true, _) | (false, _, _) => None,
                (true, false, false) => Some(FILTER_SAFE),
                (true, false, true) => Some("{}"),
            };
            let c = self.choice(index, delta, None, filter);
            self.chunk(&c, None);
            sent += piece.len();
        }
        if faults.truncated {
            return false;
        }
        let filtered = a.finish_reason == "content_filter";
        let finish_filter = match (azure, filtered) {
            (true, _) if faults.async_filter => None,
            (true, true) => Some(FILTER_FILTERED),
            (true, false) => Some("{}"),
            (false, _) => None,
        };
        let c = self.choice(index, "{}", Some(a.finish_reason), finish_filter);
        self.chunk(&c, None);
        // The asynchronous filter's verdicts trail the finish chunk (recorded 2025-04): one
        // annotation with the harm categories, one with protected material, both with
        // `model: ""`: an app (or instrumentor) that keeps the last chunk's model loses
        // the real one.
        if azure && faults.async_filter {
            let harm = if filtered {
                ASYNC_HARM_FILTERED
            } else {
                ASYNC_HARM_SAFE
            };
            self.annotation(index, sent, harm);
            self.annotation(index, sent, ASYNC_PROTECTED_MATERIAL);
        }
        true
    }
}

/// The harm categories of an asynchronous-filter annotation.
const ASYNC_HARM_SAFE: &str = r#"{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}"#;
/// ... when the answer was filtered.
const ASYNC_HARM_FILTERED: &str = r#"{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}"#;
/// The protected-material verdicts, in an annotation of their own.
const ASYNC_PROTECTED_MATERIAL: &str = r#"{"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false}}"#;

fn split_fragments(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

pub(super) fn body(plan: &Plan, flavor: Flavor, faults: StreamFaults) -> Vec<u8> {
    let mut w = Writer {
        out: String::with_capacity(4096),
        plan,
        flavor,
        model: js(&plan.model),
        written: 0,
    };
    if flavor == Flavor::Azure {
        let first = format!(
            r#"{{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":{}}}"#,
            plan.prompt_filter_results()
        );
        w.event(&first);
    }
    for (i, a) in plan.answers.iter().enumerate() {
        if !w.answer(i, a, faults) {
            return w.out.into_bytes();
        }
    }
    if plan.include_usage {
        let mut usage = String::with_capacity(256);
        write_usage(&mut usage, plan);
        w.chunk("", Some(&usage));
    }
    w.out.push_str("data: [DONE]\n\n");
    w.out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::chat::{plan, validate};
    use serde_json::{json, Value};

    fn events(body: &[u8]) -> Vec<String> {
        crate::sse::events(body)
            .into_iter()
            .map(|e| e.data)
            .collect()
    }

    fn make(include_usage: bool) -> Plan {
        let body = if include_usage {
            json!({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})
        } else {
            json!({"messages":[{"role":"user","content":"hi"}],"stream":true})
        };
        let req = validate(&body, Some("2024-10-21")).expect("valid");
        plan(&req, "gpt-4o-2024-08-06", false)
    }

    #[test]
    fn parallel_tool_calls_stream_a_header_then_fragments_per_call() {
        let body = json!({"stream":true,"messages":[{"role":"user","content":"Calculate the weather"}],"tools":[
            {"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
            {"type":"function","function":{"name":"calculator","parameters":{"type":"object","properties":{"expression":{"type":"string"}}}}}
        ]});
        let req = validate(&body, Some("2024-10-21")).expect("valid");
        let p = plan(&req, "gpt-4o-2024-08-06", false);
        let mut args: Vec<String> = vec![String::new(), String::new()];
        let mut names: Vec<String> = vec![String::new(), String::new()];
        for e in events(&body_of(&p)) {
            let Ok(v) = serde_json::from_str::<Value>(&e) else {
                continue;
            };
            let Some(choice) = v["choices"].get(0) else {
                continue;
            };
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let k = call["index"].as_u64().expect("index") as usize;
                if let Some(name) = call["function"]["name"].as_str() {
                    names[k] = name.to_string();
                    assert!(call["id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("call_")));
                }
                args[k].push_str(call["function"]["arguments"].as_str().unwrap_or_default());
                assert_eq!(choice["content_filter_results"], json!({}));
            }
        }
        assert_eq!(names, ["get_weather", "calculator"]);
        assert_eq!(
            args,
            [r#"{"city":"replica"}"#, r#"{"expression":"replica"}"#]
        );
    }

    fn body_of(p: &Plan) -> Vec<u8> {
        body(p, Flavor::Azure, StreamFaults::default())
    }

    #[test]
    fn azure_order() {
        let p = make(true);
        let ev = events(&body(&p, Flavor::Azure, StreamFaults::default()));
        assert_eq!(ev.last().map(String::as_str), Some("[DONE]"));
        let parsed: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).expect("chunk json"))
            .collect();
        assert_eq!(parsed[0]["choices"], json!([]));
        assert_eq!(parsed[0]["id"], "");
        assert!(parsed[0]["prompt_filter_results"].is_array());
        assert_eq!(parsed[1]["choices"][0]["delta"]["role"], "assistant");
        let usage = parsed.last().expect("usage chunk");
        assert_eq!(usage["choices"], json!([]));
        assert!(usage["usage"]["total_tokens"].as_u64().is_some());
        let text: String = parsed
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, p.answers[0].text());
    }

    #[test]
    fn faults_shape_the_stream() {
        let p = make(false);
        let t = events(&body(
            &p,
            Flavor::Azure,
            StreamFaults {
                truncated: true,
                ..Default::default()
            },
        ));
        assert!(!t.iter().any(|e| e == "[DONE]"));
        let m = events(&body(
            &p,
            Flavor::Azure,
            StreamFaults {
                malformed: true,
                ..Default::default()
            },
        ));
        assert!(m
            .iter()
            .any(|e| e != "[DONE]" && serde_json::from_str::<Value>(e).is_err()));
        let a = events(&body(
            &p,
            Flavor::Azure,
            StreamFaults {
                async_filter: true,
                ..Default::default()
            },
        ));
        let annotations = a
            .iter()
            .filter(|e| e.contains("content_filter_offsets"))
            .count();
        assert_eq!(annotations, 2, "{a:?}");
        let o = events(&body(&p, Flavor::OpenAi, StreamFaults::default()));
        assert!(!o[0].contains("prompt_filter_results"));
    }
    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort_unstable();
        k
    }

    /// A streamed answer from a deployment with Azure's asynchronous filter, as recorded in
    /// April 2025 (api-version 2025-01-01-preview, include_usage): the role, content and
    /// finish chunks have no `content_filter_results` key at all; after the finish chunk
    /// come two delta-less annotations (`created: 0`, empty id/model/object), the first
    /// with the harm categories, the second with protected material; then the usage chunk.
    #[test]
    fn async_filter_stream_has_azures_shape() {
        let p = make(true);
        let faults = StreamFaults {
            async_filter: true,
            ..Default::default()
        };
        let ev = events(&body(&p, Flavor::Azure, faults));
        assert_eq!(ev.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).expect("json"))
            .collect();
        let n = chunks.len();
        let (finish, first, second, usage) = (
            &chunks[n - 4],
            &chunks[n - 3],
            &chunks[n - 2],
            &chunks[n - 1],
        );
        assert!(chunks[0]["prompt_filter_results"].is_array());
        // Every chunk of the answer itself, role to finish: no filter results.
        for c in &chunks[1..n - 3] {
            assert_eq!(
                keys(&c["choices"][0]),
                ["delta", "finish_reason", "index", "logprobs"],
                "{c}"
            );
            assert!(c.get("usage").is_some_and(Value::is_null), "{c}");
        }
        assert_eq!(chunks[1]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        for a in [first, second] {
            assert_eq!(keys(a), ["choices", "created", "id", "model", "object"]);
            assert_eq!(
                (&a["created"], &a["model"], &a["object"]),
                (&json!(0), &json!(""), &json!(""))
            );
            let choice = &a["choices"][0];
            assert_eq!(
                keys(choice),
                [
                    "content_filter_offsets",
                    "content_filter_results",
                    "finish_reason",
                    "index"
                ]
            );
            assert_eq!(
                keys(&choice["content_filter_offsets"]),
                ["check_offset", "end_offset", "start_offset"]
            );
        }
        assert_eq!(
            keys(&first["choices"][0]["content_filter_results"]),
            ["hate", "self_harm", "sexual", "violence"]
        );
        assert_eq!(
            keys(&second["choices"][0]["content_filter_results"]),
            ["protected_material_code", "protected_material_text"]
        );
        let text_len = p.answers[0].text().len();
        assert_eq!(
            first["choices"][0]["content_filter_offsets"]["end_offset"],
            text_len
        );
        assert_eq!(usage["choices"], json!([]));
        assert!(usage["usage"]["total_tokens"].is_u64());
    }
    /// From 2025-08 every chunk after the prompt annotation carries `obfuscation` (recorded
    /// 2026-01 to 2026-04 on role, content, finish and usage chunks, never on the prompt
    /// annotation); `include_obfuscation: false` and older months have none; before
    /// 2025-01 the role delta has no `refusal` either.
    #[test]
    fn obfuscation_and_role_refusal_follow_the_shapes_month() {
        use crate::replica::shapes::Shapes;
        let chunks_of = |p: &Plan| -> Vec<Value> {
            let ev = events(&body(p, Flavor::Azure, StreamFaults::default()));
            ev[..ev.len() - 1]
                .iter()
                .map(|e| serde_json::from_str(e).expect("json"))
                .collect()
        };
        let current = make(true);
        let chunks = chunks_of(&current);
        assert!(chunks[0].get("obfuscation").is_none());
        let pads: Vec<&str> = chunks[1..]
            .iter()
            .map(|c| {
                c["obfuscation"]
                    .as_str()
                    .expect("obfuscation on every later chunk")
            })
            .collect();
        assert!(pads
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())));
        assert!(pads.windows(2).any(|w| w[0] != w[1]), "{pads:?}");
        assert_eq!(
            keys(&chunks[1]["choices"][0]["delta"]),
            ["content", "refusal", "role"]
        );

        let mut off = current.clone();
        off.include_obfuscation = false;
        assert!(chunks_of(&off)
            .iter()
            .all(|c| c.get("obfuscation").is_none()));

        let mut april = current.clone();
        april.shapes = Shapes::parse("2025-04").expect("month");
        assert!(chunks_of(&april)
            .iter()
            .all(|c| c.get("obfuscation").is_none()));

        let mut old = current.clone();
        old.shapes = Shapes::parse("2024-04").expect("month");
        let chunks = chunks_of(&old);
        assert_eq!(keys(&chunks[1]["choices"][0]["delta"]), ["content", "role"]);
        assert_eq!(
            keys(&chunks[chunks.len() - 1]["usage"]),
            ["completion_tokens", "prompt_tokens", "total_tokens"]
        );
    }

    #[test]
    fn include_obfuscation_is_read_from_stream_options() {
        let body = json!({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_obfuscation":false}});
        let req = validate(&body, Some("2024-10-21")).expect("valid");
        assert!(!plan(&req, "gpt-4o-2024-08-06", false).include_obfuscation);
        let bad = json!({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_obfuscation":"no"}});
        assert_eq!(
            validate(&bad, Some("2024-10-21")).expect_err("type").status,
            400
        );
    }
}
