//! Matching requests against a [`ReplayStore`]: which recorded exchange answers, in what
//! order, and a miss report naming the closest exchange when none does.
//!
//! A request matches an exchange when the method, the path (route and deployment) and
//! the JSON body (without the cassette's ignored fields) are equal; the query is not
//! compared. Exchanges recorded under the request's own scope are preferred, then any
//! scope. Identical requests consume their exchanges in recorded order (a 429 then a 200
//! replays as 429 then 200), then the last one repeats. Cursors are kept per requesting
//! scope, so concurrent cells replay independently.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use super::load::{RecordedExchange, ReplayStore};
use super::lock;
use super::model::RecordedRequest;
use super::normalize::{differences, without_fields};

/// The error code of a replay miss (HTTP 400, so clients do not retry).
pub const MISS_CODE: &str = "hh_compat_replay_miss";

/// Most differences listed for the closest exchange.
const MAX_DIFFERENCES: usize = 5;

/// A request as the replay server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRequest {
    pub method: String,
    /// Without the query.
    pub path: String,
    pub body: Vec<u8>,
}

/// The recorded exchange most like an unmatched request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closest {
    /// `FILE:LINE` of the exchange.
    pub origin: String,
    pub request: String,
    /// What differs, e.g. `body.messages[0].content: recorded "a", got "b"`.
    pub differences: Vec<String>,
}

/// A request no recorded exchange answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayMiss {
    pub scope: Option<String>,
    /// `METHOD /path`.
    pub request: String,
    pub closest: Option<Closest>,
}

impl ReplayMiss {
    /// One line for error bodies and findings.
    pub fn message(&self) -> String {
        let mut s = format!("no recorded exchange matches {}", self.request);
        match &self.closest {
            Some(c) => {
                s.push_str(&format!("; closest is {} ({})", c.origin, c.request));
                if !c.differences.is_empty() {
                    s.push_str(&format!(", which differs in: {}", c.differences.join("; ")));
                }
            }
            None => s.push_str("; the cassette has no exchanges"),
        }
        s
    }
}

/// The most misses remembered for the report: a client looping on a missing exchange
/// must not grow the log without bound.
pub(super) const MAX_MISSES_KEPT: usize = 1000;

/// Serves a store: chooses the exchange for each request and remembers misses (the
/// first `MAX_MISSES_KEPT`).
#[derive(Debug)]
pub struct Replayer {
    store: ReplayStore,
    /// (requesting scope, first exchange of the matching group) → requests answered.
    cursors: Mutex<HashMap<(Option<String>, usize), usize>>,
    misses: Mutex<Vec<ReplayMiss>>,
}

/// Normalized comparable form of a body.
#[derive(Debug, PartialEq)]
enum Body {
    Json(Value),
    Text(String),
}

impl Replayer {
    pub fn new(store: ReplayStore) -> Self {
        Self {
            store,
            cursors: Mutex::new(HashMap::new()),
            misses: Mutex::new(Vec::new()),
        }
    }

    pub fn store(&self) -> &ReplayStore {
        &self.store
    }

    /// The exchange that answers `request` from `scope`, or the miss (also remembered).
    pub fn answer(
        &self,
        scope: Option<&str>,
        request: &IncomingRequest,
    ) -> Result<&RecordedExchange, ReplayMiss> {
        let ignored = &self.store.meta().matching.ignore_fields;
        let got = incoming_body(&request.body, ignored);
        let all = self.store.exchanges();
        let matching: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                same_route(&r.exchange.request, request)
                    && recorded_body(&r.exchange.request, ignored) == got
            })
            .map(|(i, _)| i)
            .collect();
        let own: Vec<usize> = matching
            .iter()
            .copied()
            .filter(|i| all[*i].scope.as_deref() == scope)
            .collect();
        let group = if own.is_empty() { matching } else { own };
        let Some(first) = group.first().copied() else {
            let miss = self.miss(scope, request, &got);
            let mut misses = lock(&self.misses);
            // Each miss still gets its 400; only the log of them is bounded.
            if misses.len() < MAX_MISSES_KEPT {
                misses.push(miss.clone());
            }
            return Err(miss);
        };
        let mut cursors = lock(&self.cursors);
        let n = cursors
            .entry((scope.map(str::to_string), first))
            .or_insert(0);
        let chosen = group[(*n).min(group.len() - 1)];
        *n += 1;
        Ok(&all[chosen])
    }

    /// Every miss so far, in order.
    pub fn misses(&self) -> Vec<ReplayMiss> {
        lock(&self.misses).clone()
    }

    /// The misses of requests that carried `scope`.
    pub fn misses_for(&self, scope: &str) -> Vec<ReplayMiss> {
        lock(&self.misses)
            .iter()
            .filter(|m| m.scope.as_deref() == Some(scope))
            .cloned()
            .collect()
    }

    fn miss(&self, scope: Option<&str>, request: &IncomingRequest, got: &Body) -> ReplayMiss {
        let ignored = &self.store.meta().matching.ignore_fields;
        let closest = self
            .store
            .exchanges()
            .iter()
            .map(|r| {
                let rec = &r.exchange.request;
                let mut diffs = Vec::new();
                let mut score = 0usize;
                if !rec.method.eq_ignore_ascii_case(&request.method) {
                    score += 1000;
                    diffs.push(format!(
                        "method: recorded {}, got {}",
                        rec.method, request.method
                    ));
                }
                if trim(&rec.path) != trim(&request.path) {
                    score += 100;
                    diffs.push(format!("path: recorded {}, got {}", rec.path, request.path));
                }
                let body_diffs = match (recorded_body(rec, ignored), got) {
                    (Body::Json(a), Body::Json(b)) => differences(&a, b, "body", 50),
                    (a, b) if a == *b => Vec::new(),
                    _ => vec![
                        "body: recorded and received bodies are of different kinds (JSON / text)"
                            .into(),
                    ],
                };
                score += body_diffs.len();
                diffs.extend(body_diffs);
                diffs.truncate(MAX_DIFFERENCES);
                let other_scope = usize::from(r.scope.as_deref() != scope);
                ((score, other_scope), r, diffs)
            })
            .min_by_key(|(key, _, _)| *key)
            .map(|(_, r, differences)| Closest {
                origin: r.origin(),
                request: r.exchange.request.describe(),
                differences,
            });
        ReplayMiss {
            scope: scope.map(str::to_string),
            request: format!("{} {}", request.method, request.path),
            closest,
        }
    }
}

