//! DST behaviour, hand-checked in UTC.
//!
//! America/New_York 2026: 03-08 02:00 EST -> 03:00 EDT (07:00Z),
//!   11-01 02:00 EDT -> 01:00 EST (06:00Z).
//! Europe/Berlin 2026: 03-29 02:00 CET -> 03:00 CEST (01:00Z),
//!   10-25 03:00 CEST -> 02:00 CET (01:00Z).
//! Australia/Sydney 2026: 04-05 03:00 AEDT -> 02:00 AEST (04-04 16:00Z),
//!   10-04 02:00 AEST -> 03:00 AEDT (10-03 16:00Z).

use chrono::LocalResult;

use super::*;

const NY: &str = "America/New_York";
const BERLIN: &str = "Europe/Berlin";
const SYDNEY: &str = "Australia/Sydney";
const KOLKATA: &str = "Asia/Kolkata";

#[test]
fn assumed_transitions_exist() {
    let ny = zone(NY);
    let wall = |s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    let gap = ny.from_local_datetime(&wall("2026-03-08 02:30"));
    assert!(matches!(gap, LocalResult::None));
    let fold = ny.from_local_datetime(&wall("2026-11-01 01:30"));
    assert!(matches!(fold, LocalResult::Ambiguous(..)));
}

#[test]
fn fixed_time_in_spring_gap_fires_once_after_it() {
    let after = "2026-03-07T12:00:00Z";
    let at_0230 = [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:30:00Z",
        "2026-03-10T06:30:00Z",
    ];
    fires("30 2 * * *", NY, after, &at_0230);
    // Two skipped times fire once, right after the gap.
    let both = [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:00:00Z",
        "2026-03-09T06:30:00Z",
    ];
    fires("0,30 2 * * *", NY, after, &both);
    // 03:00 also matches on its own: still a single fire at 07:00Z.
    let with_three = [
        "2026-03-08T07:00:00Z",
        "2026-03-08T07:30:00Z",
        "2026-03-09T06:00:00Z",
    ];
    fires("0,30 2,3 * * *", NY, after, &with_three);
    // From 01:59 EST the gap fire is still ahead; from 03:00 EDT it is not.
    fires(
        "30 2 * * *",
        NY,
        "2026-03-08T06:59:00Z",
        &["2026-03-08T07:00:00Z"],
    );
    fires(
        "30 2 * * *",
        NY,
        "2026-03-08T07:00:00Z",
        &["2026-03-09T06:30:00Z"],
    );
    fires(
        "30 2 * * *",
        BERLIN,
        "2026-03-28T12:00:00Z",
        &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
    );
    fires(
        "30 2 * * *",
        SYDNEY,
        "2026-10-03T00:00:00Z",
        &["2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"],
    );
    assert_eq!(
        fires_on_local_day("30 2 * * *", BERLIN, 2026, 3, 29).len(),
        1
    );
}

#[test]
fn fixed_time_in_repeated_hour_fires_at_first_occurrence() {
    // 01:30 happens twice; only the first (EDT, 05:30Z) fires.
    fires(
        "30 1 * * *",
        NY,
        "2026-10-31T12:00:00Z",
        &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
    );
    // From the first 01:40 EDT or the second 01:10 EST: nothing more that day.
    fires(
        "30 1 * * *",
        NY,
        "2026-11-01T05:40:00Z",
        &["2026-11-02T06:30:00Z"],
    );
    fires(
        "30 1 * * *",
        NY,
        "2026-11-01T06:10:00Z",
        &["2026-11-02T06:30:00Z"],
    );
    // 02:00 exists once (EST) and fires normally.
    fires(
        "0 2 * * *",
        NY,
        "2026-11-01T00:00:00Z",
        &["2026-11-01T07:00:00Z"],
    );
    fires(
        "30 2 * * *",
        BERLIN,
        "2026-10-24T12:00:00Z",
        &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
    );
    fires(
        "30 2 * * *",
        SYDNEY,
        "2026-04-04T00:00:00Z",
        &["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"],
    );
    assert_eq!(
        fires_on_local_day("30 2 * * *", BERLIN, 2026, 10, 25).len(),
        1
    );
}

