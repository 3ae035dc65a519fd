//! Next fire times for AWS's documented examples, `L`/`W`/`#`, daylight-saving changes in
//! America/New_York and Europe/Berlin, and invalid expressions with their messages.

use std::time::Instant;

use super::{ScheduleExpression, TimeZone};

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_millisecond()
}

fn text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// The next `n` fire times after `after`, in `zone`, as UTC RFC 3339.
fn next_n(expression: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
    let e = ScheduleExpression::parse(expression).unwrap_or_else(|e| panic!("{e}"));
    let tz = TimeZone::parse(zone).unwrap();
    let mut t = ms(after);
    let mut out = Vec::new();
    for _ in 0..n {
        match e.next_after(t, &tz, 0) {
            Some(next) => {
                assert!(next > t);
                out.push(text(next));
                t = next;
            }
            None => break,
        }
    }
    out
}

#[test]
fn documented_cron_examples() {
    let cases: [(&str, &str, &[&str]); 9] = [
        // 10:15 AM UTC every day.
        (
            "cron(15 10 * * ? *)",
            "2026-01-01T11:00:00Z",
            &["2026-01-02T10:15:00Z", "2026-01-03T10:15:00Z"],
        ),
        // 6:00 PM Monday through Friday (2026-01-02 is a Friday).
        (
            "cron(0 18 ? * MON-FRI *)",
            "2026-01-02T18:00:00Z",
            &["2026-01-05T18:00:00Z", "2026-01-06T18:00:00Z"],
        ),
        // 8:00 AM on the first day of the month.
        (
            "cron(0 8 1 * ? *)",
            "2026-01-01T08:00:00Z",
            &["2026-02-01T08:00:00Z", "2026-03-01T08:00:00Z"],
        ),
        // Every 10 minutes on weekdays.
        (
            "cron(0/10 * ? * MON-FRI *)",
            "2026-01-02T23:55:00Z",
            &["2026-01-05T00:00:00Z", "2026-01-05T00:10:00Z"],
        ),
        // Every 5 minutes between 8:00 AM and 5:55 PM weekdays.
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2026-01-05T17:54:59Z",
            &["2026-01-05T17:55:00Z", "2026-01-06T08:00:00Z"],
        ),
        // 9 AM on the first Monday of each month.
        (
            "cron(0 9 ? * 2#1 *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-05T09:00:00Z", "2026-02-02T09:00:00Z"],
        ),
        // Every 15 minutes; names and numbers are alike (1 = SUN).
        (
            "cron(0/15 * * * ? *)",
            "2026-01-01T00:07:30Z",
            &["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"],
        ),
        (
            "cron(0 12 ? * 1 *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"],
        ),
        (
            "cron(0 12 ? * SUN,sat *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z"],
        ),
    ];
    for (expression, after, want) in cases {
        assert_eq!(
            next_n(expression, "UTC", after, want.len()),
            want,
            "{expression}"
        );
    }
}

