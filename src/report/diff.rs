//! Two runs compared (`hh-compat diff BEFORE.json AFTER.json`): cells matched by id;
//! for each, the status change, the findings added and removed (request ids and timings
//! masked, so only real differences show) and the package versions that moved. A
//! regression is a cell present in both whose status went from fine (`pass`, `xfail`,
//! `skip`) to a problem (`fail`, `xpass`, `error`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::result::{mask_run_ids, CellResult, CellStatus, FindingKind, RunResults};

/// The difference between two runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunDiff {
    pub before: String,
    pub after: String,
    /// Cells in both runs where anything changed, in AFTER's order.
    pub changed: Vec<CellChange>,
    /// Cells only AFTER has, with their status.
    pub added: Vec<(String, CellStatus)>,
    /// Cells only BEFORE had, with their status then.
    pub removed: Vec<(String, CellStatus)>,
    /// How many cells of AFTER regressed.
    pub regressions: usize,
}

/// What changed in one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellChange {
    pub id: String,
    pub before: CellStatus,
    pub after: CellStatus,
    pub regression: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings_removed: Vec<String>,
    /// Package → (before, after); `None` where the run did not have it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, (Option<String>, Option<String>)>,
}

fn is_problem(status: CellStatus) -> bool {
    matches!(
        status,
        CellStatus::Fail | CellStatus::Xpass | CellStatus::Error
    )
}

/// The findings that say something about the cell (notes such as retries are context).
fn findings(cell: &CellResult) -> BTreeSet<String> {
    cell.findings
        .iter()
        .filter(|f| f.kind != FindingKind::Note)
        .map(|f| format!("{}: {}", kind_label(f.kind), mask_run_ids(&f.message)))
        .collect()
}

fn kind_label(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Failure => "failure",
        FindingKind::KnownIssue => "known issue",
        FindingKind::Unreproduced => "not reproduced",
        FindingKind::Error => "error",
        FindingKind::Skipped => "skipped",
        FindingKind::Note => "note",
    }
}

/// Compares `before` with `after` (named as given, e.g. their paths).
pub fn diff(
    before_name: &str,
    before: &RunResults,
    after_name: &str,
    after: &RunResults,
) -> RunDiff {
    let old: BTreeMap<&str, &CellResult> =
        before.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let new_ids: BTreeSet<&str> = after.cells.iter().map(|c| c.id.as_str()).collect();
    let mut out = RunDiff {
        before: before_name.to_string(),
        after: after_name.to_string(),
        ..RunDiff::default()
    };
    for cell in &after.cells {
        let Some(prev) = old.get(cell.id.as_str()) else {
            out.added.push((cell.id.clone(), cell.status));
            continue;
        };
        let (was, now) = (findings(prev), findings(cell));
        let mut versions = BTreeMap::new();
        for name in prev.versions.keys().chain(cell.versions.keys()) {
            let (a, b) = (prev.versions.get(name), cell.versions.get(name));
            if a != b {
                versions.insert(name.clone(), (a.cloned(), b.cloned()));
            }
        }
        let change = CellChange {
            id: cell.id.clone(),
            before: prev.status,
            after: cell.status,
            regression: !is_problem(prev.status) && is_problem(cell.status),
            findings_added: now.difference(&was).cloned().collect(),
            findings_removed: was.difference(&now).cloned().collect(),
            versions,
        };
        let same = change.before == change.after
            && change.findings_added.is_empty()
            && change.findings_removed.is_empty()
            && change.versions.is_empty();
        if !same {
            out.regressions += usize::from(change.regression);
            out.changed.push(change);
        }
    }
    out.removed = before
        .cells
        .iter()
        .filter(|c| !new_ids.contains(c.id.as_str()))
        .map(|c| (c.id.clone(), c.status))
        .collect();
    out
}

impl RunDiff {
    /// One line: what changed, for the end of any rendering.
    pub fn summary_line(&self) -> String {
        format!(
            "{} regression(s), {} changed cell(s), {} added, {} removed ({} → {})",
            self.regressions,
            self.changed.len(),
            self.added.len(),
            self.removed.len(),
            self.before,
            self.after
        )
    }

