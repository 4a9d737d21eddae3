//! Notifications of a run's end (docs/delivery.md, "Notifications"): a small JSON summary of the
//! run sent to the ActionEndpoint its `notifications` name, signed like any request, with a short
//! retry of its own. Whether it was delivered is in the run's status (`notification`), written
//! once when it is settled, so a restart sends a pending notification again (at least once) and
//! never one already acknowledged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use serde::Serialize;
use tracing::{debug, info};

use super::attempt::write_status;
use super::controller::Context;
use super::outcome::{self, AttemptResult, OUTPUT_LIMIT};
use super::{http, signing, target};
use crate::resources::{
    ActionRun, NotificationPhase, NotificationStatus, RunErrorCode, RunPhase, TriggerType,
};
use crate::{Error, Result};

/// Requests per notification (in one process): the first and two retries.
pub const TRIES: i32 = 3;
/// The wait before retry k is `RETRY_BASE` × 2^(k-1).
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Most of the run's output in the summary.
pub const OUTPUT_EXCERPT: usize = 512;
/// Timeout of one notification request (the endpoint's own timeout, if shorter, wins).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The JSON body of a notification.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Summary {
    /// `run.failed` or `run.succeeded`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub namespace: String,
    pub action: String,
    pub run: String,
    pub status: RunPhase,
    pub trigger_type: TriggerType,
    pub scheduled_at: Option<String>,
    pub triggered_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub attempts: i32,
    pub execution_id: Option<String>,
    pub http_status: Option<i32>,
    pub error_code: Option<RunErrorCode>,
    pub error_message: Option<String>,
    /// The first 512 bytes of the last response body.
    pub output_excerpt: Option<String>,
}

/// The summary of a finished run (pure).
pub fn summary(run: &ActionRun) -> Summary {
    let st = run.status.clone().unwrap_or_default();
    let time = |t: Option<DateTime<Utc>>| t.as_ref().map(crate::time::format_time);
    Summary {
        kind: if st.status == RunPhase::Succeeded {
            "run.succeeded"
        } else {
            "run.failed"
        },
        namespace: run.namespace().unwrap_or_default(),
        action: run.spec.action.clone(),
        run: run.name_any(),
        status: st.status,
        trigger_type: run.spec.trigger_type,
        scheduled_at: time(run.spec.scheduled_at),
        triggered_at: time(st.triggered_at),
        started_at: time(st.started_at),
        completed_at: time(st.completed_at),
        duration_seconds: st.duration_seconds,
        attempts: st.attempt,
        execution_id: st.execution_id.clone(),
        http_status: st.http_status,
        error_code: st.error_code,
        error_message: st.error_message.clone(),
        output_excerpt: st
            .output
            .as_deref()
            .map(|o| outcome::truncate(o, OUTPUT_EXCERPT.min(OUTPUT_LIMIT)).to_string()),
    }
}

/// Whether the run owes a notification still to be sent.
pub fn due(run: &ActionRun) -> bool {
    run.status
        .as_ref()
        .and_then(|s| s.notification.as_ref())
        .is_some_and(|n| n.phase == NotificationPhase::Pending)
}

/// The Punctual headers of try `n` of the notification of `run` (before signing).
pub fn headers(summary: &Summary, n: i32) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("Idempotency-Key".into(), format!("{}_notify", summary.run)),
        ("X-Punctual-Action".into(), summary.action.clone()),
        ("X-Punctual-Run".into(), summary.run.clone()),
        ("X-Punctual-Notification".into(), summary.kind.into()),
        ("X-Punctual-Attempt".into(), n.to_string()),
    ]
}

/// Sends the notification the run owes, with up to `TRIES` requests, and records the result in
/// the run's status. Returns the resourceVersion written, if any.
pub(super) async fn notify(ctx: &Context, run: &ActionRun) -> Result<Option<String>> {
    let Some(mut note) = run.status.as_ref().and_then(|s| s.notification.clone()) else {
        return Ok(None);
    };
    let ns = run.namespace().unwrap_or_default();
    let summary = summary(run);
    let body = serde_json::to_vec(&summary).unwrap_or_default();
    let endpoint = ctx
        .caches
        .endpoints()
        .get(&ObjectRef::new(&note.endpoint).within(&ns));
    let resolved = target::resolve(
        &ctx.client,
        &ns,
        &note.endpoint,
        endpoint.as_deref(),
        ctx.service_mode,
    )
    .await;
    for n in 1..=TRIES {
        note.attempts += 1;
        let result = match &resolved {
            Err((code, message)) => AttemptResult::NotSent {
                code: *code,
                message: message.clone(),
            },
            Ok(t) => send(ctx, t, run, &summary, &body, note.attempts).await,
        };
        let o = outcome::classify(&result);
        if o.error.is_none() {
            note.phase = NotificationPhase::Delivered;
            note.last_error = None;
            note.delivered_at = Some(ctx.clock.now());
            break;
        }
        note.last_error = o.message.clone();
        debug!(try_ = n, error = ?o.message, "notification not delivered");
        if !o.retryable || n == TRIES {
            note.phase = NotificationPhase::Failed;
            break;
        }
        tokio::time::sleep(RETRY_BASE * 2u32.pow((n - 1) as u32)).await;
    }
    info!(endpoint = %note.endpoint, phase = ?note.phase, tries = note.attempts, "notification settled");
    settle(ctx, run, note).await
}