fn same_route(rec: &RecordedRequest, got: &IncomingRequest) -> bool {
    rec.method.eq_ignore_ascii_case(&got.method) && trim(&rec.path) == trim(&got.path)
}

fn trim(path: &str) -> &str {
    path.trim_end_matches('/')
}

fn recorded_body(rec: &RecordedRequest, ignored: &[String]) -> Body {
    match (&rec.body, &rec.text) {
        (Some(v), _) => Body::Json(without_fields(v, ignored)),
        (None, Some(t)) => Body::Text(t.clone()),
        (None, None) => Body::Text(String::new()),
    }
}

fn incoming_body(bytes: &[u8], ignored: &[String]) -> Body {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Body::Json(without_fields(&v, ignored)),
        Err(_) => Body::Text(String::from_utf8_lossy(bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::model::{CassetteMeta, Exchange, RecordedResponse};
    use serde_json::json;

    fn exchange(scope: Option<&str>, content: &str, status: u16, line: u64) -> RecordedExchange {
        RecordedExchange {
            scope: scope.map(str::to_string),
            file: "f.yaml".into(),
            line,
            exchange: Exchange {
                request: RecordedRequest {
                    method: "POST".into(),
                    path: "/openai/deployments/d/chat/completions".into(),
                    query: Default::default(),
                    body: Some(json!({"messages": [{"content": content}], "user": "u1"})),
                    text: None,
                },
                response: RecordedResponse {
                    status,
                    headers: Default::default(),
                    body: Some(json!({"line": line})),
                    events: None,
                    text: None,
                },
            },
        }
    }

    fn request(content: &str, user: &str) -> IncomingRequest {
        IncomingRequest {
            method: "POST".into(),
            path: "/openai/deployments/d/chat/completions/".into(),
            body: serde_json::to_vec(&json!({"user": user, "messages": [{"content": content}]}))
                .expect("json"),
        }
    }

    #[test]
    fn consumes_in_order_then_repeats_the_last_per_scope() {
        let store = ReplayStore::from_exchanges(
            CassetteMeta::default(),
            vec![
                exchange(Some("a"), "hi", 429, 1),
                exchange(Some("a"), "hi", 200, 2),
                exchange(Some("b"), "hi", 500, 3),
            ],
        );
        let r = Replayer::new(store);
        let lines = |scope: Option<&str>, n: usize| -> Vec<u64> {
            (0..n)
                .map(|_| {
                    r.answer(scope, &request("hi", "other-user"))
                        .expect("match")
                        .line
                })
                .collect()
        };
        assert_eq!(lines(Some("a"), 3), vec![1, 2, 2]);
        assert_eq!(lines(Some("b"), 2), vec![3, 3]);
        // No own exchanges: every scope's, in file order, with a cursor of its own.
        assert_eq!(lines(Some("c"), 4), vec![1, 2, 3, 3]);
        assert!(r.misses().is_empty());
    }

    #[test]
    fn ignored_fields_are_configurable_and_misses_are_kept() {
        let meta = CassetteMeta {
            label: None,
            matching: crate::cassette::MatchOptions {
                ignore_fields: vec![],
            },
            target: None,
            files: Vec::new(),
        };
        let r = Replayer::new(ReplayStore::from_exchanges(
            meta,
            vec![exchange(None, "hi", 200, 7)],
        ));
        let miss = r
            .answer(Some("s"), &request("hi", "other-user"))
            .expect_err("user now matters");
        let closest = miss.closest.expect("closest");
        assert_eq!(closest.origin, "f.yaml:7");
        assert_eq!(
            closest.differences,
            vec![r#"body.user: recorded "u1", got "other-user""#]
        );
        assert_eq!(r.misses_for("s").len(), 1);
        assert!(r.answer(None, &request("hi", "u1")).is_ok());
        // A client looping on a miss: every request is refused, the log stays bounded.
        for _ in 0..MAX_MISSES_KEPT + 50 {
            assert!(r.answer(Some("s"), &request("hi", "loop")).is_err());
        }
        assert_eq!(r.misses().len(), MAX_MISSES_KEPT);
    }
}
