//! The matrix file as written: serde types with unknown keys rejected. Shorthands
//! (`key: value` for equals, `present`/`absent` for events, …) are expanded here, and
//! regexes and placeholders are checked here so errors carry the file position.

use super::yaml::{tri, Named, OMap};
use crate::capture::{AttrType, AttrValue, SpanKind, StatusCode};
use crate::expect::SubjectKind;
use crate::expect::{AttrAssertion, Count, Expected, StatusExpect, Template, TemplateRegex};
use crate::replica::{DeploymentKind, Fault};
use crate::vocab::{did_you_mean, DriverKind, Feature, Provider, Setup, Style};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatrix {
    pub provider: Named<Provider>,
    pub target: Spanned<RawTarget>,
    pub deployments: OMap<Spanned<String>, RawDeployment>,
    pub styles: Vec<Spanned<Named<Style>>>,
    #[serde(default)]
    pub drivers: Option<Spanned<Vec<Named<DriverKind>>>>,
    /// Named sets of pinned Python packages for the python driver.
    #[serde(default)]
    pub version_sets: OMap<Spanned<String>, Spanned<RawVersionSet>>,
    /// How the app wires tracing; absent = `instrumentor` only.
    #[serde(default)]
    pub setups: Option<RawSetups>,
    pub features: RawFeatures,
    pub expect: RawExpect,
    #[serde(default)]
    pub known_issues: Vec<RawKnownIssue>,
    #[serde(default)]
    pub live: Option<RawLive>,
    /// The expectations of a matrix that `extends` this one: a last layer on top.
    #[serde(skip)]
    pub overlay_expect: Option<RawExpect>,
}

/// `live:` — how the matrix's deployments are found on a live resource.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLive {
    /// Matrix deployment name → the environment variable holding the live name.
    #[serde(default)]
    pub deployments: OMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub shapes: Option<crate::replica::Shapes>,
    /// The endpoint string apps receive, exactly as a customer writes it.
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    /// Whether command cells get `OPENAI_API_VERSION` (it changes what some SDK and
    /// instrumentor releases do, so it is set only when asked for).
    #[serde(default)]
    pub api_version_env: bool,
}

/// One version set: pins every style of the set shares (`common`) and per-style pins.
/// A style gets cells for this set only when it is listed under `styles`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVersionSet {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub common: Vec<Spanned<String>>,
    pub styles: OMap<Spanned<Named<Style>>, Vec<Spanned<String>>>,
    /// The setups this set runs, each with the packages it adds (a pin here replaces
    /// the same package's pin in `common`). Absent = `instrumentor` only.
    #[serde(default)]
    pub setups: Option<RawSetupPins>,
    /// Run the newest releases instead of the pins (resolved at run time).
    #[serde(default)]
    pub newest: bool,
}

/// `setups:` — setup name → where it applies (`null`: everywhere).
pub(super) type RawSetups = Spanned<OMap<Spanned<Named<Setup>>, Option<RawSetup>>>;
/// A version set's `setups:` — setup name → the pins it adds.
pub(super) type RawSetupPins = OMap<Spanned<Named<Setup>>, Vec<Spanned<String>>>;

/// One setup: the styles and features it applies to (empty = all), what HoneyHive's
/// backend (or the vendor's collector) must have received from each of its cells, and
/// the checks its cells add to the style's.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetup {
    #[serde(default)]
    pub styles: Vec<Spanned<Named<Style>>>,
    #[serde(default)]
    pub features: Vec<Spanned<Named<Feature>>>,
    /// `METHOD /path` → how many requests with the cell's key arrived there.
    #[serde(default)]
    pub backend: OMap<Spanned<String>, RawCount>,
    /// `all` and per-feature layers, on top of the style's.
    #[serde(default)]
    pub expect: Option<RawStyleExpect>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeployment {
    pub model: String,
    #[serde(default)]
    pub kind: Option<DeploymentKind>,
    #[serde(default)]
    pub dimensions: Option<u32>,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// `chat`, `streaming`, `streaming-usage`, `streaming-async-filter`: one chat completion.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatParams {
    pub deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmbeddingsParams {
    pub deployment: Spanned<String>,
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MultiParams {
    pub deployments: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub prompt: Option<String>,
}

/// `enrichment`: one chat call in a traced function that enriches its span.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrichmentParams {
    pub deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    /// `enrich_span`'s metadata; default: the guide's provider, deployment and region.
    #[serde(default)]
    pub metadata: Option<OMap<String, String>>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorsParams {
    pub missing_deployment: Spanned<String>,
    pub flaky_deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
}

/// `tools`, `streaming-tools`, `stream-abandoned`, `structured-output`: a chat
/// deployment and a prompt.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PromptParams {
    pub deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
}

/// `raw-response`, `async`: a chat call and an embeddings call.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatAndEmbeddingsParams {
    pub deployment: Spanned<String>,
    pub embedding_deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
}

