//! The rust driver: an async-openai 0.43 app per feature, instrumented by the
//! project's reference emitter for the cell's style.
//!
//! The app keeps the Azure host name (`http://{resource}.openai.azure.com`) as its
//! endpoint and reaches the replica through reqwest's HTTP proxy, the way a real app
//! would be pointed at a corporate proxy, because instrumentors detect Azure from
//! the host.

use super::retry::{AttemptLog, RetryPolicy, RetryingService};
use super::{Credential, DriverContext, DriverError, DriverRun};
use crate::capture::CellTracing;
use crate::instrument::{ContentCapture, Endpoint, Instrumentor, RawResponseTap, StreamRead};
use crate::matrix::{Cell, FeaturePlan};
use crate::replica::SCOPE_HEADER;
use crate::vocab::Provider;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::embeddings::CreateEmbeddingRequest;
use async_openai::types::responses::CreateResponse;
use async_openai::Client;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use opentelemetry::Context;
use serde_json::json;

/// The instrumentation scope of spans the driver itself opens (the app's own spans).
const APP_SCOPE: &str = "hh-compat.app";

type DynClient = Client<Box<dyn Config>>;

/// Why the rust driver cannot run a feature, if it cannot: such cells are `skip`.
pub(crate) fn unsupported(plan: &FeaturePlan) -> Option<String> {
    match plan {
        FeaturePlan::RawResponse { .. } => Some(
            "async-openai 0.43 has no raw-response API: its calls return the typed body \
             (or, with `byot`, any deserializable type), never the HTTP response with its \
             status and headers"
                .to_string(),
        ),
        _ => None,
    }
}

/// Runs one cell's feature and returns its spans.
pub(crate) async fn run(ctx: &DriverContext, cell: &Cell) -> DriverRun {
    let tracing = CellTracing::new(&[
        ("service.name", "hh-compat-rust-app".to_string()),
        ("hh_compat.cell", cell.id.clone()),
    ]);
    let app = match App::new(ctx, cell, &tracing) {
        Ok(app) => app,
        Err(e) => return DriverRun::failed(tracing.finish(), e),
    };
    let outcome = app.run_feature(&cell.plan).await;
    let mut run = DriverRun::new(tracing.finish());
    run.versions.insert("async-openai".into(), "0.43".into());
    run.versions
        .insert("hh-compat".into(), env!("CARGO_PKG_VERSION").into());
    // Retries are infrastructure, not behaviour, so they are notes; the ids of the
    // last failed answer go into the error, where Azure support will look for them.
    let attempts = app.attempts.attempts();
    run.notes.extend(attempts.iter().filter_map(|a| {
        Some(format!(
            "retried after {} ms: {}",
            a.retried_after?.as_millis(),
            a.describe()
        ))
    }));
    match outcome {
        Ok(notes) => run.notes.extend(notes),
        Err(e) => run.error = Some(e.with_request_ids(&app.attempts.last_request_ids())),
    }
    run.answered = app
        .answered
        .lock()
        .map(|mut a| std::mem::take(&mut *a))
        .unwrap_or_default();
    run
}

