//! Where received spans wait until a cell's driver collects them: one queue per cell
//! plus an "unattributed" queue, bounded in total so a runaway exporter cannot eat
//! the machine's memory (beyond the bound the oldest spans go, and are counted).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::convert::cell_of;
use crate::capture::span::CapturedSpan;

/// Counters of everything the receiver has seen since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Export requests received over HTTP and gRPC (accepted or not).
    pub requests: u64,
    /// Requests answered with an error (bad encoding, too large, wrong type...).
    pub rejected_requests: u64,
    /// Spans decoded from accepted requests.
    pub spans_accepted: u64,
    /// Spans evicted because the buffer was full before anyone took them.
    pub spans_dropped: u64,
    /// `POST /session/start` calls answered.
    pub sessions_started: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    rejected_requests: AtomicU64,
    spans_accepted: AtomicU64,
    spans_dropped: AtomicU64,
    sessions_started: AtomicU64,
}

#[derive(Debug, Default)]
struct Buckets {
    /// Each span carries its arrival number so the globally oldest can be found.
    by_cell: HashMap<Arc<str>, VecDeque<(u64, CapturedSpan)>>,
    unattributed: VecDeque<(u64, CapturedSpan)>,
    /// Arrival order across all queues: (arrival number, cell or None for
    /// unattributed). Entries of spans already taken are skipped when met, and pruned
    /// once the log outgrows twice the capacity, so finding the oldest span is
    /// amortized O(1) however many cells there are.
    arrivals: VecDeque<(u64, Option<Arc<str>>)>,
    next_seq: u64,
    total: usize,
}

impl Buckets {
    /// True while the span that arrived as `seq` in `cell` has not been taken.
    fn holds(
        by_cell: &HashMap<Arc<str>, VecDeque<(u64, CapturedSpan)>>,
        unattributed: &VecDeque<(u64, CapturedSpan)>,
        seq: u64,
        cell: Option<&Arc<str>>,
    ) -> bool {
        // A queue only loses its front or all of it, so it holds every arrival from its
        // front onwards.
        let queue = match cell {
            Some(c) => by_cell.get(c),
            None => Some(unattributed),
        };
        queue
            .and_then(VecDeque::front)
            .is_some_and(|(front, _)| *front <= seq)
    }

    /// Drops the span that arrived first across all queues.
    fn drop_oldest(&mut self) -> bool {
        while let Some((seq, cell)) = self.arrivals.pop_front() {
            if !Self::holds(&self.by_cell, &self.unattributed, seq, cell.as_ref()) {
                continue;
            }
            match cell {
                None => {
                    self.unattributed.pop_front();
                }
                Some(cell) => {
                    let queue = self.by_cell.get_mut(&cell);
                    let emptied = queue.is_some_and(|q| {
                        q.pop_front();
                        q.is_empty()
                    });
                    if emptied {
                        self.by_cell.remove(&cell);
                    }
                }
            }
            self.total -= 1;
            return true;
        }
        false
    }

    /// Forgets the arrivals of spans already taken, once they dominate the log.
    fn prune(&mut self, capacity: usize) {
        if self.arrivals.len() > capacity.saturating_mul(2).max(64) {
            let (by_cell, unattributed) = (&self.by_cell, &self.unattributed);
            self.arrivals
                .retain(|(seq, cell)| Self::holds(by_cell, unattributed, *seq, cell.as_ref()));
        }
    }
}

#[derive(Debug)]
pub(crate) struct SpanStore {
    buckets: Mutex<Buckets>,
    counters: Counters,
    arrived: Notify,
    capacity: usize,
    cell_attribute: String,
}

impl SpanStore {
    pub(crate) fn new(capacity: usize, cell_attribute: String) -> Self {
        SpanStore {
            buckets: Mutex::new(Buckets::default()),
            counters: Counters::default(),
            arrived: Notify::new(),
            capacity: capacity.max(1),
            cell_attribute,
        }
    }