/// `responses`, `responses-streaming`: a chat deployment, the input, the instructions,
/// and the api-version of Azure's dated route (which serves the Responses API only
/// from `2025-03-01-preview`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResponsesParams {
    pub deployment: Spanned<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) enum RawFeatureParams {
    Responses(ResponsesParams),
    Prompt(PromptParams),
    ChatAndEmbeddings(ChatAndEmbeddingsParams),
    Chat(ChatParams),
    Embeddings(EmbeddingsParams),
    Multi(MultiParams),
    Errors(ErrorsParams),
    Enrichment(EnrichmentParams),
}

/// `features:` — feature name → parameters; the name decides which parameters exist.
#[derive(Debug, Default)]
pub(super) struct RawFeatures(pub Vec<(Spanned<Feature>, RawFeatureParams)>);

impl<'de> Deserialize<'de> for RawFeatures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFeatures;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from feature name to its parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawFeatures, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = m.next_key::<Spanned<String>>()? {
                    let feature: Feature = key.value.parse().map_err(de::Error::custom)?;
                    let params = match feature {
                        Feature::Chat
                        | Feature::Streaming
                        | Feature::StreamingUsage
                        | Feature::StreamingAsyncFilter => RawFeatureParams::Chat(m.next_value()?),
                        Feature::Embeddings => RawFeatureParams::Embeddings(m.next_value()?),
                        Feature::MultiDeployment => RawFeatureParams::Multi(m.next_value()?),
                        Feature::Errors => RawFeatureParams::Errors(m.next_value()?),
                        Feature::Enrichment => RawFeatureParams::Enrichment(m.next_value()?),
                        Feature::Tools
                        | Feature::StreamingTools
                        | Feature::StreamAbandoned
                        | Feature::StructuredOutput => RawFeatureParams::Prompt(m.next_value()?),
                        Feature::Responses | Feature::ResponsesStreaming => {
                            RawFeatureParams::Responses(m.next_value()?)
                        }
                        Feature::RawResponse | Feature::Async => {
                            RawFeatureParams::ChatAndEmbeddings(m.next_value()?)
                        }
                    };
                    out.push((Spanned::new(feature, key.referenced, key.defined), params));
                }
                Ok(RawFeatures(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Checks in one layer: label → check, or `null` to remove an inherited check.
pub(super) type RawChecks = OMap<Spanned<String>, Option<RawCheck>>;

/// `expect:` — `all` (every style and feature) and per-style layers.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    #[serde(default)]
    pub all: RawChecks,
    #[serde(default)]
    pub styles: OMap<Spanned<Named<Style>>, RawStyleExpect>,
}

/// `when:` — package name → a pip version range, every one of which must hold.
pub(super) type RawWhen = OMap<Spanned<String>, Spanned<String>>;

/// One style's layers: `all` (every feature), one per feature name, and the eras: more
/// layers for the cells that ran some releases.
#[derive(Debug, Default)]
pub(super) struct RawStyleExpect {
    pub all: RawChecks,
    pub features: Vec<(Feature, RawChecks)>,
    /// `eras:` (a style's expectations only; refused elsewhere at its position).
    pub eras: Option<Spanned<Vec<RawEra>>>,
}

/// One era: the releases it concerns (`when`) and its layers (`all`, per feature).
#[derive(Debug)]
pub(super) struct RawEra {
    pub when: Spanned<RawWhen>,
    pub layers: RawStyleExpect,
}

/// Reads a mapping of layers: `all`, feature names, and whichever of `eras` / `when`
/// the caller's place allows (a style takes `eras`, an era takes `when`).
fn visit_layers<'de, A: MapAccess<'de>>(
    mut m: A,
    place: &str,
    extra: &str,
    mut on_extra: impl FnMut(&mut A, &mut RawStyleExpect) -> Result<(), A::Error>,
) -> Result<RawStyleExpect, A::Error> {
    let mut out = RawStyleExpect::default();
    while let Some(key) = m.next_key::<String>()? {
        if key == "all" {
            out.all = m.next_value()?;
            continue;
        }
        if key == extra {
            on_extra(&mut m, &mut out)?;
            continue;
        }
        if key == "eras" {
            return Err(de::Error::custom(
                "eras do not nest: list every era under the style's `eras`",
            ));
        }
        let feature: Feature = key.parse().map_err(|_| {
            let mut names = vec!["all", extra];
            names.extend(Feature::names());
            let hint = did_you_mean(&key, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            de::Error::custom(format!(
                "unknown key `{key}` in {place}{hint}; expected `all`, `{extra}` or a feature: {}",
                Feature::names().join(", ")
            ))
        })?;
        out.features.push((feature, m.next_value()?));
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for RawStyleExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStyleExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with `all`, `eras` and/or feature names")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawStyleExpect, A::Error> {
                visit_layers(m, "a style's expectations", "eras", |m, out| {
                    out.eras = Some(m.next_value()?);
                    Ok(())
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RawEra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEra;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an era: `when` and layers (`all`, feature names)")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawEra, A::Error> {
                let mut when: Option<Spanned<RawWhen>> = None;
                let layers = visit_layers(m, "an era", "when", |m, _| {
                    when = Some(m.next_value()?);
                    Ok(())
                })?;
                let when = when.ok_or_else(|| {
                    de::Error::custom(
                        "an era needs `when: {PACKAGE: RANGE}`, the releases it concerns",
                    )
                })?;
                Ok(RawEra { when, layers })
            }
        }
        d.deserialize_map(V)
    }
}

/// One check as written in one layer; absent fields inherit, `null` clears.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    #[serde(default, deserialize_with = "tri")]
    pub name: Option<Option<RawName>>,
    #[serde(default, deserialize_with = "tri")]
    pub kind: Option<Option<SpanKind>>,
    #[serde(default, rename = "where")]
    pub where_: Option<RawAttrs>,
    #[serde(default, deserialize_with = "tri")]
    pub count: Option<Option<RawCount>>,
    #[serde(default, deserialize_with = "tri")]
    pub status: Option<Option<RawStatus>>,
    #[serde(default)]
    pub attributes: Option<RawAttrs>,
    #[serde(default)]
    pub events: Option<OMap<Spanned<String>, Option<RawCount>>>,
    #[serde(default)]
    pub relations: Option<Vec<RawRelation>>,
}

/// Attribute key → assertions (`null` removes an inherited key).
pub(super) type RawAttrs = OMap<Spanned<String>, Option<RawAttr>>;

/// A span name: `exact text`, `/regex/`, or `{regex: ...}`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RawName {
    Exact(Template),
    Regex(TemplateRegex),
}

