//! Cron triggers: call a function on a schedule, read in a time zone.
//!
//! The schedule is a cron expression (5 fields, or 6 with seconds first) evaluated in the
//! trigger's IANA time zone (UTC when absent), so `0 0 2 * * *` in `Europe/Paris` fires at
//! 02:00 Paris time across daylight-saving changes. A fixed time that a change skips runs at
//! the first instant after the gap (`30 2 * * *` in Paris runs at 03:00 CEST on 31 March
//! 2024), and a fixed time that a change repeats runs once, at its first occurrence (02:30
//! CEST on 27 October 2024, not again at 02:30 CET). Time comes from an injected
//! [`CronClock`]; the loop itself ([`run_schedule`]) only sleeps on tokio timers, so tests
//! run it on paused tokio time, deterministically.
//!
//! **Overlap.** Without `allow_overlap`, a time that comes while the previous run is still
//! going is *missed*; so are times skipped over when the clock jumps (a suspended machine).
//! **Missed runs** then follow the trigger's policy once the run in progress ends: `skip`
//! forgets them, `run-once` runs once right away, `catch-up` runs once per missed time, in
//! order. With `allow_overlap` every time starts its run at once.
//!
//! Missed times are only known while the engine runs the VMS: the engine keeps no schedule
//! state across restarts.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::Value;
use starweave_model::vms::trigger::{CronTrigger, MissedRunPolicy};

use crate::server::registry::{Deployment, InvokeError, Origin};

/// Where a cron loop gets the time and how it waits.
pub trait CronClock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemCronClock;

impl CronClock for SystemCronClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a fixed time and advances with tokio's clock (so pausing and
/// advancing tokio time moves it): for tests.
#[derive(Debug, Clone)]
pub struct TokioCronClock {
    start: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioCronClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        TokioCronClock {
            start,
            started: tokio::time::Instant::now(),
        }
    }
}

impl CronClock for TokioCronClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        self.start + elapsed
    }
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
    /// Start a run even while the previous one goes on.
    pub allow_overlap: bool,
    /// What to do about missed times.
    pub missed_runs: MissedRunPolicy,
}

impl Schedule {
    /// Parses a trigger's schedule and time zone; an error says what is wrong.
    pub fn new(trigger: &CronTrigger) -> Result<Schedule, String> {
        let cron: Cron = trigger.schedule.parse().map_err(|err| {
            format!(
                "the schedule `{}` is not a cron expression: {err}",
                trigger.schedule
            )
        })?;
        let zone = match &trigger.timezone {
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("`{name}` is not an IANA time zone"))?,
            None => Tz::UTC,
        };
        Ok(Schedule {
            cron,
            zone,
            allow_overlap: trigger.allow_overlap,
            missed_runs: trigger.missed_runs,
        })
    }

    /// The first time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A run started by the loop, for a scheduled time.
pub type Runner =
    Arc<dyn Fn(DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs `schedule` forever (until the task is aborted), calling `runner` with each time.
pub async fn run_schedule(schedule: Schedule, clock: Arc<dyn CronClock>, runner: Runner) {
    let Some(mut next) = schedule.next_after(clock.now()) else {
        return;
    };
    let mut missed: VecDeque<DateTime<Utc>> = VecDeque::new();
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let wait = (next - clock.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                let now = clock.now();
                if now < next {
                    // Woken early (clock adjustments): wait again.
                    continue;
                }
                // Every time up to now is due; all but the last were skipped over.
                let mut due = vec![next];
                loop {
                    match schedule.next_after(*due.last().unwrap_or(&next)) {
                        Some(t) if t <= now => due.push(t),
                        Some(t) => {
                            next = t;
                            break;
                        }
                        None => return,
                    }
                }
                let on_time = due.pop().unwrap_or(now);
                missed.extend(due);
                if schedule.allow_overlap {
                    for time in take_missed(&mut missed, schedule.missed_runs, now) {
                        tokio::spawn(runner(time));
                    }
                    tokio::spawn(runner(on_time));
                } else if running.as_ref().is_some_and(|r| !r.is_finished()) {
                    missed.push_back(on_time);
                } else {
                    missed.extend(Some(on_time));
                    // Run the oldest time first when catching up, else the one on time.
                    let first = match schedule.missed_runs {
                        MissedRunPolicy::CatchUp => missed.pop_front().unwrap_or(on_time),
                        _ => missed.pop_back().unwrap_or(on_time),
                    };
                    if schedule.missed_runs != MissedRunPolicy::CatchUp {
                        // The on-time run covers what a run-once would have done.
                        missed.clear();
                    }
                    running = Some(tokio::spawn(runner(first)));
                }
            }
            _ = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                let now = clock.now();
                if let Some(time) = take_missed(&mut missed, schedule.missed_runs, now).into_iter().next() {
                    running = Some(tokio::spawn(runner(time)));
                }
            }
        }
    }
}

