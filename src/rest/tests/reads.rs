//! Gets and lists rendered from the stores.

use super::*;

/// Keys of the Action object of the reference, in order.
const ACTION_KEYS: [&str; 30] = [
    "action_id",
    "workspace_id",
    "app_id",
    "endpoint_id",
    "name",
    "description",
    "namespace_id",
    "thread_mode",
    "thread_id",
    "thread_id_template",
    "payload",
    "action_type",
    "schedule_type",
    "cron_expression",
    "scheduled_at",
    "timezone",
    "max_retries",
    "retry_delay_seconds",
    "is_enabled",
    "is_running",
    "next_run_at",
    "last_run_at",
    "last_run_status",
    "last_execution_id",
    "total_runs",
    "successful_runs",
    "failed_runs",
    "created_by",
    "created_at",
    "updated_at",
];

/// The ids of a list page, in order: `actions` by `action_id`, `runs` by `run_id`.
fn ids(answer: &Answer, list: &str) -> Vec<String> {
    let key = if list == "runs" {
        "run_id"
    } else {
        "action_id"
    };
    answer.json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_get_renders_the_rest_view_of_the_stored_action() {
    let s = fixture(AuthMode::None);
    let a = call(&s, "GET", &format!("{BASE}/actions/daily-report"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(keys_in_order(&a.text), ACTION_KEYS);
    assert_eq!(
        a.json,
        json!({
            "action_id": "daily-report", "workspace_id": "team-a", "app_id": "support-bot",
            "endpoint_id": "agent", "name": "Daily report",
            "description": "Posts the summary to Slack", "namespace_id": "memory",
            "thread_mode": "new_each_run", "thread_id": null, "thread_id_template": null,
            "payload": {"task": "summary of {{ date }}"}, "action_type": "trigger",
            "schedule_type": "cron", "cron_expression": "0 9 * * *", "scheduled_at": null,
            "timezone": "Europe/Berlin", "max_retries": 0, "retry_delay_seconds": 60,
            "is_enabled": true, "is_running": false, "next_run_at": "2026-03-02T08:00:00Z",
            "last_run_at": "2026-03-01T08:00:00Z", "last_run_status": "succeeded",
            "last_execution_id": null, "total_runs": 3, "successful_runs": 2, "failed_runs": 1,
            "created_by": "alice", "created_at": "2026-03-01T10:00:00Z",
            "updated_at": "2026-03-01T10:00:00Z",
        })
    );
    assert_eq!(
        a.json,
        serde_json::to_value(ActionView::from_resource(&daily_report())).unwrap()
    );
}

#[tokio::test]
async fn lists_page_newest_first_through_the_cursor() {
    let s = fixture(AuthMode::None);
    let first = call(&s, "GET", &format!("{BASE}/actions?limit=2"), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        keys_in_order(&first.text),
        ["total", "has_more", "next_cursor", "actions"]
    );
    // Another app's and another workspace's Actions are not listed; a tie in time is broken by
    // the name.
    assert_eq!(
        (first.json["total"].clone(), first.json["has_more"].clone()),
        (json!(5), json!(true))
    );
    assert_eq!(ids(&first, "actions"), ["ping", "a-cleanup"]);
    let item = &first.json["actions"][0];
    assert_eq!(keys_in_order(&item.to_string()).len(), ACTION_KEYS.len());
    let mut pages = vec![ids(&first, "actions")];
    let mut cursor = first.json["next_cursor"].as_str().unwrap().to_string();
    loop {
        let page = call(
            &s,
            "GET",
            &format!("{BASE}/actions?limit=2&cursor={cursor}"),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(
            page.json["total"], 5,
            "total counts every match, on every page"
        );
        pages.push(ids(&page, "actions"));
        match page.json["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page.json["has_more"], true);
                cursor = next.to_string();
            }
            None => {
                assert_eq!(page.json["has_more"], false);
                break;
            }
        }
    }
    assert_eq!(
        pages,
        [
            vec!["ping", "a-cleanup"],
            vec!["b-cleanup", "weekly-digest"],
            vec!["daily-report"]
        ]
    );
    // Search: a case-insensitive substring of the name or the description.
    let found = call(&s, "GET", &format!("{BASE}/actions?search=CLEANUP"), None).await;
    assert_eq!(
        (
            found.json["total"].clone(),
            found.json["has_more"].clone(),
            found.json["next_cursor"].clone()
        ),
        (json!(2), json!(false), Value::Null)
    );
    assert_eq!(ids(&found, "actions"), ["a-cleanup", "b-cleanup"]);
    let found = call(&s, "GET", &format!("{BASE}/actions?search=slack"), None).await;
    assert_eq!(ids(&found, "actions"), ["daily-report"]);
    let empty = call(
        &s,
        "GET",
        "/v1/orgs/acme/workspaces/team-a/apps/nobody/actions",
        None,
    )
    .await;
    assert_eq!(
        empty.json,
        json!({"total": 0, "has_more": false, "next_cursor": null, "actions": []})
    );
}

#[tokio::test]
async fn run_history_comes_from_the_store_with_its_filter() {
    let s = fixture(AuthMode::None);
    let runs = format!("{BASE}/actions/daily-report/runs");
    let all = call(&s, "GET", &runs, None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(
        keys_in_order(&all.text),
        ["total", "has_more", "next_cursor", "runs"]
    );
    // Newest first; the staged run and another Action's run are not listed.
    assert_eq!(
        ids(&all, "runs"),
        ["daily-report-3", "daily-report-2", "daily-report-1"]
    );
    assert_eq!(all.json["total"], 3);
    let failed = call(&s, "GET", &format!("{runs}?status=failed"), None).await;
    assert_eq!(ids(&failed, "runs"), ["daily-report-2"]);
    assert_eq!(failed.json["total"], 1);
    let page = call(&s, "GET", &format!("{runs}?limit=1"), None).await;
    assert_eq!(
        (page.json["total"].clone(), page.json["has_more"].clone()),
        (json!(3), json!(true))
    );
    let one = call(&s, "GET", &format!("{runs}/daily-report-2"), None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(
        one.json,
        json!({
            "run_id": "daily-report-2", "action_id": "daily-report", "workspace_id": "team-a",
            "execution_id": null, "status": "failed", "attempt": 1, "trigger_type": "scheduled",
            "triggered_at": "2026-03-02T09:00:00Z", "started_at": null, "completed_at": null,
            "duration_seconds": null, "resolved_payload": {}, "resolved_thread_id": null,
            "error_message": "HTTP 500", "error_code": "http_error",
        })
    );
    assert_eq!(one.json, failed.json["runs"][0]);
}

#[tokio::test]
async fn health_and_readiness() {
    let s = fixture(AuthMode::None);
    let a = call(&s, "GET", "/healthz", None).await;
    assert_eq!((a.status, a.text.as_str()), (StatusCode::OK, "ok"));
    let a = call(&s, "GET", "/readyz", None).await;
    assert_eq!(a.status, StatusCode::OK);
    s.ready.store(false, std::sync::atomic::Ordering::SeqCst);
    let a = call(&s, "GET", "/readyz", None).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
}
