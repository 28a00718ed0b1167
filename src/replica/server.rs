//! Starting the replica, and the one responder that answers every request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wiremock::{Request, Respond, ResponseTemplate};

use super::auth::{self, AuthKind};
use super::chat::{self, Flavor};
use super::config::{DeploymentKind, FaultKind, ReplicaConfig};
use super::embeddings;
use super::errors;
use super::faults::{Active, FaultCounters, DEFAULT_RETRY_AFTER_MS};
use super::front::{self, Answer, Front, Responder};
use super::journal::{Journal, JournalEntry};
use super::reply::Reply;
use super::responses;
use super::routes::{self, Api, Operation, RouteKind};
use super::stream::{self, StreamFaults};
use super::versions::{is_supported_api_version, V1_API_VERSIONS};
use super::{ReplicaError, SCOPE_HEADER};
use crate::cassette::{ReplayMiss, Replayer};
use crate::ServerTimeouts;

/// A running replica; dropping it stops the server.
pub struct ReplicaHandle {
    server: Front,
    journal: Journal,
    config: Arc<ReplicaConfig>,
    /// Set when the replica answers from cassettes ([`super::start_replay`]).
    replayer: Option<Arc<Replayer>>,
}

impl std::fmt::Debug for ReplicaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaHandle")
            .field("address", self.server.address())
            .field("deployments", &self.config.deployments.len())
            .finish_non_exhaustive()
    }
}

impl ReplicaHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    pub fn address(&self) -> SocketAddr {
        *self.server.address()
    }

    pub fn journal(&self) -> Journal {
        self.journal.clone()
    }

    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }

    /// True when answers come from cassettes instead of being generated.
    pub fn is_replay(&self) -> bool {
        self.replayer.is_some()
    }

    /// Every request no cassette exchange matched, in order (empty when not replaying).
    pub fn replay_misses(&self) -> Vec<ReplayMiss> {
        self.replayer
            .as_ref()
            .map(|r| r.misses())
            .unwrap_or_default()
    }

    /// The replay misses of requests that carried the scope header `scope`.
    pub fn replay_misses_for(&self, scope: &str) -> Vec<ReplayMiss> {
        self.replayer
            .as_ref()
            .map(|r| r.misses_for(scope))
            .unwrap_or_default()
    }
}

/// Starts a replica on an OS-chosen loopback port.
pub async fn start(config: ReplicaConfig) -> Result<ReplicaHandle, ReplicaError> {
    start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts a replica on `addr`.
pub(crate) async fn start_on(
    config: ReplicaConfig,
    addr: SocketAddr,
) -> Result<ReplicaHandle, ReplicaError> {
    start_with(config, addr, ServerTimeouts::default()).await
}

/// Starts a replica on `addr` that gives clients `timeouts` to send their requests.
pub async fn start_with(
    config: ReplicaConfig,
    addr: SocketAddr,
    timeouts: ServerTimeouts,
) -> Result<ReplicaHandle, ReplicaError> {
    validate(&config)?;
    let config = Arc::new(config);
    let journal = Journal::new(config.journal_capacity);
    let replica = Replica {
        config: config.clone(),
        journal: journal.clone(),
        faults: FaultCounters::default(),
        counter: AtomicU64::new(0),
    };
    serve_with(Arc::new(replica), addr, timeouts, config, journal, None)
}

/// Binds `addr` and serves `responder` on it.
pub(super) fn serve_with(
    responder: Arc<dyn Responder>,
    addr: SocketAddr,
    timeouts: ServerTimeouts,
    config: Arc<ReplicaConfig>,
    journal: Journal,
    replayer: Option<Arc<Replayer>>,
) -> Result<ReplicaHandle, ReplicaError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ReplicaError::Bind { addr, source })?;
    let server = front::spawn(listener, responder, timeouts)?;
    Ok(ReplicaHandle {
        server,
        journal,
        config,
        replayer,
    })
}

