//! Reading providers' rate-limit headers: OpenAI's `x-ratelimit-*` (resets as durations
//! like `6m0s` or `12ms`) and Anthropic's `anthropic-ratelimit-*` (resets as RFC 3339 times).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Remaining count and time until reset, for requests and for tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    /// Requests left and when they reset.
    pub requests: Option<(u64, Duration)>,
    /// Tokens left and when they reset.
    pub tokens: Option<(u64, Duration)>,
}

/// Parses Go-style durations as OpenAI sends them: `1s`, `6m0s`, `12ms`, `1h2m3.5s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('u' | 'µ', Some('s')) => {
                chars.next();
                0.000_001
            }
            ('n', Some('s')) => {
                chars.next();
                0.000_000_001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()?; // bare number: seconds
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn reset_in(value: &str, now: SystemTime) -> Option<Duration> {
    parse_duration(value).or_else(|| {
        let at = humantime::parse_rfc3339_weak(value)
            .or_else(|_| humantime::parse_rfc3339(value))
            .ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// What the headers of a response say about the remaining budgets.
pub fn reported(h: &HeaderMap, now: SystemTime) -> Reported {
    let pair = |remaining: &str, reset: &str| -> Option<(u64, Duration)> {
        let left = header(h, remaining)?.parse().ok()?;
        let reset = header(h, reset)
            .and_then(|r| reset_in(r, now))
            .unwrap_or(Duration::from_secs(60));
        Some((left, reset))
    };
    Reported {
        requests: pair(
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        )
        .or_else(|| {
            pair(
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
            )
        }),
        tokens: pair("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")
            .or_else(|| {
                pair(
                    "anthropic-ratelimit-tokens-remaining",
                    "anthropic-ratelimit-tokens-reset",
                )
            })
            .or_else(|| {
                pair(
                    "anthropic-ratelimit-input-tokens-remaining",
                    "anthropic-ratelimit-input-tokens-reset",
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn go_durations() {
        for (s, ms) in [
            ("1s", 1000),
            ("6m0s", 360_000),
            ("12ms", 12),
            ("1h2m3.5s", 3_723_500),
            ("0.5s", 500),
            ("2", 2000),
        ] {
            assert_eq!(parse_duration(s), Some(Duration::from_millis(ms)), "{s}");
        }
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn openai_and_anthropic_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("1.5s"),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("4000"),
        );
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        let r = reported(&h, now);
        assert_eq!(r.requests, Some((0, Duration::from_millis(1500))));
        assert_eq!(r.tokens, Some((4000, Duration::from_secs(360))));

        let mut a = HeaderMap::new();
        let reset = humantime::format_rfc3339(now + Duration::from_secs(30)).to_string();
        a.insert(
            "anthropic-ratelimit-tokens-remaining",
            HeaderValue::from_static("10"),
        );
        a.insert(
            "anthropic-ratelimit-tokens-reset",
            HeaderValue::from_str(&reset).unwrap(),
        );
        assert_eq!(
            reported(&a, now).tokens,
            Some((10, Duration::from_secs(30)))
        );
        assert_eq!(reported(&HeaderMap::new(), now), Reported::default());
    }
}
