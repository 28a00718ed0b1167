//! Reference emitters: instrumentation for async-openai 0.43 that emits, through the
//! OpenTelemetry SDK, the spans of each style's real instrumentor, completed where the
//! conventions call for more (Azure detection, `server.address`, errors, stream timing).
//!
//! The [`Instrumentor`] never makes the HTTP call itself: the caller passes the call as a
//! future, so retries, proxies and headers stay the caller's business. The span starts
//! before that future is polled, as a child of `Context::current()`, and ends once the
//! response (or the whole stream) has been handled.

mod content;
mod endpoint;
mod errors;
mod facts;
mod openinference;
mod otel_genai;
mod raw;
mod stream;
mod style;
mod traceloop;

use std::future::Future;
use std::time::SystemTime;

use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionResponseStream, CreateChatCompletionRequest, CreateChatCompletionResponse,
};
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};
use async_openai::types::responses::{CreateResponse, Response, ResponseStream};
use futures::StreamExt;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracer;

pub use content::ContentCapture;
pub use endpoint::{Endpoint, EndpointError};
pub use errors::{classify, ErrorClass, ErrorInfo};
pub use raw::{RawResponseTap, SseScanner};
pub use stream::StreamSummary;

use crate::vocab::Style;
use style::{Call, Convention, Outcome, Request, StreamTiming};

/// The instrumentation scope name the rust driver's tracer uses for a style.
pub fn scope_name(style: Style) -> &'static str {
    match style {
        Style::OpenInference => "hh_compat.instrument.openinference",
        Style::Traceloop => "hh_compat.instrument.traceloop",
        Style::OtelGenAi => "hh_compat.instrument.otel_genai",
    }
}

/// The version reported with [`scope_name`].
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn convention(style: Style) -> &'static dyn Convention {
    match style {
        Style::OpenInference => &openinference::OpenInference,
        Style::Traceloop => &traceloop::Traceloop,
        Style::OtelGenAi => &otel_genai::OtelGenAi,
    }
}

/// How much of a stream the app reads before dropping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRead {
    /// To its end.
    All,
    /// Up to and including the first chunk with content.
    FirstContent,
    /// Not at all: the response arrives and the stream is dropped unread.
    Nothing,
}

/// Wraps async-openai calls in spans of one style.
#[derive(Debug, Clone)]
pub struct Instrumentor {
    style: Style,
    tracer: SdkTracer,
    endpoint: Endpoint,
    content: ContentCapture,
    /// Where the HTTP layer leaves what the typed response drops, when it does.
    tap: Option<RawResponseTap>,
}

impl Instrumentor {
    /// Content capture follows the style's own environment variable, read now, once.
    pub fn new(style: Style, tracer: SdkTracer, endpoint: Endpoint) -> Self {
        Instrumentor {
            style,
            tracer,
            endpoint,
            content: ContentCapture::from_env(style),
            tap: None,
        }
    }

