//! The assertion language: what a check selects and what it asserts on each selected span.

use super::template::{Template, TemplateVars};
use crate::capture::{AttrType, AttrValue, CapturedSpan, SpanKind, StatusCode};
use regex::{Regex, RegexBuilder};
use std::fmt;

/// Compiled regexes are capped so a hand-written pattern cannot eat memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One "expect these spans, with these properties" block.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanCheck {
    /// Human name used in findings (the check's key in the matrix).
    pub label: String,
    pub select: Selector,
    pub count: Count,
    pub status: Option<StatusExpect>,
    /// Ordered; a key may appear more than once (each entry is one assertion).
    pub attributes: Vec<(String, AttrAssertion)>,
    pub events: Vec<EventAssertion>,
    pub relations: Vec<Relation>,
}

impl SpanCheck {
    /// A check selecting spans named exactly `name`, expecting one of them.
    pub fn named(label: &str, name: &str) -> Self {
        Self {
            label: label.to_string(),
            select: Selector {
                name: Some(NameMatch::Exact(Template::literal(name))),
                ..Selector::default()
            },
            count: Count::default(),
            status: None,
            attributes: Vec::new(),
            events: Vec::new(),
            relations: Vec::new(),
        }
    }

    /// Every template this check uses, for load-time placeholder validation.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out = self.select.templates();
        for (_, a) in &self.attributes {
            out.extend(a.templates());
        }
        for r in &self.relations {
            if let Relation::Parent(sel) = r {
                out.extend(sel.templates());
            }
        }
        out
    }
}

/// Which spans a check applies to. Empty = every captured span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector {
    pub name: Option<NameMatch>,
    pub kind: Option<SpanKind>,
    /// Every assertion must hold for a span to be selected.
    pub attributes: Vec<(String, AttrAssertion)>,
}

impl Selector {
    /// Whether `span` is selected. A template that cannot render selects nothing and
    /// returns the error so the caller can report it.
    pub fn matches(&self, span: &CapturedSpan, vars: &TemplateVars) -> Result<bool, String> {
        if let Some(kind) = self.kind {
            if span.kind != kind {
                return Ok(false);
            }
        }
        if let Some(name) = &self.name {
            if !name.matches(&span.name, vars)? {
                return Ok(false);
            }
        }
        for (key, assertion) in &self.attributes {
            if assertion.check(span.attr(key), vars).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        match &self.name {
            Some(NameMatch::Exact(t)) => out.push(t),
            Some(NameMatch::Regex(r)) => out.push(r.template()),
            None => {}
        }
        for (_, a) in &self.attributes {
            out.extend(a.templates());
        }
        out
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match &self.name {
            Some(NameMatch::Exact(t)) => parts.push(format!("name `{t}`")),
            Some(NameMatch::Regex(r)) => parts.push(format!("name matching /{}/", r.template())),
            None => {}
        }
        if let Some(k) = self.kind {
            parts.push(format!("kind {}", kind_name(k)));
        }
        for (key, a) in &self.attributes {
            parts.push(format!("`{key}` {}", a.describe_raw()));
        }
        if parts.is_empty() {
            f.write_str("any span")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A span name: exact (templated) or a regex (templated, values escaped).
#[derive(Debug, Clone, PartialEq)]
pub enum NameMatch {
    Exact(Template),
    Regex(TemplateRegex),
}

impl NameMatch {
    fn matches(&self, name: &str, vars: &TemplateVars) -> Result<bool, String> {
        match self {
            NameMatch::Exact(t) => Ok(t
                .render_each(vars)
                .map_err(|e| e.to_string())?
                .iter()
                .any(|n| n == name)),
            NameMatch::Regex(r) => Ok(r.compile(vars)?.is_match(name)),
        }
    }
}

/// A regex whose source is a template; syntax is checked when it is built.
#[derive(Debug, Clone)]
pub struct TemplateRegex {
    template: Template,
}

impl PartialEq for TemplateRegex {
    fn eq(&self, other: &Self) -> bool {
        self.template == other.template
    }
}

impl TemplateRegex {
    /// Parses the template and compiles a sample rendering, so syntax errors surface
    /// at load time with the matrix position.
    pub fn new(source: &str) -> Result<Self, String> {
        let template = Template::parse(source).map_err(|e| e.to_string())?;
        build(&template.render_regex_sample())
            .map_err(|e| format!("invalid regex `{source}`: {e}"))?;
        Ok(Self { template })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn compile(&self, vars: &TemplateVars) -> Result<Regex, String> {
        let src = self
            .template
            .render_regex(vars)
            .map_err(|e| e.to_string())?;
        build(&src).map_err(|e| format!("invalid regex `{src}`: {e}"))
    }
}

fn build(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
}

/// How many spans a check expects to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exactly(u32),
    AtLeast(u32),
    AtMost(u32),
    Between(u32, u32),
}

impl Default for Count {
    fn default() -> Self {
        Count::Exactly(1)
    }
}

impl Count {
    pub fn allows(self, n: usize) -> bool {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        match self {
            Count::Exactly(e) => n == u64::from(e),
            Count::AtLeast(e) => n >= u64::from(e),
            Count::AtMost(e) => n <= u64::from(e),
            Count::Between(lo, hi) => n >= u64::from(lo) && n <= u64::from(hi),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::Exactly(n) => write!(f, "exactly {n}"),
            Count::AtLeast(n) => write!(f, "at least {n}"),
            Count::AtMost(n) => write!(f, "at most {n}"),
            Count::Between(a, b) => write!(f, "between {a} and {b}"),
        }
    }
}

/// The acceptable status codes (any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusExpect(pub Vec<StatusCode>);

impl StatusExpect {
    pub fn allows(&self, code: StatusCode) -> bool {
        self.0.contains(&code)
    }
}

impl fmt::Display for StatusExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|c| status_name(*c)).collect();
        f.write_str(&names.join(" or "))
    }
}

pub(super) fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "UNSET",
        StatusCode::Ok => "OK",
        StatusCode::Error => "ERROR",
    }
}

