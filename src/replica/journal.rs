//! A bounded, shared record of the requests the replica answered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::auth::AuthKind;
use super::config::FaultKind;
use super::routes::RouteKind;

/// One answered request. Credentials are never recorded, only how the caller authenticated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub method: String,
    pub route: RouteKind,
    /// The request path as sent, without the query (which may carry a key).
    pub path: String,
    /// The `Host` header, or the authority of an absolute-form (proxy) request target.
    pub host: Option<String>,
    pub deployment: Option<String>,
    pub api_version: Option<String>,
    pub auth: AuthKind,
    pub status: u16,
    /// The value of [`super::SCOPE_HEADER`], if the request carried one.
    pub scope: Option<String>,
    pub stream: bool,
    /// The fault that shaped the response, if any.
    pub fault: Option<FaultKind>,
}

/// A cheap-to-clone handle on the shared journal; the oldest entries drop at capacity.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Mutex<VecDeque<JournalEntry>>>,
    capacity: usize,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(1024)))),
            capacity: capacity.max(1),
        }
    }

    pub fn record(&self, entry: JournalEntry) {
        let mut q = self.lock();
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().iter().cloned().collect()
    }

    /// Entries whose scope equals `scope`.
    pub fn for_scope(&self, scope: &str) -> Vec<JournalEntry> {
        self.lock()
            .iter()
            .filter(|e| e.scope.as_deref() == Some(scope))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    // A panic while holding the lock cannot leave a VecDeque inconsistent, so poison is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<JournalEntry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: Option<&str>, status: u16) -> JournalEntry {
        JournalEntry {
            method: "POST".into(),
            route: RouteKind::AzureChat,
            path: "/openai/deployments/d/chat/completions".into(),
            host: None,
            deployment: Some("d".into()),
            api_version: None,
            auth: AuthKind::ApiKey,
            status,
            scope: scope.map(str::to_string),
            stream: false,
            fault: None,
        }
    }

    #[test]
    fn bounded_and_scoped() {
        let j = Journal::new(2);
        j.record(entry(Some("a"), 1));
        j.record(entry(Some("b"), 2));
        j.record(entry(None, 3));
        let all = j.entries();
        assert_eq!(all.iter().map(|e| e.status).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(j.for_scope("b").len(), 1);
        assert!(j.for_scope("a").is_empty());
        j.clear();
        assert!(j.is_empty());
    }
}
