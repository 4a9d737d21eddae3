//! The callback route of long-running agent calls (docs/agent-calls.md): an endpoint that answered
//! `202 Accepted` reports the outcome (`POST /v1/callbacks/{workspace_id}/{run_id}/{attempt}`) or
//! that it is still working (`.../heartbeat`), with the attempt's token as its bearer token. The
//! facade checks the token and hands the report to the runner in an annotation; the runner, the
//! only writer of run status, records it. Any replica takes a callback: the state is in the run.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, FieldError, loc};
use super::extract::{ApiPath, JsonBody};
use super::{AppState, FIELD_MANAGER, validate};
use crate::callback::{
    self, HEARTBEAT_ANNOTATION, Heartbeat, MESSAGE_LIMIT, OUTPUT_LIMIT, REPORT_ANNOTATION, Report,
    Reported,
};
use crate::resources::{ActionRun, RunPhase};

#[derive(Deserialize, Clone, Debug)]
pub struct CallbackPath {
    pub workspace_id: String,
    pub run_id: String,
    pub attempt: String,
}

/// The answer to a report.
#[derive(Serialize, JsonSchema, Debug)]
pub struct CallbackAnswer {
    /// The run reported on.
    pub run_id: String,
    /// The attempt reported on.
    pub attempt: i32,
    /// The run's status now: `succeeded` or `failed` once the report is recorded, or `running`
    /// while the runner has not recorded it yet (then the answer is 202).
    pub status: RunPhase,
    /// False when this attempt had already been reported (or is no longer awaited): nothing
    /// changed, the answer is the same as for the first report.
    pub recorded: bool,
}

/// The answer to a heartbeat.
#[derive(Serialize, JsonSchema, Debug)]
pub struct HeartbeatAnswer {
    pub run_id: String,
    pub attempt: i32,
    /// The new deadline for the report: the heartbeat plus completionTimeoutSeconds.
    #[schemars(extend("format" = "date-time"))]
    pub callback_deadline: String,
}

/// The run and attempt a callback names, once its path and token are checked: 422 for a bad
/// path, 401 without a token, 404 for an unknown run, 401 for a token not of this attempt.
fn admit(
    state: &AppState,
    headers: &HeaderMap,
    path: &CallbackPath,
) -> Result<(std::sync::Arc<ActionRun>, i32), ApiError> {
    let mut errors = validate::check_path(&[
        ("workspace_id", &path.workspace_id),
        ("run_id", &path.run_id),
    ]);
    let attempt = path.attempt.parse::<i32>().ok().filter(|n| *n >= 1);
    if attempt.is_none() {
        errors.push(FieldError::new(
            "int_parsing",
            loc(&["path", "attempt"]),
            "Input should be a valid integer of at least 1",
            json!(path.attempt),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let attempt = attempt.unwrap_or(1);
    let token = super::auth::bearer_token(headers).ok_or(ApiError::Unauthenticated)?;
    let run = state
        .runs
        .get(&ObjectRef::new(&path.run_id).within(&path.workspace_id))
        .ok_or_else(|| ApiError::NotFound {
            resource_type: "run",
            resource_id: path.run_id.clone(),
        })?;
    let uid = run.metadata.uid.clone().unwrap_or_default();
    if !state
        .callbacks
        .verify(&path.workspace_id, &path.run_id, &uid, attempt, token)
    {
        return Err(ApiError::Unauthenticated);
    }
    Ok((run, attempt))
}

/// Whether a report or heartbeat of `attempt` can still count: the run is active, the attempt
/// has not ended, and no report of it was handed over yet. That includes an attempt whose 202
/// the runner has not recorded yet: a fast agent may report before then (even before its 202
/// reaches the runner), and the report waits in the run until the runner records the 202.
fn open(run: &ActionRun, attempt: i32) -> bool {
    let status = run.status.clone().unwrap_or_default();
    let reported: Option<Report> = callback::read(
        run.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REPORT_ANNOTATION)),
    );
    status.status.is_active()
        && attempt >= status.attempt
        && !ended(run, attempt)
        && reported.is_none_or(|r| r.attempt != attempt)
}

/// Whether `attempt` of the run is over (or the run is).
fn ended(run: &ActionRun, attempt: i32) -> bool {
    let status = run.status.clone().unwrap_or_default();
    !status.status.is_active()
        || status
            .attempts
            .iter()
            .any(|a| a.number == attempt && a.completed_at.is_some())
}

/// Whether `attempt` ended with what `report` said (and not otherwise, e.g. its request failed
/// before the endpoint's 202 reached the runner).
fn took(run: &ActionRun, attempt: i32, report: &Report) -> bool {
    let status = run.status.clone().unwrap_or_default();
    let said = match report.status {
        Reported::Succeeded => None,
        Reported::Failed => Some(crate::resources::RunErrorCode::ReportedFailure),
    };
    status.attempts.iter().any(|a| {
        a.number == attempt
            && a.completed_at.is_some()
            && a.http_status == Some(202)
            && a.error_code == said
    })
}

/// Reads `{status: succeeded|failed, output?, error_message?}`; text beyond the limits is cut.
fn parse_report(body: Option<&Value>, attempt: i32) -> Result<Report, Vec<FieldError>> {
    let empty = serde_json::Map::new();
    let Some(obj) = body.map_or(Some(&empty), Value::as_object) else {
        return Err(vec![FieldError::new(
            "model_attributes_type",
            loc(&["body"]),
            "Input should be a valid dictionary or object to extract fields from",
            body.cloned().unwrap_or(Value::Null),
        )]);
    };
    let mut errs = Vec::new();
    let status = match obj.get("status") {
        None => {
            errs.push(FieldError::missing(
                loc(&["body", "status"]),
                Value::Object(obj.clone()),
            ));
            None
        }
        Some(v) => match serde_json::from_value::<Reported>(v.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                errs.push(
                    FieldError::new(
                        "enum",
                        loc(&["body", "status"]),
                        "Input should be 'succeeded' or 'failed'",
                        v.clone(),
                    )
                    .with_ctx(json!({"expected": "'succeeded' or 'failed'"})),
                );
                None
            }
        },
    };
    let mut text = |field: &str, limit: usize| match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::runner::outcome::truncate(s, limit).to_string()),
        Some(other) => {
            errs.push(FieldError::new(
                "string_type",
                loc(&["body", field]),
                "Input should be a valid string",
                other.clone(),
            ));
            None
        }
    };
    let output = text("output", OUTPUT_LIMIT);
    let error_message = text("error_message", MESSAGE_LIMIT);
    match (status, errs.is_empty()) {
        (Some(status), true) => Ok(Report {
            attempt,
            status,
            output,
            error_message,
            at: Utc::now(),
        }),
        _ => Err(errs),
    }
}

