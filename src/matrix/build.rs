//! From the file as written to a validated `Matrix`: references, deployment kinds,
//! the expectation layers merged per style × feature, placeholders per cell.

use super::cell::{
    calendar_event_schema, weather_tool, DeploymentRef, FeaturePlan, DEFAULT_RESPONSES_API_VERSION,
    DEFAULT_STRUCTURED_PROMPT, DEFAULT_TOOLS_PROMPT, WEATHER_TOOL_RESULT,
};
use super::error::{MatrixError, Pos};
use super::raw::*;
use super::setups;
use super::versions;
use super::yaml::pos_of;
use super::{LiveSpec, Matrix, TargetSpec};
use crate::expect::{
    AttrAssertion, Count, EraChecks, EventAssertion, KnownIssue, NameMatch, Relation, Selector,
    SpanCheck, StatusExpect, Template, TemplateVars, MAX_ERAS,
};
use crate::replica::{Deployment, DeploymentKind, FaultKind};
use crate::vocab::{did_you_mean, DriverKind, Feature, Provider, Setup, Style};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

pub(super) const DEFAULT_PROMPT: &str = "Say hello";
pub(super) const DEFAULT_API_KEY: &str = "hh-compat-replica-key";

struct Ctx<'a> {
    origin: &'a str,
}

impl Ctx<'_> {
    fn err(&self, pos: Option<Pos>, msg: impl Into<String>) -> MatrixError {
        MatrixError::new(self.origin, pos, msg)
    }
}

