//! YAML plumbing: serde-saphyr options (budgets against alias bombs), translating its
//! errors into `MatrixError`, and small deserialization helpers.

use super::error::{MatrixError, Pos};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Matrices are hand-written configuration; anything bigger is a mistake or an attack.
pub const MAX_MATRIX_BYTES: usize = 1 << 20;

/// Tight budgets: a real matrix is a few thousand events, and anchors are reused a few
/// times at most. A billion-laughs document trips these within milliseconds.
pub(super) fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_events: 200_000,
            max_aliases: 2_000,
            max_anchors: 2_000,
            max_nodes: 100_000,
            max_depth: 32,
            max_documents: 1,
            max_total_scalar_bytes: MAX_MATRIX_BYTES * 2,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Turns a serde-saphyr error into `FILE:LINE:COL: message`.
pub(super) fn translate(err: &serde_saphyr::Error, origin: &str, text: &str) -> MatrixError {
    let inner = err.without_snippet();
    let pos = inner.location().as_ref().and_then(Pos::from_location);
    let mut message = inner.to_string();
    // The crate appends its own " at line L, column C ..." suffix; ours is in front.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let message = explain(&message);
    MatrixError::new(origin, pos, message).with_snippet_from(text)
}

/// serde-saphyr's type errors name Rust types; say what the YAML should hold instead.
fn explain(message: &str) -> String {
    let hint = match message {
        m if m.starts_with("invalid u32") || m.starts_with("invalid u64") => {
            "expected a non-negative integer"
        }
        m if m.starts_with("invalid i64") => "expected an integer",
        m if m.starts_with("invalid f64") || m.starts_with("invalid f32") => "expected a number",
        m if m.starts_with("invalid bool") => "expected true or false",
        m if m.contains("expected sequence start") => {
            "expected a list, e.g. `[a, b]` or `- a` lines"
        }
        m if m.contains("expected mapping start") => "expected a mapping of `key: value` entries",
        m if m.contains("budget breached") || m.contains("alias replay limit") => {
            "the document expands too much (a YAML alias bomb?); matrices must stay small"
        }
        _ => return message.to_string(),
    };
    format!("{message}: {hint}")
}

/// A map that keeps the file's order (styles, features and checks are listed in the
/// order people wrote them). Duplicate keys are rejected by the parser.
#[derive(Debug, Clone)]
pub(super) struct OMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for OMap<K, V> {
    fn default() -> Self {
        OMap(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for OMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for V2<K, V> {
            type Value = OMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(OMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// A vocabulary name (style, feature, driver, provider) read through its `FromStr`, so
/// typos get the vocabulary's "did you mean" message at the right position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Named<T>(pub T);

impl<'de, T> Deserialize<'de> for Named<T>
where
    T: FromStr<Err = crate::vocab::UnknownName>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<T>().map(Named).map_err(de::Error::custom)
    }
}

/// `Some(None)` for an explicit `null` (remove the inherited value), `None` when absent.
pub(super) fn tri<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Position of a spanned value (the use site, not an anchor's definition).
pub(super) fn pos_of<T>(s: &Spanned<T>) -> Option<Pos> {
    Pos::from_location(&s.referenced)
}

/// 1-based line and column of a byte offset, for errors found outside the parser.
pub(super) fn pos_at(text: &[u8], offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u64
        + 1;
    Pos { line, column }
}
