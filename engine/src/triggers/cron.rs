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
//! order. With `allow_overlap` every time starts its run at once (after a clock jump,
//! `catch-up` also starts one per missed time; the others let the run on time cover them).
//!
//! **Versions.** The versions of a VMS share each cron trigger's state ([`CronSlot`]): when
//! a new version takes over while the previous one's run goes on, that run finishes (it is
//! drained like any other) and counts as the run in progress, so without `allow_overlap`
//! the new version's times are missed until it ends; the missed times the previous version
//! still had to run are handed over too. A trigger is the same across versions when it
//! calls the same function and has the same rank among that function's cron triggers.
//!
//! Missed times are only known while the engine runs the VMS: the engine keeps no schedule
//! state across restarts.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
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

/// What the versions of a VMS share about one of its cron triggers: the runs going on and
/// the times missed. A new version taking over (hot reload) therefore does not start while
/// the previous version's run goes on (without `allow_overlap`), and it inherits the missed
/// times the previous version had not run yet; its own policy decides what to do with them.
#[derive(Debug, Default)]
pub struct CronSlot {
    state: std::sync::Mutex<SlotState>,
    ended: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct SlotState {
    running: usize,
    missed: VecDeque<DateTime<Utc>>,
}

impl CronSlot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a run as going on until the guard is dropped.
    fn enter(self: &Arc<Self>, state: &mut SlotState) -> RunGuard {
        state.running += 1;
        RunGuard(self.clone())
    }

    /// Waits until no run goes on.
    async fn idle(&self) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.state().running == 0 {
                return;
            }
            ended.await;
        }
    }

    /// How many runs go on now.
    pub fn running(&self) -> usize {
        self.state().running
    }
}

/// A run going on, for its [`CronSlot`].
struct RunGuard(Arc<CronSlot>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.running -= 1;
        if state.running == 0 {
            self.0.ended.notify_waiters();
        }
    }
}

/// The engine's [`CronSlot`]s, one per VMS and cron trigger. A trigger is known by its
/// function and its rank among that function's cron triggers, so a version that changes
/// the schedule, time zone or input of a job still shares the slot of the version before.
#[derive(Debug, Default)]
pub struct CronSlots {
    slots: std::sync::Mutex<HashMap<(String, String, usize), Weak<CronSlot>>>,
}

impl CronSlots {
    /// The slot of the `rank`-th cron trigger (from 0) calling `function` in `vms`; a slot
    /// lives while a version's schedule or one of its runs holds it.
    pub fn slot(&self, vms: &str, function: &str, rank: usize) -> Arc<CronSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = (vms.to_owned(), function.to_owned(), rank);
        if let Some(slot) = slots.get(&key).and_then(Weak::upgrade) {
            return slot;
        }
        slots.retain(|_, slot| slot.strong_count() > 0);
        let slot = Arc::new(CronSlot::default());
        slots.insert(key, Arc::downgrade(&slot));
        slot
    }
}