/// The runs to start now for the missed times, per policy (catch-up: one at a time).
fn take_missed(
    missed: &mut VecDeque<DateTime<Utc>>,
    policy: MissedRunPolicy,
    now: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    if missed.is_empty() {
        return Vec::new();
    }
    match policy {
        MissedRunPolicy::Skip => {
            missed.clear();
            Vec::new()
        }
        MissedRunPolicy::RunOnce => {
            missed.clear();
            vec![now]
        }
        MissedRunPolicy::CatchUp => missed.pop_front().into_iter().collect(),
    }
}

/// Starts a deployment's cron trigger on the system clock; the task stops with the deployment.
pub fn start(deployment: &Arc<Deployment>, trigger: &CronTrigger) -> Result<(), String> {
    let schedule = Schedule::new(trigger)?;
    let input = trigger
        .input
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let function = trigger.function.clone();
    let weak = Arc::downgrade(deployment);
    let runner: Runner = Arc::new(move |time| {
        let weak = weak.clone();
        let function = function.clone();
        let input = input.clone();
        Box::pin(async move {
            // A weak reference: a running schedule never keeps an unloaded deployment alive.
            let Some(deployment) = weak.upgrade() else {
                return;
            };
            let trace_id = uuid::Uuid::new_v4().simple().to_string();
            let started = std::time::Instant::now();
            let origin = Origin {
                trigger: "cron",
                trace_id: &trace_id,
            };
            let result = deployment.invoke(&function, input, None, origin).await;
            let elapsed = started.elapsed();
            let outcome = if result.is_ok() { "ok" } else { "error" };
            if let Some(metrics) = deployment.metrics.get(&function) {
                metrics.record("cron", outcome, Some(elapsed));
            }
            let (vms, version, scheduled) =
                (&deployment.vms, &deployment.version, time.to_rfc3339());
            let duration_ms = elapsed.as_secs_f64() * 1000.0;
            match result {
                Ok(_) => {
                    if deployment.logs(crate::server::registry::LogLevel::Info) {
                        tracing::info!(
                            vms,
                            version,
                            function,
                            trigger = "cron",
                            trace_id,
                            scheduled,
                            duration_ms,
                            "scheduled run"
                        );
                    }
                }
                Err(error) => {
                    let error = match error {
                        InvokeError::Run(e) => e.to_string(),
                        InvokeError::Panicked(m) => format!("panic: {m}"),
                        InvokeError::Overloaded => "overloaded".to_owned(),
                        InvokeError::Abandoned => "abandoned after its deadline".to_owned(),
                    };
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "cron",
                        trace_id,
                        scheduled,
                        duration_ms,
                        error,
                        "scheduled run failed"
                    );
                }
            }
        })
    });
    let task = tokio::spawn(run_schedule(schedule, Arc::new(SystemCronClock), runner));
    deployment.add_background(task.abort_handle());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn trigger(
        schedule: &str,
        zone: Option<&str>,
        overlap: bool,
        missed: MissedRunPolicy,
    ) -> CronTrigger {
        CronTrigger {
            function: "f".into(),
            schedule: schedule.into(),
            timezone: zone.map(str::to_owned),
            allow_overlap: overlap,
            missed_runs: missed,
            ..CronTrigger::default()
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    /// Runs the schedule for `for_secs` of paused tokio time with runs lasting `run_secs`;
    /// returns the scheduled times each run got, as seen when it started (clock time).
    async fn fire(
        schedule: Schedule,
        start: &str,
        run_secs: u64,
        for_secs: u64,
    ) -> Vec<(String, String)> {
        let clock = Arc::new(TokioCronClock::starting_at(at(start)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let runner: Runner = {
            let seen = seen.clone();
            let clock = clock.clone();
            Arc::new(move |time: DateTime<Utc>| {
                let seen = seen.clone();
                let clock = clock.clone();
                Box::pin(async move {
                    seen.lock().expect("lock").push((
                        time.format("%H:%M:%S").to_string(),
                        clock.now().format("%H:%M:%S").to_string(),
                    ));
                    tokio::time::sleep(Duration::from_secs(run_secs)).await;
                })
            })
        };
        let task = tokio::spawn(run_schedule(schedule, clock, runner));
        tokio::time::sleep(Duration::from_secs(for_secs)).await;
        task.abort();
        seen.lock().expect("lock").clone()
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        let paris = Schedule::new(&trigger(
            "0 0 2 * * *",
            Some("Europe/Paris"),
            false,
            MissedRunPolicy::Skip,
        ))
        .expect("parse");
        // 02:00 in Paris is 01:00 UTC in winter and 00:00 UTC in summer.
        assert_eq!(
            paris.next_after(at("2024-01-10T12:00:00Z")),
            Some(at("2024-01-11T01:00:00Z"))
        );
        assert_eq!(
            paris.next_after(at("2024-07-10T12:00:00Z")),
            Some(at("2024-07-11T00:00:00Z"))
        );
        let utc = Schedule::new(&trigger("*/15 * * * *", None, false, MissedRunPolicy::Skip))
            .expect("parse");
        assert_eq!(
            utc.next_after(at("2024-01-10T12:07:00Z")),
            Some(at("2024-01-10T12:15:00Z"))
        );
        assert!(Schedule::new(&trigger("61 * * * *", None, false, MissedRunPolicy::Skip)).is_err());
        assert!(
            Schedule::new(&trigger(
                "* * * * *",
                Some("Mars/Olympus"),
                false,
                MissedRunPolicy::Skip
            ))
            .is_err()
        );
    }

    #[test]
    fn a_daily_time_across_the_daylight_saving_changes() {
        let paris = Schedule::new(&trigger(
            "30 2 * * *",
            Some("Europe/Paris"),
            false,
            MissedRunPolicy::Skip,
        ))
        .expect("parse");
        // 2024-03-31: Paris clocks go from 02:00 (CET, UTC+1) straight to 03:00 (CEST,
        // UTC+2); 02:30 does not exist that day.
        assert_eq!(
            paris.next_after(at("2024-03-30T12:00:00Z")),
            Some(at("2024-03-31T01:00:00Z")),
            "the run of the spring day"
        );
        assert_eq!(
            paris.next_after(at("2024-03-31T01:00:00Z")),
            Some(at("2024-04-01T00:30:00Z")),
            "the day after, 02:30 CEST"
        );
        // 2024-10-27: Paris clocks go from 03:00 (CEST) back to 02:00 (CET); 02:30 comes
        // twice, at 00:30 and 01:30 UTC.
        assert_eq!(
            paris.next_after(at("2024-10-26T12:00:00Z")),
            Some(at("2024-10-27T00:30:00Z")),
            "the run of the autumn day"
        );
        assert_eq!(
            paris.next_after(at("2024-10-27T00:30:00Z")),
            Some(at("2024-10-28T01:30:00Z")),
            "the autumn day runs once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn runs_fire_on_time() {
        let schedule = Schedule::new(&trigger(
            "*/10 * * * * *",
            None,
            false,
            MissedRunPolicy::Skip,
        ))
        .expect("parse");
        let seen = fire(schedule, "2024-01-10T12:00:05Z", 1, 31).await;
        let times: Vec<_> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(times, ["12:00:10", "12:00:20", "12:00:30"]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_overlap_a_long_run_skips_the_times_it_covers() {
        // Runs take 25 s on a 10 s schedule: 12:00:20 and 12:00:30 come while the first runs.
        let schedule = Schedule::new(&trigger(
            "*/10 * * * * *",
            None,
            false,
            MissedRunPolicy::Skip,
        ))
        .expect("parse");
        let seen = fire(schedule, "2024-01-10T12:00:05Z", 25, 50).await;
        let times: Vec<_> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(times, ["12:00:10", "12:00:40"]);
    }

    #[tokio::test(start_paused = true)]
    async fn run_once_runs_once_after_the_long_run() {
        let schedule = Schedule::new(&trigger(
            "*/10 * * * * *",
            None,
            false,
            MissedRunPolicy::RunOnce,
        ))
        .expect("parse");
        let seen = fire(schedule, "2024-01-10T12:00:05Z", 25, 50).await;
        // The first run ends at 12:00:35: one run for the two missed times (12:00:20 and
        // 12:00:30), at once and for the time it starts. Catch-up would run 12:00:20 then.
        let expected = [("12:00:10", "12:00:10"), ("12:00:35", "12:00:35")]
            .map(|(time, started)| (time.to_owned(), started.to_owned()));
        assert_eq!(seen, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn catch_up_runs_every_missed_time_in_order() {
        let schedule = Schedule::new(&trigger(
            "*/10 * * * * *",
            None,
            false,
            MissedRunPolicy::CatchUp,
        ))
        .expect("parse");
        let seen = fire(schedule, "2024-01-10T12:00:05Z", 25, 70).await;
        let times: Vec<_> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            &times[..3],
            ["12:00:10", "12:00:20", "12:00:30"],
            "{seen:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_overlap_every_time_starts_a_run() {
        let schedule = Schedule::new(&trigger(
            "*/10 * * * * *",
            None,
            true,
            MissedRunPolicy::Skip,
        ))
        .expect("parse");
        let seen = fire(schedule, "2024-01-10T12:00:05Z", 25, 41).await;
        let times: Vec<_> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(times, ["12:00:10", "12:00:20", "12:00:30", "12:00:40"]);
    }
}
