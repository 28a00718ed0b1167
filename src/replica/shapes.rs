//! Which month's Azure the replica answers like.
//!
//! Azure's chat shapes changed with the date of the call more than with the api-version.
//! Recorded real traffic (2024-04 to 2026-04) shows three eras, and the replica follows
//! the newest unless a replica is configured with `shapes: YYYY-MM`:
//! - before 2025-01: the message has no `refusal` or `annotations`, the role delta no
//!   `refusal`, and `usage` no `*_tokens_details` (recorded 2024-04, 2024-11, 2024-12);
//! - 2025-01 to 2025-07: `refusal` and the usage details are there, `annotations` and
//!   `obfuscation` are not (recorded 2025-01 and 2025-04); from 2025-04 successes (and
//!   prompt-filter 400s) carry `x-ms-deployment-name` (absent 2025-01);
//! - from 2025-08: the message has `annotations: []`, and every stream chunk after the
//!   prompt annotation carries an `obfuscation` padding string (recorded 2026-01 to
//!   2026-04). The switch sits between the last recording without them (2025-04) and the
//!   first with them (2026-01), at the month OpenAI's own API added stream obfuscation.
//!
//! The rate-limit headers grew by month too: only `x-ratelimit-remaining-*` through 2025-01
//! (recorded 2024-02 to 2025-01), `x-ratelimit-limit-*` beside them from 2025-04 (recorded
//! 2025-04 to 2026-02), and on successes `x-ratelimit-reset-*`, `-renewalperiod-*` and
//! `-abusepenalty-active` from 2026-03 (recorded 2026-03 and 2026-04).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A month, `YYYY-MM`, whose shapes the replica reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shapes {
    year: u16,
    month: u8,
}

impl Shapes {
    /// The newest shapes the replica knows (what Azure sends today).
    pub const CURRENT: Shapes = Shapes::at(2026, 4);
    const REFUSAL: Shapes = Shapes::at(2025, 1);
    const DEPLOYMENT_NAME: Shapes = Shapes::at(2025, 4);
    const OBFUSCATION: Shapes = Shapes::at(2025, 8);
    const TYPED_NOT_FOUND: Shapes = Shapes::at(2026, 1);
    const RATE_LIMIT_RESETS: Shapes = Shapes::at(2026, 3);

    const fn at(year: u16, month: u8) -> Shapes {
        Shapes { year, month }
    }

    /// Parses `YYYY-MM` (months 01-12, years 2023 on: Azure OpenAI's first GA year).
    pub fn parse(value: &str) -> Option<Shapes> {
        let (y, m) = value.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: u16 = y.parse().ok()?;
        let month: u8 = m.parse().ok()?;
        ((1..=12).contains(&month) && year >= 2023).then_some(Shapes { year, month })
    }

    /// The message carries `refusal`, the role delta too, and usage its token details.
    pub fn refusal_and_usage_details(self) -> bool {
        self >= Self::REFUSAL
    }

    /// The message carries `annotations: []`.
    pub fn annotations(self) -> bool {
        self >= Self::OBFUSCATION
    }

    /// Successes (and prompt-filter 400s) name the deployment in `x-ms-deployment-name`:
    /// absent 2025-01, present 2025-04 on.
    pub fn deployment_name_header(self) -> bool {
        self >= Self::DEPLOYMENT_NAME
    }

    /// Azure answers with deployment rate limits carry `x-ratelimit-limit-requests` and
    /// `-tokens` beside the `remaining` pair: absent through 2025-01, present 2025-04 on.
    pub fn rate_limit_limits(self) -> bool {
        self >= Self::DEPLOYMENT_NAME
    }

    /// Successes also carry `x-ratelimit-reset-*`, `x-ratelimit-renewalperiod-*` and
    /// `x-ratelimit-abusepenalty-active`: absent through 2026-02, present 2026-03 on.
    pub fn rate_limit_resets(self) -> bool {
        self >= Self::RATE_LIMIT_RESETS
    }

    /// A missing deployment's 404 is pretty-printed, has `type: invalid_request_error`
    /// and no content type: recorded 2026-03; the untyped compact JSON body recorded
    /// 2024-10. The switch is placed at 2026-01, the year the recording's source dates it to.
    pub fn typed_deployment_not_found(self) -> bool {
        self >= Self::TYPED_NOT_FOUND
    }

    /// Stream chunks after the prompt annotation carry `obfuscation`.
    pub fn obfuscation(self) -> bool {
        self >= Self::OBFUSCATION
    }
}

impl Default for Shapes {
    fn default() -> Self {
        Shapes::CURRENT
    }
}

impl fmt::Display for Shapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Shapes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shapes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Shapes::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "shapes {text:?} is not a month YYYY-MM from 2023-01 on, e.g. 2024-12"
            ))
        })
    }
}

/// A padding string for a stream chunk, as Azure's `obfuscation` (3 to 15 letters and
/// digits, varying from chunk to chunk); derived from `seed`, so bodies stay deterministic.
pub(super) fn obfuscation(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = super::content::SplitMix::new(seed);
    let len = 3 + (rng.next_u64() % 13) as usize;
    (0..len)
        .map(|_| ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_grew_by_month() {
        let at = |m: &str| Shapes::parse(m).expect("month");
        assert!(!at("2025-01").rate_limit_limits() && at("2025-04").rate_limit_limits());
        assert!(!at("2026-02").rate_limit_resets() && at("2026-03").rate_limit_resets());
        assert!(Shapes::CURRENT.rate_limit_resets());
    }

    #[test]
    fn months_parse_order_and_print() {
        let dec = Shapes::parse("2024-12").expect("valid");
        assert_eq!(dec.to_string(), "2024-12");
        assert!(dec < Shapes::parse("2025-01").expect("valid"));
        for bad in [
            "2024-13", "2024-00", "24-12", "2024-1", "2022-12", "2024/12", "",
        ] {
            assert_eq!(Shapes::parse(bad), None, "{bad}");
        }
        let parsed: Shapes = serde_json::from_str("\"2025-04\"").expect("json");
        assert_eq!(serde_json::to_string(&parsed).expect("json"), "\"2025-04\"");
        let e = serde_json::from_str::<Shapes>("\"April\"").expect_err("not a month");
        assert!(e.to_string().contains("YYYY-MM"), "{e}");
    }

    #[test]
    fn eras_follow_the_recordings() {
        let at = |s: &str| Shapes::parse(s).expect("valid");
        // 2024-12: no refusal, no details, no annotations, no obfuscation.
        assert!(!at("2024-12").refusal_and_usage_details());
        // 2025-04: refusal and details, still no annotations or obfuscation.
        assert!(at("2025-04").refusal_and_usage_details());
        assert!(!at("2025-04").annotations() && !at("2025-04").obfuscation());
        // 2026-01 on: everything.
        assert!(at("2026-01").annotations() && at("2026-01").obfuscation());
        assert!(Shapes::default().obfuscation());
    }

    #[test]
    fn obfuscation_is_short_alphanumeric_and_deterministic() {
        let lengths: std::collections::BTreeSet<usize> =
            (0..200).map(|s| obfuscation(s).len()).collect();
        assert!(lengths.iter().all(|l| (3..=15).contains(l)), "{lengths:?}");
        assert!(lengths.len() > 5, "lengths should vary: {lengths:?}");
        assert!(obfuscation(7).chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(obfuscation(7), obfuscation(7));
    }
}