#[test]
fn last_weekday_and_nth() {
    let cases: [(&str, &str, &[&str]); 9] = [
        // Last day of the month.
        (
            "cron(0 0 L * ? *)",
            "2026-01-15T00:00:00Z",
            &[
                "2026-01-31T00:00:00Z",
                "2026-02-28T00:00:00Z",
                "2026-03-31T00:00:00Z",
            ],
        ),
        (
            "cron(0 0 L 2 ? *)",
            "2027-03-01T00:00:00Z",
            &["2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"],
        ),
        // Last weekday: 2026-01-31 is a Saturday, 2026-05-31 a Sunday.
        (
            "cron(0 0 LW * ? *)",
            "2026-01-15T00:00:00Z",
            &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"],
        ),
        (
            "cron(0 0 LW 5 ? 2026)",
            "2026-01-01T00:00:00Z",
            &["2026-05-29T00:00:00Z"],
        ),
        // Weekday nearest the 3rd: 2026-01-03 is a Saturday → Friday 2nd; 2026-05-03 a
        // Sunday → Monday 4th.
        (
            "cron(0 0 3W 1,5 ? 2026)",
            "2026-01-01T00:00:00Z",
            &["2026-01-02T00:00:00Z", "2026-05-04T00:00:00Z"],
        ),
        // 1W on a Saturday does not leave the month: Monday the 3rd (2026-08-01 is a Saturday).
        (
            "cron(0 0 1W 8 ? 2026)",
            "2026-01-01T00:00:00Z",
            &["2026-08-03T00:00:00Z"],
        ),
        // Last Friday of the month.
        (
            "cron(0 0 ? * 6L *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"],
        ),
        // The fifth Thursday exists only in some months.
        (
            "cron(0 0 ? * THU#5 2026)",
            "2026-01-01T00:00:00Z",
            &["2026-01-29T00:00:00Z", "2026-04-30T00:00:00Z"],
        ),
        // L alone in day-of-week is Saturday.
        (
            "cron(0 0 ? * L *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-03T00:00:00Z"],
        ),
    ];
    for (expression, after, want) in cases {
        assert_eq!(
            next_n(expression, "UTC", after, want.len()),
            want,
            "{expression}"
        );
    }
}

#[test]
fn crons_that_never_fire_return_none_quickly() {
    let started = Instant::now();
    for expression in [
        "cron(0 0 31 2 ? *)",
        "cron(0 0 30 2 ? *)",
        "cron(0 0 ? 2 MON#5 2026)",
        "cron(0 0 * * ? 1970)",
        "cron(0 0 * * ? 2199)",
    ] {
        let e = ScheduleExpression::parse(expression).unwrap();
        assert_eq!(
            e.next_after(ms("2200-01-01T00:00:00Z"), &TimeZone::utc(), 0),
            None
        );
        if !expression.ends_with("2199)") {
            assert_eq!(
                e.next_after(ms("2026-06-01T00:00:00Z"), &TimeZone::utc(), 0),
                None,
                "{expression}"
            );
        }
    }
    assert!(
        started.elapsed().as_secs() < 2,
        "took {:?}",
        started.elapsed()
    );
    let last = ScheduleExpression::parse("cron(59 23 31 12 ? 2199)").unwrap();
    assert_eq!(
        last.next_after(ms("2026-06-01T00:00:00Z"), &TimeZone::utc(), 0)
            .map(text),
        Some("2199-12-31T23:59:00Z".into())
    );
}

#[test]
fn extreme_timestamps_do_not_panic() {
    let tz = TimeZone::parse("Europe/Berlin").unwrap();
    for expression in [
        "cron(* * * * ? *)",
        "rate(1 minute)",
        "at(2026-01-01T00:00:00)",
    ] {
        let e = ScheduleExpression::parse(expression).unwrap();
        for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            for anchor in [i64::MIN, 0, i64::MAX] {
                let _ = e.next_after(t, &tz, anchor);
            }
        }
    }
    // Before 1970 the first fire time is in 1970.
    let e = ScheduleExpression::parse("cron(0 0 1 1 ? *)").unwrap();
    assert_eq!(
        e.next_after(ms("1900-05-01T00:00:00Z"), &TimeZone::utc(), 0)
            .map(text),
        Some("1970-01-01T00:00:00Z".into())
    );
}

