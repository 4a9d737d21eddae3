//! The dialect: next fire times from a fixed instant, parse errors, zones.

use super::*;

// 2026-01-15 is a Thursday; 2026-01-01 a Thursday, 2026-04-01 a Wednesday.
const AFTER: &str = "2026-01-15T10:30:00Z";

#[test]
fn next_fire_table() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str)] = &[
        ("* * * * *",             "UTC", "2026-01-15T10:31:00Z"),
        ("*/15 * * * *",          "UTC", "2026-01-15T10:45:00Z"),
        ("0 * * * *",             "UTC", "2026-01-15T11:00:00Z"),
        ("30 * * * *",            "UTC", "2026-01-15T11:30:00Z"), // 10:30 is not strictly after
        ("0,30 * * * *",          "UTC", "2026-01-15T11:00:00Z"),
        ("10-20/5 * * * *",       "UTC", "2026-01-15T11:10:00Z"),
        ("5-59/15 * * * *",       "UTC", "2026-01-15T10:35:00Z"),
        ("*/100 * * * *",         "UTC", "2026-01-15T11:00:00Z"), // only minute 0
        ("0 */6 * * *",           "UTC", "2026-01-15T12:00:00Z"),
        ("0 1-23/2 * * *",        "UTC", "2026-01-15T11:00:00Z"),
        ("* 11 * * *",            "UTC", "2026-01-15T11:00:00Z"),
        ("*/20 9-17 * * mon-fri", "UTC", "2026-01-15T10:40:00Z"),
        ("45 10 * * *",           "UTC", "2026-01-15T10:45:00Z"),
        ("15 10 * * *",           "UTC", "2026-01-16T10:15:00Z"),
        ("00 09 * * *",           "UTC", "2026-01-16T09:00:00Z"),
        (" \t0  0\t* *  * ",      "UTC", "2026-01-16T00:00:00Z"),
        ("@hourly",               "UTC", "2026-01-15T11:00:00Z"),
        ("@daily",                "UTC", "2026-01-16T00:00:00Z"),
        ("@midnight",             "UTC", "2026-01-16T00:00:00Z"),
        ("@weekly",               "UTC", "2026-01-18T00:00:00Z"),
        ("@monthly",              "UTC", "2026-02-01T00:00:00Z"),
        ("@yearly",               "UTC", "2027-01-01T00:00:00Z"),
        ("@annually",             "UTC", "2027-01-01T00:00:00Z"),
        ("0 9 * * 1-5",           "UTC", "2026-01-16T09:00:00Z"),
        ("0 9 * * mon-fri",       "UTC", "2026-01-16T09:00:00Z"),
        ("0 12 * * MON-Fri",      "UTC", "2026-01-15T12:00:00Z"),
        ("0 0 * * 1,3,5",         "UTC", "2026-01-16T00:00:00Z"),
        ("0 0 * * sat,sun",       "UTC", "2026-01-17T00:00:00Z"),
        ("0 0 * * 0",             "UTC", "2026-01-18T00:00:00Z"),
        ("0 0 * * 7",             "UTC", "2026-01-18T00:00:00Z"),
        ("0 0 * * sun",           "UTC", "2026-01-18T00:00:00Z"),
        ("0 0 * * 6-7",           "UTC", "2026-01-17T00:00:00Z"),
        ("0 0 * * 0-0",           "UTC", "2026-01-18T00:00:00Z"),
        // OR rule: the 1st or a Monday; Monday the 19th comes first.
        ("0 0 1 * mon",           "UTC", "2026-01-19T00:00:00Z"),
        // AND rule (`*/2` starts with `*`): odd day and Monday; OR would give the 17th.
        ("0 0 */2 * mon",         "UTC", "2026-01-19T00:00:00Z"),
        // AND rule: odd day and Friday; Friday the 16th is even.
        ("0 0 */2 * fri",         "UTC", "2026-01-23T00:00:00Z"),
        // OR rule: days 1-7 or any Friday; AND would give Feb 6.
        ("0 0 1-7 * fri",         "UTC", "2026-01-16T00:00:00Z"),
        ("0 0 13 * fri",          "UTC", "2026-01-16T00:00:00Z"),
        // OR rule in February: Monday Feb 2 comes before any Feb 29.
        ("0 0 29 2 mon",          "UTC", "2026-02-02T00:00:00Z"),
        // Jan 15 or any Thursday at 10:30: today's is not strictly after.
        ("30 10 15 1 4",          "UTC", "2026-01-22T10:30:00Z"),
        // April 3rd (a Friday) or any Friday in April, at 02:01.
        ("1 2 3 4 5",             "UTC", "2026-04-03T02:01:00Z"),
        ("0 0 13 * *",            "UTC", "2026-02-13T00:00:00Z"),
        ("0 0 15 * *",            "UTC", "2026-02-15T00:00:00Z"),
        ("0 0 1,15 * *",          "UTC", "2026-02-01T00:00:00Z"),
        ("0 0 */5 * *",           "UTC", "2026-01-16T00:00:00Z"),
        ("0 0 30 * *",            "UTC", "2026-01-30T00:00:00Z"),
        ("0 0 31 * *",            "UTC", "2026-01-31T00:00:00Z"),
        ("0 0 31 */2 *",          "UTC", "2026-01-31T00:00:00Z"),
        ("0 0 31 2-4 *",          "UTC", "2026-03-31T00:00:00Z"),
        ("0 0 1 * *",             "UTC", "2026-02-01T00:00:00Z"),
        ("0 0 * feb *",           "UTC", "2026-02-01T00:00:00Z"),
        ("0 0 1 jan-mar *",       "UTC", "2026-02-01T00:00:00Z"),
        ("0 0 1 JAN *",           "UTC", "2027-01-01T00:00:00Z"),
        ("0 0 1 dec *",           "UTC", "2026-12-01T00:00:00Z"),
        ("0 0 1 1 *",             "UTC", "2027-01-01T00:00:00Z"),
        ("0 12 15 1 *",           "UTC", "2026-01-15T12:00:00Z"),
        ("0 10 15 1 *",           "UTC", "2027-01-15T10:00:00Z"),
        ("0 0 29 2 *",            "UTC", "2028-02-29T00:00:00Z"),
        ("59 23 31 12 *",         "UTC", "2026-12-31T23:59:00Z"),
        // 10:30Z is 16:00 IST, 05:30 EST, 21:30 AEDT, 11:30 CET.
        ("0 9 * * *",   "Asia/Kolkata",     "2026-01-16T03:30:00Z"),
        ("0 9 * * *",   "America/New_York", "2026-01-15T14:00:00Z"),
        ("0 9 * * *",   "Australia/Sydney", "2026-01-15T22:00:00Z"),
        ("0 0 * * *",   "Europe/Berlin",    "2026-01-15T23:00:00Z"),
        ("*/45 * * * *", "Asia/Kolkata",    "2026-01-15T11:15:00Z"), // 16:45 IST
    ];
    assert!(table.len() >= 40);
    for (expr, tz, want) in table {
        assert_eq!(next(expr, tz, AFTER), utc(want), "{expr} in {tz}");
    }
}

