//! `starweave-app`: the Starweave IDE in a desktop window.
//!
//! On launch it opens the workspace folder, starts the IDE server in process (a tokio task on
//! `127.0.0.1:<random port>` with a random per-launch token) and shows a window loading
//! `http://127.0.0.1:<port>/#token=<token>`: the same UI and API a browser gets from
//! `starweave up`, so there is no second code path in the UI. Everything runs on the embedded
//! engine; nothing needs the network.
//!
//! Native parts: the application menu (File: Open Folder as Workspace…, Reload, Quit; Help:
//! About), one instance per user (a second launch focuses the first window and, with
//! `--workspace`, opens that folder there), the window's size and position remembered, the
//! native folder dialog.

#![windows_subsystem = "windows"]

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use starweave_app::launch::{self, Launch, Options};
use starweave_app::server::{Desktop, Settings};
use tauri::menu::{AboutMetadata, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::webview::PageLoadEvent;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_dialog::{DialogExt, MessageDialogKind};

/// The label of the one window.
const MAIN: &str = "main";

/// Run in the page after each load of the IDE: once the UI marks itself ready
/// (`document.body.dataset.ready == "1"`), tell the server, which prints the time since start.
const READY_PROBE: &str = r#"(function () {
  if (window.__starweaveReadyProbe) return;
  window.__starweaveReadyProbe = true;
  const token = "__TOKEN__";
  const poll = () => {
    if (document.body && document.body.dataset.ready === "1") {
      fetch("/api/v1/desktop/ready", { method: "POST", headers: { authorization: "Bearer " + token } }).catch(() => {});
    } else {
      setTimeout(poll, 20);
    }
  };
  poll();
})();"#;

fn main() -> ExitCode {
    let started = Instant::now();
    let launch = launch::parse(std::env::args_os().skip(1), |name| std::env::var_os(name));
    let mut options = match launch {
        Ok(Launch::Run(options)) => options,
        Ok(Launch::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("starweave-app: {err:#}");
            return ExitCode::from(2);
        }
    };
    if options.ui_dir.is_none() {
        options.ui_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| launch::installed_ui_dir(&exe));
    }
    prepare_webkit_environment();
    match run(options, started) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("starweave-app: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets `WEBKIT_DISABLE_COMPOSITING_MODE=1` under Xvfb (see
/// [`launch::needs_software_compositing`]). Called first thing in `main`, before any thread
/// exists, which is what makes changing the environment sound.
#[allow(unsafe_code)]
fn prepare_webkit_environment() {
    if !cfg!(target_os = "linux") || std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_some() {
        return;
    }
    let display = std::env::var("DISPLAY").ok();
    if launch::needs_software_compositing(display.as_deref(), std::path::Path::new("/proc")) {
        // SAFETY: no other thread runs yet (the tokio runtime and GTK start later), so nothing
        // reads the environment concurrently.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
}

fn run(options: Options, started: Instant) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("starweave-server")
        .build()
        .context("cannot start the tokio runtime")?;
    let token = launch::new_token()?;
    // Only the port is taken before Tauri starts; the workspace is opened in `setup`, after the
    // single-instance plugin had its say, so a second launch that hands over to the first
    // changes nothing on disk.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .context("cannot listen on 127.0.0.1")?;
    let address = listener.local_addr()?;
    // Tauri's own async work (plugins, dialogs) shares the server's runtime.
    tauri::async_runtime::set(runtime.handle().clone());

    let url: tauri::Url = format!("http://{address}/#token={token}")
        .parse()
        .context("the IDE's URL")?;
    let probe = READY_PROBE.replace("__TOKEN__", &token);
    let port = address.port();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();

    let mut builder = tauri::Builder::default();
    if options.single_instance {
        // Registered first, as the plugin asks: a second launch hands over its arguments and
        // exits; this instance comes to the front and opens the folder it was given.
        builder = builder.plugin(tauri_plugin_single_instance::init(move |app, argv, cwd| {
            focus_main(app);
            let args = argv.into_iter().skip(1).map(OsString::from);
            if let Ok(Launch::Run(other)) = launch::parse(args, |_| None)
                && !other.default_workspace
            {
                // A folder given relatively is relative to where the second launch ran.
                let folder = if other.workspace.is_absolute() {
                    other.workspace
                } else {
                    PathBuf::from(cwd).join(other.workspace)
                };
                match app.try_state::<Desktop>() {
                    Some(desktop) => open_folder(app, desktop.inner().clone(), folder),
                    None => show_error(
                        app,
                        &format!(
                            "Starweave is still opening its workspace; open {} again in a moment",
                            folder.display()
                        ),
                    ),
                }
            }
        }));
    }
    let app = builder
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            // A workspace that cannot be opened is said in a dialog and the app exits with an
            // error, rather than failing the setup (which Tauri turns into a crash).
            let opened = launch::recent_file().and_then(|recent_file| {
                let settings = Settings {
                    token: token.clone(),
                    ui_dir: options.ui_dir.clone(),
                    listen_ip: address.ip(),
                    recent_file,
                    started,
                };
                tauri::async_runtime::block_on(Desktop::start(
                    &options.workspace,
                    options.default_workspace,
                    settings,
                ))
            });
            let desktop = match opened {
                Ok(desktop) => desktop,
                Err(err) => {
                    let message = format!("Starweave cannot start: {err:#}");
                    eprintln!("starweave-app: {message}");
                    app.dialog()
                        .message(message)
                        .title("Starweave")
                        .kind(MessageDialogKind::Error)
                        .blocking_show();
                    app.handle().exit(1);
                    return Ok(());
                }
            };
            println!("Starweave IDE: http://{address}/");
            println!("workspace: {}", desktop.root().display());
            let router = desktop.router();
            tauri::async_runtime::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(err) = starweave_cloud::up::serve_on(listener, router, shutdown).await {
                    eprintln!("starweave-app: the IDE server stopped: {err:#}");
                }
            });
            app.manage(desktop);
            let menu = build_menu(app.handle())?;
            app.set_menu(menu)?;
            let origin = url.origin();
            WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url.clone()))
                // The window shows the IDE and nothing else: the page it loads with the
                // token must never be another site's.
                .on_navigation(move |to| to.origin() == origin)
                .title("Starweave")
                .inner_size(1280.0, 800.0)
                .min_inner_size(720.0, 480.0)
                .build()?;
            Ok(())
        })
        .on_menu_event(|app, event| {
            if let Some(desktop) = app.try_state::<Desktop>() {
                on_menu(app, &event, desktop.inner());
            }
        })
        .on_page_load(move |webview, payload| {
            if payload.event() == PageLoadEvent::Finished
                && payload.url().host_str() == Some("127.0.0.1")
                && payload.url().port() == Some(port)
                && let Err(err) = webview.eval(&probe)
            {
                eprintln!("starweave-app: cannot watch for the IDE to be ready: {err}");
            }
        })
        .build(tauri::generate_context!())
        .context("cannot start the app")?;
    let mut shutdown = Some(shutdown);
    app.run(move |_app, event| {
        if let RunEvent::Exit = event
            && let Some(shutdown) = shutdown.take()
        {
            let _ = shutdown.send(());
        }
    });
    drop(runtime);
    Ok(ExitCode::SUCCESS)
}

