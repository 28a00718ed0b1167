//! Results and their renderings: terminal table, markdown, JSON, JUnit.

mod diff;
mod facts;
mod json;
mod junit;
mod markdown;
mod merge;
mod result;
mod table;

pub use diff::{diff, CellChange, RunDiff};
pub use merge::{merge, MergeError};
pub use result::{
    CellResult, CellStatus, ExitStatus, Finding, FindingKind, ReportSpan, RequestRecord,
    RunResults, Summary,
};
pub use table::{summary_line, Colour, TableOptions};

use serde::{Deserialize, Serialize};

/// An output format for `run` and `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Table,
    Markdown,
    Json,
    Junit,
}

impl Format {
    /// The format's name as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Junit => "junit",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("could not write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("could not write JUnit XML: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}

/// Renders results in one format.
pub fn render(
    results: &RunResults,
    format: Format,
    table: &TableOptions,
) -> Result<String, RenderError> {
    Ok(match format {
        Format::Table => table::render(results, table),
        Format::Markdown => markdown::render(results),
        Format::Json => json::render(results)?,
        Format::Junit => junit::render(results)?,
    })
}

/// Reads a results file written with `--format json`.
pub fn parse_results(text: &str) -> Result<RunResults, serde_json::Error> {
    json::parse(text)
}

/// Values counted in first-seen order, as `fail ×2, pass` (a count of one is left out).
pub(crate) fn tally<T: PartialEq + std::fmt::Display>(
    values: impl IntoIterator<Item = T>,
) -> String {
    let mut counts: Vec<(T, usize)> = Vec::new();
    for value in values {
        match counts.iter_mut().find(|(v, _)| *v == value) {
            Some((_, n)) => *n += 1,
            None => counts.push((value, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(v, n)| match n {
            1 => v.to_string(),
            _ => format!("{v} ×{n}"),
        })
        .collect();
    parts.join(", ")
}
