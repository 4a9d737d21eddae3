//! The exact 422 bodies: bad path ids, then query and body errors, in one answer.

use super::*;

const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const ORG_LABEL_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

fn mismatch(param: &str, input: &str, pattern: &str) -> Value {
    json!({"type": "string_pattern_mismatch", "loc": ["path", param],
           "msg": format!("String should match pattern '{pattern}'"), "input": input,
           "ctx": {"pattern": pattern}})
}

#[tokio::test]
async fn bad_path_ids_are_422_in_path_order_followed_by_query_and_body_errors() {
    let s = fixture(AuthMode::None);
    let long_run = "r".repeat(254);
    let cases: Vec<(&str, String, Option<Value>, Value)> = vec![
        (
            "GET",
            "/v1/orgs/acme/workspaces/Bad_NS/apps/support-bot/actions".into(),
            None,
            json!([mismatch("workspace_id", "Bad_NS", DNS_LABEL)]),
        ),
        (
            "GET",
            format!("{BASE}/actions/UPPER"),
            None,
            json!([mismatch("action_id", "UPPER", DNS_SUBDOMAIN)]),
        ),
        (
            "GET",
            format!("{BASE}/actions/daily-report/runs/{long_run}"),
            None,
            json!([{"type": "string_too_long", "loc": ["path", "run_id"],
                    "msg": "String should have at most 253 characters", "input": long_run,
                    "ctx": {"max_length": 253}}]),
        ),
        (
            "GET",
            format!(
                "/v1/orgs/acme/workspaces/team-a/apps/{}/actions",
                "a".repeat(254)
            ),
            None,
            json!([{"type": "string_too_long", "loc": ["path", "app_id"],
                    "msg": "String should have at most 253 characters", "input": "a".repeat(254),
                    "ctx": {"max_length": 253}}]),
        ),
        (
            "DELETE",
            "/v1/orgs/acme/workspaces/Bad_NS/apps/support-bot/actions/UPPER".into(),
            None,
            json!([
                mismatch("workspace_id", "Bad_NS", DNS_LABEL),
                mismatch("action_id", "UPPER", DNS_SUBDOMAIN)
            ]),
        ),
        // Path, query and body errors in one answer, path first.
        (
            "GET",
            "/v1/orgs/-acme/workspaces/team-a/apps/support-bot/actions?limit=0".into(),
            None,
            json!([mismatch("org_id", "-acme", ORG_LABEL_PATTERN),
                   {"type": "greater_than_equal", "loc": ["query", "limit"],
                    "msg": "Input should be greater than or equal to 1", "input": "0",
                    "ctx": {"ge": 1}}]),
        ),
        (
            "POST",
            format!("{BASE}/actions/UPPER/trigger"),
            Some(json!({"payload": 1})),
            json!([mismatch("action_id", "UPPER", DNS_SUBDOMAIN),
                   {"type": "dict_type", "loc": ["body", "payload"],
                    "msg": "Input should be a valid dictionary", "input": 1}]),
        ),
        (
            "POST",
            "/v1/orgs/acme/workspaces/Bad_NS/apps/support-bot/actions".into(),
            Some(json!({"name": 5})),
            json!([mismatch("workspace_id", "Bad_NS", DNS_LABEL),
                   {"type": "string_type", "loc": ["body", "name"],
                    "msg": "Input should be a valid string", "input": 5},
                   {"type": "missing", "loc": ["body", "endpoint_id"], "msg": "Field required",
                    "input": {"name": 5}},
                   {"type": "missing", "loc": ["body", "namespace_id"], "msg": "Field required",
                    "input": {"name": 5}}]),
        ),
        // Beside a type error the body's own checks of the other fields (cron here) are
        // reported too, with a bad path as with a good one.
        (
            "PUT",
            format!("{BASE}/actions/UPPER"),
            Some(json!({"cron_expression": "61 * * * *", "max_retries": "x"})),
            json!([mismatch("action_id", "UPPER", DNS_SUBDOMAIN),
                   {"type": "value_error", "loc": ["body", "cron_expression"],
                    "msg": "Value error, invalid cron expression: minute field: value 61 out of range 0-59",
                    "input": "61 * * * *",
                    "ctx": {"error": "invalid cron expression: minute field: value 61 out of range 0-59"}},
                   {"type": "int_parsing", "loc": ["body", "max_retries"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": "x"}]),
        ),
    ];
    for (method, uri, body, detail) in cases {
        let a = call(&s, method, &uri, body).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {uri}: {}",
            a.text
        );
        assert_eq!(a.json, json!({ "detail": detail }), "{method} {uri}");
    }
}

#[tokio::test]
async fn a_create_body_names_every_bad_field_at_once() {
    let s = fixture(AuthMode::None);
    let uri = format!("{BASE}/actions");
    let sent = json!({"name": 1, "thread_mode": "x", "max_retries": -1, "timezone": 2});
    let a = call(&s, "POST", &uri, Some(sent.clone())).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let thread_modes = "'new_each_run', 'fixed' or 'template'";
    assert_eq!(
        a.json,
        json!({"detail": [
            {"type": "string_type", "loc": ["body", "name"],
             "msg": "Input should be a valid string", "input": 1},
            {"type": "missing", "loc": ["body", "endpoint_id"], "msg": "Field required",
             "input": sent},
            {"type": "missing", "loc": ["body", "namespace_id"], "msg": "Field required",
             "input": sent},
            {"type": "enum", "loc": ["body", "thread_mode"],
             "msg": format!("Input should be {thread_modes}"), "input": "x",
             "ctx": {"expected": thread_modes}},
            {"type": "string_type", "loc": ["body", "timezone"],
             "msg": "Input should be a valid string", "input": 2},
            {"type": "greater_than_equal", "loc": ["body", "max_retries"],
             "msg": "Input should be greater than or equal to 0", "input": -1,
             "ctx": {"ge": 0}},
        ]})
    );
    // Each entry in Pydantic's key order, as sent (the comparison above ignores the order).
    let entry = r#"{"type":"enum","loc":["body","thread_mode"],"msg":"Input should be 'new_each_run', 'fixed' or 'template'","input":"x","ctx":{"expected":"'new_each_run', 'fixed' or 'template'"}}"#;
    assert!(a.text.contains(entry), "{}", a.text);

    // Beside a type error, the other fields' checks beyond types, in field order.
    let sent = json!({"name": "n", "endpoint_id": "e", "namespace_id": "m",
        "cron_expression": "0 25 * * *", "max_retries": 500});
    let a = call(&s, "POST", &uri, Some(sent)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let reason = "invalid cron expression: hour field: value 25 out of range 0-23";
    assert_eq!(
        a.json,
        json!({"detail": [
            {"type": "value_error", "loc": ["body", "cron_expression"],
             "msg": format!("Value error, {reason}"), "input": "0 25 * * *",
             "ctx": {"error": reason}},
            {"type": "less_than_equal", "loc": ["body", "max_retries"],
             "msg": "Input should be less than or equal to 100", "input": 500,
             "ctx": {"le": 100}},
        ]})
    );

    let missing = |field: &str| json!({"type": "missing", "loc": ["body", field], "msg": "Field required", "input": {}});
    let a = call(&s, "POST", &uri, Some(json!({}))).await;
    assert_eq!(
        a.json,
        json!({"detail": [missing("name"), missing("endpoint_id"), missing("namespace_id")]})
    );
    let a = call(&s, "POST", &uri, None).await;
    assert_eq!(
        a.json,
        json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required",
                           "input": null}]})
    );
    let a = call(&s, "POST", &uri, Some(json!([1, 2]))).await;
    assert_eq!(
        a.json,
        json!({"detail": [{"type": "model_attributes_type", "loc": ["body"],
                           "msg": "Input should be a valid dictionary or object to extract fields from",
                           "input": [1, 2]}]})
    );
}

