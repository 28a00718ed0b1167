//! Known issues: expected failures that turn `fail` into `xfail`, and `xpass` when they
//! stop reproducing.

use super::eval::{Finding, Subject};
use crate::pep440::{normalize_name, Specifiers, Version};
use crate::vocab::{DriverKind, ErrorKind, Feature, Setup, Style};
use serde::Serialize;
use std::collections::BTreeMap;

/// A package and the releases of it an issue concerns (`when:` in the matrix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageRange {
    /// The package name, normalized (PEP 503).
    pub package: String,
    pub range: Specifiers,
}

/// The kind of subject a known issue covers, when it covers one kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Count,
    Status,
    Attribute,
    Event,
    Relation,
    Route,
}

impl SubjectKind {
    pub const NAMES: &'static [&'static str] =
        &["count", "status", "attribute", "event", "relation", "route"];

    fn of(subject: &Subject) -> Self {
        match subject {
            Subject::Count => SubjectKind::Count,
            Subject::Status => SubjectKind::Status,
            Subject::Attribute(_) => SubjectKind::Attribute,
            Subject::Event(_) => SubjectKind::Event,
            Subject::Relation(_) => SubjectKind::Relation,
            Subject::Route(_) => SubjectKind::Route,
        }
    }
}

/// The app's own error a known issue expects: where it came from, and, to tell errors of
/// one kind apart, its type and a text of its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorMatch {
    pub kind: ErrorKind,
    /// The error's type, exactly: a Python exception's class (`ModuleNotFoundError`),
    /// async-openai's error variant (`JSONDeserialize`). `None`: any type.
    pub exception: Option<String>,
    /// Text the message contains. `None`: any message.
    pub message: Option<String>,
}

impl ErrorMatch {
    pub fn matches(&self, kind: ErrorKind, exception: Option<&str>, message: &str) -> bool {
        self.kind == kind
            && (self.exception.is_none() || self.exception.as_deref() == exception)
            && (self.message.as_deref()).is_none_or(|m| message.contains(m))
    }
}

/// An expectation known to fail. Empty filters mean "all"; every subject field that is
/// set must match a finding for the issue to cover it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnownIssue {
    pub id: String,
    pub summary: String,
    pub styles: Vec<Style>,
    pub features: Vec<Feature>,
    pub drivers: Vec<DriverKind>,
    /// How the app wired tracing (empty = every setup).
    pub setups: Vec<Setup>,
    /// Only python cells of these version sets (empty = any cell, with or without a set).
    pub version_sets: Vec<String>,
    /// Only cells whose environment ran these packages in these ranges (python and
    /// command cells alike; empty = any cell). Judged from the versions the cell reports.
    pub when: Vec<PackageRange>,
    /// Covers the app's own error of this kind (e.g. an instrumentor that fails to
    /// import), and then the assertion failures it causes. Reproduces only when that
    /// error happens.
    pub error: Option<ErrorMatch>,
    /// Covers findings of this check (label) only.
    pub check: Option<String>,
    /// Covers findings about this attribute key only.
    pub attribute: Option<String>,
    /// Covers findings about this event name only.
    pub event: Option<String>,
    pub subject: Option<SubjectKind>,
    pub reason: String,
    pub link: Option<String>,
}

impl KnownIssue {
    pub fn applies_to(&self, style: Style, feature: Feature, driver: DriverKind) -> bool {
        (self.styles.is_empty() || self.styles.contains(&style))
            && (self.features.is_empty() || self.features.contains(&feature))
            && (self.drivers.is_empty() || self.drivers.contains(&driver))
    }

    /// Whether the issue applies to a cell whose app wires tracing with `setup`.
    pub fn applies_to_setup(&self, setup: Setup) -> bool {
        self.setups.is_empty() || self.setups.contains(&setup)
    }

    /// Whether the issue applies to a cell run under `version_set` (None: no set, e.g.
    /// the rust driver). An issue limited to sets never applies to a cell without one.
    pub fn applies_to_version_set(&self, version_set: Option<&str>) -> bool {
        self.version_sets.is_empty()
            || version_set.is_some_and(|v| self.version_sets.iter().any(|s| s == v))
    }

    /// Whether the issue applies to a cell that ran `versions` (as the cell reports
    /// them: package → version, plus the python driver's `instrumentor` and
    /// `instrumentor_version`). A package the cell did not report is not there.
    pub fn applies_to_versions(&self, versions: &BTreeMap<String, String>) -> bool {
        ran(&self.when, versions)
    }

