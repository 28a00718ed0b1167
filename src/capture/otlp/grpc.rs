//! The OTLP/gRPC side: `opentelemetry.proto.collector.trace.v1.TraceService/Export`,
//! served by the generated tonic service, gzip accepted.
//!
//! Each request body is read whole, with the message limit, before tonic sees it
//! ([`serve_one`]): tonic alone stops reading an oversized message and resets the
//! stream, so the client never learns why; here it gets `RESOURCE_EXHAUSTED`, as the
//! gRPC spec asks for a message over the receiver's limit.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tower::Service as _;

use crate::accept::{read_limited, ReadError, TimedBody};

use super::convert::convert;
use super::store::SpanStore;

#[derive(Debug)]
pub(crate) struct GrpcTraceService {
    store: Arc<SpanStore>,
}

#[tonic::async_trait]
impl TraceService for GrpcTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.store.count_request();
        self.store.insert(convert(request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Bytes of gRPC framing before each message (compression flag, length).
const FRAME_HEADER: usize = 5;

/// Serves one request: its body read with the limit, then handed to tonic.
pub(crate) async fn serve_one(
    mut service: TraceServiceServer<GrpcTraceService>,
    request: http::Request<TimedBody>,
    max_message_bytes: usize,
) -> Result<http::Response<tonic::body::Body>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let limit = max_message_bytes.saturating_add(FRAME_HEADER);
    let status = match read_limited(body, None, limit).await {
        Ok(bytes) => {
            let request = http::Request::from_parts(parts, Full::<Bytes>::new(bytes));
            // The generated server is always ready.
            let _ = std::future::poll_fn(|cx| {
                tower::Service::<http::Request<Full<Bytes>>>::poll_ready(&mut service, cx)
            })
            .await;
            return service.call(request).await;
        }
        Err(ReadError::TooLarge) => tonic::Status::resource_exhausted(format!(
            "message larger than the {max_message_bytes}-byte limit"
        )),
        Err(ReadError::TimedOut) => {
            tonic::Status::deadline_exceeded("the request did not arrive in time")
        }
        Err(ReadError::Failed(e)) => tonic::Status::cancelled(format!("request cut off: {e}")),
    };
    Ok(status.into_http())
}

/// The tower service for the gRPC port. Messages over the limit as sent are refused by
/// [`serve_one`]; tonic's own limit refuses those too large once gzip-inflated
/// (`RESOURCE_EXHAUSTED` too).
pub(crate) fn service(
    store: Arc<SpanStore>,
    max_message_bytes: usize,
) -> TraceServiceServer<GrpcTraceService> {
    TraceServiceServer::new(GrpcTraceService { store })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes)
}
