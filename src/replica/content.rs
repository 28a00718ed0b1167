//! Deterministic content: hashes, generated words, token estimates, ids.
//!
//! Token counts use a documented approximation rather than a tokenizer: a text costs
//! `ceil(bytes / 4)` tokens (at least 1 when non-empty), each chat message adds 3 and the
//! reply priming adds 3 — OpenAI's published rule of thumb. Generated replies are made of
//! whole words, each counted as exactly one completion token.

/// FNV-1a, 64-bit: tiny, fast, stable across runs and platforms.
pub(super) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64: a deterministic stream of numbers from one seed.
pub(super) struct SplitMix(u64);

impl SplitMix {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in [-1, 1).
    pub(super) fn next_signed_unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
}

pub(super) fn text_tokens(text: &str) -> u32 {
    let n = text.len().div_ceil(4);
    u32::try_from(n).unwrap_or(u32::MAX)
}

const WORDS: &[&str] = &[
    "Azure",
    "replica",
    "answers",
    "deterministically",
    "with",
    "a",
    "reply",
    "that",
    "depends",
    "only",
    "on",
    "the",
    "request",
    "so",
    "every",
    "run",
    "sees",
    "same",
    "words",
    "and",
    "tokens",
    "streamed",
    "or",
    "not",
    "spans",
    "tracing",
    "instrumentor",
    "checks",
    "deployment",
    "model",
    "snapshot",
    "content",
    "filter",
    "results",
    "usage",
    "counts",
];

/// The reply for a request hash: 8–23 words, ending with a period.
/// Returns the words (each one completion token) joined by the caller as needed.
pub(super) fn reply_words(seed: u64, max_words: Option<u32>) -> (Vec<&'static str>, bool) {
    let mut rng = SplitMix::new(seed);
    let natural = 8 + (rng.next_u64() % 16) as usize;
    let limit = max_words.map(|m| m.max(1) as usize).unwrap_or(usize::MAX);
    let count = natural.min(limit);
    let words = (0..count)
        .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
        .collect();
    (words, count < natural)
}

/// Word pieces as they are streamed: the first word bare, later ones with a leading space,
/// the last with the final period.
pub(super) fn pieces(words: &[&str], truncated: bool) -> Vec<String> {
    let last = words.len().saturating_sub(1);
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut s = String::with_capacity(w.len() + 2);
            if i > 0 {
                s.push(' ');
            }
            s.push_str(w);
            if i == last && !truncated {
                s.push('.');
            }
            s
        })
        .collect()
}

#[cfg(test)]
pub(super) fn reply_text(words: &[&str], truncated: bool) -> String {
    pieces(words, truncated).concat()
}

/// A 29-character alphanumeric suffix like OpenAI's ids, derived from a seed.
pub(super) fn id_suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = SplitMix::new(seed);
    (0..29)
        .map(|_| ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// A UUID-shaped request id (Azure's `apim-request-id`), unique per counter value.
pub(super) fn request_uuid(counter: u64) -> String {
    let mut rng = SplitMix::new(counter ^ 0x5eed);
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a as u16) & 0x0fff,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A fixed, plausible `created` timestamp: deterministic bodies need a deterministic clock.
pub(super) fn created(seed: u64) -> u64 {
    1_730_000_000 + seed % 10_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let (a, ta) = reply_words(42, None);
        let (b, _) = reply_words(42, None);
        assert_eq!(a, b);
        assert!(!ta);
        assert!((8..24).contains(&a.len()));
        let (c, tc) = reply_words(42, Some(3));
        assert_eq!(c.len(), 3);
        assert!(tc);
        assert_eq!(pieces(&a, false).concat(), reply_text(&a, false));
        assert!(reply_text(&a, false).ends_with('.'));
    }

    #[test]
    fn tokens_and_ids() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abcde"), 2);
        assert_eq!(id_suffix(1).len(), 29);
        assert_ne!(request_uuid(1), request_uuid(2));
        assert_eq!(request_uuid(7).len(), 36);
        let mut r = SplitMix::new(3);
        for _ in 0..1000 {
            let v = r.next_signed_unit();
            assert!((-1.0..1.0).contains(&v));
        }
    }
}
