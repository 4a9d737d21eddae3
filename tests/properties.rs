//! Property tests of the parsers that read outside input: the cron parser, the template renderer,
//! the list cursor and the REST body parser. Each must not panic on any input, and where a
//! parse has a printed form, printing what was parsed and parsing it again gives the same value.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use punctual::cron::{CronError, CronSchedule, parse_timezone};
use punctual::resources::Action;
use punctual::rest::ActionView;
use punctual::rest::cursor::{CURSOR_MAX_LENGTH, CURSOR_PATTERN, Cursor};
use punctual::rest::extract::parse_json;
use punctual::rest::model::ACTION_FIELDS;
use punctual::rest::validate::{
    DNS_SUBDOMAIN_PATTERN, Kind, apply, check_spec, new_spec, parse_action_body, parse_trigger_body,
};
use punctual::runspec::template::{Vars, check, environment, render_str};

/// A regex of the grammar without its anchors, for proptest's string generator.
fn unanchored(pattern: &str) -> &str {
    pattern.trim_start_matches('^').trim_end_matches('$')
}

/// Any instant chrono can hold.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    (min..=max, 0u32..2_000_000_000)
        .prop_filter_map("a valid instant", |(s, n)| Utc.timestamp_opt(s, n).single())
}

/// Text heavy in the characters the parsers care about, plus anything at all.
fn text(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(alphabet).expect("the alphabet compiles"),
        any::<String>(),
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text("[-+.:0-9eETZ tfyn{}%#a-z]{0,12}").prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for one REST field: often of its kind (near its bounds, in Pydantic's lax forms),
/// sometimes anything.
fn field_value(kind: Kind) -> BoxedStrategy<Value> {
    let kind_value: BoxedStrategy<Value> = match kind {
        Kind::Str(length) | Kind::Name(length) => prop_oneof![
            proptest::string::string_regex(unanchored(DNS_SUBDOMAIN_PATTERN))
                .expect("compiles")
                .prop_filter("not too long", move |s| s.chars().count() <= length.max)
                .prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ]
        .boxed(),
        Kind::Zone(_) => prop_oneof![
            prop::sample::select(punctual::rest::bodies::zone_names())
                .prop_map(|z| Value::String(z.into())),
            any::<String>().prop_map(Value::String),
        ]
        .boxed(),
        Kind::Int(range) => prop_oneof![
            (range.min - 2..=range.max + 2).prop_map(Value::from),
            (range.min..=range.max).prop_map(|n| Value::String(n.to_string())),
            (range.min..=range.max).prop_map(|n| json!(n as f64)),
        ]
        .boxed(),
        Kind::Bool => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            prop::sample::select(vec!["true", "False", "1", "0", "yes", "off", "no", "maybe"])
                .prop_map(|s| Value::String(s.into())),
            (0i64..3).prop_map(Value::from),
        ]
        .boxed(),
        Kind::Enum(e) => prop::sample::select(e.values())
            .prop_map(Value::String)
            .boxed(),
        Kind::Object => prop::collection::btree_map("[a-z]{1,6}", any_json(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        Kind::Time => prop_oneof![
            any_instant().prop_map(|t| Value::String(t.to_rfc3339())),
            text("[-0-9:.TZ+ ]{0,30}").prop_map(Value::String),
        ]
        .boxed(),
    };
    prop_oneof![4 => kind_value, 1 => any_json()].boxed()
}

/// A create or update body: each field of the table sent or not, plus an unknown field.
fn body() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = ACTION_FIELDS
        .iter()
        .map(|f| prop::option::weighted(0.6, field_value(f.kind)).prop_map(move |v| (f.rest, v)))
        .collect();
    (fields, prop::option::of(any_json())).prop_map(|(fields, extra)| {
        let mut body: Map<String, Value> = fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
        if let Some(extra) = extra {
            body.insert("unknown_field".into(), extra);
        }
        Value::Object(body)
    })
}

/// One cron field item in its grammar: `*`, `n`, `a-b`, each optionally with a step.
fn cron_item(min: u32, max: u32) -> impl Strategy<Value = String> {
    let range = (min..=max, min..=max).prop_map(|(a, b)| {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        format!("{a}-{b}")
    });
    let base = prop_oneof![
        Just("*".to_string()),
        (min..=max).prop_map(|n| n.to_string()),
        range,
    ];
    (base, prop::option::of(1u32..=60)).prop_map(|(base, step)| match step {
        // A step needs a range or `*`.
        Some(step) if base == "*" || base.contains('-') => format!("{base}/{step}"),
        _ => base,
    })
}

fn cron_field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop::collection::vec(cron_item(min, max), 1..4).prop_map(|items| items.join(","))
}

/// A five-field expression in the grammar; the day of month at most 28, so that it fires in
/// every month.
fn cron_expression() -> impl Strategy<Value = String> {
    (
        cron_field(0, 59),
        cron_field(0, 23),
        cron_field(1, 28),
        cron_field(1, 12),
        cron_field(0, 7),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fn template_vars() -> Vars {
    Vars::from([
        ("run_id".to_string(), "r-1".to_string()),
        ("action_id".to_string(), "daily".to_string()),
        ("date".to_string(), "2026-03-01".to_string()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cron_parse_never_panics(expr in text("[-0-9*/,@ a-zA-Z?LW#]{0,30}")) {
        if let Ok(schedule) = CronSchedule::parse(&expr) {
            prop_assert_eq!(schedule.to_string(), expr.clone());
            prop_assert_eq!(CronSchedule::parse(&schedule.to_string()), Ok(schedule.clone()));
            let after = Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0).unwrap();
            if let Some(next) = schedule.next_after(parse_timezone("Europe/Berlin").unwrap(), after) {
                prop_assert!(next > after);
            }
        }
    }

    #[test]
    fn cron_expressions_in_the_grammar_parse_print_and_fire(expr in cron_expression()) {
        let schedule = CronSchedule::parse(&expr);
        prop_assert!(schedule.is_ok(), "{expr}: {schedule:?}");
        let schedule = schedule.unwrap();
        prop_assert_eq!(schedule.to_string(), expr.clone());
        prop_assert_eq!(CronSchedule::parse(&schedule.to_string()), Ok(schedule.clone()));
        let after = Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap();
        let fires = schedule.upcoming(parse_timezone("America/New_York").unwrap(), after, 3);
        prop_assert_eq!(fires.len(), 3, "{}", expr);
        prop_assert!(fires.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn cron_values_out_of_range_are_refused_as_such(minute in 60u32..1000) {
        let expr = format!("{minute} * * * *");
        let refused = matches!(CronSchedule::parse(&expr), Err(CronError::OutOfRange { .. }));
        prop_assert!(refused, "{}", expr);
    }

    #[test]
    fn templates_never_panic(
        source in text(r"(\{\{|\}\}|\{%|%\}|\{#|#\}|[ a-z_|().'0-9\[\]-]){0,24}"),
    ) {
        let _ = check("payload.k", &source, &["run_id", "action_id", "date"]);
        let _ = render_str(&environment(), "payload.k", &source, &template_vars());
    }

    #[test]
    fn deeply_nested_templates_are_refused_not_a_crash(depth in 1usize..2000) {
        let source = format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth));
        let _ = check("payload.k", &source, &["run_id"]);
        let _ = render_str(&environment(), "payload.k", &source, &template_vars());
    }

    #[test]
    fn text_without_template_markers_renders_to_itself(source in any::<String>()) {
        prop_assume!(!source.contains('{'));
        let rendered = render_str(&environment(), "payload.k", &source, &template_vars());
        prop_assert_eq!(rendered, Ok(source));
    }

    #[test]
    fn a_variable_renders_to_its_value(name in prop::sample::select(vec!["run_id", "action_id", "date"])) {
        let vars = template_vars();
        let rendered = render_str(&environment(), "payload.k", &format!("<{{{{ {name} }}}}>"), &vars);
        prop_assert_eq!(rendered, Ok(format!("<{}>", vars[name])));
    }

    #[test]
    fn cursor_decode_never_panics(text in text("[-.0-9a-z]{0,40}")) {
        if let Some(cursor) = Cursor::decode(&text) {
            // Only texts of the grammar decode, and they print back as they were.
            prop_assert_eq!(cursor.encode(), text);
        }
    }

    #[test]
    fn every_cursor_of_the_grammar_is_a_position(
        text in proptest::string::string_regex(unanchored(CURSOR_PATTERN)).expect("compiles"),
    ) {
        prop_assume!(text.len() <= CURSOR_MAX_LENGTH);
        let cursor = Cursor::decode(&text);
        prop_assert!(cursor.is_some(), "{}", text);
        prop_assert_eq!(cursor.unwrap().encode(), text);
    }

    #[test]
    fn cursors_round_trip(
        time in any_instant(),
        name in proptest::string::string_regex(unanchored(DNS_SUBDOMAIN_PATTERN)).expect("compiles"),
    ) {
        prop_assume!(name.len() <= 253);
        let cursor = Cursor::after(time, &name);
        let text = cursor.encode();
        prop_assert!(text.len() <= CURSOR_MAX_LENGTH);
        prop_assert_eq!(Cursor::decode(&text), Some(cursor));
    }

    /// Round trip of JSON text (floats aside: serde_json without its `float_roundtrip` feature
    /// may read the last bit of a printed float differently).
    #[test]
    fn json_bodies_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..64), value in any_json()) {
        let _ = parse_json(&bytes);
        let text = value.to_string();
        let parsed = parse_json(text.as_bytes());
        prop_assert!(matches!(parsed, Ok(Some(_))), "{}", text);
        if !text.contains(['.', 'e']) || !has_float(&value) {
            prop_assert!(matches!(parsed, Ok(Some(ref v)) if *v == value), "{}", text);
        }
    }

    #[test]
    fn body_parser_never_panics(value in any_json()) {
        for create in [true, false] {
            let _ = parse_action_body(&value, create);
        }
        let _ = parse_trigger_body(Some(&value));
        let _ = parse_trigger_body(Some(&json!({ "payload": value })));
    }

    /// A valid body, applied, shown, and sent back as an update, changes nothing the client sees:
    /// a client may PUT back what it got.
    #[test]
    fn a_shown_action_sent_back_is_the_same_action(body in body()) {
        for create in [true, false] {
            let Ok(input) = parse_action_body(&body, create) else { continue };
            let mut spec = new_spec("app").unwrap();
            if !create {
                // An update applies to an Action that exists, so its required fields are set.
                let existing = json!({"name": "n", "endpoint_id": "e", "namespace_id": "m"});
                prop_assert!(apply(&mut spec, &parse_action_body(&existing, true).unwrap()).is_ok());
            }
            prop_assert!(apply(&mut spec, &input).is_ok());
            let _ = check_spec(&spec, &input, Utc::now());
            let view = serde_json::to_value(ActionView::from_resource(&Action::new("n", spec.clone())))
                .unwrap();
            let again = parse_action_body(&view, false);
            prop_assert!(again.is_ok(), "{view}: {again:?}");
            let mut sent_back = spec.clone();
            prop_assert!(apply(&mut sent_back, &again.unwrap()).is_ok());
            // The same Action as a client sees it (an inferred schedule_type may now be stored).
            prop_assert_eq!(
                serde_json::to_value(ActionView::from_resource(&Action::new("n", sent_back))).unwrap(),
                view
            );
        }
    }
}
