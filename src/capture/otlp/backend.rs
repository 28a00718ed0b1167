//! HoneyHive's backend as the receiver plays it: the API keys it accepts, the cell each
//! key belongs to, and every request each cell's app made with its key.
//!
//! A setup's app is given its own generated key (`HH_API_KEY`, `TRACELOOP_API_KEY`,
//! `PHOENIX_API_KEY`), so whatever its SDK sends — a session start, spans in any
//! encoding on any route — is attributed to the cell by the `Authorization: Bearer`
//! header alone, the way the real backend attributes it to a project. HoneyHive's own
//! routes refuse a request without a known key (401). Keys are never logged, echoed or
//! written: the log keeps method, path and status only.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::header::{HeaderMap, AUTHORIZATION};
use serde::{Deserialize, Serialize};

/// Every generated key starts with this, so a canary test can search every output for
/// any key at all without knowing the random part.
pub const KEY_PREFIX: &str = "hhc_backend_key_";

/// The most requests logged per cell; a runaway exporter cannot grow memory without bound.
const MAX_LOGGED_PER_CELL: usize = 1_000;
/// The most keys admitted at once (one per setup cell of a run).
const MAX_KEYS: usize = 100_000;

/// One request the backend received from a cell's app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

impl BackendRequest {
    /// `METHOD /path`, as the matrix's `backend:` checks name routes.
    pub fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<String, Arc<str>>,
    log: HashMap<Arc<str>, Vec<BackendRequest>>,
}

#[derive(Debug, Default)]
pub(crate) struct Backend {
    inner: Mutex<Inner>,
}

impl Backend {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Accepts `key` from now on, for `cell`'s app. Returns false when the table is full.
    pub(crate) fn admit(&self, key: &str, cell: &str) -> bool {
        let mut inner = self.lock();
        if inner.keys.len() >= MAX_KEYS && !inner.keys.contains_key(key) {
            return false;
        }
        inner.keys.insert(key.to_string(), Arc::from(cell));
        true
    }

    /// Stops accepting `key`.
    pub(crate) fn revoke(&self, key: &str) {
        self.lock().keys.remove(key);
    }

    /// The cell whose key the request carries as `Authorization: Bearer <key>`.
    pub(crate) fn cell_for(&self, headers: &HeaderMap) -> Option<Arc<str>> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, key) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.lock().keys.get(key.trim()).cloned()
    }

    pub(crate) fn record(&self, cell: &Arc<str>, request: BackendRequest) {
        let mut inner = self.lock();
        let log = inner.log.entry(cell.clone()).or_default();
        if log.len() < MAX_LOGGED_PER_CELL {
            log.push(request);
        }
    }

    /// Removes and returns what `cell`'s app sent, in arrival order.
    pub(crate) fn take(&self, cell: &str) -> Vec<BackendRequest> {
        self.lock().log.remove(cell).unwrap_or_default()
    }
}

/// A fresh key: the prefix and 128 bits from the standard library's per-process random
/// hasher keys, mixed with a counter and the clock. Only loopback ever sees it.
pub fn new_key() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(now);
        h.write_usize(i);
        h.write_u32(std::process::id());
        *part = h.finish();
    }
    format!("{KEY_PREFIX}{:016x}{:016x}", parts[0], parts[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn keys_name_their_cell_and_only_as_bearer() {
        let b = Backend::default();
        let key = new_key();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 32);
        assert_ne!(key, new_key(), "keys differ");
        assert!(b.admit(&key, "cell-a"));
        assert_eq!(
            b.cell_for(&bearer(&format!("Bearer {key}"))).as_deref(),
            Some("cell-a")
        );
        assert_eq!(
            b.cell_for(&bearer(&format!("bearer  {key} "))).as_deref(),
            Some("cell-a")
        );
        assert_eq!(b.cell_for(&bearer(&format!("Basic {key}"))), None);
        assert_eq!(b.cell_for(&bearer("Bearer hhc_backend_key_guess")), None);
        assert_eq!(b.cell_for(&HeaderMap::new()), None);
        b.revoke(&key);
        assert_eq!(b.cell_for(&bearer(&format!("Bearer {key}"))), None);
    }

    #[test]
    fn the_log_is_per_cell_bounded_and_taken_once() {
        let b = Backend::default();
        let cell: Arc<str> = Arc::from("c");
        for _ in 0..MAX_LOGGED_PER_CELL + 5 {
            b.record(
                &cell,
                BackendRequest {
                    method: "POST".into(),
                    path: "/session/start".into(),
                    status: 200,
                },
            );
        }
        let log = b.take("c");
        assert_eq!(log.len(), MAX_LOGGED_PER_CELL);
        assert_eq!(log[0].route(), "POST /session/start");
        assert!(b.take("c").is_empty());
    }
}
