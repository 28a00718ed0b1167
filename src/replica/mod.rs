//! The Azure OpenAI replica: an offline Azure that clients and instrumentors cannot tell
//! from the real one.
//!
//! Its own HTTP front (`front`: why not wiremock's `MockServer`, and the limits it
//! enforces) hands every request, as a [`wiremock::Request`], to `server::Replica`,
//! which routes it (`routes`), authenticates it (`auth`), applies faults (`faults`),
//! answers in Azure's shapes (`chat`, `stream`, `embeddings`, `responses`,
//! `errors`) and journals it (`journal`). `serve` runs it standalone for `hh-compat replica serve`.
//! [`start_replay`] serves recorded cassettes instead (`replay`).

mod auth;
mod builtin;
mod chat;
mod config;
mod content;
mod embeddings;
mod errors;
mod faults;
mod front;
mod journal;
mod replay;
mod reply;
mod responses;
mod routes;
mod schema;
mod serve;
mod server;
mod shapes;
mod stream;
mod versions;

pub use auth::AuthKind;
pub use config::{
    Deployment, DeploymentKind, Fault, FaultKind, ReplicaConfig, Shapes,
    DEFAULT_STREAM_INTERVAL_US, MAX_STREAM_INTERVAL_US,
};
pub use journal::{Journal, JournalEntry};
pub(crate) use replay::start_replay_on;
pub use replay::{start_replay, MISSES_PATH};
pub use routes::{Api, Operation, RouteKind};
pub use serve::{parse_deployment_flag, parse_fault_flag, serve, ServeOptions};
pub(crate) use server::start_on;
pub use server::{start, start_with, ReplicaHandle};
pub use versions::{SUPPORTED_API_VERSIONS, V1_API_VERSIONS};

pub use crate::wire::{MAX_BODY_BYTES, SCOPE_HEADER};

/// The replica's journal, as JSON, for out-of-process callers (GET; no auth; no secrets).
pub const JOURNAL_PATH: &str = "/_replica/journal";

/// Failures of the replica's own machinery (never of a request: those become HTTP errors).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("cannot bind the replica to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {flag} value {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid replica configuration: {0}")]
    Config(String),
    #[error("replica I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Cassettes to replay that cannot be loaded.
    #[error("{0}")]
    Cassette(#[from] crate::cassette::CassetteError),
}

impl ReplicaError {
    /// True when the caller's input was wrong (bad flags or configuration), not the system.
    pub fn is_usage(&self) -> bool {
        match self {
            ReplicaError::Flag { .. } | ReplicaError::Config(_) => true,
            // Loading only reads: a missing directory is the caller's to fix too.
            ReplicaError::Cassette(e) => {
                e.is_usage() || matches!(e, crate::cassette::CassetteError::Io { .. })
            }
            ReplicaError::Bind { .. } | ReplicaError::Io(_) => false,
        }
    }
}
