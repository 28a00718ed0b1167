//! Unit tests for every assertion kind, the failure text, and `judge`.

use super::*;
use crate::capture::{AttrType, AttrValue, CapturedEvent, CapturedSpan, SpanKind, StatusCode};
use crate::vocab::{DriverKind, Feature, Style};

fn span(name: &str, attrs: &[(&str, AttrValue)]) -> CapturedSpan {
    CapturedSpan::for_test(name, attrs)
}

fn vars() -> TemplateVars {
    let mut v = TemplateVars::new();
    v.set("deployment", "gpt-4o")
        .set("model", "gpt-4o-2024-08-06")
        .set("host", "contoso.openai.azure.com");
    v.set_list("deployments", vec!["dep-a".into(), "dep-b".into()]);
    v
}

fn text(s: &str) -> Expected {
    Expected::Text(Template::parse(s).unwrap())
}

fn check_with(attr: &str, a: AttrAssertion) -> SpanCheck {
    let mut c = SpanCheck::named("llm", "chat gpt-4o");
    c.attributes.push((attr.into(), a));
    c
}

fn chat() -> CapturedSpan {
    span(
        "chat gpt-4o",
        &[
            ("gen_ai.request.model", "gpt-4o".into()),
            ("gen_ai.response.model", "gpt-4o-2024-08-06".into()),
            ("gen_ai.usage.input_tokens", AttrValue::Int(11)),
            (
                "gen_ai.response.finish_reasons",
                AttrValue::StringArray(vec!["stop".into()]),
            ),
            (
                "gen_ai.openai.api_base",
                "http://contoso.openai.azure.com/openai/".into(),
            ),
            (
                "llm.invocation_parameters",
                r#"{"model": "gpt-4o", "max_tokens": 50}"#.into(),
            ),
        ],
    )
}

/// Runs one attribute assertion on `chat()`; returns the findings.
fn run(attr: &str, a: AttrAssertion) -> Vec<Finding> {
    evaluate(&[check_with(attr, a)], &[chat()], &vars())
}

