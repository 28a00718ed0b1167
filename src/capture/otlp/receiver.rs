//! The receiver handle: binds the HTTP and gRPC listeners on loopback, runs their
//! accept loops, and hands received spans out per cell.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::backend::{Backend, BackendRequest};
use super::grpc;
use super::http::{handle, HttpState};
use super::store::{ReceiverStats, SpanStore};
use crate::accept::ServerTimeouts;
use crate::capture::span::CapturedSpan;

/// The resource attribute that names the cell a span belongs to.
pub const DEFAULT_CELL_ATTRIBUTE: &str = "hh_compat.cell";

/// How the receiver listens and how much it holds.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Largest request body (and largest decompressed body) accepted; larger → 413
    /// over HTTP, `RESOURCE_EXHAUSTED` over gRPC.
    pub max_body_bytes: usize,
    /// Most spans held across all cells; beyond it the oldest are dropped and counted.
    pub max_spans_buffered: usize,
    /// The resource attribute whose string value names a span's cell.
    pub cell_attribute: String,
    /// Where the OTLP/HTTP listener binds (default `127.0.0.1:0`, any free port).
    pub http_addr: SocketAddr,
    /// Where the OTLP/gRPC listener binds (default `127.0.0.1:0`).
    pub grpc_addr: SocketAddr,
    /// How long a client may take to send a request's head and body.
    pub timeouts: ServerTimeouts,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        ReceiverConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_spans_buffered: 100_000,
            cell_attribute: DEFAULT_CELL_ATTRIBUTE.to_string(),
            http_addr: loopback,
            grpc_addr: loopback,
            timeouts: ServerTimeouts::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("could not bind the OTLP/{protocol} receiver on {addr}: {source}")]
    Bind {
        protocol: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid OTLP receiver configuration: {0}")]
    Config(&'static str),
}

/// A running receiver. Dropping it (or calling [`OtlpReceiver::shutdown`]) stops both
/// listeners and every open connection.
#[derive(Debug)]
pub struct OtlpReceiver {
    store: Arc<SpanStore>,
    backend: Arc<Backend>,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Binds both listeners and starts serving on the current tokio runtime.
    pub async fn start(config: ReceiverConfig) -> Result<Self, ReceiverError> {
        if config.max_body_bytes == 0 {
            return Err(ReceiverError::Config("max_body_bytes must be positive"));
        }
        if config.max_spans_buffered == 0 {
            return Err(ReceiverError::Config("max_spans_buffered must be positive"));
        }
        if config.cell_attribute.is_empty() {
            return Err(ReceiverError::Config("cell_attribute must not be empty"));
        }
        let bind = |protocol: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .and_then(|l| l.local_addr().map(|a| (l, a)))
                .map_err(|source| ReceiverError::Bind {
                    protocol,
                    addr,
                    source,
                })
        };
        let (http_listener, http_addr) = bind("HTTP", config.http_addr).await?;
        let (grpc_listener, grpc_addr) = bind("gRPC", config.grpc_addr).await?;

        let store = Arc::new(SpanStore::new(
            config.max_spans_buffered,
            config.cell_attribute.clone(),
        ));
        let backend = Arc::new(Backend::default());
        let http_state = Arc::new(HttpState {
            store: store.clone(),
            backend: backend.clone(),
            max_body_bytes: config.max_body_bytes,
        });
        let http_task = tokio::spawn(crate::accept::serve(
            http_listener,
            config.timeouts,
            move || {
                let state = http_state.clone();
                hyper::service::service_fn(move |req| handle(req, state.clone()))
            },
        ));
        let grpc_service = grpc::service(store.clone(), config.max_body_bytes);
        let max = config.max_body_bytes;
        let grpc_task = tokio::spawn(crate::accept::serve(
            grpc_listener,
            config.timeouts,
            move || {
                let service = grpc_service.clone();
                hyper::service::service_fn(move |req| grpc::serve_one(service.clone(), req, max))
            },
        ));

        Ok(OtlpReceiver {
            store,
            backend,
            http_addr,
            grpc_addr,
            tasks: vec![http_task, grpc_task],
        })
    }

    /// Base URL of the OTLP/HTTP listener, e.g. `http://127.0.0.1:4318`; exporters
    /// append `/v1/traces` themselves.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// URL of the OTLP/gRPC listener, e.g. `http://127.0.0.1:4317`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Removes and returns the spans received so far for `cell`, sorted by start time
    /// then span id.
    pub fn take_cell(&self, cell: &str) -> Vec<CapturedSpan> {
        self.store.take_cell(cell)
    }

    /// Spans received for `cell` and not yet taken.
    pub fn pending(&self, cell: &str) -> usize {
        self.store.pending(cell)
    }

    /// Waits until `cell` has at least `at_least` spans or `timeout` passes, then
    /// removes and returns whatever it has (possibly fewer, possibly more).
    pub async fn wait_for_spans(
        &self,
        cell: &str,
        at_least: usize,
        timeout: Duration,
    ) -> Vec<CapturedSpan> {
        self.store.wait_for(cell, at_least, timeout).await;
        self.store.take_cell(cell)
    }

    /// Accepts `key` (see [`super::new_key`]) as HoneyHive's backend would a project's
    /// API key, attributing whatever arrives with it to `cell`. False when the receiver
    /// already holds its limit of keys.
    pub fn admit_key(&self, key: &str, cell: &str) -> bool {
        self.backend.admit(key, cell)
    }

    /// Stops accepting `key` (HoneyHive's routes answer 401 to it from now on).
    pub fn revoke_key(&self, key: &str) {
        self.backend.revoke(key)
    }

    /// Removes and returns the requests `cell`'s key made, in arrival order.
    pub fn take_backend_requests(&self, cell: &str) -> Vec<BackendRequest> {
        self.backend.take(cell)
    }

    /// Removes and returns the spans that carried no cell attribute.
    pub fn unattributed(&self) -> Vec<CapturedSpan> {
        self.store.take_unattributed()
    }

    pub fn stats(&self) -> ReceiverStats {
        self.store.stats()
    }

    /// Stops both listeners and all connections, and waits until they are gone so the
    /// ports are free again.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
