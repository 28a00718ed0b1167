//! Serving loopback listeners (the replica, the OTLP receiver, the recording proxy):
//! accept, and serve each connection on its own task until the owner aborts the loop.
//!
//! Every server of the tool goes through [`serve`], so the defences against hostile or
//! broken clients live here once:
//! - an accept error (usually "too many open files") never ends the loop: it is logged
//!   once, the loop backs off briefly and accepts again;
//! - open connections are capped ([`MAX_CONNECTIONS`]); beyond the cap the loop waits
//!   for one to close instead of accepting more;
//! - a connection must send its first bytes, and an HTTP/1 request its whole head, within
//!   [`ServerTimeouts::header_read`] (slowloris on the head);
//! - a request body must arrive whole within [`ServerTimeouts::body_read`] of its head:
//!   services see it as a [`TimedBody`], which fails with [`BodyTimedOut`] past the
//!   deadline (slowloris on the body);
//! - [`read_limited`] reads a body up to a limit, refusing one whose `Content-Length` is
//!   over it without reading it, and throws the rest of an oversized body away in the
//!   background (bounded) so the client gets to read the refusal instead of a reset.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Most connections one listener keeps open at once.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Wait after an accept error before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Most bytes of an oversized body read and thrown away before the connection is given up.
const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;

/// How long a client may take to send a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// From connecting (or the end of the previous request) to the end of the request
    /// head; past it the connection is closed.
    pub header_read: Duration,
    /// From the request head to the end of its body; past it reading the body fails.
    pub body_read: Duration,
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        ServerTimeouts {
            header_read: Duration::from_secs(30),
            body_read: Duration::from_secs(60),
        }
    }
}

/// Accepts connections until the future is dropped, serving each with HTTP/1.1 or
/// HTTP/2 (h2c, as gRPC and some exporters use). Connections live in a `JoinSet` owned
/// by this future, so dropping or aborting it closes them all.
pub(crate) async fn serve<S, F, B>(listener: TcpListener, timeouts: ServerTimeouts, make_service: F)
where
    F: Fn() -> S,
    S: hyper::service::Service<hyper::Request<TimedBody>, Response = hyper::Response<B>>
        + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Pings find peers that vanished without closing.
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut logged = false;
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if !logged {
                    logged = true;
                    let at = listener
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    eprintln!("hh-compat: accepting on {at} failed ({e}); still accepting");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = Timed {
            inner: make_service(),
            body_read: timeouts.body_read,
        };
        let builder = builder.clone();
        connections.spawn(async move {
            let _slot = slot;
            if !first_bytes(&stream, timeouts.header_read).await {
                return;
            }
            // Errors here are per-connection (client went away, bad framing, a timeout);
            // the listener keeps serving others.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Waits, at most `limit`, until the client has sent enough to tell HTTP/1 from HTTP/2:
/// the version sniffing reads without a timeout of its own. False when the client
/// closed or stalled.
async fn first_bytes(stream: &TcpStream, limit: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let sniff = async {
        let mut buf = [0u8; PREFACE.len()];
        loop {
            let n = match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            if n == PREFACE.len() || buf[..n] != PREFACE[..n] {
                return true;
            }
            // A partial HTTP/2 preface: wait for the rest.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(limit, sniff).await.unwrap_or(false)
}

/// Hands the service each request with its body behind a deadline.
struct Timed<S> {
    inner: S,
    body_read: Duration,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Timed<S>
where
    S: hyper::service::Service<hyper::Request<TimedBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let body_read = self.body_read;
        self.inner
            .call(request.map(|body| TimedBody::new(body, body_read)))
    }
}

/// A request body that fails with [`BodyTimedOut`] once its deadline has passed.
pub(crate) struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl std::fmt::Debug for TimedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedBody").finish_non_exhaustive()
    }
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        TimedBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(crate) struct BodyTimedOut;

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why [`read_limited`] returned no body.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Declared or found larger than the limit.
    TooLarge,
    /// Not whole within [`ServerTimeouts::body_read`].
    TimedOut,
    /// The client went away or broke the framing.
    Failed(String),
}

/// Reads a whole body of at most `max` bytes. A body whose `declared` length is over
/// `max` is refused unread; the rest of any oversized body is thrown away on a
/// background task (at most [`DRAIN_LIMIT`] bytes, within the body deadline), so memory
/// stays bounded by `max` and the client still reads the answer.
pub(crate) async fn read_limited(
    mut body: TimedBody,
    declared: Option<u64>,
    max: usize,
) -> Result<Bytes, ReadError> {
    if declared.is_some_and(|n| n > max as u64) {
        discard(body);
        return Err(ReadError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) if e.is::<BodyTimedOut>() => return Err(ReadError::TimedOut),
            Err(e) => return Err(ReadError::Failed(e.to_string())),
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                discard(body);
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The `Content-Length` a request declares, if it is a number.
pub(crate) fn declared_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads and drops the rest of `body` on its own task.
fn discard(mut body: TimedBody) {
    tokio::spawn(async move {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    });
}
