//! The results of a run: what every reporter renders and what `--format json` saves.

use crate::capture::{AttrValue, BackendRequest, CapturedSpan, SpanKind, StatusCode};
use crate::vocab::{DriverKind, Feature, Provider, Setup, Style};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The schema identifier written at the top of every results file.
pub(super) const SCHEMA: &str = "hh-compat/results/v1";

/// How one cell ended. Ordered from best to worst so summaries can take a max.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// Every assertion held.
    Pass,
    /// Not applicable or a driver unavailable; always with a reason.
    Skip,
    /// Failed only where a known issue says it would.
    Xfail,
    /// The harness or the infrastructure failed (driver crash, timeout, outage).
    Error,
    /// A known issue no longer reproduces: the matrix is out of date.
    Xpass,
    /// An assertion failed: an incompatibility.
    Fail,
}

impl CellStatus {
    pub const ALL: [CellStatus; 6] = [
        CellStatus::Pass,
        CellStatus::Fail,
        CellStatus::Xfail,
        CellStatus::Xpass,
        CellStatus::Skip,
        CellStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Pass => "pass",
            CellStatus::Fail => "fail",
            CellStatus::Xfail => "xfail",
            CellStatus::Xpass => "xpass",
            CellStatus::Skip => "skip",
            CellStatus::Error => "error",
        }
    }
}

impl fmt::Display for CellStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about, so reporters can group and colour them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An assertion that failed and no known issue covers.
    Failure,
    /// An assertion that failed as a known issue says it does.
    KnownIssue,
    /// A known issue that did not reproduce.
    Unreproduced,
    /// The harness or the infrastructure failed.
    Error,
    /// Why a cell was skipped.
    Skipped,
    /// Context worth keeping (e.g. retries seen), not a problem.
    Note,
}

/// One line of evidence about a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One readable sentence; the full story.
    pub message: String,
    /// The check (span selection) the finding belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// What was asserted on: an attribute key, `count`, `status`, an event name…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// For known issues: why it happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For known issues: an upstream link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// For known issues: the issue's id in the matrix, stable across runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// For known issues: the issue's one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Finding {
    pub fn new(kind: FindingKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            check: None,
            subject: None,
            expected: None,
            actual: None,
            reason: None,
            link: None,
            issue: None,
            summary: None,
        }
    }
}

/// One request the replica saw for a cell, so retries are visible in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub status: u16,
    /// The path, kept for requests to a route Azure does not serve (the evidence of a
    /// setup problem such as `//openai/…` from an endpoint with a trailing slash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A span as results files keep it: ids replaced by per-cell ordinals (`t1`, `s2`)
/// so two runs of the same cell produce the same bytes, relations intact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSpan {
    pub name: String,
    pub kind: SpanKind,
    pub status: StatusCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub trace: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub scope: String,
    pub attributes: BTreeMap<String, AttrValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

/// Attribute keys whose values are measurements of time; `--stable` zeroes them.
pub(super) const TIMING_ATTRIBUTES: &[&str] = &["gen_ai.response.time_to_first_chunk"];

impl ReportSpan {
    /// Converts a cell's spans, numbering traces and spans in the order they appear.
    pub fn from_captured(spans: &[CapturedSpan]) -> Vec<ReportSpan> {
        let mut traces: Vec<&str> = Vec::new();
        let span_ordinal = |id: &str| -> Option<String> {
            spans
                .iter()
                .position(|s| s.span_id == id)
                .map(|i| format!("s{}", i + 1))
        };
        let mut out = Vec::with_capacity(spans.len());
        for (i, span) in spans.iter().enumerate() {
            let trace_index = match traces.iter().position(|t| *t == span.trace_id) {
                Some(i) => i,
                None => {
                    traces.push(&span.trace_id);
                    traces.len() - 1
                }
            };
            out.push(ReportSpan {
                name: span.name.clone(),
                kind: span.kind,
                status: span.status.code,
                status_message: span.status.message.clone(),
                trace: format!("t{}", trace_index + 1),
                id: format!("s{}", i + 1),
                // A parent outside the captured set (e.g. a remote caller) keeps a marker
                // rather than a random id.
                parent: span
                    .parent_span_id
                    .as_deref()
                    .map(|p| span_ordinal(p).unwrap_or_else(|| "external".to_string())),
                scope: span.scope.name.clone(),
                attributes: span.attributes.clone(),
                events: span.events.iter().map(|e| e.name.clone()).collect(),
            });
        }
        out
    }

