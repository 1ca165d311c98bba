//! A VMS's recent log lines on a pool of engines, read through their admin APIs
//! (`GET /admin/logs/{vms}`), and its deployments' log levels: `starweave logs`,
//! `starweave log-level` and the IDE's Deploy panel share this.
//!
//! Each engine keeps its own window of the VMS's newest lines and numbers them; a reader
//! keeps a [`Cursor`] per engine and gets only what came after it. Lines of several engines
//! are merged by their timestamps and carry the engine they came from.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deploy::{Admin, EngineArgs, ask_pool, ask_pool_with, each_admin, parse_log_level};

/// Which lines to read.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Only this version's lines.
    pub version: Option<String>,
    /// Only lines at this level or worse (`error`, `warn`, `info`, `debug`, `trace`).
    pub level: Option<String>,
    /// Only lines containing this text, ignoring case.
    pub text: Option<String>,
    /// Only the lines of this trace id (the `x-starweave-trace-id` of a request, the
    /// `trace_id` of an error answer or of a log line).
    pub trace: Option<String>,
    /// Only lines logged at or after this time (RFC 3339; [`log_time`] makes one).
    pub since: Option<String>,
    /// Only lines logged at or before this time (RFC 3339).
    pub until: Option<String>,
    /// At most this many lines per engine (the engines' default, 200, when absent).
    pub limit: Option<usize>,
}

/// A `since`/`until` as the engines take it (RFC 3339, UTC, microseconds): an RFC 3339
/// time as it is, or a span back from `now` — a number and a unit, `s`, `m`, `h` or `d`,
/// several in a row (`90s`, `15m`, `1h30m`, `2d`).
pub fn log_time(text: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    let text = text.trim();
    let write =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(write(time.with_timezone(&chrono::Utc)));
    }
    let refused = || {
        anyhow::anyhow!(
            "`{text}` is neither a time (2026-12-07T10:00:00Z) nor a span back from now (30s, 15m, 2h, 1d, 1h30m)"
        )
    };
    let mut seconds: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(refused()),
        };
        let count: i64 = digits.parse().map_err(|_| refused())?;
        digits.clear();
        seconds = count
            .checked_mul(unit)
            .and_then(|s| seconds.checked_add(s))
            .ok_or_else(refused)?;
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(refused());
    }
    let span = chrono::TimeDelta::try_seconds(seconds).ok_or_else(refused)?;
    now.checked_sub_signed(span).map(write).ok_or_else(refused)
}

impl Filters {
    /// These filters with `since` and `until` given in any of [`log_time`]'s forms turned
    /// into the RFC 3339 times the engines take, then [checked](Self::check).
    pub fn resolved(mut self, now: chrono::DateTime<chrono::Utc>) -> Result<Self> {
        for time in [&mut self.since, &mut self.until] {
            if let Some(text) = time.take() {
                *time = Some(log_time(&text, now)?);
            }
        }
        self.check()?;
        Ok(self)
    }

    /// Checks the level before any engine is asked.
    pub fn check(&self) -> Result<()> {
        if let Some(level) = &self.level {
            parse_log_level(level)?;
        }
        if let Some(version) = &self.version {
            starweave_engine::server::registry::check_version(version)
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        if let Some(limit) = self.limit
            && !(1..=2000).contains(&limit)
        {
            bail!("the limit must be between 1 and 2000");
        }
        if let Some(trace) = &self.trace
            && !(trace.len() <= 64
                && trace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            bail!("a trace id is at most 64 letters, digits and `-`");
        }
        let mut times = [None, None];
        for (slot, (name, time)) in times
            .iter_mut()
            .zip([("since", &self.since), ("until", &self.until)])
        {
            if let Some(time) = time {
                *slot = Some(chrono::DateTime::parse_from_rfc3339(time).map_err(|err| {
                    anyhow::anyhow!("{name} `{time}` is not an RFC 3339 time: {err}")
                })?);
            }
        }
        if let [Some(since), Some(until)] = times
            && until < since
        {
            bail!("until is before since");
        }
        Ok(())
    }
}

/// Where a reader is in one engine's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The engine's ring (a new one after a restart or a reload of the VMS).
    pub ring: u64,
    /// The last line read.
    pub next: u64,
}

