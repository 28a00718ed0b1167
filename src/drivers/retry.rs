//! The rust driver's HTTP retry policy, made explicit.
//!
//! async-openai retries 429s by itself, honouring only `retry-after` in whole seconds.
//! The driver replaces that with this service so the number of requests per call is
//! fixed by the driver (and visible in the replica's journal) and Azure's
//! `retry-after-ms` is honoured, as openai-python does. Retries happen below the
//! instrumentation, so one logical call is one span however many attempts it took.

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 disables retries.
    pub max_retries: u32,
    /// The longest the driver waits between attempts, whatever the service asks.
    pub max_delay: Duration,
    /// The wait when the service gives no hint.
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
    /// Retries 429, 408 and 5xx, like openai-python.
    pub fn is_retryable(status: u16) -> bool {
        status == 429 || status == 408 || (500..600).contains(&status)
    }

    /// The wait the response asks for: `retry-after-ms` first, then `retry-after` seconds.
    pub fn delay_from(&self, headers: &reqwest::header::HeaderMap) -> Duration {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let asked = read("retry-after-ms")
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .or_else(|| read("retry-after").map(Duration::from_secs_f64))
            .unwrap_or(self.default_delay);
        asked.min(self.max_delay)
    }
}

/// A tower service that sends through reqwest and retries per a [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct RetryingService {
    inner: ReqwestService,
    policy: RetryPolicy,
}

impl RetryingService {
    pub fn new(client: reqwest::Client, policy: RetryPolicy) -> Self {
        Self {
            inner: ReqwestService::new(client),
            policy,
        }
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
        let mut inner = self.inner.clone();
        let policy = self.policy;
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let response = inner.call(request.clone()).await?;
                let status = response.status().as_u16();
                if attempt >= policy.max_retries || !RetryPolicy::is_retryable(status) {
                    return Ok(response);
                }
                let delay = policy.delay_from(response.headers());
                // The body of a retried response is dropped; only the last one is read.
                drop(response);
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
        assert_eq!(policy.delay_from(&h), Duration::from_secs(2));
        h.insert("retry-after-ms", HeaderValue::from_static("20"));
        assert_eq!(policy.delay_from(&h), Duration::from_millis(20));
        h.insert("retry-after-ms", HeaderValue::from_static("999999"));
        assert_eq!(policy.delay_from(&h), policy.max_delay);
        assert_eq!(policy.delay_from(&HeaderMap::new()), policy.default_delay);
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