#[tokio::test]
async fn an_update_is_checked_beyond_types_before_anything_is_written() {
    let s = fixture(AuthMode::None);
    let uri = format!("{BASE}/actions/daily-report");
    let value_error = |field: &str, reason: &str, input: Value| {
        json!({"detail": [{"type": "value_error", "loc": ["body", field],
                           "msg": format!("Value error, {reason}"), "input": input,
                           "ctx": {"error": reason}}]})
    };
    for (body, expected) in [
        (
            json!({"cron_expression": "61 * * * *"}),
            value_error(
                "cron_expression",
                "invalid cron expression: minute field: value 61 out of range 0-59",
                json!("61 * * * *"),
            ),
        ),
        (
            json!({"timezone": "Mars/Olympus"}),
            value_error(
                "timezone",
                "unknown time zone `Mars/Olympus` (expected an IANA name such as `Europe/Berlin` or `UTC`)",
                json!("Mars/Olympus"),
            ),
        ),
        (
            json!({"scheduled_at": "2020-01-01T00:00:00Z", "schedule_type": "one_time",
                   "cron_expression": null}),
            value_error(
                "scheduled_at",
                "scheduled_at must be in the future",
                json!("2020-01-01T00:00:00Z"),
            ),
        ),
        (
            json!({"thread_mode": "fixed"}),
            value_error(
                "thread_id",
                "thread_id is required when thread_mode is fixed",
                Value::Null,
            ),
        ),
        (
            json!({"max_retries": 1.5}),
            json!({"detail": [{"type": "int_from_float", "loc": ["body", "max_retries"],
                               "msg": "Input should be a valid integer, got a number with a fractional part",
                               "input": 1.5}]}),
        ),
    ] {
        let a = call(&s, "PUT", &uri, Some(body.clone())).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.text
        );
        assert_eq!(a.json, expected, "{body}");
    }
}