#[test]
fn new_york_daylight_saving() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day.
    assert_eq!(
        next_n(
            "cron(30 2 * * ? *)",
            "America/New_York",
            "2026-03-07T08:00:00Z",
            2
        ),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    // Hourly across the gap: 01:00 EST, then 03:00 EDT.
    assert_eq!(
        next_n(
            "cron(0 * * * ? *)",
            "America/New_York",
            "2026-03-08T05:30:00Z",
            2
        ),
        ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"]
    );
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice and fires once.
    assert_eq!(
        next_n(
            "cron(30 1 * * ? *)",
            "America/New_York",
            "2026-10-31T12:00:00Z",
            3
        ),
        [
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
            "2026-11-03T06:30:00Z"
        ]
    );
    // Every 30 minutes: the repeated hour does not fire again.
    assert_eq!(
        next_n(
            "cron(0/30 * * * ? *)",
            "America/New_York",
            "2026-11-01T05:00:00Z",
            3
        ),
        [
            "2026-11-01T05:30:00Z",
            "2026-11-01T07:00:00Z",
            "2026-11-01T07:30:00Z"
        ]
    );
    // From inside the repeated hour (01:10 EST), the next is 02:00 EST.
    assert_eq!(
        next_n(
            "cron(0/30 * * * ? *)",
            "America/New_York",
            "2026-11-01T06:10:00Z",
            1
        ),
        ["2026-11-01T07:00:00Z"]
    );
    // 9 AM local stays 9 AM local across the change.
    assert_eq!(
        next_n(
            "cron(0 9 * * ? *)",
            "America/New_York",
            "2026-03-07T15:00:00Z",
            2
        ),
        ["2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"]
    );
}

#[test]
fn berlin_daylight_saving() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST.
    assert_eq!(
        next_n(
            "cron(30 2 * * ? *)",
            "Europe/Berlin",
            "2026-03-28T12:00:00Z",
            2
        ),
        ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
    );
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 fires once, at 02:30 CEST.
    assert_eq!(
        next_n(
            "cron(30 2 * * ? *)",
            "Europe/Berlin",
            "2026-10-24T12:00:00Z",
            2
        ),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    // at() in the gap is moved forward by the gap's length (02:30 → 03:30 CEST).
    let at = ScheduleExpression::parse("at(2026-03-29T02:30:00)").unwrap();
    let berlin = TimeZone::parse("Europe/Berlin").unwrap();
    assert_eq!(
        at.next_after(0, &berlin, 0).map(text),
        Some("2026-03-29T01:30:00Z".into())
    );
    // at() in the repeated hour fires at the first.
    let at = ScheduleExpression::parse("at(2026-10-25T02:30:00)").unwrap();
    assert_eq!(
        at.next_after(0, &berlin, 0).map(text),
        Some("2026-10-25T00:30:00Z".into())
    );
}

#[test]
fn rate_and_at() {
    let five = ScheduleExpression::parse("rate(5 minutes)").unwrap();
    assert!(five.is_recurring());
    let anchor = ms("2026-01-01T00:00:00Z");
    let tz = TimeZone::utc();
    assert_eq!(
        five.next_after(anchor, &tz, anchor).map(text),
        Some("2026-01-01T00:05:00Z".into())
    );
    assert_eq!(
        five.next_after(anchor - 1_000_000, &tz, anchor).map(text),
        Some("2026-01-01T00:05:00Z".into())
    );
    assert_eq!(
        five.next_after(ms("2026-01-01T00:05:00Z"), &tz, anchor)
            .map(text),
        Some("2026-01-01T00:10:00Z".into())
    );
    assert_eq!(
        five.next_after(ms("2026-01-01T00:07:31Z"), &tz, anchor)
            .map(text),
        Some("2026-01-01T00:10:00Z".into())
    );
    // A rate ignores daylight saving: every 24 hours in absolute time.
    let day = ScheduleExpression::parse("rate(1 day)").unwrap();
    let ny = TimeZone::parse("America/New_York").unwrap();
    let a = ms("2026-03-07T12:00:00Z");
    assert_eq!(
        day.next_after(a, &ny, a).map(text),
        Some("2026-03-08T12:00:00Z".into())
    );
    for ok in [
        "rate(1 minute)",
        "rate(2 hours)",
        "rate(1 hour)",
        "rate(30 days)",
    ] {
        assert!(ScheduleExpression::parse(ok).is_ok(), "{ok}");
    }

    let at = ScheduleExpression::parse("at(2026-12-01T09:00:00)").unwrap();
    assert!(!at.is_recurring());
    let paris = TimeZone::parse("Europe/Paris").unwrap();
    assert_eq!(
        at.next_after(0, &paris, 0).map(text),
        Some("2026-12-01T08:00:00Z".into())
    );
    assert_eq!(at.next_after(ms("2026-12-01T08:00:00Z"), &paris, 0), None);
    assert_eq!(
        at.next_after(0, &tz, 0).map(text),
        Some("2026-12-01T09:00:00Z".into())
    );
}

