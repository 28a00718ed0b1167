//! What each package records on Azure: the facts people ask about (is Azure detected, is
//! `server.address` set, is the deployment the request model, …), one verdict per package
//! release and fact, computed from the cells' findings and spans.
//!
//! [`FACTS`] is the one place that decides which features, which check and which
//! attributes speak for a fact. A fact is judged over the row's cells of its features
//! that ran (not skipped, no harness error):
//! - **no** when one of them has a finding (a failure or a known issue) of the fact's
//!   check about one of its subjects — a missing or wrong attribute, a wrong status, a
//!   missing event, or the check's span missing altogether — or when one of them has no
//!   span holding the evidence (one of the attributes; for errors, a span with ERROR
//!   status);
//! - **yes** when every one of them holds the evidence and has no such finding;
//! - **untested** when the row has no such cell.
//!
//! Attributes are judged by the names the conventions use today: a package that records
//! a fact under an older name counts as not recording it, and the cell's note says which
//! name it used.

use super::result::{CellResult, CellStatus, Finding, FindingKind};
use crate::capture::StatusCode;
use crate::vocab::Feature;

/// What a fact is judged on besides the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evidence {
    /// A span holding one of these attributes (one name per convention).
    Attributes(&'static [&'static str]),
    /// A span that ended with ERROR status.
    ErrorStatus,
}

/// One question people ask about a package on Azure, and how the results answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fact {
    /// The column's heading (markdown).
    pub heading: &'static str,
    /// The features whose cells answer it.
    pub features: &'static [Feature],
    /// The matrix check (span selection) whose findings speak for it.
    pub check: &'static str,
    /// The finding subjects (as results files spell them) that make it a no, besides the
    /// evidence's attributes and the check's span count.
    pub subjects: &'static [&'static str],
    pub evidence: Evidence,
}

/// The token counts, by convention: OpenInference, then the GenAI conventions.
const USAGE: &[&str] = &[
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
];

/// The plain calls: a chat completion and an embeddings call.
const PLAIN_CALLS: &[Feature] = &[Feature::Chat, Feature::Embeddings];

/// The facts, in column order: the one mapping from checks and attributes to facts.
pub(super) const FACTS: &[Fact] = &[
    Fact {
        heading: "Azure detected",
        features: PLAIN_CALLS,
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(&["llm.provider", "gen_ai.provider.name"]),
    },
    Fact {
        heading: "`server.address`",
        features: PLAIN_CALLS,
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(&["server.address"]),
    },
    Fact {
        heading: "deployment as request model",
        features: PLAIN_CALLS,
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(&[
            "llm.invocation_parameters",
            "embedding.invocation_parameters",
            "gen_ai.request.model",
        ]),
    },
    Fact {
        heading: "snapshot as response model",
        features: PLAIN_CALLS,
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(&[
            "llm.model_name",
            "embedding.model_name",
            "gen_ai.response.model",
        ]),
    },
    Fact {
        heading: "token usage",
        features: &[Feature::Chat],
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(USAGE),
    },
    Fact {
        heading: "streaming usage",
        features: &[Feature::StreamingUsage],
        check: "llm",
        subjects: &[],
        evidence: Evidence::Attributes(USAGE),
    },
    Fact {
        heading: "errors recorded",
        features: &[Feature::Errors],
        check: "not found",
        subjects: &["status", "attribute `error.type`"],
        evidence: Evidence::ErrorStatus,
    },
];

/// A fact's verdict for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Yes,
    No,
    Untested,
}

impl Verdict {
    /// The symbol the table shows.
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Verdict::Yes => "✅",
            Verdict::No => "❌",
            Verdict::Untested => "—",
        }
    }
}

impl Fact {
    /// The verdict over one row's cells (one package release, one setup).
    pub(super) fn judge(&self, cells: &[&CellResult]) -> Verdict {
        let tested: Vec<&&CellResult> = cells
            .iter()
            .filter(|c| self.features.contains(&c.feature))
            .filter(|c| !matches!(c.status, CellStatus::Skip | CellStatus::Error))
            .collect();
        if tested.is_empty() {
            return Verdict::Untested;
        }
        let holds = tested
            .iter()
            .all(|c| self.has_evidence(c) && !c.findings.iter().any(|f| self.refutes(f)));
        if holds {
            Verdict::Yes
        } else {
            Verdict::No
        }
    }

    fn has_evidence(&self, cell: &CellResult) -> bool {
        cell.spans.iter().any(|s| match self.evidence {
            Evidence::Attributes(keys) => keys.iter().any(|k| s.attributes.contains_key(*k)),
            Evidence::ErrorStatus => s.status == StatusCode::Error,
        })
    }

