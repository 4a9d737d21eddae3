//! `punctual trigger | runs | cancel | next`: the commands for people, against the cluster of
//! KUBECONFIG with kubectl's conventions (`-n`, `-o json|yaml|wide`), also as a kubectl plugin
//! (`kubectl punctual ...` when the binary is on PATH as `kubectl-punctual`; docs/cli.md).
//! They act as the kubeconfig's user, so that user's RBAC applies, as for kubectl.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

use crate::resources::{Action, ActionRun};
use crate::rest::dry_run::DryRun;
use crate::runspec::{ACTION_LABEL, CANCEL_ANNOTATION, Overrides, Trigger, build_run_with};
use crate::scheduler::timing::Timing;
use crate::time::format_time;

/// Field manager of the CLI's writes.
pub const FIELD_MANAGER: &str = "punctual-cli";

/// `-o`: how a result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A table (the default).
    Table,
    /// A table with more columns.
    Wide,
    Json,
    Yaml,
}

/// A client for KUBECONFIG (or in-cluster), and the namespace: `-n`, else the context's.
pub async fn connect(namespace: Option<String>) -> anyhow::Result<(Client, String)> {
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration: set KUBECONFIG")?;
    let ns = namespace.unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("a client for the kubeconfig")?;
    Ok((client, ns))
}

/// Parses `name=value` pairs of `--var`.
pub fn parse_vars(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--var takes name=value, not {p:?}"),
        })
        .collect()
}

/// `punctual trigger`: creates a manual run of `action`, as the REST trigger does; with
/// `dry_run`, creates nothing and prints the request the runner would send for it, as the REST
/// dry run answers it (the endpoint and its Secrets read as the kubeconfig's user).
pub async fn trigger(
    client: &Client,
    ns: &str,
    action: &str,
    overrides: &Overrides,
    dry_run: bool,
    output: Output,
) -> anyhow::Result<String> {
    let actions: Api<Action> = Api::namespaced(client.clone(), ns);
    let action = actions
        .get_opt(action)
        .await?
        .with_context(|| format!("Action {action} not found in namespace {ns}"))?;
    let run = build_run_with(
        &action,
        Trigger::Manual,
        Utc::now(),
        uuid::Uuid::new_v4(),
        overrides,
    );
    if dry_run {
        // The operator's --trace-state is not known here: a configured tracestate is not shown.
        let request = crate::rest::dry_run::dry_run(client, None, &run).await?;
        return match output {
            Output::Json | Output::Yaml => render(&request, output),
            _ => Ok(show_request(&request)),
        };
    }
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let run = Api::<ActionRun>::namespaced(client.clone(), ns)
        .create(&params, &run)
        .await?;
    match output {
        Output::Json | Output::Yaml => render(&run, output),
        _ => Ok(format!("actionrun/{} created\n", run.name_any())),
    }
}

/// A dry run as a person reads it: what would happen, then the request as HTTP would carry it.
pub fn show_request(r: &DryRun) -> String {
    let mut out = if r.would_send {
        format!(
            "actionrun/{} would be created (dry run), and the runner would send:\n\n",
            r.run_id
        )
    } else {
        format!(
            "actionrun/{} would be created (dry run) and fail without calling the endpoint: {}: {}\n\n",
            r.run_id,
            r.error_code.map(|c| c.as_str()).unwrap_or("error"),
            r.error_message.as_deref().unwrap_or_default()
        )
    };
    let url = r
        .url
        .as_deref()
        .unwrap_or("(the endpoint's URL cannot be resolved)");
    out.push_str(&format!("{} {url}\n", r.method));
    for (name, value) in &r.headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    let body = serde_json::to_string_pretty(&r.body).unwrap_or_default();
    out.push_str(&format!("\n{body}\n"));
    if let Some(thread) = &r.thread_id {
        out.push_str(&format!("\nthread: {thread}\n"));
    }
    out
}

/// `punctual runs`: an Action's runs, newest first.
pub async fn runs(
    client: &Client,
    ns: &str,
    action: &str,
    output: Output,
) -> anyhow::Result<String> {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{ACTION_LABEL}={action}"));
    let mut runs = api.list(&lp).await?.items;
    runs.sort_by_key(|r| std::cmp::Reverse(r.creation_timestamp().map(|t| t.0)));
    match output {
        Output::Json | Output::Yaml => render(&runs, output),
        _ => Ok(table(&runs, output == Output::Wide)),
    }
}