fn annotate_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

pub async fn report(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<CallbackPath>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (run, attempt) = admit(&state, &headers, &path)?;
    let report = parse_report(body.as_ref(), attempt).map_err(ApiError::Validation)?;
    let answer = |run: &ActionRun, recorded: bool| CallbackAnswer {
        run_id: path.run_id.clone(),
        attempt,
        status: run.status.clone().unwrap_or_default().status,
        recorded,
    };
    if !open(&run, attempt) {
        // A repeat (or a late report): answered as the first was, nothing changes.
        return Ok(Json(answer(&run, false)).into_response());
    }
    let value =
        serde_json::to_string(&report).map_err(|e| ApiError::Internal(format!("report: {e}")))?;
    if let Some(settled) = hand_over(&state, &path, &run, attempt, &value).await? {
        return Ok(Json(answer(&settled, false)).into_response());
    }
    let key = ObjectRef::<ActionRun>::new(&path.run_id).within(&path.workspace_id);
    let (code, seen) = super::wait_recorded(&state.runs, &key, |r| ended(r, attempt)).await;
    let current = seen.as_deref().unwrap_or(&run);
    // Not ended yet (202): handed over, and the runner records it.
    let recorded = code != StatusCode::OK || took(current, attempt, &report);
    Ok((code, Json(answer(current, recorded))).into_response())
}

