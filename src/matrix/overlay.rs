//! A matrix that extends another (`extends: azure-openai.yaml`): the same cells and
//! checks for a sibling provider, with only what differs written down.
//!
//! The overlay may replace `provider`, `target` and `live`; add or replace
//! `deployments`, `features`, `version_sets` and `setups` entry by entry (a name the
//! parent has is replaced in place, a new one is appended, so the parent's cells keep
//! their order); add known issues; and add one more layer of expectations on top of the
//! parent's (so `null` removes an inherited check or attribute, as between the parent's
//! own layers). The parent is validated on its own first, so its mistakes are reported
//! against its own file.

use super::error::MatrixError;
use super::raw::{
    RawDeployment, RawExpect, RawFeatures, RawKnownIssue, RawLive, RawMatrix, RawSetups, RawTarget,
    RawVersionSet,
};
use super::yaml::{self, pos_of, Named, OMap};
use super::Matrix;
use crate::vocab::Provider;
use serde_saphyr::Spanned;
use std::path::Path;

/// The overlay file as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverlay {
    /// The parent matrix, relative to this file's directory.
    pub extends: Spanned<String>,
    #[serde(default)]
    pub provider: Option<Named<Provider>>,
    #[serde(default)]
    pub target: Option<Spanned<RawTarget>>,
    #[serde(default)]
    pub deployments: OMap<Spanned<String>, RawDeployment>,
    #[serde(default)]
    pub features: Option<RawFeatures>,
    #[serde(default)]
    pub version_sets: OMap<Spanned<String>, Spanned<RawVersionSet>>,
    #[serde(default)]
    pub setups: Option<RawSetups>,
    #[serde(default)]
    pub expect: Option<RawExpect>,
    #[serde(default)]
    pub known_issues: Vec<RawKnownIssue>,
    #[serde(default)]
    pub live: Option<RawLive>,
}

/// Replaces each entry of `base` whose key `add` also has, in place, and appends the
/// rest of `add` in its order.
fn merge_entries<K, V, Q: PartialEq>(
    base: &mut Vec<(K, V)>,
    add: Vec<(K, V)>,
    key: impl Fn(&K) -> Q,
) {
    for (k, v) in add {
        match base.iter_mut().find(|(b, _)| key(b) == key(&k)) {
            Some(slot) => *slot = (k, v),
            None => base.push((k, v)),
        }
    }
}

/// True when the document's top level has an `extends` key, however it is written
/// (quoted, after a byte-order mark, in flow style). A document that does not parse as
/// a mapping is not an overlay; the full parse then reports where it is wrong.
pub(super) fn is_overlay(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        extends: Option<serde::de::IgnoredAny>,
    }
    serde_saphyr::from_str_with_options::<Probe>(text, yaml::options())
        .is_ok_and(|p| p.extends.is_some())
}

/// Where an overlay's `extends` is read from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Parents<'a> {
    /// Files, relative to this directory (the overlay's own).
    Dir(&'a Path),
    /// The matrices built into the binary (for a built-in overlay).
    BuiltIn,
}

/// Loads an overlay: the parent (validated alone), then the overlay applied to it.
pub(super) fn load(text: &str, origin: &str, parents: Parents) -> Result<Matrix, MatrixError> {
    let overlay: RawOverlay = serde_saphyr::from_str_with_options(text, yaml::options())
        .map_err(|e| yaml::translate(&e, origin, text))?;
    let located = |message: String| {
        MatrixError::new(origin, pos_of(&overlay.extends), message).with_snippet_from(text)
    };
    let (parent_origin, parent_text) = match parents {
        Parents::Dir(dir) => {
            let parent_path = dir.join(&overlay.extends.value);
            let parent_origin = parent_path.display().to_string();
            let text = super::read_limited(&parent_path).map_err(|e| {
                located(format!(
                    "cannot read the matrix it extends, {parent_origin}: {e}"
                ))
            })?;
            (parent_origin, text)
        }
        Parents::BuiltIn => {
            let name = &overlay.extends.value;
            let text = super::shipped::by_file_name(name)
                .ok_or_else(|| located(format!("no built-in matrix is called {name}")))?;
            (
                format!("matrix/{name} (built into hh-compat)"),
                text.to_string(),
            )
        }
    };
    if is_overlay(&parent_text) {
        return Err(located(format!(
            "{parent_origin} extends another matrix itself; extend the base matrix directly"
        )));
    }
    // Validates the parent on its own, so its errors name its own file and lines.
    super::parse_str(&parent_text, &parent_origin)?;
    let mut raw: RawMatrix = serde_saphyr::from_str_with_options(&parent_text, yaml::options())
        .map_err(|e| yaml::translate(&e, &parent_origin, &parent_text))?;
    if let Some(provider) = overlay.provider {
        raw.provider = provider;
    }
    if let Some(target) = overlay.target {
        raw.target = target;
    }
    if let Some(live) = overlay.live {
        raw.live = Some(live);
    }
    merge_entries(&mut raw.deployments.0, overlay.deployments.0, |k| {
        k.value.clone()
    });
    if let Some(features) = overlay.features {
        merge_entries(&mut raw.features.0, features.0, |k| k.value);
    }
    merge_entries(&mut raw.version_sets.0, overlay.version_sets.0, |k| {
        k.value.clone()
    });
    match (&mut raw.setups, overlay.setups) {
        (Some(base), Some(add)) => merge_entries(&mut base.value.0, add.value.0, |k| k.value.0),
        (base @ None, add) => *base = add,
        (Some(_), None) => {}
    }
    raw.known_issues.extend(overlay.known_issues);
    raw.overlay_expect = overlay.expect;
    // What fails now comes from the overlay (the parent passed alone); positions may
    // point into either file, so no snippet is shown.
    super::build::build(raw, origin)
}
