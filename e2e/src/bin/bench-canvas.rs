//! The BPMN canvas in headless Chromium: open time, drag and pan frame rates, undo exactness.
//!
//! `bench-canvas [--nodes N] [--runs R] [--benchmarks BENCHMARKS.md]` with `STARWEAVE_UI_DIST`
//! and `STARWEAVE_BIN` set (or built by the harness, see `e2e/README.md`). One `starweave up`
//! over a workspace holding one VMS with one BPMN function of about N flow nodes (default 300;
//! `starweave_diagram::generate_process`, in canonical form), one Chromium.
//!
//! - **open**: from clicking the function in the explorer to the editor's
//!   `performance.mark("bpmn-rendered")` (all nodes in the DOM), both taken with
//!   `performance.now()` in the page; the tab is closed between runs; median of R runs (the
//!   first run, which also fetches and parses the file, is reported apart).
//! - **drag**: in-page script: `pointerdown` on a node, a `pointermove` in every
//!   `requestAnimationFrame` for 2 s, `pointerup`; the rAF intervals give mean fps and the worst
//!   frame. **pan**: the same on the empty background, and with a `wheel` event per frame. Each
//!   checks that the canvas really moved.
//! - **undo**: 100 real → key presses on a selected node, then 100 real Ctrl+Z; the file saved
//!   on disk must equal the original byte for byte.
//!
//! Prints a Markdown section and, with `--benchmarks`, replaces the section headed
//! `## BPMN canvas (headless Chromium)` in that file (or appends it).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::{Client, key::Key, wd::TimeoutConfiguration};
use serde_json::{Value, json};
use starweave_e2e::{
    Driver, Server,
    canvas::{self, CANVAS_JS, canvas_state, click_at, node_center, press_keys, wait_canvas},
    prepare, target_dir,
};

const HEADING: &str = "## BPMN canvas (headless Chromium)";
const VMS: &str = "bench";
const FUNCTION: &str = "big";
const GESTURE_MS: u64 = 2000;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let chromium = command_line("chromium", &["--version"]);
    format!("{cores} cores ({cpu}), {chromium}, headless (--disable-gpu), 1440×900 window")
}

