//! Rendering the templates of a run (the thread id template and every string leaf of the
//! payload) with minijinja: Jinja syntax, sandboxed (no file or network access, no code
//! execution), and strict about undefined variables so that a typo fails the run visibly instead
//! of sending an empty string.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// The variables a template can use (docs/runner.md, "The request"). `thread_id` is absent while the thread
/// template itself is rendered.
pub type Vars = BTreeMap<String, String>;

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

/// Checks a template before any run renders it: it compiles, and it renders with sample values
/// of the `available` variables, once as a scheduled run and once as a manual one (whose
/// `scheduled_at` is empty), which finds undefined variables, unknown filters and tests. A name
/// that is not available fails unless the template guards it (`{{ topic | default('all') }}`,
/// `{% if topic is defined %}`), so that a trigger's own `variables` can fill it.
pub fn check(location: &str, template: &str, available: &[&str]) -> Result<(), TemplateError> {
    if !(template.contains("{{") || template.contains("{%") || template.contains("{#")) {
        return Ok(());
    }
    let env = environment();
    let fail = |message: String| TemplateError {
        location: location.to_string(),
        message,
    };
    let compiled = env
        .template_from_str(template)
        .map_err(|e| fail(describe(&e)))?;
    for trigger_type in ["scheduled", "manual"] {
        let sample: Vars = available
            .iter()
            .map(|name| (name.to_string(), sample_value(name, trigger_type)))
            .collect();
        if let Err(e) = compiled.render(&sample) {
            if e.kind() != minijinja::ErrorKind::UndefinedError {
                return Err(fail(describe(&e)));
            }
            // Name the culprits: the names the template uses that no run provides.
            let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
            let mut unknown: Vec<String> = compiled
                .undeclared_variables(false)
                .into_iter()
                .filter(|n| !available.contains(&n.as_str()) && !globals.contains(&n.as_str()))
                .collect();
            unknown.sort();
            let names: Vec<String> = unknown.iter().map(|n| format!("`{n}`")).collect();
            return Err(fail(format!(
                "undefined variable{} {} (available: {}; guard a trigger's own variable with `| default(...)`)",
                if names.len() == 1 { "" } else { "s" },
                if names.is_empty() {
                    describe(&e)
                } else {
                    names.join(", ")
                },
                available.join(", ")
            )));
        }
    }
    Ok(())
}

/// A value of the shape the runner gives `name` (times RFC 3339, `date` a day), for `check`.
fn sample_value(name: &str, trigger_type: &str) -> String {
    match name {
        "date" => "2026-01-01".into(),
        "scheduled_at" if trigger_type == "manual" => String::new(),
        "scheduled_at" | "triggered_at" | "now" => "2026-01-01T00:00:00Z".into(),
        "trigger_type" => trigger_type.into(),
        _ => format!("sample-{name}"),
    }
}

/// Every problem of the templates of an Action (the thread id template and each payload leaf),
/// each with its location, checked against the variables the runner provides plus `extra` (a
/// trigger's own variables).
pub fn check_all(
    thread_template: Option<&str>,
    payload: &crate::resources::JsonObject,
    extra: &[&str],
) -> Vec<TemplateError> {
    let mut errors = Vec::new();
    let with_extra = |base: Vec<&'static str>| -> Vec<String> {
        base.into_iter()
            .map(str::to_string)
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let thread_vars = with_extra(super::THREAD_VARIABLES.to_vec());
    let thread_vars: Vec<&str> = thread_vars.iter().map(String::as_str).collect();
    if let Some(t) = thread_template
        && let Err(e) = check("threadIdTemplate", t, &thread_vars)
    {
        errors.push(e);
    }
    let payload_vars = with_extra(super::payload_variables());
    let available: Vec<&str> = payload_vars.iter().map(String::as_str).collect();
    for (key, value) in payload {
        check_leaves(&format!("payload.{key}"), value, &available, &mut errors);
    }
    errors
}

fn check_leaves(
    location: &str,
    value: &Value,
    available: &[&str],
    errors: &mut Vec<TemplateError>,
) {
    match value {
        Value::String(s) => errors.extend(check(location, s, available).err()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_leaves(&format!("{location}[{i}]"), item, available, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                check_leaves(&format!("{location}.{k}"), item, available, errors);
            }
        }
        _ => {}
    }
}
