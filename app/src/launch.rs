//! How the app is launched: command line, environment, folders, the per-launch token, and
//! WebKitGTK's environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// What the command line and the environment ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--workspace <dir>`, else `STARWEAVE_WORKSPACE`, else [`default_workspace`].
    pub workspace: PathBuf,
    /// Whether `workspace` is the default one (the default one gets the example VMS when
    /// empty; a folder the user names is left as it is).
    pub default_workspace: bool,
    /// `--ui-dir <dir>`: serve the UI from a built folder instead of the embedded one (`main`
    /// fills in [`installed_ui_dir`] when the flag is absent).
    pub ui_dir: Option<PathBuf>,
    /// `STARWEAVE_APP_SINGLE_INSTANCE=0` turns the single-instance rule off (tests run
    /// several windows side by side).
    pub single_instance: bool,
}

/// The usage text of `--help`.
pub const USAGE: &str = "\
Starweave desktop: the Starweave IDE in a window, over a local workspace of VMS Git repositories.

Usage: starweave-app [--workspace <dir>] [--ui-dir <dir>]

Options:
  --workspace <dir>  the workspace folder [env: STARWEAVE_WORKSPACE]
                     [default: <data dir>/starweave/workspaces/default]
  --ui-dir <dir>     serve the UI from this built folder [default: <prefix>/share/starweave/ui
                     when installed there, else the UI embedded in the executable]
  --version          print the version
  --help             print this text

Environment:
  STARWEAVE_APP_SINGLE_INSTANCE=0  allow several windows at once
  WEBKIT_DISABLE_COMPOSITING_MODE  set to 1 automatically under Xvfb";

/// What `main` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Open the window.
    Run(Options),
    /// Print this text and exit successfully.
    Print(String),
}

/// Reads the command line (without the program name) and the environment (`var` looks one up).
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<Launch> {
    let mut workspace = None;
    let mut ui_dir = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| -> Result<PathBuf> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                _ => bail!("{name} needs a folder\n\n{USAGE}"),
            }
        };
        match flag.as_str() {
            "--workspace" => workspace = Some(value("--workspace")?),
            "--ui-dir" => ui_dir = Some(value("--ui-dir")?),
            "--help" | "-h" => return Ok(Launch::Print(USAGE.to_owned())),
            "--version" | "-V" => {
                return Ok(Launch::Print(format!(
                    "starweave-app {}",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let from_env = var("STARWEAVE_WORKSPACE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (workspace, default_workspace) = match workspace.or(from_env) {
        Some(dir) => (dir, false),
        None => (default_workspace()?, true),
    };
    if let Some(dir) = &ui_dir
        && !dir.join("index.html").is_file()
    {
        bail!("--ui-dir {}: there is no index.html in it", dir.display());
    }
    let single_instance = var("STARWEAVE_APP_SINGLE_INSTANCE").is_none_or(|v| v != "0");
    Ok(Launch::Run(Options {
        workspace,
        default_workspace,
        ui_dir,
        single_instance,
    }))
}

/// The UI installed next to the executable, `<prefix>/share/starweave/ui` for
/// `<prefix>/bin/starweave-app` (the `.deb` puts it in `/usr/share/starweave/ui`), when it has
/// an `index.html`. Served from files, the UI stays in the page cache instead of adding the
/// embedded copy's pages to the app's own memory.
pub fn installed_ui_dir(executable: &Path) -> Option<PathBuf> {
    let prefix = executable.parent()?.parent()?;
    let dir = prefix.join("share").join("starweave").join("ui");
    dir.join("index.html").is_file().then_some(dir)
}

/// `<data dir>/starweave/workspaces/default` (`~/.local/share/…` on Linux).
pub fn default_workspace() -> Result<PathBuf> {
    let data = dirs::data_dir().context("this system names no data folder for the user")?;
    Ok(data.join("starweave").join("workspaces").join("default"))
}

/// The file of recent workspaces: `<config dir>/starweave/recent-workspaces.json`.
pub fn recent_file() -> Result<PathBuf> {
    let config = dirs::config_dir().context("this system names no config folder for the user")?;
    Ok(config.join("starweave").join("recent-workspaces.json"))
}

/// A fresh random token: 32 bytes from the OS, as 64 hex digits.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    Ok(hex::encode(bytes))
}

/// Whether WebKitGTK must run without compositing: under Xvfb the window otherwise stays blank
/// with no error. True when `WEBKIT_DISABLE_COMPOSITING_MODE` is unset and the X display named
/// by `DISPLAY` is served by an `Xvfb` process (found through `/proc`). On a real desktop
/// compositing stays on (it is faster there).
pub fn needs_software_compositing(display: Option<&str>, proc_dir: &Path) -> bool {
    let Some(number) = display.and_then(display_number) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            return false;
        };
        let mut parts = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
        let is_xvfb = parts
            .next()
            .is_some_and(|program| program.rsplit('/').next() == Some("Xvfb"));
        is_xvfb && parts.any(|arg| arg.strip_prefix(':') == Some(number.as_str()))
    })
}