fn validate(config: &ReplicaConfig) -> Result<(), ReplicaError> {
    if config.api_key.is_empty() {
        return Err(ReplicaError::Config("the api key must not be empty".into()));
    }
    if config.stream_interval_us > super::config::MAX_STREAM_INTERVAL_US {
        return Err(ReplicaError::Config(format!(
            "stream_interval_us {} is over the limit of {}",
            config.stream_interval_us,
            super::config::MAX_STREAM_INTERVAL_US
        )));
    }
    for (i, d) in config.deployments.iter().enumerate() {
        if d.name.is_empty() || d.name.contains('/') {
            return Err(ReplicaError::Config(format!(
                "deployment name {:?} is not a valid URL segment",
                d.name
            )));
        }
        if config.deployments[..i].iter().any(|o| o.name == d.name) {
            return Err(ReplicaError::Config(format!(
                "deployment {:?} is defined twice",
                d.name
            )));
        }
    }
    Ok(())
}

struct Replica {
    config: Arc<ReplicaConfig>,
    journal: Journal,
    faults: FaultCounters,
    counter: AtomicU64,
}

/// Facts about a request gathered while handling it, for the journal.
struct Facts {
    deployment: Option<String>,
    /// The deployment that answered (found, and of the right kind).
    served: Option<String>,
    auth: AuthKind,
    stream: bool,
    fault: Option<FaultKind>,
}

impl Respond for Replica {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.answer(request).into()
    }
}

impl Responder for Replica {
    fn refuse(&self, request: &Request, reply: Reply) -> Answer {
        let route = routes::parse(
            request.method.as_str(),
            request.url.path(),
            request.url.query(),
        );
        let auth = route.kind.api().map_or(AuthKind::None, |api| {
            auth::check(&request.headers, api, &self.config.api_key).0
        });
        self.journal.record(JournalEntry {
            method: request.method.as_str().to_string(),
            route: route.kind,
            path: request.url.path().to_string(),
            host: host_of(request),
            deployment: route.deployment.clone(),
            api_version: route.api_version.clone(),
            auth,
            status: reply.status,
            scope: header(request, SCOPE_HEADER),
            stream: false,
            fault: None,
        });
        self.template(reply, route.kind.api(), &Echo::default())
    }

    fn answer(&self, request: &Request) -> Answer {
        let route = routes::parse(
            request.method.as_str(),
            request.url.path(),
            request.url.query(),
        );
        let scope = header(request, SCOPE_HEADER);
        if route.kind == RouteKind::Journal {
            return journal_listing(&self.journal, request);
        }
        let mut facts = Facts {
            deployment: route.deployment.clone(),
            served: None,
            auth: AuthKind::None,
            stream: false,
            fault: None,
        };
        let reply = self.handle(request, &route, scope.as_deref(), &mut facts);
        let echo = Echo {
            deployment: facts.served.take(),
            client_request_id: header(request, CLIENT_REQUEST_ID),
            prompt_filtered: facts.fault == Some(FaultKind::PromptFilter),
            v1: route.kind.api() == Some(Api::AzureV1),
            gateway_404: reply.status == 404 && facts.deployment.is_none(),
            responses: route.kind.operation() == Some(Operation::Responses),
        };
        self.journal.record(JournalEntry {
            method: request.method.as_str().to_string(),
            route: route.kind,
            path: request.url.path().to_string(),
            host: host_of(request),
            deployment: facts.deployment,
            api_version: route.api_version.clone(),
            auth: facts.auth,
            status: reply.status,
            scope,
            stream: facts.stream,
            fault: facts.fault,
        });
        self.template(reply, route.kind.api(), &echo)
    }
}

/// The request header Azure echoes on successes.
const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";

/// What of the request an answer's headers repeat.
#[derive(Debug, Default)]
struct Echo {
    /// The deployment that answered, for `x-ms-deployment-name`.
    deployment: Option<String>,
    /// The request's `x-ms-client-request-id`.
    client_request_id: Option<String>,
    /// The answer is a prompt-filter 400 (Azure names the deployment on those too).
    prompt_filtered: bool,
    /// The request came on the v1 route.
    v1: bool,
    /// The answer is the gateway's 404 for a path (or missing api-version) it does not serve.
    gateway_404: bool,
    /// The request came on a Responses API route.
    responses: bool,
}

