//! Hot reload under load: while 8 clients call a VMS in a loop, its version is switched
//! v1 → v2 → v1 … ten times through the admin API (deploy the new version, then unload the
//! old one, which drains). No request may fail, and every request that starts after an
//! admin call returned must be answered by the version it deployed.
//!
//! The time from each deploy call returning to the first response of the new version is
//! printed (no assertion on time).

mod server_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server_common::{greeter, start_engine};
use starweave_engine::server::registry::EngineOptions;

/// One request of the load: when it started and ended, and what answered.
#[derive(Debug, Clone)]
struct Sample {
    start: Instant,
    end: Instant,
    outcome: Result<String, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_versions_under_load_fails_no_request() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(start_engine(EngineOptions::default()).await);
    let v1 = greeter(root.path(), "greeter-v1", "v1");
    let v2 = greeter(root.path(), "greeter-v2", "v2");
    assert_eq!(engine.deploy("greeter", "v1", &v1, json!({})).await.0, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let url = engine.url("/greeter/version");
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let outcome = match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => {
                        match response.json::<Value>().await {
                            Ok(body) => Ok(body["version"].as_str().unwrap_or("?").to_owned()),
                            Err(err) => Err(format!("body: {err}")),
                        }
                    }
                    Ok(response) => Err(format!("status {}", response.status())),
                    Err(err) => Err(format!("socket: {err}")),
                };
                samples.push(Sample {
                    start,
                    end: Instant::now(),
                    outcome,
                });
            }
            samples
        }));
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    // (admin call started, admin call returned, version deployed)
    let mut switches = Vec::new();
    let mut current = "v1";
    for i in 0..10 {
        let (next, dir) = if i % 2 == 0 { ("v2", &v2) } else { ("v1", &v1) };
        let started = Instant::now();
        let (status, body) = engine.deploy("greeter", next, dir, json!({})).await;
        let returned = Instant::now();
        assert_eq!(status, 201, "{body}");
        switches.push((started, returned, next));
        // Unloading the old version drains it: it answers once its runs are done.
        assert_eq!(engine.undeploy("greeter", current).await, 204);
        current = next;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.expect("client task"));
    }

    let failures: Vec<_> = samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        samples.len(),
        &failures[..failures.len().min(5)]
    );

    println!(
        "hot reload under load: {} requests, 8 clients, 10 switches, 0 failures",
        samples.len()
    );
    for (index, (started, returned, version)) in switches.iter().enumerate() {
        let until = switches
            .get(index + 1)
            .map(|(next_start, _, _)| *next_start);
        // Every request started after the admin call returned, and answered before the next
        // switch began, is answered by the new version. (One still open when the next switch
        // began may have reached the engine after it, on a busy machine: either version is
        // right for it.)
        let stale: Vec<_> = samples
            .iter()
            .filter(|s| s.start >= *returned && until.is_none_or(|u| s.end < u))
            .filter(|s| s.outcome.as_deref() != Ok(*version))
            .collect();
        assert!(
            stale.is_empty(),
            "switch {index} to {version}: {} later requests saw another version",
            stale.len()
        );
        let first = samples
            .iter()
            .filter(|s| s.end >= *returned && s.outcome.as_deref() == Ok(*version))
            .map(|s| s.end)
            .min()
            .expect("the new version answered");
        println!(
            "switch {:2} → {version}: deploy call {:6.2} ms; first response from {version} {:6.3} ms after the call returned",
            index + 1,
            returned.duration_since(*started).as_secs_f64() * 1000.0,
            first.duration_since(*returned).as_secs_f64() * 1000.0,
        );
    }
}
