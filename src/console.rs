//! Printing that never panics: a closed pipe (`hh-compat run | head`) or a closed stderr
//! ends the output quietly, and the process still exits with the run's own status.

use std::io::Write;

/// Writes `text` to stdout; a broken pipe or any other write error is ignored.
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Writes `text` and a newline to stderr; write errors are ignored.
pub(crate) fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}