/// Polls a boolean script until true, for up to 60 s.
async fn wait_js(client: &Client, script: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.execute(script, vec![]).await?.as_bool() == Some(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One open: click the explorer item, wait for the `bpmn-rendered` mark; ms and node count.
async fn open_once(client: &Client) -> Result<(f64, u64)> {
    let value = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const item = document.querySelector(arguments[0]); \
             if (!item) { done({ error: 'no explorer item ' + arguments[0] }); return; } \
             delete window.__bpmnRendered; performance.clearMarks('bpmn-rendered'); \
             const t0 = performance.now(); \
             item.click(); \
             const poll = () => { \
               if (window.__bpmnRendered !== undefined) { \
                 const marks = performance.getEntriesByName('bpmn-rendered', 'mark'); \
                 const t = marks.length ? marks[marks.length - 1].startTime : performance.now(); \
                 done({ ms: t - t0, nodes: Number(window.__bpmnRendered), marked: marks.length > 0 }); \
               } else if (performance.now() - t0 > 110000) { done({ error: 'window.__bpmnRendered never set' }); } \
               else { setTimeout(poll, 1); } \
             }; \
             poll();",
            vec![json!(format!(
                "[data-testid=\"explorer-item-function-{FUNCTION}\"]"
            ))],
        )
        .await?;
    if let Some(err) = value["error"].as_str() {
        bail!("{err}");
    }
    ensure!(
        value["marked"] == true,
        "window.__bpmnRendered was set without performance.mark(\"bpmn-rendered\")"
    );
    Ok((
        value["ms"].as_f64().context("open time")?,
        value["nodes"].as_u64().unwrap_or(0),
    ))
}

/// Closes the function's tab and waits until no canvas is displayed.
async fn close_tab(client: &Client) -> Result<()> {
    client
        .execute(
            &format!(
                "const b = document.querySelector('[data-testid=\"tab-function-{FUNCTION}\"] .tab-close'); \
                 if (b) b.click(); return !!b;"
            ),
            vec![],
        )
        .await?;
    wait_js(
        client,
        &format!("{CANVAS_JS} return !canvas;"),
        "the canvas to close with its tab",
    )
    .await
}

/// Frame statistics of one in-page gesture.
#[derive(Debug, Clone)]
struct Frames {
    fps: f64,
    worst_ms: f64,
    frames: usize,
    moved: bool,
}

impl Frames {
    fn from_value(value: &Value) -> Result<Frames> {
        if let Some(err) = value["error"].as_str() {
            bail!("{err}");
        }
        let intervals: Vec<f64> = value["frames"]
            .as_array()
            .context("no frame list")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        ensure!(!intervals.is_empty(), "no animation frame ran");
        let total: f64 = intervals.iter().sum();
        Ok(Frames {
            fps: intervals.len() as f64 * 1000.0 / total,
            worst_ms: intervals.iter().copied().fold(0.0, f64::max),
            frames: intervals.len(),
            moved: value["moved"] == true,
        })
    }

    fn cell(&self) -> String {
        format!(
            "{:.0} fps mean, worst frame {:.0} ms ({} frames){}",
            self.fps,
            self.worst_ms,
            self.frames,
            if self.moved {
                ""
            } else {
                " — **the canvas did not move**"
            }
        )
    }
}

/// The in-page gesture driver. `mode`: `drag` (pointer on a node), `pan` (pointer on the
/// background), `wheel` (wheel events on the background).
const GESTURE_JS: &str = "
const [mode, nodeId, duration, done] = arguments;
CANVAS_JS
if (!canvas) { done({ error: 'no canvas' }); return; }
const vp = canvas.querySelector('.flow-viewport');
const nodeEl = () => canvas.querySelector(`[data-node-id=\"${CSS.escape(nodeId)}\"]`);
const state = () => mode === 'drag'
  ? (nodeEl() ? nodeEl().getAttribute('transform') + ' ' + nodeEl().getAttribute('data-x') : '')
  // A pan moves the drawing's layer first (the svg's CSS transform) and commits at its end.
  : vp.getAttribute('transform') + ' ' + canvas.querySelector('svg.flow-svg').style.transform;
let x, y, target;
const rect = canvas.getBoundingClientRect();
if (mode === 'drag') {
  const node = nodeEl();
  if (!node) { done({ error: 'no node ' + nodeId }); return; }
  const m = vp.getScreenCTM();
  const cx = Number(node.getAttribute('data-x')) + Number(node.getAttribute('data-w')) / 2;
  const cy = Number(node.getAttribute('data-y')) + Number(node.getAttribute('data-h')) / 2;
  x = m.a * cx + m.c * cy + m.e; y = m.b * cx + m.d * cy + m.f;
  target = document.elementFromPoint(x, y) || node;
} else {
  // An empty spot of the background: not a node, an edge, the minimap or an overlay.
  outer: for (let fy = 0.1; fy < 0.95; fy += 0.05) {
    for (let fx = 0.1; fx < 0.7; fx += 0.03) {
      const px = rect.left + rect.width * fx, py = rect.top + rect.height * fy;
      const e = document.elementFromPoint(px, py);
      if (e && canvas.contains(e) && !e.closest('[data-node-id], [data-edge-id], .flow-minimap, .flow-port')
          && (e.closest('svg.flow-svg') || e === canvas)) { x = px; y = py; target = e; break outer; }
    }
  }
  if (!target) { done({ error: 'no empty background point found' }); return; }
}
const before = state();
const opts = (buttons) => ({ bubbles: true, cancelable: true, composed: true, pointerId: 1,
  pointerType: 'mouse', isPrimary: true, clientX: x, clientY: y, button: 0, buttons, view: window });
if (mode !== 'wheel') target.dispatchEvent(new PointerEvent('pointerdown', opts(1)));
const frames = [];
let start = null, last = null, step = 0;
const frame = (ts) => {
  if (start === null) { start = ts; } else { frames.push(ts - last); }
  last = ts;
  if (ts - start >= duration) {
    if (mode !== 'wheel') target.dispatchEvent(new PointerEvent('pointerup', opts(0)));
    requestAnimationFrame(() => done({ frames, moved: state() !== before }));
    return;
  }
  step += 1;
  if (mode === 'wheel') {
    target.dispatchEvent(new WheelEvent('wheel', { bubbles: true, cancelable: true, clientX: x, clientY: y,
      deltaX: 0, deltaY: (Math.floor(step / 30) % 2 ? -8 : 8), deltaMode: 0, view: window }));
  } else {
    // A slow circle, so the node stays on screen and crosses snapping and guide positions.
    x += 3 * Math.cos(step / 20); y += 3 * Math.sin(step / 20);
    target.dispatchEvent(new PointerEvent('pointermove', opts(1)));
  }
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
";

async fn gesture(client: &Client, mode: &str, node: &str) -> Result<Frames> {
    let script = GESTURE_JS.replace("CANVAS_JS", CANVAS_JS);
    let value = client
        .execute_async(&script, vec![json!(mode), json!(node), json!(GESTURE_MS)])
        .await
        .with_context(|| format!("the {mode} gesture"))?;
    Frames::from_value(&value).with_context(|| format!("the {mode} gesture"))
}

/// 100 → on a selected node, then 100 Ctrl+Z; whether the saved file equals the original.
async fn undo_exactness(
    client: &Client,
    file: &Path,
    original: &str,
    node: &str,
) -> Result<String> {
    let at = node_center(client, node).await?;
    click_at(client, at).await?;
    wait_canvas(client, "the node to be selected", |s| {
        s.node(node).is_some_and(|n| n.has_class("selected"))
    })
    .await?;
    let focused = canvas::canvas_has_focus(client).await?;
    if !focused {
        client
            .execute(&format!("{CANVAS_JS} canvas.focus(); return true;"), vec![])
            .await?;
    }
    let before = canvas_state(client).await?;
    let x0 = before.node(node).context("no node")?.bounds.x;
    press_keys(client, Key::Right.into(), 100, &[]).await?;
    let moved = wait_canvas(client, "the node to move", |s| {
        s.node(node).is_some_and(|n| n.bounds.x > x0)
    })
    .await?;
    let dx = moved.node(node).context("no node")?.bounds.x - x0;
    let saved_moves = wait_for_file(file, |t| t != original).await.is_ok();
    press_keys(client, 'z', 100, &[Key::Control.into()]).await?;
    let identical = wait_for_file(file, |t| t == original).await.is_ok();
    let now = fs::read_to_string(file)?;
    let mut verdict = if identical {
        format!("identical to the original ({} bytes)", original.len())
    } else {
        format!(
            "**differs** from the original: {}",
            canvas::first_difference(original, &now)
        )
    };
    verdict.push_str(&format!("; the moves shifted the node by {dx} px"));
    if !saved_moves {
        verdict.push_str(" but **never reached the disk**");
    }
    if !focused {
        verdict.push_str(" (the click did not focus the canvas; focused by script)");
    }
    Ok(verdict)
}

async fn wait_for_file(path: &Path, mut check: impl FnMut(&str) -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if fs::read_to_string(path).map(|t| check(&t)).unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the file {} never matched", path.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut nodes = 300usize;
    let mut runs = 5usize;
    let mut benchmarks: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--nodes" => nodes = args.next().context("--nodes needs a number")?.parse()?,
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "--benchmarks" => {
                benchmarks = Some(args.next().context("--benchmarks needs a path")?.into())
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    ensure!(runs >= 1, "--runs must be at least 1");
    ensure!(nodes >= 2, "--nodes must be at least 2");
    let build = prepare()?;
    // Other work on the machine shows in frame rates: say how busy it was.
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());

    // A workspace with one VMS and the generated function (so no example is seeded).
    let workspace = tempfile::Builder::new()
        .prefix("starweave-bench-canvas-ws-")
        .tempdir()?;
    let vms_dir = workspace.path().join(VMS);
    fs::create_dir_all(&vms_dir)?;
    fs::write(
        vms_dir.join("vms.yaml"),
        format!("name: {VMS}\ndescription: The BPMN canvas benchmark.\n"),
    )?;
    let original = canvas::canonical_bpmn(&canvas::generated_process(nodes))?;
    let (shape_count, edge_count) = {
        let doc = starweave_model::bpmn::read_bpmn(&original);
        let (shapes, edges) = canvas::di_of(&doc.definitions, 0);
        (shapes.len(), edges.len())
    };
    canvas::write_bpmn_function(&vms_dir, FUNCTION, &original, "A generated process.")?;
    let file = vms_dir.join(format!("functions/{FUNCTION}.bpmn"));

    let logs = target_dir()?.join("e2e-artifacts/bench-canvas");
    fs::create_dir_all(&logs)?;
    let server = Server::start(&build, workspace.path(), &logs.join("server.log"))?;
    let driver = Driver::start(&logs.join("chromedriver.log"))?;
    let profile = tempfile::Builder::new()
        .prefix("starweave-bench-profile-")
        .tempdir()?;
    let client = driver.session(profile.path()).await?;
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(120)),
            Some(Duration::from_secs(120)),
            Some(Duration::from_secs(0)),
        ))
        .await?;
    client.goto(&server.url).await?;
    wait_js(
        &client,
        "return !!(document.body && document.body.dataset.ready === '1')",
        "the IDE to be ready",
    )
    .await?;
    let item = format!("[data-testid=\"explorer-item-function-{FUNCTION}\"]");
    if client
        .execute(&format!("return !document.querySelector('{item}')"), vec![])
        .await?
        .as_bool()
        == Some(true)
    {
        client
            .execute(
                &format!(
                    "document.querySelector('[data-testid=vms-picker]').click(); \
                     setTimeout(() => document.querySelector('[data-testid=vms-item-{VMS}]').click(), 100); return true;"
                ),
                vec![],
            )
            .await?;
    }
    wait_js(
        &client,
        &format!("return !!document.querySelector('{item}')"),
        "the explorer to list the function",
    )
    .await?;

    // (a) Open time.
    let mut opens = Vec::with_capacity(runs);
    let mut first = None;
    let mut rendered = 0;
    for run in 0..=runs {
        let (ms, count) = open_once(&client).await?;
        rendered = count;
        eprintln!("bench-canvas: open {run}/{runs}: {ms:.0} ms ({count} nodes)");
        if run == 0 {
            first = Some(ms);
        } else {
            opens.push(ms);
        }
        close_tab(&client).await?;
    }
    let open_min = opens.iter().copied().fold(f64::INFINITY, f64::min);
    let open_max = opens.iter().copied().fold(0.0, f64::max);
    let open_med = median(&mut opens);
    open_once(&client).await?;
    let shot = client.screenshot().await?;
    fs::write(logs.join("opened.png"), shot)?;

    // Work at a usual zoom: from the fit view (the whole process is a long strip, 10 %),
    // zoom in with `+` to about 90 %, where a task is about 90 × 72 px.
    client
        .execute(&format!("{CANVAS_JS} canvas.focus(); return true;"), vec![])
        .await?;
    press_keys(&client, '+', 12, &[]).await?;
    let zoom = client
        .execute(
            &format!(
                "{CANVAS_JS} const v = canvas.querySelector('.flow-viewport'); return v ? v.getAttribute('data-zoom') : null;"
            ),
            vec![],
        )
        .await?;
    let zoom: f64 = zoom
        .as_str()
        .and_then(|z| z.parse().ok())
        .context("the viewport has no data-zoom")?;
    let shot = client.screenshot().await?;
    fs::write(logs.join("zoomed.png"), shot)?;

    // The node to drag and move: the task drawn nearest the middle of the canvas.
    let picked = client
        .execute(
            &format!(
                "{CANVAS_JS}
                 const r = canvas.getBoundingClientRect();
                 const cx = r.left + r.width * 0.4, cy = r.top + r.height * 0.4;
                 let best = null, dist = Infinity;
                 for (const n of canvas.querySelectorAll('[data-node-id].kind-serviceTask, [data-node-id].kind-task')) {{
                   const b = n.getBoundingClientRect();
                   const x = b.left + b.width / 2, y = b.top + b.height / 2;
                   const hit = document.elementFromPoint(x, y);
                   if (!hit || hit.closest('[data-node-id]') !== n) continue;
                   const d = Math.hypot(x - cx, y - cy);
                   if (d < dist) {{ dist = d; best = n.getAttribute('data-node-id'); }}
                 }}
                 return best;"
            ),
            vec![],
        )
        .await?;
    let node = picked
        .as_str()
        .context("no task is visible and clickable on the canvas")?
        .to_owned();

    // (d) Undo exactness, on the pristine file.
    let undo = undo_exactness(&client, &file, &original, &node).await?;
    eprintln!("bench-canvas: undo: {undo}");

    // (b) and (c): frame rates.
    let drag = gesture(&client, "drag", &node).await?;
    eprintln!("bench-canvas: drag: {}", drag.cell());
    let pan = gesture(&client, "pan", &node).await?;
    eprintln!("bench-canvas: pan: {}", pan.cell());
    let wheel = gesture(&client, "wheel", &node).await?;
    eprintln!("bench-canvas: wheel: {}", wheel.cell());
    let shot = client.screenshot().await?;
    fs::write(logs.join("after-gestures.png"), shot)?;
    client.close().await?;

    let section = format!(
        "{HEADING}\n\n\
         Measured by `cargo xtask bench canvas` (`e2e/src/bin/bench-canvas.rs`) on {date}: {machine}; \
         release UI and server on loopback; 1-minute load average {load} at the start. One BPMN function generated by \
         `starweave_diagram::generate_process({nodes})`: {shape_count} shapes and {edge_count} edges \
         in its diagram ({rendered} nodes on the canvas).\n\n\
         | what | measured |\n\
         |---|---|\n\
         | Open: click in the explorer → `performance.mark(\"bpmn-rendered\")`, median of {runs} re-opens | {open_med:.0} ms (min {open_min:.0}, max {open_max:.0}); first open (fetch + parse) {first:.0} ms |\n\
         | Drag a node at {zoom_pct:.0} % zoom: a `pointermove` per animation frame for {secs} s | {drag} |\n\
         | Pan: pointer drag on the background, a move per frame for {secs} s | {pan} |\n\
         | Pan: a `wheel` event per frame for {secs} s | {wheel} |\n\
         | Undo: 100 keyboard moves (→) then 100 Ctrl+Z, the saved file | {undo} |\n",
        date = command_line("date", &["-u", "+%Y-%m-%d"]),
        machine = machine(),
        first = first.unwrap_or(f64::NAN),
        secs = GESTURE_MS / 1000,
        zoom_pct = zoom * 100.0,
        drag = drag.cell(),
        pan = pan.cell(),
        wheel = wheel.cell(),
    );
    println!("{section}");
    if let Some(path) = benchmarks {
        write_section(&path, &section)?;
        eprintln!("bench-canvas: wrote the section into {}", path.display());
    }
    Ok(())
}

/// Replaces the section under [`HEADING`] (up to the next `## ` heading or `<!--` marker
/// line) with `section`, or appends it.
fn write_section(path: &Path, section: &str) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let updated = match text.find(&format!("{HEADING}\n")) {
        Some(start) => {
            let body = start + HEADING.len() + 1;
            let mut end = text.len();
            let mut offset = body;
            for line in text[body..].split_inclusive('\n') {
                if line.starts_with("## ") || line.starts_with("<!--") {
                    end = offset;
                    break;
                }
                offset += line.len();
            }
            format!("{}{section}\n{}", &text[..start], &text[end..])
        }
        None => format!("{}\n\n{section}", text.trim_end()),
    };
    fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}
