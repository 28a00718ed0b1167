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
use crate::instrument::{Endpoint, Instrumentor, RawResponseTap};
use crate::matrix::{Cell, FeaturePlan};
use crate::replica::SCOPE_HEADER;
use crate::vocab::Provider;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::embeddings::CreateEmbeddingRequest;
use async_openai::Client;
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use opentelemetry::Context;
use serde_json::json;

/// The instrumentation scope of spans the driver itself opens (the app's own spans).
const APP_SCOPE: &str = "hh-compat.app";

type DynClient = Client<Box<dyn Config>>;

/// Runs one cell's feature and returns its spans.
pub async fn run(ctx: &DriverContext, cell: &Cell) -> DriverRun {
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
        let instrumentor = instrumentor.with_raw_tap(tap.clone());
        Ok(Self {
            ctx,
            cell,
            http,
            scope,
            tap,
            instrumentor,
            app_tracer: tracing.tracer(APP_SCOPE, None),
            attempts: AttemptLog::default(),
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
                self.chat(&deployment.name, request, no_retry)
                    .await
                    .map_err(DriverError::call)?;
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
                Ok(vec![format!("streamed {} chunks", summary.chunks)])
            }
            FeaturePlan::Embeddings {
                deployment,
                inputs,
                dimensions,
            } => {
                let mut body = json!({ "model": deployment.name, "input": inputs, "encoding_format": "float" });
                if let Some(d) = dimensions {
                    body["dimensions"] = json!(d);
                }
                let request: CreateEmbeddingRequest = from_json(body)?;
                let client = self.client(&deployment.name, no_retry);
                self.instrumentor
                    .embeddings(&request, client.embeddings().create(request.clone()))
                    .await
                    .map_err(DriverError::call)?;
                Ok(vec![])
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
