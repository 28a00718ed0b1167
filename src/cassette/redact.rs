//! Redaction at write time: which headers are kept, and secrets, bearer tokens and the
//! resource host scrubbed from every string written.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::model::{Exchange, SseEvent};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";
/// What replaces the resource name with `anonymize_host` (so `contoso.openai.azure.com`
/// becomes `anonymized-resource.openai.azure.com`).
pub const RESOURCE_PLACEHOLDER: &str = "anonymized-resource";

/// Credentials: never written, whatever else is configured.
pub const NEVER_WRITTEN: &[&str] = &[
    "api-key",
    "authorization",
    "cookie",
    "set-cookie",
    "ocp-apim-subscription-key",
    "proxy-authorization",
];

/// Response headers worth keeping (exact names, lower case); plus every `x-ratelimit-*`.
pub const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "apim-request-id",
    "x-request-id",
    "x-ms-region",
    "x-ms-client-request-id",
    "x-ms-deployment-name",
    "x-ms-rai-invoked",
    "retry-after",
    "retry-after-ms",
    "azureml-model-deployment",
    "azureml-model-session",
    "openai-model",
    "openai-version",
    "openai-processing-ms",
];

/// Query parameters that carry credentials (SAS signatures, keys in the URL).
const SECRET_QUERY_PARAMS: &[&str] = &["api-key", "subscription-key", "sig", "code", "token"];

/// Secrets shorter than this are not scrubbed as free text: replacing every `k` or `abc`
/// in a body would corrupt it without protecting anything.
pub const MIN_SECRET_CHARS: usize = 8;

/// True for a response header that is written to a cassette.
pub fn keep_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !NEVER_WRITTEN.contains(&name.as_str())
        && (KEPT_HEADERS.contains(&name.as_str()) || name.starts_with("x-ratelimit-"))
}

/// `Bearer <token>` as an `Authorization` value has it; the length floor keeps prose such
/// as "Bearer of" intact.
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bBearer\s+[A-Za-z0-9\-._~+/]{12,}=*").expect("static regex"));
/// JWTs (Entra ID tokens) and OpenAI-style `sk-` keys, wherever they appear.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|\bsk-[A-Za-z0-9_-]{20,}")
        .expect("static regex")
});

/// Scrubs exchanges before they are written.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
    /// The host's pattern and its replacement, and the bare resource name's pattern.
    host: Option<(Regex, String, Option<Regex>)>,
}

impl Redactor {
    /// `secrets`: strings replaced by `[REDACTED]` anywhere (shorter ones than
    /// [`MIN_SECRET_CHARS`] are ignored). `anonymize_host`: a resource host such as
    /// `contoso.openai.azure.com` (or a URL with it); the host and the resource name
    /// (its first label) become [`RESOURCE_PLACEHOLDER`].
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = &'a str>,
        anonymize_host: Option<&str>,
    ) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .map(str::to_string)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        let host = anonymize_host.and_then(host_patterns);
        Self { secrets, host }
    }

    /// `s` with secrets, tokens and the host replaced.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out = BEARER
            .replace_all(&out, format!("Bearer {REDACTED}").as_str())
            .into_owned();
        out = TOKEN.replace_all(&out, REDACTED).into_owned();
        if let Some((host, replacement, bare)) = &self.host {
            out = host.replace_all(&out, replacement.as_str()).into_owned();
            if let Some(bare) = bare {
                out = bare.replace_all(&out, RESOURCE_PLACEHOLDER).into_owned();
            }
        }
        out
    }

    /// Every string (and object key) in `value`, scrubbed.
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.value(v)))
                    .collect::<Map<String, Value>>(),
            ),
            other => other.clone(),
        }
    }

    /// The exchange as it may be written: credential headers dropped, secrets scrubbed.
    pub fn exchange(&self, e: &Exchange) -> Exchange {
        let mut out = e.clone();
        let r = &mut out.request;
        r.path = self.text(&r.path);
        r.query = r
            .query
            .iter()
            .map(|(k, v)| {
                let secret = SECRET_QUERY_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                let v = if secret {
                    REDACTED.to_string()
                } else {
                    self.text(v)
                };
                (self.text(k), v)
            })
            .collect();
        r.body = r.body.as_ref().map(|b| self.value(b));
        r.text = r.text.as_ref().map(|t| self.text(t));
        let s = &mut out.response;
        s.headers = s
            .headers
            .iter()
            .filter(|(k, _)| keep_header(k))
            .map(|(k, v)| (k.to_ascii_lowercase(), self.text(v)))
            .collect::<BTreeMap<_, _>>();
        s.body = s.body.as_ref().map(|b| self.value(b));
        s.text = s.text.as_ref().map(|t| self.text(t));
        s.events = s.events.as_ref().map(|events| {
            events
                .iter()
                .map(|ev| SseEvent {
                    event: ev.event.as_ref().map(|n| self.text(n)),
                    data: self.value(&ev.data),
                })
                .collect()
        });
        out
    }
}

