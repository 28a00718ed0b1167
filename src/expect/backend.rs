//! Checks on what a backend received from a cell's app, independent of the spans: how
//! many requests arrived on each route with the cell's key. They turn "the instrumentor
//! emitted spans" into "the backend received them", and say plainly when it did not.

use super::check::Count;
use super::eval::{Finding, Subject};
use crate::capture::BackendRequest;
use std::fmt;

/// The label findings of backend checks carry (known issues name it as `check`).
pub const BACKEND_CHECK: &str = "backend";

/// "`count` requests to `METHOD /path`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCheck {
    pub method: String,
    pub path: String,
    pub count: Count,
}

impl RouteCheck {
    /// Parses `METHOD /path` (e.g. `POST /session/start`).
    pub fn parse(route: &str, count: Count) -> Result<Self, String> {
        let usage = "a route is `METHOD /path`, e.g. `POST /session/start`";
        let (method, path) = route
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{route}` is not a route; {usage}"))?;
        let (method, path) = (method.trim(), path.trim());
        let method_ok = !method.is_empty() && method.chars().all(|c| c.is_ascii_uppercase());
        if !method_ok || !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(format!("`{route}` is not a route; {usage}"));
        }
        Ok(Self {
            method: method.to_string(),
            path: path.to_string(),
            count,
        })
    }

    fn matches(&self, request: &BackendRequest) -> bool {
        request.method == self.method && request.path == self.path
    }
}

impl fmt::Display for RouteCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every route check that the received requests do not satisfy, as findings. A request
/// the backend refused (4xx/5xx) does not count as received.
pub fn evaluate_backend(checks: &[RouteCheck], received: &[BackendRequest]) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in checks {
        let answered: Vec<&BackendRequest> = received.iter().filter(|r| check.matches(r)).collect();
        let accepted = answered.iter().filter(|r| r.status < 300).count();
        if check.count.allows(accepted) {
            continue;
        }
        let actual = if received.is_empty() {
            "the backend received nothing with the cell's API key (the app's exporter sent \
             nothing, or sent it elsewhere)"
                .to_string()
        } else {
            let refused: Vec<String> = answered
                .iter()
                .filter(|r| r.status >= 300)
                .map(|r| r.status.to_string())
                .collect();
            let mut routes: Vec<String> = Vec::new();
            for r in received {
                let route = r.route();
                if !routes.contains(&route) {
                    routes.push(route);
                }
            }
            let mut text = format!("{accepted} accepted");
            if !refused.is_empty() {
                text.push_str(&format!(
                    " ({} refused: {})",
                    refused.len(),
                    refused.join(", ")
                ));
            }
            text.push_str(&format!("; routes called: {}", routes.join(", ")));
            text
        };
        out.push(Finding {
            check: BACKEND_CHECK.to_string(),
            subject: Subject::Route(check.to_string()),
            expected: format!("{} request(s)", check.count),
            actual,
            span: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, status: u16) -> BackendRequest {
        BackendRequest {
            method: method.into(),
            path: path.into(),
            status,
        }
    }

    #[test]
    fn routes_parse_strictly() {
        let c = RouteCheck::parse("POST /session/start", Count::Exactly(1)).expect("valid");
        assert_eq!(c.to_string(), "POST /session/start");
        for bad in ["/session/start", "post /x", "POST x", "POST /a b", ""] {
            assert!(RouteCheck::parse(bad, Count::Exactly(1)).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_only_accepted_requests_and_says_what_arrived() {
        let session = RouteCheck::parse("POST /session/start", Count::Exactly(1)).expect("ok");
        let traces =
            RouteCheck::parse("POST /opentelemetry/v1/traces", Count::AtLeast(1)).expect("ok");
        let checks = [session, traces];
        let good = [
            req("POST", "/session/start", 200),
            req("POST", "/opentelemetry/v1/traces", 200),
        ];
        assert!(evaluate_backend(&checks, &good).is_empty());

        let nothing = evaluate_backend(&checks, &[]);
        assert_eq!(nothing.len(), 2);
        assert!(
            nothing[0].actual.contains("received nothing"),
            "{}",
            nothing[0].actual
        );
        assert_eq!(
            nothing[1].subject,
            Subject::Route("POST /opentelemetry/v1/traces".into())
        );

        let elsewhere = evaluate_backend(
            &checks,
            &[
                req("POST", "/session/start", 200),
                req("POST", "/v1/traces", 200),
            ],
        );
        assert_eq!(elsewhere.len(), 1);
        assert!(
            elsewhere[0].actual.contains("POST /v1/traces"),
            "names where the spans went: {}",
            elsewhere[0].actual
        );

        let refused = evaluate_backend(
            &checks[..1],
            &[
                req("POST", "/session/start", 500),
                req("POST", "/session/start", 200),
            ],
        );
        assert!(refused.is_empty(), "one accepted is exactly one");
        let twice = evaluate_backend(
            &checks[..1],
            &[
                req("POST", "/session/start", 200),
                req("POST", "/session/start", 200),
            ],
        );
        assert_eq!(twice[0].actual.split(';').next(), Some("2 accepted"));
    }
}