#[test]
fn not_equals_holds_for_other_values_and_absence_and_fails_on_the_value() {
    // The response carries the snapshot, not the deployment: `not_equals: {deployment}`.
    assert!(run(
        "gen_ai.response.model",
        AttrAssertion::NotEquals(text("{deployment}"))
    )
    .is_empty());
    assert!(run("no.such.attribute", AttrAssertion::NotEquals(text("x"))).is_empty());
    let f = run(
        "gen_ai.request.model",
        AttrAssertion::NotEquals(text("{deployment}")),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].expected, r#"not equal to "gpt-4o""#);
    assert_eq!(f[0].actual, r#""gpt-4o""#);
}

#[test]
fn equals_with_template_passes_and_fails() {
    assert!(run(
        "gen_ai.request.model",
        AttrAssertion::Equals(text("{deployment}"))
    )
    .is_empty());
    let f = run(
        "gen_ai.response.model",
        AttrAssertion::Equals(text("{deployment}")),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].subject,
        Subject::Attribute("gen_ai.response.model".into())
    );
    assert_eq!(f[0].expected, r#"equals "gpt-4o""#);
    assert_eq!(f[0].actual, r#""gpt-4o-2024-08-06""#);
}

#[test]
fn equals_literal_values_and_int_double_equivalence() {
    assert!(run(
        "gen_ai.usage.input_tokens",
        AttrAssertion::Equals(Expected::Value(AttrValue::Int(11)))
    )
    .is_empty());
    assert!(run(
        "gen_ai.usage.input_tokens",
        AttrAssertion::Equals(Expected::Value(AttrValue::Double(11.0)))
    )
    .is_empty());
    let f = run(
        "gen_ai.usage.input_tokens",
        AttrAssertion::Equals(Expected::Value(AttrValue::String("11".into()))),
    );
    assert_eq!(f.len(), 1, "a string never equals an int");
    assert_eq!(f[0].actual, "11 (int)");
}

#[test]
fn exists_and_absent() {
    assert!(run("gen_ai.request.model", AttrAssertion::Exists).is_empty());
    let f = run("server.address", AttrAssertion::Exists);
    assert_eq!(f[0].actual, "absent");
    assert!(run("server.address", AttrAssertion::Absent).is_empty());
    let f = run("gen_ai.request.model", AttrAssertion::Absent);
    assert_eq!(
        (f[0].expected.as_str(), f[0].actual.as_str()),
        ("absent", r#""gpt-4o""#)
    );
}

#[test]
fn regex_is_templated_with_escaped_values() {
    let r = TemplateRegex::new(r#""model":\s*"{deployment}""#).unwrap();
    assert!(run("llm.invocation_parameters", AttrAssertion::Regex(r)).is_empty());
    // `.` in a value must not act as a wildcard: the value is escaped.
    let mut v = vars();
    v.set("deployment", "gpt.4o");
    let r = TemplateRegex::new(r#""model":\s*"{deployment}""#).unwrap();
    let f = evaluate(
        &[check_with(
            "llm.invocation_parameters",
            AttrAssertion::Regex(r),
        )],
        &[chat()],
        &v,
    );
    assert_eq!(f.len(), 1);
    assert!(f[0].expected.contains(r"gpt\.4o"), "{}", f[0].expected);
}

#[test]
fn invalid_regex_is_rejected_when_built() {
    let err = TemplateRegex::new("model(").unwrap_err();
    assert!(err.contains("invalid regex"), "{err}");
    assert!(TemplateRegex::new("{nope}")
        .unwrap_err()
        .contains("unknown placeholder"));
}

#[test]
fn one_of_expands_list_placeholders() {
    let a = AttrAssertion::OneOf(vec![text("{deployments}"), text("gpt-4o")]);
    assert!(run("gen_ai.request.model", a).is_empty());
    let a = AttrAssertion::OneOf(vec![text("{deployments}")]);
    let f = run("gen_ai.request.model", a);
    assert_eq!(f[0].expected, r#"one of ["dep-a", "dep-b"]"#);
}

#[test]
fn integer_comparisons() {
    let k = "gen_ai.usage.input_tokens";
    assert!(run(k, AttrAssertion::Gt(0.0)).is_empty());
    assert!(run(k, AttrAssertion::Ge(11.0)).is_empty());
    assert!(run(k, AttrAssertion::Lt(12.0)).is_empty());
    assert!(run(k, AttrAssertion::Le(11.0)).is_empty());
    assert_eq!(run(k, AttrAssertion::Gt(11.0))[0].expected, "> 11");
    assert_eq!(run(k, AttrAssertion::Lt(11.0)).len(), 1);
    // A string is not a number.
    assert_eq!(run("gen_ai.request.model", AttrAssertion::Ge(0.0)).len(), 1);
    assert_eq!(run("missing", AttrAssertion::Gt(0.0))[0].actual, "absent");
}

#[test]
fn type_assertion() {
    assert!(run(
        "gen_ai.usage.input_tokens",
        AttrAssertion::Type(AttrType::Int)
    )
    .is_empty());
    let f = run(
        "gen_ai.usage.input_tokens",
        AttrAssertion::Type(AttrType::String),
    );
    assert_eq!(f[0].expected, "of type string");
    assert!(run(
        "gen_ai.response.finish_reasons",
        AttrAssertion::Type(AttrType::StringArray)
    )
    .is_empty());
}

#[test]
fn contains_substring_and_array_element() {
    let host = || AttrAssertion::Contains(Template::parse("{host}").unwrap());
    assert!(run("gen_ai.openai.api_base", host()).is_empty());
    assert_eq!(run("gen_ai.request.model", host()).len(), 1);
    let stop = AttrAssertion::Contains(Template::parse("stop").unwrap());
    assert!(run("gen_ai.response.finish_reasons", stop).is_empty());
    let length = AttrAssertion::Contains(Template::parse("length").unwrap());
    assert_eq!(run("gen_ai.response.finish_reasons", length).len(), 1);
}

#[test]
fn distinct_across_selected_spans() {
    let mut a = chat();
    a.span_id = "a".into();
    let mut b = chat();
    b.span_id = "b".into();
    let mut check = check_with("gen_ai.request.model", AttrAssertion::Distinct);
    check.count = Count::Exactly(2);
    let f = evaluate(&[check.clone()], &[a.clone(), b.clone()], &vars());
    assert_eq!(f.len(), 1);
    assert!(f[0].actual.contains("repeats"), "{}", f[0].actual);
    b.attributes
        .insert("gen_ai.request.model".into(), "gpt-4o-mini".into());
    assert!(evaluate(&[check], &[a, b], &vars()).is_empty());
}

#[test]
fn count_selection_by_name_regex_kind_and_attribute() {
    let mut internal = span(
        "ChatCompletion",
        &[("openinference.span.kind", "LLM".into())],
    );
    internal.kind = SpanKind::Internal;
    let spans = vec![chat(), internal.clone(), span("other", &[])];
    let mut c = SpanCheck::named("any chat", "x");
    c.select.name = Some(NameMatch::Regex(
        TemplateRegex::new("^(chat|Chat)").unwrap(),
    ));
    c.count = Count::Exactly(2);
    assert!(evaluate(&[c.clone()], &spans, &vars()).is_empty());
    c.select.kind = Some(SpanKind::Internal);
    c.count = Count::AtLeast(1);
    assert!(evaluate(&[c.clone()], &spans, &vars()).is_empty());
    c.select.attributes.push((
        "openinference.span.kind".into(),
        AttrAssertion::Equals(text("EMBEDDING")),
    ));
    let f = evaluate(&[c], &spans, &vars());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject, Subject::Count);
    assert!(
        f[0].actual
            .starts_with("0 selected; captured spans: `chat gpt-4o`"),
        "{}",
        f[0].actual
    );
    assert!(Count::Between(1, 2).allows(2) && !Count::Between(1, 2).allows(3));
    assert!(Count::AtMost(0).allows(0) && !Count::AtMost(0).allows(1));
}

#[test]
fn no_spans_always_fails_even_when_zero_is_allowed() {
    let mut c = SpanCheck::named("llm", "chat gpt-4o");
    c.count = Count::AtMost(0);
    let f = evaluate(&[c], &[], &vars());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject, Subject::Count);
    assert_eq!(f[0].actual, "no spans were captured");
    assert!(evaluate(&[], &[], &vars()).is_empty());
}

#[test]
fn status_and_events() {
    let mut s = chat();
    s.status.code = StatusCode::Error;
    s.status.message = Some("404".into());
    s.events.push(CapturedEvent {
        name: "exception".into(),
        attributes: Default::default(),
    });
    let mut c = SpanCheck::named("llm", "chat gpt-4o");
    c.status = Some(StatusExpect(vec![StatusCode::Ok, StatusCode::Unset]));
    c.events.push(EventAssertion {
        name: "exception".into(),
        count: Count::Exactly(0),
    });
    c.events.push(EventAssertion {
        name: "First Token Stream Event".into(),
        count: Count::AtLeast(1),
    });
    let f = evaluate(&[c], &[s], &vars());
    assert_eq!(f.len(), 3, "{f:#?}");
    assert_eq!(
        (f[0].expected.as_str(), f[0].actual.as_str()),
        ("OK or UNSET", "ERROR (404)")
    );
    assert_eq!(f[1].subject, Subject::Event("exception".into()));
    assert_eq!(
        (f[1].expected.as_str(), f[1].actual.as_str()),
        ("exactly 0 occurrence(s)", "1")
    );
    assert_eq!(f[2].expected, "at least 1 occurrence(s)");
}

#[test]
fn every_failed_assertion_is_reported() {
    let mut c = SpanCheck::named("llm", "chat gpt-4o");
    c.attributes.push((
        "server.address".into(),
        AttrAssertion::Equals(text("{host}")),
    ));
    c.attributes
        .push(("gen_ai.usage.output_tokens".into(), AttrAssertion::Gt(0.0)));
    c.attributes.push((
        "gen_ai.request.model".into(),
        AttrAssertion::Equals(text("{deployment}")),
    ));
    let f = evaluate(&[c], &[chat()], &vars());
    let keys: Vec<String> = f.iter().map(|f| f.subject.to_string()).collect();
    assert_eq!(
        keys,
        vec![
            "attribute `server.address`",
            "attribute `gen_ai.usage.output_tokens`"
        ]
    );
}

#[test]
fn relations_same_trace_root_common_parent_and_parent() {
    let mut parent = span("workflow", &[]);
    parent.span_id = "p".into();
    let mut a = chat();
    a.span_id = "a".into();
    a.parent_span_id = Some("p".into());
    let mut b = chat();
    b.span_id = "b".into();
    b.parent_span_id = Some("p".into());
    let mut c = SpanCheck::named("llm", "chat gpt-4o");
    c.count = Count::Exactly(2);
    c.relations = vec![
        Relation::SameTrace,
        Relation::CommonParent,
        Relation::Parent(Selector {
            name: Some(NameMatch::Exact(Template::literal("workflow"))),
            ..Selector::default()
        }),
    ];
    let spans = vec![parent.clone(), a.clone(), b.clone()];
    assert!(evaluate(&[c.clone()], &spans, &vars()).is_empty());

    b.trace_id = "t2".into();
    b.parent_span_id = Some("elsewhere".into());
    let f = evaluate(&[c.clone()], &[parent, a.clone(), b], &vars());
    let subjects: Vec<String> = f.iter().map(|f| f.subject.to_string()).collect();
    assert_eq!(
        subjects,
        vec![
            "relation same_trace",
            "relation common_parent",
            "relation parent (name `workflow`)"
        ],
        "{f:#?}"
    );

    c.relations = vec![Relation::Root];
    let f = evaluate(&[c], &spans, &vars());
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].actual, "parent p");
}

#[test]
fn finding_display_shows_assertion_expected_actual_and_attributes() {
    let f = run(
        "gen_ai.response.model",
        AttrAssertion::Equals(text("{deployment}")),
    );
    let text = f[0].to_string();
    assert!(text.starts_with(r#"[llm] attribute `gen_ai.response.model`: expected equals "gpt-4o", actual "gpt-4o-2024-08-06""#), "{text}");
    assert!(
        text.contains("in span `chat gpt-4o` (kind client, status UNSET"),
        "{text}"
    );
    assert!(
        text.contains("gen_ai.usage.input_tokens = 11 (int)"),
        "{text}"
    );
}

#[test]
fn long_values_are_clipped_in_display() {
    let long = "x".repeat(500);
    let s = span("chat gpt-4o", &[("input.value", long.into())]);
    let f = evaluate(
        &[check_with("input.value", AttrAssertion::Absent)],
        &[s],
        &vars(),
    );
    assert!(f[0].to_string().contains("(502 chars)"), "{}", f[0]);
}

fn issue(id: &str) -> KnownIssue {
    KnownIssue {
        setups: vec![],
        id: id.into(),
        summary: String::new(),
        styles: vec![],
        features: vec![],
        drivers: vec![],
        version_sets: vec![],
        when: vec![],
        error: None,
        check: None,
        attribute: None,
        event: None,
        subject: None,
        reason: "because".into(),
        link: None,
    }
}

fn finding(check: &str, subject: Subject) -> Finding {
    Finding {
        check: check.into(),
        subject,
        expected: "e".into(),
        actual: "a".into(),
        span: None,
    }
}

#[test]
fn judge_pass_fail_xfail_xpass() {
    assert_eq!(judge(vec![], &[]).verdict(), Verdict::Pass);
    let server = finding("llm", Subject::Attribute("server.address".into()));
    assert_eq!(judge(vec![server.clone()], &[]).verdict(), Verdict::Fail);

    let mut k = issue("no-server-address");
    k.attribute = Some("server.address".into());
    let j = judge(vec![server.clone()], std::slice::from_ref(&k));
    assert_eq!(j.verdict(), Verdict::XFail);
    assert_eq!(j.expected_failures.len(), 1);
    assert!(j.failures.is_empty() && j.unreproduced.is_empty());

    let j = judge(vec![], std::slice::from_ref(&k));
    assert_eq!(j.verdict(), Verdict::XPass);
    assert_eq!(j.unreproduced[0].id, "no-server-address");

    // fail beats xpass
    let other = finding("llm", Subject::Status);
    let j = judge(vec![other.clone()], std::slice::from_ref(&k));
    assert_eq!(j.verdict(), Verdict::Fail);
    assert_eq!(j.unreproduced.len(), 1);
    // xpass beats xfail
    let mut k2 = issue("no-exception-event");
    k2.event = Some("exception".into());
    let j = judge(vec![server], &[k, k2]);
    assert_eq!(j.verdict(), Verdict::XPass);
}

#[test]
fn known_issue_matching_rules() {
    let attr = finding("not found", Subject::Attribute("error.type".into()));
    let mut k = issue("x");
    assert!(k.covers(&attr), "no subject fields = the whole cell");
    k.check = Some("llm".into());
    assert!(!k.covers(&attr));
    k.check = Some("not found".into());
    k.subject = Some(SubjectKind::Event);
    assert!(!k.covers(&attr));
    k.subject = Some(SubjectKind::Attribute);
    assert!(k.covers(&attr));
    k.event = Some("exception".into());
    assert!(!k.covers(&attr));

    let mut k = issue("y");
    k.styles = vec![Style::OtelGenAi];
    k.drivers = vec![DriverKind::Python];
    assert!(k.applies_to(Style::OtelGenAi, Feature::Chat, DriverKind::Python));
    assert!(!k.applies_to(Style::OtelGenAi, Feature::Chat, DriverKind::Rust));
    assert!(!k.applies_to(Style::Traceloop, Feature::Chat, DriverKind::Python));
}

#[test]
fn two_issues_covering_the_same_finding_both_count_as_reproduced() {
    let f = finding("llm", Subject::Attribute("server.address".into()));
    let mut a = issue("a");
    a.attribute = Some("server.address".into());
    let b = issue("b");
    let j = judge(vec![f], &[a, b]);
    assert_eq!(j.verdict(), Verdict::XFail, "{j:#?}");
}

#[test]
fn an_issue_scoped_by_versions_applies_only_where_those_releases_ran() {
    use std::collections::BTreeMap;
    let mut k = issue("old-traceloop");
    k.when = vec![crate::expect::PackageRange {
        package: "opentelemetry-instrumentation-openai".into(),
        range: crate::pep440::Specifiers::parse("<0.40").unwrap(),
    }];
    let ran = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // A command cell reports each package under its own name (any spelling).
    assert!(k.applies_to_versions(&ran(&[("opentelemetry_instrumentation_openai", "0.39.1")])));
    assert!(!k.applies_to_versions(&ran(&[("opentelemetry-instrumentation-openai", "0.40.0")])));
    // The python driver names its instrumentor separately.
    assert!(k.applies_to_versions(&ran(&[
        ("instrumentor", "opentelemetry-instrumentation-openai"),
        ("instrumentor_version", "0.16.5"),
    ])));
    // A cell that did not run the package (the rust driver) is not concerned.
    assert!(!k.applies_to_versions(&ran(&[])));
    assert!(issue("any").applies_to_versions(&ran(&[])));
}
