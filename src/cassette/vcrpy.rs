//! vcrpy cassettes → cassette exchanges. The instrumentors' own test suites record Azure
//! traffic with vcrpy: a YAML file with `interactions:` (each a `request: {body, headers,
//! method, uri}` and a `response: {body: {string}, headers, status: {code, message}}`) and
//! `version: 1`. Bodies are plain strings, `!!binary` base64, or gzip/deflate-compressed
//! (`Content-Encoding`); header values are lists. Each Azure OpenAI interaction becomes an
//! [`Exchange`] through the same conversion the recording proxy uses
//! ([`super::traffic`]); anything else is skipped with a reason. The credentials the
//! requests carried are returned as secrets for the one redaction pass at write time.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use serde_saphyr::{Spanned, Tagged};

use super::model::Exchange;
use super::traffic::{self, RawRequest, RawResponse};
use super::yaml::{self, MAX_CASSETTE_BYTES};
use super::CassetteError;

/// Request headers whose values are credentials: never written, and scrubbed wherever
/// else they appear (a body echoing them, a URL).
const CREDENTIAL_HEADERS: &[&str] = &[
    "api-key",
    "authorization",
    "ocp-apim-subscription-key",
    "proxy-authorization",
    "cookie",
];

/// Query parameters whose values are credentials.
const CREDENTIAL_QUERY: &[&str] = &["api-key", "subscription-key", "sig", "code", "token"];

/// Host suffixes Azure OpenAI resources answer on.
const AZURE_HOSTS: &[&str] = &[
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
];

#[derive(Deserialize)]
struct VcrFile {
    interactions: Vec<Spanned<Interaction>>,
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<u32>,
}

#[derive(Deserialize)]
struct Interaction {
    request: VcrRequest,
    response: VcrResponse,
}

#[derive(Deserialize)]
struct VcrRequest {
    #[serde(default)]
    body: Option<Tagged<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    method: String,
    uri: String,
}

#[derive(Deserialize)]
struct VcrResponse {
    #[serde(default)]
    body: Option<VcrBody>,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    status: VcrStatus,
}

#[derive(Deserialize)]
struct VcrBody {
    #[serde(default)]
    string: Option<Tagged<String>>,
}

#[derive(Deserialize)]
struct VcrStatus {
    code: u16,
}

/// One interaction that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// `FILE:LINE` of the interaction.
    pub origin: String,
    pub reason: String,
}

/// What one vcrpy file gave.
#[derive(Debug, Clone, Default)]
pub(crate) struct Imported {
    /// The Azure OpenAI exchanges, in file order.
    pub exchanges: Vec<Exchange>,
    /// The interactions left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// The credential values the requests carried (header values, bearer tokens,
    /// credential query parameters), for the redaction pass.
    pub secrets: Vec<String>,
    /// The host and api-version of the first exchange imported.
    pub host: Option<String>,
    pub api_version: Option<String>,
}

/// Reads the vcrpy cassette at `path` (refused unread when larger than the cassette
/// limit) and converts its Azure OpenAI interactions. Malformed YAML or a missing field
/// is a `FILE:LINE:COL` error; an interaction that is not Azure OpenAI is skipped.
pub(crate) fn import_file(path: &Path) -> Result<Imported, CassetteError> {
    let text = super::load::read(path)?;
    import_str(&text, &path.display().to_string())
}

/// [`import_file`] on text already read; `file` names it in errors and origins.
pub(crate) fn import_str(text: &str, file: &str) -> Result<Imported, CassetteError> {
    let parsed: VcrFile = yaml::parse_binary_as_text(text, file)?;
    let mut out = Imported::default();
    for spanned in &parsed.interactions {
        let line = yaml::pos_of(spanned).map(|p| p.line).unwrap_or(0);
        let origin = format!("{file}:{line}");
        let interaction = &spanned.value;
        out.secrets.extend(credentials(interaction));
        match convert(interaction) {
            Ok((exchange, host)) => {
                if out.host.is_none() {
                    out.host = Some(host);
                    out.api_version = exchange.request.query.get("api-version").cloned();
                }
                out.exchanges.push(exchange);
            }
            Err(reason) => out.skipped.push(Skipped { origin, reason }),
        }
    }
    out.secrets.sort();
    out.secrets.dedup();
    Ok(out)
}

