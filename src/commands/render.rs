//! `hh-compat report`: saved results re-rendered, shards merged.

use super::*;

/// `hh-compat report RESULTS.json…`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Results files written by `hh-compat run --format json`; several (the shards of
    /// one run, `--shard K/N`) are merged.
    #[arg(value_name = "RESULTS.json", required = true, num_args = 1..)]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl ReportArgs {
    /// Re-renders saved results; several files (the shards of one run) are merged first.
    /// The summary and the exit code are recomputed from the cells.
    pub fn exec(self) -> Result<ExitStatus, CommandError> {
        let mut parts = Vec::with_capacity(self.results.len());
        for path in &self.results {
            parts.push((display_path(path), read_results(path)?));
        }
        let results =
            report::merge(parts).map_err(|e| CommandError::Usage(format!("cannot merge: {e}")))?;
        let status = results.exit_status();
        Ok(if write_output(&results, &self.output)? {
            status
        } else {
            status.unwritten()
        })
    }
}
