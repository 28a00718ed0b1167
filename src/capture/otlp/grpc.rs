//! The OTLP/gRPC side: `opentelemetry.proto.collector.trace.v1.TraceService/Export`,
//! served by the generated tonic service, gzip accepted.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;

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

/// The tower service for the gRPC port. Oversized messages (after decompression) are
/// refused by tonic before they reach `export`: `OUT_OF_RANGE` when
/// too large as sent, `RESOURCE_EXHAUSTED` when too large once gzip-inflated.
pub(crate) fn service(
    store: Arc<SpanStore>,
    max_message_bytes: usize,
) -> TraceServiceServer<GrpcTraceService> {
    TraceServiceServer::new(GrpcTraceService { store })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes)
}