/// What one read of the pool gave.
#[derive(Debug, Default, Serialize)]
pub struct PoolLogs {
    /// The lines, oldest first, each with its `engine`.
    pub lines: Vec<Value>,
    /// Where to read on from, per engine (one that did not answer keeps the cursor it was
    /// asked with).
    pub cursors: BTreeMap<String, Cursor>,
    /// Lines each engine dropped before they were read (its window was full), when any.
    pub missed: BTreeMap<String, u64>,
    /// Engines that could not be asked, with why (an engine with no version of the VMS
    /// loaded is not one of them: it has no lines).
    pub failed: Vec<(String, String)>,
}

/// The admin path of one read.
fn path(vms: &str, filters: &Filters, cursor: Option<&Cursor>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(cursor) = cursor {
        query.append_pair("after", &cursor.next.to_string());
        query.append_pair("ring", &cursor.ring.to_string());
    }
    if let Some(version) = &filters.version {
        query.append_pair("version", version);
    }
    if let Some(level) = &filters.level {
        query.append_pair("level", level);
    }
    if let Some(text) = filters.text.as_deref().filter(|t| !t.is_empty()) {
        query.append_pair("q", text);
    }
    for (name, value) in [
        ("trace", &filters.trace),
        ("since", &filters.since),
        ("until", &filters.until),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            query.append_pair(name, value);
        }
    }
    if let Some(limit) = filters.limit {
        query.append_pair("limit", &limit.to_string());
    }
    let query = query.finish();
    let vms: String = url::form_urlencoded::byte_serialize(vms.as_bytes()).collect();
    if query.is_empty() {
        format!("/admin/logs/{vms}")
    } else {
        format!("/admin/logs/{vms}?{query}")
    }
}

/// Reads `vms`'s lines from every engine: the newest ones of an engine without a cursor,
/// else what came after it.
pub fn read_pool(
    admins: &[Admin],
    vms: &str,
    filters: &Filters,
    cursors: &BTreeMap<String, Cursor>,
) -> PoolLogs {
    // An engine that does not answer this time keeps its cursor: read without one next time,
    // it would send its newest lines again, some already shown, and skip those before.
    let mut logs = PoolLogs {
        cursors: cursors.clone(),
        ..PoolLogs::default()
    };
    // Every engine at once: one that does not answer holds up none of the others.
    let reads = each_admin(admins, |admin| {
        let asked = path(vms, filters, cursors.get(admin.name()));
        ask_pool(
            std::slice::from_ref(admin),
            reqwest::Method::GET,
            &asked,
            true,
        )
    });
    for (_, pool) in reads {
        for (admin, body) in pool.answered {
            let Some(body) = body else {
                continue;
            };
            if let (Some(ring), Some(next)) = (body["ring"].as_u64(), body["next"].as_u64()) {
                logs.cursors
                    .insert(admin.name().to_owned(), Cursor { ring, next });
            }
            if let Some(missed) = body["missed"].as_u64().filter(|m| *m > 0) {
                logs.missed.insert(admin.name().to_owned(), missed);
            }
            for mut line in body["lines"].as_array().cloned().unwrap_or_default() {
                line["engine"] = json!(admin.name());
                logs.lines.push(line);
            }
        }
        logs.failed.extend(
            pool.failed
                .into_iter()
                .map(|(admin, why)| (admin.name().to_owned(), why)),
        );
    }
    // RFC 3339 timestamps of one width sort as text; lines of one engine keep their order.
    logs.lines
        .sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    logs
}

/// `starweave logs`.
#[derive(Debug, Clone)]
pub struct LogsArgs {
    /// The VMS.
    pub vms: String,
    /// What to read; `since` and `until` as the user gave them ([`log_time`]'s forms).
    pub filters: Filters,
    /// Keep reading new lines until interrupted.
    pub follow: bool,
    /// One JSON object per line instead of text.
    pub json: bool,
}

