//! Validation of path ids, request bodies and query strings into typed input, reporting every
//! invalid field the way Pydantic v2 does. Pure functions: no I/O, `now` passed in.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::error::{FieldError, loc};
use crate::cron::{CronSchedule, parse_timezone};
use crate::resources::{ActionSpec, ActionType, JsonObject, RunPhase, ScheduleType, ThreadMode};

/// Largest payload an Action may carry (256 KiB, enforced here and by the controller).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Inclusive bounds of a string field's length, in characters (JSON Schema's code points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    pub min: usize,
    pub max: usize,
}

/// Inclusive bounds of an integer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

// The bounds of the Action body fields. The OpenAPI schema (`super::bodies`) takes its
// `minLength`/`maxLength`/`minimum`/`maximum` from these same constants.
pub const NAME_LENGTH: Length = Length { min: 1, max: 255 };
pub const DESCRIPTION_LENGTH: Length = Length { min: 0, max: 2000 };
pub const ENDPOINT_ID_LENGTH: Length = Length { min: 1, max: 253 };
pub const NAMESPACE_ID_LENGTH: Length = Length { min: 1, max: 255 };
pub const THREAD_ID_LENGTH: Length = Length { min: 1, max: 255 };
pub const THREAD_ID_TEMPLATE_LENGTH: Length = Length { min: 1, max: 1024 };
pub const CRON_EXPRESSION_LENGTH: Length = Length { min: 1, max: 255 };
pub const TIMEZONE_LENGTH: Length = Length { min: 1, max: 64 };
pub const MAX_RETRIES_RANGE: Range = Range { min: 0, max: 100 };
pub const RETRY_DELAY_SECONDS_RANGE: Range = Range { min: 0, max: 86400 };

/// A DNS-1123 label: a namespace name.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A DNS-1123 subdomain: the name of an Action or an ActionRun.
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A label value, such as the namespace label `punctual.dev/org`.
pub const LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/// The grammar of a path id, as FastAPI declares `Path(min_length=, max_length=, pattern=)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathGrammar {
    pub min_length: usize,
    pub max_length: usize,
    pub pattern: Option<&'static str>,
}

/// Every path id in path order, with the grammar of what it maps to (docs/rest.md, "Tenancy"): `org_id` is the
/// value of the namespace label `punctual.dev/org`, `workspace_id` a namespace name, `app_id` an
/// Action's `spec.app` (1..253 characters, any text), `action_id` and `run_id` object names.
/// Action names are at most 63 characters (the CRD enforces it: the name is the run label
/// `punctual.dev/action`).
/// An id outside its grammar can never name anything, so it is a 422, not a 404. The check and
/// the OpenAPI document both read this table.
pub const PATH_PARAMS: [(&str, PathGrammar); 5] = [
    (
        "org_id",
        PathGrammar {
            min_length: 1,
            max_length: 63,
            pattern: Some(LABEL_VALUE_PATTERN),
        },
    ),
    (
        "workspace_id",
        PathGrammar {
            min_length: 1,
            max_length: 63,
            pattern: Some(DNS_LABEL_PATTERN),
        },
    ),
    (
        "app_id",
        PathGrammar {
            min_length: 1,
            max_length: 253,
            pattern: None,
        },
    ),
    (
        "action_id",
        PathGrammar {
            min_length: 1,
            max_length: 63,
            pattern: Some(DNS_SUBDOMAIN_PATTERN),
        },
    ),
    (
        "run_id",
        PathGrammar {
            min_length: 1,
            max_length: 253,
            pattern: Some(DNS_SUBDOMAIN_PATTERN),
        },
    ),
];

/// The patterns of `PATH_PARAMS`, compiled once, by the same index.
static PATH_REGEXES: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
    PATH_PARAMS
        .iter()
        .map(|(_, g)| {
            g.pattern
                .map(|p| Regex::new(p).expect("path patterns compile"))
        })
        .collect()
});

/// The grammar of the path id `name`, if it is one.
pub fn path_grammar(name: &str) -> Option<PathGrammar> {
    PATH_PARAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, g)| *g)
}

