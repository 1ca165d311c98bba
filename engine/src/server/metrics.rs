//! Prometheus metrics, kept in plain atomics per deployment function and rendered in the
//! text exposition format on `GET /metrics` (admin port):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `starweave_requests_total` | counter | vms, version, function, trigger, status |
//! | `starweave_run_duration_seconds` | histogram | vms, version, function |
//! | `starweave_in_flight` | gauge | vms, version |
//! | `starweave_deployments_loaded` | gauge | |
//! | `starweave_unrouted_requests_total` | counter | |
//!
//! Counters live in the deployment: unloading a version removes its series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::registry::RouteTable;

/// Upper bounds of the run duration histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters of one function of one deployment.
#[derive(Debug, Default)]
pub struct FunctionMetrics {
    /// (trigger, status) → count; status is the HTTP status, or `ok`/`error` for other triggers.
    requests: Mutex<BTreeMap<(&'static str, String), u64>>,
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl FunctionMetrics {
    /// Counts one request or delivery with its outcome.
    pub fn record(&self, trigger: &'static str, status: &str, duration: Option<Duration>) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            match requests.get_mut(&(trigger, status.to_owned())) {
                Some(count) => *count += 1,
                None => {
                    requests.insert((trigger, status.to_owned()), 1);
                }
            }
        }
        if let Some(duration) = duration {
            let seconds = duration.as_secs_f64();
            for (bucket, bound) in self.buckets.iter().zip(DURATION_BUCKETS) {
                if seconds <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.count.fetch_add(1, Ordering::Relaxed);
            self.sum_micros
                .fetch_add(duration.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// How many requests answered `status` on `trigger`.
    pub fn count(&self, trigger: &'static str, status: &str) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests
            .get(&(trigger, status.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric of the table in the Prometheus text format.
pub fn render(table: &RouteTable, unrouted: u64) -> String {
    let mut out = String::new();
    let deployments = table.deployments();
    let _ = writeln!(
        out,
        "# HELP starweave_deployments_loaded Deployments loaded in this engine."
    );
    let _ = writeln!(out, "# TYPE starweave_deployments_loaded gauge");
    let _ = writeln!(out, "starweave_deployments_loaded {}", deployments.len());
    let _ = writeln!(
        out,
        "# HELP starweave_unrouted_requests_total Requests that matched no VMS or route."
    );
    let _ = writeln!(out, "# TYPE starweave_unrouted_requests_total counter");
    let _ = writeln!(out, "starweave_unrouted_requests_total {unrouted}");
    let _ = writeln!(out, "# HELP starweave_in_flight Runs going on now.");
    let _ = writeln!(out, "# TYPE starweave_in_flight gauge");
    for (d, _) in &deployments {
        let _ = writeln!(
            out,
            "starweave_in_flight{{vms=\"{}\",version=\"{}\"}} {}",
            label(&d.vms),
            label(&d.version),
            d.in_flight()
        );
    }
    let _ = writeln!(
        out,
        "# HELP starweave_requests_total Trigger invocations by outcome."
    );
    let _ = writeln!(out, "# TYPE starweave_requests_total counter");
    for (d, _) in &deployments {
        for (function, metrics) in &d.metrics {
            let requests = metrics.requests.lock().unwrap_or_else(|p| p.into_inner());
            for ((trigger, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "starweave_requests_total{{vms=\"{}\",version=\"{}\",function=\"{}\",trigger=\"{trigger}\",status=\"{}\"}} {count}",
                    label(&d.vms),
                    label(&d.version),
                    label(function),
                    label(status)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP starweave_run_duration_seconds Duration of runs as their trigger handles them (an HTTP request's from its arrival to its answer); requests refused before a run are not in it."
    );
    let _ = writeln!(out, "# TYPE starweave_run_duration_seconds histogram");
    for (d, _) in &deployments {
        for (function, metrics) in &d.metrics {
            let count = metrics.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let labels = format!(
                "vms=\"{}\",version=\"{}\",function=\"{}\"",
                label(&d.vms),
                label(&d.version),
                label(function)
            );
            for (bucket, bound) in metrics.buckets.iter().zip(DURATION_BUCKETS) {
                let _ = writeln!(
                    out,
                    "starweave_run_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                out,
                "starweave_run_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = metrics.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "starweave_run_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(
                out,
                "starweave_run_duration_seconds_count{{{labels}}} {count}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let metrics = FunctionMetrics::default();
        metrics.record("http", "200", Some(Duration::from_millis(3)));
        metrics.record("http", "200", Some(Duration::from_millis(30)));
        metrics.record("http", "503", None);
        assert_eq!(metrics.count("http", "200"), 2);
        assert_eq!(metrics.count("http", "503"), 1);
        assert_eq!(metrics.buckets[2].load(Ordering::Relaxed), 1);
        assert_eq!(metrics.buckets[11].load(Ordering::Relaxed), 2);
        assert_eq!(metrics.count.load(Ordering::Relaxed), 2);
    }
}
