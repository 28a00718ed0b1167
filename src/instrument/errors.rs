//! Failure classification: the Python SDK's exception class for each async-openai error,
//! so that the rust column of the matrix reads like the python one.

use async_openai::error::OpenAIError;

/// The `openai` Python SDK exception an error corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    BadRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    Conflict,
    UnprocessableEntity,
    RateLimit,
    InternalServer,
    /// Any other non-2xx status.
    ApiStatus,
    /// The request never got an HTTP answer.
    ApiConnection,
    ApiTimeout,
    /// A 2xx answer whose body could not be read as the expected type.
    ApiResponseValidation,
    /// The SSE stream broke or carried an error event.
    Api,
    /// Rejected on the client side before any request was made.
    InvalidArgument,
}

impl ErrorClass {
    /// The Python class name, e.g. `NotFoundError`.
    pub fn python_name(self) -> &'static str {
        match self {
            ErrorClass::BadRequest => "BadRequestError",
            ErrorClass::Authentication => "AuthenticationError",
            ErrorClass::PermissionDenied => "PermissionDeniedError",
            ErrorClass::NotFound => "NotFoundError",
            ErrorClass::Conflict => "ConflictError",
            ErrorClass::UnprocessableEntity => "UnprocessableEntityError",
            ErrorClass::RateLimit => "RateLimitError",
            ErrorClass::InternalServer => "InternalServerError",
            ErrorClass::ApiStatus => "APIStatusError",
            ErrorClass::ApiConnection => "APIConnectionError",
            ErrorClass::ApiTimeout => "APITimeoutError",
            ErrorClass::ApiResponseValidation => "APIResponseValidationError",
            ErrorClass::Api => "APIError",
            ErrorClass::InvalidArgument => "ValueError",
        }
    }

    /// The class the SDK raises for an HTTP status.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => ErrorClass::BadRequest,
            401 => ErrorClass::Authentication,
            403 => ErrorClass::PermissionDenied,
            404 => ErrorClass::NotFound,
            409 => ErrorClass::Conflict,
            422 => ErrorClass::UnprocessableEntity,
            429 => ErrorClass::RateLimit,
            s if s >= 500 => ErrorClass::InternalServer,
            _ => ErrorClass::ApiStatus,
        }
    }
}

/// What a span records about a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub class: ErrorClass,
    /// HTTP status, when the service answered.
    pub status: Option<u16>,
    /// The service's error code, e.g. Azure's `DeploymentNotFound`.
    pub code: Option<String>,
    /// A message in the Python SDK's shape (`Error code: 404 - {...}`), which carries the
    /// service's code and message. Never contains request headers, so no key leaks.
    pub message: String,
}

/// Classifies an async-openai error.
pub fn classify(err: &OpenAIError) -> ErrorInfo {
    match err {
        OpenAIError::ApiError(resp) => {
            let status = resp.status_code.as_u16();
            let api = &resp.api_error;
            let body = serde_json::json!({
                "error": { "code": api.code, "message": api.message }
            });
            ErrorInfo {
                class: ErrorClass::for_status(status),
                status: Some(status),
                code: api.code.clone(),
                message: format!("Error code: {status} - {body}"),
            }
        }
        OpenAIError::Reqwest(e) => from_reqwest(e),
        OpenAIError::JSONDeserialize(e, _) => ErrorInfo {
            // The body itself is left out: it may be large and is not the span's business.
            class: ErrorClass::ApiResponseValidation,
            status: None,
            code: None,
            message: format!("failed to deserialize api response: {e}"),
        },
        OpenAIError::StreamError(e) => ErrorInfo {
            class: ErrorClass::Api,
            status: None,
            code: None,
            message: format!("stream failed: {e}"),
        },
        OpenAIError::Boxed(inner) => {
            if let Some(e) = inner.downcast_ref::<reqwest::Error>() {
                return from_reqwest(e);
            }
            let text = inner.to_string();
            // Middleware timeouts (tower's `Elapsed`) only reveal themselves by message.
            let lower = text.to_ascii_lowercase();
            let class = if lower.contains("timed out") || lower.contains("elapsed") {
                ErrorClass::ApiTimeout
            } else {
                ErrorClass::ApiConnection
            };
            ErrorInfo {
                class,
                status: None,
                code: None,
                message: text,
            }
        }
        OpenAIError::InvalidArgument(m) => ErrorInfo {
            class: ErrorClass::InvalidArgument,
            status: None,
            code: None,
            message: format!("invalid args: {m}"),
        },
        other => ErrorInfo {
            class: ErrorClass::Api,
            status: None,
            code: None,
            message: other.to_string(),
        },
    }
}