#[test]
fn real_time_repeats_the_fold_and_skips_the_gap() {
    // After the first 01:30 EDT, the next half hour is 01:00 EST.
    let halves = [
        "2026-11-01T06:00:00Z",
        "2026-11-01T06:30:00Z",
        "2026-11-01T07:00:00Z",
    ];
    fires("*/30 * * * *", NY, "2026-11-01T05:30:00Z", &halves);
    fires(
        "0 * * * *",
        NY,
        "2026-11-01T05:30:00Z",
        &["2026-11-01T06:00:00Z"],
    );
    // Every 01:xx fires in both occurrences, then the next day's 01:00 EST.
    let fold = CronSchedule::parse("*/5 1 * * *").unwrap().upcoming(
        zone(NY),
        utc("2026-11-01T00:00:00Z"),
        25,
    );
    let mut want: Vec<_> = (0..24)
        .map(|i| utc("2026-11-01T05:00:00Z") + TimeDelta::minutes(5 * i))
        .collect();
    want.push(utc("2026-11-02T06:00:00Z"));
    assert_eq!(fold, want);
    // 02:xx does not exist on the spring day.
    fires(
        "*/5 2 * * *",
        NY,
        "2026-03-08T00:00:00Z",
        &["2026-03-09T06:00:00Z"],
    );
    let berlin_hours = [
        "2026-10-25T00:00:00Z",
        "2026-10-25T01:00:00Z",
        "2026-10-25T02:00:00Z",
    ];
    fires("0 * * * *", BERLIN, "2026-10-24T23:30:00Z", &berlin_hours); // 02:00 CEST, 02:00 CET, 03:00
    let sydney = [
        "2026-04-04T15:00:00Z", // 02:00 AEDT
        "2026-04-04T15:30:00Z",
        "2026-04-04T16:00:00Z", // 02:00 AEST
        "2026-04-04T16:30:00Z",
        "2026-04-05T16:00:00Z",
    ];
    fires("*/30 2 * * *", SYDNEY, "2026-04-04T00:00:00Z", &sydney);
}

#[test]
fn hourly_counts_on_transition_days() {
    for (tz, (m, d), count) in [
        (NY, (3, 8), 23),
        (NY, (11, 1), 25),
        (NY, (11, 2), 24),
        (BERLIN, (3, 29), 23),
        (BERLIN, (10, 25), 25),
        (SYDNEY, (4, 5), 25),
        (SYDNEY, (10, 4), 23),
        (KOLKATA, (3, 8), 24),
        (KOLKATA, (11, 1), 24),
    ] {
        let hourly = fires_on_local_day("0 * * * *", tz, 2026, m, d);
        assert_eq!(hourly.len(), count, "{tz} 2026-{m}-{d}");
        // Consecutive fires are exactly one real hour apart through the change.
        assert!(
            hourly
                .windows(2)
                .all(|w| w[1] - w[0] == TimeDelta::hours(1)),
            "{tz}"
        );
    }
}

#[test]
fn quarter_hours_keep_pace_in_utc() {
    for (tz, after) in [
        (NY, "2026-03-08T05:00:00Z"),
        (NY, "2026-11-01T04:00:00Z"),
        (BERLIN, "2026-03-28T23:00:00Z"),
        (BERLIN, "2026-10-24T23:00:00Z"),
        (SYDNEY, "2026-04-04T14:00:00Z"),
        (SYDNEY, "2026-10-03T14:00:00Z"),
        (KOLKATA, "2026-03-08T05:00:00Z"),
    ] {
        let schedule = CronSchedule::parse("*/15 * * * *").unwrap();
        let got = schedule.upcoming(zone(tz), utc(after), 16);
        let want: Vec<_> = (1..=16)
            .map(|i| utc(after) + TimeDelta::minutes(15 * i))
            .collect();
        assert_eq!(got, want, "{tz}");
    }
}

#[test]
fn kolkata_has_no_dst() {
    let daily = [
        "2026-03-07T21:00:00Z",
        "2026-03-08T21:00:00Z",
        "2026-03-09T21:00:00Z",
    ];
    fires("30 2 * * *", KOLKATA, "2026-03-07T00:00:00Z", &daily);
    let hourly = fires_on_local_day("0 * * * *", KOLKATA, 2026, 10, 25);
    assert!(hourly.iter().all(|t| t.format("%M").to_string() == "30"));
}

#[test]
fn upcoming_across_a_transition() {
    // Weekdays at 09:00 across the NY spring change: 14:00Z, then 13:00Z.
    let around = [
        "2026-03-05T14:00:00Z", // Thu, EST
        "2026-03-06T14:00:00Z", // Fri, EST
        "2026-03-09T13:00:00Z", // Mon, EDT
        "2026-03-10T13:00:00Z",
    ];
    fires("0 9 * * 1-5", NY, "2026-03-05T00:00:00Z", &around);
}
