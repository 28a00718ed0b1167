//! `hh-compat list`: the ids of the cells a run would execute.

use super::*;

/// `hh-compat list`: which cells.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
}

impl ListArgs {
    /// Prints cell ids, one per line. Nothing selected is a usage error, as for `run`
    /// (an empty shard is not).
    pub fn exec(self) -> Result<ExitStatus, CommandError> {
        let (_, cells, _) = select(&self.select)?;
        if cells.is_empty() && self.select.shard.is_none() {
            return Err(CommandError::Usage(
                "no cell matches the filters; `hh-compat list` without filters prints every id"
                    .to_string(),
            ));
        }
        let ids: String = cells.iter().map(|c| format!("{}\n", c.id)).collect();
        console::out(&ids);
        Ok(ExitStatus::Ok)
    }
}
