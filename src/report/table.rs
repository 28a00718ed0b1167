//! The terminal table: one row per cell, coloured statuses (unless `NO_COLOR` or not a TTY).

use super::result::{CellStatus, FindingKind, RunResults};
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};

/// Whether to colour output: never with `NO_COLOR` set (any value), else only on a TTY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Auto,
    Never,
}

impl Colour {
    pub fn from_env() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            Colour::Never
        } else {
            Colour::Auto
        }
    }
}

fn status_colour(status: CellStatus) -> Color {
    match status {
        CellStatus::Pass => Color::Green,
        CellStatus::Fail => Color::Red,
        CellStatus::Xfail => Color::Yellow,
        CellStatus::Xpass => Color::Magenta,
        CellStatus::Skip => Color::DarkGrey,
        CellStatus::Error => Color::Red,
    }
}

/// The longest detail shown per cell; the JSON report keeps everything.
const DETAIL_CHARS: usize = 110;

pub fn render(results: &RunResults, colour: Colour) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["cell", "status", "ms", "details"]);
    if colour == Colour::Never {
        table.force_no_tty();
    }
    for cell in &results.cells {
        let detail = cell
            .findings
            .iter()
            .filter(|f| f.kind != FindingKind::Note)
            .map(|f| truncate(&f.message, DETAIL_CHARS))
            .collect::<Vec<_>>();
        let extra = detail.len().saturating_sub(2);
        let mut lines: Vec<String> = detail.into_iter().take(2).collect();
        if extra > 0 {
            lines.push(format!("… and {extra} more (see --format json)"));
        }
        table.add_row(vec![
            Cell::new(&cell.id),
            Cell::new(cell.status.as_str()).fg(status_colour(cell.status)),
            Cell::new(cell.duration_ms).set_alignment(CellAlignment::Right),
            Cell::new(lines.join("\n")),
        ]);
    }
    let mut out = table.to_string();
    out.push('\n');
    out.push_str(&summary_line(results));
    out.push('\n');
    out
}

/// `N passed, N failed, …` — also the line CI log readers look for.
pub fn summary_line(results: &RunResults) -> String {
    let s = &results.summary;
    format!(
        "{} passed, {} failed, {} xfail, {} xpass, {} skipped, {} errors ({} cells)",
        s.pass, s.fail, s.xfail, s.xpass, s.skip, s.error, s.total
    )
}

fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
