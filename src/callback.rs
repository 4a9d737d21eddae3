//! Long-running agent calls (docs/agent-calls.md): an endpoint that answers `202 Accepted` reports
//! the outcome later by POSTing to a per-run callback URL on the facade, with a token valid for
//! that run and attempt only. Shared by the runner (which sends the URL and token and records
//! the outcome) and the facade (which checks the token and hands the report to the runner).
//!
//! All state lives in the run: the deadline in `status.callbackDeadline`, a report or heartbeat
//! in an annotation the facade sets (the runner is the only writer of run status). So any
//! replica's facade takes the callback, and a restart loses nothing.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::resources::ActionRunStatus;

/// Annotation holding the endpoint's report for an attempt (JSON `Report`), set by the facade.
pub const REPORT_ANNOTATION: &str = "punctual.dev/callback-report";
/// Annotation holding the latest heartbeat (JSON `Heartbeat`), set by the facade.
pub const HEARTBEAT_ANNOTATION: &str = "punctual.dev/callback-heartbeat";
/// Headers of every request: where to report, and with what token.
pub const URL_HEADER: &str = "X-Punctual-Callback-URL";
pub const TOKEN_HEADER: &str = "X-Punctual-Callback-Token";
/// Header of the request that tells the endpoint of a 202 run that the run was cancelled.
pub const CANCEL_HEADER: &str = "X-Punctual-Cancel";
/// `completionTimeoutSeconds` when an Action sets none.
pub const DEFAULT_COMPLETION_TIMEOUT_SECONDS: i64 = 3600;
/// Most of a report's `output` and `error_message` kept.
pub const OUTPUT_LIMIT: usize = 4096;
pub const MESSAGE_LIMIT: usize = 1024;

/// The callback key and the facade's public URL. Debug never shows the key.
#[derive(Clone)]
pub struct Callbacks {
    key: hmac::Key,
    /// The facade's URL as endpoints reach it (`--public-url`), without a trailing slash.
    public_url: Option<String>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("key", &"<redacted>")
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl Callbacks {
    pub fn new(key: &[u8], public_url: Option<&str>) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// The token of one attempt of one run (this uid: a re-created namesake gets other tokens).
    pub fn token(&self, namespace: &str, run: &str, uid: &str, attempt: i32) -> String {
        let tag = hmac::sign(&self.key, message(namespace, run, uid, attempt).as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `token` is this attempt's (constant time).
    pub fn verify(&self, namespace: &str, run: &str, uid: &str, attempt: i32, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        hmac::verify(
            &self.key,
            message(namespace, run, uid, attempt).as_bytes(),
            &tag,
        )
        .is_ok()
    }

    /// The callback URL of an attempt, when the facade has a public URL.
    pub fn url(&self, namespace: &str, run: &str, attempt: i32) -> Option<String> {
        let base = self.public_url.as_ref()?;
        Some(format!("{base}{}", path(namespace, run, attempt)))
    }
}

fn message(namespace: &str, run: &str, uid: &str, attempt: i32) -> String {
    format!("punctual-callback/v1\n{namespace}\n{run}\n{uid}\n{attempt}")
}

/// The callback route's path of an attempt (on the facade, outside the workspace prefix: the
/// endpoint knows only this URL).
pub fn path(namespace: &str, run: &str, attempt: i32) -> String {
    format!("/v1/callbacks/{namespace}/{run}/{attempt}")
}

/// How the endpoint says the call ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Reported {
    Succeeded,
    Failed,
}

/// An endpoint's report of one attempt, as the facade stores it for the runner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub attempt: i32,
    pub status: Reported,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub at: DateTime<Utc>,
}

/// A heartbeat: the endpoint is still working on the attempt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub attempt: i32,
    pub at: DateTime<Utc>,
}

/// What the runner does with a run that waits for its endpoint's report.
#[derive(Clone, Debug, PartialEq)]
pub enum Awaiting {
    /// The endpoint reported this attempt.
    Report(Report),
    /// A heartbeat moved the deadline here: write it.
    Extend(DateTime<Utc>),
    /// No report by the deadline: the attempt timed out.
    TimedOut,
    /// Nothing yet: look again at the deadline.
    WaitUntil(DateTime<Utc>),
}

