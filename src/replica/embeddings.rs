//! Embeddings: deterministic unit vectors per input, as floats or base64 little-endian f32.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;

use super::chat::js;
use super::config::Deployment;
use super::content::{self, SplitMix};
use super::errors;
use super::reply::Reply;

/// The native size of an embedding model (what `dimensions` may shrink).
pub(super) fn native_dimensions(model: &str) -> u32 {
    if model.starts_with("text-embedding-3-large") {
        3072
    } else {
        1536
    }
}

/// Only the third generation models accept `dimensions`.
fn supports_dimensions(model: &str) -> bool {
    model.starts_with("text-embedding-3")
}

/// Most inputs one request may carry (Azure answers 400 above).
pub(super) const MAX_INPUTS: usize = 2048;
/// Most tokens one input may hold: the embedding models' context.
pub(super) const MAX_INPUT_TOKENS: u32 = 8192;
/// Most tokens all inputs of one request may add up to.
pub(super) const MAX_REQUEST_TOKENS: u64 = 300_000;

/// One input: text, or pre-tokenized ids.
enum Input<'a> {
    Text(&'a str),
    Tokens(&'a [Value]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Float,
    Base64,
}

fn inputs(v: &Value) -> Result<Vec<Input<'_>>, Reply> {
    let bad = || errors::invalid_type("input", "a string or array", json_type(v));
    match v {
        Value::String(s) => Ok(vec![Input::Text(s)]),
        Value::Array(items) if items.is_empty() => Err(errors::invalid_value(
            "input",
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        )),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Ok(items.iter().filter_map(Value::as_str).map(Input::Text).collect())
        }
        Value::Array(items) if items.iter().all(Value::is_u64) => Ok(vec![Input::Tokens(items)]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Array(t) if !t.is_empty() && t.iter().all(Value::is_u64) => Ok(Input::Tokens(t)),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A unit vector of `dims` values derived from the input only.
pub(super) fn vector(seed_bytes: &[u8], dims: usize) -> Vec<f32> {
    let mut rng = SplitMix::new(content::hash(seed_bytes));
    let mut v: Vec<f32> = (0..dims).map(|_| rng.next_signed_unit()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The `model` an answer names: Azure calls `text-embedding-ada-002` just `ada`
/// (recorded 2024-12); the other models keep their names, as OpenAI's API does for all.
pub(super) fn answered_model(model: &str, azure: bool) -> &str {
    if azure && model.starts_with("text-embedding-ada-002") {
        "ada"
    } else {
        model
    }
}

/// Handles a validated-JSON embeddings request for an embedding deployment, answering
/// as Azure does.
#[cfg(test)]
pub(super) fn respond(body: &Value, deployment: &Deployment) -> Reply {
    respond_for(body, deployment, true)
}

/// [`respond`], as Azure (`azure`) or as OpenAI's API.
pub(super) fn respond_for(body: &Value, deployment: &Deployment, azure: bool) -> Reply {
    let Value::Object(map) = body else {
        return errors::invalid_type("body", "an object", json_type(body));
    };
    let Some(input) = map.get("input") else {
        return errors::missing_param("input");
    };
    let inputs = match inputs(input) {
        Ok(i) => i,
        Err(r) => return r,
    };
    // The limits bound the work and the answer's size before anything is generated.
    if inputs.len() > MAX_INPUTS {
        return errors::too_many_inputs(MAX_INPUTS);
    }
    let mut requested = 0u64;
    for input in &inputs {
        let n = match input {
            Input::Text(s) => u64::from(content::text_tokens(s).max(1)),
            Input::Tokens(t) => t.len() as u64,
        };
        if n > u64::from(MAX_INPUT_TOKENS) {
            return errors::context_length_exceeded(MAX_INPUT_TOKENS, n);
        }
        requested += n;
    }
    if requested > MAX_REQUEST_TOKENS {
        return errors::too_many_tokens(MAX_REQUEST_TOKENS, requested);
    }
    let encoding = match map.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(s)) if s == "float" => Encoding::Float,
        Some(Value::String(s)) if s == "base64" => Encoding::Base64,
        Some(Value::String(s)) => {
            return errors::invalid_value(
                "encoding_format",
                &format!("Invalid value: '{s}'. Supported values are: 'float' and 'base64'."),
            )
        }
        Some(v) => return errors::invalid_type("encoding_format", "a string", json_type(v)),
    };
    let native = deployment
        .dimensions
        .unwrap_or_else(|| native_dimensions(&deployment.model));
    let dims = match map.get("dimensions") {
        None | Some(Value::Null) => native,
        Some(Value::Number(n)) => {
            if !supports_dimensions(&deployment.model) {
                return errors::invalid_value(
                    "dimensions",
                    "This model does not support specifying dimensions.",
                );
            }
            match n.as_u64() {
                Some(d) if d >= 1 && d <= u64::from(native) => d as u32,
                _ => {
                    return errors::invalid_value(
                        "dimensions",
                        &format!(
                            "Invalid value for 'dimensions' = {n}. Must be between 1 and {native}."
                        ),
                    )
                }
            }
        }
        Some(v) => return errors::invalid_type("dimensions", "an integer", json_type(v)),
    };

    // Room for the usual answer; a large one grows as it is written.
    let mut out = String::with_capacity((64 + inputs.len() * (dims as usize) * 12).min(1 << 20));
    out.push_str(r#"{"object":"list","data":["#);
    let mut tokens: u32 = 0;
    let mut seed = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        seed.clear();
        match input {
            Input::Text(s) => {
                tokens = tokens.saturating_add(content::text_tokens(s).max(1));
                seed.extend_from_slice(s.as_bytes());
            }
            Input::Tokens(t) => {
                tokens = tokens.saturating_add(u32::try_from(t.len()).unwrap_or(u32::MAX));
                for id in t.iter().filter_map(Value::as_u64) {
                    seed.extend_from_slice(&id.to_le_bytes());
                }
                seed.push(0xff);
            }
        }
        let v = vector(&seed, dims as usize);
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"{{"object":"embedding","index":{i},"embedding":"#);
        match encoding {
            Encoding::Float => {
                out.push('[');
                for (k, x) in v.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    // Display writes the shortest digits that round-trip, never an exponent: valid JSON.
                    let _ = write!(out, "{x}");
                }
                out.push(']');
            }
            Encoding::Base64 => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                out.push('"');
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
                out.push('"');
            }
        }
        out.push('}');
    }
    let _ = write!(
        out,
        r#"],"model":{},"usage":{{"prompt_tokens":{tokens},"total_tokens":{tokens}}}}}"#,
        js(answered_model(&deployment.model, azure))
    );
    Reply::json(200, out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(model: &str) -> Deployment {
        Deployment::new("e", model)
    }

    fn data(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    #[test]
    fn ada_answers_as_ada_on_azure_only() {
        let d = dep("text-embedding-ada-002");
        assert_eq!(data(&respond(&json!({"input":"x"}), &d))["model"], "ada");
        let openai = respond_for(&json!({"input":"x"}), &d, false);
        assert_eq!(data(&openai)["model"], "text-embedding-ada-002");
        let large = dep("text-embedding-3-large");
        assert_eq!(
            data(&respond(&json!({"input":"x"}), &large))["model"],
            "text-embedding-3-large"
        );
    }

    #[test]
    fn float_and_base64_agree() {
        let d = dep("text-embedding-3-small");
        let f = data(&respond(&json!({"input":"hello"}), &d));
        let b = data(&respond(
            &json!({"input":"hello","encoding_format":"base64"}),
            &d,
        ));
        let floats: Vec<f32> = f["data"][0]["embedding"]
            .as_array()
            .expect("floats")
            .iter()
            .filter_map(Value::as_f64)
            .map(|x| x as f32)
            .collect();
        assert_eq!(floats.len(), 1536);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b["data"][0]["embedding"].as_str().expect("b64"))
            .expect("decode");
        let decoded: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(floats, decoded);
        let norm: f32 = decoded.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-3);
    }

    #[test]
    fn dimensions_and_inputs() {
        let d = dep("text-embedding-3-large");
        let r = data(&respond(&json!({"input":["a","b"],"dimensions":256}), &d));
        assert_eq!(
            r["data"][1]["embedding"].as_array().map(Vec::len),
            Some(256)
        );
        assert_ne!(r["data"][0]["embedding"], r["data"][1]["embedding"]);
        assert_eq!(
            respond(&json!({"input":"a","dimensions":4000}), &d).status,
            400
        );
        assert_eq!(
            respond(
                &json!({"input":"a","dimensions":8}),
                &dep("text-embedding-ada-002")
            )
            .status,
            400
        );
        assert_eq!(respond(&json!({"input":5}), &d).status, 400);
        assert_eq!(respond(&json!({"input":[]}), &d).status, 400);
        assert_eq!(respond(&json!({}), &d).status, 400);
        assert_eq!(respond(&json!({"input":[1,2,3]}), &d).status, 200);
        assert_eq!(
            respond(&json!({"input":"a","encoding_format":"int8"}), &d).status,
            400
        );
    }

    #[test]
    fn inputs_and_tokens_are_capped_like_azure() {
        let d = dep("text-embedding-3-small");
        let at_cap = vec!["a"; MAX_INPUTS];
        assert_eq!(respond(&json!({"input": at_cap}), &d).status, 200);
        let over = respond(&json!({"input": vec!["a"; MAX_INPUTS + 1]}), &d);
        assert_eq!(over.status, 400);
        let e = data(&over);
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max number of inputs is 2048")));

        let long = vec![1u32; MAX_INPUT_TOKENS as usize + 1];
        let r = respond(&json!({"input": long}), &d);
        assert_eq!(r.status, 400);
        assert!(data(&r)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("maximum context length is 8192")));

        let many = vec![vec![1u32; 8000]; 40];
        let r = respond(&json!({"input": many}), &d);
        assert_eq!(r.status, 400);
        assert_eq!(data(&r)["error"]["code"], "max_tokens_per_request");
    }
}
