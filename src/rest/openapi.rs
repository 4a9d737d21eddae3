//! The OpenAPI 3.1 document at `/openapi.json` (about 600 lines, half of them the route table
//! and its tests: the table is data, one entry per operation, easier to check in one place).
//!
//! The paths come from the route table below; the
//! component schemas are derived with schemars from the types the handlers serialize
//! (`ActionView`, `RunView`, the lists, `TriggerResponse`, the two error bodies) and from the
//! request body types of `bodies`, whose bounds and defaults are those `validate` applies. A
//! field added to one of these types appears here without editing this file.

use axum::Json;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::actions::{ActionList, TriggerResponse};
use super::bodies::{ActionCreate, ActionUpdate, Timezone, TriggerRequest};
use super::cursor::{CURSOR_MAX_LENGTH, CURSOR_PATTERN};
use super::detail::RunDetail;
use super::dry_run::DryRun;
use super::error::{HttpValidationError, PlatformError};
use super::runs::RunList;
use super::schedule::UpcomingList;
use super::validate::{DEFAULT_COUNT, DEFAULT_LIMIT, MAX_COUNT, MAX_LIMIT, path_grammar};
use super::{ActionView, RunView};
use crate::resources::RunPhase;

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
    (
        "post",
        "/actions/{action_id}/runs/{run_id}/cancel",
        "cancel_action_run",
        "Cancel an active run",
        200,
    ),
    (
        "post",
        "/actions/{action_id}/runs/{run_id}/rerun",
        "rerun_action_run",
        "Re-run a run as a new manual run",
        202,
    ),
    (
        "get",
        "/actions/{action_id}/upcoming",
        "list_upcoming_fire_instants",
        "List the Action's next fire instants",
        200,
    ),
    (
        "get",
        "/schedule-preview",
        "preview_schedule",
        "Preview an unsaved schedule's fire instants",
        200,
    ),
];

/// The document never changes while the process runs: build it (schema generation included)
/// once, on the first request.
static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(document);

