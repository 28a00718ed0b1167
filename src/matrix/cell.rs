//! Cells (provider × style × feature × driver), what each one does, and filtering.

use super::versions::CellVersionSet;
use crate::expect::{EraChecks, KnownIssue, RouteCheck, SpanCheck, TemplateVars};
use crate::vocab::{DriverKind, Feature, Provider, Setup, Style};
use serde::Serialize;
use std::collections::BTreeMap;

/// A deployment as a cell calls it: the name the client sends and the snapshot that answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRef {
    pub name: String,
    pub model: String,
}

/// What the app under test does in a cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "feature", rename_all = "snake_case")]
pub enum FeaturePlan {
    Chat {
        deployment: DeploymentRef,
        prompt: String,
        max_tokens: Option<u32>,
        temperature: Option<f64>,
    },
    /// `streaming` (include_usage false) and `streaming-usage` (true).
    Streaming {
        deployment: DeploymentRef,
        prompt: String,
        max_tokens: Option<u32>,
        temperature: Option<f64>,
        include_usage: bool,
    },
    Embeddings {
        deployment: DeploymentRef,
        inputs: Vec<String>,
        dimensions: Option<u32>,
    },
    /// One chat call per deployment, in order, inside one parent span.
    MultiDeployment {
        deployments: Vec<DeploymentRef>,
        prompt: String,
    },
    /// A chat call on a deployment that does not exist (404), then one on a deployment
    /// that answers 429 first and succeeds on retry.
    Errors {
        missing_deployment: String,
        flaky: DeploymentRef,
        prompt: String,
    },
    /// `tools` (stream false) and `streaming-tools` (true): a chat call offering `tool`,
    /// which the model calls; then the history with the call and one `tool` message
    /// per call holding `tool_result`, which the model answers in text.
    Tools {
        deployment: DeploymentRef,
        prompt: String,
        /// The function tool offered, as the request's `tools` entry.
        tool: serde_json::Value,
        /// What the app answers every call of the tool with.
        tool_result: String,
        stream: bool,
    },
    /// Three streams the app abandons: after the first content chunk (twice: leaving a
    /// `with` block, and closing the stream), and one never iterated.
    StreamAbandoned {
        deployment: DeploymentRef,
        prompt: String,
    },
    /// A chat call whose `response_format` is `json_schema` with `schema` (strict),
    /// answered with JSON content that the app parses.
    StructuredOutput {
        deployment: DeploymentRef,
        prompt: String,
        /// `response_format.json_schema.name`.
        schema_name: String,
        schema: serde_json::Value,
    },
    /// `responses` (stream false) and `responses-streaming` (true): one Responses API
    /// call with `prompt` as its input.
    Responses {
        deployment: DeploymentRef,
        prompt: String,
        instructions: Option<String>,
        /// The api-version an Azure-deployment client sends (the v1 API has none).
        api_version: String,
        stream: bool,
    },
    /// A chat call and an embeddings call made through the SDK's raw-response API.
    RawResponse {
        deployment: DeploymentRef,
        embedding_deployment: DeploymentRef,
        prompt: String,
        inputs: Vec<String>,
    },
    /// A chat call, a stream with usage and an embeddings call through the async client.
    Async {
        deployment: DeploymentRef,
        embedding_deployment: DeploymentRef,
        prompt: String,
        inputs: Vec<String>,
    },
    /// One chat call inside a function traced by the setup's `@trace()` that first
    /// calls `enrich_span(metadata)`: HoneyHive's guide, pattern 2.
    Enrichment {
        deployment: DeploymentRef,
        prompt: String,
        /// What `enrich_span` is given, in file order.
        metadata: Vec<(String, String)>,
    },
}

/// The schema `structured-output` asks for: OpenAI's own example (an event with its
/// participants), in the strict form (`additionalProperties: false`, every property
/// required) that pydantic writes for the same model.
pub(super) fn calendar_event_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "title": "CalendarEvent",
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "title": "Name"},
            "date": {"type": "string", "title": "Date"},
            "participants": {"type": "array", "items": {"type": "string"}, "title": "Participants"}
        },
        "required": ["name", "date", "participants"]
    })
}