/// Every id that would go into an API server URL is checked against its grammar first: the
/// fixture's client points at a port nobody listens on, so one that reached the API server
/// would be a 500, not these 422s.
#[tokio::test]
async fn ids_that_reach_the_api_server_are_checked_first() {
    let s = fixture(AuthMode::None);
    let create =
        |endpoint: &str| json!({"name": "n", "endpoint_id": endpoint, "namespace_id": "m"});
    for endpoint in [
        "a b",
        "agent\n",
        "agent/../x",
        "Agent",
        "agent?x=1",
        "é",
        "-agent",
        "a..b",
    ] {
        for (method, uri, body) in [
            ("POST", format!("{BASE}/actions"), create(endpoint)),
            (
                "PUT",
                format!("{BASE}/actions/daily-report"),
                json!({"endpoint_id": endpoint}),
            ),
        ] {
            let a = call(&s, method, &uri, Some(body)).await;
            assert_eq!(
                a.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {endpoint:?}: {}",
                a.text
            );
            assert_eq!(
                a.json,
                json!({"detail": [{"type": "string_pattern_mismatch",
                    "loc": ["body", "endpoint_id"],
                    "msg": format!("String should match pattern '{DNS_SUBDOMAIN}'"),
                    "input": endpoint, "ctx": {"pattern": DNS_SUBDOMAIN}}]}),
                "{method} {endpoint:?}"
            );
        }
    }
    // Too long is reported as such, before the pattern.
    let long = "a".repeat(254);
    let a = call(&s, "POST", &format!("{BASE}/actions"), Some(create(&long))).await;
    assert_eq!(a.json["detail"][0]["type"], "string_too_long", "{}", a.text);
}

/// The list queries accept exactly what the document says: a cursor in its grammar (any such
/// text is a position, whether or not an item has that name), a status of the enum.
#[tokio::test]
async fn list_queries_follow_their_published_grammar() {
    let s = fixture(AuthMode::None);
    let pattern = crate::rest::cursor::CURSOR_PATTERN;
    // A position between the two Actions of 2026-03-03T10:00:00Z: only the older ones follow.
    let a = call(
        &s,
        "GET",
        &format!("{BASE}/actions?cursor=1.1772532000.000000000.a-zzz"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let ids: Vec<&str> = a.json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b-cleanup", "weekly-digest", "daily-report"]);
    for (uri, expected) in [
        (
            format!("{BASE}/actions?cursor=garbage"),
            json!({"type": "string_pattern_mismatch", "loc": ["query", "cursor"],
                   "msg": format!("String should match pattern '{pattern}'"),
                   "input": "garbage", "ctx": {"pattern": pattern}}),
        ),
        (
            format!("{BASE}/actions?cursor="),
            json!({"type": "string_pattern_mismatch", "loc": ["query", "cursor"],
                   "msg": format!("String should match pattern '{pattern}'"),
                   "input": "", "ctx": {"pattern": pattern}}),
        ),
        (
            format!("{BASE}/actions/daily-report/runs?status="),
            json!({"type": "enum", "loc": ["query", "status"],
                   "msg": "Input should be 'pending', 'running', 'succeeded', 'failed' or 'cancelled'",
                   "input": "",
                   "ctx": {"expected": "'pending', 'running', 'succeeded', 'failed' or 'cancelled'"}}),
        ),
    ] {
        let a = call(&s, "GET", &uri, None).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {}",
            a.text
        );
        assert_eq!(a.json, json!({"detail": [expected]}), "{uri}");
    }
}
