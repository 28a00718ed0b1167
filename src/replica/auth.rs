//! Who is calling: an `api-key`, an Entra ID bearer token, or nobody.

use serde::Serialize;
use wiremock::http::HeaderMap;

use super::routes::Api;

/// How a request authenticated. The credential itself is never kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    ApiKey,
    Bearer,
    None,
    Invalid,
}

/// Why a request was refused; each maps to one of Azure's (or OpenAI's) 401 bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthFailure {
    MissingKey,
    WrongKey,
    BadToken,
}

/// Checks credentials by the rules of the route's API family.
///
/// Azure (dated and v1): `api-key` must equal the configured key; a bearer token is accepted
/// when it looks like an Entra ID JWT (three base64url segments) or, as Azure's v1 API does for
/// clients that send the key as a bearer token, equals the key. Plain OpenAI: bearer == key.
pub(super) fn check(headers: &HeaderMap, api: Api, key: &str) -> (AuthKind, Option<AuthFailure>) {
    let api_key = headers.get("api-key").map(|v| v.as_bytes());
    let bearer = headers
        .get("authorization")
        .map(|v| v.as_bytes())
        .map(|v| v.strip_prefix(b"Bearer ").unwrap_or(b"\0"));
    match api {
        Api::OpenAi => match bearer {
            Some(token) if token == key.as_bytes() => (AuthKind::Bearer, None),
            Some(_) => (AuthKind::Invalid, Some(AuthFailure::WrongKey)),
            None => (AuthKind::None, Some(AuthFailure::MissingKey)),
        },
        Api::Azure | Api::AzureV1 => match (api_key, bearer) {
            (Some(k), _) if k == key.as_bytes() => (AuthKind::ApiKey, None),
            (Some(_), _) => (AuthKind::Invalid, Some(AuthFailure::WrongKey)),
            (None, Some(token)) if token == key.as_bytes() || looks_like_jwt(token) => {
                (AuthKind::Bearer, None)
            }
            (None, Some(_)) => (AuthKind::Invalid, Some(AuthFailure::BadToken)),
            (None, None) => (AuthKind::None, Some(AuthFailure::MissingKey)),
        },
    }
}

fn looks_like_jwt(token: &[u8]) -> bool {
    let segments = token.split(|b| *b == b'.');
    let mut count = 0;
    for seg in segments {
        count += 1;
        if seg.is_empty()
            || !seg
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return false;
        }
    }
    count == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn azure_rules() {
        let k = "secret";
        assert_eq!(
            check(&headers(&[("api-key", "secret")]), Api::Azure, k),
            (AuthKind::ApiKey, None)
        );
        assert_eq!(
            check(&headers(&[("api-key", "nope")]), Api::Azure, k),
            (AuthKind::Invalid, Some(AuthFailure::WrongKey))
        );
        assert_eq!(
            check(
                &headers(&[("authorization", "Bearer aa.bb.cc")]),
                Api::Azure,
                k
            ),
            (AuthKind::Bearer, None)
        );
        assert_eq!(
            check(
                &headers(&[("authorization", "Bearer garbage")]),
                Api::Azure,
                k
            ),
            (AuthKind::Invalid, Some(AuthFailure::BadToken))
        );
        assert_eq!(
            check(&headers(&[("authorization", "Basic x")]), Api::Azure, k),
            (AuthKind::Invalid, Some(AuthFailure::BadToken))
        );
        assert_eq!(
            check(&headers(&[]), Api::AzureV1, k),
            (AuthKind::None, Some(AuthFailure::MissingKey))
        );
    }

    #[test]
    fn openai_rules() {
        let k = "secret";
        assert_eq!(
            check(
                &headers(&[("authorization", "Bearer secret")]),
                Api::OpenAi,
                k
            ),
            (AuthKind::Bearer, None)
        );
        assert_eq!(
            check(
                &headers(&[("authorization", "Bearer aa.bb.cc")]),
                Api::OpenAi,
                k
            ),
            (AuthKind::Invalid, Some(AuthFailure::WrongKey))
        );
        assert_eq!(
            check(&headers(&[("api-key", "secret")]), Api::OpenAi, k),
            (AuthKind::None, Some(AuthFailure::MissingKey))
        );
    }
}
