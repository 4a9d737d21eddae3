//! Extractors whose rejections are our 422 (or 413) bodies, never axum's plain-text ones.
//! A rejection is sent only to an authenticated caller: an extractor that cannot read its part
//! of the request authenticates first, so a missing or bad token is a 401 whatever else is
//! wrong (docs/rest.md, "Errors").

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, FieldError, loc};

/// The rejection `error`, unless the caller is not authenticated: then the 401.
async fn after_authentication(state: &AppState, headers: &HeaderMap, error: ApiError) -> ApiError {
    match state.auth.authenticate(headers).await {
        Ok(_) => error,
        Err(unauthenticated) => unauthenticated,
    }
}

/// An optional JSON body: `None` when empty. Malformed JSON is a `json_invalid` 422, a body over
/// the limit is 413 (both after authentication).
pub struct JsonBody(pub Option<Value>);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let read = read_json(req, state).await;
        match read {
            Ok(body) => Ok(JsonBody(body)),
            Err(error) => Err(after_authentication(state, &headers, error).await),
        }
    }
}

async fn read_json(req: Request, state: &AppState) -> Result<Option<Value>, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::Validation(vec![FieldError::new(
                "json_invalid",
                loc(&["body"]),
                "JSON decode error",
                json!({}),
            )])
        }
    })?;
    parse_json(&bytes)
}

/// The body as JSON, or the `json_invalid` error FastAPI gives (`loc: ["body", <position>]`,
/// `ctx.error` Python's reason, `rest::pyjson`). Only an empty body is no body: whitespace is a
/// malformed one, as FastAPI reads it. A UTF-8 byte order mark is skipped, as Python does.
pub fn parse_json(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        let python = std::str::from_utf8(bytes)
            .ok()
            .and_then(super::pyjson::decode_error);
        let (reason, position) = python.unwrap_or_else(|| {
            let reason = match e.classify() {
                serde_json::error::Category::Eof => "Unexpected end of input",
                _ => "Invalid JSON",
            };
            (reason, byte_offset(bytes, e.line(), e.column()))
        });
        ApiError::Validation(vec![
            FieldError::new(
                "json_invalid",
                vec![json!("body"), json!(position)],
                "JSON decode error",
                json!({}),
            )
            .with_ctx(json!({ "error": reason })),
        ])
    })
}

/// serde_json reports 1-based line and column; FastAPI reports a 0-based offset.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return (offset + column.saturating_sub(1)).min(bytes.len());
        }
        offset += l.len() + 1;
    }
    bytes.len()
}

/// Path parameters; a value that cannot be decoded is a 422 at `["path"]`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(_) => {
                let error = ApiError::Validation(vec![FieldError::new(
                    "string_type",
                    loc(&["path"]),
                    "Input should be a valid string",
                    Value::Null,
                )]);
                Err(after_authentication(state, &parts.headers, error).await)
            }
        }
    }
}

/// The query string as name/value pairs; an undecodable one is a 422 at `["query"]`.
pub struct QueryPairs(pub Vec<(String, String)>);

impl FromRequestParts<AppState> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        let raw = raw.unwrap_or_default();
        match serde_urlencoded::from_str::<Vec<(String, String)>>(&raw) {
            Ok(pairs) => Ok(QueryPairs(pairs)),
            Err(_) => {
                let error = ApiError::Validation(vec![FieldError::new(
                    "string_type",
                    loc(&["query"]),
                    "Input should be a valid string",
                    json!(raw),
                )]);
                Err(after_authentication(state, &parts.headers, error).await)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_json_invalid_with_position() {
        let Err(ApiError::Validation(errs)) = parse_json(b"{\"name\": }") else {
            panic!("expected a validation error");
        };
        assert_eq!(errs[0].kind, "json_invalid");
        assert_eq!(errs[0].loc, vec![json!("body"), json!(9)]);
        let Err(ApiError::Validation(errs)) = parse_json(b"{\n\"a\": 1") else {
            panic!("expected a validation error");
        };
        assert_eq!(
            errs[0].ctx,
            Some(json!({"error": "Expecting ',' delimiter"}))
        );
    }

    #[test]
    fn empty_body_is_none() {
        assert!(matches!(parse_json(b""), Ok(None)));
        assert!(parse_json(b"  \n").is_err());
        assert!(matches!(parse_json(b"\xEF\xBB\xBF{}"), Ok(Some(_))));
        assert!(matches!(parse_json(b"{}"), Ok(Some(_))));
    }
}
