//! Handlers of `/actions/{action_id}/runs...`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use kube::runtime::reflector::ObjectRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actions::ActionPath;
use super::cursor::paginate;
use super::error::ApiError;
use super::extract::{ApiPath, QueryPairs};
use super::model::is_listed;
use super::{AppState, PathIds, RunView, Scope, input_errors, validate};

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
    #[serde(flatten)]
    pub action: ActionPath,
    pub run_id: String,
}

impl PathIds for RunPath {
    fn scope(&self) -> &Scope {
        &self.action.scope
    }

    fn ids(&self) -> Vec<(&'static str, &str)> {
        let mut ids = self.action.ids();
        ids.push(("run_id", &self.run_id));
        ids
    }
}

pub async fn list(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<RunList>, ApiError> {
    let query = validate::parse_list_query(&query, true);
    state
        .caller(&headers, "list", RESOURCE, &path, input_errors(&query))
        .await?;
    let action = state.find_action(&path.scope, &path.action_id)?;
    let query = query.map_err(ApiError::Validation)?;
    let now = chrono::Utc::now();
    let views: Vec<RunView> = state
        .runs
        .state()
        .iter()
        .filter(|r| {
            r.metadata.namespace == action.metadata.namespace && r.spec.action == path.action_id
        })
        .filter(|r| is_listed(r, now))
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
    state.caller(&headers, "get", RESOURCE, &path, &[]).await?;
    let ActionPath { scope, action_id } = &path.action;
    state.find_action(scope, action_id)?;
    let not_found = || ApiError::NotFound {
        resource_type: "run",
        resource_id: path.run_id.clone(),
    };
    let run = state
        .runs
        .get(&ObjectRef::new(&path.run_id).within(&scope.workspace_id))
        .filter(|r| &r.spec.action == action_id && is_listed(r, chrono::Utc::now()))
        .ok_or_else(not_found)?;
    Ok(Json(RunView::from_resource(&run)))
}
