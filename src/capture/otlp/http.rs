//! The OTLP/HTTP side: `POST /v1/traces` (and HoneyHive's `/opentelemetry/v1/traces`)
//! in protobuf or JSON, optionally gzip-compressed, plus HoneyHive's `/session/start`.
//!
//! Status codes follow the OTLP/HTTP spec: 200 with an empty
//! `ExportTraceServiceResponse` in the request's encoding; 400 with a
//! `google.rpc.Status` body for undecodable payloads; 413 for bodies over the limit
//! (compressed or decompressed); 415 for content types or encodings we cannot read.
//! HoneyHive's two routes also want a known API key as `Authorization: Bearer` (401
//! without one); with one, spans and requests are attributed to the key's cell.

use std::convert::Infallible;
use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use super::backend::{Backend, BackendRequest};
use super::convert::convert;
use super::store::SpanStore;
use crate::accept::{declared_length, read_limited, ReadError, TimedBody};

/// Bodies of `/session/start` are read only to drain the connection; cap them small.
const SESSION_BODY_LIMIT: usize = 1024 * 1024;
/// Error messages come from decoders; keep them short so a body is never echoed at length.
const MAX_ERROR_MESSAGE: usize = 200;

pub(crate) type HttpResponse = Response<Full<Bytes>>;

#[derive(Debug)]
pub(crate) struct HttpState {
    pub(crate) store: Arc<SpanStore>,
    pub(crate) backend: Arc<Backend>,
    pub(crate) max_body_bytes: usize,
}

/// The payload encodings OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_content_type(value: Option<&HeaderValue>) -> Option<Self> {
        let raw = value?.to_str().ok()?;
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why an export request was refused; each maps to one HTTP status.
#[derive(Debug)]
enum Rejection {
    BadRequest(String),
    TooLarge(String),
    Unsupported(String),
}

/// `google.rpc.Status`, the error body the OTLP/HTTP spec asks for (details omitted).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

// gRPC status codes used in error bodies.
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_NOT_FOUND: i32 = 5;
const GRPC_UNAUTHENTICATED: i32 = 16;
const GRPC_RESOURCE_EXHAUSTED: i32 = 8;
const GRPC_UNIMPLEMENTED: i32 = 12;

pub(crate) async fn handle(
    req: Request<TimedBody>,
    state: Arc<HttpState>,
) -> Result<HttpResponse, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let cell = state.backend.cell_for(req.headers());
    let honeyhive_route = matches!(path.as_str(), "/opentelemetry/v1/traces" | "/session/start");
    let response = match path.as_str() {
        _ if method != Method::POST && (honeyhive_route || path == "/v1/traces") => {
            method_not_allowed()
        }
        _ if honeyhive_route && cell.is_none() => {
            state.store.count_rejected();
            error(
                StatusCode::UNAUTHORIZED,
                GRPC_UNAUTHENTICATED,
                "missing or unknown API key; send `Authorization: Bearer <key>`",
                Encoding::Json,
            )
        }
        "/v1/traces" | "/opentelemetry/v1/traces" => export(req, &state, cell.as_ref()).await,
        "/session/start" => session_start(req, &state).await,
        _ => error(
            StatusCode::NOT_FOUND,
            GRPC_NOT_FOUND,
            "no such route; traces go to POST /v1/traces",
            Encoding::Json,
        ),
    };
    if let Some(cell) = &cell {
        state.backend.record(
            cell,
            BackendRequest {
                method: method.to_string(),
                path,
                status: response.status().as_u16(),
            },
        );
    }
    Ok(response)
}

async fn export(
    req: Request<TimedBody>,
    state: &HttpState,
    cell: Option<&Arc<str>>,
) -> HttpResponse {
    state.store.count_request();
    let encoding = Encoding::from_content_type(req.headers().get(CONTENT_TYPE));
    match decode_export(req, encoding, state.max_body_bytes).await {
        Ok(request) => {
            state.store.insert_for(convert(request), cell);
            ok(encoding.unwrap_or(Encoding::Protobuf))
        }
        Err(rejection) => {
            state.store.count_rejected();
            let enc = encoding.unwrap_or(Encoding::Json);
            match rejection {
                Rejection::BadRequest(m) => {
                    error(StatusCode::BAD_REQUEST, GRPC_INVALID_ARGUMENT, &m, enc)
                }
                Rejection::TooLarge(m) => error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    GRPC_RESOURCE_EXHAUSTED,
                    &m,
                    enc,
                ),
                Rejection::Unsupported(m) => error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    GRPC_UNIMPLEMENTED,
                    &m,
                    enc,
                ),
            }
        }
    }
}

