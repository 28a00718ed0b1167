//! Drivers: the apps under test. Each runs a cell's feature and hands back the spans
//! it produced, plus what it noticed on the way.

pub(crate) mod command;
pub(crate) mod python;
pub(crate) mod retry;
pub(crate) mod rust;
pub(crate) mod venv;

use crate::capture::{BackendRequest, CapturedSpan};
use crate::vocab::{ErrorKind, Provider};
use async_openai::error::OpenAIError;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a driver's app sends its calls, shared by every cell of a run.
#[derive(Debug, Clone)]
pub(crate) struct DriverContext {
    /// The HTTP proxy the app uses (the replica's base URL), so the endpoint can keep
    /// its real host name. `None` for a live target.
    pub proxy: Option<String>,
    /// Scheme and host of the endpoint, e.g. `http://contoso.openai.azure.com`.
    pub endpoint_origin: String,
    /// The form of the endpoint string apps receive (path, trailing slash).
    pub endpoint_form: crate::endpoint::EndpointForm,
    /// Whether command cells get `OPENAI_API_VERSION` (the matrix's `target.api_version_env`).
    pub api_version_env: bool,
    /// How the app authenticates. Never printed.
    pub credential: Credential,
    /// The dated api-version for the `azure-openai` provider.
    pub api_version: String,
    /// The longest one HTTP request may take.
    pub request_timeout: Duration,
    /// How hard calls are retried: none offline (request counts stay exact), bounded
    /// backoff against a live resource.
    pub retries: retry::RetryPolicy,
    /// The HTTP client every rust cell of the run shares, built on first use: building
    /// one (TLS configuration included) costs more than a cell's calls offline.
    pub http: std::sync::OnceLock<reqwest::Client>,
}

/// What an app authenticates with: Azure's `api-key` header, or a Microsoft Entra ID
/// token sent as `Authorization: Bearer`. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey(String),
    EntraToken(String),
}

impl Credential {
    /// The secret itself, for redacting it from anything a driver's app printed.
    pub fn secret(&self) -> &str {
        match self {
            Credential::ApiKey(s) | Credential::EntraToken(s) => s,
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(***)"),
            Credential::EntraToken(_) => f.write_str("EntraToken(***)"),
        }
    }
}

impl DriverContext {
    /// The base URL a client for `provider` is configured with.
    pub(crate) fn endpoint_url(&self, provider: Provider) -> String {
        self.endpoint_form.url(&self.endpoint_origin, provider)
    }

    /// The api-version a provider's client sends, if any.
    pub(crate) fn api_version_for(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::AzureOpenAi => Some(&self.api_version),
            Provider::AzureOpenAiV1 | Provider::OpenAi => None,
        }
    }
}

/// Why a driver could not do what the feature asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DriverError {
    /// The driver could not be set up (bad endpoint, HTTP client…): a harness error.
    #[error("driver setup failed: {0}")]
    Setup(String),
    /// The service was unavailable after retries (429, 408, 5xx, connection): infrastructure.
    #[error("the service was unavailable: {0}")]
    Unavailable(String),
    /// The cell ran past `--timeout` and was stopped (with every process it started):
    /// a harness or infrastructure error, never blamed on the instrumentor.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Setting up the app's tracing raised (an instrumentor that would not import or
    /// instrument): evidence of an incompatibility, and nothing is traced.
    #[error("{0}")]
    Instrument(AppError),
    /// A call failed in a way the feature did not expect: evidence of an incompatibility.
    #[error("the app's call failed: {0}")]
    Call(AppError),
    /// The service answered, but not as the feature expects (e.g. 200 where 404 was due).
    #[error("{0}")]
    Unexpected(String),
    /// Azure's content filter refused the harness's own prompt: nothing to learn about
    /// the instrumentor, so not a failure — change the feature's prompt.
    #[error("Azure's content filter refused the harness's prompt ({0}); change the feature's prompt in the matrix")]
    PromptFiltered(String),
}

/// An error the app itself raised: its type (a Python exception's class, async-openai's
/// error variant) when known, and the message as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppError {
    pub exception: Option<String>,
    pub message: String,
}

