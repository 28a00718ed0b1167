//! Judging: a driver's run, the requests it made and the matrix's checks and known
//! issues become one cell's status and findings.

use crate::drivers::DriverRun;
use crate::expect::{self, DriverErrorJudged, KnownIssue, SubjectKind, Verdict};
use crate::matrix::Cell;
use crate::report::{CellResult, CellStatus, Finding, FindingKind, ReportSpan, RequestRecord};
use std::time::{Duration, Instant};

/// Turns a driver's run into a cell result: assertions first, then what the driver said.
pub(super) fn judge(
    cell: &Cell,
    run: DriverRun,
    requests: Vec<RequestRecord>,
    elapsed: Duration,
) -> CellResult {
    // A call to a route Azure does not serve is the app's setup (an endpoint with a
    // trailing slash on an old SDK, a wrong base URL), not the instrumentor: whatever the
    // spans say, the cell is an error that names the request.
    if let Some(unserved) = requests.iter().find(|r| r.path.is_some()) {
        let path = unserved.path.as_deref().unwrap_or_default();
        let mut findings = vec![Finding::new(
            FindingKind::Error,
            format!(
                "setup: the app called `{} {path}`, which Azure does not serve ({}); check the \
                 endpoint the app was given (a trailing `/` becomes `//openai/…` in openai SDKs \
                 before 1.58) — this says nothing about the instrumentor",
                unserved.method, unserved.status
            ),
        )];
        if let Some(error) = &run.error {
            findings.push(Finding::new(FindingKind::Note, error.to_string()));
        }
        return result(cell, CellStatus::Error, findings, run, requests, elapsed);
    }
    // Without answers from the service the spans prove nothing either way: an
    // infrastructure error is reported alone, not with the assertions it broke.
    if let Some(error) = run.error.as_ref().filter(|e| e.is_infrastructure()) {
        let mut findings = vec![Finding::new(FindingKind::Error, error.to_string())];
        findings.extend(
            run.notes
                .iter()
                .map(|n| Finding::new(FindingKind::Note, n.clone())),
        );
        return result(cell, CellStatus::Error, findings, run, requests, elapsed);
    }
    // What the backend received comes first: "nothing reached it" explains every span
    // check that follows.
    let (checks, vars, uncompared) = with_answer(cell, &run);
    let mut evaluated = expect::evaluate_backend(&cell.backend, &run.backend);
    evaluated.extend(expect::evaluate(&checks, &run.spans, &vars));
    // Issues scoped by package versions concern only cells that ran those releases.
    let known: Vec<&KnownIssue> = (cell.known_issues.iter())
        .filter(|k| k.applies_to_versions(&run.versions))
        .collect();
    // An issue that names a driver error reproduces only when that error happens, and
    // then also covers the assertion failures it causes (e.g. no spans).
    let error_issue = run.error.as_ref().and_then(|e| {
        let kind = e.kind()?;
        let message = e.to_string();
        (known.iter().copied()).find(|k| k.covers_error(kind, e.exception(), &message))
    });
    let issues: Vec<KnownIssue> = (known.iter().copied())
        .filter(|k| error_issue.is_some() || k.error.is_none())
        .cloned()
        .collect();
    let mut judgement = expect::judge(evaluated, &issues);
    // A known issue about a span's attributes, events or status cannot be judged when the
    // span never existed (its check selects no span at all, whether or not a known issue
    // explains why): neither reproduced nor fixed.
    let selects_nothing = |label: &str| {
        checks.iter().filter(|c| c.label == label).all(|c| {
            !run.spans
                .iter()
                .any(|s| c.select.matches(s, &cell.vars).unwrap_or(false))
        })
    };
    let span_missing = (judgement.expected_failures.iter().map(|(f, _)| f))
        .chain(&judgement.failures)
        .any(|f| f.subject == expect::Subject::Count && selects_nothing(&f.check));
    if span_missing {
        judgement.unreproduced.retain(|k| {
            k.attribute.is_none()
                && k.event.is_none()
                && !matches!(
                    k.subject,
                    Some(SubjectKind::Attribute | SubjectKind::Event | SubjectKind::Status)
                )
        });
    }
    match error_issue {
        // The app failed before it could produce what the other issues are about.
        Some(_) => judgement.unreproduced.clear(),
        None => (judgement.unreproduced)
            .extend(known.iter().copied().filter(|k| k.error.is_some()).cloned()),
    }
    judgement.driver_error = match (&run.error, error_issue) {
        (None, _) => DriverErrorJudged::None,
        (Some(_), Some(_)) => DriverErrorJudged::Known,
        (Some(_), None) => DriverErrorJudged::Unknown,
    };
    let mut findings: Vec<Finding> = Vec::new();
    for f in &judgement.failures {
        findings.push(from_expect(FindingKind::Failure, f));
    }
    for (f, issue) in &judgement.expected_failures {
        findings.push(about(from_expect(FindingKind::KnownIssue, f), issue));
    }
    for issue in &judgement.unreproduced {
        let finding = Finding::new(
            FindingKind::Unreproduced,
            format!("known issue no longer reproduces: {}", issue.reason),
        );
        findings.push(about(finding, issue));
    }
    let status = match judgement.verdict() {
        Verdict::Pass => CellStatus::Pass,
        Verdict::Fail => CellStatus::Fail,
        Verdict::XFail => CellStatus::Xfail,
        Verdict::XPass => CellStatus::Xpass,
    };
    if let Some(error) = &run.error {
        let finding = match error_issue {
            Some(issue) => about(
                Finding::new(FindingKind::KnownIssue, error.to_string()),
                issue,
            ),
            None => Finding::new(FindingKind::Failure, error.to_string()),
        };
        findings.insert(0, finding);
    }
    findings.extend(
        run.notes
            .iter()
            .map(|n| Finding::new(FindingKind::Note, n.clone())),
    );
    if let Some(note) = calls_without_spans(&run, &requests) {
        findings.push(Finding::new(FindingKind::Note, note));
    }
    if uncompared > 0 {
        findings.push(Finding::new(
            FindingKind::Note,
            format!(
                "{uncompared} content assertion(s) about what the service said not \
                 evaluated: the driver did not report it (a command's program cannot; an app \
                 that failed before the call had nothing to report)"
            ),
        ));
    }
    result(cell, status, findings, run, requests, elapsed)
}

