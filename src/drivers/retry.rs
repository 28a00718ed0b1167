//! The rust driver's HTTP retry policy, made explicit.
//!
//! async-openai retries 429s by itself, honouring only `retry-after` in whole seconds.
//! The driver replaces that with this service so the number of requests per call is
//! fixed by the driver (and visible in the replica's journal) and Azure's
//! `retry-after-ms` is honoured, as openai-python does. Retries happen below the
//! instrumentation, so one logical call is one span however many attempts it took.

use crate::instrument::RawResponseTap;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// How a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first; 0 disables retries.
    pub max_retries: u32,
    /// The longest the driver waits between attempts, whatever the service asks.
    pub max_delay: Duration,
    /// The first wait when the service gives no hint; it doubles on every attempt.
    pub default_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            max_delay: Duration::from_secs(8),
            default_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// No retries: offline, every request a cell makes is one the matrix planned.
    pub(crate) const NONE: RetryPolicy = RetryPolicy {
        max_retries: 0,
        max_delay: Duration::from_secs(8),
        default_delay: Duration::from_millis(500),
    };

    /// Against a live resource: enough patience for a busy deployment, bounded so a
    /// dead one turns into an `error` within a minute or so.
    pub(crate) const LIVE: RetryPolicy = RetryPolicy {
        max_retries: 4,
        max_delay: Duration::from_secs(20),
        default_delay: Duration::from_secs(1),
    };

    /// Retries 429, 408 and 5xx, like openai-python.
    pub(crate) fn is_retryable(status: u16) -> bool {
        status == 429 || status == 408 || (500..600).contains(&status)
    }

    /// The wait before retry number `attempt` (0-based): what the response asks for
    /// (`retry-after-ms` first, then `retry-after` seconds), else exponential backoff.
    pub(crate) fn delay_for(
        &self,
        headers: Option<&reqwest::header::HeaderMap>,
        attempt: u32,
    ) -> Duration {
        let read = |name: &str| {
            headers?
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let asked = read("retry-after-ms")
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .or_else(|| read("retry-after").map(Duration::from_secs_f64))
            .unwrap_or_else(|| self.default_delay.saturating_mul(1 << attempt.min(16)));
        asked.min(self.max_delay)
    }
}

/// One answer that was not a success, or a transport failure, as a support engineer
/// needs it: the status, Azure's error code and the ids Azure support asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The HTTP status; `None` when no response came (timeout, connection refused).
    pub status: Option<u16>,
    /// `error.code` from the body, e.g. `429` or `DeploymentNotFound`.
    pub code: Option<String>,
    /// `apim-request-id` and `x-request-id`, as `name=value`.
    pub request_ids: Vec<String>,
    /// What the transport said, when there was no response.
    pub transport: Option<String>,
    /// The wait before the next attempt, when the call was retried.
    pub retried_after: Option<Duration>,
}

impl Attempt {
    /// `HTTP 429 (429), apim-request-id=…` or the transport failure.
    pub(crate) fn describe(&self) -> String {
        let mut out = match (self.status, &self.transport) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(t)) => t.clone(),
            (None, None) => "no response".to_string(),
        };
        if let Some(code) = &self.code {
            out.push_str(&format!(" ({code})"));
        }
        for id in &self.request_ids {
            out.push_str(&format!(", {id}"));
        }
        out
    }
}

/// Failed attempts of every call made through one [`RetryingService`], shared with the
/// driver so retries and request ids reach the cell's findings.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttemptLog(Arc<Mutex<Vec<Attempt>>>);

impl AttemptLog {
    fn push(&self, attempt: Attempt) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(attempt);
    }

    /// Every failed attempt so far, oldest first.
    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The request ids of the last failed attempt, for an error message.
    pub(crate) fn last_request_ids(&self) -> Vec<String> {
        self.attempts()
            .last()
            .map(|a| a.request_ids.clone())
            .unwrap_or_default()
    }
}

/// A successful response, handed on unchanged after `tap` has seen it: a JSON body is
/// read whole (it is small), a stream is scanned as it passes so timing is unaffected.
async fn tapped(
    response: reqwest::Response,
    tap: RawResponseTap,
) -> Result<reqwest::Response, OpenAIError> {
    let streamed = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (status, headers) = (response.status(), response.headers().clone());
    let body = if streamed {
        let mut scanner = tap.stream_scanner();
        reqwest::Body::wrap_stream(response.bytes_stream().map(move |chunk| {
            if let Ok(bytes) = &chunk {
                scanner.feed(bytes);
            }
            chunk
        }))
    } else {
        let bytes = response.bytes().await.map_err(OpenAIError::Reqwest)?;
        tap.record_body(&bytes);
        reqwest::Body::from(bytes)
    };
    Ok(rebuilt(status, headers, body))
}

/// A response with the status and headers of one that was read here, and `body`: how
/// a response this layer had to look into is handed on unchanged.
fn rebuilt(
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut response = http::Response::new(body.into());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    reqwest::Response::from(response)
}

/// The response headers that identify a request to Azure support.
const REQUEST_ID_HEADERS: &[&str] = &["apim-request-id", "x-request-id", "x-ms-request-id"];

