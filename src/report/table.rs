//! The terminal table: one row per cell, coloured statuses by the usual conventions
//! (`NO_COLOR`, `CLICOLOR_FORCE`, `TERM=dumb`, a TTY).

use super::result::{CellStatus, FindingKind, RunResults};
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Colour, the output being a terminal.
    Auto,
    Never,
    /// Colour even when the output is not a terminal (`CLICOLOR_FORCE`).
    Always,
}

impl Colour {
    /// The conventions, first match wins: `NO_COLOR` set (non-empty) never colours;
    /// `CLICOLOR_FORCE` set (non-empty, not `0`) always does; `TERM=dumb` never does;
    /// otherwise colour only on a terminal. `var` reads an environment variable.
    pub fn detect(terminal: bool, var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if set("NO_COLOR").is_some() {
            Colour::Never
        } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
            Colour::Always
        } else if set("TERM").as_deref() == Some("dumb") || !terminal {
            Colour::Never
        } else {
            Colour::Auto
        }
    }
}

/// How the terminal table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions<'a> {
    pub colour: Colour,
    /// Cells (ids or patterns, as `--filter`) whose findings are shown in full after
    /// the table, besides those that need attention.
    pub show: &'a [String],
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

pub(super) fn render(results: &RunResults, options: &TableOptions) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["cell", "status", "ms", "details"]);
    match options.colour {
        Colour::Never => {
            table.force_no_tty();
        }
        Colour::Always => {
            table.enforce_styling();
        }
        Colour::Auto => {}
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
    out.push_str(&full_details(results, options.show));
    out.push_str(&summary_line(results));
    out.push('\n');
    out
}

/// The findings of every cell that needs attention (`fail`, `xpass`, `error`) or that
/// `show` names, in full: the table cuts them to one line each.
fn full_details(results: &RunResults, show: &[String]) -> String {
    let mut out = String::new();
    let attention =
        |s: CellStatus| matches!(s, CellStatus::Fail | CellStatus::Xpass | CellStatus::Error);
    let shown = |id: &str| show.iter().any(|p| crate::matrix::pattern_matches(p, id));
    for cell in (results.cells.iter()).filter(|c| attention(c.status) || shown(&c.id)) {
        out.push_str(&format!("\n{} ({}):\n", cell.id, cell.status));
        for finding in &cell.findings {
            for (i, line) in finding.message.lines().enumerate() {
                let lead = if i == 0 { "  - " } else { "    " };
                out.push_str(&format!("{lead}{line}\n"));
            }
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
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

#[cfg(test)]
mod tests {
    use super::Colour;

    fn detect(terminal: bool, env: &[(&str, &str)]) -> Colour {
        Colour::detect(terminal, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn cells_that_need_attention_are_shown_in_full_after_the_table() {
        use crate::report::result::sample_cell;
        use crate::report::{CellStatus, Finding, FindingKind, RunResults};
        use crate::vocab::TargetKind;
        let long = format!(
            "attribute `server.address` absent {}\nsecond line",
            "x".repeat(200)
        );
        let mut failed = sample_cell("a/fail", CellStatus::Fail);
        failed.findings = vec![Finding::new(FindingKind::Failure, long.clone())];
        let mut xfail = sample_cell("a/xfail", CellStatus::Xfail);
        xfail.findings = vec![Finding::new(FindingKind::KnownIssue, "known")];
        let results = RunResults::new("m.yaml", TargetKind::Replica, vec![failed, xfail]);
        let draw = |show: &[String]| {
            let options = super::TableOptions {
                colour: Colour::Never,
                show,
            };
            super::render(&results, &options)
        };
        let text = draw(&[]);
        let first = long.lines().next().unwrap();
        assert!(
            text.contains(&format!("\na/fail (fail):\n  - {first}\n    second line\n")),
            "{text}"
        );
        assert!(!text.contains("a/xfail (xfail):"), "{text}");
        // `--show` adds the cells it names (a pattern as `--filter`'s), once each.
        let text = draw(&["*/xfail".to_string(), "a/fail".to_string()]);
        assert!(text.contains("\na/xfail (xfail):\n  - known\n"), "{text}");
        assert_eq!(text.matches("a/fail (fail):").count(), 1, "{text}");
    }

    #[test]
    fn colour_follows_the_usual_conventions() {
        assert_eq!(detect(true, &[]), Colour::Auto);
        assert_eq!(detect(false, &[]), Colour::Never);
        assert_eq!(detect(true, &[("NO_COLOR", "1")]), Colour::Never);
        // An empty NO_COLOR is unset, as its convention says.
        assert_eq!(detect(true, &[("NO_COLOR", "")]), Colour::Auto);
        assert_eq!(detect(false, &[("CLICOLOR_FORCE", "1")]), Colour::Always);
        assert_eq!(detect(false, &[("CLICOLOR_FORCE", "0")]), Colour::Never);
        assert_eq!(
            detect(false, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
            Colour::Never
        );
        assert_eq!(detect(true, &[("TERM", "dumb")]), Colour::Never);
        assert_eq!(
            detect(false, &[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]),
            Colour::Always
        );
    }
}
