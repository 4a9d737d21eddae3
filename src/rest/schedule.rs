//! Schedule previews: the next fire instants of a saved Action (`GET /actions/{id}/upcoming`),
//! and of a schedule not saved yet (`GET /schedule-preview`, for a form that checks as the user
//! types). Both use the scheduler's own evaluator (`scheduler::timing`), so what they list is
//! what fires (docs/rest.md, "Schedule preview").

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{ApiPath, QueryPairs};
use super::{ActionPath, Admitted, AppState, Scope, validate};
use crate::resources::{ActionStatus, ScheduleType};
use crate::scheduler::timing::Timing;

/// One fire instant.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct FireInstant {
    /// The instant in UTC (RFC 3339, `Z`).
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// The same instant as a wall-clock time in the schedule's zone, with its UTC offset (which
    /// changes across a DST transition), e.g. `2026-03-29T03:00:00+02:00`.
    #[schemars(extend("format" = "date-time"))]
    pub local: String,
}

/// The next fire instants of a schedule.
#[derive(Serialize, JsonSchema, Debug)]
pub struct UpcomingList {
    /// The Action previewed; null for `/schedule-preview`.
    pub action_id: Option<String>,
    /// `cron`, `one_time` or `manual` (a manual schedule lists nothing).
    pub schedule_type: ScheduleType,
    /// The zone `local` is given in.
    pub timezone: String,
    /// Whether the schedule is enabled: the instants listed fire only while it is.
    pub is_enabled: bool,
    /// The next instants, earliest first, after the moment of the request.
    pub upcoming: Vec<FireInstant>,
}

/// The first `count` instants of `timing` after `now`. A one_time slot that was handled
/// (`lastScheduleTime`) is not listed again.
pub fn upcoming(
    timing: &Timing,
    zone: Tz,
    status: &ActionStatus,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<FireInstant> {
    let first = match timing {
        Timing::Once(at) if status.last_schedule_time == Some(*at) => None,
        _ => timing.next_after(now),
    };
    std::iter::successors(first, |t| timing.next_after(*t))
        .take(count)
        .map(|t| FireInstant {
            at: crate::time::format_time(&t),
            local: t.with_timezone(&zone).to_rfc3339(),
        })
        .collect()
}

fn zone_of(name: &str) -> Tz {
    crate::cron::parse_timezone(name).unwrap_or(chrono_tz::UTC)
}

pub async fn of_action(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<UpcomingList>, ApiError> {
    let count = validate::parse_count(&query);
    let Admitted {
        target: action,
        input: count,
        ..
    } = state
        .admit(&headers, "get", "actions", &path, count)
        .await?;
    let spec = &action.spec;
    // An Action whose schedule does not compile lists nothing; its Ready condition says why.
    let list = match Timing::compile(&action) {
        Ok(timing) => upcoming(
            &timing,
            zone_of(&spec.timezone),
            &action.status.clone().unwrap_or_default(),
            Utc::now(),
            count,
        ),
        Err(_) => Vec::new(),
    };
    Ok(Json(UpcomingList {
        action_id: Some(path.action_id.clone()),
        schedule_type: spec.effective_schedule_type(),
        timezone: spec.timezone.clone(),
        is_enabled: spec.enabled,
        upcoming: list,
    }))
}

pub async fn preview(
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<Scope>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<UpcomingList>, ApiError> {
    let query = validate::parse_preview(&query);
    let Admitted { input: query, .. } = state
        .admit(&headers, "list", "actions", &scope, query)
        .await?;
    let zone = zone_of(&query.timezone);
    let (schedule_type, timing) = match (&query.cron_expression, query.scheduled_at) {
        (Some(expr), _) => (
            ScheduleType::Cron,
            crate::cron::CronSchedule::parse(expr)
                .map(|c| Timing::Cron(c, zone))
                .map_err(|e| ApiError::Internal(format!("checked cron expression: {e}")))?,
        ),
        (None, Some(at)) => (ScheduleType::OneTime, Timing::Once(at)),
        (None, None) => (ScheduleType::Manual, Timing::Manual),
    };
    Ok(Json(UpcomingList {
        action_id: None,
        schedule_type,
        timezone: query.timezone.clone(),
        is_enabled: true,
        upcoming: upcoming(
            &timing,
            zone,
            &ActionStatus::default(),
            Utc::now(),
            query.count,
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn instants_cross_a_dst_change_in_utc_and_local_time() {
        // Europe/Berlin springs forward on 2026-03-29 at 02:00 (to 03:00): 02:30 does not exist
        // that day, and Vixie cron runs such a job once, at the first valid minute after the gap.
        let zone = zone_of("Europe/Berlin");
        let timing = Timing::Cron(
            crate::cron::CronSchedule::parse("30 2 * * *").unwrap(),
            zone,
        );
        let list = upcoming(
            &timing,
            zone,
            &ActionStatus::default(),
            t("2026-03-27T12:00:00Z"),
            3,
        );
        let pairs: Vec<(&str, &str)> = list
            .iter()
            .map(|i| (i.at.as_str(), i.local.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("2026-03-28T01:30:00Z", "2026-03-28T02:30:00+01:00"),
                ("2026-03-29T01:00:00Z", "2026-03-29T03:00:00+02:00"),
                ("2026-03-30T00:30:00Z", "2026-03-30T02:30:00+02:00"),
            ]
        );
    }

    #[test]
    fn one_time_lists_its_instant_until_handled_and_manual_nothing() {
        let zone = zone_of("UTC");
        let once = Timing::Once(t("2026-05-01T08:00:00Z"));
        let now = t("2026-04-01T00:00:00Z");
        let mut status = ActionStatus::default();
        assert_eq!(upcoming(&once, zone, &status, now, 5).len(), 1);
        status.last_schedule_time = Some(t("2026-05-01T08:00:00Z"));
        assert!(upcoming(&once, zone, &status, now, 5).is_empty());
        assert!(upcoming(&Timing::Manual, zone, &status, now, 5).is_empty());
        // Past instants are not upcoming.
        let later = t("2026-06-01T00:00:00Z");
        assert!(upcoming(&once, zone, &ActionStatus::default(), later, 5).is_empty());
    }
}
