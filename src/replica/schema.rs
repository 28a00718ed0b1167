//! One deterministic value for a JSON schema: what the replica writes as a tool call's
//! arguments and as a structured-output answer (`response_format` of type
//! `json_schema`). The value satisfies the schema subset Azure's strict mode accepts:
//! `type` (also as a list with `null`), `properties`, `required`, `items`, `minItems`,
//! `enum`, `const`, `anyOf` / `oneOf` / `allOf` (the first branch), and local `$ref`s
//! into `$defs` / `definitions`. Depth and sizes are bounded.

use serde_json::{Map, Value};

/// How deep the replica follows nested schemas and `$ref`s before writing `null`.
const MAX_DEPTH: usize = 16;
/// The most items it writes for one array (`minItems` above this is capped).
const MAX_ITEMS: u64 = 8;

/// A value that satisfies `schema`, whose `$ref`s point into `schema` itself.
pub(super) fn sample(schema: &Value) -> Value {
    value(schema, schema, 0)
}

fn value(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(s) = schema.as_object() else {
        // `true` (anything) or a malformed schema: a string is as good as anything.
        return Value::from("replica");
    };
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        return value(target, root, depth + 1);
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|b| b.first()) {
            return value(first, root, depth + 1);
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        // `["string", "null"]`: the first type that is not `null`.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ if s.contains_key("properties") => Some("object"),
        _ => None,
    };
    match ty {
        Some("string") => Value::from("replica"),
        Some("integer") | Some("number") => Value::from(number(s)),
        Some("boolean") => Value::from(true),
        Some("null") => Value::Null,
        Some("array") => {
            let n = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(MAX_ITEMS);
            let item = s.get("items").cloned().unwrap_or(Value::Bool(true));
            Value::Array((0..n).map(|_| value(&item, root, depth + 1)).collect())
        }
        Some("object") => {
            let mut out = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    out.insert(name.clone(), value(sub, root, depth + 1));
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// 1, or the schema's `minimum` when 1 is below it.
fn number(s: &Map<String, Value>) -> i64 {
    let min = s
        .get("minimum")
        .and_then(Value::as_f64)
        .map(|m| m.ceil() as i64);
    min.map_or(1, |m| m.max(1).min(i64::from(i32::MAX)))
        .min(s.get("maximum").and_then(Value::as_i64).unwrap_or(i64::MAX))
}

/// A local reference (`#/$defs/Step`) into `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_properties_get_a_value_of_their_type() {
        let v = sample(&json!({"type": "object", "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"}, "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}}
        }}));
        assert_eq!(
            v,
            json!({"location": "replica", "unit": "celsius", "days": 1, "ok": true, "tags": []})
        );
    }

    #[test]
    fn strict_schemas_with_refs_nullable_types_and_min_items() {
        // The shape pydantic writes for a model with a nested list of models.
        let schema = json!({
            "$defs": {"Step": {"type": "object", "additionalProperties": false,
                "properties": {"explanation": {"type": "string"}, "output": {"type": ["string", "null"]}},
                "required": ["explanation", "output"]}},
            "type": "object", "additionalProperties": false,
            "properties": {
                "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}, "minItems": 2},
                "final_answer": {"anyOf": [{"type": "number", "minimum": 3}, {"type": "null"}]},
                "kind": {"const": "math"}
            },
            "required": ["steps", "final_answer", "kind"]
        });
        let v = sample(&schema);
        assert_eq!(v["steps"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            v["steps"][0],
            json!({"explanation": "replica", "output": "replica"})
        );
        assert_eq!(v["final_answer"], 3);
        assert_eq!(v["kind"], "math");
    }

    #[test]
    fn self_referencing_schemas_and_junk_stay_bounded() {
        let schema = json!({"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "$ref": "#/$defs/Node"});
        let text = sample(&schema).to_string();
        assert!(text.len() < 1000, "{text}");
        assert_eq!(sample(&json!(42)), json!("replica"));
        assert_eq!(sample(&json!({"$ref": "#/nowhere"})), Value::Null);
        let huge = json!({"type": "array", "minItems": 1_000_000, "items": {"type": "integer"}});
        assert_eq!(sample(&huge).as_array().map(Vec::len), Some(8));
    }
}
