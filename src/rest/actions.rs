//! Handlers of `/actions...`: thin; validation, paging and mapping live in pure functions.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::cursor::{matches_search, paginate};
use super::error::{ApiError, FieldError, loc};
use super::extract::{ApiPath, JsonBody, QueryPairs};
use super::model::CREATED_BY_ANNOTATION;
use super::validate::{self, ActionInput};
use super::{
    ActionPath, ActionView, Admitted, AppState, FIELD_MANAGER, Scope, wait_gone, wait_seen,
};
use crate::resources::{Action, ActionEndpoint, ActionRun, ActionSpec, RunPhase};
use crate::runspec::{Overrides, Trigger, build_run_with, execution_id};
use crate::time::to_chrono;

const RESOURCE: &str = "actions";

/// One page of Actions (`GET /actions`), newest first.
#[derive(Serialize, JsonSchema, Debug)]
pub struct ActionList {
    /// Number of Actions matching the search, on every page.
    pub total: usize,
    /// Whether more pages follow.
    pub has_more: bool,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
    /// This page's Actions.
    pub actions: Vec<ActionView>,
}

/// The answer to a trigger (`POST /actions/{id}/trigger`): the run was created and is pending.
#[derive(Serialize, JsonSchema, Debug)]
pub struct TriggerResponse {
    /// The Action triggered.
    pub action_id: String,
    /// The run created.
    pub run_id: String,
    /// Execution id of the run's first attempt, sent to the endpoint as `X-Execution-Id`.
    pub execution_id: String,
    /// Always `pending`: the run waits for its first attempt.
    #[schemars(extend("enum" = [RunPhase::Pending]))]
    pub status: &'static str,
    /// Human-readable confirmation.
    pub message: String,
}

