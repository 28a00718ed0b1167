//! Error bodies in the exact shapes Azure OpenAI (and, for `/v1/`, OpenAI) sends.

use serde_json::{json, Value};

use super::auth::AuthFailure;
use super::reply::Reply;
use super::routes::{Api, Operation};
use super::shapes::Shapes;

fn reply(status: u16, body: Value) -> Reply {
    Reply::json(status, body.to_string().into_bytes())
}

/// Azure's gateway errors: `{"error":{"code","message"}}`.
fn azure(status: u16, code: &str, message: &str) -> Reply {
    reply(status, json!({"error": {"code": code, "message": message}}))
}

/// OpenAI's shape, which Azure also uses for errors raised by the model service itself.
pub(super) fn openai_shape(
    status: u16,
    message: &str,
    kind: Option<&str>,
    param: Option<&str>,
    code: Option<&str>,
) -> Reply {
    reply(
        status,
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

pub(super) fn resource_not_found() -> Reply {
    azure(404, "404", "Resource not found")
}

pub(super) fn unauthorized(api: Api, failure: AuthFailure) -> Reply {
    match (api, failure) {
        (Api::OpenAi, AuthFailure::MissingKey) => openai_shape(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            Some("invalid_request_error"),
            None,
            None,
        ),
        // OpenAI echoes a masked key prefix; the replica never echoes any part of a key.
        (Api::OpenAi, _) => openai_shape(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            Some("invalid_request_error"),
            None,
            Some("invalid_api_key"),
        ),
        (_, AuthFailure::MissingKey) => azure(
            401,
            "401",
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
        ),
        (_, AuthFailure::WrongKey) => azure(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        ),
        // Entra ID failures come from a different layer and are not wrapped in `error`.
        (_, AuthFailure::BadToken) => reply(
            401,
            json!({"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}),
        ),
    }
}

pub(super) fn api_version_not_supported() -> Reply {
    azure(400, "BadRequest", "API version not supported")
}

pub(super) fn deployment_not_found(api: Api, model: &str, shapes: Shapes) -> Reply {
    match api {
        // The v1 API names models in the body and answers an unknown one with a 400
        // (recorded 2026-01), its own content type included.
        Api::AzureV1 => {
            let message = format!("Unknown model: {model}");
            let mut r = reply(
                400,
                json!({"error": {"code": "unknown_model", "message": message, "details": message}}),
            );
            r.content_type = "application/json; charset=utf-8";
            r
        }
        Api::OpenAi => openai_shape(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            Some("invalid_request_error"),
            None,
            Some("model_not_found"),
        ),
        _ if shapes.typed_deployment_not_found() => {
            // Since 2026: pretty-printed, typed, and without a content type (recorded
            // 2026-03); the openai SDK still raises NotFoundError with code and type.
            let body = json!({"error": {
                "type": "invalid_request_error",
                "code": "DeploymentNotFound",
                "message": DEPLOYMENT_NOT_FOUND,
            }});
            let mut r = Reply::json(404, serde_json::to_vec_pretty(&body).unwrap_or_default());
            r.content_type = "";
            r
        }
        _ => azure(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND),
    }
}

const DEPLOYMENT_NOT_FOUND: &str = "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.";

pub(super) fn operation_not_supported(op: Operation, model: &str) -> Reply {
    let name = match op {
        Operation::Chat => "chatCompletion",
        Operation::Embeddings => "embeddings",
        Operation::Responses => "responses",
    };
    azure(
        400,
        "OperationNotSupported",
        &format!("The {name} operation does not work with the specified model, {model}. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."),
    )
}

pub(super) fn invalid_json() -> Reply {
    openai_shape(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        Some("invalid_request_error"),
        None,
        None,
    )
}

pub(super) fn invalid_type(param: &str, expected: &str, got: &str) -> Reply {
    openai_shape(
        400,
        &format!("Invalid type for '{param}': expected {expected}, but got {got} instead."),
        Some("invalid_request_error"),
        Some(param),
        Some("invalid_type"),
    )
}

pub(super) fn missing_param(param: &str) -> Reply {
    openai_shape(
        400,
        &format!("Missing required parameter: '{param}'."),
        Some("invalid_request_error"),
        Some(param),
        Some("missing_required_parameter"),
    )
}

pub(super) fn invalid_value(param: &str, message: &str) -> Reply {
    openai_shape(
        400,
        message,
        Some("invalid_request_error"),
        Some(param),
        Some("invalid_value"),
    )
}

pub(super) fn unrecognized_argument(name: &str) -> Reply {
    openai_shape(
        400,
        &format!("Unrecognized request argument supplied: {name}"),
        Some("invalid_request_error"),
        None,
        None,
    )
}

pub(super) fn payload_too_large(limit: usize) -> Reply {
    azure(
        413,
        "RequestEntityTooLarge",
        &format!("The request body is too large; the limit is {limit} bytes."),
    )
}

/// A request target that is not a valid URL (e.g. an absolute-form target with port
/// 99999): refused before routing.
pub(super) fn invalid_request_target() -> Reply {
    openai_shape(
        400,
        "The request URL is not valid.",
        Some("invalid_request_error"),
        None,
        None,
    )
}

/// A body with more JSON values than the replica parses.
pub(super) fn too_many_values(limit: usize) -> Reply {
    openai_shape(
        400,
        &format!("The request body is too complex: it holds more than {limit} JSON values."),
        Some("invalid_request_error"),
        None,
        None,
    )
}

/// Too many embeddings inputs in one request (Azure's wording).
pub(super) fn too_many_inputs(limit: usize) -> Reply {
    openai_shape(
        400,
        &format!("Too many inputs. The max number of inputs is {limit}.  We hope to increase the number of inputs per request soon. Please contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions."),
        Some("invalid_request_error"),
        None,
        None,
    )
}

/// An input longer than the model's context.
pub(super) fn context_length_exceeded(limit: u32, tokens: u64) -> Reply {
    openai_shape(
        400,
        &format!("This model's maximum context length is {limit} tokens, however you requested {tokens} tokens ({tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length."),
        Some("invalid_request_error"),
        None,
        None,
    )
}

/// An embeddings request whose inputs add up to more tokens than one request may carry.
pub(super) fn too_many_tokens(limit: u64, tokens: u64) -> Reply {
    openai_shape(
        400,
        &format!("Requested {tokens} tokens, max {limit} tokens per request"),
        Some("invalid_request_error"),
        Some("input"),
        Some("max_tokens_per_request"),
    )
}

/// A body the client stopped sending before its end.
pub(super) fn unreadable_body() -> Reply {
    openai_shape(
        400,
        "The request body could not be read.",
        Some("invalid_request_error"),
        None,
        None,
    )
}

pub(super) fn rate_limited(api_version: Option<&str>, op: Operation, retry_after_ms: u64) -> Reply {
    let operation = match op {
        Operation::Chat => "ChatCompletions_Create",
        Operation::Embeddings => "Embeddings_Create",
        Operation::Responses => "Responses_Create",
    };
    let seconds = retry_after_ms.div_ceil(1000).max(1);
    let version = api_version.unwrap_or("v1");
    let mut r = azure(
        429,
        "429",
        &format!("Requests to the {operation} Operation under Azure OpenAI API version {version} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {seconds} second{}. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.", if seconds == 1 { "" } else { "s" }),
    );
    r.retry_after_ms = Some(retry_after_ms);
    r
}

pub(super) fn server_error() -> Reply {
    openai_shape(
        500,
        "The server had an error processing your request. Sorry about that! You can retry your request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error.",
        Some("server_error"),
        None,
        None,
    )
}

pub(super) fn service_unavailable(retry_after_ms: Option<u64>) -> Reply {
    let mut r = azure(
        503,
        "ServiceUnavailable",
        "The service is temporarily unable to process your request. Please try again later.",
    );
    r.retry_after_ms = retry_after_ms;
    r
}

pub(super) fn timeout() -> Reply {
    azure(408, "Timeout", "The operation was timeout.")
}

/// The prompt-filter 400: OpenAI's shape plus Azure's `status` and `innererror`.
pub(super) fn prompt_filtered() -> Reply {
    reply(
        400,
        json!({"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            "type": null,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": false, "severity": "safe"},
                    "jailbreak": {"filtered": false, "detected": false},
                    "self_harm": {"filtered": false, "severity": "safe"},
                    "sexual": {"filtered": false, "severity": "safe"},
                    "violence": {"filtered": true, "severity": "medium"}
                }
            }
        }}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).expect("error bodies are JSON")
    }

    #[test]
    fn shapes() {
        assert_eq!(
            body(&resource_not_found()),
            json!({"error":{"code":"404","message":"Resource not found"}})
        );
        assert_eq!(
            body(&unauthorized(Api::Azure, AuthFailure::BadToken))["statusCode"],
            401
        );
        // 2024: compact, untyped, JSON; since 2026: pretty-printed, typed, no content type.
        let old = deployment_not_found(Api::Azure, "x", Shapes::parse("2024-10").expect("month"));
        assert_eq!(
            body(&old),
            json!({"error": {"code": "DeploymentNotFound", "message": DEPLOYMENT_NOT_FOUND}})
        );
        assert_eq!(old.content_type, "application/json");
        let new = deployment_not_found(Api::Azure, "x", Shapes::CURRENT);
        assert_eq!(
            body(&new)["error"]
                .as_object()
                .map(|e| e.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["type".into(), "code".into(), "message".into()])
        );
        assert!(String::from_utf8_lossy(&new.body).starts_with("{\n  \"error\": {\n"));
        assert_eq!((new.status, new.content_type), (404, ""));
        let p = body(&prompt_filtered());
        assert_eq!(
            p["error"]["innererror"]["content_filter_result"]["violence"]["filtered"],
            true
        );
        let r = rate_limited(Some("2024-10-21"), Operation::Chat, 1500);
        assert_eq!(r.status, 429);
        assert!(body(&r)["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("retry after 2 seconds"));
    }
}
