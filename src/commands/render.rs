//! `hh-compat report`: saved results re-rendered, shards merged.

use super::*;

/// `hh-compat report`: re-renders saved results; several files (the shards of one run)
/// are merged first. The summary and the exit code are recomputed from the cells.
pub fn report(paths: &[PathBuf], output: &Output) -> Result<ExitStatus, CommandError> {
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        parts.push((display_path(path), read_results(path)?));
    }
    let results =
        report::merge(parts).map_err(|e| CommandError::Usage(format!("cannot merge: {e}")))?;
    let status = results.exit_status();
    Ok(if write_output(&results, output)? {
        status
    } else {
        status.unwritten()
    })
}