    fn zero_timings(&mut self) {
        for key in TIMING_ATTRIBUTES {
            if let Some(v) = self.attributes.get_mut(*key) {
                *v = AttrValue::Double(0.0);
            }
        }
    }
}

/// The result of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub id: String,
    pub provider: Provider,
    pub style: Style,
    pub feature: Feature,
    pub driver: DriverKind,
    /// The python driver's version set (absent for other drivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_set: Option<String>,
    /// How the app wired tracing (absent: `instrumentor`).
    #[serde(default = "instrumentor", skip_serializing_if = "is_instrumentor")]
    pub setup: Setup,
    pub status: CellStatus,
    pub findings: Vec<Finding>,
    /// Versions of what produced the spans (crate, SDK, instrumentor), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestRecord>,
    /// What the setup's backend received with the cell's API key (setups other than
    /// `instrumentor`), in arrival order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend: Vec<BackendRequest>,
    pub spans: Vec<ReportSpan>,
    pub duration_ms: u64,
    /// In a sharded run: the cell's place in the whole (unsharded) selection, so merged
    /// shards come back in the order one run would have given. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<usize>,
}

fn instrumentor() -> Setup {
    Setup::Instrumentor
}

fn is_instrumentor(setup: &Setup) -> bool {
    *setup == Setup::Instrumentor
}

/// A traceloop chat cell with `status` and nothing else, for the reporters' tests.
#[cfg(test)]
pub(crate) fn sample_cell(id: &str, status: CellStatus) -> CellResult {
    CellResult {
        id: id.into(),
        provider: Provider::AzureOpenAi,
        style: Style::Traceloop,
        feature: Feature::Chat,
        driver: DriverKind::Rust,
        version_set: None,
        setup: Setup::Instrumentor,
        status,
        findings: Vec::new(),
        versions: BTreeMap::new(),
        requests: Vec::new(),
        backend: Vec::new(),
        spans: Vec::new(),
        duration_ms: 1,
        ordinal: None,
    }
}

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub xfail: usize,
    pub xpass: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(cells: &[CellResult]) -> Self {
        let mut s = Summary {
            total: cells.len(),
            ..Summary::default()
        };
        for c in cells {
            *s.slot(c.status) += 1;
        }
        s
    }

    fn slot(&mut self, status: CellStatus) -> &mut usize {
        match status {
            CellStatus::Pass => &mut self.pass,
            CellStatus::Fail => &mut self.fail,
            CellStatus::Xfail => &mut self.xfail,
            CellStatus::Xpass => &mut self.xpass,
            CellStatus::Skip => &mut self.skip,
            CellStatus::Error => &mut self.error,
        }
    }

    pub fn count(&self, status: CellStatus) -> usize {
        let mut copy = self.clone();
        *copy.slot(status)
    }
}

/// Process exit codes, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything passed, was skipped, or failed as known.
    Ok = 0,
    /// Any `fail` or `xpass`.
    Incompatible = 1,
    /// Usage or matrix error.
    Usage = 2,
    /// Only infrastructure errors (no incompatibility).
    Infrastructure = 3,
    /// As `Ok`, but an output file (`--out`, cassettes) could not be written.
    OkUnwritten = 4,
    /// As `Incompatible`, but an output file could not be written.
    IncompatibleUnwritten = 5,
    /// As `Infrastructure`, but an output file could not be written.
    InfrastructureUnwritten = 7,
}

impl ExitStatus {
    /// The process exit code. Bit 4 says an output could not be written; the low bits
    /// are then what the run itself found (0, 1 or 3).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// This status, with the news that an output file could not be written.
    pub fn unwritten(self) -> ExitStatus {
        match self {
            ExitStatus::Ok | ExitStatus::OkUnwritten => ExitStatus::OkUnwritten,
            ExitStatus::Incompatible | ExitStatus::IncompatibleUnwritten => {
                ExitStatus::IncompatibleUnwritten
            }
            ExitStatus::Infrastructure | ExitStatus::InfrastructureUnwritten => {
                ExitStatus::InfrastructureUnwritten
            }
            // A usage error has written nothing; it stays what it is.
            ExitStatus::Usage => ExitStatus::Usage,
        }
    }
}

