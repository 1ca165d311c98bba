//! Local editors welcome: files changed outside the IDE (a plain write, as any editor does,
//! and `git commit` / `git checkout` in a terminal) show in the open IDE without a reload,
//! and an open tab with unsaved edits asks before anything is replaced.
//!
//! Each test starts its own server over a fresh workspace (seeded with the examples, the
//! first of which — `bff-aggregation` — opens) and its own Chromium.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use starweave_e2e::{Ide, git};

const VMS: &str = "bff-aggregation";
const FUNCTION_FILE: &str = "functions/buildDashboard.js";

/// `git` as a developer in a terminal would run it, with an identity even where the
/// machine has none configured.
fn terminal_git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut all = vec![
        "-c",
        "user.name=Terminal Dev",
        "-c",
        "user.email=terminal@example.com",
    ];
    all.extend_from_slice(args);
    git(dir, &all)
}

/// Opens the JavaScript function and waits until its editor shows the file.
async fn open_function(ide: &Ide) -> Result<()> {
    ide.click("explorer-item-function-buildDashboard").await?;
    ide.find("editor").await?;
    let on_disk = std::fs::read_to_string(ide.workspace().join(VMS).join(FUNCTION_FILE))?;
    wait_editor(ide, &on_disk).await
}

/// Waits until the active editor holds exactly `text`.
async fn wait_editor(ide: &Ide, text: &str) -> Result<()> {
    ide.wait_js(
        &format!(
            "return !!window.__starweave_editor_value && window.__starweave_editor_value() === {}",
            serde_json::to_string(text)?
        ),
        &format!("the editor to show {:?}", text.lines().next().unwrap_or("")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_and_commits_from_a_terminal_show_in_the_ide() -> Result<()> {
    let mut ide = Ide::start("edits_and_commits_from_a_terminal_show_in_the_ide").await?;
    let dir = ide.workspace().join(VMS);
    open_function(&ide).await?;
    ide.step("function-open").await?;

    // A plain editor writes the open file and a new function; `git commit` in a terminal.
    let edited = "// Edited in another editor.\nexport default async function (input) {\n  return { dashboard: input };\n}\n";
    std::fs::write(dir.join(FUNCTION_FILE), edited)?;
    std::fs::write(
        dir.join("functions/fromTerminal.js"),
        "export default async function () {\n  return { ok: true };\n}\n",
    )?;
    terminal_git(&dir, &["add", "-A"])?;
    terminal_git(&dir, &["commit", "-m", "Edited in a terminal"])?;

    wait_editor(&ide, edited)
        .await
        .context("the open tab did not reload the file changed on disk")?;
    ide.find("explorer-item-function-fromTerminal")
        .await
        .context("the explorer did not show the function created on disk")?;
    ide.wait_text("save-status", "Saved").await?;
    ide.click("git-tab").await?;
    ide.wait_js(
        "const h = document.querySelector('[data-testid=git-panel] .history-list'); \
         return !!h && h.textContent.includes('Edited in a terminal')",
        "the Git panel's history to show the terminal's commit",
    )
    .await?;
    ide.step("terminal-commit-shown").await?;

    // Another branch checked out in the terminal: the branch name, the files and the
    // explorer follow.
    terminal_git(&dir, &["checkout", "-b", "experiment", "HEAD~1"])?;
    ide.wait_text("vms-picker", "experiment")
        .await
        .context("the top bar did not show the branch checked out in the terminal")?;
    let original = std::fs::read_to_string(dir.join(FUNCTION_FILE))?;
    ensure!(!original.contains("Edited in another editor"));
    wait_editor(&ide, &original).await?;
    ide.wait_js(
        "return !document.querySelector('[data-testid=\"explorer-item-function-fromTerminal\"]')",
        "the function that exists only on the other branch to leave the explorer",
    )
    .await?;
    ide.step("branch-switched-in-terminal").await?;

    // The file on disk is still what the terminal left: the IDE did not write it back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    ensure!(std::fs::read_to_string(dir.join(FUNCTION_FILE))? == original);
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn unsaved_edits_and_a_change_on_disk_ask_first() -> Result<()> {
    let mut ide = Ide::start("unsaved_edits_and_a_change_on_disk_ask_first").await?;
    let file = ide.workspace().join(VMS).join(FUNCTION_FILE);
    open_function(&ide).await?;

    // 1. Take the disk version, after comparing.
    let disk =
        "// Written on disk (1).\nexport default async function () { return { from: 'disk' }; }\n";
    let mine =
        "// Typed in the IDE (1).\nexport default async function () { return { from: 'ide' }; }\n";
    // The edit first, then the disk: the write the edit schedules (500 ms later) or the
    // watcher's event, whichever comes first, finds both changed.
    ide.editor_set(mine).await?;
    std::fs::write(&file, disk)?;
    ide.find("conflict-dialog")
        .await
        .context("no prompt for a file changed on disk under unsaved edits")?;
    ide.step("conflict-prompt").await?;
    ide.click("conflict-compare").await?;
    let diff = ide.text("conflict-diff").await?;
    ensure!(
        diff.contains("Written on disk (1)") && diff.contains("Typed in the IDE (1)"),
        "the comparison shows both versions: {diff}"
    );
    ide.step("conflict-compare").await?;
    ide.click("conflict-take-theirs").await?;
    wait_editor(&ide, disk).await?;
    ide.wait_saved().await?;
    ensure!(ide.find_all("conflict-dialog").await?.is_empty());
    ensure!(std::fs::read_to_string(&file)? == disk);

    // 2. Keep mine: the buffer is written over the disk version.
    let disk = "// Written on disk (2).\nexport default async function () { return 2; }\n";
    let mine = "// Typed in the IDE (2).\nexport default async function () { return 'two'; }\n";
    ide.editor_set(mine).await?;
    std::fs::write(&file, disk)?;
    ide.find("conflict-dialog").await?;
    ide.click("conflict-keep-mine").await?;
    ide.wait_saved().await?;
    ensure!(ide.find_all("conflict-dialog").await?.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&file)? != mine {
        ensure!(
            std::time::Instant::now() < deadline,
            "keeping mine did not write the buffer: the disk has {:?}",
            std::fs::read_to_string(&file)?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_editor(&ide, mine).await?;
    ide.step("kept-mine").await?;

    // 3. A clean tab simply follows the disk: no prompt.
    let disk = "// Written on disk (3).\nexport default async function () { return 3; }\n";
    std::fs::write(&file, disk)?;
    wait_editor(&ide, disk).await?;
    ensure!(ide.find_all("conflict-dialog").await?.is_empty());
    ide.close().await
}
