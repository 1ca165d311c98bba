//! 1,000 small VMS in one engine: prints the resident memory and the per-VMS load time
//! (read + validate + compile + swap), then checks that every VMS answers its route.
//! Numbers are printed, not asserted (run with `--release -- --nocapture` for real ones).

mod server_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use server_common::{rss_bytes, start_engine, write_vms};
use starweave_engine::server::registry::{DeploymentSpec, EngineOptions};
use starweave_engine::server::source::Source;

const COUNT: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_vms_load_in_one_engine() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut dirs = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        let name = format!("vms-{i:04}");
        let function = format!(
            "fn main(input, ctx) {{\n  let greeting = \"hello \" + input.name + \" from {name}\";\n  #{{ message: greeting, n: input.n * 2 }}\n}}\n"
        );
        dirs.push((
            name.clone(),
            write_vms(
                root.path(),
                &name,
                &[
                    ("vms.yaml", &format!("name: {name}\ndescription: Load test VMS number {i}.\n")),
                    (
                        "functions/hello.yaml",
                        "input:\n- name: name\n  type: string\n  required: true\n- name: n\n  type: integer\n  default: 1\noutput:\n- name: message\n  type: string\n- name: n\n  type: integer\n",
                    ),
                    ("functions/hello.rhai", &function),
                    ("triggers.yaml", "- kind: http\n  function: hello\n  method: GET\n  path: /hello/{name}\n"),
                ],
            ),
        ));
    }
    let engine = start_engine(EngineOptions::default()).await;
    let rss_before = rss_bytes();
    let mut load_times = Vec::with_capacity(COUNT);
    let started = Instant::now();
    for (name, dir) in &dirs {
        let spec = DeploymentSpec {
            vms: name.clone(),
            version: "1".into(),
            source: Source::Path(dir.display().to_string()),
            env: BTreeMap::new(),
            concurrency: None,
            timeout_ms: None,
            log_level: None,
        };
        let t = Instant::now();
        engine
            .server
            .registry
            .deploy(spec, None)
            .await
            .expect("deploy");
        load_times.push(t.elapsed());
    }
    let total = started.elapsed();
    let rss_after = rss_bytes();
    assert_eq!(engine.server.registry.table().vms.len(), COUNT);

    // Every VMS answers (a sample over HTTP, all through the registry's routing table).
    for i in (0..COUNT).step_by(97) {
        let (status, body) = engine.get(&format!("/vms-{i:04}/hello/ada?n=21")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"message": format!("hello ada from vms-{i:04}"), "n": 42})
        );
    }
    let rss_serving = rss_bytes();

    load_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = total / COUNT as u32;
    println!(
        "{COUNT} VMS loaded in {:.2} s: per VMS mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        total.as_secs_f64(),
        ms(mean),
        ms(load_times[COUNT / 2]),
        ms(load_times[COUNT * 99 / 100]),
        ms(load_times[COUNT - 1]),
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after loading, {:.1} MiB after serving a sample; {:.1} KiB per VMS",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        rss_serving as f64 / 1048576.0,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0 / COUNT as f64,
    );
}
