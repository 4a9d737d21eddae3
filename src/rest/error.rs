//! Error bodies of the facade: the Pydantic v2 shape for validation failures (422) and the
//! platform shape for everything else. Internal causes are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One entry of a 422 `detail` list, as Pydantic v2 reports it.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: String,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
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
                return Body::Validation {
                    detail: errors.clone(),
                };
            }
            ApiError::Unauthenticated => (
                "AUTHENTICATION_FAILED",
                "Authentication failed: a valid bearer token is required".to_string(),
                Map::new(),
            ),
            ApiError::Forbidden {
                required_permission,
            } => (
                "FORBIDDEN",
                "You do not have permission to perform this operation".to_string(),
                obj(json!({ "required_permission": required_permission })),
            ),
            ApiError::NotFound {
                resource_type,
                resource_id,
            } => (
                "RESOURCE_NOT_FOUND",
                format!("{} '{resource_id}' not found", capitalize(resource_type)),
                obj(json!({ "resource_type": resource_type, "resource_id": resource_id })),
            ),
            ApiError::Conflict(message) => ("CONFLICT", message.clone(), Map::new()),
            ApiError::TooLarge => (
                "PAYLOAD_TOO_LARGE",
                "Request body is larger than 1 MiB".to_string(),
                obj(json!({ "max_bytes": super::MAX_BODY_BYTES })),
            ),
            ApiError::Internal(_) => (
                "INTERNAL_SERVER_ERROR",
                "An internal error occurred".to_string(),
                Map::new(),
            ),
        };
        Body::Platform {
            error,
            message,
            details,
            timestamp: timestamp.to_string(),
            status_code: status,
        }
    }
}

/// The two body shapes; structs (not `json!`) so that fields keep their documented order.
#[derive(Serialize)]
#[serde(untagged)]
enum Body {
    Validation {
        detail: Vec<FieldError>,
    },
    Platform {
        error: &'static str,
        message: String,
        details: Map<String, Value>,
        timestamp: String,
        status_code: u16,
    },
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
        let now = super::model::format_time(&chrono::Utc::now());
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
}
