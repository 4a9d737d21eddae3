//! The query of the list routes (docs/rest.md, "Lists and the cursor").

use serde_json::json;

use super::body::enum_values;
use super::pydantic::{enum_error, ge, le, pattern_mismatch, too_long};
use crate::resources::RunPhase;
use crate::rest::cursor::{CURSOR_MAX_LENGTH, CURSOR_PATTERN, Cursor};
use crate::rest::error::{FieldError, loc};

/// Page size when `limit` is not sent.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` accepted.
pub const MAX_LIMIT: usize = 200;

/// An integer query parameter within `(min, max, default)`, `default` when absent; a repeated
/// one counts by its last value. The errors are Pydantic's for an `int` with `ge` and `le`.
pub fn int_param(
    pairs: &[(String, String)],
    name: &str,
    (min, max, default): (i64, i64, i64),
) -> Result<i64, Vec<FieldError>> {
    let Some((_, raw)) = pairs.iter().rev().find(|(k, _)| k == name) else {
        return Ok(default);
    };
    let at = loc(&["query", name]);
    match raw.trim().parse::<i64>() {
        Err(_) => Err(vec![FieldError::new(
            "int_parsing",
            at,
            "Input should be a valid integer, unable to parse string as an integer",
            json!(raw),
        )]),
        Ok(n) if n < min => Err(vec![ge(at, min, json!(raw))]),
        Ok(n) if n > max => Err(vec![le(at, max, json!(raw))]),
        Ok(n) => Ok(n),
    }
}

/// Query of the list routes.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub search: Option<String>,
    pub status: Option<RunPhase>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Reads `search` (actions) or `status` (runs), `limit` and `cursor` from the query pairs;
/// unknown parameters are ignored, a repeated one counts by its last value.
pub fn parse_list_query(
    pairs: &[(String, String)],
    runs: bool,
) -> Result<ListQuery, Vec<FieldError>> {
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut errs = Vec::new();
    let bounds = (1, MAX_LIMIT as i64, DEFAULT_LIMIT as i64);
    let limit = match int_param(pairs, "limit", bounds) {
        Ok(n) => n as usize,
        Err(e) => {
            errs.extend(e);
            DEFAULT_LIMIT
        }
    };
    // As a FastAPI `Query(max_length=, pattern=)`: length first, then the pattern. An empty
    // cursor is not "no cursor", it is outside the grammar.
    let cursor = match get("cursor") {
        None => None,
        Some(raw) => match Cursor::decode(&raw) {
            Some(c) => Some(c),
            None => {
                let at = loc(&["query", "cursor"]);
                errs.push(if raw.chars().count() > CURSOR_MAX_LENGTH {
                    too_long(at, CURSOR_MAX_LENGTH, json!(raw))
                } else {
                    pattern_mismatch(at, CURSOR_PATTERN, json!(raw))
                });
                None
            }
        },
    };
    let status = if runs {
        match get("status") {
            None => None,
            Some(raw) => match serde_json::from_value::<RunPhase>(json!(raw)) {
                Ok(s) => Some(s),
                Err(_) => {
                    errs.push(enum_error(
                        loc(&["query", "status"]),
                        &enum_values::<RunPhase>(),
                        json!(raw),
                    ));
                    None
                }
            },
        }
    } else {
        None
    };
    let search = if runs { None } else { get("search") };
    if errs.is_empty() {
        Ok(ListQuery {
            search,
            status,
            limit,
            cursor,
        })
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_limits_cursor_and_status() {
        let q = |pairs: &[(&str, &str)], runs| {
            let v: Vec<(String, String)> = pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            parse_list_query(&v, runs)
        };
        assert_eq!(q(&[], false).unwrap().limit, 50);
        assert_eq!(
            q(&[("limit", "200"), ("search", "x")], false)
                .unwrap()
                .limit,
            200
        );
        let errs = q(&[("limit", "0"), ("cursor", "zzz")], false).unwrap_err();
        assert_eq!(errs[0].kind, "greater_than_equal");
        assert_eq!(errs[0].input, json!("0"));
        assert_eq!(errs[1].loc, loc(&["query", "cursor"]));
        assert_eq!(
            q(&[("limit", "201")], false).unwrap_err()[0].ctx,
            Some(json!({"le": 200}))
        );
        assert_eq!(
            q(&[("limit", "abc")], false).unwrap_err()[0].kind,
            "int_parsing"
        );
        assert_eq!(
            q(&[("status", "failed")], true).unwrap().status,
            Some(RunPhase::Failed)
        );
        assert_eq!(q(&[("status", "done")], true).unwrap_err()[0].kind, "enum");
        // Empty is a value like any other, as FastAPI reads it.
        assert_eq!(q(&[("status", "")], true).unwrap_err()[0].kind, "enum");
        let errs = q(&[("cursor", "")], false).unwrap_err();
        assert_eq!(errs[0].kind, "string_pattern_mismatch");
        assert_eq!(errs[0].ctx, Some(json!({"pattern": CURSOR_PATTERN})));
        let long = "1".repeat(CURSOR_MAX_LENGTH + 1);
        let errs = q(&[("cursor", long.as_str())], false).unwrap_err();
        assert_eq!(errs[0].kind, "string_too_long");
        assert_eq!(errs[0].ctx, Some(json!({"max_length": CURSOR_MAX_LENGTH})));
        let c = crate::rest::cursor::Cursor::after(chrono::DateTime::UNIX_EPOCH, "a.b");
        assert_eq!(
            q(&[("cursor", &c.encode())], false).unwrap().cursor,
            Some(c)
        );
    }
}
