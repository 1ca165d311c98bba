//! Dates, times and time zones. Instants are RFC 3339 strings; results are in UTC (`Z`) unless
//! a time zone is given, then in that zone's offset.

use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, SecondsFormat,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use serde_json::Value;

use super::{Builtin, Category, Library, arg, int_arg, opt_str_arg, str_arg};

pub(super) static DATES: &[Builtin] = &[
    Builtin {
        name: "now",
        category: Category::Dates,
        signature: "now() -> string",
        description: "The current instant from the run's clock, as RFC 3339 in UTC.",
        example: "now()",
        example_result: r#""2024-03-10T12:00:00Z""#,
        min_args: 0,
        max_args: 0,
        func: |library: &Library, _| Ok(utc_text(library.now().fixed_offset())),
    },
    Builtin {
        name: "parse_date",
        category: Category::Dates,
        signature: "parse_date(text, pattern?, zone?) -> string",
        description: "Parses RFC 3339, or text in a strftime `pattern` read as local time in `zone` (default UTC), into an RFC 3339 instant in UTC.",
        example: r#"parse_date("10.03.2024 14:30", "%d.%m.%Y %H:%M", "Europe/Berlin")"#,
        example_result: r#""2024-03-10T13:30:00Z""#,
        min_args: 1,
        max_args: 3,
        func: |_, args| {
            let text = str_arg(args, 0)?;
            let instant = match opt_str_arg(args, 1)? {
                None => parse_instant(text)?,
                Some(pattern) => parse_with_pattern(text, pattern, opt_zone(args, 2)?)?,
            };
            Ok(utc_text(instant))
        },
    },
    Builtin {
        name: "format_date",
        category: Category::Dates,
        signature: "format_date(instant, pattern, zone?) -> string",
        description: "Formats an instant with a strftime pattern, in `zone` (default UTC).",
        example: r#"format_date("2024-03-10T12:00:00Z", "%A %d %B %Y, %H:%M %Z", "America/New_York")"#,
        example_result: r#""Sunday 10 March 2024, 08:00 EDT""#,
        min_args: 2,
        max_args: 3,
        func: |_, args| {
            let instant = parse_instant(str_arg(args, 0)?)?;
            let pattern = str_arg(args, 1)?;
            let mut out = String::new();
            let written = match opt_zone(args, 2)? {
                Some(zone) => write!(out, "{}", instant.with_timezone(&zone).format(pattern)),
                None => write!(out, "{}", instant.with_timezone(&Utc).format(pattern)),
            };
            written.map_err(|_| format!("invalid pattern {pattern:?}"))?;
            Ok(out.into())
        },
    },
    Builtin {
        name: "date_add",
        category: Category::Dates,
        signature: "date_add(instant, amount, unit, zone?) -> string",
        description: "Adds `amount` of a unit (milliseconds, seconds, minutes, hours, days, weeks, months, years); days and longer follow the wall clock of `zone` across DST changes.",
        example: r#"date_add("2024-03-09T12:00:00-05:00", 1, "days", "America/New_York")"#,
        example_result: r#""2024-03-10T12:00:00-04:00""#,
        min_args: 3,
        max_args: 4,
        func: |_, args| add(args, 1),
    },
    Builtin {
        name: "date_sub",
        category: Category::Dates,
        signature: "date_sub(instant, amount, unit, zone?) -> string",
        description: "Subtracts `amount` of a unit, like `date_add` with the amount negated.",
        example: r#"date_sub("2024-03-31T10:00:00Z", 1, "months")"#,
        example_result: r#""2024-02-29T10:00:00Z""#,
        min_args: 3,
        max_args: 4,
        func: |_, args| add(args, -1),
    },
    Builtin {
        name: "date_diff",
        category: Category::Dates,
        signature: "date_diff(from, to, unit) -> number",
        description: "Whole units (milliseconds, seconds, minutes, hours, days, weeks) from `from` to `to`, truncated toward zero.",
        example: r#"date_diff("2024-03-01T00:00:00Z", "2024-03-10T12:00:00Z", "days")"#,
        example_result: "9",
        min_args: 3,
        max_args: 3,
        func: |_, args| {
            let from = parse_instant(str_arg(args, 0)?)?;
            let to = parse_instant(str_arg(args, 1)?)?;
            let millis = (to - from).num_milliseconds();
            let unit_millis = match str_arg(args, 2)? {
                "milliseconds" => 1,
                "seconds" => 1000,
                "minutes" => 60_000,
                "hours" => 3_600_000,
                "days" => 86_400_000,
                "weeks" => 604_800_000,
                other => return Err(format!("unknown unit {other:?}")),
            };
            Ok((millis / unit_millis).into())
        },
    },
    Builtin {
        name: "to_timezone",
        category: Category::Dates,
        signature: "to_timezone(instant, zone) -> string",
        description: "The same instant written in an IANA time zone's local time and offset.",
        example: r#"to_timezone("2024-07-01T12:00:00Z", "Europe/Paris")"#,
        example_result: r#""2024-07-01T14:00:00+02:00""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let instant = parse_instant(str_arg(args, 0)?)?;
            let zone = zone(str_arg(args, 1)?)?;
            Ok(zoned_text(instant.with_timezone(&zone).fixed_offset()))
        },
    },
    Builtin {
        name: "start_of_day",
        category: Category::Dates,
        signature: "start_of_day(instant, zone?) -> string",
        description: "The first instant of the instant's calendar day in `zone` (default UTC).",
        example: r#"start_of_day("2024-03-10T12:00:00Z", "America/New_York")"#,
        example_result: r#""2024-03-10T00:00:00-05:00""#,
        min_args: 1,
        max_args: 2,
        func: |_, args| {
            let instant = parse_instant(str_arg(args, 0)?)?;
            match opt_zone(args, 1)? {
                Some(zone) => {
                    let day = instant.with_timezone(&zone).date_naive();
                    Ok(zoned_text(local_to_instant(
                        &zone,
                        day.and_time(Default::default()),
                    )?))
                }
                None => {
                    let day = instant.with_timezone(&Utc).date_naive();
                    Ok(utc_text(
                        Utc.from_utc_datetime(&day.and_time(Default::default()))
                            .fixed_offset(),
                    ))
                }
            }
        },
    },
    Builtin {
        name: "weekday",
        category: Category::Dates,
        signature: "weekday(instant, zone?) -> string",
        description: "The English name of the instant's weekday in `zone` (default UTC).",
        example: r#"[weekday("2024-03-10T02:00:00Z"), weekday("2024-03-10T02:00:00Z", "America/Los_Angeles")]"#,
        example_result: r#"["Sunday", "Saturday"]"#,
        min_args: 1,
        max_args: 2,
        func: |_, args| {
            let instant = parse_instant(str_arg(args, 0)?)?;
            let day = match opt_zone(args, 1)? {
                Some(zone) => instant.with_timezone(&zone).weekday(),
                None => instant.with_timezone(&Utc).weekday(),
            };
            Ok(weekday_name(day).into())
        },
    },
    Builtin {
        name: "unix_seconds",
        category: Category::Dates,
        signature: "unix_seconds(instant) -> number",
        description: "Whole seconds since 1970-01-01T00:00:00Z.",
        example: r#"unix_seconds("2024-03-10T12:00:00Z")"#,
        example_result: "1710072000",
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(parse_instant(str_arg(args, 0)?)?.timestamp().into()),
    },
    Builtin {
        name: "from_unix_seconds",
        category: Category::Dates,
        signature: "from_unix_seconds(seconds) -> string",
        description: "The RFC 3339 instant in UTC for seconds since 1970-01-01T00:00:00Z.",
        example: "from_unix_seconds(0)",
        example_result: r#""1970-01-01T00:00:00Z""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let seconds = int_arg(args, 0)?;
            let instant = DateTime::from_timestamp(seconds, 0).ok_or("seconds out of range")?;
            Ok(utc_text(instant.fixed_offset()))
        },
    },
];

