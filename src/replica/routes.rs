//! Request path + query → which replica operation answers it.

use serde::Serialize;

/// The operations the replica serves; `Unknown` gets Azure's 404 `Resource not found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// `/openai/deployments/{dep}/chat/completions?api-version=…`
    AzureChat,
    /// `/openai/deployments/{dep}/embeddings?api-version=…`
    AzureEmbeddings,
    /// `/openai/v1/chat/completions` (deployment in the body's `model`)
    V1Chat,
    /// `/openai/v1/embeddings`
    V1Embeddings,
    /// `/openai/v1/responses` (deployment in the body's `model`)
    V1Responses,
    /// `/openai/responses?api-version=…` (a preview from 2025-03 on; deployment in the
    /// body's `model`)
    AzureResponses,
    /// Plain OpenAI `/v1/chat/completions`
    OpenAiChat,
    /// Plain OpenAI `/v1/embeddings`
    OpenAiEmbeddings,
    /// `GET /_replica/journal`
    Journal,
    Unknown,
}

impl RouteKind {
    /// The name journals and reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::AzureChat => "azure_chat",
            RouteKind::AzureEmbeddings => "azure_embeddings",
            RouteKind::V1Chat => "v1_chat",
            RouteKind::V1Embeddings => "v1_embeddings",
            RouteKind::V1Responses => "v1_responses",
            RouteKind::AzureResponses => "azure_responses",
            RouteKind::OpenAiChat => "open_ai_chat",
            RouteKind::OpenAiEmbeddings => "open_ai_embeddings",
            RouteKind::Journal => "journal",
            RouteKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which API family a route belongs to; decides auth rules and error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Azure,
    AzureV1,
    OpenAi,
}

/// Chat, embeddings or responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat,
    Embeddings,
    Responses,
}

impl RouteKind {
    pub fn api(self) -> Option<Api> {
        match self {
            RouteKind::AzureChat | RouteKind::AzureEmbeddings | RouteKind::AzureResponses => {
                Some(Api::Azure)
            }
            RouteKind::V1Chat | RouteKind::V1Embeddings | RouteKind::V1Responses => {
                Some(Api::AzureV1)
            }
            RouteKind::OpenAiChat | RouteKind::OpenAiEmbeddings => Some(Api::OpenAi),
            RouteKind::Journal | RouteKind::Unknown => None,
        }
    }

    pub fn operation(self) -> Option<Operation> {
        match self {
            RouteKind::AzureChat | RouteKind::V1Chat | RouteKind::OpenAiChat => {
                Some(Operation::Chat)
            }
            RouteKind::AzureEmbeddings | RouteKind::V1Embeddings | RouteKind::OpenAiEmbeddings => {
                Some(Operation::Embeddings)
            }
            RouteKind::V1Responses | RouteKind::AzureResponses => Some(Operation::Responses),
            RouteKind::Journal | RouteKind::Unknown => None,
        }
    }
}

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Route {
    pub kind: RouteKind,
    /// From the path (dated Azure API); body-borne names are filled in later.
    pub deployment: Option<String>,
    pub api_version: Option<String>,
}

/// Parses a path (without query) and the raw query string.
pub(super) fn parse(method: &str, path: &str, query: Option<&str>) -> Route {
    let api_version = query.and_then(api_version_of);
    let path = path.trim_end_matches('/');
    let mut deployment = None;
    let kind = if method == "GET" && path == crate::replica::JOURNAL_PATH {
        RouteKind::Journal
    } else if method != "POST" {
        RouteKind::Unknown
    } else if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        match rest.split_once('/') {
            Some((dep, op)) if !dep.is_empty() => {
                deployment = Some(percent_decode(dep));
                match op {
                    "chat/completions" => RouteKind::AzureChat,
                    "embeddings" => RouteKind::AzureEmbeddings,
                    _ => RouteKind::Unknown,
                }
            }
            _ => RouteKind::Unknown,
        }
    } else {
        match path {
            "/openai/v1/chat/completions" => RouteKind::V1Chat,
            "/openai/v1/embeddings" => RouteKind::V1Embeddings,
            "/openai/v1/responses" => RouteKind::V1Responses,
            "/openai/responses" => RouteKind::AzureResponses,
            "/v1/chat/completions" => RouteKind::OpenAiChat,
            "/v1/embeddings" => RouteKind::OpenAiEmbeddings,
            _ => RouteKind::Unknown,
        }
    };
    Route {
        kind,
        deployment,
        api_version,
    }
}

fn api_version_of(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned())
}

/// A path segment with its `%XX` escapes decoded (a malformed escape is kept as written).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_routes() {
        let r = parse(
            "POST",
            "/openai/deployments/gpt-4o/chat/completions",
            Some("api-version=2024-10-21"),
        );
        assert_eq!(r.kind, RouteKind::AzureChat);
        assert_eq!(r.deployment.as_deref(), Some("gpt-4o"));
        assert_eq!(r.api_version.as_deref(), Some("2024-10-21"));
        let r = parse("POST", "/openai/deployments/emb/embeddings", None);
        assert_eq!(r.kind, RouteKind::AzureEmbeddings);
        assert_eq!(r.api_version, None);
    }

    #[test]
    fn responses_routes_take_the_deployment_from_the_body() {
        let r = parse("POST", "/openai/v1/responses", None);
        assert_eq!((r.kind, r.deployment), (RouteKind::V1Responses, None));
        assert_eq!(r.kind.api(), Some(Api::AzureV1));
        let r = parse(
            "POST",
            "/openai/responses",
            Some("api-version=2025-04-01-preview"),
        );
        assert_eq!((r.kind, r.deployment), (RouteKind::AzureResponses, None));
        assert_eq!(r.kind.api(), Some(Api::Azure));
        assert_eq!(r.kind.operation(), Some(Operation::Responses));
        assert_eq!(
            parse("GET", "/openai/v1/responses", None).kind,
            RouteKind::Unknown
        );
    }

    #[test]
    fn other_routes() {
        assert_eq!(
            parse("POST", "/openai/v1/chat/completions", None).kind,
            RouteKind::V1Chat
        );
        assert_eq!(
            parse("POST", "/v1/embeddings", None).kind,
            RouteKind::OpenAiEmbeddings
        );
        assert_eq!(
            parse("GET", "/v1/embeddings", None).kind,
            RouteKind::Unknown
        );
        assert_eq!(
            parse("POST", "/openai/deployments//embeddings", None).kind,
            RouteKind::Unknown
        );
        assert_eq!(parse("POST", "/nope", None).kind, RouteKind::Unknown);
        assert_eq!(
            parse("GET", "/_replica/journal", None).kind,
            RouteKind::Journal
        );
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(percent_decode("my%20dep"), "my dep");
        assert_eq!(percent_decode("bad%2"), "bad%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("a+b"), "a+b", "a path keeps its plus signs");
        assert_eq!(
            api_version_of("x=1&api-version=2024%2D10%2D21&api-version=later").as_deref(),
            Some("2024-10-21"),
            "the first api-version, unescaped"
        );
        assert_eq!(api_version_of("apiversion=1&=&&"), None);
    }
}