    /// Whether a finding says the fact does not hold: one of the check's failures about
    /// its subjects. An attribute that should have been absent says nothing about it.
    fn refutes(&self, finding: &Finding) -> bool {
        if !matches!(finding.kind, FindingKind::Failure | FindingKind::KnownIssue) {
            return false;
        }
        // A driver error with no check behind it: nothing the fact needs was recorded.
        let Some(subject) = finding.subject.as_deref() else {
            return true;
        };
        if finding.check.as_deref() != Some(self.check) {
            return false;
        }
        if subject == "span count" || self.subjects.contains(&subject) {
            return true;
        }
        let about_evidence = match self.evidence {
            Evidence::Attributes(keys) => subject
                .strip_prefix("attribute `")
                .and_then(|s| s.strip_suffix('`'))
                .is_some_and(|k| keys.contains(&k)),
            Evidence::ErrorStatus => false,
        };
        about_evidence && finding.expected.as_deref() != Some("absent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{AttrValue, SpanKind};
    use crate::report::result::sample_cell;
    use crate::report::ReportSpan;

    fn span(attrs: &[&str], status: StatusCode) -> ReportSpan {
        ReportSpan {
            name: "chat gpt-4o".into(),
            kind: SpanKind::Client,
            status,
            status_message: None,
            trace: "t1".into(),
            id: "s1".into(),
            parent: None,
            scope: "test".into(),
            attributes: attrs
                .iter()
                .map(|k| (k.to_string(), AttrValue::String("v".into())))
                .collect(),
            events: Vec::new(),
        }
    }

    fn fact(heading: &str) -> &'static Fact {
        FACTS.iter().find(|f| f.heading == heading).expect("a fact")
    }

    fn known(check: &str, subject: &str, expected: &str) -> Finding {
        let mut f = Finding::new(FindingKind::KnownIssue, "x");
        f.check = Some(check.into());
        f.subject = Some(subject.into());
        f.expected = Some(expected.into());
        f.actual = Some("absent".into());
        f
    }

    #[test]
    fn a_fact_holds_with_evidence_and_no_finding_against_it() {
        let mut cell = sample_cell("c", CellStatus::Xfail);
        cell.spans = vec![span(&["server.address"], StatusCode::Unset)];
        cell.findings = vec![known("llm", "attribute `gen_ai.response.model`", "x")];
        assert_eq!(fact("`server.address`").judge(&[&cell]), Verdict::Yes);
        assert_eq!(
            fact("snapshot as response model").judge(&[&cell]),
            Verdict::No
        );
        // Untested: no cell of the fact's features.
        assert_eq!(fact("errors recorded").judge(&[&cell]), Verdict::Untested);
    }

    #[test]
    fn a_finding_about_the_fact_or_a_missing_span_makes_it_a_no() {
        let mut cell = sample_cell("c", CellStatus::Xfail);
        cell.spans = vec![span(&["server.address"], StatusCode::Unset)];
        cell.findings = vec![known("llm", "attribute `server.address`", "equals x")];
        assert_eq!(fact("`server.address`").judge(&[&cell]), Verdict::No);
        cell.findings = vec![known("llm", "span count", "1 span(s)")];
        assert_eq!(fact("`server.address`").judge(&[&cell]), Verdict::No);
        // Another check's findings, or an attribute that should have been absent, do not.
        cell.findings = vec![
            known("tool call", "attribute `server.address`", "equals x"),
            known("llm", "attribute `server.address`", "absent"),
        ];
        assert_eq!(fact("`server.address`").judge(&[&cell]), Verdict::Yes);
    }

    #[test]
    fn errors_are_recorded_when_the_refused_call_ends_in_error_status() {
        let mut cell = sample_cell("c", CellStatus::Xfail);
        cell.feature = Feature::Errors;
        cell.spans = vec![span(&[], StatusCode::Error)];
        assert_eq!(fact("errors recorded").judge(&[&cell]), Verdict::Yes);
        // An error status without an `exception` event is still the error recorded.
        cell.findings = vec![known("not found", "event `exception`", "1 occurrence(s)")];
        assert_eq!(fact("errors recorded").judge(&[&cell]), Verdict::Yes);
        cell.findings = vec![known("not found", "status", "ERROR")];
        assert_eq!(fact("errors recorded").judge(&[&cell]), Verdict::No);
        // A skipped cell tests nothing.
        cell.status = CellStatus::Skip;
        assert_eq!(fact("errors recorded").judge(&[&cell]), Verdict::Untested);
    }
}
