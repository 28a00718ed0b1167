//! `hh-compat diff`: two saved runs compared.

use super::*;

/// `hh-compat diff BEFORE AFTER`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The earlier results (e.g. last night's).
    #[arg(value_name = "BEFORE.json")]
    pub before: PathBuf,
    /// The later results.
    #[arg(value_name = "AFTER.json")]
    pub after: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Write the diff to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How a diff is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

impl DiffArgs {
    /// What changed between two runs; exit 1 when AFTER has a regression.
    pub fn exec(self) -> Result<ExitStatus, CommandError> {
        let (before, after) = (&self.before, &self.after);
        let (a, b) = (read_results(before)?, read_results(after)?);
        let d = report::diff(&display_path(before), &a, &display_path(after), &b);
        let rendered = match self.format {
            DiffFormat::Table => d.table(),
            DiffFormat::Markdown => d.markdown(),
            DiffFormat::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&d).map_err(report::RenderError::from)?
            ),
        };
        let status = if d.regressions > 0 {
            ExitStatus::Incompatible
        } else {
            ExitStatus::Ok
        };
        let Some(path) = &self.out else {
            console::out(&rendered);
            return Ok(status);
        };
        if let Err(e) = crate::atomic::write(path, rendered.as_bytes()) {
            console::err(&format!(
                "error: {}: the diff could not be written ({e})",
                path.display()
            ));
            console::out(&d.table());
            return Ok(status.unwritten());
        }
        console::err(&d.summary_line());
        Ok(status)
    }
}