pub(super) fn build(raw: RawMatrix, origin: &str) -> Result<Matrix, MatrixError> {
    let cx = Ctx { origin };
    let provider = raw.provider.0;
    let target = target(&cx, provider, raw.target)?;

    let mut deployments: Vec<Deployment> = Vec::new();
    for (name, d) in raw.deployments.0 {
        if let Err(why) = check_deployment_name(&name.value) {
            return Err(cx.err(pos_of(&name), why));
        }
        deployments.push(Deployment {
            name: name.value,
            model: d.model,
            kind: d.kind,
            dimensions: d.dimensions,
            faults: d.faults,
        });
    }

    let mut styles = Vec::new();
    for s in &raw.styles {
        if styles.contains(&s.value.0) {
            return Err(cx.err(pos_of(s), format!("style `{}` is listed twice", s.value.0)));
        }
        styles.push(s.value.0);
    }
    if styles.is_empty() {
        return Err(cx.err(
            Some(Pos::START),
            "`styles` is empty; list at least one of: openinference, traceloop, otel-genai",
        ));
    }
    let drivers_pos = raw.drivers.as_ref().and_then(pos_of);
    let drivers: Vec<DriverKind> = match raw.drivers {
        Some(list) => {
            let mut out: Vec<DriverKind> = Vec::new();
            for d in list.value {
                if !out.contains(&d.0) {
                    out.push(d.0);
                }
            }
            out
        }
        None => vec![DriverKind::Rust],
    };
    let version_sets = versions::build(origin, raw.version_sets, &styles)?;
    if drivers.contains(&DriverKind::Python) && version_sets.is_empty() {
        return Err(cx.err(
            drivers_pos.or(Some(Pos::START)),
            "the python driver needs `version_sets` (the pinned packages its environments \
             install); see docs/matrix.md, \"Version sets\"",
        ));
    }

    let mut features: Vec<(Feature, FeaturePlan)> = Vec::new();
    for (f, params) in raw.features.0 {
        if features.iter().any(|(e, _)| *e == f.value) {
            return Err(cx.err(
                pos_of(&f),
                format!("feature `{}` is defined twice", f.value),
            ));
        }
        let plan = plan(&cx, f.value, params, &deployments)?;
        features.push((f.value, plan));
    }
    if features.is_empty() {
        return Err(cx.err(
            Some(Pos::START),
            "`features` is empty; define at least one feature",
        ));
    }

    let feature_names: Vec<Feature> = features.iter().map(|(f, _)| *f).collect();
    let setups_pos = raw.setups.as_ref().and_then(pos_of);
    let (setups, setup_layers) = setups::build(origin, raw.setups, &styles, &feature_names)?;
    for set in &version_sets {
        for (setup, _) in set.setups.iter().flatten() {
            if !setups.iter().any(|s| s.setup == *setup) {
                return Err(cx.err(
                    setups_pos.or(Some(Pos::START)),
                    format!(
                        "version set `{}` pins packages for setup `{setup}`, which `setups` does not list",
                        set.name
                    ),
                ));
            }
        }
    }
    for spec in &setups {
        if spec.setup != Setup::Instrumentor && !version_sets.iter().any(|v| v.runs(spec.setup)) {
            return Err(cx.err(
                setups_pos.or(Some(Pos::START)),
                format!(
                    "setup `{}` is run by no version set; pin its packages under \
                     `version_sets.<set>.setups.{}`",
                    spec.setup, spec.setup
                ),
            ));
        }
    }
    if let Some((f, _)) = features.iter().find(|(f, _)| {
        !setups
            .iter()
            .any(|s| styles.iter().any(|st| s.applies(*st, *f)))
    }) {
        return Err(cx.err(
            setups_pos.or(Some(Pos::START)),
            format!(
                "feature `{f}` has no setup to run in; `enrichment` needs a setup with \
                 HoneyHive's tracer (honeyhive, honeyhive-instrumentors, honeyhive-late)"
            ),
        ));
    }

    if let Some(overlay) = &raw.overlay_expect {
        for (s, _) in &overlay.styles.0 {
            if !styles.contains(&s.value.0) {
                return Err(cx.err(
                    pos_of(s),
                    format!(
                        "`expect.styles.{}`: the matrix has no such style",
                        s.value.0
                    ),
                ));
            }
        }
    }
    let mut checks = BTreeMap::new();
    let mut all_labels: Vec<String> = Vec::new();
    all_labels.push(crate::expect::BACKEND_CHECK.to_string());
    for (si, style) in styles.iter().enumerate() {
        let eras = eras_of(&cx, &raw.expect, raw.overlay_expect.as_ref(), *style)?;
        for (feature, plan) in &features {
            // Rust and command cells are always `instrumentor` cells.
            let mut in_setups: Vec<Setup> = Vec::new();
            if Setup::Instrumentor.supports(*feature) {
                in_setups.push(Setup::Instrumentor);
            }
            for spec in &setups {
                if spec.applies(*style, *feature) && !in_setups.contains(&spec.setup) {
                    in_setups.push(spec.setup);
                }
            }
            for setup in in_setups {
                let mut variants = Vec::with_capacity(1 << eras.len());
                for mask in 0..(1usize << eras.len()) {
                    // The file's own layers (with the eras in `mask`), then those of a
                    // matrix extending it, then the setup's.
                    let mut layers: Vec<&RawChecks> = Vec::new();
                    let mut first_era = 0;
                    for expect in std::iter::once(&raw.expect).chain(raw.overlay_expect.as_ref()) {
                        layers.extend(expect_layers(expect, *style, *feature, first_era, mask));
                        first_era += style_eras(expect, *style).len();
                    }
                    for (_, sl) in setup_layers.iter().filter(|(s, _)| *s == setup) {
                        layers.push(&sl.all);
                        layers.extend(feature_layers(sl, *feature));
                    }
                    let merged = merge(&layers);
                    if merged.is_empty() {
                        let era = match mask {
                            0 => String::new(),
                            _ => " with its eras".to_string(),
                        };
                        return Err(cx.err(
                            pos_of(&raw.styles[si]),
                            format!(
                                "style `{style}` has no expectations for feature `{feature}` (setup `{setup}`){era}: a cell \
                                 without checks would pass without proving anything; add checks under `expect.all`, \
                                 `expect.styles.{style}.all`, `expect.styles.{style}.{feature}` or the setup's `expect`"
                            ),
                        ));
                    }
                    let vars =
                        cell_vars(provider, &target, *style, *feature, DriverKind::Rust, plan);
                    let mut resolved = Vec::new();
                    for m in merged {
                        if !all_labels.contains(&m.label) {
                            all_labels.push(m.label.clone());
                        }
                        resolved.push(to_check(&cx, m, &vars, *style, *feature)?);
                    }
                    variants.push(resolved);
                }
                let ranges = eras.iter().map(|(when, _)| when.clone()).collect();
                checks.insert((*style, *feature, setup), EraChecks::new(ranges, variants));
            }
        }
    }

    let mut known_issues: Vec<KnownIssue> = Vec::new();
    for k in raw.known_issues {
        if known_issues.iter().any(|e| e.id == k.id.value) {
            return Err(cx.err(
                pos_of(&k.id),
                format!("known issue id `{}` is used twice", k.id.value),
            ));
        }
        if let Some(check) = &k.check {
            if !all_labels.contains(&check.value) {
                let hint = did_you_mean(&check.value, all_labels.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(cx.err(
                    pos_of(check),
                    format!(
                        "known issue `{}` names check `{}`, which no cell has{hint}; checks: {}",
                        k.id.value,
                        check.value,
                        all_labels.join(", ")
                    ),
                ));
            }
        }
        let mut issue_sets: Vec<String> = Vec::new();
        for set in &k.version_sets {
            versions::lookup(&version_sets, &set.value)
                .map_err(|m| cx.err(pos_of(set), format!("known issue `{}`: {m}", k.id.value)))?;
            issue_sets.push(set.value.clone());
        }
        let when = package_ranges(&cx, &k.when, &format!("known issue `{}`", k.id.value))?;
        known_issues.push(KnownIssue {
            id: k.id.value,
            summary: k.summary.unwrap_or_default(),
            styles: k.styles.into_iter().map(|s| s.0).collect(),
            features: k.features.into_iter().map(|s| s.0).collect(),
            drivers: k.drivers.into_iter().map(|s| s.0).collect(),
            setups: k.setups.into_iter().map(|s| s.0).collect(),
            version_sets: issue_sets,
            when,
            error: k.error.map(|e| crate::expect::ErrorMatch {
                kind: e.kind.0,
                exception: e.exception,
                message: e.message,
            }),
            check: k.check.map(|c| c.value),
            attribute: k.attribute,
            event: k.event,
            subject: k.subject,
            reason: k.reason,
            link: k.link,
        });
    }

    let live = live(&cx, raw.live, &deployments)?;
    Ok(Matrix {
        origin: origin.to_string(),
        provider,
        target,
        deployments,
        styles,
        drivers,
        version_sets,
        setups,
        features,
        checks,
        known_issues,
        live,
    })
}

/// A `when:` mapping: package names (normalized as the index compares them) and pip
/// version ranges, each refused at its position when malformed. `what` names the owner
/// in messages.
fn package_ranges(
    cx: &Ctx,
    raw: &RawWhen,
    what: &str,
) -> Result<Vec<crate::expect::PackageRange>, MatrixError> {
    let mut when = Vec::new();
    for (package, range) in &raw.0 {
        let name = crate::pep440::normalize_name(&package.value);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(cx.err(
                pos_of(package),
                format!("{what}: `{}` is not a package name", package.value),
            ));
        }
        let range = crate::pep440::Specifiers::parse(&range.value).map_err(|m| {
            cx.err(
                pos_of(range),
                format!("{what}, `when.{}`: {m}", package.value),
            )
        })?;
        when.push(crate::expect::PackageRange {
            package: name,
            range,
        });
    }
    Ok(when)
}