/// Runs `schedule` forever (until the task is aborted), calling `runner` with each time.
/// Runs count in `slot`, which the versions of the VMS share (see [`CronSlot`]).
pub async fn run_schedule(
    schedule: Schedule,
    slot: Arc<CronSlot>,
    clock: Arc<dyn CronClock>,
    runner: Runner,
) {
    let Some(mut next) = schedule.next_after(clock.now()) else {
        return;
    };
    let start = |guard: RunGuard, time: DateTime<Utc>| {
        let run = runner(time);
        tokio::spawn(async move {
            let _guard = guard;
            run.await;
        });
    };
    loop {
        let waiting = !slot.state().missed.is_empty();
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
                let mut state = slot.state();
                state.missed.extend(due);
                if schedule.allow_overlap {
                    // The run on time covers the missed times, unless each is caught up.
                    let missed = std::mem::take(&mut state.missed);
                    if schedule.missed_runs == MissedRunPolicy::CatchUp {
                        for time in missed {
                            start(slot.enter(&mut state), time);
                        }
                    }
                    start(slot.enter(&mut state), on_time);
                } else if state.running > 0 {
                    // A run goes on, of this version or of the one before.
                    state.missed.push_back(on_time);
                } else {
                    state.missed.push_back(on_time);
                    // Run the oldest time first when catching up, else the one on time.
                    let first = match schedule.missed_runs {
                        MissedRunPolicy::CatchUp => state.missed.pop_front().unwrap_or(on_time),
                        _ => state.missed.pop_back().unwrap_or(on_time),
                    };
                    if schedule.missed_runs != MissedRunPolicy::CatchUp {
                        // The on-time run covers what a run-once would have done.
                        state.missed.clear();
                    }
                    start(slot.enter(&mut state), first);
                }
            }
            () = slot.idle(), if waiting => {
                let mut state = slot.state();
                if state.running > 0 {
                    // Another version's schedule started a run first.
                    continue;
                }
                let now = clock.now();
                if let Some(time) = take_missed(&mut state.missed, schedule.missed_runs, now).into_iter().next() {
                    start(slot.enter(&mut state), time);
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
pub fn start(
    deployment: &Arc<Deployment>,
    trigger: &CronTrigger,
    slot: Arc<CronSlot>,
) -> Result<(), String> {
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
    let task = tokio::spawn(run_schedule(
        schedule,
        slot,
        Arc::new(SystemCronClock),
        runner,
    ));
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
        let task = tokio::spawn(run_schedule(schedule, Arc::default(), clock, runner));
        tokio::time::sleep(Duration::from_secs(for_secs)).await;
        task.abort();
        seen.lock().expect("lock").clone()
    }

    type Seen = Arc<Mutex<Vec<(&'static str, String, String)>>>;

    /// A runner recording (label, scheduled time, clock time at start), running `run_secs`.
    fn recorder(
        label: &'static str,
        clock: Arc<dyn CronClock>,
        run_secs: u64,
        seen: &Seen,
    ) -> Runner {
        let seen = seen.clone();
        Arc::new(move |time: DateTime<Utc>| {
            let seen = seen.clone();
            let clock = clock.clone();
            Box::pin(async move {
                seen.lock().expect("lock").push((
                    label,
                    time.format("%H:%M:%S").to_string(),
                    clock.now().format("%H:%M:%S").to_string(),
                ));
                tokio::time::sleep(Duration::from_secs(run_secs)).await;
            })
        })
    }

    fn seen_as_strs(seen: &Seen) -> Vec<(&'static str, String, String)> {
        seen.lock().expect("lock").clone()
    }

    fn runs(expected: &[(&'static str, &str, &str)]) -> Vec<(&'static str, String, String)> {
        expected
            .iter()
            .map(|(label, time, started)| (*label, (*time).to_owned(), (*started).to_owned()))
            .collect()
    }

    /// Hot reload: version 1's schedule is stopped `switch_after` seconds in, while its
    /// 25-second run goes on, and version 2's (1-second runs) starts on the same slot.
    async fn switch_versions(
        policy_1: MissedRunPolicy,
        policy_2: MissedRunPolicy,
        switch_after: u64,
        total: u64,
    ) -> Vec<(&'static str, String, String)> {
        let every_10s =
            |policy| Schedule::new(&trigger("*/10 * * * * *", None, false, policy)).expect("parse");
        let clock: Arc<dyn CronClock> =
            Arc::new(TokioCronClock::starting_at(at("2024-01-10T12:00:05Z")));
        let slot = Arc::new(CronSlot::default());
        let seen = Seen::default();
        let v1 = tokio::spawn(run_schedule(
            every_10s(policy_1),
            slot.clone(),
            clock.clone(),
            recorder("v1", clock.clone(), 25, &seen),
        ));
        tokio::time::sleep(Duration::from_secs(switch_after)).await;
        v1.abort();
        let v2 = tokio::spawn(run_schedule(
            every_10s(policy_2),
            slot.clone(),
            clock.clone(),
            recorder("v2", clock.clone(), 1, &seen),
        ));
        tokio::time::sleep(Duration::from_secs(total - switch_after)).await;
        v2.abort();
        seen_as_strs(&seen)
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_version_does_not_start_while_the_previous_run_goes_on() {
        // Version 1 runs 12:00:10 until 12:00:35; version 2 takes over at 12:00:15. Its
        // 12:00:20 and 12:00:30 are missed; run-once runs once when version 1's run ends.
        let seen = switch_versions(MissedRunPolicy::Skip, MissedRunPolicy::RunOnce, 10, 46).await;
        assert_eq!(
            seen,
            runs(&[
                ("v1", "12:00:10", "12:00:10"),
                ("v2", "12:00:35", "12:00:35"),
                ("v2", "12:00:40", "12:00:40"),
                ("v2", "12:00:50", "12:00:50"),
            ])
        );
        // Skip: nothing until the next time after the run.
        let seen = switch_versions(MissedRunPolicy::Skip, MissedRunPolicy::Skip, 10, 46).await;
        assert_eq!(
            seen,
            runs(&[
                ("v1", "12:00:10", "12:00:10"),
                ("v2", "12:00:40", "12:00:40"),
                ("v2", "12:00:50", "12:00:50"),
            ])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_version_catches_up_the_times_the_previous_one_missed() {
        // Version 1 (catch-up) missed 12:00:20 and 12:00:30 during its run; it is replaced
        // at 12:00:32, before it could catch up. Version 2 runs them once that run ends.
        let seen =
            switch_versions(MissedRunPolicy::CatchUp, MissedRunPolicy::CatchUp, 27, 46).await;
        assert_eq!(
            seen,
            runs(&[
                ("v1", "12:00:10", "12:00:10"),
                ("v2", "12:00:20", "12:00:35"),
                ("v2", "12:00:30", "12:00:36"),
                ("v2", "12:00:40", "12:00:40"),
                ("v2", "12:00:50", "12:00:50"),
            ])
        );
    }

    #[test]
    fn versions_share_a_slot_per_function_and_rank() {
        let slots = CronSlots::default();
        let first = slots.slot("shop", "report", 0);
        assert!(Arc::ptr_eq(&first, &slots.slot("shop", "report", 0)));
        assert!(!Arc::ptr_eq(&first, &slots.slot("shop", "report", 1)));
        assert!(!Arc::ptr_eq(&first, &slots.slot("shop", "cleanup", 0)));
        assert!(!Arc::ptr_eq(&first, &slots.slot("other", "report", 0)));
        // Nobody holds it any more: a new one, with nothing of the old one's state.
        first.state().missed.push_back(at("2024-01-10T12:00:00Z"));
        drop(first);
        assert!(slots.slot("shop", "report", 0).state().missed.is_empty());
    }

    /// A clock that can be set forward (a suspended machine waking up).
    #[derive(Debug)]
    struct JumpingClock {
        inner: TokioCronClock,
        jumped: std::sync::atomic::AtomicI64,
    }

    impl CronClock for JumpingClock {
        fn now(&self) -> DateTime<Utc> {
            let jumped = self.jumped.load(std::sync::atomic::Ordering::SeqCst);
            self.inner.now() + chrono::Duration::seconds(jumped)
        }
    }

    async fn jump_with_overlap(policy: MissedRunPolicy) -> Vec<(&'static str, String, String)> {
        let clock = Arc::new(JumpingClock {
            inner: TokioCronClock::starting_at(at("2024-01-10T12:00:05Z")),
            jumped: Default::default(),
        });
        let schedule =
            Schedule::new(&trigger("*/10 * * * * *", None, true, policy)).expect("parse");
        let seen = Seen::default();
        let task = tokio::spawn(run_schedule(
            schedule,
            Arc::default(),
            clock.clone(),
            recorder("run", clock.clone(), 1, &seen),
        ));
        tokio::time::sleep(Duration::from_secs(6)).await;
        // 12:00:11 becomes 12:01:11: 12:00:20 … 12:01:10 are skipped over.
        clock.jumped.store(60, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        task.abort();
        seen_as_strs(&seen)
    }

    #[tokio::test(start_paused = true)]
    async fn with_overlap_a_clock_jump_starts_one_run_unless_catching_up() {
        // The loop wakes at 12:00:20 by its timer, which the clock now reads 12:01:20.
        let seen = jump_with_overlap(MissedRunPolicy::RunOnce).await;
        assert_eq!(
            seen,
            runs(&[
                ("run", "12:00:10", "12:00:10"),
                ("run", "12:01:20", "12:01:20")
            ])
        );
        let seen = jump_with_overlap(MissedRunPolicy::CatchUp).await;
        let mut times: Vec<&str> = seen.iter().map(|(_, time, _)| time.as_str()).collect();
        times.sort_unstable();
        assert_eq!(
            times,
            [
                "12:00:10", "12:00:20", "12:00:30", "12:00:40", "12:00:50", "12:01:00", "12:01:10",
                "12:01:20"
            ]
        );
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
