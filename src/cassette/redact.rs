//! What a cassette keeps of an exchange: which headers are written, which query
//! parameters are credentials; every string goes through the one [`Redactor`].

use std::collections::BTreeMap;

use crate::redact::{Redactor, REDACTED};

use super::model::{Exchange, SseEvent};

/// Credentials: never written, whatever else is configured.
pub(super) const NEVER_WRITTEN: &[&str] = &[
    "api-key",
    "authorization",
    "cookie",
    "set-cookie",
    "ocp-apim-subscription-key",
    "proxy-authorization",
];

/// Response headers worth keeping (exact names, lower case); plus every `x-ratelimit-*`.
pub(super) const KEPT_HEADERS: &[&str] = &[
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

/// True for a response header that is written to a cassette.
pub(super) fn keep_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !NEVER_WRITTEN.contains(&name.as_str())
        && (KEPT_HEADERS.contains(&name.as_str()) || name.starts_with("x-ratelimit-"))
}

/// The exchange as it may be written: credential headers dropped, secrets scrubbed.
pub(super) fn exchange(redactor: &Redactor, e: &Exchange) -> Exchange {
    let mut out = e.clone();
    let r = &mut out.request;
    r.path = redactor.text(&r.path);
    r.query = r
        .query
        .iter()
        .map(|(k, v)| {
            let secret = SECRET_QUERY_PARAMS.contains(&k.to_ascii_lowercase().as_str());
            let v = if secret {
                REDACTED.to_string()
            } else {
                redactor.text(v)
            };
            (redactor.text(k), v)
        })
        .collect();
    r.body = r.body.as_ref().map(|b| redactor.value(b));
    r.text = r.text.as_ref().map(|t| redactor.text(t));
    let s = &mut out.response;
    s.headers = s
        .headers
        .iter()
        .filter(|(k, _)| keep_header(k))
        .map(|(k, v)| (k.to_ascii_lowercase(), redactor.text(v)))
        .collect::<BTreeMap<_, _>>();
    s.body = s.body.as_ref().map(|b| redactor.value(b));
    s.text = s.text.as_ref().map(|t| redactor.text(t));
    s.events = s.events.as_ref().map(|events| {
        events
            .iter()
            .map(|ev| SseEvent {
                event: ev.event.as_ref().map(|n| redactor.text(n)),
                data: redactor.value(&ev.data),
            })
            .collect()
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