/// The api-version of Azure's dated Responses route when the matrix gives none.
pub(super) const DEFAULT_RESPONSES_API_VERSION: &str = "2025-04-01-preview";

/// The prompt of `structured-output` when the matrix gives none.
pub(super) const DEFAULT_STRUCTURED_PROMPT: &str =
    "Alice and Bob are going to a science fair on Friday.";

/// The function tool the `tools` features offer. The replica calls a tool on its own
/// (`tool_choice` auto) when the prompt shares a word stem with the tool's name or
/// description, so the default prompt asks about the weather.
pub(super) fn weather_tool() -> serde_json::Value {
    serde_json::json!({
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given city",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                },
                "required": ["location"]
            }
        }
    })
}

/// What the app answers a call of [`weather_tool`] with.
pub(super) const WEATHER_TOOL_RESULT: &str = r#"{"temperature": 21, "unit": "celsius"}"#;

/// The prompt of the `tools` features when the matrix gives none.
pub(super) const DEFAULT_TOOLS_PROMPT: &str = "What is the weather in Paris?";

/// One unit that passes or fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `provider/style/feature/driver`, e.g. `azure-openai/openinference/chat/rust`;
    /// python cells add `@<version set>`: `azure-openai/openinference/chat/python@latest`,
    /// and `/<setup>` for setups other than `instrumentor`:
    /// `azure-openai/traceloop/chat/python@latest/honeyhive`.
    pub id: String,
    pub provider: Provider,
    pub style: Style,
    pub feature: Feature,
    pub driver: DriverKind,
    /// How the app wires tracing.
    pub setup: Setup,
    pub plan: FeaturePlan,
    /// The checks, with the eras of the releases the cell runs when they are known
    /// before it runs (a version set's pins; none for the rust driver).
    pub checks: Vec<SpanCheck>,
    /// Every era variant, when the releases are known only once the cell ran (command
    /// cells): the judge picks the checks from the versions the cell reports.
    pub eras: Option<std::sync::Arc<EraChecks>>,
    /// What the setup's backend must receive from this cell (empty: not checked).
    pub backend: Vec<RouteCheck>,
    /// Only the issues that apply to this cell's style, feature and driver.
    pub known_issues: Vec<KnownIssue>,
    pub vars: TemplateVars,
    /// The python driver's pinned packages for this cell's style (None for other drivers).
    pub version_set: Option<CellVersionSet>,
}

impl Cell {
    /// The checks for a run that reported `versions`: the eras those releases satisfy
    /// when they were not known before the run, else the cell's checks.
    pub fn checks_for(&self, versions: &BTreeMap<String, String>) -> &[SpanCheck] {
        match &self.eras {
            Some(eras) => eras.for_versions(versions),
            None => &self.checks,
        }
    }

    /// The version set's name, if the cell runs under one.
    pub fn version_set_name(&self) -> Option<&str> {
        self.version_set.as_ref().map(|v| v.name.as_str())
    }
}

/// Which cells to run. Empty lists mean "all"; patterns are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellFilter {
    pub styles: Vec<Style>,
    pub features: Vec<Feature>,
    pub drivers: Vec<DriverKind>,
    pub setups: Vec<Setup>,
    /// Version set names. Cells without a set (every driver but python) are not
    /// narrowed by this: it selects which environments run, not which drivers.
    pub version_sets: Vec<String>,
    /// Substrings of the cell id, or globs with `*` matched against the whole id.
    pub patterns: Vec<String>,
    /// Only the cells of this shard (`--shard K/N`).
    pub shard: Option<Shard>,
}

