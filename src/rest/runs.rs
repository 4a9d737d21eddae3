//! Handlers of `/actions/{action_id}/runs...`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use schemars::JsonSchema;
use serde::Serialize;

use axum::response::{IntoResponse, Response};

use super::cursor::paginate;
use super::detail::{RunDetail, View};
use super::error::ApiError;
use super::extract::{ApiPath, QueryPairs};
use super::model::is_listed;
use super::{ActionPath, Admitted, AppState, RunPath, RunView, validate};

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

pub async fn list(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<RunList>, ApiError> {
    let query = validate::parse_list_query(&query, true);
    let Admitted {
        target: action,
        input: query,
        ..
    } = state
        .admit(&headers, "list", RESOURCE, &path, query)
        .await?;
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
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let view = super::detail::parse_view(&query);
    let Admitted {
        target: run,
        input: view,
        ..
    } = state.admit(&headers, "get", RESOURCE, &path, view).await?;
    Ok(match view {
        View::Summary => Json(RunView::from_resource(&run)).into_response(),
        View::Full => Json(RunDetail::from_resource(&run)).into_response(),
    })
}