async fn send(
    ctx: &Context,
    target: &target::Target,
    run: &ActionRun,
    summary: &Summary,
    body: &[u8],
    n: i32,
) -> AttemptResult {
    let _permit = ctx.permits.clone().acquire_owned().await;
    let mut own = headers(summary, n);
    // In the run's trace, as a child of its slot's span.
    let uid = run.uid().unwrap_or_default();
    own.extend(super::trace::headers(
        &uid,
        &super::trace::slot_span_id(&uid),
        ctx.tracing.state.as_deref(),
    ));
    let id = signing::webhook_id(&format!("{}_notify", summary.run), n);
    let now = ctx.clock.now().timestamp();
    own.extend(http::signing_headers(&target.signing, &id, now, body));
    let limit = target.timeout.min(TIMEOUT);
    http::send_body(&ctx.http, target, own, body.to_vec(), limit).await
}

/// Writes the settled notification, conditional on the run as read; on a conflict, on a fresh
/// copy that still owes it.
async fn settle(
    ctx: &Context,
    run: &ActionRun,
    note: NotificationStatus,
) -> Result<Option<String>> {
    let mut current = run.clone();
    for _ in 0..3 {
        let mut status = current.status.clone().unwrap_or_default();
        status.notification = Some(note.clone());
        match write_status(ctx, &current, &status).await {
            Ok(written) => return Ok(written.resource_version()),
            Err(e) if e.is_conflict() => {
                let api: kube::Api<ActionRun> =
                    kube::Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
                match api.get_opt(&run.name_any()).await.map_err(Error::Kube)? {
                    Some(fresh) if fresh.uid() == run.uid() && due(&fresh) => current = fresh,
                    _ => return Ok(None),
                }
            }
            Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_of_a_failed_run() {
        let run: ActionRun = serde_json::from_value(json!({
            "metadata": {"name": "daily-1800000000", "namespace": "ops"},
            "spec": {"action": "daily", "triggerType": "scheduled",
                     "scheduledAt": "2027-01-15T08:00:00Z", "namespaceId": "mem",
                     "endpoint": "e", "maxRetries": 1, "retryDelaySeconds": 1},
            "status": {"status": "failed", "attempt": 2, "httpStatus": 500,
                       "errorCode": "http_error", "errorMessage": "endpoint answered HTTP 500",
                       "triggeredAt": "2027-01-15T08:00:00Z",
                       "startedAt": "2027-01-15T08:00:00.250Z",
                       "completedAt": "2027-01-15T08:00:02Z", "durationSeconds": 1.75,
                       "executionId": "x-2", "output": "é".repeat(600)}
        }))
        .unwrap();
        let s = summary(&run);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["type"], "run.failed");
        assert_eq!(v["namespace"], "ops");
        assert_eq!(v["action"], "daily");
        assert_eq!(v["run"], "daily-1800000000");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["trigger_type"], "scheduled");
        assert_eq!(v["scheduled_at"], "2027-01-15T08:00:00Z");
        assert_eq!(v["started_at"], "2027-01-15T08:00:00.250Z");
        assert_eq!(v["completed_at"], "2027-01-15T08:00:02Z");
        assert_eq!(v["duration_seconds"], 1.75);
        assert_eq!(v["attempts"], 2);
        assert_eq!(v["http_status"], 500);
        assert_eq!(v["error_code"], "http_error");
        assert_eq!(v["error_message"], "endpoint answered HTTP 500");
        // 512 bytes, cut on a character boundary (é is two bytes).
        assert_eq!(s.output_excerpt.as_deref().map(str::len), Some(512));
        let h: std::collections::BTreeMap<_, _> = headers(&s, 2).into_iter().collect();
        assert_eq!(h["Idempotency-Key"], "daily-1800000000_notify");
        assert_eq!(h["X-Punctual-Notification"], "run.failed");
        assert_eq!(h["X-Punctual-Attempt"], "2");
    }
}
