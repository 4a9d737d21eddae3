//! The OpenAPI path items of the dashboard's routes.

use serde_json::json;

use super::{OVERVIEW_MINUTES, TIMELINE_HOURS};

/// The OpenAPI path items of these routes (`rest::openapi` merges them into the document);
/// their response schemas are registered there from the types above.
pub fn openapi_paths(prefix: &str) -> Vec<(String, serde_json::Value)> {
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let ok = |name: &str| json!({"description": "Success", "content": {"application/json": {"schema": schema(name)}}});
    let errors = |with_path: bool| {
        let mut r = serde_json::Map::new();
        for (code, description) in [
            ("401", "Missing or invalid bearer token"),
            ("403", "The token's user lacks the RBAC permission"),
            ("404", "Not found in this org, workspace and app"),
            ("500", "Internal error (no details)"),
        ] {
            if with_path || code == "401" || code == "500" {
                r.insert(
                    code.into(),
                    json!({"description": description,
                        "content": {"application/json": {"schema": schema("PlatformError")}}}),
                );
            }
        }
        if with_path {
            r.insert(
                "422".into(),
                json!({"description": "Validation Error",
                    "content": {"application/json": {"schema": schema("HTTPValidationError")}}}),
            );
        }
        r
    };
    // The path ids with the grammar the facade checks, as on every other route.
    let param = crate::rest::openapi::path_param;
    let scope = vec![
        param(
            "org_id",
            "Organisation; must match the workspace's punctual.dev/org label",
        ),
        param("workspace_id", "Workspace (the Kubernetes namespace)"),
        param("app_id", "App owning the Actions (spec.app)"),
    ];
    let window = |name: &str, (min, max, default): (i64, i64, i64), what: &str| {
        json!({"name": name, "in": "query", "required": false, "description": what,
               "schema": {"type": "integer", "minimum": min, "maximum": max, "default": default}})
    };
    let op = |id: &str,
              summary: &str,
              description: &str,
              params: Vec<serde_json::Value>,
              body: &str,
              with_path: bool| {
        let mut responses = errors(with_path);
        responses.insert("200".into(), ok(body));
        json!({"get": {"operationId": id, "summary": summary, "description": description,
            "tags": ["Dashboard"], "parameters": params, "responses": responses,
            "security": [{"bearer": []}]}})
    };
    let mut overview_params = scope.clone();
    overview_params.push(window(
        "minutes",
        OVERVIEW_MINUTES,
        "Window in minutes before now",
    ));
    let mut attempt_params = scope.clone();
    attempt_params.push(param("action_id", "Action id (metadata.name)"));
    let mut timeline_params = attempt_params.clone();
    attempt_params.push(param("run_id", "Run id (the ActionRun's name)"));
    timeline_params.push(window(
        "hours",
        TIMELINE_HOURS,
        "Window in hours before now",
    ));
    vec![
        (
            "/v1/workspaces".to_string(),
            op(
                "list_workspaces",
                "List readable workspaces",
                "The workspaces in which the token's user may list Actions, with their apps.",
                vec![],
                "WorkspaceList",
                false,
            ),
        ),
        (
            format!("{prefix}/overview"),
            op(
                "workspace_overview",
                "Workspace overview",
                "Finished runs per minute, failure rate and schedule lag percentiles of an \
                 app's runs still held (history limits apply), and each Action's readiness. \
                 Needs list on actionruns.",
                overview_params,
                "Overview",
                true,
            ),
        ),
        (
            format!("{prefix}/actions/{{action_id}}/timeline"),
            op(
                "action_timeline",
                "Action timeline",
                "Every slot of the schedule in the window with its outcome, and each run's \
                 schedule lag and duration. Needs list on actionruns.",
                timeline_params,
                "Timeline",
                true,
            ),
        ),
        (
            format!("{prefix}/actions/{{action_id}}/runs/{{run_id}}/attempts"),
            op(
                "list_run_attempts",
                "List a run's attempts",
                "Every HTTP attempt of the run with its status and error code. Needs get on \
                 actionruns.",
                attempt_params,
                "AttemptList",
                true,
            ),
        ),
    ]
}
