//! Screenshots of the IDE's main screens, taken from a real session over the BFF example.
//!
//! Always saved as artifacts (`<target>/e2e-artifacts/main_screens/`); with
//! `STARWEAVE_SCREENSHOTS=1` also copied to `docs/screenshots/` (linked from the README):
//! `explorer-js-editor.png`, `run-trace.png`, `bpmn-canvas.png`, `git-panel.png`, `parameters.png`,
//! `dark-theme.png`.

use std::path::Path;

use anyhow::{Context, Result};
use starweave_e2e::{Ide, repo_root, testid};

async fn shot(ide: &mut Ide, name: &str) -> Result<()> {
    // Let fonts, Monaco's layout and transitions settle before the picture.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let path = ide.step(name).await?;
    if std::env::var_os("STARWEAVE_SCREENSHOTS").is_some() {
        let dir = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir)?;
        let target = dir.join(format!("{name}.png"));
        std::fs::copy(&path, &target).with_context(|| format!("writing {}", target.display()))?;
        eprintln!("screenshot: {}", target.display());
    }
    Ok(())
}

async fn editor(ide: &Ide) -> Result<()> {
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn main_screens() -> Result<()> {
    let mut ide = Ide::start("main_screens").await?;
    // The BFF example as a VMS of its own.
    ide.click("new-vms-button").await?;
    ide.fill("new-vms-name", "shop-bff").await?;
    ide.find_css(&format!(
        "{} option[value=\"bff-aggregation\"]",
        testid("new-vms-template")
    ))
    .await?;
    ide.set_value("new-vms-template", "bff-aggregation").await?;
    ide.click("new-vms-create").await?;
    ide.find("explorer-item-function-buildDashboard").await?;

    // Explorer + JavaScript editor.
    ide.click("explorer-item-function-buildDashboard").await?;
    editor(&ide).await?;
    shot(&mut ide, "explorer-js-editor").await?;

    // Parameter editor (table view) of the same function.
    ide.click("param-view-table").await?;
    ide.find("param-table").await?;
    shot(&mut ide, "parameters").await?;

    // Run panel with mocks and the trace.
    ide.click("explorer-item-function-getDashboard").await?;
    ide.find("run-button").await?;
    ide.set_value("run-input", r#"{ "id": "u-1001" }"#).await?;
    ide.click_visible(".collapsible > .tree-toggle").await?;
    ide.click("mock-enable-profile.getUser").await?;
    ide.set_value(
        "mock-profile.getUser",
        r#"{ "id": "u-1001", "displayName": "Ada Lovelace", "email": "ada@example.com", "tier": "gold", "memberSince": "2019-04-02", "preferredCurrency": "EUR" }"#,
    )
    .await?;
    ide.click("mock-enable-orders.listRecent").await?;
    ide.set_value(
        "mock-orders.listRecent",
        r#"{ "orders": [ { "id": "o-9003", "placedAt": "2024-03-08T09:12:00Z", "status": "SHIPPED", "totalCents": 12990, "currency": "EUR", "itemCount": 2 } ] }"#,
    )
    .await?;
    ide.click("run-button").await?;
    ide.wait_text("run-output", "Ada Lovelace").await?;
    ide.find("trace-step-build_dashboard").await?;
    ide.client
        .execute(
            "document.querySelector('[data-testid=run-trace]').scrollIntoView({ block: 'center' })",
            vec![],
        )
        .await?;
    shot(&mut ide, "run-trace").await?;

    // The same run painted on the BPMN canvas, with a node's output.
    ide.click_visible(".tabpanel:not(.hidden) [data-key=\"build_dashboard\"]")
        .await?;
    ide.wait_text("bpmn-trace-detail", "Ada Lovelace").await?;
    shot(&mut ide, "bpmn-canvas").await?;

    // Git panel with a changed file.
    ide.click("explorer-item-function-buildDashboard").await?;
    editor(&ide).await?;
    let source = ide.editor_value().await?;
    ide.editor_set(&format!("// Shown on the customer's home page.\n{source}"))
        .await?;
    ide.wait_saved().await?;
    ide.click("git-tab").await?;
    ide.find("git-file-functions/buildDashboard.js").await?;
    ide.click("git-file-functions/buildDashboard.js").await?;
    ide.fill("git-commit-message", "Dashboard: explain where it is shown")
        .await?;
    shot(&mut ide, "git-panel").await?;

    // Dark theme.
    ide.click("theme-toggle").await?;
    shot(&mut ide, "dark-theme").await?;
    ide.close().await?;

    if std::env::var_os("STARWEAVE_SCREENSHOTS").is_some() {
        for name in [
            "explorer-js-editor",
            "parameters",
            "run-trace",
            "bpmn-canvas",
            "git-panel",
            "dark-theme",
        ] {
            let path = repo_root().join(format!("docs/screenshots/{name}.png"));
            anyhow::ensure!(Path::new(&path).is_file(), "{} missing", path.display());
        }
    }
    Ok(())
}