/// Checks path ids, given in path order as (name, value), the way Pydantic checks a constrained
/// string: length first, then the pattern, one error per id; every id is checked.
pub fn check_path(ids: &[(&str, &str)]) -> Vec<FieldError> {
    ids.iter()
        .filter_map(|(name, value)| path_error(name, value))
        .collect()
}

/// What is wrong with one path id, if anything.
fn path_error(name: &str, value: &str) -> Option<FieldError> {
    let Some(i) = PATH_PARAMS.iter().position(|(n, _)| *n == name) else {
        debug_assert!(false, "{name} is not in PATH_PARAMS");
        return None;
    };
    let (param, grammar) = PATH_PARAMS[i];
    let at = loc(&["path", param]);
    let len = value.chars().count();
    if len < grammar.min_length {
        return Some(too_short(at, grammar.min_length, json!(value)));
    }
    if len > grammar.max_length {
        return Some(too_long(at, grammar.max_length, json!(value)));
    }
    let (Some(pattern), Some(regex)) = (grammar.pattern, &PATH_REGEXES[i]) else {
        return None;
    };
    if regex.is_match(value) {
        return None;
    }
    Some(
        FieldError::new(
            "string_pattern_mismatch",
            at,
            format!("String should match pattern '{pattern}'"),
            json!(value),
        )
        .with_ctx(json!({ "pattern": pattern })),
    )
}

/// The fields of a create or update body that were sent. The outer Option is "sent"; the inner
/// one, where present, is an explicit null (which clears an optional field).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActionInput {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub endpoint_id: Option<String>,
    pub namespace_id: Option<String>,
    pub thread_mode: Option<ThreadMode>,
    pub thread_id: Option<Option<String>>,
    pub thread_id_template: Option<Option<String>>,
    pub payload: Option<JsonObject>,
    pub action_type: Option<ActionType>,
    pub schedule_type: Option<Option<ScheduleType>>,
    pub cron_expression: Option<Option<String>>,
    pub scheduled_at: Option<Option<DateTime<Utc>>>,
    pub timezone: Option<String>,
    pub max_retries: Option<i32>,
    pub retry_delay_seconds: Option<i32>,
    pub is_enabled: Option<bool>,
}

/// Reads a create (`create = true`: name, endpoint_id and namespace_id required) or update body.
/// Read-only and unknown fields are ignored, so a client may send back what it got.
pub fn parse_action_body(body: &Value, create: bool) -> Result<ActionInput, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![not_an_object(body)]);
    };
    let mut errs = Vec::new();
    let mut v = Fields {
        obj,
        errs: &mut errs,
    };
    let input = ActionInput {
        name: v.required_str("name", NAME_LENGTH, create),
        description: v.nullable("description", |v| v.str("description", DESCRIPTION_LENGTH)),
        endpoint_id: v.required_str("endpoint_id", ENDPOINT_ID_LENGTH, create),
        namespace_id: v.required_str("namespace_id", NAMESPACE_ID_LENGTH, create),
        thread_mode: v.enumeration("thread_mode", &["new_each_run", "fixed", "template"]),
        thread_id: v.nullable("thread_id", |v| v.str("thread_id", THREAD_ID_LENGTH)),
        thread_id_template: v.nullable("thread_id_template", |v| {
            v.str("thread_id_template", THREAD_ID_TEMPLATE_LENGTH)
        }),
        payload: v.dict("payload"),
        action_type: v.enumeration("action_type", &["trigger"]),
        schedule_type: v.nullable("schedule_type", |v| {
            v.enumeration("schedule_type", &["cron", "one_time", "manual"])
        }),
        cron_expression: v.nullable("cron_expression", |v| {
            v.str("cron_expression", CRON_EXPRESSION_LENGTH)
        }),
        scheduled_at: v.nullable("scheduled_at", |v| v.datetime("scheduled_at")),
        timezone: v.str("timezone", TIMEZONE_LENGTH),
        max_retries: v.int("max_retries", MAX_RETRIES_RANGE),
        retry_delay_seconds: v.int("retry_delay_seconds", RETRY_DELAY_SECONDS_RANGE),
        is_enabled: v.boolean("is_enabled"),
    };
    if errs.is_empty() {
        Ok(input)
    } else {
        Err(errs)
    }
}