/// File: Open Folder as Workspace… (Ctrl+O), Reload (Ctrl+R), Quit (Ctrl+Q);
/// Help: About Starweave.
fn build_menu(app: &AppHandle) -> tauri::Result<Menu<tauri::Wry>> {
    let open = MenuItem::with_id(
        app,
        "open-folder",
        "Open Folder as Workspace…",
        true,
        Some("CmdOrCtrl+O"),
    )?;
    let reload = MenuItem::with_id(app, "reload", "Reload", true, Some("CmdOrCtrl+R"))?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, Some("CmdOrCtrl+Q"))?;
    let file = Submenu::with_items(
        app,
        "File",
        true,
        &[&open, &reload, &PredefinedMenuItem::separator(app)?, &quit],
    )?;
    let about = PredefinedMenuItem::about(
        app,
        Some("About Starweave"),
        Some(AboutMetadata {
            name: Some("Starweave".into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            comments: Some(
                "Build visual microservices from BPMN flows, code functions, connectors and \
                 triggers. The IDE runs on an embedded engine and works offline."
                    .into(),
            ),
            license: Some("Apache-2.0".into()),
            website: Some("https://github.com/starweave/starweave".into()),
            ..Default::default()
        }),
    )?;
    let help = Submenu::with_items(app, "Help", true, &[&about])?;
    Menu::with_items(app, &[&file, &help])
}

fn on_menu(app: &AppHandle, event: &MenuEvent, desktop: &Desktop) {
    match event.id().as_ref() {
        "open-folder" => {
            let app_handle = app.clone();
            let desktop = desktop.clone();
            app.dialog()
                .file()
                .set_title("Open Folder as Workspace")
                .set_directory(desktop.root())
                .pick_folder(move |folder| {
                    let Some(folder) = folder else { return };
                    match folder.into_path() {
                        Ok(path) => open_folder(&app_handle, desktop, path),
                        Err(err) => show_error(&app_handle, &format!("{err}")),
                    }
                });
        }
        "reload" => reload(app),
        "quit" => app.exit(0),
        _ => {}
    }
}

/// Switches the server to `folder` and reloads the window; failures get a message box.
fn open_folder(app: &AppHandle, desktop: Desktop, folder: PathBuf) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match desktop.switch(&folder).await {
            Ok(_) => reload(&app),
            Err(err) => show_error(&app, &err.to_string()),
        }
    });
}

fn reload(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.eval("window.location.reload()");
    }
}

fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

fn show_error(app: &AppHandle, message: &str) {
    eprintln!("starweave-app: {message}");
    app.dialog()
        .message(message.to_owned())
        .title("Starweave")
        .kind(MessageDialogKind::Error)
        .show(|_| {});
}
