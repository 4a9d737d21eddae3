//! Unit tests. Expected instants were worked out by hand, in UTC; `oracle.rs`
//! cross-checks `next_after` against a minute-by-minute reading of the spec.

mod dst;
mod oracle;
mod parse;

use super::*;
use chrono::{NaiveDate, TimeDelta, TimeZone};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

fn zone(name: &str) -> Tz {
    parse_timezone(name).unwrap()
}

fn next(expr: &str, tz: &str, after: &str) -> DateTime<Utc> {
    let schedule = CronSchedule::parse(expr).unwrap();
    schedule.next_after(zone(tz), utc(after)).unwrap()
}

/// Asserts the next `want.len()` fires of `expr` after `after`.
fn fires(expr: &str, tz: &str, after: &str, want: &[&str]) {
    let schedule = CronSchedule::parse(expr).unwrap();
    let got = schedule.upcoming(zone(tz), utc(after), want.len());
    assert_eq!(got, utcs(want), "{expr} in {tz} after {after}");
}

/// Fires during one local calendar day (whose midnight exists).
fn fires_on_local_day(expr: &str, tz: &str, y: i32, m: u32, d: u32) -> Vec<DateTime<Utc>> {
    let tz = zone(tz);
    let midnight = |date: NaiveDate| {
        let wall = date.and_hms_opt(0, 0, 0).unwrap();
        tz.from_local_datetime(&wall)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    };
    let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let (start, end) = (midnight(date), midnight(date.succ_opt().unwrap()));
    let schedule = CronSchedule::parse(expr).unwrap();
    let all = schedule.upcoming(tz, start - TimeDelta::seconds(1), 100);
    all.into_iter().take_while(|t| *t < end).collect()
}