#[test]
fn time_zones() {
    assert_eq!(TimeZone::utc().name(), "UTC");
    assert_eq!(
        TimeZone::parse("Europe/Berlin").unwrap().name(),
        "Europe/Berlin"
    );
    assert_eq!(
        TimeZone::parse("Europe/Berlin").unwrap(),
        TimeZone::parse("Europe/Berlin").unwrap()
    );
    let e = TimeZone::parse("Mars/Olympus").unwrap_err();
    assert!(e.to_string().contains("unknown time zone"), "{e}");
    assert!(TimeZone::parse("").is_err());
    assert!(TimeZone::parse("../../etc/passwd").is_err());
}

#[test]
fn invalid_expressions_say_why() {
    let cases = [
        ("every 5 minutes", "expected rate(value unit), cron("),
        ("rate(0 minutes)", "at least 1"),
        (
            "rate(1 minutes)",
            "a value of 1 takes the singular unit: rate(1 minute)",
        ),
        (
            "rate(5 minute)",
            "a value above 1 takes the plural unit: rate(5 minutes)",
        ),
        ("rate(5 weeks)", "a rate is rate(value unit)"),
        ("rate(-5 minutes)", "a rate is rate(value unit)"),
        ("rate(99999999999999 days)", "a rate is rate(value unit)"),
        ("rate(5  minutes)", "a rate is rate(value unit)"),
        ("cron(0 12 * * *)", "six fields"),
        (
            "cron(0 12 * * * *)",
            "one of day-of-month and day-of-week must be '?'",
        ),
        (
            "cron(0 12 ? * ? *)",
            "only one of day-of-month and day-of-week may be '?'",
        ),
        ("cron(60 12 * * ? *)", "minutes: '60' is outside 0-59"),
        ("cron(0 24 * * ? *)", "hours: '24' is outside 0-23"),
        ("cron(0 0 32 * ? *)", "day-of-month: '32' is outside 1-31"),
        ("cron(0 0 * 13 ? *)", "month: '13' is outside 1-12"),
        ("cron(0 0 * FOO ? *)", "month: 'FOO' is not valid"),
        ("cron(0 0 ? * 8 *)", "day-of-week: '8' is outside 1-7"),
        ("cron(0 0 ? * MON#6 *)", "the week after '#' must be 1-5"),
        ("cron(0 0 * * ? 1969)", "year: '1969' is outside 1970-2199"),
        ("cron(0 0 * * ? 2200)", "year: '2200' is outside 1970-2199"),
        ("cron(0/0 0 * * ? *)", "minutes: '0/0' is not valid"),
        ("cron(5-1 0 * * ? *)", "the range '5-1' runs backwards"),
        ("cron(0 0 32W * ? *)", "nW needs a day 1-31"),
        ("at(2026-13-01T09:00:00)", "not a valid date and time"),
        ("at(2026-12-01 09:00:00)", "yyyy-mm-ddThh:mm:ss"),
        ("at(2026-02-30T09:00:00)", "not a valid date and time"),
    ];
    for (expression, want) in cases {
        let e = ScheduleExpression::parse(expression).unwrap_err();
        assert!(e.to_string().contains(want), "{expression}: {e}");
        assert_eq!(e.expression, expression);
    }
    let long = format!("cron({})", "1,".repeat(300));
    assert!(
        ScheduleExpression::parse(&long)
            .unwrap_err()
            .message
            .contains("longer than 256")
    );
}