/// The exchange and the host it went to, or why the interaction is not imported.
fn convert(i: &Interaction) -> Result<(Exchange, String), String> {
    let url =
        reqwest::Url::parse(&i.request.uri).map_err(|e| format!("its uri is not a URL ({e})"))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !AZURE_HOSTS.iter().any(|s| host.ends_with(s)) {
        return Err(format!(
            "not Azure OpenAI: {} {} (host {host})",
            i.request.method,
            url.path()
        ));
    }
    if !url.path().starts_with("/openai/") {
        return Err(format!(
            "not an Azure OpenAI route: {} {}",
            i.request.method,
            url.path()
        ));
    }
    let request_body = body_bytes(i.request.body.as_ref(), &i.request.headers)
        .map_err(|e| format!("its request body {e}"))?;
    let response_body = body_bytes(
        i.response.body.as_ref().and_then(|b| b.string.as_ref()),
        &i.response.headers,
    )
    .map_err(|e| format!("its response body {e}"))?;
    // The body is stored decoded, so its encoding and length no longer describe it.
    let headers: Vec<(String, String)> = i
        .response
        .headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("content-encoding")
                && !name.eq_ignore_ascii_case("content-length")
        })
        .map(|(name, values)| (name.clone(), values.join(", ")))
        .collect();
    let exchange = traffic::exchange(
        &RawRequest {
            method: &i.request.method,
            path: url.path(),
            query: url.query(),
            body: &request_body,
        },
        &RawResponse {
            status: i.response.status.code,
            headers,
            body: &response_body,
        },
    );
    Ok((exchange, host))
}

