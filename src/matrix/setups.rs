//! Setups (`setups:`): how the app wires tracing, the styles and features each setup
//! applies to, and the requests its backend must receive from each of its cells.
//!
//! A matrix without `setups:` has one, `instrumentor`, for every style and feature.
//! Setups other than `instrumentor` are the python driver's (the rust and command
//! drivers wire tracing their own way); a version set runs a setup when it pins the
//! setup's packages (`version_sets.<set>.setups`).

use super::error::MatrixError;
use super::raw::{RawSetups, RawStyleExpect};
use super::yaml::pos_of;
use crate::expect::RouteCheck;
use crate::vocab::{Feature, Setup, Style};

/// A validated setup.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupSpec {
    pub setup: Setup,
    /// The styles it applies to (empty = every style).
    pub styles: Vec<Style>,
    /// The features it applies to (empty = every feature it supports).
    pub features: Vec<Feature>,
    /// What the backend must receive from each cell.
    pub backend: Vec<RouteCheck>,
}

impl SetupSpec {
    fn everywhere(setup: Setup) -> Self {
        Self {
            setup,
            styles: Vec::new(),
            features: Vec::new(),
            backend: Vec::new(),
        }
    }

    /// Whether a (style, feature) pair has cells in this setup.
    pub fn applies(&self, style: Style, feature: Feature) -> bool {
        (self.styles.is_empty() || self.styles.contains(&style))
            && (self.features.is_empty() || self.features.contains(&feature))
            && self.setup.supports(feature)
    }
}

/// The setups in file order, and each one's expectation layers (for the checks merge).
pub(super) type Built = (Vec<SetupSpec>, Vec<(Setup, RawStyleExpect)>);

/// Validates `setups:` against the matrix's styles and features.
pub(super) fn build(
    origin: &str,
    raw: Option<RawSetups>,
    styles: &[Style],
    features: &[Feature],
) -> Result<Built, MatrixError> {
    let err = |pos, msg: String| MatrixError::new(origin, pos, msg);
    let Some(raw) = raw else {
        return Ok((vec![SetupSpec::everywhere(Setup::Instrumentor)], Vec::new()));
    };
    let list_pos = pos_of(&raw);
    let mut specs: Vec<SetupSpec> = Vec::new();
    let mut layers = Vec::new();
    for (name, body) in raw.value.0 {
        let setup = name.value.0;
        let body = body.unwrap_or_default();
        let mut spec = SetupSpec::everywhere(setup);
        for s in &body.styles {
            if !styles.contains(&s.value.0) {
                return Err(err(
                    pos_of(s),
                    format!(
                        "setup `{setup}` names style `{}`, which is not in `styles`",
                        s.value.0
                    ),
                ));
            }
            spec.styles.push(s.value.0);
        }
        for f in &body.features {
            let feature = f.value.0;
            if !features.contains(&feature) {
                return Err(err(
                    pos_of(f),
                    format!(
                        "setup `{setup}` names feature `{feature}`, which is not in `features`"
                    ),
                ));
            }
            if !setup.supports(feature) {
                return Err(err(
                    pos_of(f),
                    format!(
                        "setup `{setup}` cannot run feature `{feature}`: it needs HoneyHive's \
                         tracer (setups honeyhive, honeyhive-instrumentors, honeyhive-late)"
                    ),
                ));
            }
            spec.features.push(feature);
        }
        for (route, count) in body.backend.0 {
            let check = RouteCheck::parse(&route.value, count.0)
                .map_err(|m| err(pos_of(&route), format!("setup `{setup}`, `backend`: {m}")))?;
            spec.backend.push(check);
        }
        if let Some(expect) = body.expect {
            if let Some(eras) = &expect.eras {
                return Err(err(
                    pos_of(eras),
                    format!(
                        "setup `{setup}`: eras belong to a style's expectations \
                         (`expect.styles.<style>.eras`), not to a setup's"
                    ),
                ));
            }
            layers.push((setup, expect));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(err(
            list_pos,
            "`setups` is empty; list at least `instrumentor` (or leave `setups` out)".to_string(),
        ));
    }
    Ok((specs, layers))
}
