//! The read-only JSON routes the dashboard needs and the REST API lacks (docs/observability.md,
//! "The dashboard"): the workspaces a token may read, a workspace/app overview, and one Action's
//! slot timeline. Each is computed on the server from the watch caches, so the page never pages
//! through thousands of runs. The handlers are here; what they compute is in `overview` and
//! `timeline`, pure functions of the cached objects and `now`, tested in `tests`; `paths` is
//! their part of the OpenAPI document.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;

use crate::resources::{Action, ActionRun};
use crate::rest::error::ApiError;
use crate::rest::extract::{ApiPath, QueryPairs};
use crate::rest::validate::int_param;
use crate::rest::{ActionPath, Admitted, AppState, ORG_LABEL, RunPath, Scope};

mod overview;
mod paths;
mod timeline;

pub use overview::*;
pub use paths::openapi_paths;
pub use timeline::*;

/// Most slots one timeline returns (an every-minute schedule over a week has 10,080); the newest
/// are kept.
pub const MAX_SLOTS: usize = 2000;
/// Timeline window bounds, in hours.
pub const TIMELINE_HOURS: (i64, i64, i64) = (1, 168, 24);
/// Overview window bounds, in minutes.
pub const OVERVIEW_MINUTES: (i64, i64, i64) = (5, 1440, 60);

/// `GET {prefix}/actions/{action_id}/runs/{run_id}/attempts`: needs `get actionruns`.
pub async fn attempts(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    headers: HeaderMap,
) -> Result<Json<AttemptList>, ApiError> {
    let Admitted { target: run, .. } = state
        .admit(&headers, "get", "actionruns", &path, Ok(()))
        .await?;
    Ok(Json(attempt_list(&run)))
}

/// `GET /v1/workspaces`: authenticated; a workspace is listed when the caller may `list actions`
/// in it, so a token sees nothing of a namespace its RBAC does not cover.
pub async fn workspaces(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<WorkspaceList>, ApiError> {
    let caller = state.auth.authenticate(&headers).await?;
    let mut out = Vec::new();
    for ns in state.namespaces.state() {
        let (Some(name), Some(org)) = (
            ns.metadata.name.clone(),
            ns.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ORG_LABEL))
                .cloned(),
        ) else {
            continue;
        };
        match state
            .auth
            .authorize(&caller, "list", "actions", &name)
            .await
        {
            Ok(()) => {}
            Err(ApiError::Forbidden { .. }) => continue,
            Err(e) => return Err(e),
        }
        out.push((org, name));
    }
    let actions = state.actions.state();
    Ok(Json(workspace_list(out, &actions)))
}

/// `GET {prefix}/overview?minutes=60`: needs `list actionruns` in the workspace.
pub async fn overview(
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<Scope>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<Overview>, ApiError> {
    let minutes = int_param(&query, "minutes", OVERVIEW_MINUTES);
    let Admitted { input: minutes, .. } = state
        .admit(&headers, "list", "actionruns", &scope, minutes)
        .await?;
    let in_app = |a: &Action| {
        a.metadata.namespace.as_deref() == Some(scope.workspace_id.as_str())
            && a.spec.app == scope.app_id
    };
    let actions: Vec<Arc<Action>> = state
        .actions
        .state()
        .into_iter()
        .filter(|a| in_app(a))
        .collect();
    let names: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| a.metadata.name.as_deref())
        .collect();
    let runs: Vec<Arc<ActionRun>> = state
        .runs
        .state()
        .into_iter()
        .filter(|r| {
            r.metadata.namespace.as_deref() == Some(scope.workspace_id.as_str())
                && names.contains(r.spec.action.as_str())
        })
        .collect();
    Ok(Json(compute_overview(&actions, &runs, Utc::now(), minutes)))
}

/// `GET {prefix}/actions/{action_id}/timeline?hours=24`: needs `list actionruns`.
pub async fn timeline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<Timeline>, ApiError> {
    let hours = int_param(&query, "hours", TIMELINE_HOURS);
    let Admitted {
        target: action,
        input: hours,
        ..
    } = state
        .admit(&headers, "list", "actionruns", &path, hours)
        .await?;
    let runs: Vec<Arc<ActionRun>> = state
        .runs
        .state()
        .into_iter()
        .filter(|r| {
            r.metadata.namespace == action.metadata.namespace && r.spec.action == path.action_id
        })
        .collect();
    Ok(Json(compute_timeline(&action, &runs, Utc::now(), hours)))
}

#[cfg(test)]
mod tests;