pub(super) fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The host the client addressed: `Host`, else an absolute-form target's authority.
pub(super) fn host_of(request: &Request) -> Option<String> {
    header(request, "host").or_else(|| {
        // wiremock fills origin-form targets in as http://localhost/…
        let h = request.url.host_str()?;
        (h != "localhost").then(|| match request.url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    })
}

impl Replica {
    /// The month whose shapes this replica answers in.
    fn shapes(&self) -> super::shapes::Shapes {
        self.config.shapes.unwrap_or_default()
    }

    fn handle(
        &self,
        request: &Request,
        route: &routes::Route,
        scope: Option<&str>,
        facts: &mut Facts,
    ) -> Reply {
        let (Some(api), Some(op)) = (route.kind.api(), route.kind.operation()) else {
            return errors::resource_not_found();
        };
        if api == Api::Azure && route.api_version.is_none() {
            return errors::resource_not_found();
        }
        let (auth_kind, failure) = auth::check(&request.headers, api, &self.config.api_key);
        facts.auth = auth_kind;
        if let Some(failure) = failure {
            return errors::unauthorized(api, failure);
        }
        match (api, route.api_version.as_deref()) {
            (Api::Azure, Some(v)) if !is_supported_api_version(v) => {
                return errors::api_version_not_supported()
            }
            // Versions before the Responses API have no such path.
            (Api::Azure, Some(v))
                if op == Operation::Responses && !responses::dated_route_serves(v) =>
            {
                return errors::resource_not_found()
            }
            (Api::AzureV1, Some(v)) if !V1_API_VERSIONS.contains(&v) => {
                return errors::api_version_not_supported()
            }
            _ => {}
        }
        // Bodies over the limit never get here: the front refuses them unread.

        let mut parsed: Option<Value> = None;
        // The dated route names the deployment in its path, except for responses.
        let named_in_path = api == Api::Azure && op != Operation::Responses;
        let deployment = match api {
            _ if named_in_path => {
                let name = route.deployment.as_deref().unwrap_or_default();
                match self.config.deployments.iter().find(|d| d.name == name) {
                    Some(d) => d,
                    None => return errors::deployment_not_found(api, name, self.shapes()),
                }
            }
            _ => {
                let body = match parse_body(&request.body) {
                    Ok(b) => b,
                    Err(reply) => return reply,
                };
                let name = match body.get("model") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => return errors::missing_param("model"),
                    Some(other) => {
                        return errors::invalid_type("model", "a string", chat::type_name(other))
                    }
                };
                parsed = Some(body);
                facts.deployment = Some(name.clone());
                let found = self
                    .config
                    .deployments
                    .iter()
                    .find(|d| d.name == name)
                    .or_else(|| {
                        // The plain OpenAI API names models, not deployments.
                        (api == Api::OpenAi)
                            .then(|| self.config.deployments.iter().find(|d| d.model == name))
                            .flatten()
                    });
                match found {
                    Some(d) => d,
                    None => return errors::deployment_not_found(api, &name, self.shapes()),
                }
            }
        };
        let wanted = match op {
            Operation::Chat | Operation::Responses => DeploymentKind::Chat,
            Operation::Embeddings => DeploymentKind::Embedding,
        };
        if deployment.kind() != wanted {
            return match api {
                Api::OpenAi => errors::openai_shape(
                    404,
                    "This is not a chat model and thus not supported in the v1/chat/completions endpoint.",
                    Some("invalid_request_error"),
                    Some("model"),
                    None,
                ),
                _ => errors::operation_not_supported(op, &deployment.model),
            };
        }
        let body = match parsed {
            Some(b) => b,
            None => match parse_body(&request.body) {
                Ok(b) => b,
                Err(reply) => return reply,
            },
        };
        facts.served = Some(deployment.name.clone());
        let flavor = if api == Api::OpenAi {
            Flavor::OpenAi
        } else {
            Flavor::Azure
        };
        match op {
            Operation::Chat => {
                let api_version = if api == Api::Azure {
                    route.api_version.as_deref()
                } else {
                    None
                };
                let req = match chat::validate(&body, api_version) {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let active = match self.faults_for(scope, deployment, req.stream, route, facts) {
                    Ok(a) => a,
                    Err(reply) => return reply,
                };
                let mut plan = chat::plan(&req, &deployment.model, active.output_filter);
                if flavor == Flavor::Azure {
                    plan.shapes = self.shapes();
                }
                let reply = if req.stream {
                    Reply::event_stream(stream::body(&plan, flavor, StreamFaults::from(&active)))
                } else {
                    Reply::json(200, chat::body(&plan, flavor))
                };
                reply.with_delay(active.latency)
            }
            Operation::Responses => {
                let req = match responses::validate(&body) {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let active = match self.faults_for(scope, deployment, req.stream, route, facts) {
                    Ok(a) => a,
                    Err(reply) => return reply,
                };
                let plan = responses::plan(&req, &deployment.model);
                let reply = if req.stream {
                    Reply::event_stream(responses::stream_body(&plan))
                } else {
                    Reply::json(200, responses::body(&plan))
                };
                reply.with_delay(active.latency)
            }
            Operation::Embeddings => {
                let active = self.faults.resolve(scope, deployment, false);
                facts.fault = active.primary();
                if let Some(reply) = fault_error(&active, route.api_version.as_deref(), op) {
                    return reply.with_delay(active.latency);
                }
                embeddings::respond_for(&body, deployment, flavor == Flavor::Azure)
                    .with_delay(active.latency)
            }
        }
    }

    /// The faults active for this request, recorded in `facts`; `Err` is the error one of
    /// them answers with instead.
    fn faults_for(
        &self,
        scope: Option<&str>,
        deployment: &super::config::Deployment,
        stream: bool,
        route: &routes::Route,
        facts: &mut Facts,
    ) -> Result<Active, Reply> {
        facts.stream = stream;
        let active = self.faults.resolve(scope, deployment, stream);
        facts.fault = active.primary();
        let op = route.kind.operation().unwrap_or(Operation::Chat);
        match fault_error(&active, route.api_version.as_deref(), op) {
            Some(reply) => Err(reply.with_delay(active.latency)),
            None => Ok(active),
        }
    }

    /// The headers Azure sends with an answer of `status`, as recorded 2024-2026; and
    /// whether the rate-limit headers go too (only when a deployment was found).
    fn azure_headers(&self, mut t: Answer, status: u16, n: u64, echo: &Echo) -> (Answer, bool) {
        // Every answer has an `apim-request-id`; a 401 has nothing else.
        let id = super::content::request_uuid(n);
        t = t.insert_header("apim-request-id", id.as_str());
        if status == 401 {
            return (t, false);
        }
        t = t
            .insert_header(
                "strict-transport-security",
                "max-age=31536000; includeSubDomains; preload",
            )
            .insert_header("x-content-type-options", "nosniff");
        // The gateway's own 404 (no such route) names no region; a deployment's does.
        if !echo.gateway_404 {
            t = t.insert_header("x-ms-region", self.config.region.as_str());
        }
        let success = (200..300).contains(&status);
        let shapes = self.shapes();
        // Since 2025 a success names the deployment that answered, and so does a
        // prompt-filter 400, with `x-ms-rai-invoked` (recorded 2025-04 to 2026-04).
        if success && echo.responses {
            return (Self::responses_success_headers(t, n, echo), true);
        }
        if (success || echo.prompt_filtered) && shapes.deployment_name_header() {
            if let Some(name) = &echo.deployment {
                t = t.insert_header("x-ms-deployment-name", name);
            }
        }
        if echo.prompt_filtered && status == 400 {
            t = t.insert_header("x-ms-rai-invoked", "true");
        }
        if success {
            // A success echoes the client's request id (recorded 2024-12 to 2026-04); the
            // v1 route says `Not-Set` when there was none (recorded 2026-01). Only a
            // success has an `x-request-id`, with a value of its own.
            match (&echo.client_request_id, echo.v1) {
                (Some(id), _) => t = t.insert_header(CLIENT_REQUEST_ID, id),
                (None, true) => t = t.insert_header(CLIENT_REQUEST_ID, "Not-Set"),
                (None, false) => {}
            }
            let other = super::content::request_uuid(n ^ 0x5bd1_e995_5bd1_e995);
            t = t
                .insert_header("x-request-id", other.as_str())
                .insert_header("azureml-model-session", "d20260101000000-replica")
                .insert_header("x-ms-rai-invoked", "true")
                .insert_header("x-accel-buffering", "no");
            if shapes.rate_limit_resets() {
                t = t
                    .insert_header("x-ratelimit-abusepenalty-active", "False")
                    .insert_header("x-ratelimit-renewalperiod-requests", "60")
                    .insert_header("x-ratelimit-renewalperiod-tokens", "60")
                    .insert_header("x-ratelimit-reset-requests", "500")
                    .insert_header("x-ratelimit-reset-tokens", "7");
            }
        }
        // No rate-limit headers without a deployment: 404s, and the v1 route's 400 for an
        // unknown model (recorded 2026-01).
        (t, echo.deployment.is_some())
    }

    /// A Responses API success's own headers (recorded 2026-04): the rate-limit key and
    /// abuse-penalty flags, no deployment name, model session or `x-ms-rai-invoked`.
    fn responses_success_headers(mut t: Answer, n: u64, echo: &Echo) -> Answer {
        let client_id = echo.client_request_id.as_deref().unwrap_or("Not-Set");
        let other = super::content::request_uuid(n ^ 0x5bd1_e995_5bd1_e995);
        t = t
            .insert_header(CLIENT_REQUEST_ID, client_id)
            .insert_header("x-request-id", other.as_str())
            .insert_header("skip-error-remapping", "true")
            .insert_header("x-ms-is-spilled-over", "false")
            .insert_header("x-ratelimit-abusepenalty-active", "False")
            .insert_header("x-ratelimit-renewalperiod-requests", "60")
            .insert_header("x-ratelimit-renewalperiod-tokens", "60")
            .insert_header("x-ratelimit-reset-requests", "500")
            .insert_header("x-ratelimit-reset-tokens", "7");
        if let Some(name) = &echo.deployment {
            t = t.insert_header("x-ratelimit-key", name);
        }
        t
    }

    fn template(&self, reply: Reply, api: Option<Api>, echo: &Echo) -> Answer {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let streamed = reply.content_type.starts_with("text/event-stream");
        let mut t = Answer::new(reply.status).set_body_raw(reply.body, reply.content_type);
        if streamed {
            t = t.paced(Duration::from_micros(self.config.stream_interval_us));
        }
        let limited = reply.retry_after_ms.is_some();
        let mut rate_headers = true;
        match api {
            Some(Api::OpenAi) => {
                t = t
                    .insert_header(
                        "x-request-id",
                        &format!("req_{:032x}", super::content::hash(&n.to_le_bytes())),
                    )
                    .insert_header("openai-version", "2020-10-01")
                    .insert_header("openai-processing-ms", "12");
            }
            _ => (t, rate_headers) = self.azure_headers(t, reply.status, n, echo),
        }
        // Azure's limits pair arrived in 2025 (see `Shapes::rate_limit_limits`); OpenAI
        // sends it always.
        let limits = matches!(api, Some(Api::OpenAi)) || self.shapes().rate_limit_limits();
        if rate_headers && limits {
            t = t
                .insert_header("x-ratelimit-limit-requests", "100")
                .insert_header("x-ratelimit-limit-tokens", "100000");
        }
        if rate_headers {
            t = t
                .insert_header(
                    "x-ratelimit-remaining-requests",
                    if limited { "0" } else { "99" },
                )
                .insert_header(
                    "x-ratelimit-remaining-tokens",
                    if limited { "0" } else { "99000" },
                );
        }
        if let Some(ms) = reply.retry_after_ms {
            t = t
                .insert_header("retry-after", &ms.div_ceil(1000).max(1).to_string())
                .insert_header("retry-after-ms", &ms.to_string());
        }
        if let Some(d) = reply.delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// Most values a request's JSON may hold. A parsed value takes tens of bytes however
/// short its text (`1,` is two), so a 16 MiB body of tiny values would take more than
/// half a gigabyte as a tree; this keeps it to a few tens of MB. Well above what Azure's
/// own limits let a request carry (300,000 embedding tokens in all).
pub(super) const MAX_JSON_VALUES: usize = 400_000;

/// Parses a request body, refusing (before building the tree) one with more than
/// [`MAX_JSON_VALUES`] values.
fn parse_body(body: &[u8]) -> Result<Value, Reply> {
    if json_values_at_most(body) > MAX_JSON_VALUES {
        return Err(errors::too_many_values(MAX_JSON_VALUES));
    }
    serde_json::from_slice::<Value>(body).map_err(|_| errors::invalid_json())
}

/// An upper bound of the values in a JSON text: the top one, plus one per comma and per
/// opening bracket outside strings.
fn json_values_at_most(body: &[u8]) -> usize {
    let (mut n, mut in_string, mut escaped) = (1usize, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b'[' | b'{' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// `GET /_replica/journal[?scope=S]`: the journal as JSON.
pub(super) fn journal_listing(journal: &Journal, request: &Request) -> Answer {
    let entries = match query_param(request, "scope") {
        Some(s) => journal.for_scope(&s),
        None => journal.entries(),
    };
    let body = serde_json::to_vec(&entries).unwrap_or_else(|_| b"[]".to_vec());
    Answer::new(200).set_body_raw(body, "application/json")
}

pub(super) fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The error a fault replaces the response with, if any.
fn fault_error(active: &Active, api_version: Option<&str>, op: Operation) -> Option<Reply> {
    let fault = active.error.as_ref()?;
    Some(match fault.kind {
        FaultKind::RateLimit => errors::rate_limited(
            api_version,
            op,
            fault.retry_after_ms.unwrap_or(DEFAULT_RETRY_AFTER_MS),
        ),
        FaultKind::ServerError => errors::server_error(),
        FaultKind::ServiceUnavailable => errors::service_unavailable(fault.retry_after_ms),
        // A gateway timeout arrives after a wait; `ms` sets it (default: none, to keep tests fast).
        FaultKind::Timeout => errors::timeout().with_delay(fault.ms.map(Duration::from_millis)),
        FaultKind::PromptFilter => errors::prompt_filtered(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_counted_from_above_and_strings_are_skipped() {
        for text in [
            r#"{}"#,
            r#"[1,2,[3,{"a":[]}]]"#,
            r#"{"a":"x,[{\",","b":[1,2]}"#,
            r#""lone""#,
        ] {
            let tree: Value = serde_json::from_str(text).expect(text);
            fn count(v: &Value) -> usize {
                1 + match v {
                    Value::Array(a) => a.iter().map(count).sum(),
                    Value::Object(o) => o.values().map(count).sum(),
                    _ => 0,
                }
            }
            assert!(
                json_values_at_most(text.as_bytes()) >= count(&tree),
                "{text}"
            );
        }
        assert_eq!(json_values_at_most(br#"{"a":"x,[{\","#), 2);
    }

    #[test]
    fn bodies_with_too_many_values_are_refused_before_parsing() {
        let many = format!("[{}1]", "1,".repeat(MAX_JSON_VALUES));
        let refused = parse_body(many.as_bytes()).expect_err("too many");
        assert_eq!(refused.status, 400);
        let few = format!("[{}1]", "1,".repeat(1000));
        assert!(parse_body(few.as_bytes()).is_ok());
    }
}
