//! Merging the results of a sharded run (`hh-compat report a.json b.json …`): the parts
//! must come from the same matrix and target and hold disjoint cells; the merged
//! results are in the order one unsharded run gives, with the summary recomputed.

use super::result::RunResults;

/// Why results cannot be merged. Each names the files involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("{second} is from matrix `{b}` but {first} is from `{a}`: only shards of one run can be merged")]
    Matrix {
        first: String,
        second: String,
        a: String,
        b: String,
    },
    #[error("{second} ran against target `{b}` but {first} against `{a}`: only shards of one run can be merged")]
    Target {
        first: String,
        second: String,
        a: String,
        b: String,
    },
    #[error("{0}")]
    Shards(String),
    #[error("cell `{cell}` is in both {first} and {second}: shards of one run never overlap (the same shard given twice?)")]
    Overlap {
        cell: String,
        first: String,
        second: String,
    },
}

/// Merges `parts` (each with the name it is reported under, e.g. its path).
pub fn merge(parts: Vec<(String, RunResults)>) -> Result<RunResults, MergeError> {
    let mut parts = parts.into_iter();
    let Some((first_name, first)) = parts.next() else {
        return Ok(RunResults::new(
            "",
            crate::vocab::TargetKind::Replica,
            Vec::new(),
        ));
    };
    let mut cells = Vec::new();
    let mut origin: std::collections::HashMap<String, String> = Default::default();
    let mut shards: Vec<(String, Option<String>)> = Vec::new();
    let mut starts: Vec<String> = Vec::new();
    for (name, part) in std::iter::once((first_name.clone(), first.clone())).chain(parts) {
        shards.push((name.clone(), part.shard.clone()));
        starts.extend(part.started_at.clone());
        if part.matrix != first.matrix {
            return Err(MergeError::Matrix {
                first: first_name,
                second: name,
                a: first.matrix,
                b: part.matrix,
            });
        }
        if part.target != first.target {
            return Err(MergeError::Target {
                first: first_name,
                second: name,
                a: first.target.to_string(),
                b: part.target.to_string(),
            });
        }
        for cell in part.cells {
            if let Some(other) = origin.insert(cell.id.clone(), name.clone()) {
                return Err(MergeError::Overlap {
                    cell: cell.id,
                    first: other,
                    second: name,
                });
            }
            cells.push(cell);
        }
    }
    // One file alone is just re-rendered, shard or not.
    if shards.len() > 1 {
        check_shards(&shards)?;
    }
    if cells.iter().all(|c| c.ordinal.is_some()) {
        cells.sort_by_key(|c| c.ordinal);
    }
    for cell in &mut cells {
        cell.ordinal = None;
    }
    let mut merged = RunResults::new(first.matrix, first.target, cells);
    // The earliest start, compared as times (a file may carry an offset or fractions).
    merged.started_at = (starts.into_iter())
        .filter_map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .ok()
                .map(|t| (t, s))
        })
        .min_by_key(|(t, _)| *t)
        .map(|(_, s)| s);
    Ok(merged)
}

/// Sharded parts must be exactly the N shards of one split: none missing, none twice,
/// and not mixed with unsharded results.
fn check_shards(parts: &[(String, Option<String>)]) -> Result<(), MergeError> {
    let given: Vec<(&str, (u32, u32))> = parts
        .iter()
        .filter_map(|(name, shard)| {
            let shard: crate::matrix::Shard = shard.as_deref()?.parse().ok()?;
            Some((name.as_str(), shard.parts()))
        })
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    if given.len() != parts.len() {
        return Err(MergeError::Shards(
            "some files are shards (--shard) and some are not: merge the shards of one run".into(),
        ));
    }
    let n = given[0].1 .1;
    if let Some((name, (k, m))) = given.iter().find(|(_, (_, m))| *m != n) {
        return Err(MergeError::Shards(format!(
            "{name} is shard {k}/{m}, but {} is a shard of {n}: merge the shards of one split",
            given[0].0
        )));
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !given.iter().any(|(_, (g, _))| g == k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "shard(s) {} missing: the merged results would lack their cells",
            missing.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::sample_cell;
    use crate::report::{CellResult, CellStatus};
    use crate::vocab::TargetKind;

    fn cell(id: &str, status: CellStatus, ordinal: usize) -> CellResult {
        CellResult {
            ordinal: Some(ordinal),
            ..sample_cell(id, status)
        }
    }

    fn part(matrix: &str, cells: Vec<CellResult>) -> RunResults {
        RunResults::new(matrix, TargetKind::Replica, cells)
    }

    #[test]
    fn shards_merge_in_run_order_with_a_fresh_summary() {
        let a = part("m.yaml", vec![cell("b", CellStatus::Fail, 1)]);
        let b = part(
            "m.yaml",
            vec![
                cell("a", CellStatus::Pass, 0),
                cell("c", CellStatus::Pass, 2),
            ],
        );
        let merged = merge(vec![("a.json".into(), a), ("b.json".into(), b)]).expect("merge");
        let ids: Vec<&str> = merged.cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!((merged.summary.total, merged.summary.fail), (3, 1));
        assert!(merged.cells.iter().all(|c| c.ordinal.is_none()));
    }

    #[test]
    fn other_matrices_and_overlaps_are_refused() {
        let a = || part("m.yaml", vec![cell("a", CellStatus::Pass, 0)]);
        let other = part("n.yaml", vec![cell("b", CellStatus::Pass, 1)]);
        let e = merge(vec![("a.json".into(), a()), ("n.json".into(), other)]).expect_err("matrix");
        assert!(
            e.to_string().contains("n.json is from matrix `n.yaml`"),
            "{e}"
        );
        let e =
            merge(vec![("a.json".into(), a()), ("again.json".into(), a())]).expect_err("overlap");
        assert!(
            e.to_string()
                .contains("cell `a` is in both a.json and again.json"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_or_foreign_shard_is_refused() {
        let shard = |k: u32, n: u32, id: &str| {
            let mut r = part("m.yaml", vec![cell(id, CellStatus::Pass, k as usize)]);
            r.shard = Some(format!("{k}/{n}"));
            (format!("s{k}of{n}.json"), r)
        };
        let e = merge(vec![shard(1, 3, "a"), shard(3, 3, "c")]).expect_err("missing");
        assert!(e.to_string().contains("shard(s) 2/3 missing"), "{e}");
        let e = merge(vec![shard(1, 2, "a"), shard(2, 3, "b")]).expect_err("other split");
        assert!(e.to_string().contains("shard of 2"), "{e}");
        let whole = (
            "whole.json".to_string(),
            part("m.yaml", vec![cell("z", CellStatus::Pass, 9)]),
        );
        let e = merge(vec![shard(1, 1, "a"), whole]).expect_err("mixed");
        assert!(e.to_string().contains("some are not"), "{e}");
        assert!(merge(vec![shard(2, 2, "b"), shard(1, 2, "a")]).is_ok());
        assert!(
            merge(vec![shard(2, 4, "b")]).is_ok(),
            "one shard alone re-renders"
        );
    }
}
