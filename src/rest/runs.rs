//! Handlers of `/actions/{action_id}/runs...`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use kube::runtime::reflector::ObjectRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cursor::paginate;
use super::error::ApiError;
use super::extract::{ApiPath, QueryPairs};
use super::{AppState, RunView, Scope, validate};

const RESOURCE: &str = "actionruns";

/// One page of an Action's runs (`GET /actions/{id}/runs`), newest first.
#[derive(Serialize, JsonSchema, Debug)]
pub struct RunList {
    /// Number of runs matching the filter, on every page.
    pub total: usize,
    /// Whether more pages follow.
    pub has_more: bool,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
    /// This page's runs.
    pub runs: Vec<RunView>,
}

/// Path parameters of one run.
#[derive(Deserialize, Clone, Debug)]
pub struct RunPath {
    pub org_id: String,
    pub workspace_id: String,
    pub app_id: String,
    pub action_id: String,
    pub run_id: String,
}

pub async fn list(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<super::actions::ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<RunList>, ApiError> {
    state
        .caller(&headers, "list", RESOURCE, &path.workspace_id)
        .await?;
    let scope = Scope {
        org_id: path.org_id.clone(),
        workspace_id: path.workspace_id.clone(),
        app_id: path.app_id.clone(),
    };
    let action = state.find_action(&scope, &path.action_id)?;
    let query = validate::parse_list_query(&query, true).map_err(ApiError::Validation)?;
    let views: Vec<RunView> = state
        .runs
        .state()
        .iter()
        .filter(|r| {
            r.metadata.namespace == action.metadata.namespace && r.spec.action == path.action_id
        })
        .map(|r| RunView::from_resource(r))
        .filter(|v| query.status.is_none_or(|s| v.status == s))
        .collect();
    let page = paginate(
        views,
        |v| (v.triggered_at, v.run_id.as_str()),
        query.limit,
        query.cursor.as_ref(),
    );
    Ok(Json(RunList {
        total: page.total,
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        runs: page.items,
    }))
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    headers: HeaderMap,
) -> Result<Json<RunView>, ApiError> {
    state
        .caller(&headers, "get", RESOURCE, &path.workspace_id)
        .await?;
    let scope = Scope {
        org_id: path.org_id.clone(),
        workspace_id: path.workspace_id.clone(),
        app_id: path.app_id.clone(),
    };
    state.find_action(&scope, &path.action_id)?;
    let not_found = || ApiError::NotFound {
        resource_type: "run",
        resource_id: path.run_id.clone(),
    };
    let run = state
        .runs
        .get(&ObjectRef::new(&path.run_id).within(&path.workspace_id))
        .filter(|r| r.spec.action == path.action_id)
        .ok_or_else(not_found)?;
    Ok(Json(RunView::from_resource(&run)))
}