async fn decode_export(
    req: Request<TimedBody>,
    encoding: Option<Encoding>,
    max: usize,
) -> Result<ExportTraceServiceRequest, Rejection> {
    let Some(encoding) = encoding else {
        return Err(Rejection::Unsupported(
            "content type must be application/x-protobuf or application/json".into(),
        ));
    };
    let gzip = match req.headers().get(CONTENT_ENCODING).map(HeaderValue::to_str) {
        None => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("identity") || v.trim().is_empty() => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => true,
        Some(_) => {
            return Err(Rejection::Unsupported(
                "content encoding must be gzip or identity".into(),
            ))
        }
    };
    let body = read_body(req, max).await?;
    let body = if gzip { gunzip(&body, max)? } else { body };
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body.as_ref())
            .map_err(|e| Rejection::BadRequest(format!("invalid protobuf: {e}"))),
        Encoding::Json => decode_json(&body),
    }
}

/// Reads the whole body, refusing one that announces or turns out to be larger than
/// `max` (see [`crate::accept::read_limited`]: the client still reads the 413).
async fn read_body(req: Request<TimedBody>, max: usize) -> Result<Bytes, Rejection> {
    let declared = declared_length(req.headers());
    match read_limited(req.into_body(), declared, max).await {
        Ok(body) => Ok(body),
        Err(ReadError::TooLarge) => Err(too_large(max)),
        Err(ReadError::TimedOut) => Err(Rejection::BadRequest(
            "the request body did not arrive in time".into(),
        )),
        Err(ReadError::Failed(e)) => {
            Err(Rejection::BadRequest(format!("could not read body: {e}")))
        }
    }
}

/// Decompresses with a cap on the output, so a small "gzip bomb" cannot expand into
/// gigabytes of memory.
fn gunzip(body: &[u8], max: usize) -> Result<Bytes, Rejection> {
    let mut out = Vec::new();
    let limit = (max as u64).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Rejection::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() > max {
        return Err(too_large(max));
    }
    Ok(Bytes::from(out))
}

fn too_large(max: usize) -> Rejection {
    Rejection::TooLarge(format!("request body exceeds the {max}-byte limit"))
}

/// OTLP/JSON via the proto types' serde support. Some exporters write what the
/// protobuf JSON mapping allows but those types reject: an empty array as
/// `{"arrayValue": {}}` (Python's), enum names for span kinds and status codes
/// (`"SPAN_KIND_CLIENT"`, `"STATUS_CODE_OK"`) and `null` for absent fields (HoneyHive's
/// SDK: `"parentSpanId": null` on a root span). Such bodies are retried
/// once with the lists filled in and the names turned into their numbers.
fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, Rejection> {
    match serde_json::from_slice::<ExportTraceServiceRequest>(body) {
        Ok(request) => Ok(request),
        Err(first) => {
            let mut value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| Rejection::BadRequest(format!("invalid JSON: {e}")))?;
            normalize_json(&mut value);
            serde_json::from_value(value).map_err(|second| {
                Rejection::BadRequest(format!(
                    "invalid OTLP/JSON: {first} (and after normalizing: {second})"
                ))
            })
        }
    }
}

fn normalize_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            // `null` is the field's default in the protobuf JSON mapping.
            map.retain(|_, v| !v.is_null());
            for (key, child) in map.iter_mut() {
                match (key.as_str(), &mut *child) {
                    ("arrayValue" | "kvlistValue", Value::Object(inner)) => {
                        inner
                            .entry("values")
                            .or_insert_with(|| Value::Array(Vec::new()));
                    }
                    ("kind", Value::String(name)) => {
                        if let Some(n) = enum_number(name, "SPAN_KIND_", SPAN_KINDS) {
                            *child = Value::from(n);
                        }
                    }
                    ("status", Value::Object(status)) => {
                        if let Some(Value::String(name)) = status.get("code") {
                            if let Some(n) = enum_number(name, "STATUS_CODE_", STATUS_CODES) {
                                status.insert("code".into(), Value::from(n));
                            }
                        }
                    }
                    _ => {}
                }
                normalize_json(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_json),
        _ => {}
    }
}