/// Azure's rule for deployment names: 1 to 64 letters, digits, `-`, `_` and `.`. Anything
/// else (a `/`, a space, `?`, `#`, a line break) cannot be a URL path segment as the
/// deployment routes need, and would fail every cell instead of the load.
pub(crate) fn check_deployment_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a deployment name cannot be empty".into());
    }
    if name.len() > 64 {
        return Err(format!(
            "a deployment name has at most 64 characters; this one has {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "deployment name {name:?} contains {bad:?}: Azure deployment names use letters, \
             digits, `-`, `_` and `.` only"
        ));
    }
    Ok(())
}

/// Validates the `live` section: known deployments, environment-variable-shaped names.
fn live(
    cx: &Ctx,
    raw: Option<RawLive>,
    deployments: &[Deployment],
) -> Result<LiveSpec, MatrixError> {
    let mut spec = LiveSpec::default();
    let Some(raw) = raw else {
        return Ok(spec);
    };
    for (name, var) in raw.deployments.0 {
        if !deployments.iter().any(|d| d.name == name.value) {
            let hint = did_you_mean(&name.value, deployments.iter().map(|d| d.name.as_str()))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(cx.err(
                pos_of(&name),
                format!(
                    "`live.deployments` names deployment `{}`, which is not defined{hint}",
                    name.value
                ),
            ));
        }
        if !is_env_var_name(&var.value) {
            return Err(cx.err(
                pos_of(&var),
                format!(
                    "`{}` is not an environment variable name (use A-Z, 0-9 and _, e.g. AZURE_OPENAI_DEPLOYMENT_NAME)",
                    var.value
                ),
            ));
        }
        spec.deployments.push((name.value, var.value));
    }
    Ok(spec)
}

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// One `expect` block's layers for a style × feature, in order: all, style, feature,
/// then each era of the style whose bit is set in `mask` (the block's first era is bit
/// `first_era`): its `all`, then its feature layer.
fn expect_layers(
    expect: &RawExpect,
    style: Style,
    feature: Feature,
    first_era: usize,
    mask: usize,
) -> Vec<&RawChecks> {
    let mut layers = vec![&expect.all];
    if let Some((_, sl)) = expect.styles.0.iter().find(|(s, _)| s.value.0 == style) {
        layers.push(&sl.all);
        layers.extend(feature_layers(sl, feature));
        for (i, era) in style_eras(expect, style).iter().enumerate() {
            if mask & (1 << (first_era + i)) != 0 {
                layers.push(&era.layers.all);
                layers.extend(feature_layers(&era.layers, feature));
            }
        }
    }
    layers
}

