//! The routes beyond the reference API: their answers where the stores suffice, and their
//! 401/403/404/422 through admission.

use super::*;
use crate::rest::auth::Caller;

#[tokio::test]
async fn upcoming_lists_the_saved_schedule_in_utc_and_its_zone() {
    let s = fixture(AuthMode::None);
    let a = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/upcoming?count=3"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        keys_in_order(&a.text),
        [
            "action_id",
            "schedule_type",
            "timezone",
            "is_enabled",
            "upcoming"
        ]
    );
    assert_eq!(a.json["action_id"], "daily-report");
    assert_eq!(a.json["timezone"], "Europe/Berlin");
    let list = a.json["upcoming"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for item in list {
        // "0 9 * * *" in Berlin: 09:00 local, 07:00 or 08:00 UTC by the season.
        let local = item["local"].as_str().unwrap();
        assert!(local.contains("T09:00:00+0"), "{local}");
        let utc: chrono::DateTime<chrono::Utc> = item["at"].as_str().unwrap().parse().unwrap();
        let back: chrono::DateTime<chrono::Utc> = local.parse().unwrap();
        assert_eq!(utc, back);
    }
    let default = call(
        &s,
        "GET",
        &format!("{BASE}/actions/daily-report/upcoming"),
        None,
    )
    .await;
    assert_eq!(default.json["upcoming"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn preview_evaluates_an_unsaved_schedule_and_names_every_bad_parameter() {
    let s = fixture(AuthMode::None);
    let ok = call(
        &s,
        "GET",
        &format!("{BASE}/schedule-preview?cron_expression=*/15%20*%20*%20*%20*&timezone=Asia/Kolkata&count=2"),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["action_id"], Value::Null);
    assert_eq!(ok.json["schedule_type"], "cron");
    let local = ok.json["upcoming"][0]["local"].as_str().unwrap();
    assert!(local.ends_with("+05:30"), "{local}");
    let bad = call(
        &s,
        "GET",
        &format!("{BASE}/schedule-preview?cron_expression=61%20*%20*%20*%20*&timezone=Mars/Olympus&count=101"),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let locs: Vec<&Value> = bad.json["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["query", "count"]),
            &json!(["query", "cron_expression"]),
            &json!(["query", "timezone"])
        ]
    );
}

#[tokio::test]
async fn preview_routes_go_through_admission() {
    let s = fixture(AuthMode::Kube);
    let alice = Caller {
        username: "alice".into(),
        uid: None,
        groups: vec![],
    };
    s.auth.remember_token("alice-token", Some(alice.clone()));
    s.auth
        .remember_decision(&alice, "get", "actions", "team-a", true);
    s.auth
        .remember_decision(&alice, "list", "actions", "team-a", false);
    let upcoming = |id: &str| format!("{BASE}/actions/{id}/upcoming");
    let preview = format!("{BASE}/schedule-preview?cron_expression=0%209%20*%20*%20*");
    for (token, uri, status) in [
        (None, upcoming("daily-report"), 401),
        (None, preview.clone(), 401),
        (Some("alice-token"), preview.clone(), 403),
        (Some("alice-token"), upcoming("missing"), 404),
        (Some("alice-token"), upcoming("UPPER"), 422),
        (
            Some("alice-token"),
            format!("{}?count=0", upcoming("daily-report")),
            422,
        ),
        (Some("alice-token"), upcoming("daily-report"), 200),
    ] {
        let a = send(&s, "GET", &uri, token, b"").await;
        assert_eq!(a.status.as_u16(), status, "{token:?} {uri}: {}", a.text);
    }
}

#[tokio::test]
async fn cancel_rerun_and_dry_run_go_through_admission() {
    let s = fixture(AuthMode::Kube);
    let bob = Caller {
        username: "bob".into(),
        uid: None,
        groups: vec![],
    };
    s.auth.remember_token("bob-token", Some(bob.clone()));
    s.auth
        .remember_decision(&bob, "update", "actionruns", "team-a", false);
    s.auth
        .remember_decision(&bob, "create", "actionruns", "team-a", true);
    let run = |id: &str, what: &str| format!("{BASE}/actions/daily-report/runs/{id}/{what}");
    for (token, uri, status) in [
        (None, run("daily-report-3", "cancel"), 401),
        (None, run("daily-report-3", "rerun"), 401),
        (Some("bob-token"), run("daily-report-3", "cancel"), 403),
        (Some("bob-token"), run("missing", "rerun"), 404),
        // A staged run is not a run the API shows yet.
        (Some("bob-token"), run("daily-report-staged", "rerun"), 404),
        (Some("bob-token"), run("UPPER", "rerun"), 422),
        (
            Some("bob-token"),
            format!("{}?render=later", run("daily-report-3", "rerun")),
            422,
        ),
        (
            None,
            format!("{BASE}/actions/daily-report/trigger?dry_run=true"),
            401,
        ),
        (
            Some("bob-token"),
            format!("{BASE}/actions/daily-report/trigger?dry_run=maybe"),
            422,
        ),
    ] {
        let a = send(&s, "POST", &uri, token, b"").await;
        assert_eq!(a.status.as_u16(), status, "{token:?} {uri}: {}", a.text);
    }
}

#[tokio::test]
async fn the_new_routes_answer_403_404_and_422_in_order() {
    let s = fixture(AuthMode::Kube);
    let carol = Caller {
        username: "carol".into(),
        uid: None,
        groups: vec![],
    };
    let dave = Caller {
        username: "dave".into(),
        uid: None,
        groups: vec![],
    };
    s.auth.remember_token("carol-token", Some(carol.clone()));
    s.auth.remember_token("dave-token", Some(dave.clone()));
    // Carol may do nothing; Dave may do everything these routes need.
    for (verb, resource) in [
        ("get", "actions"),
        ("get", "actionruns"),
        ("create", "actionruns"),
        ("update", "actionruns"),
    ] {
        s.auth
            .remember_decision(&carol, verb, resource, "team-a", false);
        s.auth
            .remember_decision(&dave, verb, resource, "team-a", true);
    }
    let run = |id: &str, what: &str| format!("{BASE}/actions/daily-report/runs/{id}{what}");
    let dry_run = format!("{BASE}/actions/daily-report/trigger?dry_run=true");
    let upcoming = format!("{BASE}/actions/daily-report/upcoming");
    for (method, token, uri, status) in [
        ("POST", "carol-token", run("daily-report-3", "/rerun"), 403),
        ("POST", "carol-token", dry_run.clone(), 403),
        ("GET", "carol-token", upcoming.clone(), 403),
        (
            "GET",
            "carol-token",
            run("daily-report-3", "?view=full"),
            403,
        ),
        // 403 before 404: a caller who may not read learns nothing of what exists.
        ("GET", "carol-token", run("missing", "?view=full"), 403),
        ("POST", "dave-token", run("missing", "/cancel"), 404),
        ("POST", "dave-token", run("UPPER", "/cancel"), 422),
        ("GET", "dave-token", run("missing", "?view=full"), 404),
        (
            "GET",
            "dave-token",
            run("daily-report-3", "?view=full"),
            200,
        ),
        ("GET", "dave-token", upcoming.clone(), 200),
    ] {
        let a = send(&s, method, &uri, Some(token), b"").await;
        assert_eq!(
            a.status.as_u16(),
            status,
            "{token} {method} {uri}: {}",
            a.text
        );
    }
    let a = send(&s, "GET", &run("daily-report-3", "?view=full"), None, b"").await;
    assert_eq!(a.status.as_u16(), 401, "{}", a.text);
}