    /// A poisoned lock only means another thread panicked mid-update; the queues are
    /// still structurally sound, so keep serving rather than cascade the panic.
    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn count_request(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rejected(&self) {
        self.counters
            .rejected_requests
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_session(&self) -> u64 {
        self.counters
            .sessions_started
            .fetch_add(1, Ordering::Relaxed)
            + 1
    }

    /// Files each span under its cell and wakes anyone waiting for spans.
    pub(crate) fn insert(&self, spans: Vec<CapturedSpan>) {
        self.insert_for(spans, None);
    }

    /// As [`SpanStore::insert`]; spans whose resource names no cell go to `fallback`
    /// (the cell whose API key the request carried) when there is one.
    pub(crate) fn insert_for(&self, spans: Vec<CapturedSpan>, fallback: Option<&Arc<str>>) {
        if spans.is_empty() {
            return;
        }
        let accepted = spans.len() as u64;
        let mut dropped = 0u64;
        {
            let mut b = self.lock();
            for span in spans {
                while b.total >= self.capacity && b.drop_oldest() {
                    dropped += 1;
                }
                let seq = b.next_seq;
                b.next_seq += 1;
                b.total += 1;
                let named = cell_of(&span, &self.cell_attribute)
                    .map(|cell| match b.by_cell.get_key_value(cell) {
                        Some((k, _)) => k.clone(),
                        None => Arc::from(cell),
                    })
                    .or_else(|| fallback.cloned());
                match named {
                    Some(key) => {
                        b.arrivals.push_back((seq, Some(key.clone())));
                        b.by_cell.entry(key).or_default().push_back((seq, span));
                    }
                    None => {
                        b.arrivals.push_back((seq, None));
                        b.unattributed.push_back((seq, span));
                    }
                }
            }
            b.prune(self.capacity);
        }
        self.counters
            .spans_accepted
            .fetch_add(accepted, Ordering::Relaxed);
        if dropped > 0 {
            self.counters
                .spans_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.arrived.notify_waiters();
    }

    pub(crate) fn pending(&self, cell: &str) -> usize {
        self.lock().by_cell.get(cell).map_or(0, VecDeque::len)
    }

    pub(crate) fn take_cell(&self, cell: &str) -> Vec<CapturedSpan> {
        let queue = {
            let mut b = self.lock();
            let queue = b.by_cell.remove(cell).unwrap_or_default();
            b.total -= queue.len();
            queue
        };
        sorted(queue)
    }

    pub(crate) fn take_unattributed(&self) -> Vec<CapturedSpan> {
        let queue = {
            let mut b = self.lock();
            let queue = std::mem::take(&mut b.unattributed);
            b.total -= queue.len();
            queue
        };
        sorted(queue)
    }

    /// Waits until `cell` holds at least `at_least` spans or `timeout` passes.
    pub(crate) async fn wait_for(&self, cell: &str, at_least: usize, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so an insert between the check and
            // the await still wakes us.
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending(cell) >= at_least {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    pub(crate) fn stats(&self) -> ReceiverStats {
        let c = &self.counters;
        ReceiverStats {
            requests: c.requests.load(Ordering::Relaxed),
            rejected_requests: c.rejected_requests.load(Ordering::Relaxed),
            spans_accepted: c.spans_accepted.load(Ordering::Relaxed),
            spans_dropped: c.spans_dropped.load(Ordering::Relaxed),
            sessions_started: c.sessions_started.load(Ordering::Relaxed),
        }
    }
}

/// Same order as in-process capture: start time, then span id.
fn sorted(queue: VecDeque<(u64, CapturedSpan)>) -> Vec<CapturedSpan> {
    let mut spans: Vec<CapturedSpan> = queue.into_iter().map(|(_, s)| s).collect();
    spans.sort_by(|a, b| {
        a.start_unix_nanos
            .cmp(&b.start_unix_nanos)
            .then_with(|| a.span_id.cmp(&b.span_id))
    });
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::span::{AttrValue, Scope, SpanKind, SpanStatus, StatusCode};
    use std::time::Duration;

    fn span(name: &str, cell: Option<&str>, start: u64) -> CapturedSpan {
        let mut resource = crate::capture::span::Attributes::new();
        if let Some(c) = cell {
            resource.insert("hh_compat.cell".into(), AttrValue::String(c.into()));
        }
        CapturedSpan {
            name: name.into(),
            kind: SpanKind::Internal,
            status: SpanStatus {
                code: StatusCode::Unset,
                message: None,
            },
            attributes: Default::default(),
            events: vec![],
            trace_id: "00".repeat(16),
            span_id: format!("{start:016x}"),
            parent_span_id: None,
            scope: Scope {
                name: "t".into(),
                version: None,
            },
            resource: resource.into(),
            start_unix_nanos: start,
            end_unix_nanos: start + 1,
        }
    }

    fn store(capacity: usize) -> SpanStore {
        SpanStore::new(capacity, "hh_compat.cell".into())
    }

    #[test]
    fn files_by_cell_and_take_removes_sorted() {
        let s = store(100);
        s.insert(vec![
            span("a2", Some("a"), 20),
            span("b1", Some("b"), 5),
            span("a1", Some("a"), 10),
            span("none", None, 1),
        ]);
        let a: Vec<_> = s.take_cell("a").into_iter().map(|s| s.name).collect();
        assert_eq!(a, ["a1", "a2"]);
        assert!(s.take_cell("a").is_empty(), "take removes");
        assert_eq!(s.pending("b"), 1);
        assert_eq!(s.take_unattributed()[0].name, "none");
        assert_eq!(s.stats().spans_accepted, 4);
        assert_eq!(s.stats().spans_dropped, 0);
    }

    #[test]
    fn beyond_capacity_the_oldest_across_cells_is_dropped() {
        let s = store(3);
        s.insert(vec![span("a-old", Some("a"), 1), span("u", None, 2)]);
        s.insert(vec![span("b", Some("b"), 3)]);
        s.insert(vec![
            span("a-new", Some("a"), 4),
            span("b-new", Some("b"), 5),
        ]);
        assert_eq!(s.stats().spans_dropped, 2);
        let a: Vec<_> = s.take_cell("a").into_iter().map(|s| s.name).collect();
        assert_eq!(a, ["a-new"]);
        assert!(s.take_unattributed().is_empty());
        assert_eq!(s.take_cell("b").len(), 2);
        // Space freed by taking is reusable without further drops.
        s.insert(vec![span("c", Some("c"), 6), span("c", Some("c"), 7)]);
        assert_eq!(s.stats().spans_dropped, 2);
    }

    #[test]
    fn eviction_is_oldest_first_across_many_cells_and_taken_spans() {
        let s = store(50);
        // Many cells, most taken again: the arrival log must skip and prune them.
        for i in 0..10_000u64 {
            let cell = format!("c{i}");
            s.insert(vec![span("x", Some(&cell), i)]);
            if i % 3 != 0 {
                assert_eq!(s.take_cell(&cell).len(), 1);
            }
        }
        let held = s.lock().arrivals.len();
        assert!(held <= 2 * 50 + 64, "the arrival log is pruned: {held}");
        let stats = s.stats();
        assert_eq!(stats.spans_accepted, 10_000);
        // Only every third span stayed; 50 fit, the rest were dropped oldest first.
        assert_eq!(stats.spans_dropped, 3334 - 50);
        assert_eq!(s.pending("c9999"), 1);
        assert_eq!(s.pending(&format!("c{}", 9999 - 3 * 50)), 0);
        assert_eq!(s.pending(&format!("c{}", 9999 - 3 * 49)), 1);
    }

    #[tokio::test]
    async fn wait_returns_when_enough_spans_arrive_or_on_timeout() {
        let s = std::sync::Arc::new(store(100));
        let s2 = s.clone();
        let writer = tokio::spawn(async move {
            for i in 0..3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                s2.insert(vec![span("x", Some("w"), i)]);
            }
        });
        let started = std::time::Instant::now();
        s.wait_for("w", 3, Duration::from_secs(10)).await;
        assert_eq!(s.pending("w"), 3);
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.await.expect("writer");

        let started = std::time::Instant::now();
        s.wait_for("never", 1, Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(s.pending("never"), 0);
    }
}
