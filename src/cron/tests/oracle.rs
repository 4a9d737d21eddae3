//! Brute-force cross-checks: the spec read minute by minute in UTC.

use chrono::{Datelike, Offset};

use super::*;

/// Every fire in `[from, to]`, straight from the spec: real-time expressions
/// fire whenever the wall time matches; fixed-time ones at the first
/// occurrence of a matching wall time, or right after a gap holding a match.
fn oracle(
    schedule: &CronSchedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let minute = TimeDelta::minutes(1);
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        let wall = t.with_timezone(&tz).naive_local();
        let fires = if schedule.is_fixed_time() {
            let first = tz.from_local_datetime(&wall).earliest() == Some(t.with_timezone(&tz));
            let mut skipped = (t - minute).with_timezone(&tz).naive_local() + minute;
            let mut gap_match = false;
            while skipped < wall {
                gap_match |= schedule.fields.matches(skipped);
                skipped += minute;
            }
            (first && schedule.fields.matches(wall)) || gap_match
        } else {
            schedule.fields.matches(wall)
        };
        if fires {
            out.push(t);
        }
        t += minute;
    }
    out
}

/// Offset changes during `year`, to the minute.
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    let off = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let mut out = Vec::new();
    let mut t = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
    while t.year() == year {
        let hour_later = t + TimeDelta::hours(1);
        if off(t) != off(hour_later) {
            let mut m = t;
            while off(m) == off(t) {
                m += TimeDelta::minutes(1);
            }
            out.push(m);
        }
        t = hour_later;
    }
    out
}

/// `next_after` from every minute (and mid-minute) within 30 hours of each
/// 2026 transition, in zones with hour, half-hour and midnight changes.
#[test]
fn sweep_against_oracle() {
    let exprs = [
        "30 2 * * *",
        "0,30 2 * * *",
        "0,30 2,3 * * *",
        "30 1 * * *",
        "15 1,2 * * *",
        "45 23 * * *",
        "0-59 1-3 * * *",
        "*/15 * * * *",
        "0 * * * *",
        "*/30 * * * *",
        "*/5 2 * * *",
        "*/7 1 * * *",
        "30 * * * *",
        "* * * * *",
    ];
    let zones = [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
        "Australia/Lord_Howe", // 30-minute DST
        "America/Santiago",    // changes at midnight
        "Asia/Kolkata",
    ];
    let mut checked = 0;
    for name in zones {
        let tz = zone(name);
        let mut centers = transitions(tz, 2026);
        assert_eq!(
            centers.len(),
            if name == "Asia/Kolkata" { 0 } else { 2 },
            "{name}"
        );
        if centers.is_empty() {
            centers.push(utc("2026-03-08T07:00:00Z"));
        }
        for center in centers {
            let (from, to) = (center - TimeDelta::hours(30), center + TimeDelta::hours(30));
            for expr in exprs {
                let schedule = CronSchedule::parse(expr).unwrap();
                let truth = oracle(&schedule, tz, from, to + TimeDelta::days(2));
                assert!(!truth.is_empty());
                let mut after = from;
                while after < to {
                    for probe in [after, after + TimeDelta::seconds(29)] {
                        let want = truth.iter().find(|t| **t > probe).copied();
                        let got = schedule.next_after(tz, probe);
                        assert_eq!(got, want, "{expr} in {name} after {probe}");
                        checked += 1;
                    }
                    after += TimeDelta::minutes(1);
                }
            }
        }
    }
    assert!(checked > 100_000);
}

#[test]
fn upcoming_is_strictly_increasing_whole_minutes() {
    for tz in [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
        "UTC",
    ] {
        for expr in ["*/10 * * * *", "0,30 1-3 * * *", "@hourly", "0 2 * * *"] {
            let schedule = CronSchedule::parse(expr).unwrap();
            let fires = schedule.upcoming(zone(tz), utc("2026-01-01T00:00:00Z"), 3000);
            assert_eq!(fires.len(), 3000);
            assert!(fires.windows(2).all(|w| w[0] < w[1]), "{expr} in {tz}");
            assert!(fires.iter().all(|t| t.timestamp() % 60 == 0));
        }
    }
    let every_minute = CronSchedule::parse("* * * * *").unwrap();
    assert!(
        every_minute
            .upcoming(Tz::UTC, utc("2026-01-01T00:00:00Z"), 0)
            .is_empty()
    );
}

/// Run with `cargo test --release -- --ignored --nocapture`.
#[test]
#[ignore = "timing; meaningful only in release builds"]
fn next_after_is_fast() {
    let ny = zone("America/New_York");
    for expr in [
        "*/15 * * * *",
        "0 9 * * 1-5",
        "@yearly",
        "0 0 29 2 *",
        "* * * * *",
        "30 2 * * *",
    ] {
        let schedule = CronSchedule::parse(expr).unwrap();
        let mut after = utc("2026-01-01T00:00:00Z");
        let rounds = 20_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(schedule.next_after(ny, after));
            after += TimeDelta::minutes(17);
        }
        let per_call = start.elapsed() / rounds;
        println!("{expr:>14}: {per_call:?} per call");
        assert!(
            per_call < std::time::Duration::from_micros(50),
            "{expr}: {per_call:?}"
        );
    }
}