/// A set of layers' checks for one feature (none when it has no layer for it).
fn feature_layers(sl: &RawStyleExpect, feature: Feature) -> impl Iterator<Item = &RawChecks> {
    (sl.features.iter())
        .filter(move |(f, _)| *f == feature)
        .map(|(_, c)| c)
}

/// The eras one `expect` block gives a style, in file order.
fn style_eras(expect: &RawExpect, style: Style) -> &[RawEra] {
    (expect.styles.0.iter())
        .find(|(s, _)| s.value.0 == style)
        .and_then(|(_, sl)| sl.eras.as_ref())
        .map_or(&[], |e| e.value.as_slice())
}

/// A style's eras across the matrix and the one extending it (in that order), each
/// with its validated `when`. At most [`MAX_ERAS`]: every combination is merged.
fn eras_of<'r>(
    cx: &Ctx,
    expect: &'r RawExpect,
    overlay: Option<&'r RawExpect>,
    style: Style,
) -> Result<Vec<(Vec<crate::expect::PackageRange>, &'r RawEra)>, MatrixError> {
    let mut out = Vec::new();
    for expect in std::iter::once(expect).chain(overlay) {
        let Some((_, sl)) = expect.styles.0.iter().find(|(s, _)| s.value.0 == style) else {
            continue;
        };
        let Some(eras) = &sl.eras else { continue };
        for era in &eras.value {
            let what = format!("an era of style `{style}`");
            if era.when.value.0.is_empty() {
                return Err(cx.err(
                    pos_of(&era.when),
                    format!("{what}: `when` is empty; name the releases the era concerns, e.g. {{opentelemetry-instrumentation-openai: \"<0.62.4\"}}"),
                ));
            }
            out.push((package_ranges(cx, &era.when.value, &what)?, era));
        }
        if out.len() > MAX_ERAS {
            return Err(cx.err(
                pos_of(eras),
                format!(
                    "style `{style}` has {} eras; at most {MAX_ERAS} are allowed",
                    out.len()
                ),
            ));
        }
    }
    Ok(out)
}

