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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pep440::Specifiers;

    fn when(package: &str, range: &str) -> Vec<PackageRange> {
        vec![PackageRange {
            package: package.to_string(),
            range: Specifiers::parse(range).unwrap(),
        }]
    }

    fn versions(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect()
    }

    /// Variant `mask` holds one check labelled with its mask, so the choice is visible.
    fn two_eras() -> EraChecks {
        let variants = (0..4)
            .map(|mask| vec![SpanCheck::named(&format!("mask {mask}"), "chat")])
            .collect();
        EraChecks::new(
            vec![
                when("opentelemetry-instrumentation-openai", "<0.62.4"),
                when("openai", ">=1.0,<2"),
            ],
            variants,
        )
    }

    fn chosen(checks: &EraChecks, ran: &[(&str, &str)]) -> String {
        checks.for_versions(&versions(ran))[0].label.clone()
    }

    #[test]
    fn every_era_whose_releases_ran_applies() {
        let checks = two_eras();
        assert!(checks.has_eras());
        let old = ("opentelemetry-instrumentation-openai", "0.47.5");
        let new = ("opentelemetry-instrumentation-openai", "0.62.4");
        assert_eq!(chosen(&checks, &[old, ("openai", "1.40.0")]), "mask 3");
        assert_eq!(chosen(&checks, &[old, ("openai", "3.57.0")]), "mask 1");
        assert_eq!(chosen(&checks, &[new, ("openai", "1.40.0")]), "mask 2");
        assert_eq!(chosen(&checks, &[new, ("openai", "3.57.0")]), "mask 0");
    }

    #[test]
    fn a_package_the_cell_did_not_report_is_not_there() {
        let checks = two_eras();
        // A rust cell reports no python packages: today's names.
        assert_eq!(chosen(&checks, &[]), "mask 0");
        assert_eq!(checks.base()[0].label, "mask 0");
        // A version that does not parse is not in any range.
        let odd = ("opentelemetry-instrumentation-openai", "not-a-version");
        assert_eq!(chosen(&checks, &[odd]), "mask 0");
    }

    #[test]
    fn names_are_compared_as_the_index_does() {
        let checks = two_eras();
        let spelled = ("OpenTelemetry_Instrumentation.OpenAI", "0.47.5");
        assert_eq!(chosen(&checks, &[spelled]), "mask 1");
    }

    #[test]
    fn plain_checks_have_one_variant() {
        let checks = EraChecks::plain(vec![SpanCheck::named("llm", "chat")]);
        assert!(!checks.has_eras());
        assert_eq!(checks.variants().count(), 1);
        assert_eq!(chosen(&checks, &[("openai", "1.40.0")]), "llm");
    }

    #[test]
    #[should_panic(expected = "one variant per subset of eras")]
    fn variants_must_cover_every_subset() {
        EraChecks::new(
            vec![when("openai", "<2")],
            vec![Vec::new()], // needs two: without and with the era
        );
    }
}
