//! The replica's HTTP front: the server that reads requests off the socket and hands
//! them to a [`Responder`] ([`super::server::Replica`], or the replay responder).
//!
//! The replica used to be served by wiremock's `MockServer`. That server runs every
//! responder while holding the write lock on its mock set, so the replica answered one
//! request at a time (a small chat waited seconds behind large embeddings); it also
//! buffers any body whole before matching, has no header or body read timeouts, stops
//! accepting for good after one accept error, and panics on a client that disconnects
//! mid-body or on an absolute-form target the `url` crate cannot parse
//! (`http://h:99999/x`). None of that can be configured from outside, so the replica now
//! has its own front, on the loop every server of the tool shares
//! ([`crate::accept::serve`]: accept errors survived, timeouts, connection cap):
//! - the request is turned into the same [`wiremock::Request`] the responders always
//!   read (origin-form targets as `http://localhost/…`, absolute-form ones kept, for
//!   proxy clients that keep the Azure host); a target that is not a valid URL is a 400;
//! - the body is read with [`MAX_BODY_BYTES`] as a limit before anything is buffered: a
//!   `Content-Length` over it is refused unread, a chunked body as soon as it passes it,
//!   both with Azure's 413; a body late past the deadline gets Azure's 408;
//! - the responder runs on tokio's blocking pool, so requests are answered concurrently
//!   and a CPU-heavy answer never stalls the connections being read;
//! - a responder's delay (latency faults) is slept off without holding anything;
//! - a paced answer (the replica's event streams) is written one server-sent event at a
//!   time with `Transfer-Encoding: chunked`, an interval apart, as Azure delivers tokens:
//!   a client sees its first chunk before the last one is written.
//!
//! The front runs on its own thread and runtime (as wiremock's server did), so a replica
//! keeps answering whatever the caller's runtime is busy with. The responders still
//! implement [`wiremock::Respond`], so they can also be mounted on a `MockServer`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt as _};
use http_body_util::{Either, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use wiremock::{Request, ResponseTemplate};

use super::errors;
use super::reply::Reply;
use super::MAX_BODY_BYTES;
use crate::accept::{declared_length, read_limited, ReadError, TimedBody};
use crate::ServerTimeouts;

/// Most responders running at once; more requests wait for a free one.
const MAX_BLOCKING: usize = 16;

/// What answers the requests the front has read.
pub(super) trait Responder: Send + Sync + 'static {
    /// The answer to a request whose body was read whole.
    fn answer(&self, request: &Request) -> Answer;

    /// The answer to a request refused before [`Responder::answer`] (its body is empty):
    /// body too large or too slow, or unreadable.
    fn refuse(&self, _request: &Request, reply: Reply) -> Answer {
        Answer::new(reply.status).set_body_raw(reply.body, reply.content_type)
    }
}

/// A response the front writes: status, headers, body, and how long to wait first.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    delay: Option<Duration>,
    /// Written as a stream of server-sent events, this far apart (see [`Answer::paced`]).
    pacing: Option<Duration>,
}

/// The body the front writes: whole (with a `Content-Length`), or event by event (chunked).
type FrontBody =
    Either<Full<Bytes>, StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>>;

/// Splits an event-stream body after each blank line that ends an event; a tail without
/// one (a truncated stream) is its own piece.
fn sse_events(body: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < body.len() {
        if body[i] == b'\n' && body[i + 1] == b'\n' {
            out.push(body.slice(start..i + 2));
            start = i + 2;
            i = start;
        } else {
            i += 1;
        }
    }
    if start < body.len() {
        out.push(body.slice(start..));
    }
    out
}

impl Answer {
    pub(super) fn new(status: u16) -> Self {
        Answer {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            delay: None,
            pacing: None,
        }
    }

    /// Writes the body as a stream: one server-sent event per chunk, `interval` apart (zero:
    /// no wait, but still chunk by chunk).
    pub(super) fn paced(mut self, interval: Duration) -> Self {
        self.pacing = Some(interval);
        self
    }

