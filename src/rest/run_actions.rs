//! What a client can do to one run: cancel it (`POST .../runs/{run_id}/cancel`) and re-run it
//! (`POST .../runs/{run_id}/rerun`) (docs/rest.md, "Trigger, dry run, rerun" and "Cancel").

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::error::{ApiError, FieldError, loc};
use super::extract::{ApiPath, QueryPairs};
use super::{Admitted, AppState, FIELD_MANAGER, RunPath, RunView};
use crate::resources::ActionRun;
use crate::runspec::{CANCEL_ANNOTATION, Overrides, Trigger, build_run_with};

/// How a rerun renders: `same` copies the original's resolved payload and thread; `fresh`
/// renders the Action's current templates again, with the original's variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    Same,
    Fresh,
}

fn parse_render(pairs: &[(String, String)]) -> Result<Render, Vec<FieldError>> {
    match pairs.iter().rev().find(|(k, _)| k == "render") {
        None => Ok(Render::Same),
        Some((_, v)) if v == "same" => Ok(Render::Same),
        Some((_, v)) if v == "fresh" => Ok(Render::Fresh),
        Some((_, v)) => Err(vec![
            FieldError::new(
                "enum",
                loc(&["query", "render"]),
                "Input should be 'same' or 'fresh'",
                json!(v),
            )
            .with_ctx(json!({"expected": "'same' or 'fresh'"})),
        ]),
    }
}

/// The run a rerun of `original` creates: a manual run of the Action as it is now, linked by
/// `rerunOf`, with the original's payload and thread (`Same`) or its templates rendered anew.
pub fn rerun_of(
    action: &crate::resources::Action,
    original: &ActionRun,
    render: Render,
    now: chrono::DateTime<Utc>,
    random: uuid::Uuid,
) -> ActionRun {
    let overrides = Overrides {
        variables: original.spec.variables.clone(),
        rerun_of: original.metadata.name.clone(),
        ..Overrides::default()
    };
    let mut run = build_run_with(action, Trigger::Manual, now, random, &overrides);
    if render == Render::Same {
        run.spec.resolved_payload = original.spec.resolved_payload.clone();
        run.spec.resolved_thread_id = original.spec.resolved_thread_id.clone();
        run.spec.resolve_error = original.spec.resolve_error.clone();
    }
    run
}

pub async fn rerun(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let render = parse_render(&query);
    let Admitted {
        target: original,
        input: render,
        ..
    } = state
        .admit(&headers, "create", "actionruns", &path, render)
        .await?;
    let action = state.find_action(&path.action.scope, &path.action.action_id)?;
    let run = rerun_of(&action, &original, render, Utc::now(), uuid::Uuid::new_v4());
    super::actions::create_run(&state, &path.action, run, &headers).await
}

pub async fn cancel(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Admitted {
        target: run,
        caller,
        ..
    } = state
        .admit(&headers, "update", "actionruns", &path, Ok(()))
        .await?;
    let phase = run.status.clone().unwrap_or_default().status;
    if !phase.is_active() {
        return Err(ApiError::Conflict(format!(
            "Run '{}' is already {}",
            path.run_id,
            phase.as_str()
        )));
    }
    let api: Api<ActionRun> =
        Api::namespaced(state.client.clone(), &path.action.scope.workspace_id);
    let reason = format!("by {} through the REST API", caller.username);
    let patch = json!({"metadata": {
        "annotations": {CANCEL_ANNOTATION: reason},
        // Only the run that was checked; a namesake created since is not touched.
        "uid": run.metadata.uid,
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api
        .patch(&path.run_id, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(ApiError::NotFound {
                resource_type: "run",
                resource_id: path.run_id.clone(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    // The runner records the cancel; answer with the run as it then is. A runner that is not
    // running (or slow) leaves it active: 202, the cancel is requested and will be recorded.
    let key = ObjectRef::<ActionRun>::new(&path.run_id).within(&path.action.scope.workspace_id);
    let (code, seen) = super::wait_recorded(&state.runs, &key, |r| {
        !r.status.clone().unwrap_or_default().status.is_active()
    })
    .await;
    let view = RunView::from_resource(seen.as_deref().unwrap_or(&run));
    Ok((code, Json(view)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_same_by_default_and_checked() {
        let q = |v: &str| vec![("render".to_string(), v.to_string())];
        assert_eq!(parse_render(&[]), Ok(Render::Same));
        assert_eq!(parse_render(&q("fresh")), Ok(Render::Fresh));
        assert_eq!(parse_render(&q("new")).unwrap_err()[0].kind, "enum");
    }

    #[test]
    fn a_rerun_copies_or_re_renders_and_links_the_original() {
        let action: crate::resources::Action = serde_json::from_value(json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": "ask", "namespace": "ws", "uid": "u-1"},
            "spec": {"app": "a", "endpoint": "agent", "namespaceId": "n",
                     "threadMode": "fixed", "threadId": "t-now",
                     "payload": {"q": "{{ topic }} v2"}},
        }))
        .unwrap();
        let mut original = build_run_with(
            &action,
            Trigger::Manual,
            "2026-03-01T10:00:00Z".parse().unwrap(),
            uuid::Uuid::nil(),
            &Overrides {
                thread_id: Some("t-then".into()),
                variables: [("topic".to_string(), "billing".to_string())].into(),
                ..Overrides::default()
            },
        );
        original.spec.resolved_payload =
            serde_json::from_value(json!({"q": "billing v1"})).unwrap();
        let now = "2026-03-02T10:00:00Z".parse().unwrap();
        let same = rerun_of(&action, &original, Render::Same, now, uuid::Uuid::max());
        assert_eq!(same.spec.rerun_of, original.metadata.name);
        assert_ne!(same.metadata.name, original.metadata.name);
        assert_eq!(same.spec.resolved_payload["q"], "billing v1");
        assert_eq!(same.spec.resolved_thread_id.as_deref(), Some("t-then"));
        let fresh = rerun_of(&action, &original, Render::Fresh, now, uuid::Uuid::max());
        assert_eq!(fresh.spec.resolved_payload["q"], "billing v2");
        assert_eq!(fresh.spec.resolved_thread_id.as_deref(), Some("t-now"));
        assert_eq!(fresh.spec.variables, original.spec.variables);
    }
}
