//! The replica answering from cassettes instead of generating: every request is matched
//! against a [`ReplayStore`] (see [`crate::cassette::replay`] for the rules) and gets the
//! recorded status, headers and body; streams are sent as SSE with the recorded events.
//! A request no exchange matches gets a 400 `hh_compat_replay_miss` naming the closest
//! exchange, is journaled with that status, and is listed by
//! [`ReplicaHandle::replay_misses_for`] and `GET /_replica/misses[?scope=S]`.
//!
//! Replay does not check credentials: cassettes never hold them. The journal still
//! records how each request authenticated.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use wiremock::http::HeaderMap;
use wiremock::{Request, Respond, ResponseTemplate};

use super::front::{Answer, Responder};

use super::auth::AuthKind;
use super::config::{Deployment, DeploymentKind, ReplicaConfig};
use super::journal::{Journal, JournalEntry};
use super::routes::{self, Operation, RouteKind};
use super::server::{header, host_of, journal_listing, query_param, serve_with, ReplicaHandle};
use super::{ReplicaError, SCOPE_HEADER};
use crate::cassette::{IncomingRequest, RecordedResponse, ReplayStore, Replayer, MISS_CODE};

/// The replay misses as JSON, for out-of-process callers (GET; no auth).
pub const MISSES_PATH: &str = "/_replica/misses";

/// Serves `store` on an OS-chosen loopback port.
pub async fn start_replay(store: ReplayStore) -> Result<ReplicaHandle, ReplicaError> {
    start_replay_on(store, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Serves `store` on `addr`.
pub(crate) async fn start_replay_on(
    store: ReplayStore,
    addr: SocketAddr,
) -> Result<ReplicaHandle, ReplicaError> {
    // Replay checks no key (cassettes hold none), so the config's key stays empty.
    let mut config = ReplicaConfig::with_builtin_deployments(String::new());
    config.deployments = deployments_of(&store);
    let config = Arc::new(config);
    let journal = Journal::new(config.journal_capacity);
    let replayer = Arc::new(Replayer::new(store));
    let responder = ReplayResponder {
        replayer: replayer.clone(),
        journal: journal.clone(),
    };
    serve_with(
        Arc::new(responder),
        addr,
        crate::ServerTimeouts::default(),
        config,
        journal,
        Some(replayer),
    )
}

struct ReplayResponder {
    replayer: Arc<Replayer>,
    journal: Journal,
}

impl Respond for ReplayResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.answer(request).into()
    }
}

impl Responder for ReplayResponder {
    fn answer(&self, request: &Request) -> Answer {
        let method = request.method.as_str();
        let path = request.url.path();
        let route = routes::parse(method, path, request.url.query());
        if route.kind == RouteKind::Journal {
            return journal_listing(&self.journal, request);
        }
        if method == "GET" && path == MISSES_PATH {
            let misses = match query_param(request, "scope") {
                Some(s) => self.replayer.misses_for(&s),
                None => self.replayer.misses(),
            };
            let body = serde_json::to_vec(&misses).unwrap_or_else(|_| b"[]".to_vec());
            return Answer::new(200).set_body_raw(body, "application/json");
        }
        let scope = header(request, SCOPE_HEADER);
        let incoming = IncomingRequest {
            method: method.to_string(),
            path: path.to_string(),
            body: request.body.clone(),
        };
        let body: Option<Value> = serde_json::from_slice(&request.body).ok();
        let (status, template) = match self.replayer.answer(scope.as_deref(), &incoming) {
            Ok(recorded) => {
                let r = &recorded.exchange.response;
                (r.status, template(r))
            }
            Err(miss) => {
                let error = json!({"error": {
                    "code": MISS_CODE,
                    "message": miss.message(),
                    "closest": miss.closest,
                }});
                let bytes = serde_json::to_vec(&error).unwrap_or_default();
                (
                    400,
                    Answer::new(400).set_body_raw(bytes, "application/json"),
                )
            }
        };
        let body_str = |k: &str| body.as_ref().and_then(|b| b.get(k)).cloned();
        self.journal.record(JournalEntry {
            method: method.to_string(),
            route: route.kind,
            path: request.url.path().to_string(),
            host: host_of(request),
            deployment: route
                .deployment
                .clone()
                .or_else(|| body_str("model").and_then(|m| m.as_str().map(str::to_string))),
            api_version: route.api_version.clone(),
            auth: auth_kind(&request.headers),
            status,
            scope,
            stream: body_str("stream") == Some(Value::Bool(true)),
            fault: None,
        });
        template
    }
}

fn template(r: &RecordedResponse) -> Answer {
    let mut t = Answer::new(r.status).set_body_raw(r.body_bytes(), &r.content_type());
    for (name, value) in &r.headers {
        if name != "content-type" {
            t = t.insert_header(name.as_str(), value.as_str());
        }
    }
    t
}

fn auth_kind(headers: &HeaderMap) -> AuthKind {
    if headers.contains_key("api-key") {
        AuthKind::ApiKey
    } else if headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "))
    {
        AuthKind::Bearer
    } else {
        AuthKind::None
    }
}

/// The deployments the cassettes answer for, with the model snapshot their responses
/// name, so [`ReplicaHandle::config`] describes a replaying replica too.
fn deployments_of(store: &ReplayStore) -> Vec<Deployment> {
    let mut out: Vec<Deployment> = Vec::new();
    for r in store.exchanges() {
        let req = &r.exchange.request;
        let route = routes::parse(&req.method, &req.path, None);
        let Some(op) = route.kind.operation() else {
            continue;
        };
        let name = route.deployment.or_else(|| {
            req.body
                .as_ref()
                .and_then(|b| b.get("model"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            continue;
        };
        let model = response_model(&r.exchange.response);
        match out.iter_mut().find(|d| d.name == name) {
            Some(d) if d.model.is_empty() => d.model = model.unwrap_or_default(),
            Some(_) => {}
            None => {
                let mut d = Deployment::new(name, model.unwrap_or_default());
                d.kind = Some(match op {
                    Operation::Chat | Operation::Responses => DeploymentKind::Chat,
                    Operation::Embeddings => DeploymentKind::Embedding,
                });
                out.push(d);
            }
        }
    }
    out
}

/// The first non-empty `model` in a response body or stream.
fn response_model(r: &RecordedResponse) -> Option<String> {
    let model = |v: &Value| {
        v.get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
    };
    if let Some(b) = &r.body {
        return model(b);
    }
    r.events.as_ref()?.iter().find_map(|e| model(&e.data))
}
