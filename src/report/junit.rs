//! JUnit XML for CI systems: one suite per provider × driver × style, one case per feature.

use super::result::{CellResult, CellStatus, FindingKind, RunResults};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn render(results: &RunResults) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("hh-compat");
    let mut suites: BTreeMap<String, Vec<&CellResult>> = BTreeMap::new();
    for cell in &results.cells {
        let name = format!("{}/{}/{}", cell.provider, cell.driver, cell.style);
        suites.entry(name).or_default().push(cell);
    }
    for (name, cells) in suites {
        let mut suite = TestSuite::new(name.clone());
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
        CellStatus::Pass | CellStatus::Xfail => TestCaseStatus::success(),
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
    let mut case = TestCase::new(cell.feature.as_str(), status);
    case.set_classname(suite);
    case.set_time(Duration::from_millis(cell.duration_ms));
    if !details.is_empty() && matches!(cell.status, CellStatus::Pass | CellStatus::Xfail) {
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