    /// Overrides the environment's content-capture setting.
    /// Reads Azure's extras (`prompt_filter_results`) from `tap`, which the HTTP layer
    /// fills from the raw response.
    pub fn with_raw_tap(mut self, tap: RawResponseTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// What the HTTP layer saw of the last call; clears it.
    fn raw_extras(&self) -> Option<serde_json::Value> {
        self.tap.as_ref().and_then(RawResponseTap::take)
    }

    /// The same instrumentor for calls that send another api-version (Azure's Responses
    /// API route); an endpoint without one (the v1 API) keeps none.
    pub fn with_api_version(mut self, api_version: &str) -> Self {
        if self.endpoint.api_version.is_some() {
            self.endpoint.api_version = Some(api_version.to_string());
        }
        self
    }

    pub fn with_content_capture(mut self, content: ContentCapture) -> Self {
        self.content = content;
        self
    }

    pub fn style(&self) -> Style {
        self.style
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn content_capture(&self) -> ContentCapture {
        self.content
    }

    /// One non-streamed chat completion.
    pub async fn chat<F>(
        &self,
        request: &CreateChatCompletionRequest,
        call: F,
    ) -> Result<CreateChatCompletionResponse, OpenAIError>
    where
        F: Future<Output = Result<CreateChatCompletionResponse, OpenAIError>>,
    {
        let facts = facts::chat_request(request);
        let call_facts = self.call(Request::Chat(&facts));
        let started = SystemTime::now();
        let cx = self.begin(&call_facts, started);
        self.raw_extras();
        let result = call.with_context(cx.clone()).await;
        match &result {
            Ok(resp) => {
                let mut r = facts::chat_result(resp);
                r.prompt_filter_results = self.raw_extras();
                self.complete(&cx, &call_facts, &Outcome::Chat(&r), None);
            }
            Err(e) => {
                let info = classify(e);
                self.complete(&cx, &call_facts, &Outcome::Failed(&info), None);
            }
        }
        result
    }

    /// One streamed chat completion, consumed here: the span records when the first
    /// chunk arrived and what the chunks add up to. The request is recorded as streamed
    /// even if `request.stream` is unset (async-openai sets it when sending).
    pub async fn chat_stream<F>(
        &self,
        request: &CreateChatCompletionRequest,
        call: F,
    ) -> Result<StreamSummary, OpenAIError>
    where
        F: Future<Output = Result<ChatCompletionResponseStream, OpenAIError>>,
    {
        self.chat_stream_read(request, call, StreamRead::All).await
    }

    /// A streamed chat completion the app reads only as far as `read` says, then drops
    /// (closing the connection). A stream dropped before its end ends the span with what
    /// had arrived and status UNSET: the app abandoned it, nothing failed.
    pub async fn chat_stream_read<F>(
        &self,
        request: &CreateChatCompletionRequest,
        call: F,
        read: StreamRead,
    ) -> Result<StreamSummary, OpenAIError>
    where
        F: Future<Output = Result<ChatCompletionResponseStream, OpenAIError>>,
    {
        let mut streamed = request.clone();
        streamed.stream = Some(true);
        let facts = facts::chat_request(&streamed);
        let call_facts = self.call(Request::Chat(&facts));
        let started = SystemTime::now();
        let cx = self.begin(&call_facts, started);
        self.raw_extras();
        let mut chunks = match call.with_context(cx.clone()).await {
            Ok(s) => s,
            Err(e) => {
                let info = classify(&e);
                self.complete(&cx, &call_facts, &Outcome::Failed(&info), None);
                return Err(e);
            }
        };
        let mut acc = stream::StreamAccumulator::new(started);
        let mut abandoned = read == StreamRead::Nothing;
        while !abandoned {
            let Some(item) = chunks.next().with_context(cx.clone()).await else {
                break;
            };
            match item {
                Ok(chunk) => {
                    acc.push(&chunk, SystemTime::now());
                    abandoned = read == StreamRead::FirstContent
                        && chunk
                            .choices
                            .iter()
                            .any(|c| c.delta.content.as_deref().is_some_and(|t| !t.is_empty()));
                }
                Err(e) => {
                    let info = classify(&e);
                    let timing = StreamTiming {
                        started,
                        chunk_times: &acc.chunk_times,
                    };
                    self.complete(&cx, &call_facts, &Outcome::Failed(&info), Some(&timing));
                    return Err(e);
                }
            }
        }
        drop(chunks);
        let mut result = acc.result();
        // Only what the app read: an unread stream's first chunk may or may not have
        // reached the HTTP layer by now.
        result.prompt_filter_results = self.raw_extras().filter(|_| read != StreamRead::Nothing);
        let timing = StreamTiming {
            started,
            chunk_times: &acc.chunk_times,
        };
        let outcome = if abandoned {
            Outcome::Abandoned(&result)
        } else {
            Outcome::Chat(&result)
        };
        self.complete(&cx, &call_facts, &outcome, Some(&timing));
        Ok(acc.summary())
    }

    /// One Responses API call, recorded as each style records a response.
    pub async fn responses<F>(
        &self,
        request: &CreateResponse,
        call: F,
    ) -> Result<Response, OpenAIError>
    where
        F: Future<Output = Result<Response, OpenAIError>>,
    {
        let facts = facts::responses_request(request);
        let call_facts = self.call(Request::Chat(&facts));
        let started = SystemTime::now();
        let cx = self.begin(&call_facts, started);
        let result = call.with_context(cx.clone()).await;
        match &result {
            Ok(resp) => {
                let value = serde_json::to_value(resp).unwrap_or_default();
                let r = facts::responses_result(&value);
                self.complete(&cx, &call_facts, &Outcome::Chat(&r), None);
            }
            Err(e) => {
                let info = classify(e);
                self.complete(&cx, &call_facts, &Outcome::Failed(&info), None);
            }
        }
        result
    }

    /// One streamed Responses API call, read to its end: the span records when the first
    /// event arrived and the response that `response.completed` carries. Returns the
    /// number of events and the deltas' text.
    pub async fn responses_stream<F>(
        &self,
        request: &CreateResponse,
        call: F,
    ) -> Result<(usize, String), OpenAIError>
    where
        F: Future<Output = Result<ResponseStream, OpenAIError>>,
    {
        let mut streamed = request.clone();
        streamed.stream = Some(true);
        let facts = facts::responses_request(&streamed);
        let call_facts = self.call(Request::Chat(&facts));
        let started = SystemTime::now();
        let cx = self.begin(&call_facts, started);
        let mut events = match call.with_context(cx.clone()).await {
            Ok(s) => s,
            Err(e) => {
                let info = classify(&e);
                self.complete(&cx, &call_facts, &Outcome::Failed(&info), None);
                return Err(e);
            }
        };
        let mut times = Vec::new();
        let mut text = String::new();
        let mut completed = None;
        while let Some(item) = events.next().with_context(cx.clone()).await {
            let timing = |times| StreamTiming {
                started,
                chunk_times: times,
            };
            match item {
                Ok(event) => {
                    times.push(SystemTime::now());
                    let value = serde_json::to_value(&event).unwrap_or_default();
                    match value.get("type").and_then(serde_json::Value::as_str) {
                        Some("response.output_text.delta") => {
                            text.push_str(value["delta"].as_str().unwrap_or_default())
                        }
                        Some("response.completed" | "response.incomplete") => {
                            completed = Some(value["response"].clone())
                        }
                        _ => {}
                    }
                }
                Err(e) => {
                    let info = classify(&e);
                    let t = timing(&times);
                    self.complete(&cx, &call_facts, &Outcome::Failed(&info), Some(&t));
                    return Err(e);
                }
            }
        }
        let timing = StreamTiming {
            started,
            chunk_times: &times,
        };
        let result = facts::responses_result(&completed.unwrap_or_default());
        self.complete(&cx, &call_facts, &Outcome::Chat(&result), Some(&timing));
        Ok((times.len(), text))
    }

    /// One embeddings call (float vectors).
    pub async fn embeddings<F>(
        &self,
        request: &CreateEmbeddingRequest,
        call: F,
    ) -> Result<CreateEmbeddingResponse, OpenAIError>
    where
        F: Future<Output = Result<CreateEmbeddingResponse, OpenAIError>>,
    {
        let facts = facts::embedding_request(request);
        let call_facts = self.call(Request::Embeddings(&facts));
        let started = SystemTime::now();
        let cx = self.begin(&call_facts, started);
        let result = call.with_context(cx.clone()).await;
        match &result {
            Ok(resp) => {
                let r = facts::embedding_result(resp);
                self.complete(&cx, &call_facts, &Outcome::Embeddings(&r), None);
            }
            Err(e) => {
                let info = classify(e);
                self.complete(&cx, &call_facts, &Outcome::Failed(&info), None);
            }
        }
        result
    }

    fn call<'a>(&'a self, request: Request<'a>) -> Call<'a> {
        Call {
            endpoint: &self.endpoint,
            content: self.content,
            request,
        }
    }

    /// Starts the span under the caller's current context and returns that context
    /// with the span active.
    fn begin(&self, call: &Call, started: SystemTime) -> Context {
        let start = convention(self.style).start(call);
        let parent = Context::current();
        let span = self
            .tracer
            .span_builder(start.name)
            .with_kind(start.kind)
            .with_attributes(start.attributes)
            .with_start_time(started)
            .start_with_context(&self.tracer, &parent);
        parent.with_span(span)
    }

    fn complete(
        &self,
        cx: &Context,
        call: &Call,
        outcome: &Outcome,
        stream: Option<&StreamTiming>,
    ) {
        let ended = SystemTime::now();
        let end = convention(self.style).end(call, outcome, stream, ended);
        let span = cx.span();
        span.set_attributes(end.attributes);
        for e in end.events {
            span.add_event_with_timestamp(e.name, e.at, e.attributes);
        }
        span.set_status(end.status);
        span.end_with_timestamp(ended);
    }
}
