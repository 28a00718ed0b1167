//! The one redaction pass: every secret the run knows (keys, tokens, a token command's
//! output, secret-looking environment variables), bearer tokens, JWTs, `sk-` keys and
//! `NAME_KEY=value` assignments are scrubbed from whatever the tool writes or prints —
//! results, reports, cassettes, stderr excerpts, error messages — and optionally a
//! resource's host is anonymized.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// What replaces a secret.
pub(crate) const REDACTED: &str = "[REDACTED]";
/// What replaces the resource name with `anonymize_host` (so `contoso.openai.azure.com`
/// becomes `anonymized-resource.openai.azure.com`).
pub(crate) const RESOURCE_PLACEHOLDER: &str = "anonymized-resource";

/// Secrets shorter than this are not scrubbed as free text: replacing every `k` or `abc`
/// in a body would corrupt it without protecting anything.
pub(crate) const MIN_SECRET_CHARS: usize = 8;

/// `Bearer <token>` as an `Authorization` value has it; the length floor keeps prose such
/// as "Bearer of" intact.
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bBearer\s+[A-Za-z0-9\-._~+/]{12,}=*").expect("static regex"));
/// JWTs (Entra ID tokens), OpenAI-style `sk-` keys and the API keys the embedded
/// backend hands each setup cell, wherever they appear.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\beyJ[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]*|\bsk-[A-Za-z0-9_-]{{20,}}|\b{}[0-9a-f]+",
        crate::capture::otlp::KEY_PREFIX
    ))
    .expect("static regex")
});
/// An environment-style assignment of a secret-looking name (`AZURE_OPENAI_API_KEY=…`,
/// `export HH_API_KEY="…"`), as a `.env` file or an app's debug print has it. Upper-case
/// names only, so prose and JSON such as `max_tokens=16` stay intact.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b([A-Z][A-Z0-9_]*(?:KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?))(\s*[=:]\s*["']?)[^\s"']{8,}"#,
    )
    .expect("static regex")
});

/// True for an environment variable whose value is a credential: its name ends in
/// `KEY`, `TOKEN`, `SECRET`, `PASSWORD` or `CREDENTIALS` (`AZURE_OPENAI_API_KEY`,
/// `AZURE_OPENAI_AD_TOKEN`, `HH_API_KEY`, `CLIENT_SECRET`), not merely contains one
/// (`HF_TOKEN_PATH`, `GNOME_KEYRING_CONTROL` are not secrets).
pub(crate) fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "CREDENTIALS",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.ends_with(w))
}

/// Words the tool itself writes as values (providers, styles, features, drivers,
/// targets, statuses): public by definition, never treated as a secret, so a variable
/// that happens to hold one cannot rewrite the results' vocabulary.
fn is_vocabulary(word: &str) -> bool {
    use crate::vocab::{DriverKind, Feature, Provider, Style, TargetKind};
    let names = [
        Provider::names(),
        Style::names(),
        Feature::names(),
        DriverKind::names(),
        TargetKind::names(),
    ];
    names.iter().flatten().any(|n| *n == word)
        || ["pass", "fail", "xfail", "xpass", "skip", "error"].contains(&word)
}

/// Scrubs secrets (and optionally a host) from text and JSON.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
    /// The host's pattern and its replacement, and the bare resource name's pattern.
    host: Option<(Regex, String, Option<Regex>)>,
}