pub async fn serve() -> Json<Value> {
    Json(DOCUMENT.clone())
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn ref_to<T: JsonSchema>() -> Value {
    schema_ref(&T::schema_name())
}

/// The component schemas, JSON Schema 2020-12 (the dialect of OpenAPI 3.1).
fn schemas() -> Map<String, Value> {
    let settings = || {
        SchemaSettings::draft2020_12()
            .with(|s| {
                s.definitions_path = "/components/schemas".into();
                s.meta_schema = None;
            })
            .with_transform(RecursiveTransform(enum_of_constants))
    };
    // Responses as serialized: every field is always present (null when empty), so every field
    // is required, in the order of the struct (the reference's).
    let mut responses = settings().for_serialize().into_generator();
    responses.subschema_for::<ActionView>();
    responses.subschema_for::<ActionList>();
    responses.subschema_for::<RunView>();
    responses.subschema_for::<RunList>();
    responses.subschema_for::<TriggerResponse>();
    responses.subschema_for::<UpcomingList>();
    responses.subschema_for::<DryRun>();
    responses.subschema_for::<RunDetail>();
    responses.subschema_for::<super::callback::CallbackAnswer>();
    responses.subschema_for::<super::callback::HeartbeatAnswer>();
    responses.subschema_for::<HttpValidationError>();
    responses.subschema_for::<PlatformError>();
    // The dashboard's read-only routes (`rest::ui::views`).
    responses.subschema_for::<super::ui::views::WorkspaceList>();
    responses.subschema_for::<super::ui::views::Overview>();
    responses.subschema_for::<super::ui::views::Timeline>();
    responses.subschema_for::<super::ui::views::AttemptList>();
    // Requests as deserialized: optional, nullable and defaulted fields are not required.
    let mut requests = settings().for_deserialize().into_generator();
    requests.subschema_for::<ActionCreate>();
    requests.subschema_for::<ActionUpdate>();
    requests.subschema_for::<TriggerRequest>();
    requests.subschema_for::<super::bodies::CallbackReport>();
    let mut all = responses.take_definitions(true);
    for (name, schema) in requests.take_definitions(true) {
        // The enums both sides share must come out the same (a test calls this).
        if let Some(other) = all.get(&name) {
            assert_eq!(
                other, &schema,
                "schema {name} differs in requests and responses"
            );
        }
        all.insert(name, schema);
    }
    all
}

/// schemars describes an enum whose variants have doc comments (the resources' enums) as a
/// `oneOf` of string constants; clients understand a plain `enum` better. The variant comments
/// speak of the resources' camelCase fields, so they are dropped; the REST types' field
/// comments describe the values.
fn enum_of_constants(schema: &mut Schema) {
    let Some(variants) = schema.get("oneOf").and_then(Value::as_array) else {
        return;
    };
    let values: Option<Vec<Value>> = variants
        .iter()
        .map(|v| v.get("const").filter(|c| c.is_string()).cloned())
        .collect();
    let Some(values) = values else { return };
    schema.remove("oneOf");
    schema.insert("type".into(), "string".into());
    schema.insert("enum".into(), values.into());
}

/// A path parameter with the grammar the handlers check (`validate::PATH_PARAMS`).
pub(crate) fn path_param(name: &str, description: &str) -> Value {
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

fn error_response(description: &str, schema: Value) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": schema}}})
}

/// One operation of the document: its parameters, responses and request body, by its id.
fn operation(path: &str, id: &str, summary: &str, success: u16) -> Value {
    let mut params = path_params(path);
    params.extend(query_params(id));
    let mut op = json!({
        "operationId": id, "summary": summary, "tags": ["Actions"],
        "parameters": params, "responses": responses(id, success),
        "security": [{"bearer": []}],
    });
    if let Some((schema, required)) = request_body(id) {
        op["requestBody"] = json!({"required": required,
            "content": {"application/json": {"schema": schema}}});
        op["responses"]["413"] =
            error_response("Request body over 1 MiB", ref_to::<PlatformError>());
    }
    op
}

/// The path parameters of `path`: the scope's three, then the Action's and the run's.
fn path_params(path: &str) -> Vec<Value> {
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
    params
}

/// The query parameters of operation `id`.
fn query_params(id: &str) -> Vec<Value> {
    let paging = [
        json!({"name": "limit", "in": "query", "required": false,
               "description": format!("Maximum number of items to return (1-{MAX_LIMIT})"),
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
        json!({"name": "cursor", "in": "query", "required": false,
               "description": "Cursor for pagination (from previous response's next_cursor)",
               "schema": {"type": "string", "maxLength": CURSOR_MAX_LENGTH,
                          "pattern": CURSOR_PATTERN}}),
    ];
    let mut params = Vec::new();
    match id {
        "list_actions" => {
            params.push(json!({"name": "search", "in": "query", "required": false,
                "description": "Search by name or description", "schema": {"type": "string"}}));
            params.extend(paging);
        }
        "list_action_runs" => {
            params.push(json!({"name": "status", "in": "query", "required": false,
                "description": "Filter by status", "schema": ref_to::<RunPhase>()}));
            params.extend(paging);
        }
        "get_action_run" => {
            params.push(json!({"name": "view", "in": "query", "required": false,
                "description": "`summary` (the default): the Run object; `full`: a RunDetail, with every attempt and the endpoint's answers",
                "schema": {"type": "string", "enum": ["summary", "full"], "default": "summary"}}));
        }
        "rerun_action_run" => {
            params.push(json!({"name": "render", "in": "query", "required": false,
                "description": "`same`: the original's resolved payload and thread; `fresh`: the Action's templates rendered again with the original's variables",
                "schema": {"type": "string", "enum": ["same", "fresh"], "default": "same"}}));
        }
        "trigger_action" => {
            params.push(json!({"name": "dry_run", "in": "query", "required": false,
                "description": "Answer 200 with the exact request the runner would send (credential redacted) and create nothing",
                "schema": {"type": "boolean", "default": false}}));
        }
        "list_upcoming_fire_instants" | "preview_schedule" => {
            params.push(json!({"name": "count", "in": "query", "required": false,
                "description": format!("How many instants to list (1-{MAX_COUNT})"),
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT}}));
            if id == "preview_schedule" {
                params.push(json!({"name": "cron_expression", "in": "query", "required": false,
                    "description": "Five-field cron expression (Vixie cron semantics); this or scheduled_at is required",
                    "schema": {"type": "string", "minLength": 1}}));
                params.push(json!({"name": "scheduled_at", "in": "query", "required": false,
                    "description": "The instant of a one_time schedule (when cron_expression is absent)",
                    "schema": {"type": "string", "format": "date-time"}}));
                params.push(json!({"name": "timezone", "in": "query", "required": false,
                    "description": "IANA zone the expression is evaluated in",
                    "schema": {"$ref": ref_to::<Timezone>()["$ref"], "default": "UTC"}}));
            }
        }
        _ => {}
    }
    params
}

/// The responses of operation `id`: its success (`success`, with its schema), the extra
/// successes of a few routes, and every error the admission step and the handlers answer.
fn responses(id: &str, success: u16) -> serde_json::Map<String, Value> {
    let success_schema = match id {
        "list_actions" => Some(ref_to::<ActionList>()),
        "list_action_runs" => Some(ref_to::<RunList>()),
        "get_action_run" => Some(json!({"anyOf": [ref_to::<RunView>(), ref_to::<RunDetail>()]})),
        "cancel_action_run" => Some(ref_to::<RunView>()),
        "rerun_action_run" => Some(ref_to::<TriggerResponse>()),
        "trigger_action" => Some(ref_to::<TriggerResponse>()),
        "list_upcoming_fire_instants" | "preview_schedule" => Some(ref_to::<UpcomingList>()),
        "delete_action" => None,
        _ => Some(ref_to::<ActionView>()),
    };
    let mut responses = serde_json::Map::new();
    let success_body = match success_schema {
        Some(schema) => json!({"description": "Success",
                          "content": {"application/json": {"schema": schema}}}),
        None => json!({"description": "Deleted; no body"}),
    };
    responses.insert(success.to_string(), success_body);
    if id == "cancel_action_run" {
        responses.insert(
            "202".into(),
            json!({"description": "Cancel requested; the runner has not recorded it yet (the run as it is)",
                   "content": {"application/json": {"schema": ref_to::<RunView>()}}}),
        );
    }
    if id == "trigger_action" {
        responses.insert(
            "200".into(),
            json!({"description": "Dry run (`dry_run=true`): the request, nothing created",
                   "content": {"application/json": {"schema": ref_to::<DryRun>()}}}),
        );
    }
    for (code, description) in [
        ("401", "Missing or invalid bearer token"),
        ("403", "The token's user lacks the RBAC permission"),
        ("404", "Not found in this org, workspace and app"),
        ("409", "Conflicting concurrent change"),
        ("500", "Internal error (no details)"),
    ] {
        responses.insert(
            code.into(),
            error_response(description, ref_to::<PlatformError>()),
        );
    }
    responses.insert(
        "422".into(),
        error_response("Validation Error", ref_to::<HttpValidationError>()),
    );
    responses
}

/// The request body of operation `id`, if it takes one: its schema, and whether it is required.
fn request_body(id: &str) -> Option<(Value, bool)> {
    match id {
        "create_action" => Some((ref_to::<ActionCreate>(), true)),
        "update_action" => Some((ref_to::<ActionUpdate>(), true)),
        // Optional, and `null` is no body, as FastAPI reads an `Optional[TriggerRequest]` body.
        "trigger_action" => Some((
            json!({"anyOf": [ref_to::<TriggerRequest>(), {"type": "null"}]}),
            false,
        )),
        _ => None,
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, id, summary, success) in ROUTES {
        let full = format!("{}{path}", super::PREFIX);
        let entry = paths.entry(full).or_insert_with(|| json!({}));
        entry[*method] = operation(path, id, summary, *success);
    }
    paths.extend(super::ui::views::openapi_paths(super::PREFIX));
    paths.extend(plain_paths());
    paths.extend(callback_paths());
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
                "description": "A Kubernetes token, verified with a TokenReview"},
                "callback": {"type": "http", "scheme": "bearer",
                "description": "The attempt's X-Punctual-Callback-Token"}},
        },
        "security": [{"bearer": []}],
        "tags": [{"name": "Actions"}, {"name": "Callbacks"},
                 {"name": "Dashboard", "description": "Read-only views for the dashboard at /ui"}],
    })
}

