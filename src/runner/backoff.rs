//! How long a run waits before its next attempt (pure; docs/delivery.md, "Retries"): the Action's
//! `retryBackoff` (constant, or exponential with full jitter up to `maxRetryDelaySeconds`), or
//! the endpoint's own `Retry-After` on a 429 or 503, within the same maximum. The randomness of
//! the jitter is a parameter, so every schedule can be tested exactly.

use chrono::{DateTime, Duration, Utc};

use crate::resources::{ActionRunSpec, ActionSpec, RetryBackoff};

/// The retry rules of one run, from its spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub backoff: RetryBackoff,
    /// retryDelaySeconds, in seconds.
    pub base: i64,
    /// maxRetryDelaySeconds, in seconds.
    pub max: i64,
}

impl Policy {
    pub fn of(spec: &ActionRunSpec) -> Self {
        Self {
            backoff: spec.retry_backoff.unwrap_or_default(),
            base: i64::from(spec.retry_delay_seconds.max(0)),
            max: i64::from(
                spec.max_retry_delay_seconds
                    .unwrap_or(ActionSpec::DEFAULT_MAX_RETRY_DELAY_SECONDS)
                    .max(1),
            ),
        }
    }
}

/// The wait before retry `retry` (1 for the retry after the first attempt). `retry_after` is the
/// endpoint's wish, already parsed; `jitter` is a random number in [0, 1).
///
/// - a Retry-After wins over the backoff, capped at `max`;
/// - `constant`: `base`, uncapped (as before backoff existed);
/// - `exponential`: uniformly in [0, min(max, base × 2^(retry-1))], in whole milliseconds.
pub fn delay(policy: &Policy, retry: i32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let max = Duration::seconds(policy.max);
    if let Some(wish) = retry_after {
        return wish.clamp(Duration::zero(), max);
    }
    match policy.backoff {
        RetryBackoff::Constant => Duration::seconds(policy.base),
        RetryBackoff::Exponential => {
            let ceiling_ms = ceiling(policy, retry) * 1000;
            let jitter = if jitter.is_finite() {
                jitter.clamp(0.0, 1.0)
            } else {
                0.0
            };
            // At most 86400 s = 8.64e7 ms: exact in an f64.
            Duration::milliseconds((ceiling_ms as f64 * jitter).floor() as i64)
        }
    }
}

/// The largest exponential wait before retry `retry`, in seconds: min(max, base × 2^(retry-1)).
pub fn ceiling(policy: &Policy, retry: i32) -> i64 {
    let doublings = u32::try_from(retry.max(1) - 1).unwrap_or(0).min(62);
    policy
        .base
        .saturating_mul(1i64 << doublings)
        .min(policy.max)
}

/// A `Retry-After` value as a wait from `now`: delta-seconds (`120`) or an HTTP date (`Wed, 21
/// Oct 2026 07:28:00 GMT`, and the two obsolete forms). A date in the past is no wait. None when
/// the value is neither (then the backoff applies).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than any cap: saturate rather than fail.
        let secs = value.parse::<i64>().unwrap_or(i64::MAX).min(10 * 86400);
        return Some(Duration::seconds(secs));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).max(Duration::zero()))
}

/// Statuses whose Retry-After is honoured.
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// A random number in [0, 1) for the jitter (the one impure piece, kept out of `delay`).
pub fn random_jitter() -> f64 {
    let bits = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(backoff: RetryBackoff, base: i64, max: i64) -> Policy {
        Policy { backoff, base, max }
    }

    #[test]
    fn the_schedule_by_rule_retry_and_jitter() {
        use RetryBackoff::{Constant, Exponential};
        let s = Duration::seconds;
        let ms = Duration::milliseconds;
        // (policy, retry, Retry-After, jitter, wait)
        let table = [
            // constant: the same wait every time, not capped (today's behaviour)
            (policy(Constant, 60, 3600), 1, None, 0.9, s(60)),
            (policy(Constant, 60, 3600), 7, None, 0.0, s(60)),
            (policy(Constant, 7200, 3600), 1, None, 0.5, s(7200)),
            (policy(Constant, 0, 3600), 1, None, 0.5, s(0)),
            // exponential: a jittered share of base × 2^(retry-1), capped at max
            (policy(Exponential, 2, 3600), 1, None, 0.5, s(1)),
            (policy(Exponential, 2, 3600), 2, None, 0.5, s(2)),
            (policy(Exponential, 2, 3600), 3, None, 0.5, s(4)),
            (policy(Exponential, 2, 3600), 3, None, 0.0, s(0)),
            (policy(Exponential, 2, 3600), 3, None, 0.999, ms(7992)),
            (policy(Exponential, 2, 10), 4, None, 0.5, s(5)),
            (policy(Exponential, 2, 10), 100, None, 0.25, ms(2500)),
            (policy(Exponential, 86400, 86400), 100, None, 0.5, s(43200)),
            // a jitter outside [0, 1) is clamped, never a negative or oversized wait
            (policy(Exponential, 2, 3600), 1, None, -3.0, s(0)),
            (policy(Exponential, 2, 3600), 1, None, f64::NAN, s(0)),
            (policy(Exponential, 2, 3600), 1, None, 7.0, s(2)),
            // Retry-After wins over either rule, within max
            (policy(Constant, 60, 3600), 1, Some(s(5)), 0.5, s(5)),
            (policy(Exponential, 60, 3600), 3, Some(s(5)), 0.5, s(5)),
            (policy(Constant, 1, 30), 1, Some(s(120)), 0.5, s(30)),
            (policy(Constant, 1, 30), 1, Some(s(0)), 0.5, s(0)),
        ];
        for (p, retry, wish, jitter, want) in table {
            assert_eq!(
                delay(&p, retry, wish, jitter),
                want,
                "{p:?} {retry} {wish:?} {jitter}"
            );
        }
    }

    #[test]
    fn retry_after_is_delta_seconds_or_an_http_date() {
        let now = Utc.with_ymd_and_hms(2026, 10, 21, 7, 28, 0).unwrap();
        let s = Duration::seconds;
        let table = [
            ("120", Some(s(120))),
            (" 7 ", Some(s(7))),
            ("0", Some(s(0))),
            ("99999999999999999999999", Some(s(864000))),
            ("Wed, 21 Oct 2026 07:28:30 GMT", Some(s(30))),
            ("Wednesday, 21-Oct-26 07:29:00 GMT", Some(s(60))),
            ("Wed Oct 21 07:28:05 2026", Some(s(5))),
            // in the past: go now
            ("Wed, 21 Oct 2026 07:00:00 GMT", Some(s(0))),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_retry_after(value, now), want, "{value:?}");
        }
        assert!(honours_retry_after(429) && honours_retry_after(503));
        assert!(!honours_retry_after(500) && !honours_retry_after(502));
    }

    #[test]
    fn random_jitter_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
