//! Pydantic v2's wording of the constraint errors every reader shares (docs/rest.md, "Errors").

use serde_json::{Value, json};

use crate::rest::error::{FieldError, loc};

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn too_short(loc: Vec<Value>, min: usize, input: Value) -> FieldError {
    FieldError::new(
        "string_too_short",
        loc,
        format!("String should have at least {min} character{}", plural(min)),
        input,
    )
    .with_ctx(json!({ "min_length": min }))
}

pub(super) fn too_long(loc: Vec<Value>, max: usize, input: Value) -> FieldError {
    FieldError::new(
        "string_too_long",
        loc,
        format!("String should have at most {max} character{}", plural(max)),
        input,
    )
    .with_ctx(json!({ "max_length": max }))
}

pub(super) fn pattern_mismatch(loc: Vec<Value>, pattern: &str, input: Value) -> FieldError {
    FieldError::new(
        "string_pattern_mismatch",
        loc,
        format!("String should match pattern '{pattern}'"),
        input,
    )
    .with_ctx(json!({ "pattern": pattern }))
}

pub(super) fn ge(loc: Vec<Value>, n: i64, input: Value) -> FieldError {
    FieldError::new(
        "greater_than_equal",
        loc,
        format!("Input should be greater than or equal to {n}"),
        input,
    )
    .with_ctx(json!({ "ge": n }))
}

pub(super) fn le(loc: Vec<Value>, n: i64, input: Value) -> FieldError {
    FieldError::new(
        "less_than_equal",
        loc,
        format!("Input should be less than or equal to {n}"),
        input,
    )
    .with_ctx(json!({ "le": n }))
}

/// Pydantic's wording of an enum's members: `'a', 'b' or 'c'`.
fn expected(options: &[String]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

pub(super) fn enum_error(loc: Vec<Value>, options: &[String], input: Value) -> FieldError {
    let exp = expected(options);
    FieldError::new("enum", loc, format!("Input should be {exp}"), input)
        .with_ctx(json!({ "expected": exp }))
}

pub(super) fn not_an_object(body: &Value) -> FieldError {
    FieldError::new(
        "model_attributes_type",
        loc(&["body"]),
        "Input should be a valid dictionary or object to extract fields from",
        body.clone(),
    )
}