/// The unauthenticated routes: `/healthz`, `/readyz` and this document.
fn plain_paths() -> serde_json::Map<String, Value> {
    let plain = |summary: &str, id: &str| {
        json!({"get": {"operationId": id, "summary": summary, "security": [],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}})
    };
    let mut paths = serde_json::Map::new();
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
    paths
}

/// The callback routes of a long-running call (docs/agent-calls.md): the report and the
/// heartbeat, authenticated by the attempt's token.
fn callback_paths() -> serde_json::Map<String, Value> {
    let mut paths = serde_json::Map::new();
    for (suffix, id, summary, answer) in [
        (
            "",
            "report_callback",
            "An endpoint that answered 202 reports the outcome",
            ref_to::<super::callback::CallbackAnswer>(),
        ),
        (
            "/heartbeat",
            "heartbeat_callback",
            "An endpoint that answered 202 is still working: the deadline moves",
            ref_to::<super::callback::HeartbeatAnswer>(),
        ),
    ] {
        let mut op = json!({"operationId": id, "summary": summary, "tags": ["Callbacks"],
        "security": [{"callback": []}],
        "parameters": [
            path_param("workspace_id", "Workspace (the Kubernetes namespace) of the run"),
            path_param("run_id", "The run (from X-Punctual-Callback-URL)"),
            {"name": "attempt", "in": "path", "required": true, "description": "The attempt",
             // What the handler reads (an i32 of at least 1), so that no valid number is refused.
             "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": i32::MAX}},
        ],
        "responses": {
            "200": {"description": "Recorded (or a repeat: nothing changed)",
                    "content": {"application/json": {"schema": answer}}},
            "401": error_response("Missing token, or not this attempt's", ref_to::<PlatformError>()),
            "404": error_response("No such run", ref_to::<PlatformError>()),
            "409": error_response("The attempt is not awaiting a report", ref_to::<PlatformError>()),
            "422": error_response("Validation Error", ref_to::<HttpValidationError>()),
        }});
        if suffix.is_empty() {
            op["requestBody"] = json!({"required": true,
                "content": {"application/json": {"schema": ref_to::<super::bodies::CallbackReport>()}}});
            op["responses"]["202"] = json!({"description": "Handed to the runner, not yet recorded",
                "content": {"application/json": {"schema": ref_to::<super::callback::CallbackAnswer>()}}});
        }
        paths.insert(
            format!("/v1/callbacks/{{workspace_id}}/{{run_id}}/{{attempt}}{suffix}"),
            json!({"post": op}),
        );
    }
    paths
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
        assert_eq!(required("ActionList"), reference_keys("\nList Actions\n"));
        assert_eq!(required("RunList"), reference_keys("}List Action Runs\n"));
        // The trigger example's first object is the request body; its answer is written out.
        assert_eq!(
            required("TriggerResponse"),
            ["action_id", "run_id", "execution_id", "status", "message"]
        );
    }

    #[test]
    fn response_schemas_say_what_is_serialized() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let action = &schemas["Action"]["properties"];
        assert_eq!(action["description"]["type"], json!(["string", "null"]));
        assert_eq!(action["scheduled_at"]["type"], json!(["string", "null"]));
        assert_eq!(action["scheduled_at"]["format"], "date-time");
        assert_eq!(action["created_at"]["type"], "string");
        assert_eq!(action["created_at"]["format"], "date-time");
        assert_eq!(action["total_runs"]["type"], "integer");
        assert_eq!(
            action["last_run_status"]["anyOf"],
            json!([{"$ref": "#/components/schemas/RunPhase"}, {"type": "null"}])
        );
        assert_eq!(
            schemas["ThreadMode"]["enum"],
            json!(["new_each_run", "fixed", "template"])
        );
        assert_eq!(
            schemas["RunPhase"]["enum"],
            json!(["pending", "running", "succeeded", "failed", "cancelled"])
        );
        assert_eq!(
            schemas["TriggerResponse"]["properties"]["status"]["enum"],
            json!(["pending"])
        );
        let run = &schemas["Run"]["properties"];
        assert_eq!(run["duration_seconds"]["type"], json!(["number", "null"]));
        assert!(schemas["Action"]["description"].is_string());
        assert!(action["namespace_id"]["description"].is_string());
        // Pydantic's `ctx` is left out when empty, so it is the one optional response field.
        assert_eq!(
            schemas["ValidationError"]["required"],
            json!(["type", "loc", "msg", "input"])
        );
        assert_eq!(
            schemas["ErrorCode"]["enum"],
            json!([
                "AUTHENTICATION_FAILED",
                "FORBIDDEN",
                "RESOURCE_NOT_FOUND",
                "CONFLICT",
                "PAYLOAD_TOO_LARGE",
                "INTERNAL_SERVER_ERROR"
            ])
        );
    }

    #[test]
    fn every_path_id_of_every_operation_says_its_grammar() {
        // Not only ROUTES: the dashboard's and the callback routes too (schemathesis found one
        // that did not).
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap();
                    if p["in"] != "path" || path_grammar(name).is_none() {
                        continue;
                    }
                    assert!(
                        p["schema"]["maxLength"].is_number(),
                        "{method} {path}: {name} without its grammar"
                    );
                }
            }
        }
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