/// The optional body of a trigger: `{"payload": {...}}` overrides the payload once.
pub fn parse_trigger_body(body: Option<&Value>) -> Result<Option<JsonObject>, Vec<FieldError>> {
    let Some(body) = body else { return Ok(None) };
    let Some(obj) = body.as_object() else {
        return Err(vec![not_an_object(body)]);
    };
    let mut errs = Vec::new();
    let payload = Fields {
        obj,
        errs: &mut errs,
    }
    .nullable("payload", |v| v.dict("payload"))
    .flatten();
    if let Some(p) = &payload {
        check_payload(p, &mut errs);
    }
    if errs.is_empty() {
        Ok(payload)
    } else {
        Err(errs)
    }
}

fn not_an_object(body: &Value) -> FieldError {
    FieldError::new(
        "model_attributes_type",
        loc(&["body"]),
        "Input should be a valid dictionary or object to extract fields from",
        body.clone(),
    )
}

/// The spec a create starts from: the resource's own defaults, with the required fields empty
/// until `apply` sets them. The create body's documented defaults are read from it too.
pub fn new_spec(app_id: &str) -> Result<ActionSpec, serde_json::Error> {
    serde_json::from_value(json!({ "app": app_id, "endpoint": "", "namespaceId": "" }))
}

/// Applies the sent fields to `spec`. Create infers `schedule_type` as docs/rest.md ("Create and update") says.
pub fn apply(spec: &mut ActionSpec, input: &ActionInput) {
    if let Some(n) = &input.name {
        spec.display_name = Some(n.clone());
    }
    if let Some(d) = &input.description {
        spec.description = d.clone();
    }
    if let Some(e) = &input.endpoint_id {
        spec.endpoint = e.clone();
    }
    if let Some(n) = &input.namespace_id {
        spec.namespace_id = n.clone();
    }
    if let Some(m) = input.thread_mode {
        spec.thread_mode = m;
    }
    if let Some(t) = &input.thread_id {
        spec.thread_id = t.clone();
    }
    if let Some(t) = &input.thread_id_template {
        spec.thread_id_template = t.clone();
    }
    if let Some(p) = &input.payload {
        spec.payload = p.clone();
    }
    if let Some(a) = input.action_type {
        spec.action_type = a;
    }
    if let Some(s) = input.schedule_type {
        spec.schedule_type = s;
    }
    if let Some(c) = &input.cron_expression {
        spec.cron_expression = c.clone();
    }
    if let Some(s) = input.scheduled_at {
        spec.scheduled_at = s;
    }
    if let Some(t) = &input.timezone {
        spec.timezone = t.clone();
    }
    if let Some(m) = input.max_retries {
        spec.max_retries = m;
    }
    if let Some(r) = input.retry_delay_seconds {
        spec.retry_delay_seconds = r;
    }
    if let Some(e) = input.is_enabled {
        spec.enabled = e;
    }
}

