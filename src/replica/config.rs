//! What a replica serves: deployments, their faults, and the key it accepts.
//!
//! These types are shared with the matrix loader (a matrix's `deployments:` section
//! deserializes straight into [`Deployment`]), so they are plain serde data.

use serde::{Deserialize, Serialize};

pub use super::shapes::Shapes;

/// The configuration one replica is started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaConfig {
    /// The value the `api-key` header must carry. Never printed or journaled.
    pub api_key: String,
    /// Deployments by name; order is kept for start-up listings.
    pub deployments: Vec<Deployment>,
    /// The value of the `x-ms-region` response header.
    #[serde(default = "default_region")]
    pub region: String,
    /// How many requests the journal keeps before dropping the oldest.
    #[serde(default = "default_journal_capacity")]
    pub journal_capacity: usize,
    /// Microseconds between two chunks of a streamed answer: chunk k is written k
    /// intervals after the first (0: as fast as the socket takes them). Streams are always
    /// written chunk by chunk, as Azure's are.
    #[serde(default = "default_stream_interval_us")]
    pub stream_interval_us: u64,
    /// Answer in the shapes Azure sent in this month (`YYYY-MM`); absent: the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<Shapes>,
}

/// The default pause between stream chunks: a stream of the replica's usual 20-30 chunks
/// takes a few milliseconds, so a client's first token arrives measurably before its last
/// while a whole run stays fast. (Timers tick every millisecond, so chunks due within one
/// tick leave together, as tokens often do from Azure.)
pub const DEFAULT_STREAM_INTERVAL_US: u64 = 100;

/// The longest pause between stream chunks a configuration may ask for (one minute).
pub const MAX_STREAM_INTERVAL_US: u64 = 60_000_000;

fn default_stream_interval_us() -> u64 {
    DEFAULT_STREAM_INTERVAL_US
}

fn default_region() -> String {
    "East US".to_string()
}

fn default_journal_capacity() -> usize {
    10_000
}

/// An Azure OpenAI deployment: a name the client uses, the model snapshot that answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub name: String,
    /// The underlying model snapshot, e.g. `gpt-4o-2024-08-06`; responses carry this in `model`.
    pub model: String,
    /// Chat or embedding; when absent, inferred from the model name (see [`DeploymentKind::infer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeploymentKind>,
    /// Embedding dimensions; when absent, the model's native size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Faults this deployment injects, checked in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
}

impl Deployment {
    pub fn new(name: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            kind: None,
            dimensions: None,
            faults: Vec::new(),
        }
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The kind, explicit or inferred from the model name.
    pub fn kind(&self) -> DeploymentKind {
        self.kind
            .unwrap_or_else(|| DeploymentKind::infer(&self.model))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Chat,
    Embedding,
}

impl DeploymentKind {
    /// Azure's embedding models all start with `text-embedding`; everything else chats.
    pub fn infer(model: &str) -> Self {
        if model.starts_with("text-embedding") {
            DeploymentKind::Embedding
        } else {
            DeploymentKind::Chat
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// Only the first N requests (per journal scope) get the fault; absent = every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// For `rate_limit`: the delay announced in `retry-after-ms` (and, rounded up, `retry-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For `latency`: the delay before the response starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            times: None,
            retry_after_ms: None,
            ms: None,
        }
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `retry-after` and `retry-after-ms`.
    RateLimit,
    /// 500 `server_error`.
    ServerError,
    /// 503 `ServiceUnavailable` (a region under load); `retry_after_ms` adds the
    /// retry headers Azure sometimes sends with it.
    ServiceUnavailable,
    /// 408 `Timeout`.
    Timeout,
    /// 400 `content_filter` with `innererror.content_filter_result`.
    PromptFilter,
    /// 200 with `finish_reason: content_filter`.
    OutputFilter,
    /// Streams carry Azure's delta-less content-filter annotation chunks.
    AsyncFilter,
    /// A stream that ends without `data: [DONE]`.
    TruncatedStream,
    /// A stream with one chunk that is not valid JSON.
    MalformedChunk,
    /// Delay the response by `ms`.
    Latency,
}
