//! Rendering the templates of a run (the thread id template and every string leaf of the
//! payload) with minijinja: Jinja syntax, sandboxed (no file or network access, no code
//! execution), and strict about undefined variables so that a typo fails the run visibly instead
//! of sending an empty string.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// The variables a template can use (docs/runner.md, "The request"). `thread_id` is absent while the thread
/// template itself is rendered.
pub type Vars = BTreeMap<&'static str, String>;

/// A template that could not be rendered: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TemplateError {
    /// `threadIdTemplate` or the JSON path of the payload leaf, e.g. `payload.items[1].text`.
    pub location: String,
    pub message: String,
}

/// One environment for every render: strict undefined handling, no loader (so no includes).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Renders one template string.
pub fn render_str(
    env: &Environment<'_>,
    location: &str,
    template: &str,
    vars: &Vars,
) -> Result<String, TemplateError> {
    // Plain strings (the common case) skip the engine: nothing in them can be a template.
    if !(template.contains("{{") || template.contains("{%") || template.contains("{#")) {
        return Ok(template.to_string());
    }
    env.render_str(template, vars).map_err(|e| TemplateError {
        location: location.to_string(),
        message: describe(&e),
    })
}

/// Renders every string leaf of `value` (object values and array items, at any depth); keys,
/// numbers, booleans and nulls are left as they are.
pub fn render_value(
    env: &Environment<'_>,
    location: &str,
    value: &Value,
    vars: &Vars,
) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => Value::String(render_str(env, location, s, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_value(env, &format!("{location}[{i}]"), v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        render_value(env, &format!("{location}.{k}"), v, vars)?,
                    ))
                })
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// minijinja's message, with the line when it has one (templates are mostly one line).
fn describe(e: &minijinja::Error) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    match e.line() {
        Some(line) if line > 1 => format!("{message} (line {line})"),
        _ => message,
    }
}

/// Whether a thread id template compiles (for validation by the controller and the facade).
pub fn check_syntax(template: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_str(template)
        .map(|_| ())
        .map_err(|e| TemplateError {
            location: "threadIdTemplate".into(),
            message: describe(&e),
        })
}