fn weekday_name(day: chrono::Weekday) -> &'static str {
    match day {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

fn parse_instant(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map_err(|err| format!("{text:?} is not an RFC 3339 date-time: {err}"))
}

fn zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?}"))
}

fn opt_zone(args: &[Value], index: usize) -> Result<Option<Tz>, String> {
    opt_str_arg(args, index)?.map(zone).transpose()
}

fn utc_text(instant: DateTime<FixedOffset>) -> Value {
    instant
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        .into()
}

fn zoned_text(instant: DateTime<FixedOffset>) -> Value {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true).into()
}

/// The instant of a wall-clock time in `zone`: the earlier one when the time is ambiguous (DST
/// ends), and the first valid time after the gap when it does not exist (DST starts).
fn local_to_instant(zone: &Tz, local: NaiveDateTime) -> Result<DateTime<FixedOffset>, String> {
    for minutes in (0..=180).step_by(15) {
        // At the very end of the calendar there is no later time to try.
        let Some(later) = local.checked_add_signed(Duration::minutes(minutes)) else {
            break;
        };
        if let Some(found) = zone.from_local_datetime(&later).earliest() {
            return Ok(found.fixed_offset());
        }
    }
    Err(format!("{local} does not exist in {zone}"))
}

fn parse_with_pattern(
    text: &str,
    pattern: &str,
    zone: Option<Tz>,
) -> Result<DateTime<FixedOffset>, String> {
    if let Ok(instant) = DateTime::parse_from_str(text, pattern) {
        return Ok(instant);
    }
    let local = NaiveDateTime::parse_from_str(text, pattern)
        .or_else(|_| {
            NaiveDate::parse_from_str(text, pattern).map(|date| date.and_time(Default::default()))
        })
        .map_err(|err| format!("{text:?} does not match {pattern:?}: {err}"))?;
    match zone {
        Some(zone) => local_to_instant(&zone, local),
        None => Ok(Utc.from_utc_datetime(&local).fixed_offset()),
    }
}