pub(super) fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// An expected attribute value: strings are templates, everything else literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Text(Template),
    Value(AttrValue),
}

impl Expected {
    fn candidates(&self, vars: &TemplateVars) -> Result<Vec<AttrValue>, String> {
        match self {
            Expected::Text(t) => Ok(t
                .render_each(vars)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(AttrValue::String)
                .collect()),
            Expected::Value(v) => Ok(vec![v.clone()]),
        }
    }

    fn describe(&self) -> String {
        match self {
            Expected::Text(t) => format!("{:?}", t.as_str()),
            Expected::Value(v) => v.to_string(),
        }
    }
}

/// Values compare by content; an integer equals a double with the same value because
/// some exporters turn token counts into doubles.
pub(super) fn values_equal(expected: &AttrValue, actual: &AttrValue) -> bool {
    match (expected, actual) {
        (AttrValue::Int(_), AttrValue::Double(_)) | (AttrValue::Double(_), AttrValue::Int(_)) => {
            expected.as_f64() == actual.as_f64()
        }
        _ => expected == actual,
    }
}

/// One assertion on one attribute of each selected span.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrAssertion {
    Equals(Expected),
    /// The value, when present, is not this (absent holds; add `exists` to require it).
    NotEquals(Expected),
    Exists,
    Absent,
    Regex(TemplateRegex),
    OneOf(Vec<Expected>),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    Type(AttrType),
    /// String attribute: substring. String array: one element equals it.
    Contains(Template),
    /// Across the selected spans, every value is present and no two are equal.
    Distinct,
}