/// The cell's checks and variables with what the service said (`{answer}`,
/// `{tool_call_id}`, …) filled in from the driver's report. What the driver cannot know
/// (a command's program) is left out of the checks and counted, never compared with a
/// placeholder.
fn with_answer<'c>(
    cell: &'c Cell,
    run: &DriverRun,
) -> (
    std::borrow::Cow<'c, [expect::SpanCheck]>,
    std::borrow::Cow<'c, expect::TemplateVars>,
    usize,
) {
    use std::borrow::Cow;
    let mut checks = Cow::Borrowed(cell.checks_for(&run.versions));
    let mut vars = Cow::Borrowed(&cell.vars);
    let mut left_out = 0;
    for name in expect::SERVICE_PLACEHOLDERS {
        if cell.vars.get(name).is_none() {
            continue;
        }
        if let Some(value) = run.answered.get(*name) {
            vars.to_mut().set(*name, value.as_str());
            continue;
        }
        for check in checks.to_mut() {
            let before = check.attributes.len();
            check.attributes.retain(|(_, a)| !a.uses(name));
            left_out += before - check.attributes.len();
        }
    }
    (checks, vars, left_out)
}

/// "No spans" alone does not say whether the app got that far: when it did call the
/// service, say so, so the finding points at the instrumentation rather than the app.
fn calls_without_spans(run: &DriverRun, requests: &[RequestRecord]) -> Option<String> {
    if !run.spans.is_empty() || requests.is_empty() {
        return None;
    }
    Some(format!(
        "the app made {} call(s) to the service (answered {}) and no span arrived: the calls \
         happened, the instrumentation did not record or export them",
        requests.len(),
        crate::report::tally(requests.iter().map(|r| r.status))
    ))
}

/// A finding that a known issue explains, with the issue's id, summary, reason and link.
fn about(mut finding: Finding, issue: &KnownIssue) -> Finding {
    finding.reason = Some(issue.reason.clone());
    finding.link = issue.link.clone();
    finding.issue = Some(issue.id.clone());
    finding.summary = Some(issue.summary.clone()).filter(|s| !s.is_empty());
    finding
}

fn from_expect(kind: FindingKind, f: &expect::Finding) -> Finding {
    let mut finding = Finding::new(kind, f.to_string());
    finding.check = Some(f.check.clone());
    finding.subject = Some(f.subject.to_string());
    finding.expected = Some(f.expected.clone());
    finding.actual = Some(f.actual.clone());
    finding
}

pub(super) fn skipped(cell: &Cell, reason: String, started: Instant) -> CellResult {
    result(
        cell,
        CellStatus::Skip,
        vec![Finding::new(FindingKind::Skipped, reason)],
        DriverRun::default(),
        Vec::new(),
        started.elapsed(),
    )
}

/// A cell whose task died (a harness bug): an `error`, never a silent gap in the report.
pub(super) fn harness_failure(cell: &Cell) -> CellResult {
    result(
        cell,
        CellStatus::Error,
        vec![Finding::new(
            FindingKind::Error,
            "the harness failed while running this cell (a bug in hh-compat; please report it)",
        )],
        DriverRun::default(),
        Vec::new(),
        Duration::ZERO,
    )
}

