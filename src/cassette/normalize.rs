//! JSON normalization for cassettes: sorted keys for written requests, ignored fields
//! for matching, and a readable list of differences for replay misses.

use serde_json::{Map, Value};

/// `value` with every object's keys sorted, so equal requests are written identically.
pub(super) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let out: Map<String, Value> = keys
                .into_iter()
                .map(|k| (k.clone(), sorted(&map[k])))
                .collect();
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// `value` without the fields named by dotted paths (`user`, `stream_options.include_usage`).
pub(super) fn without_fields(value: &Value, fields: &[String]) -> Value {
    let mut out = value.clone();
    for field in fields {
        remove_path(&mut out, field);
    }
    out
}

fn remove_path(value: &mut Value, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Value::Object(map) = value else { return };
    match rest {
        None => {
            map.shift_remove(head);
        }
        Some(rest) => {
            if let Some(inner) = map.get_mut(head) {
                remove_path(inner, rest);
            }
        }
    }
}

/// Up to `limit` differences between a recorded value and a received one, each as
/// `PATH: recorded X, got Y` (`PATH` like `body.messages[0].content`).
pub(super) fn differences(recorded: &Value, got: &Value, path: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    diff(recorded, got, path, &mut out, limit);
    out
}

fn diff(recorded: &Value, got: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || recorded == got {
        return;
    }
    match (recorded, got) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, &p, out, limit),
                    (Some(x), None) => push(
                        out,
                        limit,
                        format!("{p}: recorded {}, missing in the request", short(x)),
                    ),
                    (None, Some(y)) => {
                        push(out, limit, format!("{p}: not recorded, got {}", short(y)))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out, limit);
            }
        }
        _ => push(
            out,
            limit,
            format!("{path}: recorded {}, got {}", short(recorded), short(got)),
        ),
    }
}

fn push(out: &mut Vec<String>, limit: usize, s: String) {
    if out.len() < limit {
        out.push(s);
    }
}

/// A value for a message: compact JSON, cut at 80 characters.
pub(super) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 80 {
        s
    } else {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_deeply() {
        let v = json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": 2}});
        assert_eq!(
            sorted(&v).to_string(),
            r#"{"a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn removes_dotted_fields() {
        let v = json!({"user": "u", "stream_options": {"include_usage": true, "x": 1}, "seed": 3});
        let out = without_fields(
            &v,
            &[
                "user".into(),
                "stream_options.include_usage".into(),
                "nope.x".into(),
            ],
        );
        assert_eq!(out, json!({"stream_options": {"x": 1}, "seed": 3}));
    }

    #[test]
    fn lists_differences_with_paths() {
        let a = json!({"messages": [{"content": "Count to 3"}], "stream": true});
        let b = json!({"messages": [{"content": "Count to 4"}], "temperature": 0.5});
        let d = differences(&a, &b, "body", 10);
        assert_eq!(
            d,
            vec![
                r#"body.messages[0].content: recorded "Count to 3", got "Count to 4""#,
                "body.stream: recorded true, missing in the request",
                "body.temperature: not recorded, got 0.5",
            ]
        );
        assert_eq!(differences(&a, &b, "body", 1).len(), 1);
        assert!(short(&json!("x".repeat(200))).ends_with("..."));
    }
}
