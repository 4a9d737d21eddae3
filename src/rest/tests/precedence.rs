//! Which check answers first, as `AppState::admit` orders them, and the 404s of tenancy.

use super::*;
use crate::rest::auth::Caller;

#[tokio::test]
async fn unknown_workspace_org_app_action_run_and_route_are_404() {
    let s = fixture(AuthMode::None);
    let action_404 = |id: &str| not_found("action", id, &format!("Action '{id}' not found"));
    let workspace_404 =
        |id: &str| not_found("workspace", id, &format!("Workspace '{id}' not found"));
    let valid_create = json!({"name": "n", "endpoint_id": "agent", "namespace_id": "m"});
    let cases: Vec<(&str, String, Option<Value>, Value)> = vec![
        (
            "GET",
            format!("{BASE}/actions/missing"),
            None,
            action_404("missing"),
        ),
        // A wrong org, app or workspace is the same answer as a missing Action.
        (
            "GET",
            "/v1/orgs/other-org/workspaces/team-a/apps/support-bot/actions/daily-report".into(),
            None,
            action_404("daily-report"),
        ),
        (
            "GET",
            "/v1/orgs/acme/workspaces/team-a/apps/other-app/actions/daily-report".into(),
            None,
            action_404("daily-report"),
        ),
        (
            "GET",
            "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions/daily-report".into(),
            None,
            action_404("daily-report"),
        ),
        (
            "GET",
            "/v1/orgs/acme/workspaces/other-ws/apps/support-bot/actions/foreign".into(),
            None,
            action_404("foreign"),
        ),
        // The list and create routes name the workspace.
        (
            "GET",
            "/v1/orgs/other-org/workspaces/team-a/apps/support-bot/actions".into(),
            None,
            workspace_404("team-a"),
        ),
        (
            "GET",
            "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions".into(),
            None,
            workspace_404("nowhere"),
        ),
        (
            "GET",
            "/v1/orgs/acme/workspaces/unlabelled/apps/support-bot/actions".into(),
            None,
            workspace_404("unlabelled"),
        ),
        (
            "POST",
            "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions".into(),
            Some(valid_create),
            workspace_404("nowhere"),
        ),
        // Every Action route, the Action missing.
        (
            "PUT",
            format!("{BASE}/actions/missing"),
            Some(json!({})),
            action_404("missing"),
        ),
        (
            "DELETE",
            format!("{BASE}/actions/missing"),
            None,
            action_404("missing"),
        ),
        (
            "POST",
            format!("{BASE}/actions/missing/trigger"),
            None,
            action_404("missing"),
        ),
        (
            "POST",
            format!("{BASE}/actions/missing/enable"),
            None,
            action_404("missing"),
        ),
        (
            "POST",
            format!("{BASE}/actions/missing/disable"),
            None,
            action_404("missing"),
        ),
        (
            "GET",
            format!("{BASE}/actions/missing/runs"),
            None,
            action_404("missing"),
        ),
        (
            "GET",
            format!("{BASE}/actions/missing/runs/daily-report-1"),
            None,
            action_404("missing"),
        ),
        // Runs: another Action's run, and a staged one, are not this Action's history.
        (
            "GET",
            format!("{BASE}/actions/daily-report/runs/nope"),
            None,
            not_found("run", "nope", "Run 'nope' not found"),
        ),
        (
            "GET",
            format!("{BASE}/actions/daily-report/runs/weekly-digest-1"),
            None,
            not_found("run", "weekly-digest-1", "Run 'weekly-digest-1' not found"),
        ),
        (
            "GET",
            format!("{BASE}/actions/daily-report/runs/daily-report-staged"),
            None,
            not_found(
                "run",
                "daily-report-staged",
                "Run 'daily-report-staged' not found",
            ),
        ),
        (
            "GET",
            "/v1/nothing".into(),
            None,
            not_found("route", "/v1/nothing", "Route '/v1/nothing' not found"),
        ),
    ];
    for (method, uri, body, expected) in cases {
        let a = call(&s, method, &uri, body).await;
        assert_eq!(
            a.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            a.text
        );
        assert_eq!(without_timestamp(a.json), expected, "{method} {uri}");
    }
}