fn add(args: &[Value], sign: i64) -> Result<Value, String> {
    let instant = parse_instant(str_arg(args, 0)?)?;
    let amount = int_arg(args, 1)?
        .checked_mul(sign)
        .ok_or("amount out of range")?;
    let unit = str_arg(args, 2)?;
    let zone = opt_zone(args, 3)?;
    let exact = |millis: i64| -> Result<DateTime<FixedOffset>, String> {
        let delta = amount.checked_mul(millis).ok_or("amount out of range")?;
        instant
            .checked_add_signed(Duration::milliseconds(delta))
            .ok_or_else(|| "result out of range".to_owned())
    };
    let result = match unit {
        "milliseconds" => exact(1)?,
        "seconds" => exact(1000)?,
        "minutes" => exact(60_000)?,
        "hours" => exact(3_600_000)?,
        "days" | "weeks" | "months" | "years" => {
            // Calendar units move the wall clock of the zone (UTC by default), so "one day later"
            // keeps the local time across a DST change.
            let local = match zone {
                Some(zone) => instant.with_timezone(&zone).naive_local(),
                None => instant.with_timezone(&Utc).naive_local(),
            };
            let moved = match unit {
                "days" => Duration::try_days(amount).and_then(|d| local.checked_add_signed(d)),
                "weeks" => Duration::try_weeks(amount).and_then(|d| local.checked_add_signed(d)),
                _ => {
                    let months = if unit == "years" {
                        amount.checked_mul(12)
                    } else {
                        Some(amount)
                    };
                    months.and_then(|months| {
                        let count = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                        if months >= 0 {
                            local.checked_add_months(count)
                        } else {
                            local.checked_sub_months(count)
                        }
                    })
                }
            }
            .ok_or("result out of range")?;
            match zone {
                Some(zone) => local_to_instant(&zone, moved)?,
                None => Utc.from_utc_datetime(&moved).fixed_offset(),
            }
        }
        other => return Err(format!("unknown unit {other:?}")),
    };
    Ok(match (zone, arg(args, 3)) {
        (Some(_), Some(_)) => zoned_text(result),
        _ => utc_text(result),
    })
}