/// `contoso.openai.azure.com` (or a URL with it) → (`contoso`, `openai.azure.com`).
fn split_host(given: &str) -> (String, String) {
    let host = given
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.split_once('.') {
        Some((r, d)) => (r.to_string(), d.to_string()),
        None => (host, String::new()),
    }
}

/// For `contoso.openai.azure.com`: the host pattern (any case) with its replacement
/// `anonymized-resource.openai.azure.com`, and for Azure hosts the bare resource name.
fn host_patterns(given: &str) -> Option<(Regex, String, Option<Regex>)> {
    let (resource, domain) = split_host(given);
    if resource.is_empty() {
        return None;
    }
    let (full, replacement) = if domain.is_empty() {
        (regex::escape(&resource), RESOURCE_PLACEHOLDER.to_string())
    } else {
        (
            format!("{}\\.{}", regex::escape(&resource), regex::escape(&domain)),
            format!("{RESOURCE_PLACEHOLDER}.{domain}"),
        )
    };
    let host_re = Regex::new(&format!(r"(?i)\b{full}\b")).ok()?;
    // A custom domain's first label may be an ordinary word (`api.example.com`); only an
    // Azure resource name is distinctive enough to scrub on its own.
    let bare = domain
        .contains("azure.")
        .then(|| Regex::new(&format!(r"(?i)\b{}\b", regex::escape(&resource))).ok())
        .flatten();
    Some((host_re, replacement, bare))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubs_secrets_tokens_and_the_host() {
        let r = Redactor::new(
            ["canary-key-0123456789", "short"],
            Some("https://Contoso.openai.azure.com/"),
        );
        let s = r.text(
            "key canary-key-0123456789, Authorization: Bearer abc.def-ghi-jkl-mno, \
             jwt eyJhbGciOi.eyJzdWIiOiIx.sig_part, short, https://contoso.openai.azure.com/x, contoso",
        );
        assert_eq!(
            s,
            "key [REDACTED], Authorization: Bearer [REDACTED], jwt [REDACTED], short, \
             https://anonymized-resource.openai.azure.com/x, anonymized-resource"
        );
        let v = r.value(&json!({"canary-key-0123456789": ["contoso"], "n": 1}));
        assert_eq!(v, json!({"[REDACTED]": ["anonymized-resource"], "n": 1}));
    }

    #[test]
    fn custom_domains_keep_ordinary_words() {
        let r = Redactor::new([], Some("api.example.com"));
        assert_eq!(
            r.text("call api.example.com via the api"),
            "call anonymized-resource.example.com via the api"
        );
    }

    #[test]
    fn headers_kept_and_dropped() {
        for keep in [
            "Content-Type",
            "apim-request-id",
            "x-ratelimit-remaining-tokens",
            "retry-after-ms",
        ] {
            assert!(keep_header(keep), "{keep}");
        }
        for drop in [
            "api-key",
            "Authorization",
            "set-cookie",
            "cookie",
            "date",
            "ocp-apim-subscription-key",
        ] {
            assert!(!keep_header(drop), "{drop}");
        }
    }
}