#[tokio::test]
async fn the_path_grammar_comes_before_tenancy_and_tenancy_before_input() {
    let s = fixture(AuthMode::None);
    // A bad id in a workspace that does not exist: 422, the path can never name anything.
    let a = call(
        &s,
        "GET",
        "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions/UPPER",
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    // Valid ids, no such workspace, a bad query: the 404 wins.
    let a = call(
        &s,
        "GET",
        "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions?limit=0",
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    assert_eq!(a.json["details"]["resource_type"], "workspace");
    let a = call(
        &s,
        "PUT",
        &format!("{BASE}/actions/missing"),
        Some(json!({"max_retries": 1.5})),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    let a = call(
        &s,
        "POST",
        &format!("{BASE}/actions/missing/trigger"),
        Some(json!({"payload": 1})),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    // What exists, with bad input: the input's 422.
    let a = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/runs?status=done"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let expected = "'pending', 'running', 'succeeded', 'failed' or 'cancelled'";
    assert_eq!(
        a.json,
        json!({"detail": [{"type": "enum", "loc": ["query", "status"],
                           "msg": format!("Input should be {expected}"), "input": "done",
                           "ctx": {"expected": expected}}]})
    );
    let a = call(&s, "GET", &format!("{BASE}/actions?cursor=garbage"), None).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["detail"][0]["loc"], json!(["query", "cursor"]));
}

#[tokio::test]
async fn authentication_and_authorization_come_first() {
    let s = fixture(AuthMode::Kube);
    let alice = Caller {
        username: "alice".into(),
        uid: None,
        groups: vec!["team".into()],
    };
    // Answers the API server would give, cached as the reviews would leave them.
    s.auth.remember_token("alice-token", Some(alice.clone()));
    s.auth.remember_token("revoked", None);
    s.auth
        .remember_decision(&alice, "get", "actions", "team-a", false);
    s.auth
        .remember_decision(&alice, "list", "actions", "team-a", true);
    s.auth
        .remember_decision(&alice, "create", "actionruns", "team-a", false);
    let bad_ids = format!("{BASE}/actions/UPPER");
    let unauthenticated = json!({"error": "AUTHENTICATION_FAILED",
        "message": "Authentication failed: a valid bearer token is required", "details": {},
        "status_code": 401});
    let forbidden = |permission: &str| {
        json!({"error": "FORBIDDEN",
               "message": "You do not have permission to perform this operation",
               "details": {"required_permission": permission}, "status_code": 403})
    };
    for (token, uri, status, expected) in [
        // 401 before the path grammar and before tenancy.
        (None, bad_ids.clone(), 401, unauthenticated.clone()),
        (
            Some("revoked"),
            bad_ids.clone(),
            401,
            unauthenticated.clone(),
        ),
        (
            None,
            "/v1/orgs/acme/workspaces/nowhere/apps/support-bot/actions".into(),
            401,
            unauthenticated.clone(),
        ),
        // 403 before the path grammar and before tenancy: it reveals nothing.
        (
            Some("alice-token"),
            bad_ids.clone(),
            403,
            forbidden("get actions.punctual.dev"),
        ),
        (
            Some("alice-token"),
            format!("{BASE}/actions/missing"),
            403,
            forbidden("get actions.punctual.dev"),
        ),
        // Allowed: the grammar, then tenancy.
        (
            Some("alice-token"),
            "/v1/orgs/acme/workspaces/team-a/apps/support-bot/actions?limit=0".into(),
            422,
            json!({"detail": [{"type": "greater_than_equal", "loc": ["query", "limit"],
                               "msg": "Input should be greater than or equal to 1",
                               "input": "0", "ctx": {"ge": 1}}]}),
        ),
        (
            Some("alice-token"),
            "/v1/orgs/other-org/workspaces/team-a/apps/support-bot/actions".into(),
            404,
            not_found("workspace", "team-a", "Workspace 'team-a' not found"),
        ),
    ] {
        let a = send(&s, "GET", &uri, token, b"").await;
        assert_eq!(a.status.as_u16(), status, "{token:?} {uri}: {}", a.text);
        assert_eq!(without_timestamp(a.json), expected, "{token:?} {uri}");
    }
    let a = send(
        &s,
        "POST",
        &format!("{BASE}/actions/UPPER/trigger"),
        Some("alice-token"),
        br#"{"payload": 1}"#,
    )
    .await;
    assert_eq!(
        without_timestamp(a.json),
        forbidden("create actionruns.punctual.dev")
    );
    // What cannot be read at all (malformed JSON, a body over the limit, a path or query that
    // does not decode) is answered by the extractors, but only to an authenticated caller.
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    let unreadable: [(&str, String, &[u8]); 3] = [
        ("POST", format!("{BASE}/actions"), b"{\"name\": }"),
        ("POST", format!("{BASE}/actions"), &huge),
        ("GET", format!("{BASE}/actions/%FF"), b""),
    ];
    for (method, uri, body) in &unreadable {
        for token in [None, Some("revoked")] {
            let a = send(&s, method, uri, token, body).await;
            assert_eq!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} {token:?}"
            );
            assert_eq!(without_timestamp(a.json), unauthenticated, "{method} {uri}");
        }
    }
    let token = Some("alice-token");
    let a = send(
        &s,
        "POST",
        &format!("{BASE}/actions"),
        token,
        b"{\"name\": }",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(
        a.json,
        json!({"detail": [{"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error",
                           "input": {}, "ctx": {"error": "Expecting value"}}]})
    );
    let a = send(&s, "POST", &format!("{BASE}/actions"), token, &huge).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    assert_eq!(
        without_timestamp(a.json),
        json!({"error": "PAYLOAD_TOO_LARGE", "message": "Request body is larger than 1 MiB",
               "details": {"max_bytes": 1048576}, "status_code": 413})
    );
    let a = send(&s, "GET", &format!("{BASE}/actions/%FF"), token, b"").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["detail"][0]["loc"], json!(["path"]));
}
