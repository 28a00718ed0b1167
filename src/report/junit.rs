//! JUnit XML for CI systems: one suite per provider × driver × style, one case per feature
//! (and version set and setup: `chat@latest/honeyhive`), so every test name in a report
//! is unique. An
//! `xfail` is written as pytest writes one: skipped, typed `xfail`, with the known issue.

use super::result::{CellResult, CellStatus, FindingKind, RunResults};
use crate::vocab::Setup;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) fn render(results: &RunResults) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("hh-compat");
    // When the run began (absent from `--stable` runs, which give identical bytes).
    let began =
        (results.started_at.as_deref()).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    if let Some(began) = began {
        report.set_timestamp(began);
    }
    let mut suites: BTreeMap<String, Vec<&CellResult>> = BTreeMap::new();
    for cell in &results.cells {
        let name = format!("{}/{}/{}", cell.provider, cell.driver, cell.style);
        suites.entry(name).or_default().push(cell);
    }
    for (name, cells) in suites {
        let mut suite = TestSuite::new(name.clone());
        if let Some(began) = began {
            suite.set_timestamp(began);
        }
        for cell in cells {
            suite.add_test_case(test_case(&name, cell));
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

fn test_case(suite: &str, cell: &CellResult) -> TestCase {
    let details = cell
        .findings
        .iter()
        .map(|f| format!("[{}] {}", kind_label(f.kind), f.message))
        .collect::<Vec<_>>()
        .join("\n");
    let first = cell
        .findings
        .iter()
        .find(|f| !matches!(f.kind, FindingKind::Note))
        .map(|f| f.message.clone())
        .unwrap_or_default();
    let status = match cell.status {
        CellStatus::Pass => TestCaseStatus::success(),
        CellStatus::Xfail => {
            let mut s = TestCaseStatus::skipped();
            let issue = cell
                .findings
                .iter()
                .find(|f| f.kind == FindingKind::KnownIssue)
                .map(|f| f.reason.clone().unwrap_or_else(|| f.message.clone()))
                .unwrap_or(first);
            s.set_message(format!("known issue: {issue}"));
            s.set_type("xfail");
            s.set_description(details.clone());
            s
        }
        CellStatus::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(first);
            s
        }
        CellStatus::Fail | CellStatus::Xpass | CellStatus::Error => {
            let kind = if cell.status == CellStatus::Error {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(first);
            s.set_type(cell.status.as_str());
            s.set_description(details.clone());
            s
        }
    };
    let mut name = match &cell.version_set {
        Some(set) => format!("{}@{set}", cell.feature),
        None => cell.feature.to_string(),
    };
    if cell.setup != Setup::Instrumentor {
        name = format!("{name}/{}", cell.setup);
    }
    let mut case = TestCase::new(name, status);
    case.set_classname(suite);
    case.set_time(Duration::from_millis(cell.duration_ms));
    if !details.is_empty() && cell.status == CellStatus::Pass {
        case.set_system_out(details);
    }
    case
}

fn kind_label(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Failure => "failure",
        FindingKind::KnownIssue => "known issue",
        FindingKind::Unreproduced => "known issue not reproduced",
        FindingKind::Error => "error",
        FindingKind::Skipped => "skipped",
        FindingKind::Note => "note",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::sample_cell;
    use crate::report::Finding;
    use crate::vocab::{DriverKind, TargetKind};

    #[test]
    fn names_are_unique_per_version_set_and_xfail_is_a_typed_skip() {
        let python = |set: &str, status| CellResult {
            driver: DriverKind::Python,
            version_set: Some(set.into()),
            ..sample_cell(&format!("azure-openai/traceloop/chat/python@{set}"), status)
        };
        let mut xfail = python("openai-v1", CellStatus::Xfail);
        let mut issue = Finding::new(FindingKind::KnownIssue, "attribute `server.address` absent");
        issue.reason = Some("the instrumentor never sets server.address".into());
        xfail.findings.push(issue);
        let mut setup = python("latest", CellStatus::Pass);
        setup.setup = Setup::Honeyhive;
        let results = RunResults::new(
            "m.yaml",
            TargetKind::Replica,
            vec![python("latest", CellStatus::Pass), setup, xfail],
        );
        let xml = render(&results).expect("xml");
        assert!(xml.contains(r#"name="chat@latest/honeyhive""#), "{xml}");
        assert!(xml.contains(r#"name="chat@latest""#), "{xml}");
        assert!(xml.contains(r#"name="chat@openai-v1""#), "{xml}");
        assert!(
            xml.contains(r#"<skipped message="known issue: the instrumentor never sets server.address" type="xfail">"#),
            "{xml}"
        );
    }
}