/// The spec fields (camelCase) an update changes, for a JSON merge patch that touches nothing
/// else (fields set by kubectl and not sent stay as they are). Null removes a field.
pub fn spec_patch(spec: &ActionSpec, input: &ActionInput) -> Map<String, Value> {
    let full = serde_json::to_value(spec).unwrap_or_default();
    let sent: [(&str, bool); 16] = [
        ("displayName", input.name.is_some()),
        ("description", input.description.is_some()),
        ("endpoint", input.endpoint_id.is_some()),
        ("namespaceId", input.namespace_id.is_some()),
        ("threadMode", input.thread_mode.is_some()),
        ("threadId", input.thread_id.is_some()),
        ("threadIdTemplate", input.thread_id_template.is_some()),
        ("payload", input.payload.is_some()),
        ("actionType", input.action_type.is_some()),
        ("scheduleType", input.schedule_type.is_some()),
        ("cronExpression", input.cron_expression.is_some()),
        ("scheduledAt", input.scheduled_at.is_some()),
        ("timezone", input.timezone.is_some()),
        ("maxRetries", input.max_retries.is_some()),
        ("retryDelaySeconds", input.retry_delay_seconds.is_some()),
        ("enabled", input.is_enabled.is_some()),
    ];
    sent.iter()
        .filter(|(_, s)| *s)
        .map(|(k, _)| {
            (
                (*k).to_string(),
                full.get(*k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// What the resource schema cannot check, on the spec as it will be stored: cron grammar, zone,
/// templates, required-if rules, payload size, and (when sent now) a past `scheduled_at`.
pub fn check_spec(spec: &ActionSpec, input: &ActionInput, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = spec.effective_schedule_type();
    let val = |s: &Option<String>| s.clone().map(Value::String).unwrap_or(Value::Null);
    match (&spec.cron_expression, schedule) {
        (Some(expr), _) => {
            if let Err(e) = CronSchedule::parse(expr) {
                errs.push(FieldError::value_error(
                    loc(&["body", "cron_expression"]),
                    &format!("invalid cron expression: {e}"),
                    json!(expr),
                ));
            }
        }
        (None, ScheduleType::Cron) => errs.push(FieldError::value_error(
            loc(&["body", "cron_expression"]),
            "cron_expression is required when schedule_type is cron",
            Value::Null,
        )),
        _ => {}
    }
    if schedule == ScheduleType::OneTime && spec.scheduled_at.is_none() {
        errs.push(FieldError::value_error(
            loc(&["body", "scheduled_at"]),
            "scheduled_at is required when schedule_type is one_time",
            Value::Null,
        ));
    }
    if let Some(Some(at)) = input.scheduled_at
        && at <= now
    {
        errs.push(FieldError::value_error(
            loc(&["body", "scheduled_at"]),
            "scheduled_at must be in the future",
            json!(crate::time::format_time(&at)),
        ));
    }
    if let Err(e) = parse_timezone(&spec.timezone) {
        errs.push(FieldError::value_error(
            loc(&["body", "timezone"]),
            &e.to_string(),
            json!(spec.timezone),
        ));
    }
    match spec.thread_mode {
        ThreadMode::Fixed if spec.thread_id.is_none() => errs.push(FieldError::value_error(
            loc(&["body", "thread_id"]),
            "thread_id is required when thread_mode is fixed",
            Value::Null,
        )),
        ThreadMode::Template if spec.thread_id_template.is_none() => {
            errs.push(FieldError::value_error(
                loc(&["body", "thread_id_template"]),
                "thread_id_template is required when thread_mode is template",
                Value::Null,
            ))
        }
        _ => {}
    }
    if let Some(t) = &spec.thread_id_template
        && let Some(e) = template_error(t)
    {
        errs.push(FieldError::value_error(
            loc(&["body", "thread_id_template"]),
            &e,
            val(&spec.thread_id_template),
        ));
    }
    check_payload(&spec.payload, &mut errs);
    errs
}

fn check_payload(payload: &JsonObject, errs: &mut Vec<FieldError>) {
    let size = serde_json::to_vec(payload).map(|b| b.len()).unwrap_or(0);
    if size > MAX_PAYLOAD_BYTES {
        errs.push(FieldError::value_error(
            loc(&["body", "payload"]),
            "payload is larger than 256 KiB",
            json!({}),
        ));
        return;
    }
    let mut path = loc(&["body", "payload"]);
    for (k, v) in payload {
        path.push(json!(k));
        check_leaves(v, &mut path, errs);
        path.pop();
    }
}

/// Every string leaf of a payload is a template; each must compile.
fn check_leaves(value: &Value, path: &mut Vec<Value>, errs: &mut Vec<FieldError>) {
    match value {
        Value::String(s) => {
            if let Some(e) = template_error(s) {
                errs.push(FieldError::value_error(path.clone(), &e, value.clone()));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(json!(i));
                check_leaves(item, path, errs);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(json!(k));
                check_leaves(item, path, errs);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Why `source` does not compile with the runner's template engine and settings, if it does not.
pub fn template_error(source: &str) -> Option<String> {
    crate::runspec::template::check_syntax(source)
        .err()
        .map(|e| format!("invalid template: {}", e.message))
}

/// Query of the list routes.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub search: Option<String>,
    pub status: Option<RunPhase>,
    pub limit: usize,
    pub cursor: Option<super::cursor::Cursor>,
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
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.trim().parse::<i64>() {
            Err(_) => {
                errs.push(FieldError::new(
                    "int_parsing",
                    loc(&["query", "limit"]),
                    "Input should be a valid integer, unable to parse string as an integer",
                    json!(raw),
                ));
                DEFAULT_LIMIT
            }
            Ok(n) if n < 1 => {
                errs.push(ge(loc(&["query", "limit"]), 1, json!(raw)));
                DEFAULT_LIMIT
            }
            Ok(n) if n > MAX_LIMIT as i64 => {
                errs.push(le(loc(&["query", "limit"]), MAX_LIMIT as i64, json!(raw)));
                DEFAULT_LIMIT
            }
            Ok(n) => n as usize,
        },
    };
    let cursor = match get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => match super::cursor::Cursor::decode(&raw) {
            Some(c) => Some(c),
            None => {
                errs.push(FieldError::value_error(
                    loc(&["query", "cursor"]),
                    "invalid cursor",
                    json!(raw),
                ));
                None
            }
        },
    };
    let status = if runs {
        match get("status").filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match serde_json::from_value::<RunPhase>(json!(raw)) {
                Ok(s) => Some(s),
                Err(_) => {
                    errs.push(enum_error(
                        loc(&["query", "status"]),
                        &["pending", "running", "succeeded", "failed", "cancelled"],
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn too_short(loc: Vec<Value>, min: usize, input: Value) -> FieldError {
    FieldError::new(
        "string_too_short",
        loc,
        format!("String should have at least {min} character{}", plural(min)),
        input,
    )
    .with_ctx(json!({ "min_length": min }))
}

fn too_long(loc: Vec<Value>, max: usize, input: Value) -> FieldError {
    FieldError::new(
        "string_too_long",
        loc,
        format!("String should have at most {max} character{}", plural(max)),
        input,
    )
    .with_ctx(json!({ "max_length": max }))
}

fn ge(loc: Vec<Value>, n: i64, input: Value) -> FieldError {
    FieldError::new(
        "greater_than_equal",
        loc,
        format!("Input should be greater than or equal to {n}"),
        input,
    )
    .with_ctx(json!({ "ge": n }))
}

fn le(loc: Vec<Value>, n: i64, input: Value) -> FieldError {
    FieldError::new(
        "less_than_equal",
        loc,
        format!("Input should be less than or equal to {n}"),
        input,
    )
    .with_ctx(json!({ "le": n }))
}

/// Pydantic's wording of an enum's members: `'a', 'b' or 'c'`.
fn expected(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn enum_error(loc: Vec<Value>, options: &[&str], input: Value) -> FieldError {
    let exp = expected(options);
    FieldError::new("enum", loc, format!("Input should be {exp}"), input)
        .with_ctx(json!({ "expected": exp }))
}

/// Field readers over one body object; each records its own errors and goes on.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errs: &'a mut Vec<FieldError>,
}

impl Fields<'_> {
    fn at(field: &str) -> Vec<Value> {
        loc(&["body", field])
    }

    /// A field that may be null: `Some(None)` for an explicit null, None when not sent.
    fn nullable<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.raw(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(read(self)),
        }
    }

    fn raw(&self, field: &str) -> Option<&Value> {
        self.obj.get(field)
    }

    fn required_str(&mut self, field: &str, length: Length, required: bool) -> Option<String> {
        if required && self.raw(field).is_none() {
            self.errs.push(FieldError::missing(
                Self::at(field),
                Value::Object(self.obj.clone()),
            ));
            return None;
        }
        if self.raw(field).is_some_and(Value::is_null) {
            self.errs.push(FieldError::new(
                "string_type",
                Self::at(field),
                "Input should be a valid string",
                Value::Null,
            ));
            return None;
        }
        self.str(field, length)
    }

    fn str(&mut self, field: &str, Length { min, max }: Length) -> Option<String> {
        let value = self.raw(field)?;
        let Some(s) = value.as_str() else {
            if !value.is_null() {
                self.errs.push(FieldError::new(
                    "string_type",
                    Self::at(field),
                    "Input should be a valid string",
                    value.clone(),
                ));
            }
            return None;
        };
        let len = s.chars().count();
        if len < min {
            self.errs
                .push(too_short(Self::at(field), min, value.clone()));
            return None;
        }
        if len > max {
            self.errs
                .push(too_long(Self::at(field), max, value.clone()));
            return None;
        }
        Some(s.to_string())
    }

    fn int(&mut self, field: &str, Range { min, max }: Range) -> Option<i32> {
        let value = self.raw(field)?;
        let n = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(i),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(f as i64),
                    _ => {
                        self.errs.push(FieldError::new(
                            "int_from_float",
                            Self::at(field),
                            "Input should be a valid integer, got a number with a fractional part",
                            value.clone(),
                        ));
                        return None;
                    }
                },
            },
            // Pydantic's lax mode accepts integers written as strings.
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => {
                    self.errs.push(FieldError::new(
                        "int_parsing",
                        Self::at(field),
                        "Input should be a valid integer, unable to parse string as an integer",
                        value.clone(),
                    ));
                    return None;
                }
            },
            _ => None,
        };
        let Some(n) = n else {
            self.errs.push(FieldError::new(
                "int_type",
                Self::at(field),
                "Input should be a valid integer",
                value.clone(),
            ));
            return None;
        };
        if n < min {
            self.errs.push(ge(Self::at(field), min, value.clone()));
            return None;
        }
        if n > max {
            self.errs.push(le(Self::at(field), max, value.clone()));
            return None;
        }
        i32::try_from(n).ok()
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.raw(field)?;
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
                _ => {
                    self.errs.push(FieldError::new(
                        "bool_parsing",
                        Self::at(field),
                        "Input should be a valid boolean, unable to interpret input",
                        value.clone(),
                    ));
                    None
                }
            },
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Some(n.as_i64() == Some(1))
            }
            _ => {
                self.errs.push(FieldError::new(
                    "bool_type",
                    Self::at(field),
                    "Input should be a valid boolean",
                    value.clone(),
                ));
                None
            }
        }
    }

    fn enumeration<T: serde::de::DeserializeOwned>(
        &mut self,
        field: &str,
        options: &[&str],
    ) -> Option<T> {
        let value = self.raw(field)?;
        if value.is_null() {
            return None;
        }
        match value.as_str().filter(|s| options.contains(s)) {
            Some(s) => serde_json::from_value(json!(s)).ok(),
            None => {
                self.errs
                    .push(enum_error(Self::at(field), options, value.clone()));
                None
            }
        }
    }

    fn dict(&mut self, field: &str) -> Option<JsonObject> {
        let value = self.raw(field)?;
        match value {
            Value::Object(m) => Some(m.clone()),
            Value::Null => None,
            _ => {
                self.errs.push(FieldError::new(
                    "dict_type",
                    Self::at(field),
                    "Input should be a valid dictionary",
                    value.clone(),
                ));
                None
            }
        }
    }

    fn datetime(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let value = self.raw(field)?;
        let Some(s) = value.as_str() else {
            if !value.is_null() {
                self.errs.push(FieldError::new(
                    "datetime_type",
                    Self::at(field),
                    "Input should be a valid datetime",
                    value.clone(),
                ));
            }
            return None;
        };
        match parse_datetime(s) {
            Ok(t) => Some(t),
            Err(reason) => {
                self.errs.push(
                    FieldError::new(
                        "datetime_from_date_parsing",
                        Self::at(field),
                        format!("Input should be a valid datetime or date, {reason}"),
                        value.clone(),
                    )
                    .with_ctx(json!({ "error": reason })),
                );
                None
            }
        }
    }
}

/// RFC 3339, or a date-time without offset (taken as UTC), or a bare date (midnight UTC), as
/// Pydantic accepts them.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, &'static str> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    if s.len() < 10 {
        Err("input is too short")
    } else {
        Err("invalid datetime format")
    }
}

/// A valid, readable Kubernetes name from an Action's human name: lowercase letters, digits and
/// dashes, at most 50 characters (room for run-name suffixes), never empty.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 50 {
            break;
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "action".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests;
