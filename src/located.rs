//! Positions in hand-written YAML files and the caret snippet that shows one: shared by
//! the matrix and the cassettes, so both report `FILE:LINE:COL: message` with the
//! offending line underneath, secrets masked.

/// A 1-based position in a YAML file (a matrix or a cassette).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    pub fn from_location(loc: &serde_saphyr::Location) -> Option<Pos> {
        (loc.line() > 0).then(|| Pos {
            line: loc.line(),
            column: loc.column().max(1),
        })
    }
}

/// The line at `pos` with a caret; the replica key and anything the redaction pass
/// recognizes (a `.env` file's `…_KEY=value`, tokens) are never echoed, even in a snippet.
pub(crate) fn snippet(text: &str, pos: Pos) -> Option<String> {
    let idx = usize::try_from(pos.line.checked_sub(1)?).ok()?;
    let line = crate::redact::Redactor::default().text(text.lines().nth(idx)?);
    let line = line.as_str();
    let shown = match line.find("api_key") {
        Some(i) => format!("{}api_key: ***", &line[..i]),
        None => line.to_string(),
    };
    let shown: String = shown
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let gutter = pos.line.to_string();
    let pad = " ".repeat(gutter.len());
    let col = usize::try_from(pos.column.saturating_sub(1))
        .unwrap_or(0)
        .min(200);
    Some(format!(
        "{pad} |\n{gutter} | {shown}\n{pad} | {}^",
        " ".repeat(col)
    ))
}
