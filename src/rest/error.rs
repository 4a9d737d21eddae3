//! Error bodies of the facade: the Pydantic v2 shape for validation failures (422) and the
//! platform shape for everything else. Internal causes are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::resources::JsonObject;

/// One invalid input, as Pydantic v2 reports it.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[schemars(rename = "ValidationError")]
pub struct FieldError {
    /// The kind of failure, e.g. `missing`, `string_too_long`, `enum`, `value_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `body`, `query` or `path`, then field names and list indexes.
    #[schemars(schema_with = "loc_schema")]
    pub loc: Vec<Value>,
    /// Human-readable message, in Pydantic's wording.
    pub msg: String,
    /// The value that failed (for `missing`, the enclosing object).
    pub input: Value,
    /// The constraint that failed, e.g. `{"le": 100}`, `{"expected": "'a' or 'b'"}`,
    /// `{"error": "<reason>"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "JsonObject")]
    pub ctx: Option<Value>,
}

/// A `loc` is a path of field names and list indexes.
fn loc_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": { "type": ["string", "integer"] } })
}

impl FieldError {
    pub fn new(kind: &str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        Self {
            kind: kind.to_string(),
            loc,
            msg: msg.into(),
            input,
            ctx: None,
        }
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// `missing` / "Field required"; Pydantic reports the enclosing object as the input.
    pub fn missing(loc: Vec<Value>, input: Value) -> Self {
        Self::new("missing", loc, "Field required", input)
    }

    /// A `value_error` from a custom check (cron, timezone, template, endpoint, ...).
    pub fn value_error(loc: Vec<Value>, message: &str, input: Value) -> Self {
        Self::new("value_error", loc, format!("Value error, {message}"), input)
            .with_ctx(json!({ "error": message }))
    }
}

/// `["body", "name"]` and friends.
pub fn loc(parts: &[&str]) -> Vec<Value> {
    parts
        .iter()
        .map(|p| Value::String((*p).to_string()))
        .collect()
}

/// Every failure a handler can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// 422 with every invalid field.
    Validation(Vec<FieldError>),
    /// 401: no token, or one the API server does not accept.
    Unauthenticated,
    /// 403 with the permission that was missing, e.g. `list actions.punctual.dev`.
    Forbidden { required_permission: String },
    /// 404 that names only what the client asked for.
    NotFound {
        resource_type: &'static str,
        resource_id: String,
    },
    /// 409: a concurrent write won, or the name is taken.
    Conflict(String),
    /// 413: the body is over the limit.
    TooLarge,
    /// 500: the cause is logged here and replaced by a generic message.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn action_not_found(id: &str) -> Self {
        ApiError::NotFound {
            resource_type: "action",
            resource_id: id.to_string(),
        }
    }

    /// The JSON body for this error at `timestamp` (RFC 3339), with fields in documented order.
    pub fn body(&self, timestamp: &str) -> Value {
        serde_json::to_value(self.body_struct(timestamp)).unwrap_or_default()
    }

    fn body_struct(&self, timestamp: &str) -> Body {
        let status = self.status().as_u16();
        let (error, message, details) = match self {
            ApiError::Validation(errors) => {
                return Body::Validation(HttpValidationError {
                    detail: errors.clone(),
                });
            }
            ApiError::Unauthenticated => (
                PlatformErrorCode::AuthenticationFailed,
                "Authentication failed: a valid bearer token is required".to_string(),
                Map::new(),
            ),
            ApiError::Forbidden {
                required_permission,
            } => (
                PlatformErrorCode::Forbidden,
                "You do not have permission to perform this operation".to_string(),
                obj(json!({ "required_permission": required_permission })),
            ),
            ApiError::NotFound {
                resource_type,
                resource_id,
            } => (
                PlatformErrorCode::ResourceNotFound,
                format!("{} '{resource_id}' not found", capitalize(resource_type)),
                obj(json!({ "resource_type": resource_type, "resource_id": resource_id })),
            ),
            ApiError::Conflict(message) => {
                (PlatformErrorCode::Conflict, message.clone(), Map::new())
            }
            ApiError::TooLarge => (
                PlatformErrorCode::PayloadTooLarge,
                "Request body is larger than 1 MiB".to_string(),
                obj(json!({ "max_bytes": super::MAX_BODY_BYTES })),
            ),
            ApiError::Internal(_) => (
                PlatformErrorCode::InternalServerError,
                "An internal error occurred".to_string(),
                Map::new(),
            ),
        };
        Body::Platform(PlatformError {
            error,
            message,
            details,
            timestamp: timestamp.to_string(),
            status_code: status,
        })
    }
}

/// The two body shapes, untagged: each serializes as the struct it holds.
#[derive(Serialize)]
#[serde(untagged)]
enum Body {
    Validation(HttpValidationError),
    Platform(PlatformError),
}