/// The decision for a run whose current attempt was accepted (202): pure, from its status, the
/// report and heartbeat annotations, its completion timeout and `now`. A report or heartbeat of
/// another attempt is ignored.
pub fn decide(
    status: &ActionRunStatus,
    report: Option<Report>,
    heartbeat: Option<Heartbeat>,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Option<Awaiting> {
    let deadline = status.callback_deadline?;
    if let Some(r) = report.filter(|r| r.attempt == status.attempt) {
        return Some(Awaiting::Report(r));
    }
    if let Some(hb) = heartbeat.filter(|h| h.attempt == status.attempt) {
        let extended = hb.at + timeout;
        if extended > deadline {
            return Some(Awaiting::Extend(extended));
        }
    }
    Some(if now >= deadline {
        Awaiting::TimedOut
    } else {
        Awaiting::WaitUntil(deadline)
    })
}

/// A status's annotation value read back; a malformed one (set by hand) is ignored.
pub fn read<T: serde::de::DeserializeOwned>(value: Option<&String>) -> Option<T> {
    serde_json::from_str(value?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_is_valid_for_its_run_and_attempt_only() {
        let c = Callbacks::new(b"k".repeat(32).as_slice(), Some("http://facade:8080/"));
        let token = c.token("ws", "run-1", "uid-1", 1);
        assert!(c.verify("ws", "run-1", "uid-1", 1, &token));
        assert!(
            !c.verify("ws", "run-1", "uid-1", 2, &token),
            "another attempt"
        );
        assert!(!c.verify("ws", "run-2", "uid-1", 1, &token), "another run");
        assert!(
            !c.verify("ws", "run-1", "uid-2", 1, &token),
            "a re-created namesake"
        );
        assert!(!c.verify("ws", "run-1", "uid-1", 1, "not-base64!"));
        let other_key = Callbacks::new(b"x".repeat(32).as_slice(), None);
        assert!(!other_key.verify("ws", "run-1", "uid-1", 1, &token));
        assert_eq!(
            c.url("ws", "run-1", 3).as_deref(),
            Some("http://facade:8080/v1/callbacks/ws/run-1/3")
        );
        assert_eq!(other_key.url("ws", "run-1", 1), None);
        assert!(!format!("{c:?}").contains("kkkk"), "Debug hides the key");
    }

    #[test]
    fn the_deadline_holds_until_a_report_or_heartbeat() {
        let mut status = ActionRunStatus {
            attempt: 2,
            callback_deadline: Some(t("2026-03-01T11:00:00Z")),
            ..ActionRunStatus::default()
        };
        let hour = Duration::hours(1);
        let report = |attempt| Report {
            attempt,
            status: Reported::Succeeded,
            output: None,
            error_message: None,
            at: t("2026-03-01T10:30:00Z"),
        };
        let before = t("2026-03-01T10:45:00Z");
        assert_eq!(
            decide(&status, None, None, hour, before),
            Some(Awaiting::WaitUntil(t("2026-03-01T11:00:00Z")))
        );
        assert_eq!(
            decide(&status, Some(report(2)), None, hour, before),
            Some(Awaiting::Report(report(2)))
        );
        // The report of an earlier attempt does not end this one.
        assert_eq!(
            decide(
                &status,
                Some(report(1)),
                None,
                hour,
                t("2026-03-01T11:00:00Z")
            ),
            Some(Awaiting::TimedOut)
        );
        let hb = |attempt, at: &str| Heartbeat { attempt, at: t(at) };
        assert_eq!(
            decide(
                &status,
                None,
                Some(hb(2, "2026-03-01T10:40:00Z")),
                hour,
                before
            ),
            Some(Awaiting::Extend(t("2026-03-01T11:40:00Z")))
        );
        // Once written, the same heartbeat extends nothing more.
        status.callback_deadline = Some(t("2026-03-01T11:40:00Z"));
        assert_eq!(
            decide(
                &status,
                None,
                Some(hb(2, "2026-03-01T10:40:00Z")),
                hour,
                before
            ),
            Some(Awaiting::WaitUntil(t("2026-03-01T11:40:00Z")))
        );
        assert_eq!(
            decide(
                &status,
                None,
                Some(hb(1, "2026-03-01T11:30:00Z")),
                hour,
                before
            ),
            Some(Awaiting::WaitUntil(t("2026-03-01T11:40:00Z"))),
            "another attempt's heartbeat"
        );
        status.callback_deadline = None;
        assert_eq!(decide(&status, Some(report(2)), None, hour, before), None);
    }
}