/// The runs as kubectl prints a table: aligned columns, `<none>` for nothing.
pub fn table(runs: &[ActionRun], wide: bool) -> String {
    let mut rows = vec![
        vec![
            "NAME",
            "STATUS",
            "ATTEMPT",
            "TRIGGER",
            "SCHEDULED",
            "STARTED",
            "DURATION",
            "ERROR",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>(),
    ];
    if wide {
        rows[0].extend(["EXECUTION-ID".to_string(), "THREAD".to_string()]);
    }
    let none = || "<none>".to_string();
    let time = |t: Option<DateTime<Utc>>| t.as_ref().map(format_time).unwrap_or_else(none);
    for r in runs {
        let s = r.status.clone().unwrap_or_default();
        let mut row = vec![
            r.name_any(),
            s.status.as_str().to_string(),
            s.attempt.to_string(),
            format!("{:?}", r.spec.trigger_type).to_lowercase(),
            time(r.spec.scheduled_at),
            time(s.started_at),
            s.duration_seconds
                .map(|d| format!("{d:.1}s"))
                .unwrap_or_else(none),
            s.error_code
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(none),
        ];
        if wide {
            row.push(s.execution_id.unwrap_or_else(none));
            row.push(r.spec.resolved_thread_id.clone().unwrap_or_else(none));
        }
        rows.push(row);
    }
    align(&rows)
}

fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// `punctual cancel`: asks the runner to cancel a run (the `punctual.dev/cancel` annotation) and
/// waits a little for it to be recorded.
pub async fn cancel(client: &Client, ns: &str, run: &str, reason: &str) -> anyhow::Result<String> {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), ns);
    let current = api
        .get_opt(run)
        .await?
        .with_context(|| format!("ActionRun {run} not found in namespace {ns}"))?;
    let phase = current.status.clone().unwrap_or_default().status;
    if !phase.is_active() {
        bail!("ActionRun {run} is already {}", phase.as_str());
    }
    let patch = serde_json::json!({"metadata": {
        "uid": current.uid(),
        "annotations": {CANCEL_ANNOTATION: reason},
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch(run, &params, &Patch::Merge(&patch)).await?;
    for _ in 0..50 {
        let seen = api.get(run).await?;
        let status = seen.status.unwrap_or_default();
        if !status.status.is_active() {
            return Ok(format!("actionrun/{run} {}\n", status.status.as_str()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(format!(
        "actionrun/{run} cancel requested (the runner has not recorded it yet)\n"
    ))
}

/// `punctual next`: the next instants of a cron expression in a zone (no cluster needed).
pub fn next(expr: &str, zone: &str, count: usize, now: DateTime<Utc>) -> anyhow::Result<String> {
    let tz =
        crate::cron::parse_timezone(zone).map_err(|e| anyhow::anyhow!("--tz {zone:?}: {e}"))?;
    let cron = crate::cron::CronSchedule::parse(expr)
        .map_err(|e| anyhow::anyhow!("cron expression {expr:?}: {e}"))?;
    let timing = Timing::Cron(cron, tz);
    let first = timing.next_after(now);
    let mut rows = vec![vec!["UTC".to_string(), zone.to_string()]];
    for t in std::iter::successors(first, |t| timing.next_after(*t)).take(count) {
        rows.push(vec![format_time(&t), t.with_timezone(&tz).to_rfc3339()]);
    }
    Ok(align(&rows))
}

fn render<T: serde::Serialize>(value: &T, output: Output) -> anyhow::Result<String> {
    Ok(match output {
        Output::Yaml => serde_yaml::to_string(value)?,
        _ => format!("{}\n", serde_json::to_string_pretty(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_lists_utc_and_local_times_across_a_dst_change() {
        let now: DateTime<Utc> = "2026-03-28T12:00:00Z".parse().unwrap();
        let out = next("30 2 * * *", "Europe/Berlin", 2, now).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["UTC", "Europe/Berlin"]
        );
        assert!(lines[1].starts_with("2026-03-29T01:00:00Z"), "{out}");
        assert!(lines[1].ends_with("2026-03-29T03:00:00+02:00"), "{out}");
        assert!(lines[2].ends_with("2026-03-30T02:30:00+02:00"), "{out}");
        assert!(next("61 * * * *", "UTC", 1, now).is_err());
        assert!(next("* * * * *", "Mars/Olympus", 1, now).is_err());
    }

    #[test]
    fn a_dry_run_reads_as_the_request_or_as_why_there_would_be_none() {
        let mut r = DryRun {
            action_id: "ask".into(),
            run_id: "ask-m1".into(),
            would_send: true,
            method: "POST".into(),
            url: Some("https://agent.example/run".into()),
            headers: [("Authorization".to_string(), "Bearer <redacted>".to_string())].into(),
            body: serde_json::from_value(serde_json::json!({"q": "hi"})).unwrap(),
            thread_id: Some("t-1".into()),
            error_code: None,
            error_message: None,
        };
        let out = show_request(&r);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("the runner would send:"), "{out}");
        assert_eq!(lines[2], "POST https://agent.example/run");
        assert_eq!(lines[3], "Authorization: Bearer <redacted>");
        assert!(
            out.contains("\"q\": \"hi\"") && out.ends_with("thread: t-1\n"),
            "{out}"
        );

        r.would_send = false;
        r.url = None;
        r.error_code = Some(crate::resources::RunErrorCode::SecretNotFound);
        r.error_message = Some("Secret agent-token does not exist in namespace m".into());
        let out = show_request(&r);
        assert!(
            out.lines().next().unwrap().contains(
                "fail without calling the endpoint: secret_not_found: Secret agent-token does not exist"
            ),
            "{out}"
        );
        assert!(
            out.contains("POST (the endpoint's URL cannot be resolved)"),
            "{out}"
        );
    }

    #[test]
    fn vars_are_name_value_pairs() {
        let vars = parse_vars(&["topic=billing".into(), "empty=".into()]).unwrap();
        assert_eq!(vars["topic"], "billing");
        assert_eq!(vars["empty"], "");
        assert!(parse_vars(&["novalue".into()]).is_err());
        assert!(parse_vars(&["=x".into()]).is_err());
    }

    #[test]
    fn a_table_aligns_its_columns_and_says_none() {
        let run: ActionRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "ask-m-1", "namespace": "ws"},
            "spec": {"action": "ask", "triggerType": "manual", "namespaceId": "n",
                     "endpoint": "e", "maxRetries": 0, "retryDelaySeconds": 60},
            "status": {"status": "failed", "attempt": 1, "errorCode": "http_error",
                       "durationSeconds": 1.25},
        }))
        .unwrap();
        let out = table(&[run], false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAME      STATUS"), "{out}");
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "ask-m-1",
                "failed",
                "1",
                "manual",
                "<none>",
                "<none>",
                "1.2s",
                "http_error"
            ]
        );
        assert!(table(&[], true).contains("EXECUTION-ID"));
    }
}
