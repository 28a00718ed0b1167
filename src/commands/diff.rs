//! `hh-compat diff`: two saved runs compared.

use super::*;

/// `hh-compat diff`: how the format is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

/// `hh-compat diff BEFORE AFTER`: what changed between two runs; exit 1 when AFTER has
/// a regression.
pub fn diff(
    before: &Path,
    after: &Path,
    format: DiffFormat,
    out: Option<&Path>,
) -> Result<ExitStatus, CommandError> {
    let (a, b) = (read_results(before)?, read_results(after)?);
    let d = report::diff(&display_path(before), &a, &display_path(after), &b);
    let rendered = match format {
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
    let Some(path) = out else {
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
