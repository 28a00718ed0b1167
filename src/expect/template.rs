//! `{placeholder}` templates in expected values, span names and regexes.
//!
//! A placeholder is `{` + an identifier (a letter or `_`, then letters, digits, `_`) + `}`.
//! Anything else in braces stays literal, so regex quantifiers such as `\s{0,3}` need no
//! escaping; `{{` and `}}` write a literal brace. Unknown placeholder names are rejected
//! when the template is parsed (at matrix load time), never at evaluation time.

use crate::vocab::did_you_mean;
use std::collections::BTreeMap;
use std::fmt;

/// Every placeholder a matrix may use, with what it stands for (for docs and errors).
pub(super) const KNOWN_PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "deployment",
        "the deployment the cell calls (errors: the rate-limited one; multi-deployment: \
         any of them, so a check written once for every feature holds there too)",
    ),
    ("model", "the model snapshot behind `{deployment}`"),
    (
        "deployments",
        "multi-deployment: every deployment called (a list)",
    ),
    (
        "models",
        "multi-deployment: the snapshots behind `{deployments}` (a list)",
    ),
    (
        "missing_deployment",
        "errors: the deployment name that does not exist",
    ),
    ("flaky_deployment", "errors: the rate-limited deployment"),
    (
        "flaky_model",
        "errors: the snapshot behind `{flaky_deployment}`",
    ),
    (
        "embedding_deployment",
        "raw-response, async: the embeddings deployment called",
    ),
    (
        "embedding_model",
        "the snapshot behind `{embedding_deployment}`",
    ),
    ("prompt", "chat, streaming: the user message the app sends"),
    (
        "answer",
        "chat, streaming: the text the service answered, as the app received it \
         (compared only when the driver knows it; a command's program does not report it)",
    ),
    (
        "tool_call_id",
        "tools, streaming-tools: the id of the tool call the service answered with (known \
         once the cell ran, as `{answer}`)",
    ),
    (
        "tool_arguments",
        "tools, streaming-tools: that call's JSON arguments, as the service sent them",
    ),
    ("host", "the endpoint host, e.g. `contoso.openai.azure.com`"),
    ("resource", "the Azure resource name (Azure providers only)"),
    (
        "api_version",
        "the `api-version` query parameter (when the target has one)",
    ),
    ("provider", "the cell's provider"),
    ("style", "the cell's instrumentation style"),
    ("feature", "the cell's feature"),
    ("driver", "the cell's driver"),
];

/// Whether `name` is a placeholder templates may use.
pub(super) fn is_known_placeholder(name: &str) -> bool {
    KNOWN_PLACEHOLDERS.iter().any(|(n, _)| *n == name)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder `{{{name}}}`{}; known placeholders: {}", suggest(.suggestion), known_list())]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("placeholder `{{{name}}}` has no value in this cell ({why})")]
    Unset { name: String, why: String },
    #[error("placeholder `{{{name}}}` is a list; here it must stand for one text (lists are allowed in values, names and regexes)")]
    ListInScalar { name: String },
    #[error("`{template}` stands for more than {MAX_EXPANSIONS} texts in this cell (its list placeholders multiply)")]
    TooManyExpansions { template: String },
}