/// `:99` or `:99.0` → `99`; remote displays (`host:0`) → none.
fn display_number(display: &str) -> Option<String> {
    let rest = display.strip_prefix(':')?;
    let number = rest.split('.').next()?;
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then(|| number.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Launch> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(OsString::from), |name| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    fn options(launch: Launch) -> Options {
        match launch {
            Launch::Run(options) => options,
            Launch::Print(text) => panic!("expected options, got {text}"),
        }
    }

    #[test]
    fn the_workspace_comes_from_the_flag_then_the_env_then_the_default() {
        let flag =
            options(parse_with(&["--workspace", "/a"], &[("STARWEAVE_WORKSPACE", "/b")]).unwrap());
        assert_eq!(flag.workspace, Path::new("/a"));
        assert!(!flag.default_workspace);
        let inline = options(parse_with(&["--workspace=/c"], &[]).unwrap());
        assert_eq!(inline.workspace, Path::new("/c"));
        let env = options(parse_with(&[], &[("STARWEAVE_WORKSPACE", "/b")]).unwrap());
        assert_eq!(env.workspace, Path::new("/b"));
        let default = options(parse_with(&[], &[]).unwrap());
        assert!(default.default_workspace);
        assert!(
            default.workspace.ends_with("starweave/workspaces/default"),
            "{}",
            default.workspace.display()
        );
        assert!(default.single_instance);
        let many = options(parse_with(&[], &[("STARWEAVE_APP_SINGLE_INSTANCE", "0")]).unwrap());
        assert!(!many.single_instance);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let err = parse_with(&["--workspace"], &[]).unwrap_err().to_string();
        assert!(err.contains("--workspace needs a folder"), "{err}");
        let err = parse_with(&["--frobnicate"], &[]).unwrap_err().to_string();
        assert!(err.contains("unknown argument `--frobnicate`"), "{err}");
        let missing = tempfile::tempdir().unwrap();
        let err = parse_with(&["--ui-dir", missing.path().to_str().unwrap()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no index.html"), "{err}");
        assert!(
            matches!(parse_with(&["--version"], &[]).unwrap(), Launch::Print(v) if v.starts_with("starweave-app "))
        );
    }

    #[test]
    fn the_installed_ui_is_found_beside_the_executable() {
        let prefix = tempfile::tempdir().unwrap();
        let exe = prefix.path().join("bin/starweave-app");
        assert_eq!(installed_ui_dir(&exe), None);
        let ui = prefix.path().join("share/starweave/ui");
        std::fs::create_dir_all(&ui).unwrap();
        assert_eq!(
            installed_ui_dir(&exe),
            None,
            "a folder without index.html is no UI"
        );
        std::fs::write(ui.join("index.html"), "<!doctype html>").unwrap();
        assert_eq!(installed_ui_dir(&exe), Some(ui));
    }

    #[test]
    fn tokens_are_long_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn xvfb_is_recognised_by_its_process() {
        let proc_dir = tempfile::tempdir().unwrap();
        let xvfb = proc_dir.path().join("4242");
        std::fs::create_dir(&xvfb).unwrap();
        std::fs::write(
            xvfb.join("cmdline"),
            b"/usr/bin/Xvfb\x00:99\x00-screen\x000\x001280x1024x24\x00",
        )
        .unwrap();
        let other = proc_dir.path().join("7");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("cmdline"), b"/usr/bin/Xorg\0:0\0").unwrap();
        assert!(needs_software_compositing(Some(":99"), proc_dir.path()));
        assert!(needs_software_compositing(Some(":99.0"), proc_dir.path()));
        assert!(!needs_software_compositing(Some(":0"), proc_dir.path()));
        assert!(!needs_software_compositing(Some(":98"), proc_dir.path()));
        assert!(!needs_software_compositing(
            Some("remote:99"),
            proc_dir.path()
        ));
        assert!(!needs_software_compositing(None, proc_dir.path()));
    }
}