fn request_ids(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    REQUEST_ID_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(format!("{name}={value}"))
        })
        .collect()
}

fn error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("error")?.get("code")?;
    match code {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A tower service that sends through reqwest, retries per a [`RetryPolicy`], and
/// logs every failed attempt.
#[derive(Debug, Clone)]
pub(crate) struct RetryingService {
    client: reqwest::Client,
    policy: RetryPolicy,
    log: AttemptLog,
    headers: reqwest::header::HeaderMap,
    tap: Option<RawResponseTap>,
}

impl RetryingService {
    pub(crate) fn new(client: reqwest::Client, policy: RetryPolicy, log: AttemptLog) -> Self {
        Self {
            client,
            policy,
            log,
            headers: reqwest::header::HeaderMap::new(),
            tap: None,
        }
    }

    /// Hands what the typed response will drop (Azure's `prompt_filter_results`) to
    /// the instrumentor, reading successful bodies as they pass.
    pub(crate) fn with_raw_tap(mut self, tap: RawResponseTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Adds a header to every request (the client is shared; this is per cell).
    pub(crate) fn with_header(
        mut self,
        name: &'static str,
        value: reqwest::header::HeaderValue,
    ) -> Self {
        self.headers.insert(name, value);
        self
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for RetryingService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let (client, headers, tap) = (self.client.clone(), self.headers.clone(), self.tap.clone());
        let (policy, log) = (self.policy, self.log.clone());
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let retries_left = attempt < policy.max_retries;
                let mut built = request.build().await?;
                built.headers_mut().extend(headers.clone());
                let response = match client.execute(built).await {
                    Ok(response) => response,
                    Err(e) if e.is_timeout() || e.is_connect() => {
                        let delay = policy.delay_for(None, attempt);
                        log.push(Attempt {
                            status: None,
                            code: None,
                            request_ids: Vec::new(),
                            transport: Some(e.to_string()),
                            retried_after: retries_left.then_some(delay),
                        });
                        if !retries_left {
                            return Err(OpenAIError::Reqwest(e));
                        }
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    Err(other) => return Err(OpenAIError::Reqwest(other)),
                };
                let status = response.status();
                if status.is_success() {
                    return match tap {
                        Some(tap) => tapped(response, tap).await,
                        None => Ok(response),
                    };
                }
                // A failed answer is small: read it for Azure's error code, then hand
                // an identical response on to the client when it is not retried.
                let delay = policy.delay_for(Some(response.headers()), attempt);
                let retry = retries_left && RetryPolicy::is_retryable(status.as_u16());
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(OpenAIError::Reqwest)?;
                log.push(Attempt {
                    status: Some(status.as_u16()),
                    code: error_code(&body),
                    request_ids: request_ids(&headers),
                    transport: None,
                    retried_after: retry.then_some(delay),
                });
                if !retry {
                    return Ok(rebuilt(status, headers, body));
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn prefers_retry_after_ms_and_caps_the_delay() {
        let policy = RetryPolicy::default();
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(policy.delay_for(Some(&h), 0), Duration::from_secs(2));
        h.insert("retry-after-ms", HeaderValue::from_static("20"));
        assert_eq!(policy.delay_for(Some(&h), 3), Duration::from_millis(20));
        h.insert("retry-after-ms", HeaderValue::from_static("999999"));
        assert_eq!(policy.delay_for(Some(&h), 0), policy.max_delay);
    }

    #[test]
    fn without_a_hint_the_wait_doubles_up_to_the_cap() {
        let policy = RetryPolicy::LIVE;
        let none = HeaderMap::new();
        assert_eq!(policy.delay_for(Some(&none), 0), Duration::from_secs(1));
        assert_eq!(policy.delay_for(None, 1), Duration::from_secs(2));
        assert_eq!(policy.delay_for(None, 2), Duration::from_secs(4));
        assert_eq!(policy.delay_for(None, 30), policy.max_delay);
    }

    #[test]
    fn attempts_describe_what_support_asks_for() {
        let mut h = HeaderMap::new();
        h.insert("apim-request-id", HeaderValue::from_static("abc-123"));
        h.insert("x-request-id", HeaderValue::from_static("def"));
        let attempt = Attempt {
            status: Some(503),
            code: error_code(br#"{"error":{"code":"ServiceUnavailable","message":"busy"}}"#),
            request_ids: request_ids(&h),
            transport: None,
            retried_after: None,
        };
        assert_eq!(
            attempt.describe(),
            "HTTP 503 (ServiceUnavailable), apim-request-id=abc-123, x-request-id=def"
        );
        assert_eq!(
            error_code(br#"{"error":{"code":429}}"#).as_deref(),
            Some("429")
        );
        assert_eq!(error_code(b"not json"), None);
    }

    #[test]
    fn retries_only_transient_statuses() {
        for s in [429, 408, 500, 503] {
            assert!(RetryPolicy::is_retryable(s), "{s}");
        }
        for s in [200, 400, 401, 404, 413] {
            assert!(!RetryPolicy::is_retryable(s), "{s}");
        }
    }
}