impl<'de> Deserialize<'de> for RawName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a span name, `/regex/`, or {regex: ...}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawName, E> {
                if s.len() >= 2 && s.starts_with('/') && s.ends_with('/') {
                    return TemplateRegex::new(&s[1..s.len() - 1])
                        .map(RawName::Regex)
                        .map_err(E::custom);
                }
                Template::parse(s).map(RawName::Exact).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawName, A::Error> {
                let key: String = m
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("expected {regex: ...}"))?;
                if key != "regex" {
                    return Err(de::Error::custom(format!(
                        "unknown key `{key}` in a span name; expected `regex`"
                    )));
                }
                let src: String = m.next_value()?;
                if let Some(k) = m.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "unexpected key `{k}`: a span name takes only `regex`"
                    )));
                }
                TemplateRegex::new(&src)
                    .map(RawName::Regex)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `3`, `{exactly: 3}`, `{at_least: 1}`, `{at_most: 2}`, `{between: [1, 3]}`, and for
/// events `present` (at least 1) / `absent` (exactly 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RawCount(pub Count);

impl<'de> Deserialize<'de> for RawCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "a count: N, present, absent, {at_least: N}, {at_most: N}, {exactly: N} or {between: [A, B]}";
        impl<'de> Visitor<'de> for V {
            type Value = RawCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawCount, E> {
                u32::try_from(n)
                    .map(|n| RawCount(Count::Exactly(n)))
                    .map_err(|_| E::custom("count too large"))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawCount, E> {
                u64::try_from(n)
                    .map_err(|_| {
                        E::custom(format!("a count cannot be negative; expected {EXPECTED}"))
                    })
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawCount, E> {
                match s {
                    "present" => Ok(RawCount(Count::AtLeast(1))),
                    "absent" => Ok(RawCount(Count::Exactly(0))),
                    other => Err(E::custom(format!(
                        "unknown count `{other}`; expected {EXPECTED}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawCount, A::Error> {
                let key: String = m.next_key()?.ok_or_else(|| de::Error::custom(EXPECTED))?;
                let count = match key.as_str() {
                    "exactly" => Count::Exactly(m.next_value()?),
                    "at_least" => Count::AtLeast(m.next_value()?),
                    "at_most" => Count::AtMost(m.next_value()?),
                    "between" => {
                        let (a, b): (u32, u32) = m.next_value()?;
                        if a > b {
                            return Err(de::Error::custom(format!(
                                "between [{a}, {b}]: the lower bound is above the upper"
                            )));
                        }
                        Count::Between(a, b)
                    }
                    other => {
                        let hint =
                            did_you_mean(other, ["exactly", "at_least", "at_most", "between"])
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                        return Err(de::Error::custom(format!(
                            "unknown count `{other}`{hint}; expected {EXPECTED}"
                        )));
                    }
                };
                if let Some(k) = m.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "unexpected key `{k}`: a count has one key"
                    )));
                }
                Ok(RawCount(count))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ok`, `unset`, `error`, or a list of them (any of).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawStatus(pub StatusExpect);

fn parse_status<E: de::Error>(s: &str) -> Result<StatusCode, E> {
    match s.to_ascii_lowercase().as_str() {
        "ok" => Ok(StatusCode::Ok),
        "unset" => Ok(StatusCode::Unset),
        "error" => Ok(StatusCode::Error),
        _ => Err(E::custom(format!(
            "unknown status `{s}`; expected ok, unset or error (or a list of them)"
        ))),
    }
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStatus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("ok, unset, error, or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawStatus, E> {
                Ok(RawStatus(StatusExpect(vec![parse_status(s)?])))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawStatus, A::Error> {
                let mut codes = Vec::new();
                while let Some(name) = s.next_element::<String>()? {
                    codes.push(parse_status(&name)?);
                }
                if codes.is_empty() {
                    return Err(de::Error::custom(
                        "an empty status list allows nothing; expected ok, unset or error",
                    ));
                }
                Ok(RawStatus(StatusExpect(codes)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `same_trace`, `root`, `common_parent`, or `{parent: {name, kind, where}}`.
#[derive(Debug, Clone)]
pub(super) enum RawRelation {
    SameTrace,
    Root,
    CommonParent,
    Parent(RawSelector),
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelector {
    #[serde(default)]
    pub name: Option<RawName>,
    #[serde(default)]
    pub kind: Option<SpanKind>,
    #[serde(default, rename = "where")]
    pub where_: Option<RawAttrs>,
}

impl<'de> Deserialize<'de> for RawRelation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str =
            "same_trace, root, common_parent or {parent: {name: ..., kind: ..., where: ...}}";
        impl<'de> Visitor<'de> for V {
            type Value = RawRelation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawRelation, E> {
                match s {
                    "same_trace" => Ok(RawRelation::SameTrace),
                    "root" => Ok(RawRelation::Root),
                    "common_parent" => Ok(RawRelation::CommonParent),
                    other => {
                        let hint =
                            did_you_mean(other, ["same_trace", "root", "common_parent", "parent"])
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                        Err(E::custom(format!(
                            "unknown relation `{other}`{hint}; expected {EXPECTED}"
                        )))
                    }
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawRelation, A::Error> {
                let key: String = m.next_key()?.ok_or_else(|| de::Error::custom(EXPECTED))?;
                if key != "parent" {
                    return Err(de::Error::custom(format!(
                        "unknown relation `{key}`; expected {EXPECTED}"
                    )));
                }
                let sel: RawSelector = m.next_value()?;
                if let Some(k) = m.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "unexpected key `{k}`: a relation has one key"
                    )));
                }
                Ok(RawRelation::Parent(sel))
            }
        }
        d.deserialize_any(V)
    }
}

/// The assertions on one attribute: a plain value means `equals`; a mapping may combine
/// several operators (`{type: int, gt: 0}`), all of which must hold.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawAttr(pub Vec<AttrAssertion>);

const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "exists",
    "absent",
    "regex",
    "one_of",
    "gt",
    "ge",
    "lt",
    "le",
    "type",
    "contains",
    "distinct",
];

/// A literal attribute value; strings are templates.
struct RawValue(Expected);

fn text<E: de::Error>(s: &str) -> Result<Expected, E> {
    Template::parse(s).map(Expected::Text).map_err(E::custom)
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Expected;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean, or a list of one of those")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Expected, E> {
        Ok(Expected::Value(AttrValue::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Expected, E> {
        Ok(Expected::Value(AttrValue::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Expected, E> {
        i64::try_from(v)
            .map(|v| Expected::Value(AttrValue::Int(v)))
            .map_err(|_| E::custom("integer too large for an attribute"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Expected, E> {
        Ok(Expected::Value(AttrValue::Double(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Expected, E> {
        text(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Expected, A::Error> {
        let mut items: Vec<AttrValue> = Vec::new();
        while let Some(RawScalar(v)) = s.next_element()? {
            items.push(v);
        }
        array(items).map(Expected::Value).map_err(de::Error::custom)
    }
}

fn array(items: Vec<AttrValue>) -> Result<AttrValue, String> {
    let all = |t: AttrType| items.iter().all(|v| v.attr_type() == t);
    if items.is_empty() || all(AttrType::String) {
        Ok(AttrValue::StringArray(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ))
    } else if all(AttrType::Int) {
        Ok(AttrValue::IntArray(
            items.iter().filter_map(AttrValue::as_i64).collect(),
        ))
    } else if all(AttrType::Bool) {
        Ok(AttrValue::BoolArray(
            items
                .iter()
                .filter_map(|v| {
                    if let AttrValue::Bool(b) = v {
                        Some(*b)
                    } else {
                        None
                    }
                })
                .collect(),
        ))
    } else if items.iter().all(|v| v.as_f64().is_some()) {
        Ok(AttrValue::DoubleArray(
            items.iter().filter_map(AttrValue::as_f64).collect(),
        ))
    } else {
        Err("a list value must hold one type (strings, integers, numbers or booleans)".into())
    }
}

struct RawScalar(AttrValue);

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawScalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawScalar, E> {
                Ok(RawScalar(AttrValue::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawScalar, E> {
                Ok(RawScalar(AttrValue::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawScalar, E> {
                i64::try_from(v)
                    .map(|v| RawScalar(AttrValue::Int(v)))
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawScalar, E> {
                Ok(RawScalar(AttrValue::Double(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawScalar, E> {
                Ok(RawScalar(AttrValue::String(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(RawValue)
    }
}

fn expect_true<E: de::Error>(op: &str, v: bool) -> Result<(), E> {
    if v {
        Ok(())
    } else {
        Err(E::custom(format!(
            "`{op}: false` asserts nothing; remove it, or use `exists`/`absent`"
        )))
    }
}

impl<'de> Deserialize<'de> for RawAttr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAttr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "a value (equals) or a mapping of operators: {}",
                    OPERATORS.join(", ")
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawAttr, E> {
                ValueVisitor
                    .visit_bool(v)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAttr, E> {
                ValueVisitor
                    .visit_i64(v)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAttr, E> {
                ValueVisitor
                    .visit_u64(v)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawAttr, E> {
                ValueVisitor
                    .visit_f64(v)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAttr, E> {
                ValueVisitor
                    .visit_str(v)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<RawAttr, A::Error> {
                ValueVisitor
                    .visit_seq(s)
                    .map(|e| RawAttr(vec![AttrAssertion::Equals(e)]))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawAttr, A::Error> {
                let mut out = Vec::new();
                while let Some(op) = m.next_key::<String>()? {
                    let a = match op.as_str() {
                        "equals" => AttrAssertion::Equals(m.next_value::<RawValue>()?.0),
                        "not_equals" => AttrAssertion::NotEquals(m.next_value::<RawValue>()?.0),
                        "exists" => {
                            if m.next_value::<bool>()? {
                                AttrAssertion::Exists
                            } else {
                                AttrAssertion::Absent
                            }
                        }
                        "absent" => {
                            if m.next_value::<bool>()? {
                                AttrAssertion::Absent
                            } else {
                                AttrAssertion::Exists
                            }
                        }
                        "regex" => {
                            let src: String = m.next_value()?;
                            AttrAssertion::Regex(
                                TemplateRegex::new(&src).map_err(de::Error::custom)?,
                            )
                        }
                        "one_of" => {
                            let items: Vec<RawValue> = m.next_value()?;
                            if items.is_empty() {
                                return Err(de::Error::custom(
                                    "`one_of: []` can never hold; list at least one value",
                                ));
                            }
                            AttrAssertion::OneOf(items.into_iter().map(|v| v.0).collect())
                        }
                        "gt" => AttrAssertion::Gt(m.next_value()?),
                        "ge" => AttrAssertion::Ge(m.next_value()?),
                        "lt" => AttrAssertion::Lt(m.next_value()?),
                        "le" => AttrAssertion::Le(m.next_value()?),
                        "type" => AttrAssertion::Type(m.next_value()?),
                        "contains" => {
                            let s: String = m.next_value()?;
                            AttrAssertion::Contains(Template::parse(&s).map_err(de::Error::custom)?)
                        }
                        "distinct" => {
                            expect_true::<A::Error>("distinct", m.next_value()?)?;
                            AttrAssertion::Distinct
                        }
                        other => {
                            let hint = did_you_mean(other, OPERATORS.iter().copied())
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                            return Err(de::Error::custom(format!(
                                "unknown assertion `{other}`{hint}; expected one of: {}",
                                OPERATORS.join(", ")
                            )));
                        }
                    };
                    out.push(a);
                }
                if out.is_empty() {
                    return Err(de::Error::custom(format!(
                        "an empty mapping asserts nothing; use one of: {} (or null to remove an inherited assertion)",
                        OPERATORS.join(", ")
                    )));
                }
                Ok(RawAttr(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKnownIssue {
    pub id: Spanned<String>,
    #[serde(default)]
    pub summary: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub styles: Vec<Named<Style>>,
    #[serde(default)]
    pub features: Vec<Named<Feature>>,
    #[serde(default)]
    pub drivers: Vec<Named<DriverKind>>,
    #[serde(default)]
    pub setups: Vec<Named<Setup>>,
    /// Limits the issue to python cells of these version sets (empty = any cell).
    #[serde(default)]
    pub version_sets: Vec<Spanned<String>>,
    /// Limits the issue to cells that ran these packages in these version ranges.
    #[serde(default)]
    pub when: RawWhen,
    /// The app's own error this issue expects (e.g. an instrumentor that fails to import).
    #[serde(default)]
    pub error: Option<RawErrorMatch>,
    #[serde(default)]
    pub check: Option<Spanned<String>>,
    #[serde(default)]
    pub attribute: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub subject: Option<SubjectKind>,
}

/// `error: {kind: KIND, exception: TYPE, message: TEXT}` in a known issue. A bare text is
/// refused with the form to write instead: the kind of error is what tells an
/// instrumentor that would not load from a call that failed with similar words.
#[derive(Debug)]
pub(super) struct RawErrorMatch {
    pub kind: Named<crate::vocab::ErrorKind>,
    pub exception: Option<String>,
    pub message: Option<String>,
}

impl<'de> serde::Deserialize<'de> for RawErrorMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            kind: Named<crate::vocab::ErrorKind>,
            #[serde(default)]
            exception: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RawErrorMatch;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a mapping {kind: instrument|call|unexpected, exception: TYPE, message: TEXT}",
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`error:` names the kind of the app's error, e.g. error: {{kind: \
                     instrument, message: {text:?}}} for an instrumentor or tracer that \
                     would not import or instrument, kind: call for a call that raised, \
                     kind: unexpected for a service answer the app mishandled; \
                     `exception:` adds the error's type (e.g. ModuleNotFoundError)"
                )))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if f.kind.0 == crate::vocab::ErrorKind::Unexpected && f.exception.is_some() {
                    return Err(de::Error::custom(
                        "an `unexpected` error has no type to match (the harness describes \
                         what the app did): drop `exception:`, or match `message:`",
                    ));
                }
                Ok(RawErrorMatch {
                    kind: f.kind,
                    exception: f.exception.filter(|e| !e.trim().is_empty()),
                    message: f.message.filter(|m| !m.trim().is_empty()),
                })
            }
        }
        d.deserialize_any(V)
    }
}
