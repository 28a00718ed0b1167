//! Expectations per conventions era: a style's checks as merged for each combination of
//! its eras (layers that apply to the cells that ran some releases), and the choice of
//! one list once the cell's releases are known.

use super::check::SpanCheck;
use super::known::{ran, PackageRange};
use std::collections::BTreeMap;

/// The most eras one style may have: every combination of them is merged at load.
pub const MAX_ERAS: usize = 6;

/// One style × feature × setup's checks: `variants[mask]` is the merge with the eras
/// whose bit is set in `mask` (bit `i` = `eras[i]`); `variants[0]` has no era.
#[derive(Debug, Clone, PartialEq)]
pub struct EraChecks {
    eras: Vec<Vec<PackageRange>>,
    variants: Vec<Vec<SpanCheck>>,
}

impl EraChecks {
    /// `variants` must hold one list per subset of `eras` (`2^eras.len()` of them).
    pub fn new(eras: Vec<Vec<PackageRange>>, variants: Vec<Vec<SpanCheck>>) -> Self {
        assert_eq!(
            variants.len(),
            1 << eras.len(),
            "one variant per subset of eras"
        );
        Self { eras, variants }
    }

    /// Checks without eras.
    pub fn plain(checks: Vec<SpanCheck>) -> Self {
        Self::new(Vec::new(), vec![checks])
    }

    /// Whether any era could change the checks.
    pub fn has_eras(&self) -> bool {
        !self.eras.is_empty()
    }

    /// The checks before any era applies.
    pub fn base(&self) -> &[SpanCheck] {
        &self.variants[0]
    }

    /// The checks for a cell that ran `versions` (package → version, as cells report
    /// them): every era whose `when` holds applies, in file order. A package the cell
    /// did not report is not there, so its eras do not apply.
    pub fn for_versions(&self, versions: &BTreeMap<String, String>) -> &[SpanCheck] {
        let mask = (self.eras.iter().enumerate())
            .filter(|(_, when)| ran(when, versions))
            .fold(0, |mask, (i, _)| mask | (1 << i));
        &self.variants[mask]
    }

    /// Every variant (for load-time validation and listings).
    pub fn variants(&self) -> impl Iterator<Item = &[SpanCheck]> {
        self.variants.iter().map(Vec::as_slice)
    }
}
