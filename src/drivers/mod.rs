//! Drivers: the apps under test. Each runs a cell's feature and hands back the spans
//! it produced, plus what it noticed on the way.

pub mod python;
pub mod retry;
pub mod rust;
pub mod venv;

use crate::capture::CapturedSpan;
use crate::vocab::Provider;
use async_openai::error::OpenAIError;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a driver's app sends its calls, shared by every cell of a run.
#[derive(Debug, Clone)]
pub struct DriverContext {
    /// The HTTP proxy the app uses (the replica's base URL), so the endpoint can keep
    /// its real host name. `None` for a live target.
    pub proxy: Option<String>,
    /// Scheme and host of the endpoint, e.g. `http://contoso.openai.azure.com`.
    pub endpoint_origin: String,
    /// The key the app authenticates with. Never printed.
    pub api_key: String,
    /// The dated api-version for the `azure-openai` provider.
    pub api_version: String,
    /// The longest one HTTP request may take.
    pub request_timeout: Duration,
}

impl DriverContext {
    /// The base URL a client for `provider` is configured with.
    pub fn endpoint_url(&self, provider: Provider) -> String {
        let origin = self.endpoint_origin.trim_end_matches('/');
        match provider {
            Provider::AzureOpenAi => format!("{origin}/"),
            Provider::AzureOpenAiV1 => format!("{origin}/openai/v1/"),
            Provider::OpenAi => format!("{origin}/v1/"),
        }
    }

    /// The api-version a provider's client sends, if any.
    pub fn api_version_for(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::AzureOpenAi => Some(&self.api_version),
            Provider::AzureOpenAiV1 | Provider::OpenAi => None,
        }
    }
}

/// Why a driver could not do what the feature asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The driver could not be set up (bad endpoint, HTTP client…): a harness error.
    #[error("driver setup failed: {0}")]
    Setup(String),
    /// The service was unavailable after retries (429, 408, 5xx, connection): infrastructure.
    #[error("the service was unavailable: {0}")]
    Unavailable(String),
    /// A call failed in a way the feature did not expect: evidence of an incompatibility.
    #[error("the app's call failed: {0}")]
    Call(String),
    /// The service answered, but not as the feature expects (e.g. 200 where 404 was due).
    #[error("{0}")]
    Unexpected(String),
}

impl DriverError {
    /// Classifies a failed call: transient statuses and transport failures are the
    /// infrastructure's fault; anything else counts against the app.
    pub fn call(error: OpenAIError) -> Self {
        match &error {
            OpenAIError::ApiError(e)
                if retry::RetryPolicy::is_retryable(e.status_code.as_u16()) =>
            {
                DriverError::Unavailable(describe(&error))
            }
            OpenAIError::Reqwest(e) if e.is_connect() || e.is_timeout() => {
                DriverError::Unavailable(describe(&error))
            }
            _ => DriverError::Call(describe(&error)),
        }
    }

    /// True when the failure is the harness's or the infrastructure's, not the app's.
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, DriverError::Setup(_) | DriverError::Unavailable(_))
    }
}

fn describe(error: &OpenAIError) -> String {
    match error {
        OpenAIError::ApiError(e) => {
            let code = e.api_error.code.as_deref().unwrap_or("-");
            format!(
                "HTTP {} ({code}): {}",
                e.status_code.as_u16(),
                e.api_error.message
            )
        }
        other => other.to_string(),
    }
}

/// What a driver hands back for one cell.
#[derive(Debug, Clone, Default)]
pub struct DriverRun {
    pub spans: Vec<CapturedSpan>,
    /// Versions of what produced the spans, by name.
    pub versions: BTreeMap<String, String>,
    /// Things worth reporting that are not problems.
    pub notes: Vec<String>,
    pub error: Option<DriverError>,
}

impl DriverRun {
    pub fn new(spans: Vec<CapturedSpan>) -> Self {
        Self {
            spans,
            ..Self::default()
        }
    }

    pub fn failed(spans: Vec<CapturedSpan>, error: DriverError) -> Self {
        Self {
            spans,
            error: Some(error),
            ..Self::default()
        }
    }
}
