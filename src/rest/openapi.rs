//! The OpenAPI 3.1 document at `/openapi.json`, built from the same route table, enums and
//! limits the handlers use, so that it cannot drift from them silently (tests compare both).

use axum::Json;
use serde_json::{Value, json};

use super::validate::{DEFAULT_LIMIT, MAX_LIMIT, path_grammar};

/// Every API route: method, path under the prefix, operation id, summary, success status.
pub const ROUTES: &[(&str, &str, &str, &str, u16)] = &[
    ("get", "/actions", "list_actions", "List Actions", 200),
    ("post", "/actions", "create_action", "Create Action", 201),
    (
        "get",
        "/actions/{action_id}",
        "get_action",
        "Get Action",
        200,
    ),
    (
        "put",
        "/actions/{action_id}",
        "update_action",
        "Update Action",
        200,
    ),
    (
        "delete",
        "/actions/{action_id}",
        "delete_action",
        "Delete Action",
        204,
    ),
    (
        "post",
        "/actions/{action_id}/trigger",
        "trigger_action",
        "Trigger Action",
        202,
    ),
    (
        "get",
        "/actions/{action_id}/runs",
        "list_action_runs",
        "List Action Runs",
        200,
    ),
    (
        "get",
        "/actions/{action_id}/runs/{run_id}",
        "get_action_run",
        "Get Action Run",
        200,
    ),
    (
        "post",
        "/actions/{action_id}/enable",
        "enable_action",
        "Enable Action",
        200,
    ),
    (
        "post",
        "/actions/{action_id}/disable",
        "disable_action",
        "Disable Action",
        200,
    ),
];

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn nullable_time() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

fn enumeration(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

const THREAD_MODES: &[&str] = &["new_each_run", "fixed", "template"];
const SCHEDULE_TYPES: &[&str] = &["cron", "one_time", "manual"];
const RUN_STATUSES: &[&str] = &["pending", "running", "succeeded", "failed", "cancelled"];

fn schemas() -> Value {
    let action = json!({
        "type": "object",
        "required": ["action_id", "workspace_id", "app_id", "endpoint_id", "name", "description",
            "namespace_id", "thread_mode", "thread_id", "thread_id_template", "payload",
            "action_type", "schedule_type", "cron_expression", "scheduled_at", "timezone",
            "max_retries", "retry_delay_seconds", "is_enabled", "is_running", "next_run_at",
            "last_run_at", "last_run_status", "last_execution_id", "total_runs",
            "successful_runs", "failed_runs", "created_by", "created_at", "updated_at"],
        "properties": {
            "action_id": {"type": "string"}, "workspace_id": {"type": "string"},
            "app_id": {"type": "string"}, "endpoint_id": {"type": "string"},
            "name": {"type": "string"}, "description": nullable("string"),
            "namespace_id": {"type": "string"}, "thread_mode": enumeration(THREAD_MODES),
            "thread_id": nullable("string"), "thread_id_template": nullable("string"),
            "payload": {"type": "object"}, "action_type": enumeration(&["trigger"]),
            "schedule_type": enumeration(SCHEDULE_TYPES), "cron_expression": nullable("string"),
            "scheduled_at": nullable_time(), "timezone": {"type": "string"},
            "max_retries": {"type": "integer"}, "retry_delay_seconds": {"type": "integer"},
            "is_enabled": {"type": "boolean"}, "is_running": {"type": "boolean"},
            "next_run_at": nullable_time(), "last_run_at": nullable_time(),
            "last_run_status": {"type": ["string", "null"], "enum": [
                "pending", "running", "succeeded", "failed", "cancelled", null]},
            "last_execution_id": nullable("string"), "total_runs": {"type": "integer"},
            "successful_runs": {"type": "integer"}, "failed_runs": {"type": "integer"},
            "created_by": nullable("string"),
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        }
    });
    let writable = |required: bool| {
        let mut s = json!({
            "type": "object",
            "description": "Read-only and unknown fields are ignored.",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": {"type": ["string", "null"], "maxLength": 2000},
                "endpoint_id": {"type": "string", "minLength": 1, "maxLength": 253},
                "namespace_id": {"type": "string", "minLength": 1, "maxLength": 255},
                "thread_mode": enumeration(THREAD_MODES),
                "thread_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                "thread_id_template": {"type": ["string", "null"], "minLength": 1, "maxLength": 1024},
                "payload": {"type": "object"},
                "action_type": enumeration(&["trigger"]),
                "schedule_type": {"type": ["string", "null"], "enum": ["cron", "one_time", "manual", null]},
                "cron_expression": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                "scheduled_at": nullable_time(),
                "timezone": {"type": "string", "minLength": 1, "maxLength": 64, "default": "UTC"},
                "max_retries": {"type": "integer", "minimum": 0, "maximum": 100, "default": 0},
                "retry_delay_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 60},
                "is_enabled": {"type": "boolean", "default": true},
            }
        });
        if required {
            s["required"] = json!(["name", "endpoint_id", "namespace_id"]);
        }
        s
    };
    let run = json!({
        "type": "object",
        "required": ["run_id", "action_id", "workspace_id", "execution_id", "status", "attempt",
            "trigger_type", "triggered_at", "started_at", "completed_at", "duration_seconds",
            "resolved_payload", "resolved_thread_id", "error_message", "error_code"],
        "properties": {
            "run_id": {"type": "string"}, "action_id": {"type": "string"},
            "workspace_id": {"type": "string"}, "execution_id": nullable("string"),
            "status": enumeration(RUN_STATUSES), "attempt": {"type": "integer"},
            "trigger_type": enumeration(&["scheduled", "manual"]),
            "triggered_at": {"type": "string", "format": "date-time"},
            "started_at": nullable_time(), "completed_at": nullable_time(),
            "duration_seconds": nullable("number"), "resolved_payload": {"type": "object"},
            "resolved_thread_id": nullable("string"), "error_message": nullable("string"),
            "error_code": nullable("string"),
        }
    });
    let list = |items: &str, item: &str| {
        json!({
            "type": "object",
            "required": ["total", "has_more", "next_cursor", items],
            "properties": {
                "total": {"type": "integer"}, "has_more": {"type": "boolean"},
                "next_cursor": nullable("string"),
                items: {"type": "array", "items": schema_ref(item)},
            }
        })
    };
    json!({
        "Action": action,
        "ActionCreate": writable(true),
        "ActionUpdate": writable(false),
        "ActionList": list("actions", "Action"),
        "Run": run,
        "RunList": list("runs", "Run"),
        "TriggerRequest": {"type": "object", "properties": {"payload": {"type": ["object", "null"]}}},
        "TriggerResponse": {
            "type": "object",
            "required": ["action_id", "run_id", "execution_id", "status", "message"],
            "properties": {
                "action_id": {"type": "string"}, "run_id": {"type": "string"},
                "execution_id": {"type": "string"}, "status": enumeration(&["pending"]),
                "message": {"type": "string"},
            }
        },
        "ValidationError": {
            "type": "object",
            "required": ["type", "loc", "msg", "input"],
            "properties": {
                "type": {"type": "string"},
                "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                "msg": {"type": "string"},
                "input": {},
                "ctx": {"type": "object"},
            }
        },
        "HTTPValidationError": {
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"type": "array", "items": schema_ref("ValidationError")}}
        },
        "PlatformError": {
            "type": "object",
            "required": ["error", "message", "details", "timestamp", "status_code"],
            "properties": {
                "error": enumeration(&["AUTHENTICATION_FAILED", "FORBIDDEN", "RESOURCE_NOT_FOUND",
                    "CONFLICT", "PAYLOAD_TOO_LARGE", "INTERNAL_SERVER_ERROR"]),
                "message": {"type": "string"},
                "details": {"type": "object"},
                "timestamp": {"type": "string", "format": "date-time"},
                "status_code": {"type": "integer"},
            }
        },
    })
}