    /// Sets the body and its `content-type`.
    /// Sets the body and its `content-type`; an empty `mime` sends none (as Azure's 2026
    /// `DeploymentNotFound` does).
    pub(super) fn set_body_raw(self, body: impl Into<Bytes>, mime: &str) -> Self {
        let mut a = if mime.is_empty() {
            self
        } else {
            self.insert_header("content-type", mime)
        };
        a.body = body.into();
        a
    }

    /// Sets a header, replacing any of the same name; names or values that are not
    /// valid HTTP are skipped.
    pub(super) fn insert_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(n, v);
        }
        self
    }

    pub(super) fn set_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    fn into_response(self) -> Response<FrontBody> {
        let body = match self.pacing {
            None => Either::Left(Full::new(self.body)),
            Some(interval) => {
                // Chunk k is due k intervals after the first is written: deadlines, not
                // sleeps, so timer rounding does not add up over a long stream.
                let start = tokio::time::Instant::now();
                let events = sse_events(&self.body);
                let frames = stream::iter(events.into_iter().zip(0u32..))
                    .then(move |(event, k)| async move {
                        if k > 0 && !interval.is_zero() {
                            tokio::time::sleep_until(start + interval.saturating_mul(k)).await;
                        }
                        Ok(Frame::data(event))
                    })
                    .boxed();
                Either::Right(StreamBody::new(frames))
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *response.headers_mut() = self.headers;
        response
    }
}

impl From<Answer> for ResponseTemplate {
    fn from(a: Answer) -> Self {
        let mut t = ResponseTemplate::new(a.status);
        let content_type = a
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        t = t.set_body_raw(a.body.to_vec(), &content_type);
        for (name, value) in &a.headers {
            if name != CONTENT_TYPE {
                t = t.append_header(name.as_str(), value.as_bytes());
            }
        }
        if let Some(d) = a.delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// A running front; dropping it closes the listener and every connection.
pub(super) struct Front {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Front {
    pub(super) fn address(&self) -> &SocketAddr {
        &self.addr
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Joining frees the port before the drop returns; the thread only has to drop
        // its listener and connections.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `responder` on `listener` from a thread of its own.
pub(super) fn spawn(
    listener: std::net::TcpListener,
    responder: Arc<dyn Responder>,
    timeouts: ServerTimeouts,
) -> std::io::Result<Front> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING)
        .build()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("replica-{}", addr.port()))
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let serving = crate::accept::serve(listener, timeouts, move || {
                    let responder = responder.clone();
                    hyper::service::service_fn(move |req| handle(req, responder.clone()))
                });
                tokio::select! {
                    () = serving => {}
                    _ = rx => {}
                }
            });
            // Responders still running finish on their own; nobody waits for them.
            runtime.shutdown_background();
        })?;
    Ok(Front {
        addr,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

async fn handle(
    req: hyper::Request<TimedBody>,
    responder: Arc<dyn Responder>,
) -> Result<Response<FrontBody>, Infallible> {
    let (parts, body) = req.into_parts();
    // Origin-form targets get wiremock's placeholder origin; absolute-form ones (proxy
    // clients) are kept whole, so the responder sees the host the client addressed.
    let url = match parts.uri.authority() {
        Some(_) => parts.uri.to_string(),
        None => format!("http://localhost{}", parts.uri),
    }
    .parse();
    let Ok(url) = url else {
        let reply = errors::invalid_request_target();
        return Ok(Answer::new(reply.status)
            .set_body_raw(reply.body, reply.content_type)
            .into_response());
    };
    let mut request = Request {
        url,
        method: parts.method,
        headers: parts.headers,
        body: Vec::new(),
    };
    let declared = declared_length(&request.headers);
    match read_limited(body, declared, MAX_BODY_BYTES).await {
        Ok(bytes) => request.body = Vec::from(bytes),
        Err(e) => {
            let reply = match e {
                ReadError::TooLarge => errors::payload_too_large(MAX_BODY_BYTES),
                ReadError::TimedOut => errors::timeout(),
                // The client is usually gone; the answer is for the journal.
                ReadError::Failed(_) => errors::unreadable_body(),
            };
            return Ok(responder.refuse(&request, reply).into_response());
        }
    }
    let answered = tokio::task::spawn_blocking(move || responder.answer(&request)).await;
    let answer = match answered {
        Ok(a) => a,
        Err(_) => {
            // A responder that panicked: the client gets Azure's 500, the replica goes on.
            let reply = errors::server_error();
            Answer::new(reply.status).set_body_raw(reply.body, reply.content_type)
        }
    };
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    Ok(answer.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_their_headers_when_rendered() {
        let a = Answer::new(429)
            .set_body_raw(b"{}".to_vec(), "application/json")
            .insert_header("retry-after", "1")
            .insert_header("bad header", "x")
            .insert_header("retry-after", "2");
        let r = a.clone().into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers().len(), 2);
        // Out of range statuses cannot be written; they become 500s, not panics.
        assert_eq!(Answer::new(1000).into_response().status(), 500);
    }

    #[test]
    fn event_streams_split_after_each_event() {
        let body = Bytes::from_static(b"data: {}\n\ndata: [DONE]\n\n");
        assert_eq!(
            sse_events(&body),
            [&b"data: {}\n\n"[..], &b"data: [DONE]\n\n"[..]]
        );
        // A stream cut short keeps its tail; nothing is lost or invented.
        let cut = Bytes::from_static(b"data: {}\n\ndata: {\"choi");
        assert_eq!(sse_events(&cut).concat(), cut.to_vec());
        assert_eq!(sse_events(&cut).len(), 2);
        assert!(sse_events(&Bytes::new()).is_empty());
    }

    /// Answers `/wait` only once `/go` has been answered: a front that runs one
    /// responder at a time never answers either.
    struct Rendezvous {
        go: std::sync::Mutex<bool>,
        went: std::sync::Condvar,
    }

    impl Responder for Rendezvous {
        fn answer(&self, request: &Request) -> Answer {
            let mut go = self.go.lock().expect("lock");
            if request.url.path() == "/go" {
                *go = true;
                self.went.notify_all();
                return Answer::new(200);
            }
            let (go, waited) = self
                .went
                .wait_timeout_while(go, Duration::from_secs(120), |go| !*go)
                .expect("wait");
            Answer::new(if *go && !waited.timed_out() { 200 } else { 504 })
        }
    }

    #[tokio::test]
    async fn a_request_is_answered_while_another_responder_is_busy() {
        let responder = Arc::new(Rendezvous {
            go: std::sync::Mutex::new(false),
            went: std::sync::Condvar::new(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let front = spawn(listener, responder, ServerTimeouts::default()).expect("front");
        let base = format!("http://{}", front.address());
        let client = reqwest::Client::new();
        let waiting = tokio::spawn(client.get(format!("{base}/wait")).send());
        // The busy responder must be running before the second request arrives; its
        // answer says whether it saw the second one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let go = client.get(format!("{base}/go")).send().await.expect("go");
        assert_eq!(go.status().as_u16(), 200);
        let waited = waiting.await.expect("join").expect("wait");
        assert_eq!(waited.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn answers_convert_to_wiremock_templates() {
        let server = wiremock::MockServer::start().await;
        let answer = Answer::new(201)
            .set_body_raw(b"hi".to_vec(), "text/plain")
            .insert_header("x-one", "1");
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::from(answer))
            .mount(&server)
            .await;
        let r = reqwest::get(server.uri()).await.expect("get");
        assert_eq!(r.status().as_u16(), 201);
        assert_eq!(r.headers()["x-one"], "1");
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.text().await.expect("body"), "hi");
    }
}