/// Everything one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema: String,
    /// The matrix file the run used, as given.
    pub matrix: String,
    pub target: crate::vocab::TargetKind,
    pub cells: Vec<CellResult>,
    pub summary: Summary,
    /// `K/N` when this is one shard of a run (`--shard`); merging checks all N are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// When the run began, RFC 3339 in UTC (`2026-12-03T08:30:00Z`); absent with
    /// `--stable`. Merged shards keep the earliest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

impl RunResults {
    pub fn new(
        matrix: impl Into<String>,
        target: crate::vocab::TargetKind,
        cells: Vec<CellResult>,
    ) -> Self {
        let summary = Summary::of(&cells);
        Self {
            schema: SCHEMA.to_string(),
            matrix: matrix.into(),
            target,
            cells,
            summary,
            shard: None,
            started_at: None,
        }
    }

    /// Stamps the run as begun at `when`.
    pub fn started(&mut self, when: std::time::SystemTime) {
        let utc = chrono::DateTime::<chrono::Utc>::from(when);
        self.started_at = Some(utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }

    pub fn exit_status(&self) -> ExitStatus {
        let s = &self.summary;
        if s.fail > 0 || s.xpass > 0 {
            ExitStatus::Incompatible
        } else if s.error > 0 {
            ExitStatus::Infrastructure
        } else {
            ExitStatus::Ok
        }
    }

    /// Zeroes every measurement of time, so identical inputs give identical bytes.
    pub fn stabilize(&mut self) {
        self.started_at = None;
        for cell in &mut self.cells {
            cell.duration_ms = 0;
            for span in &mut cell.spans {
                span.zero_timings();
            }
            // Request and span ids are unique per run by design; in findings they
            // are evidence to follow up, not part of what a run proves.
            for finding in &mut cell.findings {
                finding.message = mask_run_ids(&finding.message);
            }
        }
    }
}

/// Masks what differs between two runs of the same cells in a finding's text:
/// `apim-request-id=3b0c…` → `apim-request-id=…` (and the other request-id headers), a
/// span's `id 79179e4d5ca09b3b` → `id …`, and timing attributes in span dumps
/// (`gen_ai.response.time_to_first_chunk = 0.00046 (double)` → `= 0 (double)`).
pub(crate) fn mask_run_ids(text: &str) -> String {
    static IDS: std::sync::OnceLock<Option<[regex::Regex; 3]>> = std::sync::OnceLock::new();
    let patterns = IDS.get_or_init(|| {
        let keys: Vec<String> = TIMING_ATTRIBUTES.iter().map(|k| regex::escape(k)).collect();
        Some([
            regex::Regex::new(r"((?:apim|x|x-ms)-request-id)=[^,;\s]+").ok()?,
            regex::Regex::new(r"\bid [0-9a-f]{16}\b").ok()?,
            regex::Regex::new(&format!(r"({}) = [-+0-9.eE]+ ", keys.join("|"))).ok()?,
        ])
    });
    match patterns {
        Some([requests, spans, timings]) => {
            let text = requests.replace_all(text, "$1=…");
            let text = spans.replace_all(&text, "id …");
            timings.replace_all(&text, "$1 = 0 ").into_owned()
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod stable_tests {
    #[test]
    fn run_specific_ids_are_masked() {
        assert_eq!(
            super::mask_run_ids(
                "HTTP 429 (429), apim-request-id=ab-12, x-request-id=cd; x-ms-request-id=e"
            ),
            "HTTP 429 (429), apim-request-id=…, x-request-id=…; x-ms-request-id=…"
        );
        assert_eq!(
            super::mask_run_ids("in span `x` (kind client, status ERROR, id 79179e4d5ca09b3b)"),
            "in span `x` (kind client, status ERROR, id …)"
        );
        assert_eq!(
            super::mask_run_ids("      gen_ai.response.time_to_first_chunk = 0.000463645 (double)"),
            "      gen_ai.response.time_to_first_chunk = 0 (double)"
        );
    }
}
