//! The opt-in detailed view of a run (`GET .../runs/{run_id}?view=full`): the reference API's Run object
//! with every attempt and what the endpoint answered (docs/rest.md, "The full run view"). The
//! default view stays exactly the reference API's.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::RunView;
use super::error::{FieldError, loc};
use crate::resources::{ActionRun, RunErrorCode};
use crate::time::format_time;

/// Which view of a run: the reference API's, or the full one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Summary,
    Full,
}

/// `?view=`: absent or `summary` for the reference API's object, `full` for `RunDetail`.
pub fn parse_view(pairs: &[(String, String)]) -> Result<View, Vec<FieldError>> {
    match pairs.iter().rev().find(|(k, _)| k == "view") {
        None => Ok(View::Summary),
        Some((_, v)) if v == "summary" => Ok(View::Summary),
        Some((_, v)) if v == "full" => Ok(View::Full),
        Some((_, v)) => Err(vec![
            FieldError::new(
                "enum",
                loc(&["query", "view"]),
                "Input should be 'summary' or 'full'",
                json!(v),
            )
            .with_ctx(json!({"expected": "'summary' or 'full'"})),
        ]),
    }
}

/// One attempt as the full view shows it.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct AttemptView {
    /// Attempt number, starting at 1.
    pub attempt: i32,
    /// The `X-Execution-Id` sent with this attempt.
    pub execution_id: String,
    /// When the request was sent.
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// When the answer (or the failure) came; null while in flight.
    #[schemars(extend("format" = "date-time"))]
    pub completed_at: Option<String>,
    /// HTTP status of the response, if one came.
    pub http_status: Option<i32>,
    /// Why the attempt failed; null when it succeeded or is in flight.
    pub error_code: Option<RunErrorCode>,
    /// Human-readable detail of the failure.
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    pub output: Option<String>,
}

/// A run with everything Punctual recorded about it.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunDetail {
    /// The reference API's Run object, field for field.
    #[serde(flatten)]
    pub run: RunView,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
    /// When the next attempt starts (a run waiting to retry); null otherwise.
    #[schemars(extend("format" = "date-time"))]
    pub next_attempt_at: Option<String>,
    /// HTTP status of the latest response.
    pub http_status: Option<i32>,
    /// The first 4 KiB of the latest response body.
    pub output: Option<String>,
    /// The run this one re-runs.
    pub rerun_of: Option<String>,
    /// The template variables a trigger gave this run.
    pub variables: std::collections::BTreeMap<String, String>,
    /// The slot of a scheduled run; null for a manual one.
    #[schemars(extend("format" = "date-time"))]
    pub scheduled_at: Option<String>,
}

fn opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(format_time)
}

impl RunDetail {
    pub fn from_resource(run: &ActionRun) -> Self {
        let status = run.status.clone().unwrap_or_default();
        Self {
            run: RunView::from_resource(run),
            attempts: status
                .attempts
                .iter()
                .map(|a| AttemptView {
                    attempt: a.number,
                    execution_id: a.execution_id.clone(),
                    started_at: format_time(&a.started_at),
                    completed_at: opt(a.completed_at),
                    http_status: a.http_status,
                    error_code: a.error_code,
                    error_message: a.error_message.clone(),
                    output: a.output.clone(),
                })
                .collect(),
            next_attempt_at: opt(status.next_attempt_at),
            http_status: status.http_status,
            output: status.output,
            rerun_of: run.spec.rerun_of.clone(),
            variables: run.spec.variables.clone(),
            scheduled_at: opt(run.spec.scheduled_at),
        }
    }
}