fn suggest(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{{{s}}}`?)"))
        .unwrap_or_default()
}

fn known_list() -> String {
    KNOWN_PLACEHOLDERS
        .iter()
        .map(|(n, _)| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

/// A parsed template. `Display` prints the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Placeholders whose values are what the service said, known only once the cell ran
/// (the driver reports them); a driver that cannot know them leaves their assertions out.
pub const SERVICE_PLACEHOLDERS: &[&str] = &["answer", "tool_call_id", "tool_arguments"];

/// The most texts one template may stand for: a bound on list placeholders' combinations.
pub(super) const MAX_EXPANSIONS: usize = 256;

/// A placeholder's value in one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarValue {
    One(String),
    List(Vec<String>),
}

/// The values placeholders take in one cell. Known names have setters; any other name
/// can be set with [`TemplateVars::set`] by code that builds its own checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateVars {
    values: BTreeMap<String, VarValue>,
}

impl TemplateVars {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.into(), VarValue::One(value.into()));
        self
    }

    pub fn set_list(&mut self, name: impl Into<String>, values: Vec<String>) -> &mut Self {
        self.values.insert(name.into(), VarValue::List(values));
        self
    }

    /// Builder form of [`TemplateVars::set`].
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.set(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&VarValue> {
        self.values.get(name)
    }

    /// A single-valued placeholder's value.
    pub fn value(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(VarValue::One(s)) => Some(s),
            _ => None,
        }
    }

    pub fn deployment(&self) -> Option<&str> {
        self.value("deployment")
    }
    pub fn model(&self) -> Option<&str> {
        self.value("model")
    }
    pub fn host(&self) -> Option<&str> {
        self.value("host")
    }
    pub fn api_version(&self) -> Option<&str> {
        self.value("api_version")
    }

    /// Names that have a value, for "this cell defines: ..." messages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    fn lookup(&self, name: &str) -> Result<&VarValue, TemplateError> {
        self.values.get(name).ok_or_else(|| TemplateError::Unset {
            name: name.to_string(),
            why: format!(
                "this cell defines: {}",
                self.values
                    .keys()
                    .map(|k| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

impl Template {
    /// Parses `source`, rejecting placeholders that are not in `KNOWN_PLACEHOLDERS`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let parts = split(source);
        for p in &parts {
            if let Part::Var(name) = p {
                if !is_known_placeholder(name) {
                    return Err(TemplateError::Unknown {
                        name: name.clone(),
                        suggestion: did_you_mean(name, KNOWN_PLACEHOLDERS.iter().map(|(n, _)| *n))
                            .map(str::to_string),
                    });
                }
            }
        }
        Ok(Self {
            source: source.to_string(),
            parts,
        })
    }

    /// A template with no placeholders (braces kept verbatim).
    pub fn literal(text: &str) -> Self {
        Self {
            source: text.to_string(),
            parts: vec![Part::Lit(text.to_string())],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(n) => Some(n.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Whether every placeholder has a value in `vars` (used for load-time checks).
    pub fn check_vars(&self, vars: &TemplateVars) -> Result<(), TemplateError> {
        for name in self.placeholders() {
            vars.lookup(name)?;
        }
        Ok(())
    }

    /// The text with placeholders replaced; list placeholders are an error here.
    pub fn render(&self, vars: &TemplateVars) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(n) => match vars.lookup(n)? {
                    VarValue::One(v) => out.push_str(v),
                    VarValue::List(_) => {
                        return Err(TemplateError::ListInScalar { name: n.clone() })
                    }
                },
            }
        }
        Ok(out)
    }

    /// Every text the template can stand for: one per combination of its list
    /// placeholders' values (`one_of: ["{deployments}"]`, or `chat {deployment}` in a
    /// multi-deployment cell, where `{deployment}` is any of the cell's deployments). A
    /// template without list placeholders gives exactly [`Template::render`]'s text.
    pub fn render_each(&self, vars: &TemplateVars) -> Result<Vec<String>, TemplateError> {
        let mut out = vec![String::new()];
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.iter_mut().for_each(|o| o.push_str(s)),
                Part::Var(n) => match vars.lookup(n)? {
                    VarValue::One(v) => out.iter_mut().for_each(|o| o.push_str(v)),
                    VarValue::List(items) => {
                        if out.len().saturating_mul(items.len()) > MAX_EXPANSIONS {
                            return Err(TemplateError::TooManyExpansions {
                                template: self.source.clone(),
                            });
                        }
                        out = out
                            .iter()
                            .flat_map(|o| items.iter().map(move |i| format!("{o}{i}")))
                            .collect();
                    }
                },
            }
        }
        Ok(out)
    }

    /// Regex source: literal parts are regex syntax, placeholder values are escaped,
    /// and a list placeholder becomes an alternation `(?:a|b)`.
    pub fn render_regex(&self, vars: &TemplateVars) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(n) => match vars.lookup(n)? {
                    VarValue::One(v) => out.push_str(&regex::escape(v)),
                    VarValue::List(items) => {
                        let alts: Vec<String> = items.iter().map(|i| regex::escape(i)).collect();
                        out.push_str(&format!("(?:{})", alts.join("|")));
                    }
                },
            }
        }
        Ok(out)
    }

    /// Regex source with every placeholder replaced by a plain word, to validate the
    /// regex syntax before any cell's values are known.
    pub fn render_regex_sample(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(_) => out.push_str("sample"),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn split(source: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("}}") {
            lit.push(c);
            rest = &rest[2..];
            continue;
        }
        if c == '{' {
            if let Some(end) = rest.find('}') {
                let inner = &rest[1..end];
                if is_ident(inner) {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(inner.to_string()));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars {
        let mut v = TemplateVars::new();
        v.set("deployment", "gpt-4o")
            .set("host", "contoso.openai.azure.com");
        v.set_list("deployments", vec!["gpt-4o".into(), "gpt-4o-mini".into()]);
        v
    }

    #[test]
    fn renders_placeholders_and_escapes() {
        let t = Template::parse("chat {deployment} {{literal}}").unwrap();
        assert_eq!(t.render(&vars()).unwrap(), "chat gpt-4o {literal}");
        assert_eq!(t.placeholders().collect::<Vec<_>>(), vec!["deployment"]);
    }

    #[test]
    fn regex_quantifiers_are_not_placeholders() {
        let t = Template::parse(r#""model":\s{0,3}"{deployment}""#).unwrap();
        assert_eq!(
            t.render_regex(&vars()).unwrap(),
            r#""model":\s{0,3}"gpt\-4o""#
        );
    }

    #[test]
    fn unknown_placeholder_is_rejected_with_suggestion() {
        let err = Template::parse("{deploymnt}").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `{deployment}`?"),
            "{err}"
        );
    }

    #[test]
    fn unset_placeholder_names_what_the_cell_has() {
        let t = Template::parse("{api_version}").unwrap();
        let err = t.render(&vars()).unwrap_err();
        assert!(
            err.to_string().contains("has no value in this cell"),
            "{err}"
        );
        assert!(t.check_vars(&vars()).is_err());
    }

    #[test]
    fn lists_expand_in_values_and_regexes_but_not_in_one_text() {
        let t = Template::parse("{deployments}").unwrap();
        assert_eq!(
            t.render_each(&vars()).unwrap(),
            vec!["gpt-4o", "gpt-4o-mini"]
        );
        assert_eq!(
            t.render_regex(&vars()).unwrap(),
            r"(?:gpt\-4o|gpt\-4o\-mini)"
        );
        assert!(matches!(
            t.render(&vars()),
            Err(TemplateError::ListInScalar { .. })
        ));
        // Inside a longer text, each value gives one candidate; two lists multiply.
        let name = Template::parse("chat {deployments}").unwrap();
        assert_eq!(
            name.render_each(&vars()).unwrap(),
            vec!["chat gpt-4o", "chat gpt-4o-mini"]
        );
        let pair = Template::parse("{deployments}/{deployments}").unwrap();
        assert_eq!(pair.render_each(&vars()).unwrap().len(), 4);
        // A single value renders as itself, once.
        let one = Template::parse("chat {deployment}").unwrap();
        assert_eq!(one.render_each(&vars()).unwrap(), vec!["chat gpt-4o"]);
    }

    #[test]
    fn expansions_are_bounded() {
        let mut v = TemplateVars::new();
        v.set_list("deployments", (0..16).map(|i| i.to_string()).collect());
        let t = Template::parse("{deployments}{deployments}").unwrap();
        assert_eq!(t.render_each(&v).unwrap().len(), MAX_EXPANSIONS);
        v.set_list("deployments", (0..17).map(|i| i.to_string()).collect());
        assert!(matches!(
            t.render_each(&v),
            Err(TemplateError::TooManyExpansions { .. })
        ));
    }
}