impl AppError {
    pub(crate) fn new(exception: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            exception: exception.map(str::to_string),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl DriverError {
    /// Where an app's own error came from; `None` for the harness's and the
    /// infrastructure's errors, which no known issue can expect.
    pub(crate) fn kind(&self) -> Option<ErrorKind> {
        match self {
            DriverError::Instrument(_) => Some(ErrorKind::Instrument),
            DriverError::Call(_) => Some(ErrorKind::Call),
            DriverError::Unexpected(_) => Some(ErrorKind::Unexpected),
            DriverError::Setup(_)
            | DriverError::Unavailable(_)
            | DriverError::Timeout(_)
            | DriverError::PromptFiltered(_) => None,
        }
    }

    /// The type of the app's error (a Python exception's class, async-openai's variant).
    pub(crate) fn exception(&self) -> Option<&str> {
        match self {
            DriverError::Instrument(e) | DriverError::Call(e) => e.exception.as_deref(),
            _ => None,
        }
    }

    /// Classifies a failed call: transient statuses and transport failures are the
    /// infrastructure's fault; anything else counts against the app.
    pub(crate) fn call(error: OpenAIError) -> Self {
        match &error {
            OpenAIError::ApiError(e)
                if retry::RetryPolicy::is_retryable(e.status_code.as_u16()) =>
            {
                DriverError::Unavailable(describe(&error))
            }
            // A refused credential says nothing about the instrumentor: the run is
            // misconfigured (wrong key, expired token, missing role assignment).
            OpenAIError::ApiError(e) if matches!(e.status_code.as_u16(), 401 | 403) => {
                DriverError::Setup(format!(
                    "the service refused the credential: {}",
                    describe(&error)
                ))
            }
            OpenAIError::ApiError(e) if e.api_error.code.as_deref() == Some("content_filter") => {
                DriverError::PromptFiltered(describe(&error))
            }
            OpenAIError::Reqwest(e) if e.is_connect() || e.is_timeout() => {
                DriverError::Unavailable(describe(&error))
            }
            _ => DriverError::Call(AppError::new(Some(variant(&error)), describe(&error))),
        }
    }

    /// True when the failure is the harness's or the infrastructure's, not the app's.
    pub(crate) fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            DriverError::Setup(_)
                | DriverError::Unavailable(_)
                | DriverError::PromptFiltered(_)
                | DriverError::Timeout(_)
        )
    }

    /// Appends the request ids of the failed answer (what Azure support asks for) to
    /// an infrastructure error's message.
    pub(crate) fn with_request_ids(self, ids: &[String]) -> Self {
        if ids.is_empty() {
            return self;
        }
        let suffix = format!("; {}", ids.join(", "));
        match self {
            DriverError::Setup(m) => DriverError::Setup(m + &suffix),
            DriverError::Unavailable(m) => DriverError::Unavailable(m + &suffix),
            DriverError::PromptFiltered(m) => DriverError::PromptFiltered(m + &suffix),
            other => other,
        }
    }
}

/// async-openai's name for the kind of error, as an app's error type.
fn variant(error: &OpenAIError) -> &'static str {
    match error {
        OpenAIError::Reqwest(_) => "Reqwest",
        OpenAIError::ApiError(_) => "ApiError",
        OpenAIError::JSONDeserialize(..) => "JSONDeserialize",
        OpenAIError::StreamError(_) => "StreamError",
        OpenAIError::InvalidArgument(_) => "InvalidArgument",
        _ => "OpenAIError",
    }
}

fn describe(error: &OpenAIError) -> String {
    match error {
        OpenAIError::ApiError(e) => {
            // async-openai keeps an error body it could not type (Azure's shapes vary)
            // as the message: read Azure's code and message out of it.
            let raw: Option<serde_json::Value> = e
                .api_error
                .code
                .is_none()
                .then(|| serde_json::from_str(&e.api_error.message).ok())
                .flatten();
            let inner = raw.as_ref().and_then(|v| v.get("error"));
            let text = |key: &str| inner.and_then(|i| i.get(key)).and_then(|v| v.as_str());
            let code = e.api_error.code.as_deref().or(text("code")).unwrap_or("-");
            let message = text("message").unwrap_or(&e.api_error.message);
            format!("HTTP {} ({code}): {message}", e.status_code.as_u16())
        }
        other => other.to_string(),
    }
}

/// `text` with every occurrence of `secret` masked: for anything an app printed.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "***")
    }
}

/// `NO_PROXY` for an app process: whatever the environment says, plus loopback, so
/// spans reach the receiver directly even behind a corporate proxy.
pub(crate) fn no_proxy_with_loopback() -> String {
    let existing = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    let mut parts: Vec<&str> = existing
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    for loopback in ["127.0.0.1", "localhost"] {
        if !parts.contains(&loopback) {
            parts.push(loopback);
        }
    }
    parts.join(",")
}

/// What a driver hands back for one cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct DriverRun {
    pub spans: Vec<CapturedSpan>,
    /// Versions of what produced the spans, by name.
    pub versions: BTreeMap<String, String>,
    /// Things worth reporting that are not problems.
    pub notes: Vec<String>,
    pub error: Option<DriverError>,
    /// What the setup's backend received with the cell's key (setups other than
    /// `instrumentor`).
    pub backend: Vec<BackendRequest>,
    /// What the service said, as the app received it, by placeholder: `answer` (chat
    /// and streaming text), `tool_call_id` and `tool_arguments` (the first tool call),
    /// which content checks compare recorded spans with. Empty when the driver cannot
    /// know it (a command's program).
    pub answered: BTreeMap<String, String>,
}

impl DriverRun {
    pub(crate) fn new(spans: Vec<CapturedSpan>) -> Self {
        Self {
            spans,
            ..Self::default()
        }
    }

    pub(crate) fn failed(spans: Vec<CapturedSpan>, error: DriverError) -> Self {
        Self {
            spans,
            error: Some(error),
            ..Self::default()
        }
    }
}