/// The credential values an interaction carried: whole header values, the token of a
/// `Bearer`/`Basic` value, each cookie's value (request `Cookie`, response `Set-Cookie`),
/// and credential query parameters.
fn credentials(i: &Interaction) -> Vec<String> {
    let r = &i.request;
    let mut out = Vec::new();
    let set_cookie = i
        .response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"));
    let sent = r
        .headers
        .iter()
        .filter(|(name, _)| CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
    for (name, values) in sent.chain(set_cookie) {
        let cookie = name.to_ascii_lowercase().contains("cookie");
        for v in values {
            let v = v.trim();
            out.push(v.to_string());
            if cookie {
                // `Set-Cookie: name=value; Domain=…; Path=/`: only the first pair is the
                // cookie (its attributes, such as the domain, are not secrets).
                let pairs = v.split(';').filter_map(|p| p.split_once('='));
                let take = if name.eq_ignore_ascii_case("set-cookie") {
                    1
                } else {
                    usize::MAX
                };
                out.extend(pairs.take(take).map(|(_, value)| value.trim().to_string()));
            } else if let Some((_, token)) = v.split_once(char::is_whitespace) {
                out.push(token.trim().to_string());
            }
        }
    }
    if let Ok(url) = reqwest::Url::parse(&r.uri) {
        for (k, v) in url.query_pairs() {
            if CREDENTIAL_QUERY.contains(&k.to_ascii_lowercase().as_str()) {
                out.push(v.into_owned());
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The bytes of a body: `!!binary` decoded from base64, then gunzipped or inflated when
/// the headers say so (or the bytes are gzip's), at most the cassette limit.
fn body_bytes(
    body: Option<&Tagged<String>>,
    headers: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<u8>, String> {
    let Some(Tagged(text, tag)) = body else {
        return Ok(Vec::new());
    };
    let binary = tag.as_deref().is_some_and(|t| t.ends_with("binary"));
    let bytes = if binary {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("is not valid base64 ({e})"))?
    } else {
        text.clone().into_bytes()
    };
    let encoding = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.join(",").to_ascii_lowercase())
        .unwrap_or_default();
    let gzip = encoding.contains("gzip") || bytes.starts_with(&[0x1f, 0x8b]);
    if gzip {
        inflate(flate2::read::MultiGzDecoder::new(bytes.as_slice()), "gzip")
    } else if encoding.contains("deflate") {
        inflate(flate2::read::ZlibDecoder::new(bytes.as_slice()), "deflate")
    } else if encoding.contains("br") || encoding.contains("zstd") {
        Err(format!("is {encoding}-encoded, which is not supported"))
    } else {
        Ok(bytes)
    }
}

fn inflate(reader: impl Read, what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    reader
        .take(MAX_CASSETTE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("is not valid {what} ({e})"))?;
    if out.len() > MAX_CASSETTE_BYTES {
        return Err(format!("inflates to more than {MAX_CASSETTE_BYTES} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip_base64(text: &str) -> String {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).expect("gzip");
        let bytes = enc.finish().expect("gzip");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    const CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hi"}}]}"#;

    #[test]
    fn plain_binary_and_gzip_bodies_are_decoded() {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(r#"{"messages":[{"role":"user","content":"Hi"}],"model":"d"}"#);
        let gz = gzip_base64(CHAT);
        let text = format!(
            "interactions:\n\
             - request:\n    body: !!binary |\n      {b64}\n    headers:\n      api-key:\n      - planted-key-0123456789\n    method: POST\n    uri: https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21\n  \
               response:\n    body:\n      string: !!binary |\n        {gz}\n    headers:\n      Content-Encoding:\n      - gzip\n      Content-Type:\n      - application/json\n      apim-request-id:\n      - abc\n      Set-Cookie:\n      - s=1\n    status:\n      code: 200\n      message: OK\n\
             version: 1\n"
        );
        let out = import_str(&text, "c.yaml").expect("imports");
        assert_eq!(out.exchanges.len(), 1, "{:?}", out.skipped);
        let e = &out.exchanges[0];
        assert_eq!(e.request.path, "/openai/deployments/d/chat/completions");
        assert_eq!(e.request.body.as_ref().expect("json")["model"], "d");
        assert_eq!(e.response.body.as_ref().expect("json")["id"], "chatcmpl-1");
        assert_eq!(
            e.response.headers.keys().collect::<Vec<_>>(),
            vec!["apim-request-id", "content-type"]
        );
        assert!(out.secrets.contains(&"planted-key-0123456789".to_string()));
        assert!(out.secrets.contains(&"1".to_string()), "the cookie's value");
        assert_eq!(out.host.as_deref(), Some("res.openai.azure.com"));
        assert_eq!(out.api_version.as_deref(), Some("2024-10-21"));
    }

    #[test]
    fn non_azure_interactions_are_skipped_with_their_line() {
        let text = "interactions:\n\
            - request:\n    body: null\n    headers: {}\n    method: GET\n    uri: https://api.openai.com/v1/models\n  response:\n    body: {string: ''}\n    headers: {}\n    status: {code: 200, message: OK}\n\
            - request:\n    body: null\n    headers:\n      Authorization:\n      - Bearer tok-abcdefghijklmnop\n    method: GET\n    uri: https://res.openai.azure.com/health\n  response:\n    body: {string: ''}\n    headers: {}\n    status: {code: 200, message: OK}\n\
            version: 1\n";
        let out = import_str(text, "c.yaml").expect("imports");
        assert!(out.exchanges.is_empty());
        assert_eq!(out.skipped.len(), 2);
        assert_eq!(out.skipped[0].origin, "c.yaml:2");
        assert!(
            out.skipped[0].reason.contains("api.openai.com"),
            "{:?}",
            out.skipped
        );
        assert!(out.skipped[1].reason.contains("not an Azure OpenAI route"));
        assert!(out.secrets.contains(&"tok-abcdefghijklmnop".to_string()));
        assert!(out
            .secrets
            .contains(&"Bearer tok-abcdefghijklmnop".to_string()));
    }

    #[test]
    fn malformed_files_are_located() {
        let e = import_str("interactions:\n- request: [\n", "bad.yaml").expect_err("malformed");
        assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
        let e = import_str(
            "interactions:\n- request:\n    method: POST\n  response:\n    status: {code: 200}\n",
            "missing.yaml",
        )
        .expect_err("no uri");
        assert!(e.to_string().starts_with("missing.yaml:"), "{e}");
        assert!(e.to_string().contains("uri"), "{e}");
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        assert!(inflate(
            std::io::repeat(0).take(MAX_CASSETTE_BYTES as u64 + 10),
            "gzip"
        )
        .is_err());
    }
}