impl Redactor {
    /// `secrets`: strings replaced by `[REDACTED]` anywhere (shorter ones than
    /// `MIN_SECRET_CHARS` are ignored). `anonymize_host`: a resource host such as
    /// `contoso.openai.azure.com` (or a URL with it); the host and the resource name
    /// (its first label) become `RESOURCE_PLACEHOLDER`.
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = &'a str>,
        anonymize_host: Option<&str>,
    ) -> Self {
        let mut r = Self {
            secrets: Vec::new(),
            host: anonymize_host.and_then(host_patterns),
        };
        r.add(secrets);
        r
    }

    /// A redactor for every secret-looking variable of this process's environment
    /// (`AZURE_OPENAI_API_KEY`, `HH_API_KEY`, `OPENAI_API_KEY`, …).
    pub fn from_env() -> Self {
        let values: Vec<String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| is_secret_name(k))
            .map(|(_, v)| v)
            .collect();
        Self::new(values.iter().map(String::as_str), None)
    }

    /// Anonymizes `host` too (see [`Redactor::new`]); `None` leaves the setting as it is.
    pub fn anonymize(&mut self, host: Option<&str>) {
        if let Some(patterns) = host.and_then(host_patterns) {
            self.host = Some(patterns);
        }
    }

    /// Adds more secrets (shorter ones than `MIN_SECRET_CHARS` are ignored).
    pub fn add<'a>(&mut self, secrets: impl IntoIterator<Item = &'a str>) {
        self.secrets.extend(
            secrets
                .into_iter()
                .map(str::trim)
                .filter(|s| s.chars().count() >= MIN_SECRET_CHARS && !is_vocabulary(s))
                .map(str::to_string),
        );
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        self.secrets.dedup();
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
        out = ASSIGNMENT
            .replace_all(&out, format!("${{1}}${{2}}{REDACTED}").as_str())
            .into_owned();
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

    /// A serializable value with every string in it scrubbed: serialized to JSON, scrubbed,
    /// and read back, so no field of it can be forgotten. `None` only when the value does
    /// not round-trip through JSON.
    pub fn scrub<T>(&self, value: &T) -> Option<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let json = serde_json::to_value(value).ok()?;
        serde_json::from_value(self.value(&json)).ok()
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
             jwt eyJhbGciOi.eyJzdWIiOiIx.sig_part, short, https://contoso.openai.azure.com/x, contoso, \
             backend hhc_backend_key_0123456789abcdef0123456789abcdef.",
        );
        assert_eq!(
            s,
            "key [REDACTED], Authorization: Bearer [REDACTED], jwt [REDACTED], short, \
             https://anonymized-resource.openai.azure.com/x, anonymized-resource, backend [REDACTED]."
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
    fn secret_assignments_are_masked_and_ordinary_text_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.text("AZURE_OPENAI_API_KEY=abcdef0123456789\nexport HH_API_KEY=\"hh-secret-value\""),
            "AZURE_OPENAI_API_KEY=[REDACTED]\nexport HH_API_KEY=\"[REDACTED]\""
        );
        for kept in [
            "max_tokens=16",
            "gen_ai.usage.input_tokens: 123456789",
            "AZURE_OPENAI_API_KEY=short",
            "the KEY is on the table",
        ] {
            assert_eq!(r.text(kept), kept);
        }
    }

    #[test]
    fn secret_names() {
        for name in [
            "AZURE_OPENAI_API_KEY",
            "AZURE_OPENAI_AD_TOKEN",
            "HH_API_KEY",
            "client_secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "AZURE_OPENAI_AD_TOKEN_COMMAND",
            "PATH",
            "AZURE_OPENAI_ENDPOINT",
            "GOOGLE_APPLICATION_CREDENTIALS_FILE",
            "HF_TOKEN_PATH",
            "GNOME_KEYRING_CONTROL",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn vocabulary_words_are_never_secrets() {
        let r = Redactor::new(["azure-openai", "openinference", "streaming-usage"], None);
        assert_eq!(
            r.text("azure-openai/openinference/streaming-usage"),
            "azure-openai/openinference/streaming-usage"
        );
    }

    #[test]
    fn scrub_round_trips_any_serializable_value() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Out {
            command: String,
            n: u32,
        }
        let r = Redactor::new(["canary-0123456789"], None);
        let out = r
            .scrub(&Out {
                command: "KEY=canary-0123456789 python app.py".into(),
                n: 3,
            })
            .expect("round trip");
        assert_eq!(
            out,
            Out {
                command: "KEY=[REDACTED] python app.py".into(),
                n: 3
            }
        );
    }
}
