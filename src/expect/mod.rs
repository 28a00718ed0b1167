//! The assertion language and its evaluation, independent of where checks come from
//! (the matrix loader builds them from YAML; tests build them in code).
//!
//! [`evaluate`] turns checks plus captured spans into [`Finding`]s; [`judge`] applies
//! known issues and decides pass / fail / xfail / xpass.

mod backend;
mod check;
mod era;
mod eval;
mod known;
mod template;

pub use backend::{evaluate_backend, RouteCheck, BACKEND_CHECK};
pub use check::{
    type_name, AttrAssertion, Count, EventAssertion, Expected, NameMatch, Relation, Selector,
    SpanCheck, StatusExpect, TemplateRegex,
};
pub use era::{EraChecks, MAX_ERAS};
pub use eval::{evaluate, Finding, SpanSummary, Subject};
pub use known::{
    installed, judge, DriverErrorJudged, ErrorMatch, Judgement, KnownIssue, PackageRange,
    SubjectKind, Verdict,
};
pub use template::{Template, TemplateError, TemplateVars, VarValue, SERVICE_PLACEHOLDERS};

#[cfg(test)]
mod tests;