/// The one place a cell's result is assembled.
fn result(
    cell: &Cell,
    status: CellStatus,
    findings: Vec<Finding>,
    run: DriverRun,
    requests: Vec<RequestRecord>,
    elapsed: Duration,
) -> CellResult {
    CellResult {
        id: cell.id.clone(),
        provider: cell.provider,
        style: cell.style,
        feature: cell.feature,
        driver: cell.driver,
        version_set: cell.version_set_name().map(str::to_string),
        setup: cell.setup,
        status,
        findings,
        versions: run.versions,
        requests,
        backend: run.backend,
        spans: ReportSpan::from_captured(&run.spans),
        duration_ms: elapsed.as_millis() as u64,
        ordinal: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::DriverError;

    /// The one cell of a traceloop chat matrix whose `expect` and `known_issues` are
    /// `rest`.
    fn cell_with(rest: &str) -> Cell {
        let text = format!(
            r#"
provider: azure-openai
target: {{resource: contoso, api_version: "2024-10-21"}}
deployments: {{gpt-4o: {{model: gpt-4o-2024-08-06}}}}
styles: [traceloop]
features: {{chat: {{deployment: gpt-4o}}}}
{rest}"#
        );
        let m = crate::matrix::parse_str(&text, "m.yaml").expect("valid");
        m.cells().remove(0)
    }

    fn cell() -> Cell {
        cell_with("expect: {all: {llm: {name: openai.chat}}}\n")
    }

    fn judged(run: DriverRun) -> CellResult {
        judge(&cell(), run, Vec::new(), Duration::ZERO)
    }

    #[test]
    fn no_spans_where_spans_were_expected_is_a_failure() {
        let r = judged(DriverRun::default());
        assert_eq!(r.status, CellStatus::Fail);
        assert!(
            r.findings.iter().all(|f| f.kind == FindingKind::Failure),
            "{r:?}"
        );
    }

    #[test]
    fn an_infrastructure_error_is_reported_alone() {
        let run = DriverRun {
            notes: vec!["retried after 20 ms: HTTP 503".into()],
            ..DriverRun::failed(Vec::new(), DriverError::Unavailable("HTTP 503".into()))
        };
        let r = judged(run);
        assert_eq!(r.status, CellStatus::Error);
        let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::Error, FindingKind::Note]);
    }

    #[test]
    fn a_failed_call_is_evidence_against_the_app() {
        let r = judged(DriverRun::failed(
            Vec::new(),
            DriverError::Call(crate::drivers::AppError::new(None, "HTTP 400")),
        ));
        assert_eq!(r.status, CellStatus::Fail);
        assert_eq!(r.findings[0].message, "the app's call failed: HTTP 400");
    }

    #[test]
    fn a_cell_whose_task_died_is_an_error_not_a_gap() {
        let r = harness_failure(&cell());
        assert_eq!(r.status, CellStatus::Error);
        assert_eq!(r.findings[0].kind, FindingKind::Error);
        assert_eq!(r.id, cell().id);
    }

    #[test]
    fn a_skip_carries_its_reason() {
        let r = skipped(&cell(), "no python3".into(), Instant::now());
        assert_eq!(r.status, CellStatus::Skip);
        assert_eq!(r.findings[0].message, "no python3");
    }

    /// Two known issues: one that the span is missing, one about its attributes. With
    /// no span the second cannot be judged: xfail, not xpass. With the span present and
    /// the attribute fine, the second no longer reproduces: xpass.
    #[test]
    fn issues_about_a_missing_spans_attributes_are_not_judged() {
        let cell = cell_with(
            r#"expect: {all: {llm: {name: openai.chat, attributes: {server.address: "{host}"}}}}
known_issues:
  - {id: no-span, reason: the span is never made, check: llm, subject: count}
  - {id: no-host, reason: no server.address, attribute: server.address}
"#,
        );
        let r = judge(&cell, DriverRun::default(), Vec::new(), Duration::ZERO);
        assert_eq!(r.status, CellStatus::Xfail, "{:?}", r.findings);
        assert!(r
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::Unreproduced));

        use crate::capture::{AttrValue, CapturedSpan};
        let span = CapturedSpan::for_test(
            "openai.chat",
            &[(
                "server.address",
                AttrValue::String("contoso.openai.azure.com".into()),
            )],
        );
        let r = judge(
            &cell,
            DriverRun::new(vec![span]),
            Vec::new(),
            Duration::ZERO,
        );
        assert_eq!(r.status, CellStatus::Xpass, "{:?}", r.findings);
    }

    /// An issue about the app's error is matched on the error's kind and type first: the
    /// same words from a call that failed, or from another exception, are not what the
    /// issue is about, and fail the cell.
    #[test]
    fn error_issues_match_the_kind_and_type_not_just_the_words() {
        use crate::drivers::AppError;
        let cell = cell_with(
            r#"expect: {all: {llm: {name: openai.chat}}}
known_issues:
  - id: no-httpx
    reason: the tracer imports httpx without declaring it
    error: {kind: instrument, exception: ModuleNotFoundError, message: "No module named 'httpx'"}
"#,
        );
        let text = "the traceloop instrumentor could not be set up: No module named 'httpx'";
        let with = |error: DriverError| {
            let run = DriverRun {
                error: Some(error),
                ..DriverRun::default()
            };
            judge(&cell, run, Vec::new(), Duration::ZERO)
        };
        let expected = with(DriverError::Instrument(AppError::new(
            Some("ModuleNotFoundError"),
            text,
        )));
        assert_eq!(
            expected.status,
            CellStatus::Xfail,
            "{:?}",
            expected.findings
        );
        assert_eq!(expected.findings[0].kind, FindingKind::KnownIssue);

        let other_type = with(DriverError::Instrument(AppError::new(
            Some("ImportError"),
            text,
        )));
        assert_eq!(
            other_type.status,
            CellStatus::Fail,
            "{:?}",
            other_type.findings
        );
        let a_call = with(DriverError::Call(AppError::new(
            Some("ModuleNotFoundError"),
            text,
        )));
        assert_eq!(a_call.status, CellStatus::Fail, "{:?}", a_call.findings);
        // The harness's own errors are never the app's, whatever they say.
        let harness = with(DriverError::Setup(text.into()));
        assert_eq!(harness.status, CellStatus::Error, "{:?}", harness.findings);

        // Without the error, the issue no longer reproduces (the spans are judged).
        let gone = judge(&cell, DriverRun::default(), Vec::new(), Duration::ZERO);
        assert!(
            gone.findings
                .iter()
                .any(|f| f.kind == FindingKind::Unreproduced),
            "{:?}",
            gone.findings
        );
    }

    #[test]
    fn no_spans_after_answered_calls_says_the_calls_happened() {
        let call = |status| RequestRecord {
            method: "POST".into(),
            route: "azure_chat".into(),
            deployment: Some("gpt-4o".into()),
            status,
            path: None,
        };
        let r = judge(
            &cell(),
            DriverRun::default(),
            vec![call(200), call(200), call(404)],
            Duration::ZERO,
        );
        assert_eq!(r.status, CellStatus::Fail);
        let note = r.findings.iter().find(|f| f.kind == FindingKind::Note);
        assert!(
            note.is_some_and(|n| n.message.starts_with(
                "the app made 3 call(s) to the service (answered 200 ×2, 404) and no span arrived"
            )),
            "{:?}",
            r.findings
        );
        // Without calls there is nothing to add.
        let r = judge(&cell(), DriverRun::default(), Vec::new(), Duration::ZERO);
        assert!(r.findings.iter().all(|f| f.kind != FindingKind::Note));
    }

    #[test]
    fn recorded_content_is_compared_with_what_the_service_answered() {
        use crate::capture::{AttrValue, CapturedSpan};
        let cell = cell_with(
            "expect: {all: {llm: {name: openai.chat, attributes: \
             {gen_ai.input.messages: {contains: \"{prompt}\"}, \
             gen_ai.output.messages: {contains: \"{answer}\"}}}}}\n",
        );
        let prompt = cell
            .vars
            .value("prompt")
            .expect("chat has a prompt")
            .to_string();
        let span = |answer: &str| {
            CapturedSpan::for_test(
                "openai.chat",
                &[
                    (
                        "gen_ai.input.messages",
                        AttrValue::String(format!("[{{\"content\": \"{prompt}\"}}]")),
                    ),
                    (
                        "gen_ai.output.messages",
                        AttrValue::String(format!("[{{\"content\": \"{answer}\"}}]")),
                    ),
                ],
            )
        };
        let answered = |recorded: &str, answer: Option<&str>| {
            let mut run = DriverRun::new(vec![span(recorded)]);
            if let Some(answer) = answer {
                run.answered.insert("answer".into(), answer.into());
            }
            judge(&cell, run, Vec::new(), Duration::ZERO)
        };
        assert_eq!(
            answered("Hello there", Some("Hello there")).status,
            CellStatus::Pass
        );
        // An instrumentor that records something else than the answer fails.
        let r = answered("FILTERED", Some("Hello there"));
        assert_eq!(r.status, CellStatus::Fail);
        assert!(
            r.findings[0].message.contains("gen_ai.output.messages"),
            "{:?}",
            r.findings
        );
        // Without the answer (a command's program) the comparison is left out, and said so.
        let r = answered("FILTERED", None);
        assert_eq!(r.status, CellStatus::Pass, "{:?}", r.findings);
        assert!(r.findings.iter().any(|f| f.kind == FindingKind::Note
            && f.message
                .starts_with("1 content assertion(s) about what the service said not evaluated")));
    }
}
