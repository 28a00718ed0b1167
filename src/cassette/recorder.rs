//! The recording proxy: a loopback HTTP/1.1 server that forwards every request to an
//! upstream (a live Azure resource, or the replica in tests), returns the upstream's
//! answer unchanged, and records the exchange under the request's scope.
//!
//! Clients reach it as an HTTP proxy (absolute-form targets such as
//! `POST http://contoso.openai.azure.com/openai/...`, the host kept for instrumentors) or
//! directly (origin-form, with the proxy URL as their endpoint). TLS tunnels (`CONNECT`)
//! cannot be recorded and get a 501: clients must use `http://` endpoints and let the
//! proxy speak `https://` to the upstream.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::accept::{declared_length, read_limited, ReadError, TimedBody};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::model::Exchange;
use super::traffic::{self, RawRequest, RawResponse};
use super::write::{write_cassettes, WriteOptions};
use super::{lock, CassetteError};
use crate::redact::{Redactor, MIN_SECRET_CHARS};
use crate::wire::SCOPE_HEADER;

/// Request headers that describe one hop, not the request; never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Headers whose values are credentials: forwarded, and remembered as secrets to scrub.
const CREDENTIAL_HEADERS: &[&str] = &["api-key", "authorization", "ocp-apim-subscription-key"];

/// How the recorder listens and where it forwards.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Base URL requests are forwarded to, e.g. `https://contoso.openai.azure.com` (an
    /// `https` upstream needs reqwest's TLS support) or the replica's `http://127.0.0.1:P`.
    pub upstream: String,
    /// Strings scrubbed from everything written, besides the credentials seen in requests.
    pub secrets: Vec<String>,
    /// Where to listen (default `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// Per upstream request.
    pub timeout: Duration,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
}

impl RecorderConfig {
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            secrets: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Duration::from_secs(120),
            max_body_bytes: crate::wire::MAX_BODY_BYTES,
        }
    }
}

/// What the server task shares with the handle.
#[derive(Debug)]
struct State {
    upstream: String,
    client: reqwest::Client,
    max_body_bytes: usize,
    next: AtomicU64,
    /// (arrival order, scope, exchange); sorted by arrival when read.
    recorded: Mutex<Vec<(u64, Option<String>, Exchange)>>,
    /// Configured secrets plus credentials seen in requests.
    secrets: Mutex<BTreeSet<String>>,
}

