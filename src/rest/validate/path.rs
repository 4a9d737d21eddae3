//! The grammar of the path ids (docs/rest.md, "Errors"): declared once in `PATH_PARAMS`, checked
//! here and published from there in `/openapi.json`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::pydantic::{pattern_mismatch, too_long, too_short};
use crate::resources::ActionSpec;
use crate::rest::error::{FieldError, loc};

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
            min_length: ActionSpec::APP_LENGTH.min,
            max_length: ActionSpec::APP_LENGTH.max,
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

/// `DNS_SUBDOMAIN_PATTERN` compiled, for the object names in bodies and cursors.
pub(crate) static DNS_SUBDOMAIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DNS_SUBDOMAIN_PATTERN).expect("the pattern compiles"));

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
    Some(pattern_mismatch(at, pattern, json!(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::validate::slug;
    use crate::rest::validate::testing::kinds;

    fn path_ok(name: &str, value: &str) -> bool {
        check_path(&[(name, value)]).is_empty()
    }

    #[test]
    fn path_ids_follow_the_grammar_of_what_they_name() {
        let label63 = "a".repeat(63);
        let subdomain253 = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        let action63 = format!("{}.{}", "a".repeat(31), "b".repeat(31));
        for (name, value) in [
            ("org_id", "acme"),
            ("org_id", "Acme_Corp.eu-1"),
            ("org_id", "A"),
            ("org_id", label63.as_str()),
            ("workspace_id", "team-a"),
            ("workspace_id", "0"),
            ("workspace_id", label63.as_str()),
            ("app_id", "support-bot"),
            ("app_id", "Support Bot/ü"),
            ("app_id", &"é".repeat(253)),
            ("action_id", "daily-report"),
            ("action_id", "v1.daily"),
            ("action_id", action63.as_str()),
            ("run_id", subdomain253.as_str()),
            ("run_id", "daily-report-m-0a1b2c3d4e"),
            ("run_id", "daily-1772355600"),
        ] {
            assert!(path_ok(name, value), "{name} {value:?} should be valid");
        }
        for (name, value) in [
            ("org_id", ""),
            ("org_id", "-acme"),
            ("org_id", "acme_"),
            ("org_id", "ac me"),
            ("org_id", &"a".repeat(64)),
            ("workspace_id", "Bad_NS"),
            ("workspace_id", "team.a"),
            ("workspace_id", "-team"),
            ("workspace_id", "team-"),
            ("workspace_id", "team\n"),
            ("workspace_id", &"a".repeat(64)),
            ("app_id", ""),
            ("app_id", &"é".repeat(254)),
            ("action_id", "UPPER"),
            ("action_id", "a..b"),
            ("action_id", ".a"),
            ("action_id", "a_b"),
            ("action_id", &"a".repeat(64)),
            ("run_id", "run-"),
            ("run_id", &"r".repeat(254)),
        ] {
            assert!(!path_ok(name, value), "{name} {value:?} should be invalid");
        }
        // What the facade names its Actions is always addressable.
        for name in ["Daily Report (EU) ", "---", &"x".repeat(300)] {
            assert!(path_ok("action_id", &slug(name)), "{name}");
        }
    }

    #[test]
    fn bad_path_ids_have_the_exact_pydantic_bodies_in_path_order() {
        let long_run = "r".repeat(254);
        let errs = check_path(&[
            ("org_id", ""),
            ("workspace_id", "Bad_NS"),
            ("app_id", "support-bot"),
            ("action_id", "UPPER"),
            ("run_id", &long_run),
        ]);
        let body = crate::rest::error::ApiError::Validation(errs).body("t");
        assert_eq!(
            body,
            json!({"detail": [
                {"type": "string_too_short", "loc": ["path", "org_id"],
                 "msg": "String should have at least 1 character", "input": "",
                 "ctx": {"min_length": 1}},
                {"type": "string_pattern_mismatch", "loc": ["path", "workspace_id"],
                 "msg": "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
                 "input": "Bad_NS", "ctx": {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
                {"type": "string_pattern_mismatch", "loc": ["path", "action_id"],
                 "msg": "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
                 "input": "UPPER",
                 "ctx": {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}},
                {"type": "string_too_long", "loc": ["path", "run_id"],
                 "msg": "String should have at most 253 characters", "input": long_run,
                 "ctx": {"max_length": 253}},
            ]})
        );
    }

    #[test]
    fn path_length_is_checked_before_the_pattern() {
        let long_bad = "B".repeat(64);
        let errs = check_path(&[("workspace_id", &long_bad), ("org_id", "-x")]);
        assert_eq!(
            kinds(&errs),
            vec![
                ("string_too_long".into(), loc(&["path", "workspace_id"])),
                ("string_pattern_mismatch".into(), loc(&["path", "org_id"])),
            ]
        );
        assert_eq!(errs[0].ctx, Some(json!({"max_length": 63})));
        assert_eq!(
            errs[1].ctx,
            Some(json!({"pattern": "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}))
        );
    }

    #[test]
    fn every_path_pattern_compiles_and_the_table_is_in_path_order() {
        let names: Vec<&str> = PATH_PARAMS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["org_id", "workspace_id", "app_id", "action_id", "run_id"]
        );
        assert_eq!(PATH_REGEXES.len(), PATH_PARAMS.len());
        for ((name, g), re) in PATH_PARAMS.iter().zip(PATH_REGEXES.iter()) {
            assert_eq!(g.pattern.is_some(), re.is_some(), "{name}");
        }
        // app_id is spec.app: the Action schema's bounds, no pattern.
        assert_eq!(
            path_grammar("app_id"),
            Some(PathGrammar {
                min_length: 1,
                max_length: 253,
                pattern: None
            })
        );
    }
}