/// The 422 body: every invalid input, in field order.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[schemars(rename = "HTTPValidationError")]
pub struct HttpValidationError {
    /// One entry per invalid input.
    pub detail: Vec<FieldError>,
}

/// The body of every error but a validation failure.
// A struct, not `json!` (which would sort the keys), so that fields keep the documented order.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct PlatformError {
    /// Stable code of the failure.
    pub error: PlatformErrorCode,
    /// Human-readable message; never contains internal causes.
    pub message: String,
    /// Machine-readable particulars, `{}` when there are none: `required_permission` (403),
    /// `resource_type` and `resource_id` (404), `max_bytes` (413).
    pub details: JsonObject,
    /// When the error was answered.
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub timestamp: String,
    /// The HTTP status, repeated.
    pub status_code: u16,
}

// Named `ErrorCode` in the OpenAPI document, as the reference API names it; not a run's
// `RunErrorCode`. (A plain comment: a doc comment would become the schema's description.)
/// The `error` of a platform error body, one per status.
#[derive(Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schemars(rename = "ErrorCode")]
pub enum PlatformErrorCode {
    /// 401: no bearer token, or one the API server does not accept.
    AuthenticationFailed,
    /// 403: the caller lacks the RBAC permission.
    Forbidden,
    /// 404: not found in this org, workspace and app (or an unknown route).
    ResourceNotFound,
    /// 409: a conflicting concurrent change.
    Conflict,
    /// 413: the request body is over 1 MiB.
    PayloadTooLarge,
    /// 500: an internal error; the cause is logged, not sent.
    InternalServerError,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl From<kube::Error> for ApiError {
    /// API server answers that mean something to the client keep their meaning; the rest is 500.
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) if s.code == 409 => {
                ApiError::Conflict("The resource was changed concurrently; retry".to_string())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error answering a request");
        }
        let now = crate::time::format_time(&chrono::Utc::now());
        (self.status(), Json(self.body_struct(&now))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_body_is_pydantic_shaped() {
        let e = ApiError::Validation(vec![
            FieldError::missing(loc(&["body", "name"]), json!({})),
            FieldError::new(
                "greater_than_equal",
                loc(&["query", "limit"]),
                "Input should be greater than or equal to 1",
                json!("0"),
            )
            .with_ctx(json!({"ge": 1})),
        ]);
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.body("t"),
            json!({"detail": [
                {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {}},
                {"type": "greater_than_equal", "loc": ["query", "limit"],
                 "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}},
            ]})
        );
    }

    #[test]
    fn platform_bodies_have_the_five_fields_and_no_internals() {
        let nf = ApiError::action_not_found("a1").body("2026-01-01T00:00:00Z");
        assert_eq!(
            nf,
            json!({"error": "RESOURCE_NOT_FOUND", "message": "Action 'a1' not found",
                   "details": {"resource_type": "action", "resource_id": "a1"},
                   "timestamp": "2026-01-01T00:00:00Z", "status_code": 404})
        );
        let internal = ApiError::Internal("etcd exploded at 10.0.0.1".into()).body("t");
        assert!(!internal.to_string().contains("etcd"));
        assert_eq!(internal["status_code"], 500);
        assert_eq!(internal["error"], "INTERNAL_SERVER_ERROR");
        let forbidden = ApiError::Forbidden {
            required_permission: "list actions.punctual.dev".into(),
        }
        .body("t");
        assert_eq!(
            forbidden["details"]["required_permission"],
            "list actions.punctual.dev"
        );
        assert_eq!(
            ApiError::Unauthenticated.body("t")["error"],
            "AUTHENTICATION_FAILED"
        );
        assert_eq!(ApiError::Conflict("x".into()).body("t")["status_code"], 409);
        assert_eq!(ApiError::TooLarge.body("t")["status_code"], 413);
    }

    #[test]
    fn bodies_keep_the_field_order_the_schema_requires() {
        // A `Value` would sort keys; the text shows the order the client gets.
        let text = serde_json::to_string(&ApiError::TooLarge.body_struct("t")).unwrap();
        assert_eq!(
            text,
            r#"{"error":"PAYLOAD_TOO_LARGE","message":"Request body is larger than 1 MiB","details":{"max_bytes":1048576},"timestamp":"t","status_code":413}"#
        );
        let doc = crate::rest::openapi::document();
        assert_eq!(
            doc["components"]["schemas"]["PlatformError"]["required"],
            json!(["error", "message", "details", "timestamp", "status_code"])
        );
        let text = serde_json::to_string(
            &ApiError::Validation(vec![FieldError::missing(loc(&["body", "name"]), json!({}))])
                .body_struct("t"),
        )
        .unwrap();
        assert_eq!(
            text,
            r#"{"detail":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":{}}]}"#
        );
    }
}
