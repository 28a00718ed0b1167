//! Cassettes: recorded Azure OpenAI traffic, written as readable YAML and replayed by the
//! replica instead of generated answers. The format is documented in docs/cassettes.md.
//!
//! - `model`: the file format as serde types; `scope`: scope → file name;
//!   `sse`: event streams ↔ events; `normalize`: JSON normalization and diffs.
//! - `redact`: what is never written, and scrubbing of secrets and the host.
//! - `write`: writing a cassette directory; `load`: reading one, with `file:line:col`
//!   errors, into a [`ReplayStore`].
//! - `traffic`: raw HTTP traffic → exchanges; `recorder`: the recording proxy; `replay`: matching requests against a store
//!   (served over HTTP by [`crate::replica::start_replay`]).
//! - `vcrpy`: other projects' vcrpy cassettes → exchanges (`hh-compat cassettes import`).

mod load;
mod model;
mod normalize;
mod recorder;
mod redact;
mod replay;
mod scope;
pub mod sse;
mod traffic;
pub(crate) mod vcrpy;
mod write;
mod yaml;

pub use load::{RecordedExchange, ReplayStore};
pub use model::{
    CassetteFile, CassetteMeta, Exchange, MatchOptions, RecordedRequest, RecordedResponse,
    RecordedTarget, SseEvent,
};
pub use recorder::{Recorder, RecorderConfig};
pub use replay::{Closest, IncomingRequest, ReplayMiss, Replayer, MISS_CODE};
pub use write::{claim, write_cassettes, Claim, WriteOptions};

use std::path::PathBuf;

use crate::located::Pos;

/// Everything that can go wrong with cassettes (never with one request: those get HTTP
/// errors from the proxy or the replay server).
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cassette file that cannot be used; `Display` is `FILE:LINE:COL: message`, then
    /// the offending line with a caret when the text is at hand.
    #[error("{}: {message}{}", location(file, *pos), snippet.as_deref().map(|s| format!("\n{s}")).unwrap_or_default())]
    Parse {
        file: String,
        pos: Option<Pos>,
        message: String,
        snippet: Option<String>,
    },
    /// `record` will not write into this directory (see [`write::claim`]).
    #[error("{}: {reason}", dir.display())]
    Refused { dir: PathBuf, reason: String },
    #[error("cannot bind the recording proxy to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid recorder configuration: {0}")]
    Config(String),
    #[error("cannot serialize a cassette: {0}")]
    Serialize(String),
}

impl CassetteError {
    /// True when the cassette files or the caller's options are wrong (exit 2), not the system.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            CassetteError::Parse { .. } | CassetteError::Config(_) | CassetteError::Refused { .. }
        )
    }

    /// `FILE:LINE:COL` (or `FILE`) for parse errors.
    pub fn location(&self) -> Option<String> {
        match self {
            CassetteError::Parse { file, pos, .. } => Some(location(file, *pos)),
            _ => None,
        }
    }
}

fn location(file: &str, pos: Option<Pos>) -> String {
    match pos {
        Some(p) => format!("{file}:{}:{}", p.line, p.column),
        None => file.to_string(),
    }
}

// A panic while holding these locks leaves plain data consistent; poison is ignored.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