/// Runs `starweave logs`: the VMS's recent lines on every engine given, merged by time.
pub fn cmd_logs(engine: &EngineArgs, args: &LogsArgs) -> Result<ExitCode> {
    let filters = args.filters.clone().resolved(chrono::Utc::now())?;
    let admins = Admin::all(engine)?;
    let pool = admins.len() > 1;
    let mut cursors = BTreeMap::new();
    loop {
        let read = read_pool(&admins, &args.vms, &filters, &cursors);
        // Following, an engine restarting or redeploying is a blip: say so and read on.
        let following = args.follow && !cursors.is_empty();
        if read.failed.len() == admins.len() && !following {
            let reasons: Vec<&str> = read.failed.iter().map(|(_, why)| why.as_str()).collect();
            bail!("{}", reasons.join("; "));
        }
        for (_, why) in &read.failed {
            eprintln!("starweave: {why}");
        }
        if read.cursors.is_empty() && !args.follow {
            bail!(
                "no engine has a version of {} loaded (`starweave deployments` lists what they host)",
                args.vms
            );
        }
        for (engine, missed) in &read.missed {
            if !cursors.is_empty() {
                eprintln!("starweave: {engine} dropped {missed} lines before they were read");
            }
        }
        let mut out = std::io::stdout().lock();
        for line in &read.lines {
            if args.json {
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}", human(line, pool))?;
            }
        }
        out.flush()?;
        if !args.follow {
            return Ok(if read.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        cursors.extend(read.cursors);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `2026-12-07T06:40:01.123456Z WARN  3f2a9c1 buildDashboard: orders unavailable status=503`:
/// the time, the level, the version, the function, the message and the other fields.
pub fn human(line: &Value, with_engine: bool) -> String {
    let text = |key: &str| line[key].as_str().unwrap_or_default();
    let mut out = format!("{} {:<5}", text("timestamp"), text("level"));
    if with_engine {
        out.push(' ');
        out.push_str(text("engine"));
    }
    if !text("version").is_empty() {
        out.push(' ');
        out.push_str(text("version"));
    }
    out.push(' ');
    if !text("function").is_empty() {
        out.push_str(text("function"));
        out.push_str(": ");
    }
    out.push_str(text("message"));
    const SHOWN: [&str; 9] = [
        "seq",
        "timestamp",
        "level",
        "engine",
        "vms",
        "version",
        "function",
        "message",
        "target",
    ];
    if let Value::Object(fields) = line {
        for (key, value) in fields {
            if SHOWN.contains(&key.as_str()) {
                continue;
            }
            match value {
                Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => {
                    out.push_str(&format!(" {key}={s}"));
                }
                other => out.push_str(&format!(" {key}={other}")),
            }
        }
    }
    out
}

/// Runs `starweave log-level`: sets a deployment's log level on every engine given.
pub fn cmd_log_level(
    engine: &EngineArgs,
    vms: &str,
    version: &str,
    level: &str,
) -> Result<ExitCode> {
    parse_log_level(level)?;
    let admins = Admin::all(engine)?;
    let outcomes = set_level(&admins, vms, version, level);
    let mut code = ExitCode::SUCCESS;
    for (engine, outcome) in outcomes {
        match outcome {
            LevelOutcome::Set => println!("{vms} {version} logs at {level} on {engine}"),
            LevelOutcome::Absent => {
                eprintln!("starweave: {engine} has no {vms} {version} loaded");
                code = ExitCode::FAILURE;
            }
            LevelOutcome::Failed(why) => {
                eprintln!("starweave: {why}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

/// What one engine did with a log level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelOutcome {
    /// Set.
    Set,
    /// The engine does not have that version loaded.
    Absent,
    /// It could not be asked, or refused; why.
    Failed(String),
}

/// Sets `vms` `version`'s log level on every engine, in order; the outcome per engine.
pub fn set_level(
    admins: &[Admin],
    vms: &str,
    version: &str,
    level: &str,
) -> Vec<(String, LevelOutcome)> {
    let path = format!("/admin/deployments/{vms}/{version}/log-level");
    let pool = ask_pool_with(
        admins,
        reqwest::Method::PUT,
        &path,
        Some(json!({ "level": level })),
        true,
    );
    let mut outcomes: Vec<(String, LevelOutcome)> = pool
        .answered
        .into_iter()
        .map(|(admin, body)| {
            let outcome = match body {
                Some(_) => LevelOutcome::Set,
                None => LevelOutcome::Absent,
            };
            (admin.name().to_owned(), outcome)
        })
        .chain(
            pool.failed
                .into_iter()
                .map(|(admin, why)| (admin.name().to_owned(), LevelOutcome::Failed(why))),
        )
        .collect();
    // In the order the engines were given.
    outcomes.sort_by_key(|(name, _)| admins.iter().position(|a| a.name() == name));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_that_does_not_answer_keeps_its_cursor() {
        // Nothing listens on port 1 of loopback: the read fails at once.
        let admins = [Admin::new("http://127.0.0.1:1", "token").expect("admin")];
        let cursors = BTreeMap::from([(
            "http://127.0.0.1:1".to_owned(),
            Cursor { ring: 3, next: 99 },
        )]);
        let read = read_pool(&admins, "shop", &Filters::default(), &cursors);
        assert_eq!(read.failed.len(), 1);
        assert_eq!(read.cursors, cursors);
    }

    #[test]
    fn reads_are_encoded_into_the_admin_path() {
        let filters = Filters {
            version: Some("1.2".into()),
            level: Some("warn".into()),
            text: Some("a&b=c ü".into()),
            limit: Some(50),
            ..Filters::default()
        };
        assert_eq!(
            path("shop", &filters, Some(&Cursor { ring: 7, next: 42 })),
            "/admin/logs/shop?after=42&ring=7&version=1.2&level=warn&q=a%26b%3Dc+%C3%BC&limit=50"
        );
        let timed = Filters {
            trace: Some("abc-1".into()),
            since: Some("2026-12-07T10:00:00+01:00".into()),
            until: Some("2026-12-07T10:05:00Z".into()),
            ..Filters::default()
        };
        assert_eq!(
            path("shop", &timed, None),
            "/admin/logs/shop?trace=abc-1&since=2026-12-07T10%3A00%3A00%2B01%3A00&until=2026-12-07T10%3A05%3A00Z"
        );
        assert_eq!(path("shop", &Filters::default(), None), "/admin/logs/shop");
    }

    #[test]
    fn bad_filters_are_refused_before_any_engine_is_asked() {
        for filters in [
            Filters {
                level: Some("loud".into()),
                ..Filters::default()
            },
            Filters {
                version: Some("../x".into()),
                ..Filters::default()
            },
            Filters {
                limit: Some(0),
                ..Filters::default()
            },
            Filters {
                trace: Some("a b".into()),
                ..Filters::default()
            },
            Filters {
                since: Some("15m".into()),
                ..Filters::default()
            },
            Filters {
                since: Some("2026-12-07T10:00:00Z".into()),
                until: Some("2026-12-07T09:00:00Z".into()),
                ..Filters::default()
            },
        ] {
            assert!(filters.check().is_err(), "{filters:?}");
        }
    }

    #[test]
    fn times_are_absolute_or_spans_back_from_now() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for (text, expected) in [
            ("15m", "2026-12-07T09:45:00.000000Z"),
            ("1h30m", "2026-12-07T08:30:00.000000Z"),
            ("90s", "2026-12-07T09:58:30.000000Z"),
            ("2d", "2026-12-05T10:00:00.000000Z"),
            ("2026-12-07T11:00:00+02:00", "2026-12-07T09:00:00.000000Z"),
            (" 2026-12-07T09:00:00.5Z ", "2026-12-07T09:00:00.500000Z"),
        ] {
            assert_eq!(log_time(text, now).unwrap(), expected, "{text}");
        }
        for bad in [
            "",
            "15",
            "m",
            "15x",
            "yesterday",
            "-5m",
            "99999999999999999d",
        ] {
            let err = log_time(bad, now).unwrap_err().to_string();
            assert!(err.contains("span back from now"), "{bad}: {err}");
        }
        let filters = Filters {
            since: Some(log_time("1h", now).unwrap()),
            until: Some(log_time("5m", now).unwrap()),
            ..Filters::default()
        };
        filters.check().unwrap();
    }

    #[test]
    fn a_line_reads_as_time_level_version_function_message_and_the_rest() {
        let line = json!({
            "seq": 3, "timestamp": "2026-12-07T06:40:01.123456Z", "level": "WARN",
            "message": "orders unavailable", "vms": "shop", "version": "v2",
            "function": "buildDashboard", "trace_id": "abc", "status": 503,
            "note": "two words", "target": "vms", "engine": "http://e1:8081"
        });
        assert_eq!(
            human(&line, false),
            "2026-12-07T06:40:01.123456Z WARN  v2 buildDashboard: orders unavailable trace_id=abc status=503 note=\"two words\""
        );
        assert!(human(&line, true).contains("WARN  http://e1:8081 v2 "));
    }
}
