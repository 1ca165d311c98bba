//! The Deploy panel in a real browser against `starweave up` and the release
//! `starweave-engine` (built next to `starweave`), both on loopback: engines and a token
//! entered, a deployment with an env value, a second version, a rollback with Activate and an
//! Undeploy — each checked on the engine's own data port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use starweave_e2e::canvas::new_vms;
use starweave_e2e::{Ide, git};

const TOKEN: &str = "e2e-engine-admin-token-5f1c";

/// A running release `starweave-engine`; killed when dropped.
struct Engine {
    child: Child,
    data: String,
    admin: String,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_engine() -> Result<Engine> {
    let starweave = std::env::var_os("STARWEAVE_BIN")
        .map(std::path::PathBuf::from)
        .context("STARWEAVE_BIN names the release `starweave`; the engine is built next to it")?;
    let bin = starweave.with_file_name("starweave-engine");
    ensure!(bin.is_file(), "{} is not built", bin.display());
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
        .env("STARWEAVE_LOG", "info")
        .env_remove("STARWEAVE_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let listening = loop {
        let Some(line) = lines.next() else {
            bail!("the engine exited before listening");
        };
        let line: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        if line["message"] == "engine listening" {
            break line;
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Engine {
        data: listening["listen"].as_str().context("listen")?.to_owned(),
        admin: format!("http://{}", listening["admin"].as_str().context("admin")?),
        child,
    })
}

impl Engine {
    /// `GET` on the data port: the status line's code and the body.
    fn get(&self, path: &str) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect(&self.data)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            self.data
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Ok((status, body))
    }

    /// Waits up to 30 s until `path` answers 200 with `needle` in the body.
    async fn wait_body(&self, path: &str, needle: &str) -> Result<()> {
        let mut last = (0, String::new());
        for _ in 0..300 {
            last = self.get(path)?;
            if last.0 == 200 && last.1.contains(needle) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{path} never answered `{needle}`; last {last:?}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_to_an_engine_roll_back_and_undeploy() -> Result<()> {
    let engine = start_engine()?;
    let mut ide = Ide::start("deploy_to_an_engine_roll_back_and_undeploy").await?;
    new_vms(&ide, "shipped", "http-js").await?;
    let dir = ide.workspace().join("shipped");
    let commit = git(&dir, &["rev-parse", "HEAD"])?;
    // The version a deployment gets now: the commit's, plus a content hash if the IDE left
    // the work tree changed.
    let target = ide.api("GET", "/api/v1/vms/shipped/deploy", None).await?;
    let first = target["body"]["version"]
        .as_str()
        .with_context(|| format!("no version from Git: {target}"))?
        .to_owned();
    ensure!(
        first.starts_with(&commit.trim()[..12]),
        "the version {first} is not the commit's {commit}"
    );
    let first = first.as_str();

    ide.click("deploy-tab").await?;
    ide.find("deploy-panel").await?;
    ide.fill("deploy-engines", &engine.admin).await?;
    ide.click("deploy-save").await?;
    ide.wait_text("deploy-feedback", "Saved the deploy target")
        .await?;
    // No token kept for it yet: the engine's row asks for one.
    ide.fill("deploy-token-0", TOKEN).await?;
    ide.click("deploy-token-save-0").await?;
    ide.find("deploy-token-kept-0").await?;
    ide.fill("deploy-env-GREETING", "Hej").await?;
    ide.step("deploy-target").await?;

    ide.click("deploy-button").await?;
    ide.wait_text("deploy-feedback", &format!("Deployed {first}"))
        .await?;
    ensure!(
        ide.text("deploy-outcome-0").await?.contains("deployed"),
        "the engine's outcome is shown"
    );
    ensure!(
        ide.text("deploy-routes").await?.contains("/hello/{name}"),
        "the routes are listed"
    );
    engine.wait_body("/shipped/hello/Ada", "Hej, Ada!").await?;
    ide.step("deployed").await?;

    // A second, named version with another value.
    ide.fill("deploy-env-GREETING", "Hallo").await?;
    ide.fill("deploy-version", "2").await?;
    ide.click("deploy-button").await?;
    ide.wait_text("deploy-feedback", "Deployed 2").await?;
    engine
        .wait_body("/shipped/hello/Ada", "Hallo, Ada!")
        .await?;
    ide.wait_text("deployment-state-2", "active").await?;

    // Back to the first without sending anything, then the second is unloaded.
    ide.click(&format!("deployment-activate-{first}")).await?;
    ide.wait_text("deploy-feedback", "takes the traffic again")
        .await?;
    engine.wait_body("/shipped/hello/Ada", "Hej, Ada!").await?;
    ide.wait_text(&format!("deployment-state-{first}"), "active")
        .await?;
    ide.step("rolled-back").await?;
    ide.click("deployment-undeploy-2").await?;
    ide.wait_gone("deployment-2").await?;
    engine.wait_body("/shipped/hello/Ada", "Hej, Ada!").await?;
    ide.step("undeployed").await?;

    // The running version logs at debug from now on: chosen in the list, read back from the
    // engine.
    let level = format!("deployment-level-{first}");
    ide.set_value(&level, "debug").await?;
    ide.wait_text("deploy-feedback", "logs at debug").await?;
    let listed = ide
        .api("GET", "/api/v1/vms/shipped/deployments", None)
        .await?;
    ensure!(
        listed["body"]["deployments"][0]["log_level"] == "debug",
        "the engine did not take the level: {listed}"
    );
    ensure!(
        ide.text(&format!("deployment-in-flight-{first}"))
            .await?
            .contains("0 in flight"),
        "in-flight runs are shown"
    );

    // The Logs panel: what the function logged on the engine (`ctx.log.info("greeting",
    // name)`), followed live, and searched.
    ide.click("logs-tab").await?;
    ide.find("logs-panel").await?;
    engine.get("/shipped/hello/Grace")?;
    ide.wait_text("logs-list", "greeting Grace").await?;
    ensure!(
        ide.text("logs-list").await?.contains("hello:"),
        "the line names the function that logged it"
    );
    // New lines arrive while the panel follows the log.
    engine.get("/shipped/hello/Linus")?;
    ide.wait_text("logs-list", "greeting Linus").await?;
    ide.step("logs").await?;
    // The search reads as soon as typing pauses: no Enter, no Refresh.
    ide.fill("logs-text", "linus").await?;
    ide.wait_js(
        "const lines = [...document.querySelectorAll('[data-testid=\"log-line\"]')]; \
         return lines.length >= 2 && lines.every(l => l.textContent.toLowerCase().includes('linus'))",
        "only the lines with `linus` (its ctx.log line and its request's)",
    )
    .await?;
    // A line's trace id narrows the panel to that request; the chip brings every line back.
    ide.click("log-trace").await?;
    ide.find("logs-trace").await?;
    // (WebDriver's clear fires no `input` event: set the empty search the way typing does.)
    ide.set_value("logs-text", "").await?;
    ide.click("logs-refresh").await?;
    ide.wait_js(
        "const lines = [...document.querySelectorAll('[data-testid=\"log-line\"]')]; \
         const ids = new Set(lines.map(l => l.querySelector('[data-testid=\"log-trace\"]')?.textContent)); \
         return lines.length >= 2 && ids.size === 1 && !ids.has(undefined) \
           && lines.some(l => l.textContent.includes('greeting Linus')) \
           && !lines.some(l => l.textContent.includes('Grace'))",
        "only the lines of Linus's request",
    )
    .await?;
    ide.step("logs-trace").await?;
    ide.click("logs-trace").await?;
    ide.wait_gone("logs-trace").await?;
    // The last five minutes: both requests were just made.
    ide.set_value("logs-since", "5m").await?;
    ide.wait_js(
        "const text = document.querySelector('[data-testid=\"logs-list\"]').textContent; \
         return text.includes('greeting Grace') && text.includes('greeting Linus')",
        "the last five minutes' lines",
    )
    .await?;

    // The non-secret value is kept with the target: it is there after a reload.
    ide.reload().await?;
    ide.click("deploy-tab").await?;
    ide.wait_js(
        "const e = document.querySelector('[data-testid=\"deploy-env-GREETING\"]'); \
         return !!e && e.value === 'Hallo'",
        "the kept GREETING value",
    )
    .await?;
    ide.close().await
}