/// The protobuf enum names OTLP/JSON may carry instead of numbers, in number order.
const SPAN_KINDS: &[&str] = &[
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: &[&str] = &["UNSET", "OK", "ERROR"];

fn enum_number(name: &str, prefix: &str, names: &[&str]) -> Option<usize> {
    let short = name.strip_prefix(prefix)?;
    names.iter().position(|n| *n == short)
}

/// HoneyHive's session start, answered with every id a recent SDK validates
/// (`session_id`, `event_id`, `org_id`, `workspace_id`, `project_id`; without them it
/// logs a validation error and falls back to a local id). No request content is echoed.
async fn session_start(req: Request<TimedBody>, state: &HttpState) -> HttpResponse {
    // The content is not needed, but reading it keeps keep-alive connections usable;
    // an oversized one is refused, with a status rather than a dropped connection.
    let declared = declared_length(req.headers());
    if let Err(e) = read_limited(req.into_body(), declared, SESSION_BODY_LIMIT).await {
        let (status, code, message) = match e {
            ReadError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                GRPC_RESOURCE_EXHAUSTED,
                format!("request body exceeds the {SESSION_BODY_LIMIT}-byte limit"),
            ),
            ReadError::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                GRPC_INVALID_ARGUMENT,
                "the request body did not arrive in time".to_string(),
            ),
            ReadError::Failed(e) => (
                StatusCode::BAD_REQUEST,
                GRPC_INVALID_ARGUMENT,
                format!("could not read body: {e}"),
            ),
        };
        return error(status, code, &message, Encoding::Json);
    }
    let n = state.store.count_session();
    let body = serde_json::json!({
        "session_id": format!("00000000-0000-4000-8000-{n:012x}"),
        "event_id": format!("00000000-0000-4000-9000-{n:012x}"),
        "org_id": "hh-compat-org",
        "workspace_id": "hh-compat-workspace",
        "project_id": "hh-compat-project",
    });
    respond(StatusCode::OK, "application/json", body.to_string().into())
}

fn ok(encoding: Encoding) -> HttpResponse {
    let body = match encoding {
        // An empty `ExportTraceServiceResponse` encodes to zero bytes.
        Encoding::Protobuf => Bytes::new(),
        Encoding::Json => Bytes::from_static(b"{}"),
    };
    respond(StatusCode::OK, encoding.content_type(), body)
}

fn error(status: StatusCode, grpc_code: i32, message: &str, encoding: Encoding) -> HttpResponse {
    let message: String = message.chars().take(MAX_ERROR_MESSAGE).collect();
    let body = match encoding {
        Encoding::Protobuf => Bytes::from(
            RpcStatus {
                code: grpc_code,
                message,
            }
            .encode_to_vec(),
        ),
        Encoding::Json => Bytes::from(
            serde_json::json!({ "code": grpc_code, "message": message, "details": [] }).to_string(),
        ),
    };
    respond(status, encoding.content_type(), body)
}

fn method_not_allowed() -> HttpResponse {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        GRPC_UNIMPLEMENTED,
        "only POST is supported",
        Encoding::Json,
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write as _;

    #[test]
    fn content_types_are_matched_on_their_essence() {
        let of = |s: &'static str| Encoding::from_content_type(Some(&HeaderValue::from_static(s)));
        assert_eq!(of("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(of("application/protobuf"), Some(Encoding::Protobuf));
        assert_eq!(of("Application/JSON; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(of("text/plain"), None);
        assert_eq!(Encoding::from_content_type(None), None);
    }

    #[test]
    fn gunzip_caps_the_decompressed_size() {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 10_000]).expect("write");
        let gz = enc.finish().expect("finish");
        assert_eq!(gunzip(&gz, 10_000).expect("fits").len(), 10_000);
        assert!(matches!(gunzip(&gz, 9_999), Err(Rejection::TooLarge(_))));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(Rejection::BadRequest(_))
        ));
    }

    #[test]
    fn json_with_empty_array_values_is_accepted() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
            "name":"s","kind":3,"startTimeUnixNano":"5","endTimeUnixNano":6,
            "attributes":[{"key":"empty","value":{"arrayValue":{}}},
                          {"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;
        let req = decode_json(body).expect("decodes");
        let spans = convert(req);
        assert_eq!(spans[0].attributes.len(), 2);
        assert_eq!(spans[0].start_unix_nanos, 5);
        assert_eq!(spans[0].end_unix_nanos, 6);
        let named = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
            "name":"openai.chat","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"},
            "parentSpanId":null,
            "startTimeUnixNano":"5","endTimeUnixNano":"6"}]}]}]}"#;
        let spans = convert(decode_json(named).expect("enum names decode"));
        assert_eq!(spans[0].kind, crate::capture::SpanKind::Client);
        assert_eq!(spans[0].status.code, crate::capture::StatusCode::Error);
        assert!(matches!(
            decode_json(b"{nope"),
            Err(Rejection::BadRequest(_))
        ));
        assert!(matches!(
            decode_json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#),
            Err(Rejection::BadRequest(_))
        ));
    }
}
