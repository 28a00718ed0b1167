//! The matrix: which cells exist and what each must prove.
//!
//! A matrix file (`matrix/<provider>.yaml`, documented in `docs/matrix.md`) names the
//! provider and target, the deployments the replica serves, the styles, drivers and
//! features, the expectations (layered: all → style → style × feature) and known
//! issues. [`load_file`] / [`parse_str`] validate it completely, so a loaded
//! [`Matrix`] expands into [`Cell`]s that are ready to run.

mod build;
mod cell;
mod error;
mod live;
mod overlay;
pub(crate) mod pins;
mod raw;
mod setups;
mod shipped;
mod versions;
mod yaml;

pub use cell::{pattern_matches, Cell, CellFilter, DeploymentRef, FeaturePlan, Shard};
pub use error::{MatrixError, Pos};
pub use live::LiveSpec;
pub use setups::SetupSpec;
pub use versions::{parse_pin, CellVersionSet, VersionSet};
pub use yaml::MAX_MATRIX_BYTES;

pub use crate::endpoint::EndpointForm;

use crate::expect::{EraChecks, KnownIssue, SpanCheck};
use crate::replica::Deployment;
use crate::vocab::{DriverKind, Feature, Provider, Setup, Style};
pub(crate) use build::check_deployment_name;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the calls go, as the matrix describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The Azure resource name (Azure providers).
    pub resource: Option<String>,
    /// `{resource}.openai.azure.com`, `api.openai.com`, or the file's `host`.
    pub host: String,
    pub api_version: Option<String>,
    api_key: String,
    /// The month whose Azure shapes the offline replica answers in; `None`: the newest.
    pub shapes: Option<crate::replica::Shapes>,
    /// The form of the endpoint string apps receive (`target.endpoint`).
    pub endpoint: crate::endpoint::EndpointForm,
    /// Whether command cells get `OPENAI_API_VERSION` (`target.api_version_env`).
    pub api_version_env: bool,
}

impl TargetSpec {
    /// The key the replica accepts. Not a real secret, but never printed.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

impl fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetSpec")
            .field("resource", &self.resource)
            .field("host", &self.host)
            .field("api_version", &self.api_version)
            .field("api_key", &"***")
            .finish()
    }
}

/// A validated matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    origin: String,
    provider: Provider,
    target: TargetSpec,
    deployments: Vec<Deployment>,
    styles: Vec<Style>,
    drivers: Vec<DriverKind>,
    version_sets: Vec<VersionSet>,
    setups: Vec<SetupSpec>,
    features: Vec<(Feature, FeaturePlan)>,
    checks: BTreeMap<(Style, Feature, Setup), EraChecks>,
    known_issues: Vec<KnownIssue>,
    live: LiveSpec,
}

