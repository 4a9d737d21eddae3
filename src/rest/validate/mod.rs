//! Validation of path ids, request bodies and query strings into typed input, reporting every
//! invalid field the way Pydantic v2 does (docs/rest.md, "Errors"). Pure functions: no I/O,
//! `now` passed in.
//!
//! - `path`: the grammar of the path ids (`PATH_PARAMS`)
//! - `body`, `fields`: create, update and trigger bodies into `ActionInput`
//! - `apply`: the spec a create starts from, sent fields onto a spec, the JSON Patch of an update
//! - `checks`: cron, zone, templates, required-if rules and payload size on the resulting spec
//!   (and on the fields that type-checked, beside type errors)
//! - `query`: the query of the list routes
//! - `slug`: the `action_id` of a new Action
//! - `lax`: Pydantic's lax coercions (int, bool, datetime)
//! - `pydantic`: the wording of the shared constraint errors

mod apply;
mod body;
mod checks;
mod fields;
mod lax;
mod path;
mod preview;
mod pydantic;
mod query;
mod slug;
mod trigger;

pub use apply::{apply, new_spec, spec_ops};
pub use body::{ActionInput, BodyField, EnumKind, Kind, Presence, enum_values, parse_action_body};
pub use checks::{check_spec, parse_action_body_all_errors, template_error};
pub use fields::parse_datetime;
pub use path::{
    DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, LABEL_VALUE_PATTERN, PATH_PARAMS, PathGrammar,
    check_path, path_grammar,
};
pub use preview::{DEFAULT_COUNT, MAX_COUNT, PreviewQuery, parse_count, parse_preview};
pub use query::{DEFAULT_LIMIT, ListQuery, MAX_LIMIT, int_param, parse_list_query};
pub use slug::slug;
pub use trigger::{
    MAX_VARIABLES, TriggerInput, VARIABLE_NAME_PATTERN, VARIABLE_VALUE_LENGTH, parse_dry_run,
    parse_trigger_body,
};

/// Helpers the tests of the submodules share.
#[cfg(test)]
mod testing {
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::{Value, json};

    use crate::resources::ActionSpec;
    use crate::rest::error::FieldError;

    /// A fixed instant, so that "in the past" does not depend on the clock.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    /// A spec with only the required fields.
    pub fn spec() -> ActionSpec {
        serde_json::from_value(json!({"app": "a", "endpoint": "e", "namespaceId": "n"})).unwrap()
    }

    /// Each error as (type, loc), for comparing which fields failed and how.
    pub fn kinds(errs: &[FieldError]) -> Vec<(String, Vec<Value>)> {
        errs.iter()
            .map(|e| (e.kind.clone(), e.loc.clone()))
            .collect()
    }
}