pub async fn list(
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<Scope>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<ActionList>, ApiError> {
    let query = validate::parse_list_query(&query, false);
    let Admitted { input: query, .. } = state
        .admit(&headers, "list", RESOURCE, &scope, query)
        .await?;
    let matching: Vec<_> = state
        .actions
        .state()
        .into_iter()
        .filter(|a| {
            a.metadata.namespace.as_deref() == Some(scope.workspace_id.as_str())
                && a.spec.app == scope.app_id
                && matches_search(
                    query.search.as_deref(),
                    a.display_name(),
                    a.spec.description.as_deref(),
                )
        })
        .collect();
    let page = paginate(
        matching,
        |a| {
            (
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(to_chrono)
                    .unwrap_or_default(),
                a.metadata.name.as_deref().unwrap_or_default(),
            )
        },
        query.limit,
        query.cursor.as_ref(),
    );
    Ok(Json(ActionList {
        total: page.total,
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        actions: page
            .items
            .iter()
            .map(|a| ActionView::current(a, Utc::now()))
            .collect(),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
) -> Result<Json<ActionView>, ApiError> {
    let Admitted { target: action, .. } = state
        .admit(&headers, "get", RESOURCE, &path, Ok(()))
        .await?;
    Ok(Json(ActionView::current(&action, Utc::now())))
}

pub async fn create(
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<Scope>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = match &body {
        Some(body) => validate::parse_action_body_all_errors(body, true, Utc::now()),
        None => Err(vec![FieldError::missing(loc(&["body"]), Value::Null)]),
    };
    let Admitted { caller, input, .. } = state
        .admit(&headers, "create", RESOURCE, &scope, input)
        .await?;
    let mut spec = validate::new_spec(&scope.app_id)
        .map_err(|e| ApiError::Internal(format!("default spec: {e}")))?;
    validate::apply(&mut spec, &input).map_err(|e| ApiError::Internal(format!("apply: {e}")))?;
    // Stored explicitly, so that kubectl shows what the facade inferred.
    spec.schedule_type = Some(spec.effective_schedule_type());
    check(&state, &scope.workspace_id, &spec, &input).await?;

    let api: Api<Action> = Api::namespaced(state.client.clone(), &scope.workspace_id);
    let base = validate::slug(spec.display_name.as_deref().unwrap_or_default());
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    // The readable name first; on a clash a random suffix keeps it unique.
    for attempt in 0..5 {
        let name = if attempt == 0
            && state
                .actions
                .get(&ObjectRef::new(&base).within(&scope.workspace_id))
                .is_none()
        {
            base.clone()
        } else {
            format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
        };
        let action = Action {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(scope.workspace_id.clone()),
                annotations: Some(
                    [(CREATED_BY_ANNOTATION.to_string(), caller.username.clone())].into(),
                ),
                ..ObjectMeta::default()
            },
            spec: spec.clone(),
            status: None,
        };
        match api.create(&params, &action).await {
            Ok(created) => {
                wait_seen(&state.actions, &created).await;
                return Ok((
                    StatusCode::CREATED,
                    Json(ActionView::current(&created, Utc::now())),
                )
                    .into_response());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "Could not choose a unique action_id; retry".to_string(),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<ActionView>, ApiError> {
    // The body is required, as the document (and FastAPI) says; `{}` changes nothing.
    let input = match &body {
        Some(body) => validate::parse_action_body_all_errors(body, false, Utc::now()),
        None => Err(vec![FieldError::missing(loc(&["body"]), Value::Null)]),
    };
    let Admitted {
        target: current,
        input,
        ..
    } = state
        .admit(&headers, "update", RESOURCE, &path, input)
        .await?;
    let mut spec = current.spec.clone();
    validate::apply(&mut spec, &input).map_err(|e| ApiError::Internal(format!("apply: {e}")))?;
    // Both schedules without a type is ambiguous (the CRD refuses it): infer it, as a create does.
    let infer = spec.schedule_type.is_none() && spec.cron_expression.is_some();
    let infer = infer && spec.scheduled_at.is_some();
    if infer {
        spec.schedule_type = Some(spec.effective_schedule_type());
    }
    check(&state, &path.scope.workspace_id, &spec, &input).await?;
    let mut ops = validate::spec_ops(&current.spec, &spec, &input);
    if infer {
        ops.push(json!({"op": "add", "path": "/spec/scheduleType", "value": spec.schedule_type}));
    }
    write_spec(&state, &current, ops).await.map(Json)
}

pub async fn enable(
    state: State<AppState>,
    path: ApiPath<ActionPath>,
    headers: HeaderMap,
) -> Result<Json<ActionView>, ApiError> {
    set_enabled(state, path, headers, true).await
}

pub async fn disable(
    state: State<AppState>,
    path: ApiPath<ActionPath>,
    headers: HeaderMap,
) -> Result<Json<ActionView>, ApiError> {
    set_enabled(state, path, headers, false).await
}

async fn set_enabled(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    enabled: bool,
) -> Result<Json<ActionView>, ApiError> {
    let Admitted {
        target: current, ..
    } = state
        .admit(&headers, "update", RESOURCE, &path, Ok(()))
        .await?;
    let resumed;
    let current: &Action = if enabled && current.suspended_by_failures() {
        resumed = resume(&state, &current).await?;
        &resumed
    } else {
        &current
    };
    let ops = vec![json!({"op": "add", "path": "/spec/enabled", "value": enabled})];
    write_spec(&state, current, ops).await.map(Json)
}

/// Enabling an Action suspended for consecutive failures resumes it: a new value of the resume
/// annotation starts its failure streak again (docs/delivery.md, "Suspension").
async fn resume(state: &AppState, current: &Action) -> Result<Action, ApiError> {
    let name = current.metadata.name.clone().unwrap_or_default();
    let api: Api<Action> = Api::namespaced(
        state.client.clone(),
        current.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let stamp = crate::time::format_time(&Utc::now());
    let patch = json!({"metadata": {"annotations": {crate::resources::RESUME_ANNOTATION: stamp}}});
    match api.patch(&name, &params, &Patch::Merge(&patch)).await {
        Ok(updated) => Ok(updated),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(ApiError::action_not_found(&name)),
        Err(e) => Err(e.into()),
    }
}

/// A JSON Patch of `spec` fields (`validate::spec_ops`), guarded by the resourceVersion the
/// change was validated against (the patched object carries it, so the API server answers 409
/// when the object moved on), then waits until the cache has it. The controller's status writes also move the
/// resourceVersion; when only they intervened (the spec is unchanged) the patch is retried with
/// the fresh version, and only a concurrent change of the spec is a 409.
async fn write_spec(
    state: &AppState,
    current: &Action,
    spec_ops: Vec<Value>,
) -> Result<ActionView, ApiError> {
    let name = current.metadata.name.clone().unwrap_or_default();
    let namespace = current.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Action> = Api::namespaced(state.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let mut version = current.metadata.resource_version.clone();
    for _ in 0..3 {
        let mut ops = vec![json!({
            "op": "replace", "path": "/metadata/resourceVersion", "value": version,
        })];
        ops.extend(spec_ops.iter().cloned());
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
            .map_err(|e| ApiError::Internal(format!("json patch: {e}")))?;
        match api.patch(&name, &params, &Patch::<()>::Json(patch)).await {
            Ok(updated) => {
                wait_seen(&state.actions, &updated).await;
                return Ok(ActionView::current(&updated, Utc::now()));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(ApiError::action_not_found(&name));
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let fresh = api
                    .get_opt(&name)
                    .await?
                    .ok_or_else(|| ApiError::action_not_found(&name))?;
                if fresh.spec != current.spec || fresh.metadata.uid != current.metadata.uid {
                    break;
                }
                version = fresh.metadata.resource_version;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "The action was changed concurrently; read it again and retry".to_string(),
    ))
}

/// The checks that need more than the body: the spec's own rules and the endpoint's existence.
async fn check(
    state: &AppState,
    namespace: &str,
    spec: &ActionSpec,
    input: &ActionInput,
) -> Result<(), ApiError> {
    let mut errs = validate::check_spec(spec, input, Utc::now());
    if let Some(endpoint) = input.str("endpoint_id") {
        let api: Api<ActionEndpoint> = Api::namespaced(state.client.clone(), namespace);
        if api.get_opt(endpoint).await?.is_none() {
            errs.push(FieldError::value_error(
                loc(&["body", "endpoint_id"]),
                &format!("endpoint '{endpoint}' does not exist in this workspace"),
                json!(endpoint),
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errs))
    }
}

pub async fn delete(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Admitted {
        target: current, ..
    } = state
        .admit(&headers, "delete", RESOURCE, &path, Ok(()))
        .await?;
    let api: Api<Action> = Api::namespaced(state.client.clone(), &path.scope.workspace_id);
    let params = DeleteParams {
        // Only the object that was checked; a re-created namesake is not deleted by accident.
        preconditions: Some(Preconditions {
            uid: current.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&path.action_id, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(ApiError::action_not_found(&path.action_id));
        }
        Err(e) => return Err(e.into()),
    }
    wait_gone(
        &state.actions,
        &ObjectRef::from_obj(current.as_ref()),
        current.metadata.uid.as_deref(),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn trigger(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    // FastAPI reports the query's errors before the body's.
    let input = match (
        validate::parse_dry_run(&query),
        validate::parse_trigger_body(body.as_ref()),
    ) {
        (Ok(dry_run), Ok(input)) => Ok((dry_run, input)),
        (q, b) => Err([q.err(), b.err()].into_iter().flatten().flatten().collect()),
    };
    let Admitted {
        target: action,
        input: (dry_run, input),
        ..
    } = state
        .admit(&headers, "create", "actionruns", &path, input)
        .await?;
    let overrides = Overrides {
        payload: input.payload,
        thread_id: input.thread_id,
        variables: input.variables,
        rerun_of: None,
    };
    let run = build_run_with(
        &action,
        Trigger::Manual,
        Utc::now(),
        uuid::Uuid::new_v4(),
        &overrides,
    );
    if dry_run {
        let answer =
            super::dry_run::dry_run(&state.client, state.trace_state.as_deref(), &run).await?;
        return Ok(Json(answer).into_response());
    }
    create_run(&state, &path, run, &headers).await
}

/// Creates a manual run and answers as a trigger does (202, the run pending), once the cache
/// has it (read-your-writes). A request that carries a valid `traceparent` is recorded as the
/// run's caller, which the run's span links to (docs/observability.md, "Traces").
pub(super) async fn create_run(
    state: &AppState,
    path: &ActionPath,
    mut run: ActionRun,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| crate::runner::trace::parse_traceparent(v).is_some());
    if let Some(traceparent) = caller {
        run.metadata.annotations.get_or_insert_default().insert(
            crate::runner::trace::CALLER_ANNOTATION.to_string(),
            traceparent.trim().to_string(),
        );
    }
    let api: Api<ActionRun> = Api::namespaced(state.client.clone(), &path.scope.workspace_id);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    let created = api.create(&params, &run).await?;
    wait_seen(&state.runs, &created).await;
    let run_id = created.metadata.name.clone().unwrap_or_default();
    let uid = created.metadata.uid.clone().unwrap_or_default();
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerResponse {
            action_id: path.action_id.clone(),
            execution_id: execution_id(&uid, 1).to_string(),
            message: format!("Action '{}' triggered as run '{run_id}'", path.action_id),
            run_id,
            status: RunPhase::Pending.as_str(),
        }),
    )
        .into_response())
}
