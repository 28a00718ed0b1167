//! Which of a deployment's faults apply to a request, counted per scope.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::config::{Deployment, Fault, FaultKind};

/// Default `retry-after-ms` for a rate limit without one (Azure commonly asks for seconds).
pub(super) const DEFAULT_RETRY_AFTER_MS: u64 = 1000;

/// The faults shaping one response.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Active {
    /// A fault that replaces the response with an error (first in configuration order).
    pub error: Option<Fault>,
    pub output_filter: bool,
    pub async_filter: bool,
    pub truncated_stream: bool,
    pub malformed_chunk: bool,
    pub latency: Option<Duration>,
}

impl Active {
    /// The fault to journal: the error if any, else the first modifier, else latency.
    pub(super) fn primary(&self) -> Option<FaultKind> {
        if let Some(f) = &self.error {
            return Some(f.kind);
        }
        [
            (self.output_filter, FaultKind::OutputFilter),
            (self.async_filter, FaultKind::AsyncFilter),
            (self.truncated_stream, FaultKind::TruncatedStream),
            (self.malformed_chunk, FaultKind::MalformedChunk),
            (self.latency.is_some(), FaultKind::Latency),
        ]
        .into_iter()
        .find_map(|(on, kind)| on.then_some(kind))
    }
}

/// Stream-only faults neither apply to nor count non-streamed requests.
fn applies(kind: FaultKind, stream: bool) -> bool {
    match kind {
        FaultKind::AsyncFilter | FaultKind::TruncatedStream | FaultKind::MalformedChunk => stream,
        _ => true,
    }
}

type Key = (Option<String>, String, usize);

/// Per (scope, deployment, fault index) counters, so `times` means "the first N requests of
/// this cell" even while other cells share the replica.
#[derive(Debug, Default)]
pub(super) struct FaultCounters {
    counts: Mutex<HashMap<Key, u32>>,
}

impl FaultCounters {
    pub(super) fn resolve(
        &self,
        scope: Option<&str>,
        deployment: &Deployment,
        stream: bool,
    ) -> Active {
        let mut active = Active::default();
        if deployment.faults.is_empty() {
            return active;
        }
        for (index, fault) in deployment.faults.iter().enumerate() {
            if !applies(fault.kind, stream) || !self.take(scope, &deployment.name, index, fault) {
                continue;
            }
            match fault.kind {
                FaultKind::RateLimit
                | FaultKind::ServerError
                | FaultKind::ServiceUnavailable
                | FaultKind::Timeout
                | FaultKind::PromptFilter => {
                    if active.error.is_none() {
                        active.error = Some(fault.clone());
                    }
                }
                FaultKind::OutputFilter => active.output_filter = true,
                FaultKind::AsyncFilter => active.async_filter = true,
                FaultKind::TruncatedStream => active.truncated_stream = true,
                FaultKind::MalformedChunk => active.malformed_chunk = true,
                FaultKind::Latency => {
                    let ms = fault.ms.unwrap_or(0);
                    let total = active.latency.unwrap_or_default() + Duration::from_millis(ms);
                    active.latency = Some(total);
                }
            }
        }
        active
    }

    /// Whether this request gets the fault; consumes one of its `times` when limited.
    fn take(&self, scope: Option<&str>, deployment: &str, index: usize, fault: &Fault) -> bool {
        let Some(times) = fault.times else {
            return true;
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (scope.map(str::to_string), deployment.to_string(), index);
        let seen = counts.entry(key).or_insert(0);
        if *seen < times {
            *seen += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_counts_per_scope() {
        let dep = Deployment::new("d", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::RateLimit).times(2));
        let c = FaultCounters::default();
        let kinds = |scope| c.resolve(scope, &dep, false).primary();
        assert_eq!(kinds(Some("a")), Some(FaultKind::RateLimit));
        assert_eq!(kinds(Some("a")), Some(FaultKind::RateLimit));
        assert_eq!(kinds(Some("a")), None);
        assert_eq!(kinds(Some("b")), Some(FaultKind::RateLimit));
        assert_eq!(kinds(None), Some(FaultKind::RateLimit));
    }

    #[test]
    fn stream_only_faults_skip_plain_requests() {
        let dep = Deployment::new("d", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::TruncatedStream).times(1));
        let c = FaultCounters::default();
        assert_eq!(c.resolve(None, &dep, false).primary(), None);
        assert!(c.resolve(None, &dep, true).truncated_stream);
        assert!(!c.resolve(None, &dep, true).truncated_stream);
    }

    #[test]
    fn latency_adds_up_and_unlimited_faults_always_apply() {
        let mut slow = Fault::new(FaultKind::Latency);
        slow.ms = Some(5);
        let dep = Deployment::new("d", "m")
            .with_fault(slow.clone())
            .with_fault(slow)
            .with_fault(Fault::new(FaultKind::ServerError));
        let c = FaultCounters::default();
        for _ in 0..3 {
            let a = c.resolve(None, &dep, false);
            assert_eq!(a.latency, Some(Duration::from_millis(10)));
            assert_eq!(a.primary(), Some(FaultKind::ServerError));
        }
    }
}