/// Hands the report `value` to the runner in an annotation, guarded by the version read: of two
/// concurrent reports one is handed over, the other finds it there and is a repeat. The
/// runner's own writes also move the version (the cache may lag behind them): then the fresh
/// copy decides, and the patch is tried again on it. Some(run): the attempt was settled
/// meanwhile, and this report is a repeat.
async fn hand_over(
    state: &AppState,
    path: &CallbackPath,
    run: &ActionRun,
    attempt: i32,
    value: &str,
) -> Result<Option<ActionRun>, ApiError> {
    let api: Api<ActionRun> = Api::namespaced(state.client.clone(), &path.workspace_id);
    let gone = || ApiError::NotFound {
        resource_type: "run",
        resource_id: path.run_id.clone(),
    };
    let mut version = run.metadata.resource_version.clone();
    for _ in 0..5 {
        let patch = json!({"metadata": {
            "resourceVersion": version,
            "annotations": {REPORT_ANNOTATION: value},
        }});
        match api
            .patch(&path.run_id, &annotate_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(None),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let fresh = api.get_opt(&path.run_id).await?.ok_or_else(gone)?;
                if !open(&fresh, attempt) {
                    return Ok(Some(fresh));
                }
                version = fresh.metadata.resource_version;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(gone()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "The run kept changing while the report was handed over; send it again".into(),
    ))
}

pub async fn heartbeat(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<CallbackPath>,
    headers: HeaderMap,
) -> Result<Json<HeartbeatAnswer>, ApiError> {
    let (run, attempt) = admit(&state, &headers, &path)?;
    if !open(&run, attempt) {
        return Err(ApiError::Conflict(format!(
            "Attempt {attempt} of run '{}' is not awaiting a report",
            path.run_id
        )));
    }
    let now = Utc::now();
    let beat = serde_json::to_string(&Heartbeat { attempt, at: now })
        .map_err(|e| ApiError::Internal(format!("heartbeat: {e}")))?;
    let patch = json!({"metadata": {
        "uid": run.metadata.uid,
        "annotations": {HEARTBEAT_ANNOTATION: beat},
    }});
    let api: Api<ActionRun> = Api::namespaced(state.client.clone(), &path.workspace_id);
    api.patch(&path.run_id, &annotate_params(), &Patch::Merge(&patch))
        .await?;
    let deadline = now + crate::runner::awaiting::completion_timeout(&run);
    Ok(Json(HeartbeatAnswer {
        run_id: path.run_id.clone(),
        attempt,
        callback_deadline: crate::time::format_time(&deadline),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(status: Value, report: Option<Value>) -> ActionRun {
        let mut run: ActionRun = serde_json::from_value(json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "r", "namespace": "ws"},
            "spec": {"action": "a", "triggerType": "manual", "resolvedPayload": {},
                     "namespaceId": "m", "endpoint": "e", "maxRetries": 1,
                     "retryDelaySeconds": 1, "timeoutSeconds": 30},
            "status": status,
        }))
        .unwrap();
        if let Some(r) = report {
            run.metadata.annotations =
                Some([(REPORT_ANNOTATION.to_string(), r.to_string())].into());
        }
        run
    }

    #[test]
    fn a_report_counts_from_the_attempt_s_request_until_the_attempt_ends() {
        let t = "2026-03-01T10:00:00Z";
        let open_attempt = json!({"number": 2, "executionId": "x", "startedAt": t});
        let closed = |code: Value| {
            json!({"number": 2, "executionId": "x", "startedAt": t,
            "completedAt": t, "httpStatus": 202, "errorCode": code})
        };
        // Attempt 2 in flight, nothing written for it yet (its 202 not recorded): open.
        let before = run_with(json!({"status": "pending", "attempt": 1}), None);
        assert!(open(&before, 2) && !ended(&before, 2));
        // Its 202 recorded, awaiting the report: open; attempt 1 is not.
        let waiting = run_with(
            json!({"status": "running", "attempt": 2, "callbackDeadline": t,
                   "attempts": [open_attempt]}),
            None,
        );
        assert!(open(&waiting, 2) && !open(&waiting, 1));
        // Handed over already: a repeat.
        let handed = run_with(
            json!({"status": "running", "attempt": 2, "attempts": [open_attempt]}),
            Some(json!({"attempt": 2, "status": "succeeded", "at": t})),
        );
        assert!(!open(&handed, 2));
        // Ended by the report: taken; ended otherwise (a timeout): not taken.
        let report = Report {
            attempt: 2,
            status: Reported::Succeeded,
            output: None,
            error_message: None,
            at: Utc::now(),
        };
        let done = run_with(
            json!({"status": "succeeded", "attempt": 2, "attempts": [closed(Value::Null)]}),
            None,
        );
        assert!(ended(&done, 2) && !open(&done, 2) && took(&done, 2, &report));
        let timed_out = run_with(
            json!({"status": "pending", "attempt": 2, "attempts": [closed(json!("timeout"))]}),
            None,
        );
        assert!(ended(&timed_out, 2) && !open(&timed_out, 2) && !took(&timed_out, 2, &report));
    }

    #[test]
    fn a_report_is_read_strictly_and_cut_to_its_limits() {
        let r = parse_report(
            Some(&json!({"status": "failed", "error_message": "x".repeat(5000)})),
            2,
        )
        .unwrap();
        assert_eq!((r.attempt, r.status), (2, Reported::Failed));
        assert_eq!(r.error_message.unwrap().len(), MESSAGE_LIMIT);
        let kinds = |body: Value| -> Vec<String> {
            parse_report(Some(&body), 1)
                .unwrap_err()
                .iter()
                .map(|e| e.kind.clone())
                .collect()
        };
        assert_eq!(kinds(json!({})), ["missing"]);
        assert_eq!(
            kinds(json!({"status": "done", "output": 5})),
            ["enum", "string_type"]
        );
        assert_eq!(kinds(json!([1])), ["model_attributes_type"]);
    }
}