fn target(cx: &Ctx, provider: Provider, t: Spanned<RawTarget>) -> Result<TargetSpec, MatrixError> {
    let pos = pos_of(&t);
    let t = t.value;
    let azure = matches!(provider, Provider::AzureOpenAi | Provider::AzureOpenAiV1);
    let host = match (&t.host, &t.resource) {
        (Some(h), _) => h.clone(),
        (None, Some(r)) if azure => format!("{r}.openai.azure.com"),
        (None, None) if azure => {
            return Err(cx.err(pos, format!("provider `{provider}` needs `target.resource` (the Azure resource name; the host is `{{resource}}.openai.azure.com`)")))
        }
        (None, _) => "api.openai.com".to_string(),
    };
    if !azure && t.resource.is_some() {
        return Err(cx.err(pos, format!("`target.resource` is an Azure resource name; provider `{provider}` has none (use `host` to change the endpoint)")));
    }
    if provider == Provider::AzureOpenAi && t.api_version.is_none() {
        return Err(cx.err(
            pos,
            "provider `azure-openai` needs `target.api_version`, e.g. \"2024-10-21\"",
        ));
    }
    if let Some(version) = &t.api_version {
        let known: &[&str] = match provider {
            Provider::AzureOpenAi => crate::replica::SUPPORTED_API_VERSIONS,
            Provider::AzureOpenAiV1 => crate::replica::V1_API_VERSIONS,
            Provider::OpenAi => &[],
        };
        if !known.is_empty() && !known.contains(&version.as_str()) {
            let hint = did_you_mean(version, known.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(cx.err(
                pos,
                format!(
                    "api-version `{version}` is not one Azure serves for provider `{provider}`{hint} \
                     (known: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    if provider == Provider::OpenAi && t.api_version.is_some() {
        return Err(cx.err(
            pos,
            "`target.api_version` applies to Azure providers only; remove it for `openai`",
        ));
    }
    if host.trim().is_empty() || host.contains('/') {
        return Err(cx.err(
            pos,
            format!(
                "`{host}` is not a host name (no scheme or path, e.g. contoso.openai.azure.com)"
            ),
        ));
    }
    let endpoint = match &t.endpoint {
        None => crate::endpoint::EndpointForm::default(),
        Some(raw) => crate::endpoint::EndpointForm::parse(&raw.value, &host)
            .map_err(|e| cx.err(pos_of(raw), format!("`target.endpoint`: {e}")))?,
    };
    Ok(TargetSpec {
        resource: t.resource,
        host,
        api_version: t.api_version,
        api_key: t.api_key.unwrap_or_else(|| DEFAULT_API_KEY.to_string()),
        shapes: t.shapes,
        endpoint,
        api_version_env: t.api_version_env,
    })
}

fn lookup(
    cx: &Ctx,
    feature: Feature,
    name: &Spanned<String>,
    want: DeploymentKind,
    deployments: &[Deployment],
) -> Result<DeploymentRef, MatrixError> {
    let Some(d) = deployments.iter().find(|d| d.name == name.value) else {
        let hint = did_you_mean(&name.value, deployments.iter().map(|d| d.name.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let defined: Vec<&str> = deployments.iter().map(|d| d.name.as_str()).collect();
        return Err(cx.err(
            pos_of(name),
            format!(
                "feature `{feature}` names deployment `{}`, which is not defined{hint}; defined deployments: {}",
                name.value,
                defined.join(", ")
            ),
        ));
    };
    if d.kind() != want {
        let (is, needs) = match want {
            DeploymentKind::Chat => ("an embedding", "a chat"),
            DeploymentKind::Embedding => ("a chat", "an embedding"),
        };
        return Err(cx.err(
            pos_of(name),
            format!(
                "feature `{feature}` needs {needs} deployment, but `{}` is {is} deployment (model `{}`)",
                d.name, d.model
            ),
        ));
    }
    Ok(DeploymentRef {
        name: d.name.clone(),
        model: d.model.clone(),
    })
}

fn plan(
    cx: &Ctx,
    feature: Feature,
    params: RawFeatureParams,
    deps: &[Deployment],
) -> Result<FeaturePlan, MatrixError> {
    let prompt = |p: &Option<String>| p.clone().unwrap_or_else(|| DEFAULT_PROMPT.to_string());
    Ok(match params {
        RawFeatureParams::Chat(p) => {
            let deployment = lookup(cx, feature, &p.deployment, DeploymentKind::Chat, deps)?;
            let has_async_filter = deps.iter().any(|d| {
                d.name == deployment.name
                    && d.faults.iter().any(|f| f.kind == FaultKind::AsyncFilter)
            });
            if feature == Feature::StreamingAsyncFilter && !has_async_filter {
                return Err(cx.err(
                    pos_of(&p.deployment),
                    format!(
                        "feature `{feature}` needs a deployment whose faults include `{{kind: async_filter}}`; `{}` has none",
                        deployment.name
                    ),
                ));
            }
            if feature == Feature::Chat {
                FeaturePlan::Chat {
                    deployment,
                    prompt: prompt(&p.prompt),
                    max_tokens: p.max_tokens,
                    temperature: p.temperature,
                }
            } else {
                FeaturePlan::Streaming {
                    deployment,
                    prompt: prompt(&p.prompt),
                    max_tokens: p.max_tokens,
                    temperature: p.temperature,
                    include_usage: feature == Feature::StreamingUsage,
                }
            }
        }
        RawFeatureParams::Prompt(p) => {
            let deployment = lookup(cx, feature, &p.deployment, DeploymentKind::Chat, deps)?;
            if feature == Feature::StructuredOutput {
                FeaturePlan::StructuredOutput {
                    deployment,
                    prompt: p
                        .prompt
                        .clone()
                        .unwrap_or_else(|| DEFAULT_STRUCTURED_PROMPT.to_string()),
                    schema_name: "calendar_event".to_string(),
                    schema: calendar_event_schema(),
                }
            } else if feature == Feature::StreamAbandoned {
                FeaturePlan::StreamAbandoned {
                    deployment,
                    prompt: prompt(&p.prompt),
                }
            } else {
                FeaturePlan::Tools {
                    deployment,
                    prompt: p
                        .prompt
                        .clone()
                        .unwrap_or_else(|| DEFAULT_TOOLS_PROMPT.to_string()),
                    tool: weather_tool(),
                    tool_result: WEATHER_TOOL_RESULT.to_string(),
                    stream: feature == Feature::StreamingTools,
                }
            }
        }
        RawFeatureParams::Responses(p) => FeaturePlan::Responses {
            deployment: lookup(cx, feature, &p.deployment, DeploymentKind::Chat, deps)?,
            prompt: prompt(&p.prompt),
            instructions: p.instructions.clone(),
            api_version: p
                .api_version
                .clone()
                .unwrap_or_else(|| DEFAULT_RESPONSES_API_VERSION.to_string()),
            stream: feature == Feature::ResponsesStreaming,
        },
        RawFeatureParams::ChatAndEmbeddings(p) => {
            let deployment = lookup(cx, feature, &p.deployment, DeploymentKind::Chat, deps)?;
            let embedding_deployment = lookup(
                cx,
                feature,
                &p.embedding_deployment,
                DeploymentKind::Embedding,
                deps,
            )?;
            let inputs = embedding_inputs(cx, p.inputs, &p.embedding_deployment)?;
            let prompt = prompt(&p.prompt);
            if feature == Feature::RawResponse {
                FeaturePlan::RawResponse {
                    deployment,
                    embedding_deployment,
                    prompt,
                    inputs,
                }
            } else {
                FeaturePlan::Async {
                    deployment,
                    embedding_deployment,
                    prompt,
                    inputs,
                }
            }
        }
        RawFeatureParams::Embeddings(p) => {
            let deployment = lookup(cx, feature, &p.deployment, DeploymentKind::Embedding, deps)?;
            let inputs = embedding_inputs(cx, p.inputs, &p.deployment)?;
            FeaturePlan::Embeddings {
                deployment,
                inputs,
                dimensions: p.dimensions,
            }
        }
        RawFeatureParams::Multi(p) => {
            if p.deployments.value.len() < 2 {
                return Err(cx.err(
                    pos_of(&p.deployments),
                    "`multi-deployment` needs at least two deployments",
                ));
            }
            let mut refs: Vec<DeploymentRef> = Vec::new();
            for d in &p.deployments.value {
                let r = lookup(cx, feature, d, DeploymentKind::Chat, deps)?;
                if refs.iter().any(|e| e.name == r.name) {
                    return Err(cx.err(pos_of(d), format!("deployment `{}` is listed twice; multi-deployment needs distinct deployments", r.name)));
                }
                refs.push(r);
            }
            FeaturePlan::MultiDeployment {
                deployments: refs,
                prompt: prompt(&p.prompt),
            }
        }
        RawFeatureParams::Errors(p) => {
            if deps.iter().any(|d| d.name == p.missing_deployment.value) {
                return Err(cx.err(
                    pos_of(&p.missing_deployment),
                    format!("`missing_deployment: {}` is a defined deployment, so it would not answer 404; use a name that is not under `deployments`", p.missing_deployment.value),
                ));
            }
            let flaky = lookup(cx, feature, &p.flaky_deployment, DeploymentKind::Chat, deps)?;
            let has_rate_limit = deps.iter().any(|d| {
                d.name == flaky.name && d.faults.iter().any(|f| f.kind == FaultKind::RateLimit)
            });
            if !has_rate_limit {
                return Err(cx.err(
                    pos_of(&p.flaky_deployment),
                    format!(
                        "`flaky_deployment: {}` has no rate_limit fault; add `faults: [{{kind: rate_limit, times: 1, retry_after_ms: 20}}]` to that deployment",
                        flaky.name
                    ),
                ));
            }
            FeaturePlan::Errors {
                missing_deployment: p.missing_deployment.value.clone(),
                flaky,
                prompt: prompt(&p.prompt),
            }
        }
        RawFeatureParams::Enrichment(p) => {
            let deployment = lookup(cx, feature, &p.deployment, DeploymentKind::Chat, deps)?;
            let metadata = match p.metadata {
                Some(m) => m.0,
                // The guide's own call: enrich_span({provider, deployment, region}).
                None => vec![
                    ("provider".to_string(), "azure_openai".to_string()),
                    ("deployment".to_string(), deployment.name.clone()),
                    ("region".to_string(), "eastus".to_string()),
                ],
            };
            FeaturePlan::Enrichment {
                deployment,
                prompt: prompt(&p.prompt),
                metadata,
            }
        }
    })
}

/// An embeddings feature's inputs: `[Hello, World]` when absent, never empty.
fn embedding_inputs(
    cx: &Ctx,
    inputs: Option<Vec<String>>,
    at: &Spanned<String>,
) -> Result<Vec<String>, MatrixError> {
    let inputs = inputs.unwrap_or_else(|| vec!["Hello".into(), "World".into()]);
    if inputs.is_empty() {
        return Err(cx.err(
            pos_of(at),
            "`inputs` is empty; embeddings need at least one input",
        ));
    }
    Ok(inputs)
}

/// The placeholder values of one cell.
pub(super) fn cell_vars(
    provider: Provider,
    target: &TargetSpec,
    style: Style,
    feature: Feature,
    driver: DriverKind,
    plan: &FeaturePlan,
) -> TemplateVars {
    let mut v = TemplateVars::new();
    v.set("provider", provider.as_str())
        .set("style", style.as_str())
        .set("feature", feature.as_str())
        .set("driver", driver.as_str())
        .set("host", target.host.as_str());
    if let Some(r) = &target.resource {
        v.set("resource", r.as_str());
    }
    if let Some(a) = &target.api_version {
        v.set("api_version", a.as_str());
    }
    if let FeaturePlan::Chat { prompt, .. } | FeaturePlan::Streaming { prompt, .. } = plan {
        // `{answer}` is what the service said, known only once the cell ran: the
        // judge sets it from the driver's report.
        v.set("prompt", prompt.as_str()).set("answer", "");
    }
    if let FeaturePlan::Tools { .. } = plan {
        // The call the service made, known once the cell ran (as `{answer}`).
        v.set("tool_call_id", "").set("tool_arguments", "");
    }
    match plan {
        FeaturePlan::Chat { deployment, .. }
        | FeaturePlan::Streaming { deployment, .. }
        | FeaturePlan::Embeddings { deployment, .. }
        | FeaturePlan::Enrichment { deployment, .. }
        | FeaturePlan::Tools { deployment, .. }
        | FeaturePlan::StructuredOutput { deployment, .. }
        | FeaturePlan::Responses { deployment, .. }
        | FeaturePlan::StreamAbandoned { deployment, .. } => {
            v.set("deployment", deployment.name.as_str())
                .set("model", deployment.model.as_str());
        }
        FeaturePlan::RawResponse { .. } | FeaturePlan::Async { .. } => {
            // Their deployments are the chat one, then the embeddings one.
            if let [chat, embedding] = plan.deployments()[..] {
                v.set("deployment", chat.name.as_str())
                    .set("model", chat.model.as_str())
                    .set("embedding_deployment", embedding.name.as_str())
                    .set("embedding_model", embedding.model.as_str());
            }
        }
        FeaturePlan::MultiDeployment { deployments, .. } => {
            let names: Vec<String> = deployments.iter().map(|d| d.name.clone()).collect();
            let models: Vec<String> = deployments.iter().map(|d| d.model.clone()).collect();
            // `{deployment}`/`{model}` stand for any one of them, so a check written for
            // every feature (`expect.all`, a style's `all`) holds here per span.
            v.set_list("deployment", names.clone())
                .set_list("model", models.clone())
                .set_list("deployments", names)
                .set_list("models", models);
        }
        FeaturePlan::Errors {
            missing_deployment,
            flaky,
            ..
        } => {
            v.set("deployment", flaky.name.as_str())
                .set("model", flaky.model.as_str())
                .set("flaky_deployment", flaky.name.as_str())
                .set("flaky_model", flaky.model.as_str())
                .set("missing_deployment", missing_deployment.as_str());
        }
    }
    v
}

/// One check after the layers are merged; positions kept for error messages.
#[derive(Debug, Clone)]
struct Merged {
    label: String,
    pos: Option<Pos>,
    name: Option<RawName>,
    kind: Option<crate::capture::SpanKind>,
    where_: Vec<(String, Option<Pos>, RawAttr)>,
    count: Option<Count>,
    status: Option<StatusExpect>,
    attributes: Vec<(String, Option<Pos>, RawAttr)>,
    events: Vec<(String, Count)>,
    relations: Vec<RawRelation>,
}

/// Later layers win. Per check: fields that are set replace, `null` clears; attributes,
/// `where` and events merge by key (`null` removes a key); relations replace as a list.
/// A check set to `null` is removed. Checks keep the order they first appeared in.
fn merge(layers: &[&RawChecks]) -> Vec<Merged> {
    let mut out: Vec<Merged> = Vec::new();
    for layer in layers {
        for (label, check) in &layer.0 {
            let Some(check) = check else {
                out.retain(|m| m.label != label.value);
                continue;
            };
            let idx = match out.iter().position(|m| m.label == label.value) {
                Some(i) => i,
                None => {
                    out.push(Merged {
                        label: label.value.clone(),
                        pos: pos_of(label),
                        name: None,
                        kind: None,
                        where_: Vec::new(),
                        count: None,
                        status: None,
                        attributes: Vec::new(),
                        events: Vec::new(),
                        relations: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let m = &mut out[idx];
            if let Some(v) = &check.name {
                m.name = v.clone();
            }
            if let Some(v) = check.kind {
                m.kind = v;
            }
            if let Some(v) = check.count {
                m.count = v.map(|c| c.0);
            }
            if let Some(v) = &check.status {
                m.status = v.as_ref().map(|s| s.0.clone());
            }
            if let Some(attrs) = &check.where_ {
                merge_attrs(&mut m.where_, attrs);
            }
            if let Some(attrs) = &check.attributes {
                merge_attrs(&mut m.attributes, attrs);
            }
            if let Some(events) = &check.events {
                for (name, count) in &events.0 {
                    let slot = m.events.iter().position(|(n, _)| *n == name.value);
                    match (count, slot) {
                        (None, Some(i)) => {
                            m.events.remove(i);
                        }
                        (None, None) => {}
                        (Some(c), Some(i)) => m.events[i].1 = c.0,
                        (Some(c), None) => m.events.push((name.value.clone(), c.0)),
                    }
                }
            }
            if let Some(r) = &check.relations {
                m.relations = r.clone();
            }
        }
    }
    out
}

fn merge_attrs(into: &mut Vec<(String, Option<Pos>, RawAttr)>, layer: &RawAttrs) {
    for (key, attr) in &layer.0 {
        let slot = into.iter().position(|(k, _, _)| *k == key.value);
        match (attr, slot) {
            (None, Some(i)) => {
                into.remove(i);
            }
            (None, None) => {}
            (Some(a), Some(i)) => into[i] = (key.value.clone(), pos_of(key), a.clone()),
            (Some(a), None) => into.push((key.value.clone(), pos_of(key), a.clone())),
        }
    }
}

fn check_templates<'a>(
    cx: &Ctx,
    templates: impl IntoIterator<Item = &'a Template>,
    pos: Option<Pos>,
    vars: &TemplateVars,
    style: Style,
    feature: Feature,
) -> Result<(), MatrixError> {
    for t in templates {
        t.check_vars(vars).map_err(|e| {
            cx.err(
                pos,
                format!(
                    "in `{}` (style `{style}`, feature `{feature}`): {e}",
                    t.as_str()
                ),
            )
        })?;
    }
    Ok(())
}

fn attr_templates(a: &AttrAssertion) -> Vec<&Template> {
    match a {
        AttrAssertion::Equals(crate::expect::Expected::Text(t))
        | AttrAssertion::NotEquals(crate::expect::Expected::Text(t))
        | AttrAssertion::Contains(t) => vec![t],
        AttrAssertion::Regex(r) => vec![r.template()],
        AttrAssertion::OneOf(items) => items
            .iter()
            .filter_map(|e| match e {
                crate::expect::Expected::Text(t) => Some(t),
                crate::expect::Expected::Value(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn attrs(
    cx: &Ctx,
    list: &[(String, Option<Pos>, RawAttr)],
    vars: &TemplateVars,
    style: Style,
    feature: Feature,
) -> Result<Vec<(String, AttrAssertion)>, MatrixError> {
    let mut out = Vec::new();
    for (key, pos, raw) in list {
        for a in &raw.0 {
            check_templates(cx, attr_templates(a), *pos, vars, style, feature)?;
            out.push((key.clone(), a.clone()));
        }
    }
    Ok(out)
}

fn name_match(name: &Option<RawName>) -> Option<NameMatch> {
    name.as_ref().map(|n| match n {
        RawName::Exact(t) => NameMatch::Exact(t.clone()),
        RawName::Regex(r) => NameMatch::Regex(r.clone()),
    })
}

fn selector(
    cx: &Ctx,
    name: &Option<RawName>,
    kind: Option<crate::capture::SpanKind>,
    where_: &[(String, Option<Pos>, RawAttr)],
    pos: Option<Pos>,
    (vars, style, feature): (&TemplateVars, Style, Feature),
) -> Result<Selector, MatrixError> {
    let name = name_match(name);
    let templates: Vec<&Template> = match &name {
        Some(NameMatch::Exact(t)) => vec![t],
        Some(NameMatch::Regex(r)) => vec![r.template()],
        None => vec![],
    };
    check_templates(cx, templates, pos, vars, style, feature)?;
    Ok(Selector {
        name,
        kind,
        attributes: attrs(cx, where_, vars, style, feature)?,
    })
}

fn to_check(
    cx: &Ctx,
    m: Merged,
    vars: &TemplateVars,
    style: Style,
    feature: Feature,
) -> Result<SpanCheck, MatrixError> {
    let select = selector(
        cx,
        &m.name,
        m.kind,
        &m.where_,
        m.pos,
        (vars, style, feature),
    )?;
    let mut relations = Vec::new();
    for r in &m.relations {
        relations.push(match r {
            RawRelation::SameTrace => Relation::SameTrace,
            RawRelation::Root => Relation::Root,
            RawRelation::CommonParent => Relation::CommonParent,
            RawRelation::Parent(sel) => {
                let where_: Vec<(String, Option<Pos>, RawAttr)> = sel
                    .where_
                    .as_ref()
                    .map(|w| {
                        w.0.iter()
                            .filter_map(|(k, a)| a.clone().map(|a| (k.value.clone(), pos_of(k), a)))
                            .collect()
                    })
                    .unwrap_or_default();
                Relation::Parent(selector(
                    cx,
                    &sel.name,
                    sel.kind,
                    &where_,
                    m.pos,
                    (vars, style, feature),
                )?)
            }
        });
    }
    Ok(SpanCheck {
        label: m.label,
        select,
        count: m.count.unwrap_or_default(),
        status: m.status,
        attributes: attrs(cx, &m.attributes, vars, style, feature)?,
        events: m
            .events
            .into_iter()
            .map(|(name, count)| EventAssertion { name, count })
            .collect(),
        relations,
    })
}