    /// The changed cells as a terminal table, then the added and removed ones.
    pub fn table(&self) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .force_no_tty()
            .set_header(vec!["cell", "before", "after", "what changed"]);
        for c in &self.changed {
            let after = if c.regression {
                format!("{} (regression)", c.after)
            } else {
                c.after.to_string()
            };
            table.add_row(vec![
                c.id.clone(),
                c.before.to_string(),
                after,
                c.what_changed().join("\n"),
            ]);
        }
        let mut s = String::new();
        if !self.changed.is_empty() {
            s.push_str(&format!("{table}\n"));
        }
        for (title, cells) in [("added", &self.added), ("removed", &self.removed)] {
            for (id, status) in cells.iter() {
                s.push_str(&format!("{title}: {id} ({status})\n"));
            }
        }
        s.push_str(&self.summary_line());
        s.push('\n');
        s
    }

    /// Markdown, for a CI job summary or a support ticket.
    pub fn markdown(&self) -> String {
        let mut s = format!("## {} → {}\n\n", self.before, self.after);
        if self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty() {
            s.push_str("No cell changed.\n");
        }
        if !self.changed.is_empty() {
            s.push_str("| cell | before | after | what changed |\n|---|---|---|---|\n");
            for c in &self.changed {
                let what = c.what_changed();
                let flag = if c.regression { " **regression**" } else { "" };
                s.push_str(&format!(
                    "| `{}` | {} | {}{flag} | {} |\n",
                    c.id,
                    c.before,
                    c.after,
                    escape(&what.join("<br>"))
                ));
            }
            s.push('\n');
        }
        for (title, cells) in [("Added", &self.added), ("Removed", &self.removed)] {
            if !cells.is_empty() {
                s.push_str(&format!("{title}:\n"));
                for (id, status) in cells {
                    s.push_str(&format!("- `{id}` ({status})\n"));
                }
                s.push('\n');
            }
        }
        s.push_str(&self.summary_line());
        s.push('\n');
        s
    }
}

impl CellChange {
    /// One line per finding added (`+`) or removed (`−`) and per version moved.
    pub fn what_changed(&self) -> Vec<String> {
        let mut what: Vec<String> = Vec::new();
        what.extend(self.findings_added.iter().map(|f| format!("+ {f}")));
        what.extend(self.findings_removed.iter().map(|f| format!("− {f}")));
        what.extend(self.versions.iter().map(|(k, (a, b))| {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "—".into());
            format!("{k} {} → {}", v(a), v(b))
        }));
        what
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::sample_cell;
    use crate::report::{Finding, RunResults};
    use crate::vocab::TargetKind;

    fn cell(id: &str, status: CellStatus, finding: Option<&str>, openai: &str) -> CellResult {
        CellResult {
            findings: finding
                .map(|m| vec![Finding::new(FindingKind::Failure, m)])
                .unwrap_or_default(),
            versions: [("openai".to_string(), openai.to_string())].into(),
            ..sample_cell(id, status)
        }
    }

    #[test]
    fn a_new_failure_is_a_regression_and_a_fix_is_not() {
        let before = RunResults::new(
            "m.yaml",
            TargetKind::Replica,
            vec![
                cell("a", CellStatus::Pass, None, "1.0"),
                cell("b", CellStatus::Fail, Some("no server.address"), "1.0"),
                cell("gone", CellStatus::Pass, None, "1.0"),
            ],
        );
        let after = RunResults::new(
            "m.yaml",
            TargetKind::Replica,
            vec![
                cell(
                    "a",
                    CellStatus::Fail,
                    Some("no gen_ai.request.model"),
                    "2.0",
                ),
                cell("b", CellStatus::Pass, None, "1.0"),
                cell("new", CellStatus::Fail, Some("x"), "2.0"),
            ],
        );
        let d = diff("before.json", &before, "after.json", &after);
        assert_eq!(d.regressions, 1);
        assert_eq!(d.changed.len(), 2);
        let a = &d.changed[0];
        assert!(a.regression);
        assert_eq!(a.findings_added, ["failure: no gen_ai.request.model"]);
        assert_eq!(
            a.versions["openai"],
            (Some("1.0".into()), Some("2.0".into()))
        );
        assert!(!d.changed[1].regression);
        assert_eq!(
            d.changed[1].findings_removed,
            ["failure: no server.address"]
        );
        assert_eq!(d.added, [("new".to_string(), CellStatus::Fail)]);
        assert_eq!(d.removed, [("gone".to_string(), CellStatus::Pass)]);
        assert!(d
            .markdown()
            .contains("| `a` | pass | fail **regression** |"));
        assert_eq!(diff("x", &after, "y", &after).changed, Vec::new());
    }
}