#[test]
fn year_end_rollover_and_leap_day() {
    fires(
        "59 23 31 12 *",
        "UTC",
        "2026-12-31T23:59:00Z",
        &["2027-12-31T23:59:00Z"],
    );
    let leap_days = [
        "2028-02-29T00:00:00Z",
        "2032-02-29T00:00:00Z",
        "2036-02-29T00:00:00Z",
    ];
    fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", &leap_days);
    // AND rule, Feb 29 on a Sunday (`*/7` = 0,7): 2032; 2028-02-29 is a Tuesday.
    fires(
        "0 0 29 2 */7",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2032-02-29T00:00:00Z"],
    );
}

#[test]
fn seconds_in_after_round_up() {
    assert_eq!(
        next("* * * * *", "UTC", "2026-01-15T10:30:59Z"),
        utc("2026-01-15T10:31:00Z")
    );
    assert_eq!(
        next("31 10 * * *", "UTC", "2026-01-15T10:30:01Z"),
        utc("2026-01-15T10:31:00Z")
    );
}

#[test]
fn display_and_fixed_time() {
    let s: CronSchedule = " 0 9 * * 1-5".parse().unwrap();
    assert_eq!(s.to_string(), " 0 9 * * 1-5");
    assert_eq!(s.as_str(), " 0 9 * * 1-5");
    for fixed in [
        "30 2 * * *",
        "0 9 * * 1-5",
        "0,30 2 * * *",
        "0-59 1 * * *",
        "@daily",
    ] {
        assert!(
            CronSchedule::parse(fixed).unwrap().is_fixed_time(),
            "{fixed}"
        );
    }
    for real in [
        "*/15 * * * *",
        "0 * * * *",
        "* * * * *",
        "*/5 2 * * *",
        "@hourly",
    ] {
        assert!(
            !CronSchedule::parse(real).unwrap().is_fixed_time(),
            "{real}"
        );
    }
}