impl Matrix {
    /// The file (or name) it was loaded from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    pub fn target(&self) -> &TargetSpec {
        &self.target
    }
    /// The same matrix with apps given the endpoint in the form `raw` (`run --endpoint`),
    /// which must name the target's host.
    pub fn with_endpoint(mut self, raw: &str) -> Result<Self, String> {
        self.target.endpoint = crate::endpoint::EndpointForm::parse(raw, &self.target.host)?;
        Ok(self)
    }
    /// The same matrix with `requirements` (`package==version`) pinned in the named
    /// version sets (all when empty): python cells run those releases (`run --with`).
    pub fn with_pins(mut self, sets: &[String], requirements: &[String]) -> Result<Self, String> {
        for set in &mut self.version_sets {
            if sets.is_empty() || sets.contains(&set.name) {
                for requirement in requirements {
                    set.pin(requirement)?;
                }
            }
        }
        Ok(self)
    }
    /// The same matrix with the set `name`'s pins moved to `versions` (package →
    /// version), where it pins them (a `newest: true` set, once resolved).
    pub fn with_versions(mut self, name: &str, versions: &BTreeMap<String, String>) -> Self {
        for set in self.version_sets.iter_mut().filter(|s| s.name == name) {
            for (package, version) in versions {
                set.move_pin(package, version);
            }
        }
        self
    }
    /// The same matrix with command cells given `OPENAI_API_VERSION` (`run --api-version-env`).
    pub fn with_api_version_env(mut self) -> Self {
        self.target.api_version_env = true;
        self
    }
    /// The deployments the replica should serve, in file order.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }
    pub fn api_key(&self) -> &str {
        self.target.api_key()
    }
    pub fn styles(&self) -> &[Style] {
        &self.styles
    }
    pub fn drivers(&self) -> &[DriverKind] {
        &self.drivers
    }
    /// The python driver's version sets, in file order.
    pub fn version_sets(&self) -> &[VersionSet] {
        &self.version_sets
    }
    /// The set called `name`, or an error naming the defined ones (with a did-you-mean).
    pub fn version_set(&self, name: &str) -> Result<&VersionSet, String> {
        versions::lookup(&self.version_sets, name)
    }
    /// How apps wire tracing, in file order (`instrumentor` alone when the file says
    /// nothing).
    pub fn setups(&self) -> &[SetupSpec] {
        &self.setups
    }
    pub fn features(&self) -> &[(Feature, FeaturePlan)] {
        &self.features
    }
    pub fn known_issues(&self) -> &[KnownIssue] {
        &self.known_issues
    }
    /// Adds a driver (e.g. `command`, which no shipped matrix lists) after the others.
    pub fn add_driver(&mut self, driver: DriverKind) {
        if !self.drivers.contains(&driver) {
            self.drivers.push(driver);
        }
    }
    /// How deployments are named on a live resource.
    pub fn live(&self) -> &LiveSpec {
        &self.live
    }
    /// The merged checks of one style × feature in the `instrumentor` setup (None when
    /// the pair is not in the matrix).
    pub fn checks(&self, style: Style, feature: Feature) -> Option<&[SpanCheck]> {
        self.setup_checks(style, feature, Setup::Instrumentor)
    }

    /// The merged checks of one style × feature × setup: the style's layers, then the
    /// setup's (without eras).
    pub fn setup_checks(
        &self,
        style: Style,
        feature: Feature,
        setup: Setup,
    ) -> Option<&[SpanCheck]> {
        self.checks
            .get(&(style, feature, setup))
            .map(EraChecks::base)
    }

    /// The merged checks of one style × feature × setup for a cell that ran `versions`:
    /// with the style's eras whose `when` those releases satisfy.
    pub fn checks_for(
        &self,
        style: Style,
        feature: Feature,
        setup: Setup,
        versions: &BTreeMap<String, String>,
    ) -> Option<&[SpanCheck]> {
        (self.checks.get(&(style, feature, setup))).map(|c| c.for_versions(versions))
    }

    /// Every cell, in a stable order: style (file order), feature (file order), driver,
    /// version set (file order), then setup (file order). Python cells exist once per
    /// version set and setup that cover their style and feature, with ids
    /// `provider/style/feature/python@set` (setup `instrumentor`) or
    /// `provider/style/feature/python@set/setup`; other drivers are `instrumentor` cells
    /// without a version set, ids `provider/style/feature/driver`.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::new();
        for style in &self.styles {
            for (feature, plan) in &self.features {
                for driver in &self.drivers {
                    if *driver != DriverKind::Python {
                        if Setup::Instrumentor.supports(*feature) {
                            out.push(self.cell(
                                *style,
                                *feature,
                                plan,
                                *driver,
                                None,
                                Setup::Instrumentor,
                            ));
                        }
                        continue;
                    }
                    for set in &self.version_sets {
                        for spec in self.setups.iter().filter(|s| s.applies(*style, *feature)) {
                            if let Some(requirements) = set.requirements_for(*style, spec.setup) {
                                let version_set = CellVersionSet {
                                    name: set.name.clone(),
                                    requirements,
                                };
                                out.push(self.cell(
                                    *style,
                                    *feature,
                                    plan,
                                    *driver,
                                    Some(version_set),
                                    spec.setup,
                                ));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn cell(
        &self,
        style: Style,
        feature: Feature,
        plan: &FeaturePlan,
        driver: DriverKind,
        version_set: Option<CellVersionSet>,
        setup: Setup,
    ) -> Cell {
        let set_name = version_set.as_ref().map(|v| v.name.as_str());
        // The releases a cell runs, where they are known before it runs: a set's pins,
        // and none of the python packages for the rust driver.
        let pinned: Option<BTreeMap<String, String>> = match (&version_set, driver) {
            (Some(v), _) => Some(
                (v.requirements.iter())
                    .filter_map(|r| r.split_once("=="))
                    .map(|(name, version)| (name.to_string(), version.to_string()))
                    .collect(),
            ),
            (None, DriverKind::Rust) => Some(BTreeMap::new()),
            (None, _) => None,
        };
        let mut id = match set_name {
            Some(set) => format!("{}/{style}/{feature}/{driver}@{set}", self.provider),
            None => format!("{}/{style}/{feature}/{driver}", self.provider),
        };
        if setup != Setup::Instrumentor {
            id = format!("{id}/{setup}");
        }
        // The eras are chosen the same way: now where the releases are known, else by
        // the judge from the versions the cell reports.
        let all_checks = self.checks.get(&(style, feature, setup));
        let (checks, eras) = match (all_checks, &pinned) {
            (None, _) => (Vec::new(), None),
            (Some(c), Some(p)) => (c.for_versions(p).to_vec(), None),
            (Some(c), None) => (
                c.base().to_vec(),
                c.has_eras().then(|| std::sync::Arc::new(c.clone())),
            ),
        };
        let backend = self
            .setups
            .iter()
            .find(|s| s.setup == setup)
            .map(|s| s.backend.clone())
            .unwrap_or_default();
        Cell {
            id,
            provider: self.provider,
            style,
            feature,
            driver,
            setup,
            plan: plan.clone(),
            checks,
            eras,
            backend,
            known_issues: self
                .known_issues
                .iter()
                .filter(|k| {
                    k.applies_to(style, feature, driver)
                        && k.applies_to_setup(setup)
                        && k.applies_to_version_set(set_name)
                        // Command cells' releases are known once they ran: the judge
                        // decides for them.
                        && pinned.as_ref().is_none_or(|p| k.applies_to_versions(p))
                })
                .cloned()
                .collect(),
            vars: build::cell_vars(self.provider, &self.target, style, feature, driver, plan),
            version_set,
        }
    }
}

/// `matrix/<provider>.yaml`: from the current directory when it exists there, else from
/// the crate directory this binary was built from.
pub fn default_matrix_path(provider: Provider) -> PathBuf {
    Path::new("matrix").join(format!("{provider}.yaml"))
}

/// `provider`'s shipped matrix: the file at [`default_matrix_path`] when the working
/// directory has one (a checkout), else the copy built into the binary. Returns it with
/// the label results carry, the same either way (`matrix/azure-openai.yaml`), so runs
/// from a checkout and from an installed binary merge and diff.
pub fn load_default(provider: Provider) -> Result<(Matrix, String), MatrixError> {
    let path = default_matrix_path(provider);
    let label = path.display().to_string();
    if path.is_file() {
        return load_file(&path).map(|m| (m, label));
    }
    let origin = format!("{label} (built into hh-compat)");
    let text = shipped::of(provider);
    let matrix = if overlay::is_overlay(text) {
        overlay::load(text, &origin, overlay::Parents::BuiltIn)?
    } else {
        parse_str(text, &origin)?
    };
    Ok((matrix, label))
}

/// Reads and validates a matrix file. Files over [`MAX_MATRIX_BYTES`] are refused
/// before they are parsed.
pub fn load_file(path: &Path) -> Result<Matrix, MatrixError> {
    let origin = path.display().to_string();
    let io =
        |e: std::io::Error| MatrixError::new(&origin, None, format!("cannot read the matrix: {e}"));
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit so an oversized (or growing) file is caught without
    // reading all of it.
    file.take(MAX_MATRIX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if overlay::is_overlay(text) => {
            too_big(text.len(), &origin)?;
            let dir = path.parent().unwrap_or_else(|| Path::new("."));
            overlay::load(text, &origin, overlay::Parents::Dir(dir))
        }
        _ => parse_bytes(&bytes, &origin),
    }
}

/// Validates matrix bytes: size, UTF-8, then YAML.
pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Matrix, MatrixError> {
    too_big(bytes.len(), origin)?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let byte = bytes.get(at).copied().unwrap_or(0);
        MatrixError::new(
            origin,
            Some(yaml::pos_at(bytes, at)),
            format!("the matrix is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8"),
        )
    })?;
    parse_str(text, origin)
}

/// A matrix file's text, refused (without reading it all) when it is over
/// [`MAX_MATRIX_BYTES`] or not UTF-8: `extends: /dev/zero` cannot exhaust memory.
pub(crate) fn read_limited(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_MATRIX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_MATRIX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB", MAX_MATRIX_BYTES / 1024),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

fn too_big(len: usize, origin: &str) -> Result<(), MatrixError> {
    if len > MAX_MATRIX_BYTES {
        return Err(MatrixError::new(
            origin,
            None,
            format!(
                "the matrix is larger than {} KiB; matrices are hand-written and small",
                MAX_MATRIX_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// Validates a matrix held in memory; `origin` names it in errors (usually the path).
pub fn parse_str(text: &str, origin: &str) -> Result<Matrix, MatrixError> {
    too_big(text.len(), origin)?;
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    }) {
        return Err(MatrixError::new(
            origin,
            Some(Pos::START),
            "the matrix is empty; expected a mapping with `provider`, `target`, `deployments`, `styles`, `features` and `expect`",
        ));
    }
    // Walk the whole document once, untyped, under the budgets: an alias bomb is
    // rejected as such even where the typed pass would have stopped at a type error.
    serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(body, yaml::options())
        .map_err(|e| yaml::translate(&e, origin, body))?;
    let raw: raw::RawMatrix = serde_saphyr::from_str_with_options(body, yaml::options())
        .map_err(|e| yaml::translate(&e, origin, body))?;
    build::build(raw, origin).map_err(|e| e.with_snippet_from(body))
}