/// A path parameter with the grammar the handlers check (`validate::PATH_PARAMS`).
fn path_param(name: &str, description: &str) -> Value {
    let mut schema = json!({"type": "string"});
    if let Some(g) = path_grammar(name) {
        schema["minLength"] = json!(g.min_length);
        schema["maxLength"] = json!(g.max_length);
        if let Some(p) = g.pattern {
            schema["pattern"] = json!(p);
        }
    }
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": schema})
}

fn error_response(description: &str, schema: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": schema_ref(schema)}}})
}

fn operation(method: &str, path: &str, id: &str, summary: &str, success: u16) -> Value {
    let mut params = vec![
        path_param(
            "org_id",
            "Organisation; must match the workspace's punctual.dev/org label",
        ),
        path_param("workspace_id", "Workspace (the Kubernetes namespace)"),
        path_param("app_id", "App owning the Actions (spec.app)"),
    ];
    if path.contains("{action_id}") {
        params.push(path_param("action_id", "Action id (metadata.name)"));
    }
    if path.contains("{run_id}") {
        params.push(path_param("run_id", "Run id (the ActionRun's name)"));
    }
    let paging = [
        json!({"name": "limit", "in": "query", "required": false,
               "description": format!("Maximum number of items to return (1-{MAX_LIMIT})"),
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
        json!({"name": "cursor", "in": "query", "required": false,
               "description": "Cursor for pagination (from previous response's next_cursor)",
               "schema": {"type": "string"}}),
    ];
    let success_schema = match id {
        "list_actions" => Some("ActionList"),
        "list_action_runs" => Some("RunList"),
        "get_action_run" => Some("Run"),
        "trigger_action" => Some("TriggerResponse"),
        "delete_action" => None,
        _ => Some("Action"),
    };
    match id {
        "list_actions" => {
            params.push(json!({"name": "search", "in": "query", "required": false,
                "description": "Search by name or description", "schema": {"type": "string"}}));
            params.extend(paging);
        }
        "list_action_runs" => {
            params.push(json!({"name": "status", "in": "query", "required": false,
                "description": "Filter by status", "schema": enumeration(RUN_STATUSES)}));
            params.extend(paging);
        }
        _ => {}
    }
    let mut responses = serde_json::Map::new();
    let success_body = match success_schema {
        Some(s) => json!({"description": "Success",
                          "content": {"application/json": {"schema": schema_ref(s)}}}),
        None => json!({"description": "Deleted; no body"}),
    };
    responses.insert(success.to_string(), success_body);
    for (code, description) in [
        ("401", "Missing or invalid bearer token"),
        ("403", "The token's user lacks the RBAC permission"),
        ("404", "Not found in this org, workspace and app"),
        ("409", "Conflicting concurrent change"),
        ("500", "Internal error (no details)"),
    ] {
        responses.insert(code.into(), error_response(description, "PlatformError"));
    }
    responses.insert(
        "422".into(),
        error_response("Validation Error", "HTTPValidationError"),
    );
    let mut op = json!({
        "operationId": id, "summary": summary, "tags": ["Actions"],
        "parameters": params, "responses": responses,
        "security": [{"bearer": []}],
    });
    let body = match id {
        "create_action" => Some(("ActionCreate", true)),
        "update_action" => Some(("ActionUpdate", true)),
        "trigger_action" => Some(("TriggerRequest", false)),
        _ => None,
    };
    if let Some((schema, required)) = body {
        op["requestBody"] = json!({"required": required,
            "content": {"application/json": {"schema": schema_ref(schema)}}});
        op["responses"]["413"] = error_response("Request body over 1 MiB", "PlatformError");
    }
    let _ = method;
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, id, summary, success) in ROUTES {
        let full = format!("{}{path}", super::PREFIX);
        let entry = paths.entry(full).or_insert_with(|| json!({}));
        entry[*method] = operation(method, path, id, summary, *success);
    }
    let plain = |summary: &str, id: &str| {
        json!({"get": {"operationId": id, "summary": summary, "security": [],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}})
    };
    paths.insert("/healthz".into(), plain("Liveness", "healthz"));
    let mut readyz = plain("Readiness: watch caches synced", "readyz");
    readyz["get"]["responses"]["503"] = json!({"description": "Watch caches not yet synced"});
    paths.insert("/readyz".into(), readyz);
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {"operationId": "openapi", "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Punctual Actions API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Scheduled and on-demand agent actions, served over Kubernetes resources.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "A Kubernetes token, verified with a TokenReview"}},
        },
        "security": [{"bearer": []}],
        "tags": [{"name": "Actions"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::model::tests::reference_keys;

    #[test]
    fn every_route_has_every_error_body() {
        let doc = document();
        for (method, path, ..) in ROUTES {
            let op = &doc["paths"][format!("{}{path}", crate::rest::PREFIX)][*method];
            for code in ["401", "403", "404", "409", "422", "500"] {
                assert!(op["responses"][code].is_object(), "{method} {path} {code}");
            }
        }
    }

    #[test]
    fn schemas_list_the_reference_fields_in_order() {
        let doc = document();
        let required = |s: &str| -> Vec<String> {
            doc["components"]["schemas"][s]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(required("Action"), reference_keys("}Get Action\n"));
        assert_eq!(required("Run"), reference_keys("}Get Action Run\n"));
        // The trigger example's first object is the request body; its answer is written out.
        assert_eq!(
            required("TriggerResponse"),
            ["action_id", "run_id", "execution_id", "status", "message"]
        );
    }

    #[test]
    fn path_parameters_carry_the_checked_grammar() {
        use crate::rest::validate::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, PATH_PARAMS};
        let doc = document();
        for (method, path, ..) in ROUTES {
            let op = &doc["paths"][format!("{}{path}", crate::rest::PREFIX)][*method];
            let mut seen = Vec::new();
            for p in op["parameters"].as_array().unwrap() {
                if p["in"] != "path" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                let g = path_grammar(name).unwrap_or_else(|| panic!("{name} has a grammar"));
                let schema = &p["schema"];
                assert_eq!(schema["minLength"], g.min_length, "{path} {name}");
                assert_eq!(schema["maxLength"], g.max_length, "{path} {name}");
                assert_eq!(schema["pattern"].as_str(), g.pattern, "{path} {name}");
                seen.push(name.to_string());
            }
            // Path order, as in the template.
            let expected: Vec<&str> = PATH_PARAMS
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| format!("{}{path}", crate::rest::PREFIX).contains(&format!("{{{n}}}")))
                .collect();
            assert_eq!(seen, expected, "{path}");
        }
        let run = &doc["paths"][format!(
            "{}/actions/{{action_id}}/runs/{{run_id}}",
            crate::rest::PREFIX
        )]["get"];
        let schema_of = |name: &str| {
            run["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["schema"]
                .clone()
        };
        assert_eq!(
            schema_of("workspace_id"),
            json!({"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS_LABEL_PATTERN})
        );
        assert_eq!(
            schema_of("run_id"),
            json!({"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN})
        );
        assert_eq!(
            schema_of("app_id"),
            json!({"type": "string", "minLength": 1, "maxLength": 253})
        );
    }

    #[test]
    fn every_ref_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