/// A running recording proxy; dropping it stops the server.
#[derive(Debug)]
pub struct Recorder {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Binds the proxy and starts serving on the current tokio runtime.
    pub async fn start(config: RecorderConfig) -> Result<Self, CassetteError> {
        let upstream = config.upstream.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&upstream)
            .map_err(|e| CassetteError::Config(format!("upstream {upstream:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(CassetteError::Config(format!(
                "upstream {upstream:?} must be an http:// or https:// base URL"
            )));
        }
        // The upstream is reached the way a live app reaches it: through the
        // environment's HTTP(S)_PROXY when one is set (apps are pointed at the recorder
        // explicitly, never through this process's environment).
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CassetteError::Config(format!("HTTP client: {e}")))?;
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| CassetteError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| CassetteError::Bind {
                addr: config.addr,
                source,
            })?;
        let state = Arc::new(State {
            upstream,
            client,
            max_body_bytes: config.max_body_bytes,
            next: AtomicU64::new(0),
            recorded: Mutex::new(Vec::new()),
            secrets: Mutex::new(config.secrets.into_iter().collect()),
        });
        let served = state.clone();
        let task = tokio::spawn(crate::accept::serve(
            listener,
            crate::ServerTimeouts::default(),
            move || {
                let state = served.clone();
                hyper::service::service_fn(move |req| handle(req, state.clone()))
            },
        ));
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`: use it as the app's HTTP proxy or as its endpoint.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// Exchanges recorded so far, in arrival order, with secrets already scrubbed (no
    /// host anonymization): safe to print.
    pub fn exchanges(&self) -> Vec<(Option<String>, Exchange)> {
        let redactor = self.redactor();
        self.ordered()
            .into_iter()
            .map(|(scope, e)| (scope, super::redact::exchange(&redactor, &e)))
            .collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.state.recorded).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes what was recorded under `dir` (see [`write_cassettes`]); returns the files.
    /// `run_redactor` holds the secrets the run knows; the credentials the proxy saw are
    /// added to them.
    pub fn write(
        &self,
        dir: &Path,
        options: &WriteOptions,
        run_redactor: &Redactor,
    ) -> Result<Vec<PathBuf>, CassetteError> {
        let secrets: Vec<String> = lock(&self.state.secrets).iter().cloned().collect();
        write_cassettes(dir, &self.ordered(), &secrets, run_redactor, options)
    }

    /// Stops the server and waits until the port is free.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    fn ordered(&self) -> Vec<(Option<String>, Exchange)> {
        let mut recorded = lock(&self.state.recorded).clone();
        recorded.sort_by_key(|(n, _, _)| *n);
        recorded.into_iter().map(|(_, s, e)| (s, e)).collect()
    }

    fn redactor(&self) -> Redactor {
        let secrets = lock(&self.state.secrets);
        Redactor::new(secrets.iter().map(String::as_str), None)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// A proxy-side failure in the service's own error shape, so clients surface it.
fn proxy_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(req: Request<TimedBody>, state: Arc<State>) -> Result<HttpResponse, Infallible> {
    if req.method() == Method::CONNECT {
        return Ok(proxy_error(
            501,
            "hh_compat_proxy_tunnel",
            "the recording proxy cannot record TLS tunnels; give the app an http:// endpoint \
             (the proxy speaks https to the upstream)",
        ));
    }
    let seq = state.next.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let declared = declared_length(&parts.headers);
    let body = match read_limited(body, declared, state.max_body_bytes).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => {
            return Ok(proxy_error(
                413,
                "hh_compat_proxy_body",
                "the request body is too large",
            ))
        }
        Err(ReadError::TimedOut) => {
            return Ok(proxy_error(
                408,
                "hh_compat_proxy_body",
                "the request body did not arrive in time",
            ))
        }
        Err(ReadError::Failed(_)) => {
            return Ok(proxy_error(
                400,
                "hh_compat_proxy_body",
                "the request body was cut off",
            ))
        }
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let scope = parts
        .headers
        .get(SCOPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let target = match &query {
        Some(q) => format!("{}{path}?{q}", state.upstream),
        None => format!("{}{path}", state.upstream),
    };
    let method = match reqwest::Method::from_bytes(parts.method.as_str().as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            return Ok(proxy_error(
                405,
                "hh_compat_proxy_method",
                "unsupported method",
            ))
        }
    };
    let mut forwarded = reqwest::header::HeaderMap::new();
    for (name, value) in &parts.headers {
        let lower = name.as_str().to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        if CREDENTIAL_HEADERS.contains(&lower.as_str()) {
            remember_credential(&state, value.to_str().unwrap_or_default());
        }
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            forwarded.append(n, v);
        }
    }
    let upstream = state
        .client
        .request(method, &target)
        .headers(forwarded)
        .body(body.clone())
        .send()
        .await;
    let response = match upstream {
        Ok(r) => r,
        Err(e) => {
            // The error text names the URL, never a header; it is safe to return.
            let message = format!("the upstream did not answer: {e}");
            return Ok(proxy_error(502, "hh_compat_proxy_upstream", &message));
        }
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let response_body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let message = format!("the upstream's body broke off: {e}");
            return Ok(proxy_error(502, "hh_compat_proxy_upstream", &message));
        }
    };
    let exchange = traffic::exchange(
        &RawRequest {
            method: parts.method.as_str(),
            path: &path,
            query: query.as_deref(),
            body: &body,
        },
        &RawResponse {
            status,
            headers: headers.clone(),
            body: &response_body,
        },
    );
    lock(&state.recorded).push((seq, scope, exchange));

    let mut builder = Response::builder().status(status);
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if !HOP_BY_HOP.contains(&lower.as_str()) {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    Ok(builder
        .body(Full::new(response_body))
        .unwrap_or_else(|_| proxy_error(502, "hh_compat_proxy_upstream", "bad upstream headers")))
}

/// Keeps a credential (an `api-key`, or the token of `Authorization: Bearer …`) to scrub.
fn remember_credential(state: &State, value: &str) {
    let value = value.trim();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim();
    if token.chars().count() >= MIN_SECRET_CHARS {
        lock(&state.secrets).insert(token.to_string());
    }
}
