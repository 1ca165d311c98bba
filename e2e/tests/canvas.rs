//! The BPMN canvas in a real browser: reference diagrams drawn at their DI, a flow built with
//! the mouse and run with its trace painted on it, keyboard moves undone exactly, SVG export.
//!
//! Screenshots land in `<target>/e2e-artifacts/<test>/`; the MIWG reference pictures in
//! `<target>/e2e-artifacts/miwg/` (and, with `STARWEAVE_UPDATE_SCREENSHOTS=1`, in
//! `docs/screenshots/miwg/`).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::key::Key;
use serde_json::json;
use starweave_e2e::{
    Ide,
    canvas::{
        self, CanvasState, canvas_has_focus, canvas_rect, canvas_state, click_at, compare_with_di,
        di_of, drag_element, node_center, open_bpmn_function, press_keys, to_client, wait_canvas,
        wait_until,
    },
    repo_root, testid,
};
use starweave_model::bpmn::{Definitions, EventKind, FlowElement, GatewayKind, Point, read_bpmn};

/// The MIWG reference folder: `STARWEAVE_MIWG_DIR`, else the copy in the model's test data.
fn miwg_dir() -> PathBuf {
    std::env::var_os("STARWEAVE_MIWG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("shared-model/testdata/bpmn-miwg/reference"))
}

/// `A.1.0` → `a_1_0`: a function name (letters, digits, `_`).
fn function_name(stem: &str) -> String {
    stem.to_ascii_lowercase().replace(['.', '-'], "_")
}

/// Selects diagram `index` in the editor's diagram `<select>`.
async fn select_diagram(ide: &Ide, index: usize) -> Result<()> {
    let select = ide.find("bpmn-diagram-select").await?;
    let changed = ide
        .client
        .execute(
            "const s = arguments[0]; const i = arguments[1]; \
             if (i >= s.options.length) return false; \
             const proto = HTMLSelectElement.prototype; \
             Object.getOwnPropertyDescriptor(proto, 'value').set.call(s, s.options[i].value); \
             s.dispatchEvent(new Event('input', { bubbles: true })); \
             s.dispatchEvent(new Event('change', { bubbles: true })); \
             return true;",
            vec![serde_json::to_value(&select)?, json!(index)],
        )
        .await?;
    ensure!(
        changed.as_bool() == Some(true),
        "bpmn-diagram-select has no option {index}"
    );
    Ok(())
}

/// Fits the view with the canvas's `0` shortcut, then waits two frames for the paint.
async fn fit_view(ide: &Ide) -> Result<()> {
    canvas::canvas_element(&ide.client)
        .await?
        .send_keys("0")
        .await?;
    ide.client
        .execute_async(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            vec![],
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn miwg_reference_diagrams_render_at_their_di_bounds() -> Result<()> {
    let dir = miwg_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading the MIWG reference folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bpmn"))
        .collect();
    files.sort();
    ensure!(!files.is_empty(), "no .bpmn file in {}", dir.display());

    let mut ide = Ide::start("miwg").await?;
    let created = ide
        .api(
            "POST",
            "/api/v1/vms",
            Some(json!({ "name": "miwg", "template": "empty" })),
        )
        .await?;
    ensure!(created["status"] == 201, "creating the VMS: {created}");
    let vms_dir = ide.workspace().join("miwg");
    let mut cases = Vec::new();
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a file name that is not UTF-8")?
            .to_owned();
        let text = fs::read_to_string(file)?;
        let name = function_name(&stem);
        canvas::write_bpmn_function(&vms_dir, &name, &text, &format!("MIWG reference {stem}"))?;
        cases.push((stem, name, read_bpmn(&text).definitions));
    }
    ide.reload().await?;
    canvas::open_vms(&ide, "miwg", &cases[0].1).await?;
    ide.step("miwg-vms").await?;

    let update_docs = std::env::var("STARWEAVE_UPDATE_SCREENSHOTS").as_deref() == Ok("1");
    let docs = repo_root().join("docs/screenshots/miwg");
    if update_docs {
        fs::create_dir_all(&docs)?;
    }
    let mut failures = Vec::new();
    for (stem, name, defs) in &cases {
        open_bpmn_function(&ide, name).await?;
        let diagrams = defs.diagrams.len();
        for d in 0..diagrams {
            let shot = if diagrams > 1 {
                format!("{stem}.{}", d + 1)
            } else {
                stem.clone()
            };
            if diagrams > 1 {
                select_diagram(&ide, d).await?;
            }
            let (shapes, edges) = di_of(defs, d);
            let expected: BTreeSet<String> = shapes.iter().map(|s| s.id.clone()).collect();
            let expected_edges: BTreeSet<String> = edges.iter().map(|e| e.id.clone()).collect();
            // Wait for this diagram's nodes (after a switch the previous one may still show).
            let state = wait_canvas(&ide.client, &format!("the nodes of {shot}"), |s| {
                s.node_ids() == expected && s.edge_ids() == expected_edges
            })
            .await;
            let state = match state {
                Ok(s) => s,
                Err(err) => {
                    failures.push(format!("{shot}: {err:#}"));
                    canvas_state(&ide.client).await.unwrap_or_default()
                }
            };
            let problems = compare_with_di(&state, &shapes, &edges);
            if !problems.is_empty() {
                failures.push(format!(
                    "{shot}: {} difference(s) with the DI:\n    {}",
                    problems.len(),
                    problems.join("\n    ")
                ));
            }
            fit_view(&ide).await?;
            if diagrams > 1 {
                ide.step(&shot).await?;
            }
            let png = ide.artifacts.join(format!("{shot}.png"));
            canvas::screenshot_canvas(&ide.client, &png).await?;
            let reference_src = dir.join(format!("{shot}.png"));
            let reference = ide.artifacts.join(format!("{shot}.reference.png"));
            if reference_src.is_file() {
                fs::copy(&reference_src, &reference)?;
            }
            if update_docs {
                fs::copy(&png, docs.join(format!("{shot}.png")))?;
                if reference_src.is_file() {
                    fs::copy(&reference_src, docs.join(format!("{shot}.reference.png")))?;
                }
            }
            eprintln!(
                "miwg: {shot}: {} shapes, {} edges, {} problem(s)",
                shapes.len(),
                edges.len(),
                problems.len()
            );
        }
        // Close the tab: hidden editors stay mounted, and the page needs only one.
        ide.client
            .execute(
                &format!(
                    "const b = document.querySelector('[data-testid=\"tab-function-{name}\"] .tab-close'); \
                     if (b) b.click(); return !!b;"
                ),
                vec![],
            )
            .await?;
    }
    ensure!(
        failures.is_empty(),
        "{} diagram(s) not drawn at their DI:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ide.close().await
}

/// Creates an empty BPMN function through the explorer's "new function" form.
async fn new_bpmn_function(ide: &Ide, name: &str) -> Result<()> {
    ide.click("new-function-button").await?;
    ide.fill("new-function-name", name).await?;
    ide.find_css(&format!(
        "{} option[value=\"bpmn\"]",
        testid("new-function-language")
    ))
    .await
    .context("the new-function form offers no BPMN language (option value \"bpmn\")")?;
    ide.set_value("new-function-language", "bpmn").await?;
    ide.click("new-function-create").await?;
    ide.find(&format!("explorer-item-function-{name}")).await?;
    open_bpmn_function(ide, name).await
}

/// A client point at fractions of the canvas's width and height.
async fn canvas_point(ide: &Ide, fx: f64, fy: f64) -> Result<(f64, f64)> {
    let (left, top, width, height) = canvas_rect(&ide.client).await?;
    Ok((left + width * fx, top + height * fy))
}

/// Drags the element matching `css` onto the canvas and returns the node it created;
/// `at` is a position as fractions of the canvas's width and height, clear of the minimap
/// (bottom right).
async fn drop_on_canvas(ide: &mut Ide, css: &str, at: (f64, f64), step: &str) -> Result<String> {
    let to = canvas_point(ide, at.0, at.1).await?;
    let before = canvas_state(&ide.client).await?.node_ids();
    let item = ide.find_css(css).await?;
    drag_element(&ide.client, &item, to).await?;
    let state = wait_canvas(
        &ide.client,
        &format!("a new node after dropping {css}"),
        |s| s.nodes.len() > before.len(),
    )
    .await?;
    let added: Vec<String> = state.node_ids().difference(&before).cloned().collect();
    ensure!(
        added.len() == 1,
        "dropping {css} added {} nodes: {added:?}",
        added.len()
    );
    ide.step(step).await?;
    Ok(added[0].clone())
}

/// Selects `source` (a click), drags from its east port onto `target`; returns the new edge.
async fn connect(ide: &mut Ide, source: &str, target: &str, step: &str) -> Result<String> {
    let before = canvas_state(&ide.client).await?.edge_ids();
    let at = node_center(&ide.client, source).await?;
    click_at(&ide.client, at).await?;
    let port_css = format!("circle.flow-port[data-port-node=\"{source}\"][data-port=\"e\"]");
    let port = ide
        .find_css(&port_css)
        .await
        .with_context(|| format!("node {source} shows no east port after a click"))?;
    let to = node_center(&ide.client, target).await?;
    drag_element(&ide.client, &port, to).await?;
    let state = wait_canvas(
        &ide.client,
        &format!("an edge from {source} to {target}"),
        |s| s.edges.len() > before.len(),
    )
    .await?;
    let added: Vec<String> = state.edge_ids().difference(&before).cloned().collect();
    ensure!(
        added.len() == 1,
        "connecting {source} → {target} added {} edges: {added:?}",
        added.len()
    );
    ide.step(step).await?;
    Ok(added[0].clone())
}

/// Clicks the middle of an edge's longest segment and waits until it is selected.
async fn select_edge(ide: &Ide, id: &str) -> Result<()> {
    let state = canvas_state(&ide.client).await?;
    let edge = state
        .edge(id)
        .with_context(|| format!("the canvas has no edge {id}"))?;
    let (a, b) = edge
        .waypoints
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by(|x, y| seg_len(x).total_cmp(&seg_len(y)))
        .with_context(|| format!("edge {id} has fewer than 2 waypoints"))?;
    let mid = Point {
        x: (a.x + b.x) / 2.0,
        y: (a.y + b.y) / 2.0,
    };
    let at = to_client(&ide.client, &[mid]).await?[0];
    click_at(&ide.client, at).await?;
    wait_canvas(&ide.client, &format!("edge {id} to be selected"), |s| {
        s.edge(id).is_some_and(|e| e.has_class("selected"))
    })
    .await
    .map(|_| ())
}

fn seg_len((a, b): &(Point, Point)) -> f64 {
    (b.x - a.x).hypot(b.y - a.y)
}

/// Clicks a node and waits until it is selected.
async fn select_node(ide: &Ide, id: &str) -> Result<()> {
    let at = node_center(&ide.client, id).await?;
    click_at(&ide.client, at).await?;
    wait_canvas(&ide.client, &format!("node {id} to be selected"), |s| {
        s.node(id).is_some_and(|n| n.has_class("selected"))
    })
    .await
    .map(|_| ())
}

/// Types into a properties-panel field like a user: a plain field is cleared and typed into;
/// an expression field (a compact Monaco editor) is clicked, its text selected and typed over.
async fn set_prop(ide: &Ide, prop: &str, text: &str) -> Result<()> {
    let css = format!("{} [data-prop=\"{prop}\"]", testid("bpmn-properties"));
    let field = ide.find_css(&css).await?;
    let tag = field.tag_name().await?.to_ascii_lowercase();
    if matches!(tag.as_str(), "input" | "textarea" | "select") {
        field.clear().await?;
        field.send_keys(text).await?;
        ide.client
            .execute(
                "const f = arguments[0]; f.dispatchEvent(new Event('change', { bubbles: true })); f.blur(); return true;",
                vec![serde_json::to_value(&field)?],
            )
            .await?;
        return Ok(());
    }
    ide.find_css(&format!("{css} .monaco-editor .view-lines"))
        .await
        .with_context(|| format!("[data-prop={prop}] is neither a field nor a Monaco editor"))?
        .click()
        .await?;
    let textarea = ide
        .find_css(&format!("{css} .monaco-editor textarea"))
        .await?;
    textarea
        .send_keys(&(Key::Control + &format!("a{}", &*Key::Null)))
        .await?;
    textarea.send_keys(&Key::Backspace).await?;
    textarea.send_keys(text).await?;
    textarea.send_keys(&Key::Escape).await?;
    Ok(())
}

/// The function's `.bpmn` file as read from disk.
fn read_function(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(format!("functions/{name}.bpmn"));
    fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Waits until the function's file on disk satisfies `check`.
async fn wait_file(
    dir: &Path,
    name: &str,
    what: &str,
    mut check: impl FnMut(&str) -> bool,
) -> Result<String> {
    let path = dir.join(format!("functions/{name}.bpmn"));
    wait_until(what, || {
        fs::read_to_string(&path)
            .map(|t| check(&t))
            .unwrap_or(false)
    })
    .await?;
    read_function(dir, name)
}

/// The one process of a definitions, flow elements by id.
fn elements(defs: &Definitions) -> Result<Vec<&FlowElement>> {
    let process = defs.processes().next().context("no process")?;
    Ok(process.flow_elements.iter().collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn build_the_bff_flow_on_the_canvas() -> Result<()> {
    let mut ide = Ide::start("build_the_bff_flow_on_the_canvas").await?;
    canvas::new_vms(&ide, "canvasbff", "bff-aggregation").await?;
    let dir = ide.workspace().join("canvasbff");
    new_bpmn_function(&ide, "profileCheck").await?;
    ide.step("empty-function").await?;

    // Palette and component library: start event, a bound service task, a gateway, two ends.
    let start = drop_on_canvas(
        &mut ide,
        "[data-palette=\"startEvent\"]",
        (0.08, 0.35),
        "start-event",
    )
    .await?;
    let call = drop_on_canvas(
        &mut ide,
        "[data-library-kind=\"connector\"][data-library-ref=\"profile.getUser\"]",
        (0.25, 0.35),
        "service-task",
    )
    .await?;
    let gateway = drop_on_canvas(
        &mut ide,
        "[data-palette=\"exclusiveGateway\"]",
        (0.42, 0.35),
        "gateway",
    )
    .await?;
    let known = drop_on_canvas(
        &mut ide,
        "[data-palette=\"endEvent\"]",
        (0.6, 0.1),
        "end-known",
    )
    .await?;
    let unknown = drop_on_canvas(
        &mut ide,
        "[data-palette=\"endEvent\"]",
        (0.42, 0.75),
        "end-unknown",
    )
    .await?;
    let state = canvas_state(&ide.client).await?;
    for (id, kind) in [
        (&start, "kind-startEvent"),
        (&call, "kind-serviceTask"),
        (&gateway, "kind-exclusiveGateway"),
        (&known, "kind-endEvent"),
        (&unknown, "kind-endEvent"),
    ] {
        let node = state.node(id).context("a dropped node vanished")?;
        ensure!(
            node.has_class(kind),
            "node {id} is `{}`, expected {kind}",
            node.class
        );
    }

    // Sequence flows, drawn from the ports.
    connect(&mut ide, &start, &call, "flow-start-call").await?;
    connect(&mut ide, &call, &gateway, "flow-call-gateway").await?;
    let to_known = connect(&mut ide, &gateway, &known, "flow-gateway-known").await?;
    let to_unknown = connect(&mut ide, &gateway, &unknown, "flow-gateway-unknown").await?;

    // Conditions on the gateway's flows, through the properties panel.
    select_edge(&ide, &to_known).await?;
    set_prop(&ide, "condition", "id == \"u-1001\"").await?;
    ide.step("condition-known").await?;
    select_edge(&ide, &to_unknown).await?;
    set_prop(&ide, "condition", "id != \"u-1001\"").await?;
    ide.step("condition-unknown").await?;

    // On disk: the model the canvas built.
    let key = |id: &str| -> Result<String> {
        canvas_state_key(&state, id).with_context(|| format!("node {id} has no data-key"))
    };
    let (start_el, call_el, gateway_el, known_el, unknown_el) = (
        key(&start)?,
        key(&call)?,
        key(&gateway)?,
        key(&known)?,
        key(&unknown)?,
    );
    let saved = wait_file(
        &dir,
        "profileCheck",
        "the flow and its conditions on disk",
        |t| t.matches("u-1001").count() >= 2,
    )
    .await?;
    let doc = read_bpmn(&saved);
    ensure!(
        !doc.has_errors(),
        "the saved BPMN has errors: {:?}",
        doc.diagnostics
    );
    // What the canvas wrote passes the validator and re-imports unchanged.
    let problems: Vec<_> = starweave_model::validate::validate_bpmn(&doc)
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    ensure!(
        problems.is_empty(),
        "the validator refuses what the canvas drew: {problems:?}"
    );
    ensure!(
        starweave_model::bpmn::write_bpmn(&doc.definitions) == saved,
        "the saved diagram does not re-import unchanged"
    );
    let els = elements(&doc.definitions)?;
    let flows: Vec<(String, String, Option<String>)> = els
        .iter()
        .filter_map(|e| match e {
            FlowElement::SequenceFlow(f) => Some((
                f.source_ref.clone(),
                f.target_ref.clone(),
                f.condition_expression.as_ref().map(|c| c.body.clone()),
            )),
            _ => None,
        })
        .collect();
    for (from, to, condition) in [
        (&start_el, &call_el, None),
        (&call_el, &gateway_el, None),
        (&gateway_el, &known_el, Some("id == \"u-1001\"")),
        (&gateway_el, &unknown_el, Some("id != \"u-1001\"")),
    ] {
        ensure!(
            flows
                .iter()
                .any(|(s, t, c)| s == from && t == to && c.as_deref() == condition),
            "no flow {from} → {to} with condition {condition:?} on disk; flows: {flows:?}"
        );
    }
    let bound = els.iter().any(|e| match e {
        FlowElement::Activity(a) if a.base.id.as_deref() == Some(call_el.as_str()) => {
            a.starweave().is_some_and(|t| {
                t.connector.as_deref() == Some("profile") && t.method.as_deref() == Some("getUser")
            })
        }
        _ => false,
    });
    ensure!(
        bound,
        "the service task {call_el} is not bound to profile.getUser:\n{saved}"
    );
    ensure!(
        els.iter()
            .any(|e| matches!(e, FlowElement::Event(ev) if ev.kind == EventKind::Start)),
        "no start event on disk"
    );
    ensure!(
        els.iter()
            .any(|e| matches!(e, FlowElement::Gateway(g) if g.kind == GatewayKind::Exclusive)),
        "no exclusive gateway on disk"
    );

    // Run it with the profile service mocked: the branch of the known id is taken.
    ide.set_value("run-input", r#"{ "id": "u-1001" }"#).await?;
    ide.click_visible(".collapsible > .tree-toggle").await?;
    ide.click("mock-enable-profile.getUser").await?;
    ide.set_value(
        "mock-profile.getUser",
        r#"{ "id": "u-1001", "displayName": "Ada Lovelace", "email": "ada@example.com", "tier": "gold", "memberSince": "2019-04-02" }"#,
    )
    .await?;
    ide.click("run-button").await?;
    let painted = wait_canvas(&ide.client, "the run's path painted on the canvas", |s| {
        s.node(&known)
            .is_some_and(|n| n.has_class("trace-completed"))
    })
    .await?;
    ide.step("run-painted").await?;
    for id in [&start, &call, &gateway, &known] {
        let node = painted.node(id).context("a node vanished after the run")?;
        ensure!(
            node.has_class("trace-completed"),
            "node {id} was run but has class `{}`",
            node.class
        );
    }
    let skipped = painted.node(&unknown).context("the other end vanished")?;
    ensure!(
        !skipped.has_class("trace-completed"),
        "the branch not taken is painted as run: `{}`",
        skipped.class
    );
    let edge = painted.edge(&to_known).context("the flow taken vanished")?;
    ensure!(
        edge.has_class("trace-completed"),
        "the flow taken is not painted: `{}`",
        edge.class
    );

    // The service task's output, in the trace detail of the clicked node.
    select_node(&ide, &call).await?;
    let detail = ide.wait_text("bpmn-trace-detail", "Ada Lovelace").await?;
    ensure!(
        detail.contains("gold"),
        "the trace detail lacks the mocked output: {detail}"
    );
    ide.step("trace-detail").await?;
    ide.close().await
}

fn canvas_state_key(state: &CanvasState, id: &str) -> Option<String> {
    state.node(id).and_then(|n| n.key.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn export_and_undo() -> Result<()> {
    let mut ide = Ide::start("export_and_undo").await?;
    canvas::new_vms(&ide, "undoable", "empty").await?;
    let dir = ide.workspace().join("undoable");
    new_bpmn_function(&ide, "steps").await?;
    let start = drop_on_canvas(
        &mut ide,
        "[data-palette=\"startEvent\"]",
        (0.1, 0.35),
        "start",
    )
    .await?;
    let task = drop_on_canvas(&mut ide, "[data-palette=\"task\"]", (0.35, 0.35), "task").await?;
    let end = drop_on_canvas(&mut ide, "[data-palette=\"endEvent\"]", (0.6, 0.35), "end").await?;
    connect(&mut ide, &start, &task, "flow-1").await?;
    connect(&mut ide, &task, &end, "flow-2").await?;
    let built = canvas_state(&ide.client).await?;
    let task_key = canvas_state_key(&built, &task).context("the task has no data-key")?;
    let original = wait_file(&dir, "steps", "the built flow on disk", |t| {
        t.contains(&task_key)
            && read_bpmn(t)
                .definitions
                .diagrams
                .first()
                .is_some_and(|d| d.plane.as_ref().is_some_and(|p| p.elements.len() == 5))
    })
    .await?;
    // Saving is debounced: let the last save land, then take the file as the original.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let original = read_function(&dir, "steps").unwrap_or(original);
    let before = built.node(&task).context("no task")?.bounds;

    // Twenty keyboard moves of the selected task.
    select_node(&ide, &task).await?;
    ensure!(
        canvas_has_focus(&ide.client).await?,
        "clicking a node does not give the canvas the keyboard focus (document.activeElement is outside [data-testid=flow-canvas])"
    );
    press_keys(&ide.client, Key::Right.into(), 20, &[]).await?;
    let moved = wait_canvas(&ide.client, "the task to move right", |s| {
        s.node(&task).is_some_and(|n| n.bounds.x > before.x)
    })
    .await?;
    let after = moved.node(&task).context("no task")?.bounds;
    ensure!(
        after.y == before.y && after.x > before.x,
        "20 × → moved the task from {before:?} to {after:?}"
    );
    ide.step("moved-20").await?;
    wait_file(&dir, "steps", "the moves on disk", |t| t != original).await?;

    // Twenty Ctrl+Z: the file is byte for byte what it was.
    press_keys(&ide.client, 'z', 20, &[Key::Control.into()]).await?;
    let restored = wait_canvas(&ide.client, "the task back in place", |s| {
        s.node(&task).is_some_and(|n| n.bounds == before)
    })
    .await?;
    ensure!(restored.node(&task).is_some());
    ide.step("undone-20").await?;
    let result = wait_file(&dir, "steps", "the original file after 20 undos", |t| {
        t == original
    })
    .await;
    if result.is_err() {
        let now = read_function(&dir, "steps")?;
        bail!(
            "after 20 moves and 20 undos the file differs from the original: {}",
            canvas::first_difference(&original, &now)
        );
    }

    pan_moves_the_layer_then_commits(&ide, &task).await?;
    ide.step("panned").await?;

    // SVG export: the page hands over a standalone SVG document of the diagram.
    canvas::record_downloads(&ide.client).await?;
    ide.click("bpmn-export-svg").await?;
    let download = canvas::next_download(&ide.client).await?;
    ensure!(
        download.text.contains("<svg") && download.text.contains("http://www.w3.org/2000/svg"),
        "the export is not an SVG document ({}, {} bytes): {:.200}",
        download.mime,
        download.text.len(),
        download.text
    );
    let parsed = ide
        .client
        .execute(
            "const doc = new DOMParser().parseFromString(arguments[0], 'image/svg+xml'); \
             const root = doc.documentElement; \
             return { ok: !doc.querySelector('parsererror') && root.localName === 'svg', \
                      viewBox: root.getAttribute('viewBox'), shapes: doc.querySelectorAll('path, rect, circle, polygon, polyline').length };",
            vec![json!(download.text)],
        )
        .await?;
    ensure!(
        parsed["ok"] == true,
        "the exported SVG does not parse as an <svg> document: {parsed}"
    );
    ensure!(
        parsed["viewBox"].is_string(),
        "the exported SVG has no viewBox: {parsed}"
    );
    ensure!(
        parsed["shapes"].as_u64().unwrap_or(0) >= 5,
        "the exported SVG draws fewer shapes than the diagram has: {parsed}"
    );
    ensure!(
        download.file_name.as_deref() == Some("steps.svg"),
        "the export is offered as {:?}, expected steps.svg",
        download.file_name
    );
    // The link stays on screen for another click.
    let link = ide.find("bpmn-export-link").await?;
    ensure!(
        link.attr("download").await?.as_deref() == Some("steps.svg"),
        "bpmn-export-link does not download steps.svg"
    );
    fs::write(ide.artifacts.join("export.svg"), &download.text)?;
    ide.step("exported").await?;
    ide.close().await
}

/// A background pan: while the button is held the drawing moves as one layer (a CSS translate
/// on the `<svg>`, the viewport group untouched) and the shapes are where the pointer put them;
/// on release the viewport is committed and the layer's translate is gone, with the shapes in
/// the same place.
async fn pan_moves_the_layer_then_commits(ide: &Ide, node: &str) -> Result<()> {
    const STATE: &str = "CANVAS_JS
        const svg = canvas.querySelector('svg.flow-svg');
        const vp = canvas.querySelector('.flow-viewport');
        const n = canvas.querySelector(`[data-node-id=\"${CSS.escape(arguments[0])}\"]`);
        const r = n.getBoundingClientRect();
        const c = canvas.getBoundingClientRect();
        // An empty background point: low on the canvas, left of the minimap.
        let empty = null;
        for (let fy = 0.9; fy > 0.5 && !empty; fy -= 0.05) {
          for (let fx = 0.2; fx < 0.6 && !empty; fx += 0.05) {
            const x = c.left + c.width * fx, y = c.top + c.height * fy;
            const e = document.elementFromPoint(x, y);
            if (e && svg.contains(e) && !e.closest('[data-node-id], [data-edge-id], .flow-minimap')) empty = [x, y];
          }
        }
        return { layer: svg.style.transform, viewport: vp.getAttribute('transform'),
                 node: [r.left, r.top], empty };";
    let script = STATE.replace("CANVAS_JS", canvas::CANVAS_JS);
    let read = || async {
        ide.client
            .execute(&script, vec![json!(node)])
            .await
            .context("reading the pan state")
    };
    let before = read().await?;
    let from = before["empty"]
        .as_array()
        .and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?)))
        .context("no empty background point on the canvas")?;
    let delta = (-120.0, -60.0);
    let to = (from.0 + delta.0, from.1 + delta.1);
    let at = |v: &serde_json::Value| -> Result<(f64, f64)> {
        Ok((
            v["node"][0].as_f64().context("no node x")?,
            v["node"][1].as_f64().context("no node y")?,
        ))
    };
    let start = at(&before)?;
    let near = |p: (f64, f64)| {
        (p.0 - (start.0 + delta.0)).abs() <= 1.5 && (p.1 - (start.1 + delta.1)).abs() <= 1.5
    };
    ensure!(
        before["layer"].as_str().unwrap_or_default().is_empty(),
        "the drawing is translated before any pan: {before}"
    );

    canvas::press_and_move(&ide.client, from, to).await?;
    let during = read().await;
    canvas::release_button(&ide.client).await?;
    let during = during?;
    ensure!(
        !during["layer"].as_str().unwrap_or_default().is_empty()
            && during["viewport"] == before["viewport"],
        "mid-pan the drawing should move as a layer with the viewport group untouched: before {before}, during {during}"
    );
    ensure!(
        near(at(&during)?),
        "mid-pan the node is at {:?}, expected {start:?} moved by {delta:?}",
        at(&during)?
    );

    let after = read().await?;
    ensure!(
        after["layer"].as_str().unwrap_or_default().is_empty()
            && after["viewport"] != before["viewport"],
        "after the pan the viewport should be committed and the layer reset: before {before}, after {after}"
    );
    ensure!(
        near(at(&after)?),
        "after the pan the node is at {:?}, expected {start:?} moved by {delta:?}",
        at(&after)?
    );
    Ok(())
}
