//! The dashboard's pages and read-only JSON routes (`rest::ui`): served from the binary with a
//! same-origin CSP, and admitted like every REST route.

use super::*;
use crate::rest::auth::Caller;

#[tokio::test]
async fn pages_and_vendored_files_are_served_with_a_same_origin_policy() {
    let s = fixture(AuthMode::None);
    for (uri, content_type, needle) in [
        ("/ui/", "text/html", "/ui/app.js"),
        ("/ui/app.js", "text/javascript", "sessionStorage"),
        ("/ui/app.css", "text/css", "--succeeded"),
        ("/docs/", "text/html", "/docs/swagger-ui-bundle.js"),
        ("/docs/init.js", "text/javascript", "validatorUrl: null"),
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript",
            "SwaggerUIBundle",
        ),
        ("/docs/swagger-ui.css", "text/css", ".swagger-ui"),
        ("/docs/LICENSE", "text/plain", "Apache License"),
    ] {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = router(s.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{uri}"
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'self'"),
            "{uri}"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains(needle), "{uri}");
    }
    for (from, to) in [("/ui", "/ui/"), ("/docs", "/docs/")] {
        let a = call(&s, "GET", from, None).await;
        assert_eq!(a.status, StatusCode::PERMANENT_REDIRECT, "{from}");
        let request = Request::builder().uri(from).body(Body::empty()).unwrap();
        let response = router(s.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.headers()["location"], to);
    }
}

#[tokio::test]
async fn workspaces_are_those_the_token_may_list_actions_in() {
    let s = fixture(AuthMode::Kube);
    let alice = Caller {
        username: "alice".into(),
        uid: None,
        groups: vec![],
    };
    s.auth.remember_token("alice-token", Some(alice.clone()));
    s.auth
        .remember_decision(&alice, "list", "actions", "team-a", true);
    s.auth
        .remember_decision(&alice, "list", "actions", "other-ws", false);
    assert_eq!(
        send(&s, "GET", "/v1/workspaces", None, b"").await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = send(&s, "GET", "/v1/workspaces", Some("alice-token"), b"").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json,
        json!({"workspaces": [{"org_id": "acme", "workspace_id": "team-a",
                               "apps": ["other-app", "support-bot"]}]})
    );
    // The overview needs list on actionruns, which alice lacks: 403, nothing of the workspace.
    s.auth
        .remember_decision(&alice, "list", "actionruns", "team-a", false);
    let a = send(
        &s,
        "GET",
        &format!("{BASE}/overview"),
        Some("alice-token"),
        b"",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json["details"]["required_permission"],
        "list actionruns.punctual.dev"
    );
}

#[tokio::test]
async fn overview_timeline_and_attempts_answer_from_the_caches() {
    let s = fixture(AuthMode::None);
    let o = call(&s, "GET", &format!("{BASE}/overview?minutes=5"), None).await;
    assert_eq!(o.status, StatusCode::OK, "{}", o.text);
    assert_eq!(o.json["window_minutes"], 5);
    assert_eq!(o.json["runs_per_minute"].as_array().unwrap().len(), 6);
    let ids: Vec<&str> = o.json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "a-cleanup",
            "b-cleanup",
            "daily-report",
            "ping",
            "weekly-digest"
        ]
    );
    let t = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/timeline?hours=168"),
        None,
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    assert_eq!(t.json["action_id"], "daily-report");
    assert_eq!(t.json["counters"]["failed_runs"], 1);
    let bad = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/timeline?hours=0"),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["detail"][0]["loc"], json!(["query", "hours"]));
    let missing = call(&s, "GET", &format!("{BASE}/actions/nope/timeline"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let a = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/runs/daily-report-1/attempts"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json,
        json!({"run_id": "daily-report-1", "next_attempt_at": null, "attempts": []})
    );
    let a = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/runs/daily-report-staged/attempts"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "a staged run is not shown");
}