struct App<'a> {
    ctx: &'a DriverContext,
    cell: &'a Cell,
    http: reqwest::Client,
    /// The cell's journal scope, sent with every request.
    scope: reqwest::header::HeaderValue,
    /// What the HTTP layer saw of raw responses, for the instrumentor.
    tap: RawResponseTap,
    instrumentor: Instrumentor,
    app_tracer: opentelemetry_sdk::trace::SdkTracer,
    attempts: AttemptLog,
    /// What the service said, by placeholder (`answer`, `tool_call_id`, …), for the
    /// content checks.
    answered: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl<'a> App<'a> {
    fn new(
        ctx: &'a DriverContext,
        cell: &'a Cell,
        tracing: &CellTracing,
    ) -> Result<Self, DriverError> {
        let http = match ctx.http.get() {
            Some(client) => client.clone(),
            None => {
                let built = http_client(ctx)?;
                ctx.http.get_or_init(|| built).clone()
            }
        };
        let scope = reqwest::header::HeaderValue::from_str(&cell.id).map_err(|_| {
            DriverError::Setup(format!("cell id `{}` is not a valid header value", cell.id))
        })?;
        let endpoint = Endpoint::from_url(
            cell.provider,
            &ctx.endpoint_url(cell.provider),
            ctx.api_version_for(cell.provider),
        )
        .map_err(|e| DriverError::Setup(e.to_string()))?;
        let instrumentor = Instrumentor::new(
            cell.style,
            tracing.tracer(
                crate::instrument::scope_name(cell.style),
                Some(crate::instrument::SCOPE_VERSION),
            ),
            endpoint,
        );
        // Like the Python instrumentors, which read Azure's extras off the raw response.
        let tap = RawResponseTap::default();
        let mut instrumentor = instrumentor.with_raw_tap(tap.clone());
        // The checks of the tool, structured-output and Responses API features are about
        // message content, which the python driver switches on for every style; so does
        // this app for them.
        if matches!(
            cell.plan,
            FeaturePlan::Tools { .. }
                | FeaturePlan::StructuredOutput { .. }
                | FeaturePlan::Responses { .. }
        ) {
            instrumentor = instrumentor.with_content_capture(ContentCapture::On);
        }
        Ok(Self {
            ctx,
            cell,
            http,
            scope,
            tap,
            instrumentor,
            app_tracer: tracing.tracer(APP_SCOPE, None),
            attempts: AttemptLog::default(),
            answered: Default::default(),
        })
    }

    /// A client for one deployment (Azure binds the deployment into the URL).
    fn client(&self, deployment: &str, retries: RetryPolicy) -> DynClient {
        let key = self.ctx.credential.secret().to_string();
        let config: Box<dyn Config> = match self.cell.provider {
            Provider::AzureOpenAi => {
                let azure = AzureConfig::new()
                    .with_api_base(
                        self.ctx
                            .endpoint_url(Provider::AzureOpenAi)
                            .trim_end_matches('/'),
                    )
                    .with_api_version(self.ctx.api_version.clone())
                    .with_deployment_id(deployment)
                    .with_api_key(key);
                match &self.ctx.credential {
                    Credential::ApiKey(_) => Box::new(azure),
                    Credential::EntraToken(_) => Box::new(BearerAuth(azure)),
                }
            }
            Provider::AzureOpenAiV1 | Provider::OpenAi => Box::new(
                OpenAIConfig::new()
                    .with_api_base(
                        self.ctx
                            .endpoint_url(self.cell.provider)
                            .trim_end_matches('/'),
                    )
                    .with_api_key(key),
            ),
        };
        // `Client::build`, not `with_config`: the latter builds a default reqwest
        // client (loading the system trust store) on every call.
        Client::build(self.http.clone(), config).with_http_service(
            RetryingService::new(self.http.clone(), retries, self.attempts.clone())
                .with_header(SCOPE_HEADER, self.scope.clone())
                .with_raw_tap(self.tap.clone()),
        )
    }

    /// A client for the Responses API: on Azure's deployment API the resource-level
    /// route `/openai/responses` with the feature's api-version (async-openai's
    /// `AzureConfig` would put a deployment in the path, which Azure does not serve);
    /// on the v1 API the same client as for chat.
    fn responses_client(&self, api_version: &str) -> DynClient {
        let client = self.client("", self.ctx.retries);
        if self.cell.provider != Provider::AzureOpenAi {
            return client;
        }
        let key = self.ctx.credential.secret().to_string();
        let azure = AzureConfig::new()
            .with_api_base(
                self.ctx
                    .endpoint_url(Provider::AzureOpenAi)
                    .trim_end_matches('/'),
            )
            .with_api_version(api_version)
            .with_api_key(key);
        let config: Box<dyn Config> = match &self.ctx.credential {
            Credential::ApiKey(_) => Box::new(ResourceRoute(azure)),
            Credential::EntraToken(_) => Box::new(ResourceRoute(BearerAuth(azure))),
        };
        Client::build(self.http.clone(), config).with_http_service(
            RetryingService::new(self.http.clone(), self.ctx.retries, self.attempts.clone())
                .with_header(SCOPE_HEADER, self.scope.clone())
                .with_raw_tap(self.tap.clone()),
        )
    }

    async fn run_feature(&self, plan: &FeaturePlan) -> Result<Vec<String>, DriverError> {
        let no_retry = self.ctx.retries;
        // The flaky deployment is there to be retried, even offline.
        let flaky_retry = if no_retry.max_retries > 0 {
            no_retry
        } else {
            RetryPolicy::default()
        };
        match plan {
            FeaturePlan::Chat {
                deployment,
                prompt,
                max_tokens,
                temperature,
            } => {
                let request =
                    chat_request(&deployment.name, prompt, *max_tokens, *temperature, None)?;
                let reply = (self.chat(&deployment.name, request, no_retry).await)
                    .map_err(DriverError::call)?;
                let text = reply
                    .choices
                    .first()
                    .and_then(|c| c.message.content.clone());
                self.answered(text);
                Ok(vec![])
            }
            FeaturePlan::Streaming {
                deployment,
                prompt,
                max_tokens,
                temperature,
                include_usage,
            } => {
                let request = chat_request(
                    &deployment.name,
                    prompt,
                    *max_tokens,
                    *temperature,
                    Some(*include_usage),
                )?;
                let client = self.client(&deployment.name, no_retry);
                let summary = self
                    .instrumentor
                    .chat_stream(&request, client.chat().create_stream(request.clone()))
                    .await
                    .map_err(DriverError::call)?;
                self.answered(Some(summary.text.clone()));
                Ok(vec![format!("streamed {} chunks", summary.chunks)])
            }
            FeaturePlan::Embeddings {
                deployment,
                inputs,
                dimensions,
            } => {
                self.embeddings(&deployment.name, inputs, *dimensions)
                    .await?;
                Ok(vec![])
            }
            FeaturePlan::Tools {
                deployment,
                prompt,
                tool,
                tool_result,
                stream,
            } => {
                self.tool_round_trip(&deployment.name, prompt, tool, tool_result, *stream)
                    .await
            }
            FeaturePlan::StreamAbandoned { deployment, prompt } => {
                let request = chat_request(&deployment.name, prompt, None, None, Some(false))?;
                let mut notes = Vec::new();
                // Rust has no `close()`: leaving the loop and dropping the stream both
                // drop it, which closes the connection; the third is never polled.
                for (read, what) in [
                    (
                        StreamRead::FirstContent,
                        "left after the first content chunk",
                    ),
                    (
                        StreamRead::FirstContent,
                        "dropped after the first content chunk",
                    ),
                    (StreamRead::Nothing, "never read, dropped"),
                ] {
                    let client = self.client(&deployment.name, no_retry);
                    let summary = self
                        .instrumentor
                        .chat_stream_read(
                            &request,
                            client.chat().create_stream(request.clone()),
                            read,
                        )
                        .await
                        .map_err(DriverError::call)?;
                    notes.push(format!("{what} ({} chunks read)", summary.chunks));
                }
                Ok(notes)
            }
            FeaturePlan::Responses {
                deployment,
                prompt,
                instructions,
                api_version,
                stream,
            } => {
                let mut body = json!({"model": deployment.name, "input": prompt});
                if let Some(i) = instructions {
                    body["instructions"] = json!(i);
                }
                let request: CreateResponse = from_json(body)?;
                let client = self.responses_client(api_version);
                let instrumentor = self.instrumentor.clone().with_api_version(api_version);
                let (what, text) = if *stream {
                    let (events, text) = instrumentor
                        .responses_stream(
                            &request,
                            client.responses().create_stream(request.clone()),
                        )
                        .await
                        .map_err(DriverError::call)?;
                    (format!("streamed {events} events"), text)
                } else {
                    let response = instrumentor
                        .responses(&request, client.responses().create(request.clone()))
                        .await
                        .map_err(DriverError::call)?;
                    let value = serde_json::to_value(&response).unwrap_or_default();
                    let text = value["output"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| item["content"].as_array())
                        .flatten()
                        .filter_map(|part| part["text"].as_str())
                        .collect::<String>();
                    (format!("response {}", value["status"]), text)
                };
                if text.is_empty() {
                    return Err(DriverError::Unexpected(format!(
                        "{what} without output text"
                    )));
                }
                Ok(vec![format!("{what}: {text}")])
            }
            FeaturePlan::StructuredOutput {
                deployment,
                prompt,
                schema_name,
                schema,
            } => {
                self.structured_output(&deployment.name, prompt, schema_name, schema)
                    .await
            }
            // Skipped before the driver runs (see `unsupported`).
            FeaturePlan::RawResponse { .. } => {
                Err(DriverError::Setup(unsupported(plan).unwrap_or_default()))
            }
            // async-openai's client is async only: the same three calls as python's async
            // client makes, so the column compares.
            FeaturePlan::Async {
                deployment,
                embedding_deployment,
                prompt,
                inputs,
            } => {
                let request = chat_request(&deployment.name, prompt, None, None, None)?;
                self.chat(&deployment.name, request, no_retry)
                    .await
                    .map_err(DriverError::call)?;
                let request = chat_request(&deployment.name, prompt, None, None, Some(true))?;
                let client = self.client(&deployment.name, no_retry);
                let summary = self
                    .instrumentor
                    .chat_stream(&request, client.chat().create_stream(request.clone()))
                    .await
                    .map_err(DriverError::call)?;
                self.embeddings(&embedding_deployment.name, inputs, None)
                    .await?;
                Ok(vec![format!("streamed {} chunks", summary.chunks)])
            }
            FeaturePlan::MultiDeployment {
                deployments,
                prompt,
            } => {
                let parent = self.app_tracer.start("multi-deployment");
                let cx = Context::current_with_span(parent);
                for deployment in deployments {
                    let request = chat_request(&deployment.name, prompt, None, None, None)?;
                    self.chat(&deployment.name, request, no_retry)
                        .with_context(cx.clone())
                        .await
                        .map_err(DriverError::call)?;
                }
                cx.span().end();
                Ok(vec![])
            }
            FeaturePlan::Errors {
                missing_deployment,
                flaky,
                prompt,
            } => {
                let mut notes = Vec::new();
                let request = chat_request(missing_deployment, prompt, None, None, None)?;
                match self.chat(missing_deployment, request, no_retry).await {
                    // 404 on the deployment routes; the v1 API answers 400 `unknown_model`.
                    Err(OpenAIError::ApiError(e))
                        if e.status_code.as_u16() == 404
                            || (self.cell.provider == Provider::AzureOpenAiV1
                                && e.status_code.as_u16() == 400
                                && e.api_error.code.as_deref() == Some("unknown_model")) =>
                    {
                        notes.push(format!(
                            "deployment `{missing_deployment}` answered {} as expected",
                            e.status_code.as_u16()
                        ))
                    }
                    Err(other) => return Err(DriverError::call(other)),
                    Ok(_) => {
                        return Err(DriverError::Unexpected(format!(
                            "a chat call on the missing deployment `{missing_deployment}` succeeded; expected it to be refused"
                        )))
                    }
                }
                let request = chat_request(&flaky.name, prompt, None, None, None)?;
                self.chat(&flaky.name, request, flaky_retry)
                    .await
                    .map_err(DriverError::call)?;
                Ok(notes)
            }
            // The matrix expands `enrichment` only for setups with HoneyHive's tracer,
            // which only the python driver has; reaching here is a harness bug.
            FeaturePlan::Enrichment { .. } => Err(DriverError::Setup(
                "the rust driver has no HoneyHive tracer for `enrichment`".to_string(),
            )),
        }
    }

    async fn embeddings(
        &self,
        deployment: &str,
        inputs: &[String],
        dimensions: Option<u32>,
    ) -> Result<(), DriverError> {
        let mut body = json!({ "model": deployment, "input": inputs, "encoding_format": "float" });
        if let Some(d) = dimensions {
            body["dimensions"] = json!(d);
        }
        let request: CreateEmbeddingRequest = from_json(body)?;
        let client = self.client(deployment, self.ctx.retries);
        self.instrumentor
            .embeddings(&request, client.embeddings().create(request.clone()))
            .await
            .map_err(DriverError::call)?;
        Ok(())
    }

    /// Offers `tool`; expects the model to call it (finish `tool_calls`), answers every
    /// call with `tool_result`, and expects a text answer (finish `stop`).
    async fn tool_round_trip(
        &self,
        deployment: &str,
        prompt: &str,
        tool: &serde_json::Value,
        tool_result: &str,
        stream: bool,
    ) -> Result<Vec<String>, DriverError> {
        let mut messages = vec![json!({"role": "user", "content": prompt})];
        let mut notes = Vec::new();
        for turn in ["call", "answer"] {
            let mut body = json!({"model": deployment, "messages": messages, "tools": [tool]});
            if stream {
                body["stream"] = json!(true);
            }
            let request: CreateChatCompletionRequest = from_json(body)?;
            let (finish, calls, text) = if stream {
                let client = self.client(deployment, self.ctx.retries);
                let s = self
                    .instrumentor
                    .chat_stream(&request, client.chat().create_stream(request.clone()))
                    .await
                    .map_err(DriverError::call)?;
                notes.push(format!("{turn}: streamed {} chunks", s.chunks));
                let finish = s.finish_reason.map(|f| json!(f));
                (finish, s.tool_calls, s.text)
            } else {
                let response = self
                    .chat(deployment, request, self.ctx.retries)
                    .await
                    .map_err(DriverError::call)?;
                let body = serde_json::to_value(&response).unwrap_or_default();
                let choice = &body["choices"][0];
                let calls = choice["message"]["tool_calls"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let text = choice["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (Some(choice["finish_reason"].clone()), calls, text)
            };
            let finish = finish
                .as_ref()
                .and_then(|f| f.as_str())
                .unwrap_or("none")
                .to_string();
            if turn == "call" {
                if finish != "tool_calls" || calls.is_empty() {
                    return Err(DriverError::Unexpected(format!(
                        "expected a tool call (finish `tool_calls`), got finish `{finish}` and {} call(s)",
                        calls.len()
                    )));
                }
                // Only what the service actually sent: a missing id is not `""`, which
                // every `contains` would accept.
                let first = &calls[0];
                if let Some(id) = first["id"].as_str() {
                    self.said("tool_call_id", id.to_string());
                }
                if let Some(arguments) = first["function"]["arguments"].as_str() {
                    self.said("tool_arguments", arguments.to_string());
                }
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
                for c in &calls {
                    messages.push(
                        json!({"role": "tool", "tool_call_id": c["id"], "content": tool_result}),
                    );
                }
                notes.push(format!(
                    "called {}",
                    calls
                        .iter()
                        .map(|c| format!(
                            "{}({})",
                            c["function"]["name"].as_str().unwrap_or_default(),
                            c["function"]["arguments"].as_str().unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else if finish != "stop" || text.is_empty() {
                return Err(DriverError::Unexpected(format!(
                    "expected a text answer to the tool result (finish `stop`), got finish `{finish}`"
                )));
            }
        }
        Ok(notes)
    }

    /// Keeps what the service answered, for the content checks.
    fn answered(&self, text: Option<String>) {
        if let Some(text) = text {
            self.said("answer", text);
        }
    }

    /// Keeps one thing the service said, under its placeholder's name.
    fn said(&self, name: &str, value: String) {
        if let Ok(mut answered) = self.answered.lock() {
            answered.insert(name.to_string(), value);
        }
    }

    /// Asks for `schema` as `response_format` (strict) twice, as the python app does
    /// with `create` and then `parse`: the first answer is checked as JSON with every
    /// property the schema requires, the second deserialized into a typed struct (what
    /// `parse` does; async-openai has no `parse`, an app uses serde).
    async fn structured_output(
        &self,
        deployment: &str,
        prompt: &str,
        schema_name: &str,
        schema: &serde_json::Value,
    ) -> Result<Vec<String>, DriverError> {
        let content = self
            .structured_call(deployment, prompt, schema_name, schema)
            .await?;
        let parsed: serde_json::Value = serde_json::from_str(&content).map_err(|e| {
            DriverError::Unexpected(format!(
                "the structured answer is not JSON ({e}): {content}"
            ))
        })?;
        let missing: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .filter(|key| parsed.get(*key).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(DriverError::Unexpected(format!(
                "the structured answer lacks the required {}: {content}",
                missing.join(", ")
            )));
        }
        let content = self
            .structured_call(deployment, prompt, schema_name, schema)
            .await?;
        let typed: CalendarEvent = serde_json::from_str(&content).map_err(|e| {
            DriverError::Unexpected(format!(
                "the structured answer is not a CalendarEvent ({e}): {content}"
            ))
        })?;
        Ok(vec![
            format!("{schema_name} as JSON: {parsed}"),
            format!("{schema_name} typed: {typed:?}"),
        ])
    }

    /// One chat call with `schema` as a strict `json_schema` format; the content.
    async fn structured_call(
        &self,
        deployment: &str,
        prompt: &str,
        schema_name: &str,
        schema: &serde_json::Value,
    ) -> Result<String, DriverError> {
        let body = json!({
            "model": deployment,
            "messages": [{"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": schema_name, "strict": true, "schema": schema}},
        });
        let request: CreateChatCompletionRequest = from_json(body)?;
        let response = self
            .chat(deployment, request, self.ctx.retries)
            .await
            .map_err(DriverError::call)?;
        Ok(response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default())
    }

    async fn chat(
        &self,
        deployment: &str,
        request: CreateChatCompletionRequest,
        retries: RetryPolicy,
    ) -> Result<async_openai::types::chat::CreateChatCompletionResponse, OpenAIError> {
        let client = self.client(deployment, retries);
        self.instrumentor
            .chat(&request, client.chat().create(request.clone()))
            .await
    }
}

/// The typed answer of `structured-output` (the matrix's CalendarEvent schema).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through Debug only
struct CalendarEvent {
    name: String,
    date: String,
    participants: Vec<String>,
}

/// Azure's Entra ID authentication: the config's URL and api-version, with the token
/// sent as `Authorization: Bearer` instead of the `api-key` header.
struct BearerAuth(AzureConfig);

impl Config for BearerAuth {
    fn headers(&self) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        use secrecy::ExposeSecret;
        let token = self.0.api_key().expose_secret();
        if let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        headers
    }
    fn url(&self, path: &str) -> String {
        self.0.url(path)
    }
    fn query(&self) -> Vec<(&str, &str)> {
        self.0.query()
    }
    fn api_base(&self) -> &str {
        self.0.api_base()
    }
    fn api_key(&self) -> &secrecy::SecretString {
        self.0.api_key()
    }
}

/// An Azure config whose paths are the resource's own (`/openai/responses`), not a
/// deployment's.
struct ResourceRoute<C>(C);

impl<C: Config> Config for ResourceRoute<C> {
    fn headers(&self) -> reqwest::header::HeaderMap {
        self.0.headers()
    }
    fn url(&self, path: &str) -> String {
        format!("{}/openai{path}", self.0.api_base())
    }
    fn query(&self) -> Vec<(&str, &str)> {
        self.0.query()
    }
    fn api_base(&self) -> &str {
        self.0.api_base()
    }
    fn api_key(&self) -> &secrecy::SecretString {
        self.0.api_key()
    }
}

/// The reqwest client every call of a run shares: proxy to the replica (host kept) and
/// a per-request timeout.
fn http_client(ctx: &DriverContext) -> Result<reqwest::Client, DriverError> {
    let mut builder = reqwest::Client::builder()
        .timeout(ctx.request_timeout)
        .pool_max_idle_per_host(16);
    // Offline, the replica is the proxy. Live, the environment's HTTP(S)_PROXY and
    // NO_PROXY apply, as they would to any app behind a corporate proxy.
    if let Some(proxy) = &ctx.proxy {
        let proxy = reqwest::Proxy::all(proxy)
            .map_err(|e| DriverError::Setup(format!("proxy `{proxy}`: {e}")))?;
        builder = builder.proxy(proxy);
    }
    if ctx.endpoint_origin.starts_with("http://") {
        // Plain HTTP (the replica, replay, recording): no trust store to load.
        builder = builder.tls_certs_only(Vec::new());
    }
    builder
        .build()
        .map_err(|e| DriverError::Setup(format!("HTTP client: {e}")))
}

fn chat_request(
    deployment: &str,
    prompt: &str,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    stream_usage: Option<bool>,
) -> Result<CreateChatCompletionRequest, DriverError> {
    let mut body = json!({
        "model": deployment,
        "messages": [{ "role": "user", "content": prompt }],
    });
    if let Some(m) = max_tokens {
        body["max_tokens"] = json!(m);
    }
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if let Some(include_usage) = stream_usage {
        body["stream"] = json!(true);
        if include_usage {
            body["stream_options"] = json!({ "include_usage": true });
        }
    }
    from_json(body)
}

fn from_json<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, DriverError> {
    serde_json::from_value(body)
        .map_err(|e| DriverError::Setup(format!("building the request: {e}")))
}