impl AttrAssertion {
    /// Whether the expected value uses placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.templates()
            .iter()
            .any(|t| t.placeholders().any(|p| p == name))
    }

    fn templates(&self) -> Vec<&Template> {
        match self {
            AttrAssertion::Equals(Expected::Text(t))
            | AttrAssertion::NotEquals(Expected::Text(t))
            | AttrAssertion::Contains(t) => vec![t],
            AttrAssertion::Regex(r) => vec![r.template()],
            AttrAssertion::OneOf(items) => items
                .iter()
                .filter_map(|e| match e {
                    Expected::Text(t) => Some(t),
                    Expected::Value(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The assertion as the matrix spells it, before templates are filled in.
    pub fn describe_raw(&self) -> String {
        match self {
            AttrAssertion::Equals(e) => format!("equals {}", e.describe()),
            AttrAssertion::NotEquals(e) => format!("not equal to {}", e.describe()),
            AttrAssertion::Exists => "exists".into(),
            AttrAssertion::Absent => "absent".into(),
            AttrAssertion::Regex(r) => format!("matches /{}/", r.template()),
            AttrAssertion::OneOf(items) => format!(
                "one of [{}]",
                items
                    .iter()
                    .map(Expected::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            AttrAssertion::Gt(n) => format!("> {n}"),
            AttrAssertion::Ge(n) => format!(">= {n}"),
            AttrAssertion::Lt(n) => format!("< {n}"),
            AttrAssertion::Le(n) => format!("<= {n}"),
            AttrAssertion::Type(t) => format!("of type {}", type_name(*t)),
            AttrAssertion::Contains(t) => format!("contains {:?}", t.as_str()),
            AttrAssertion::Distinct => "distinct across the selected spans".into(),
        }
    }

    /// The assertion with this cell's values filled in (for failure messages).
    pub fn describe(&self, vars: &TemplateVars) -> String {
        let render = |t: &Template| {
            t.render_each(vars)
                .map(|v| v.join("|"))
                .unwrap_or_else(|_| t.to_string())
        };
        match self {
            AttrAssertion::Equals(Expected::Text(t)) => format!("equals {:?}", render(t)),
            AttrAssertion::NotEquals(Expected::Text(t)) => {
                format!("not equal to {:?}", render(t))
            }
            AttrAssertion::Contains(t) => format!("contains {:?}", render(t)),
            AttrAssertion::Regex(r) => match r.template().render_regex(vars) {
                Ok(src) => format!("matches /{src}/"),
                Err(_) => self.describe_raw(),
            },
            AttrAssertion::OneOf(items) => {
                let mut all = Vec::new();
                for e in items {
                    match e.candidates(vars) {
                        Ok(vs) => all.extend(vs.iter().map(|v| format!("{:?}", v.to_string()))),
                        Err(_) => all.push(e.describe()),
                    }
                }
                format!("one of [{}]", all.join(", "))
            }
            _ => self.describe_raw(),
        }
    }

    /// Checks one span's value (`None` = attribute absent). `Distinct` always passes
    /// here; it is checked across spans by the evaluator. Err carries the "actual" text.
    pub fn check(&self, actual: Option<&AttrValue>, vars: &TemplateVars) -> Result<(), String> {
        let shown = || {
            actual
                .map(show_value)
                .unwrap_or_else(|| "absent".to_string())
        };
        let fail = || Err(shown());
        match self {
            AttrAssertion::Absent => match actual {
                None => Ok(()),
                Some(_) => fail(),
            },
            AttrAssertion::Distinct => Ok(()),
            AttrAssertion::NotEquals(e) => match actual {
                None => Ok(()),
                Some(value) => {
                    if e.candidates(vars)?.iter().any(|c| values_equal(c, value)) {
                        fail()
                    } else {
                        Ok(())
                    }
                }
            },
            _ => {
                let Some(value) = actual else { return fail() };
                let ok = match self {
                    AttrAssertion::Exists => true,
                    AttrAssertion::Equals(e) => {
                        e.candidates(vars)?.iter().any(|c| values_equal(c, value))
                    }
                    AttrAssertion::OneOf(items) => {
                        let mut any = false;
                        for e in items {
                            any |= e.candidates(vars)?.iter().any(|c| values_equal(c, value));
                        }
                        any
                    }
                    AttrAssertion::Regex(r) => r.compile(vars)?.is_match(&value.to_string()),
                    AttrAssertion::Gt(n) => value.as_f64().is_some_and(|v| v > *n),
                    AttrAssertion::Ge(n) => value.as_f64().is_some_and(|v| v >= *n),
                    AttrAssertion::Lt(n) => value.as_f64().is_some_and(|v| v < *n),
                    AttrAssertion::Le(n) => value.as_f64().is_some_and(|v| v <= *n),
                    AttrAssertion::Type(t) => value.attr_type() == *t,
                    AttrAssertion::Contains(t) => {
                        let needles = t.render_each(vars).map_err(|e| e.to_string())?;
                        needles.iter().any(|needle| match value {
                            AttrValue::String(s) => s.contains(needle),
                            AttrValue::StringArray(items) => items.contains(needle),
                            _ => false,
                        })
                    }
                    AttrAssertion::Absent
                    | AttrAssertion::Distinct
                    | AttrAssertion::NotEquals(_) => true,
                };
                if ok {
                    Ok(())
                } else {
                    fail()
                }
            }
        }
    }
}

/// A value as failure messages show it: strings quoted, type named when it matters.
pub(super) fn show_value(v: &AttrValue) -> String {
    match v {
        AttrValue::String(s) => format!("{s:?}"),
        other => format!("{other} ({})", type_name(other.attr_type())),
    }
}

pub fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::Bool => "bool",
        AttrType::Int => "int",
        AttrType::Double => "double",
        AttrType::String => "string",
        AttrType::BoolArray => "bool_array",
        AttrType::IntArray => "int_array",
        AttrType::DoubleArray => "double_array",
        AttrType::StringArray => "string_array",
    }
}

/// An event expected on each selected span `count` times (`absent` = exactly 0).
#[derive(Debug, Clone, PartialEq)]
pub struct EventAssertion {
    pub name: String,
    pub count: Count,
}

/// Structural expectations across the selected spans.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// All selected spans share one trace id.
    SameTrace,
    /// Each selected span is a root (no parent).
    Root,
    /// All selected spans have the same parent, and that parent was captured.
    CommonParent,
    /// Each selected span's parent was captured and matches the selector.
    Parent(Selector),
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Relation::SameTrace => f.write_str("same_trace"),
            Relation::Root => f.write_str("root"),
            Relation::CommonParent => f.write_str("common_parent"),
            Relation::Parent(s) => write!(f, "parent ({s})"),
        }
    }
}