    /// Whether this issue expects the app's error of `kind`, type `exception` and
    /// `message`.
    pub fn covers_error(&self, kind: ErrorKind, exception: Option<&str>, message: &str) -> bool {
        self.error
            .as_ref()
            .is_some_and(|e| e.matches(kind, exception, message))
    }

    pub fn covers(&self, finding: &Finding) -> bool {
        if self.check.as_ref().is_some_and(|c| *c != finding.check) {
            return false;
        }
        if self
            .subject
            .is_some_and(|k| k != SubjectKind::of(&finding.subject))
        {
            return false;
        }
        if let Some(key) = &self.attribute {
            if finding.subject != Subject::Attribute(key.clone()) {
                return false;
            }
        }
        if let Some(name) = &self.event {
            if finding.subject != Subject::Event(name.clone()) {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Failed only where known issues said it would.
    XFail,
    /// A known issue did not reproduce: the issue may be fixed; update the matrix.
    XPass,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::XFail => "xfail",
            Verdict::XPass => "xpass",
        }
    }
}

/// A cell's findings sorted against its known issues; [`Judgement::verdict`] is the one
/// place the verdict is decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// Findings no known issue covers.
    pub failures: Vec<Finding>,
    pub expected_failures: Vec<(Finding, KnownIssue)>,
    /// Known issues (applying to the cell) that covered no finding.
    pub unreproduced: Vec<KnownIssue>,
    /// The app's own error (a failed call, an instrumentor that would not load), if any,
    /// and whether a known issue expected it.
    pub driver_error: DriverErrorJudged,
}

/// The app's own error, as judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverErrorJudged {
    /// The app ran without one.
    #[default]
    None,
    /// A known issue expects it (the finding names which).
    Known,
    /// Nothing expects it: evidence of an incompatibility.
    Unknown,
}

impl Judgement {
    /// Precedence: fail (an unexpected failure or driver error) > xpass (a known issue
    /// that no longer reproduces) > xfail (failed only as known issues say) > pass.
    pub fn verdict(&self) -> Verdict {
        let error_known = self.driver_error == DriverErrorJudged::Known;
        if !self.failures.is_empty() || self.driver_error == DriverErrorJudged::Unknown {
            Verdict::Fail
        } else if !self.unreproduced.is_empty() {
            Verdict::XPass
        } else if error_known || !self.expected_failures.is_empty() {
            Verdict::XFail
        } else {
            Verdict::Pass
        }
    }
}

/// Sorts findings into failures and expected failures. `known` must already be the
/// issues that apply to the cell (see [`KnownIssue::applies_to`]).
pub fn judge(findings: Vec<Finding>, known: &[KnownIssue]) -> Judgement {
    let mut used = vec![false; known.len()];
    let mut failures = Vec::new();
    let mut expected_failures = Vec::new();
    for f in findings {
        match known.iter().position(|k| k.covers(&f)) {
            Some(i) => {
                used[i] = true;
                expected_failures.push((f, known[i].clone()));
            }
            None => failures.push(f),
        }
    }
    // An issue that covers a finding already claimed by an earlier issue still reproduced.
    for (i, k) in known.iter().enumerate() {
        if !used[i] && expected_failures.iter().any(|(f, _)| k.covers(f)) {
            used[i] = true;
        }
    }
    let unreproduced: Vec<KnownIssue> = known
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(k, _)| k.clone())
        .collect();
    Judgement {
        failures,
        expected_failures,
        unreproduced,
        driver_error: DriverErrorJudged::None,
    }
}

/// Whether a cell that reported `versions` ran every package of `when` in its range
/// (true for an empty `when`). A package the cell did not report is not there.
pub(super) fn ran(when: &[PackageRange], versions: &BTreeMap<String, String>) -> bool {
    when.iter().all(|w| {
        installed(versions, &w.package)
            .and_then(Version::parse)
            .is_some_and(|v| w.range.contains(&v))
    })
}

/// The version of `package` (normalized) among a cell's reported versions.
pub fn installed<'a>(versions: &'a BTreeMap<String, String>, package: &str) -> Option<&'a str> {
    let named = |name: &str| normalize_name(name) == package;
    versions
        .iter()
        .find(|(name, _)| named(name))
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            versions
                .get("instrumentor")
                .filter(|dist| named(dist))
                .and_then(|_| versions.get("instrumentor_version"))
                .map(String::as_str)
        })
}
