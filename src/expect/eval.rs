//! Evaluating checks against captured spans: every failed assertion becomes a `Finding`.

use super::check::{
    kind_name, show_value, status_name, values_equal, AttrAssertion, Relation, SpanCheck,
};
use super::template::TemplateVars;
use crate::capture::{AttrValue, CapturedSpan, SpanKind, StatusCode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Subject {
    Count,
    Status,
    Attribute(String),
    Event(String),
    Relation(String),
    /// Requests a backend received on one route (`METHOD /path`).
    Route(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Count => f.write_str("span count"),
            Subject::Status => f.write_str("status"),
            Subject::Attribute(k) => write!(f, "attribute `{k}`"),
            Subject::Event(n) => write!(f, "event `{n}`"),
            Subject::Relation(r) => write!(f, "relation {r}"),
            Subject::Route(r) => write!(f, "requests to `{r}`"),
        }
    }
}

/// The span a finding is about, as failure messages and reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanSummary {
    pub name: String,
    pub kind: SpanKind,
    pub status: StatusCode,
    pub span_id: String,
    pub attributes: BTreeMap<String, AttrValue>,
    pub events: Vec<String>,
}

impl SpanSummary {
    pub fn of(span: &CapturedSpan) -> Self {
        Self {
            name: span.name.clone(),
            kind: span.kind,
            status: span.status.code,
            span_id: span.span_id.clone(),
            attributes: span.attributes.clone(),
            events: span.events.iter().map(|e| e.name.clone()).collect(),
        }
    }
}

/// One failed assertion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The check's label.
    pub check: String,
    pub subject: Subject,
    /// The assertion with this cell's values filled in, e.g. `equals "gpt-4o"`.
    pub expected: String,
    pub actual: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<SpanSummary>,
}

/// Long values (message bodies) are cut so a failure stays readable.
const SHOW_MAX: usize = 160;

fn clip(s: &str) -> String {
    if s.chars().count() <= SHOW_MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(SHOW_MAX).collect();
        format!("{cut}… ({} chars)", s.chars().count())
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: expected {}, actual {}",
            self.check, self.subject, self.expected, self.actual
        )?;
        if let Some(span) = &self.span {
            write!(
                f,
                "\n    in span `{}` (kind {}, status {}, id {})",
                span.name,
                kind_name(span.kind),
                status_name(span.status),
                span.span_id
            )?;
            if span.attributes.is_empty() {
                write!(f, "\n      (no attributes)")?;
            }
            for (k, v) in &span.attributes {
                write!(f, "\n      {k} = {}", clip(&show_value(v)))?;
            }
            if !span.events.is_empty() {
                write!(f, "\n      events: {}", span.events.join(", "))?;
            }
        }
        Ok(())
    }
}

/// Evaluates every check and returns every failed assertion (empty = all passed).
/// A check whose count allows zero still fails when no span at all was captured:
/// a cell with expectations and no spans never passes.
pub fn evaluate(checks: &[SpanCheck], spans: &[CapturedSpan], vars: &TemplateVars) -> Vec<Finding> {
    let mut findings = Vec::new();
    for check in checks {
        evaluate_one(check, spans, vars, &mut findings);
    }
    findings
}

fn evaluate_one(
    check: &SpanCheck,
    spans: &[CapturedSpan],
    vars: &TemplateVars,
    out: &mut Vec<Finding>,
) {
    let finding =
        |subject: Subject, expected: String, actual: String, span: Option<&CapturedSpan>| Finding {
            check: check.label.clone(),
            subject,
            expected,
            actual,
            span: span.map(SpanSummary::of),
        };

    if spans.is_empty() {
        out.push(finding(
            Subject::Count,
            format!("{} span(s) with {}", check.count, check.select),
            "no spans were captured".into(),
            None,
        ));
        return;
    }

    let mut selected = Vec::new();
    for span in spans {
        match check.select.matches(span, vars) {
            Ok(true) => selected.push(span),
            Ok(false) => {}
            Err(e) => {
                out.push(finding(
                    Subject::Count,
                    format!("a usable selector ({})", check.select),
                    e,
                    None,
                ));
                return;
            }
        }
    }

    if !check.count.allows(selected.len()) {
        let names: Vec<String> = spans.iter().map(|s| format!("`{}`", s.name)).collect();
        out.push(finding(
            Subject::Count,
            format!("{} span(s) with {}", check.count, check.select),
            format!(
                "{} selected; captured spans: {}",
                selected.len(),
                names.join(", ")
            ),
            None,
        ));
    }

    for span in &selected {
        if let Some(status) = &check.status {
            if !status.allows(span.status.code) {
                let mut actual = status_name(span.status.code).to_string();
                if let Some(m) = &span.status.message {
                    actual.push_str(&format!(" ({})", clip(m)));
                }
                out.push(finding(
                    Subject::Status,
                    status.to_string(),
                    actual,
                    Some(span),
                ));
            }
        }
        for (key, assertion) in &check.attributes {
            if let Err(actual) = assertion.check(span.attr(key), vars) {
                out.push(finding(
                    Subject::Attribute(key.clone()),
                    assertion.describe(vars),
                    clip(&actual),
                    Some(span),
                ));
            }
        }
        for ev in &check.events {
            let n = span.events.iter().filter(|e| e.name == ev.name).count();
            if !ev.count.allows(n) {
                out.push(finding(
                    Subject::Event(ev.name.clone()),
                    format!("{} occurrence(s)", ev.count),
                    format!("{n}"),
                    Some(span),
                ));
            }
        }
    }

    for (key, assertion) in &check.attributes {
        if *assertion == AttrAssertion::Distinct && selected.len() > 1 {
            distinct(check, key, &selected, out);
        }
    }

    for rel in &check.relations {
        relation(check, rel, &selected, spans, vars, out);
    }
}