/// One of N disjoint parts of a matrix's cells (`--shard K/N`, K from 1). A cell's shard
/// depends on its id alone (a stable hash of it, modulo N), so every machine computes the
/// same partition, adding or removing a cell moves no other cell, and the N shards
/// together hold every cell exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The most shards a run may be split into.
    pub const MAX: u32 = 1024;

    /// `K/N` with 1 ≤ K ≤ N ≤ [`Shard::MAX`].
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > Self::MAX {
            return Err(format!(
                "N must be between 1 and {}, not {count}",
                Self::MAX
            ));
        }
        if index == 0 || index > count {
            return Err(format!("K must be between 1 and {count}, not {index}"));
        }
        Ok(Self { index, count })
    }

    /// True when the cell with this id belongs to this shard.
    pub fn holds(&self, cell_id: &str) -> bool {
        // The hash's high bits pick the shard (multiply-shift): FNV-1a's low bits follow
        // the low bits of the last bytes, which would unbalance a power-of-two N.
        let hash = u128::from(crate::hash::fnv1a(cell_id.as_bytes()));
        ((hash * u128::from(self.count)) >> 64) as u32 == self.index - 1
    }

    /// K (from 1) and N.
    pub fn parts(&self) -> (u32, u32) {
        (self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected K/N, e.g. 1/4, not `{s}`"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected K/N with whole numbers, e.g. 1/4, not `{s}`"))
        };
        Shard::new(number(k)?, number(n)?)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl CellFilter {
    pub fn is_empty(&self) -> bool {
        self.styles.is_empty()
            && self.features.is_empty()
            && self.drivers.is_empty()
            && self.setups.is_empty()
            && self.version_sets.is_empty()
            && self.patterns.is_empty()
            && self.shard.is_none()
    }

    pub fn matches(&self, cell: &Cell) -> bool {
        (self.styles.is_empty() || self.styles.contains(&cell.style))
            && (self.features.is_empty() || self.features.contains(&cell.feature))
            && (self.drivers.is_empty() || self.drivers.contains(&cell.driver))
            && (self.setups.is_empty() || self.setups.contains(&cell.setup))
            && (self.version_sets.is_empty()
                || cell
                    .version_set_name()
                    .is_none_or(|v| self.version_sets.iter().any(|s| s == v)))
            && (self.patterns.is_empty()
                || self.patterns.iter().any(|p| pattern_matches(p, &cell.id)))
            && self.shard.is_none_or(|s| s.holds(&cell.id))
    }

    pub fn apply(&self, cells: Vec<Cell>) -> Vec<Cell> {
        cells.into_iter().filter(|c| self.matches(c)).collect()
    }
}

/// `*` matches any run of characters over the whole id; without `*`, a substring.
pub fn pattern_matches(pattern: &str, id: &str) -> bool {
    if !pattern.contains('*') {
        return id.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_every_id_exactly_once() {
        let ids: Vec<String> = (0..500)
            .map(|i| format!("azure-openai/s{i}/chat/rust"))
            .collect();
        let shards: Vec<Shard> = (1..=4).map(|k| Shard::new(k, 4).expect("valid")).collect();
        let mut sizes = [0usize; 4];
        for id in &ids {
            let owners: Vec<usize> = (0..4).filter(|k| shards[*k].holds(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|n| *n > 90), "unbalanced: {sizes:?}");
        for bad in ["0/4", "5/4", "1/0", "1/1025", "x/4", "4", "-1/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/4".parse::<Shard>().expect("valid").to_string(), "2/4");
    }

    #[test]
    fn patterns_are_substrings_or_globs() {
        let id = "azure-openai/openinference/chat/rust";
        assert!(pattern_matches("openinference", id));
        assert!(pattern_matches("*/chat/*", id));
        assert!(pattern_matches("azure-openai/*/rust", id));
        assert!(pattern_matches("*", id));
        assert!(!pattern_matches("*/streaming/*", id));
        assert!(
            !pattern_matches("openai/*", id),
            "a glob anchors at both ends"
        );
        assert!(pattern_matches("azure*chat*", id));
        assert!(!pattern_matches(
            "azure-openai/openinference/chat/rust/*x",
            id
        ));
    }
}
