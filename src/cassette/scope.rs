//! Cell scope → cassette file name: deterministic, filesystem-safe, collision-free.

use std::collections::{BTreeMap, BTreeSet};

/// The file of requests that carried no scope header.
pub(super) const UNSCOPED_STEM: &str = "unscoped";
/// The optional meta file (label, match options); never a scope's file.
pub(super) const META_FILE: &str = "cassette.yaml";

const MAX_STEM_CHARS: usize = 100;

/// The stem a scope would get on its own: ASCII letters, digits, `-`, `_` and `.` kept,
/// anything else `_`; names that would clash with the reserved files get a `scope-`
/// prefix; very long scopes are cut and suffixed with a hash of the whole scope.
pub(super) fn stem_for(scope: Option<&str>) -> String {
    let Some(scope) = scope else {
        return UNSCOPED_STEM.to_string();
    };
    let mut stem: String = scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') {
        stem.replace_range(0..1, "_");
    }
    let reserved = [UNSCOPED_STEM, "cassette"];
    if stem.is_empty() || reserved.iter().any(|r| stem.eq_ignore_ascii_case(r)) {
        stem = format!("scope-{stem}");
    }
    if stem.len() > MAX_STEM_CHARS {
        stem.truncate(MAX_STEM_CHARS - 17);
        stem.push_str(&format!("-{:016x}", fnv1a(scope.as_bytes())));
    }
    stem
}

/// File names (`STEM.yaml`) for a set of scopes. Scopes whose stems collide (e.g. `a b`
/// and `a_b`) are numbered `-2`, `-3`… in sorted scope order, so the result depends only
/// on the set of scopes.
pub(super) fn file_names<'a>(
    scopes: impl IntoIterator<Item = Option<&'a str>>,
) -> BTreeMap<Option<String>, String> {
    let scopes: BTreeSet<Option<&str>> = scopes.into_iter().collect();
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    for scope in scopes {
        let stem = stem_for(scope);
        let mut candidate = stem.clone();
        let mut n = 2;
        while !taken.insert(candidate.to_ascii_lowercase()) {
            candidate = format!("{stem}-{n}");
            n += 1;
        }
        out.insert(scope.map(str::to_string), format!("{candidate}.yaml"));
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(
            stem_for(Some("openinference--chat--rust")),
            "openinference--chat--rust"
        );
        assert_eq!(
            stem_for(Some("traceloop/streaming usage")),
            "traceloop_streaming_usage"
        );
        assert_eq!(stem_for(None), "unscoped");
        assert_eq!(stem_for(Some("unscoped")), "scope-unscoped");
        assert_eq!(stem_for(Some("Cassette")), "scope-Cassette");
        assert_eq!(stem_for(Some("")), "scope-");
        assert_eq!(stem_for(Some("../x")), "_._x");
        let long = "x".repeat(300);
        let s = stem_for(Some(&long));
        assert_eq!(s.len(), MAX_STEM_CHARS);
        assert_ne!(s, stem_for(Some(&"x".repeat(301))));
    }

    #[test]
    fn collisions_are_numbered_deterministically() {
        let a = file_names([Some("a b"), Some("a_b"), None]);
        let b = file_names([None, Some("a_b"), Some("a b")]);
        assert_eq!(a, b);
        assert_eq!(a[&Some("a b".to_string())], "a_b.yaml");
        assert_eq!(a[&Some("a_b".to_string())], "a_b-2.yaml");
        assert_eq!(a[&None], "unscoped.yaml");
    }
}
