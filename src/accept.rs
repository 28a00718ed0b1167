//! Serving loopback listeners (the OTLP receiver, the recording proxy): accept, and
//! serve each connection on its own task until the owner aborts the loop.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts connections forever, serving each with HTTP/1.1 or HTTP/2 (h2c, as gRPC
/// and some exporters use). Connections live in a `JoinSet` owned by this task, so
/// aborting the task closes them all.
pub(crate) async fn serve<S, F, B>(listener: TcpListener, make_service: F)
where
    F: Fn() -> S,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A timer lets hyper enforce its header-read timeout, so an idle half-open
    // connection cannot hold a task forever.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually fd exhaustion; back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = make_service();
        let builder = builder.clone();
        connections.spawn(async move {
            // Errors here are per-connection (client went away, bad framing); the
            // listener keeps serving others.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
