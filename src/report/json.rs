//! The results file: pretty JSON, stable key order, documented in the README.

use super::result::RunResults;

pub(super) fn render(results: &RunResults) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(results)?;
    text.push('\n');
    Ok(text)
}

/// Reads a results file written by `render` (for `hh-compat report`).
pub(super) fn parse(text: &str) -> Result<RunResults, serde_json::Error> {
    serde_json::from_str(text)
}