fn distinct(check: &SpanCheck, key: &str, selected: &[&CapturedSpan], out: &mut Vec<Finding>) {
    let values: Vec<Option<&AttrValue>> = selected.iter().map(|s| s.attr(key)).collect();
    let mut clash = None;
    for (i, a) in values.iter().enumerate() {
        for b in values.iter().skip(i + 1) {
            match (a, b) {
                (Some(a), Some(b)) if values_equal(a, b) => clash = Some(show_value(a)),
                (None, _) | (_, None) => clash = Some("absent".to_string()),
                _ => {}
            }
        }
    }
    if let Some(dup) = clash {
        let all: Vec<String> = values
            .iter()
            .map(|v| v.map(show_value).unwrap_or_else(|| "absent".into()))
            .collect();
        out.push(Finding {
            check: check.label.clone(),
            subject: Subject::Attribute(key.to_string()),
            expected: format!("distinct values across {} spans", selected.len()),
            actual: format!("{dup} repeats; values: [{}]", clip(&all.join(", "))),
            span: None,
        });
    }
}

fn relation(
    check: &SpanCheck,
    rel: &Relation,
    selected: &[&CapturedSpan],
    spans: &[CapturedSpan],
    vars: &TemplateVars,
    out: &mut Vec<Finding>,
) {
    let mut push = |expected: String, actual: String, span: Option<&CapturedSpan>| {
        out.push(Finding {
            check: check.label.clone(),
            subject: Subject::Relation(rel.to_string()),
            expected,
            actual,
            span: span.map(SpanSummary::of),
        })
    };
    let by_id = |id: &str| spans.iter().find(|s| s.span_id == id);
    match rel {
        Relation::SameTrace => {
            let mut traces: Vec<&str> = selected.iter().map(|s| s.trace_id.as_str()).collect();
            traces.sort_unstable();
            traces.dedup();
            if traces.len() > 1 {
                push(
                    "all selected spans in one trace".into(),
                    format!("{} traces: {}", traces.len(), traces.join(", ")),
                    None,
                );
            }
        }
        Relation::Root => {
            for s in selected {
                if let Some(p) = &s.parent_span_id {
                    push(
                        "a root span (no parent)".into(),
                        format!("parent {p}"),
                        Some(s),
                    );
                }
            }
        }
        Relation::CommonParent => {
            let parents: Vec<Option<&str>> = selected
                .iter()
                .map(|s| s.parent_span_id.as_deref())
                .collect();
            let first = parents.first().copied().flatten();
            let same = parents.iter().all(|p| *p == first);
            match first {
                Some(p) if same => {
                    if by_id(p).is_none() {
                        push(
                            "a common parent that was captured".into(),
                            format!("parent {p} is not among the captured spans"),
                            None,
                        );
                    }
                }
                _ => {
                    let shown: Vec<&str> = parents.iter().map(|p| p.unwrap_or("none")).collect();
                    push(
                        "one common parent span".into(),
                        format!("parents: {}", shown.join(", ")),
                        None,
                    );
                }
            }
        }
        Relation::Parent(selector) => {
            for s in selected {
                let parent = s.parent_span_id.as_deref().and_then(by_id);
                match parent {
                    None => push(
                        format!("a captured parent with {selector}"),
                        match &s.parent_span_id {
                            Some(p) => format!("parent {p} is not among the captured spans"),
                            None => "no parent (a root span)".into(),
                        },
                        Some(s),
                    ),
                    Some(p) => match selector.matches(p, vars) {
                        Ok(true) => {}
                        Ok(false) => push(
                            format!("a parent with {selector}"),
                            format!("parent `{}` (kind {})", p.name, kind_name(p.kind)),
                            Some(s),
                        ),
                        Err(e) => push(format!("a parent with {selector}"), e, Some(s)),
                    },
                }
            }
        }
    }
}