#[test]
fn parse_error_messages() {
    const FIELDS: &str = "(minute hour day-of-month month day-of-week)";
    let macros = "(expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)";
    let never = "never fires: no selected month has the selected day of month";
    #[rustfmt::skip]
    let cases: Vec<(&str, String)> = vec![
        ("", "empty cron expression".into()),
        (" \t ", "empty cron expression".into()),
        ("* * * *", format!("expected 5 fields {FIELDS}, found 4")),
        ("1 2 3 4 5 6 7 8", format!("expected 5 fields {FIELDS}, found 8")),
        ("0 * * * * *", format!("found 6 fields: seconds and year fields are not supported; use 5 fields {FIELDS}")),
        ("0 0 0 * * * 2026", format!("found 7 fields: seconds and year fields are not supported; use 5 fields {FIELDS}")),
        ("@reboot", "@reboot is not a time-based schedule".into()),
        ("@fortnightly", format!("unknown macro `@fortnightly` {macros}")),
        ("@Daily", format!("unknown macro `@Daily` {macros}")),
        ("@daily 0", "macro `@daily` must be the whole expression".into()),
        ("60 * * * *", "minute field: value 60 out of range 0-59".into()),
        ("* 24 * * *", "hour field: value 24 out of range 0-23".into()),
        ("* * 0 * *", "day-of-month field: value 0 out of range 1-31".into()),
        ("* * 32 * *", "day-of-month field: value 32 out of range 1-31".into()),
        ("* * * 13 *", "month field: value 13 out of range 1-12".into()),
        ("* * * * 8", "day-of-week field: value 8 out of range 0-7".into()),
        ("0-60 * * * *", "minute field: value 60 out of range 0-59".into()),
        ("99999999999 * * * *", "minute field: value 99999999999 out of range 0-59".into()),
        ("*/0 * * * *", "minute field: step must be at least 1 in `*/0`".into()),
        ("1-5/0 * * * *", "minute field: step must be at least 1 in `1-5/0`".into()),
        ("5-1 * * * *", "minute field: range `5-1` is reversed: 5 is after 1".into()),
        ("* * * * fri-sun", "day-of-week field: range `fri-sun` is reversed: 5 is after 0; write 7 for a Sunday that ends a range".into()),
        ("* * * foo *", "month field: unknown name `foo` (expected jan-dec)".into()),
        ("* * * * sunday", "day-of-week field: unknown name `sunday` (expected sun-sat)".into()),
        ("jan * * * *", "minute field: invalid item `jan`: expected a number".into()),
        ("* * * 1a *", "month field: invalid item `1a`: expected a number or a three-letter name".into()),
        ("1.5 * * * *", "minute field: invalid item `1.5`: expected a number".into()),
        ("1,,2 * * * *", "minute field: empty list item".into()),
        ("* 1, * * *", "hour field: empty list item".into()),
        ("5/15 * * * *", "minute field: invalid item `5/15`: a step needs `*` or a range, e.g. `0-59/15`".into()),
        ("1-2-3 * * * *", "minute field: invalid item `1-2-3`: more than one `-`".into()),
        ("*/5/2 * * * *", "minute field: invalid item `*/5/2`: more than one `/`".into()),
        ("* * * * */mon", "day-of-week field: invalid item `*/mon`: the step must be a number".into()),
        ("-5 * * * *", "minute field: invalid item `-5`: expected a number".into()),
        ("*-5 * * * *", "minute field: invalid item `*-5`: expected a number".into()),
        ("0 0 30 2 *", format!("`0 0 30 2 *` {never}")),
        ("0 0 31 4,6 *", format!("`0 0 31 4,6 *` {never}")),
        // `*/2` in day-of-week selects the AND rule, so Feb 31 itself is needed.
        ("0 0 31 2 */2", format!("`0 0 31 2 */2` {never}")),
    ];
    assert!(cases.len() >= 12);
    for (expr, want) in cases {
        let err = CronSchedule::parse(expr).unwrap_err();
        assert_eq!(err.to_string(), want, "{expr:?}");
    }
    // OR rule: Mondays in February fire although Feb 31 never exists.
    assert!(CronSchedule::parse("0 0 31 2 mon").is_ok());
    assert!(CronSchedule::parse("0 0 29 2 *").is_ok());
}

#[test]
fn parse_error_kinds() {
    let err = |expr| CronSchedule::parse(expr).unwrap_err();
    assert_eq!(err("* * * * * *"), CronError::SecondsField { found: 6 });
    assert_eq!(err("@reboot"), CronError::Reboot);
    assert!(matches!(
        err("60 * * * *"),
        CronError::OutOfRange {
            field: CronField::Minute,
            min: 0,
            max: 59,
            ..
        }
    ));
    assert!(matches!(
        err("*/0 * * * *"),
        CronError::ZeroStep {
            field: CronField::Minute,
            ..
        }
    ));
    assert!(matches!(
        err("* 5-1 * * *"),
        CronError::ReversedRange {
            field: CronField::Hour,
            ..
        }
    ));
    assert!(matches!(err("0 0 30 2 *"), CronError::NeverFires { .. }));
}

#[test]
fn timezone_parsing() {
    assert_eq!(parse_timezone("UTC").unwrap(), Tz::UTC);
    assert_eq!(parse_timezone("Europe/Berlin").unwrap(), Tz::Europe__Berlin);
    assert_eq!(parse_timezone("Asia/Kolkata").unwrap(), Tz::Asia__Kolkata);
    let unknown = parse_timezone("Mars/Olympus").unwrap_err();
    assert!(matches!(
        unknown,
        TimezoneError::Unknown {
            suggestion: None,
            ..
        }
    ));
    assert_eq!(
        unknown.to_string(),
        "unknown time zone `Mars/Olympus` (expected an IANA name such as `Europe/Berlin` or `UTC`)"
    );
    let wrong_case = parse_timezone("europe/berlin").unwrap_err();
    assert_eq!(
        wrong_case.to_string(),
        "unknown time zone `europe/berlin`; did you mean `Europe/Berlin`?"
    );
    assert_eq!(parse_timezone("").unwrap_err(), TimezoneError::Empty);
    assert_eq!(parse_timezone("  ").unwrap_err(), TimezoneError::Empty);
}