fn from_reqwest(e: &reqwest::Error) -> ErrorInfo {
    let class = if e.is_timeout() {
        ErrorClass::ApiTimeout
    } else if let Some(status) = e.status() {
        ErrorClass::for_status(status.as_u16())
    } else {
        ErrorClass::ApiConnection
    };
    // Fixed texts, as the Python SDK uses: reqwest's own message includes the URL, whose
    // query string could carry an api-key.
    let message = match class {
        ErrorClass::ApiTimeout => "Request timed out.".to_string(),
        ErrorClass::ApiConnection => "Connection error.".to_string(),
        _ => format!(
            "Error code: {}",
            e.status().map(|s| s.as_u16()).unwrap_or(0)
        ),
    };
    ErrorInfo {
        class,
        status: e.status().map(|s| s.as_u16()),
        code: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_openai::error::{ApiError, ApiErrorResponse};

    fn api(status: u16, code: Option<&str>) -> OpenAIError {
        OpenAIError::ApiError(ApiErrorResponse {
            status_code: reqwest::StatusCode::from_u16(status).expect("status"),
            api_error: ApiError {
                message: "The API deployment for this resource does not exist.".into(),
                code: code.map(str::to_string),
                ..Default::default()
            },
        })
    }

    #[test]
    fn statuses_map_to_python_classes() {
        let cases = [
            (400, "BadRequestError"),
            (401, "AuthenticationError"),
            (403, "PermissionDeniedError"),
            (404, "NotFoundError"),
            (408, "APIStatusError"),
            (409, "ConflictError"),
            (422, "UnprocessableEntityError"),
            (429, "RateLimitError"),
            (500, "InternalServerError"),
            (503, "InternalServerError"),
        ];
        for (status, name) in cases {
            let info = classify(&api(status, None));
            assert_eq!(info.class.python_name(), name, "status {status}");
            assert_eq!(info.status, Some(status));
        }
    }

    #[test]
    fn azure_code_is_kept_in_code_and_message() {
        let info = classify(&api(404, Some("DeploymentNotFound")));
        assert_eq!(info.code.as_deref(), Some("DeploymentNotFound"));
        assert!(info.message.starts_with("Error code: 404 - "));
        assert!(info.message.contains("DeploymentNotFound"));
        assert!(info.message.contains("does not exist"));
    }

    #[test]
    fn client_side_and_stream_errors() {
        let info = classify(&OpenAIError::InvalidArgument("no messages".into()));
        assert_eq!(info.class, ErrorClass::InvalidArgument);
        let json_err = serde_json::from_str::<u32>("x").expect_err("bad json");
        let info = classify(&OpenAIError::JSONDeserialize(json_err, "x".into()));
        assert_eq!(info.class.python_name(), "APIResponseValidationError");
        let boxed = OpenAIError::Boxed("operation timed out".into());
        assert_eq!(classify(&boxed).class, ErrorClass::ApiTimeout);
        let boxed = OpenAIError::Boxed("connection refused".into());
        assert_eq!(classify(&boxed).class, ErrorClass::ApiConnection);
    }

    #[tokio::test]
    async fn transport_failure_is_a_connection_error() {
        // Port 9 on localhost (discard) is closed on test machines: connect fails fast.
        let err = reqwest::Client::new()
            .get("http://127.0.0.1:9/")
            .send()
            .await
            .expect_err("nothing listens on port 9");
        let info = classify(&OpenAIError::Reqwest(err));
        assert_eq!(info.class, ErrorClass::ApiConnection);
        assert_eq!(info.message, "Connection error.");
    }
}
