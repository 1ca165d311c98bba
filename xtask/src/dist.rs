//! `cargo xtask dist`: the desktop app as a Debian package under `<target>/dist/`.
//!
//! Steps: the UI in release (or the one `STARWEAVE_UI_DIST` names), the app in release without
//! the UI embedded (`custom-protocol` is on by default in `starweave-app`; the package installs
//! the UI as files, which the app serves from the page cache instead of its own memory), then
//! a `.deb` staged by hand and packed with
//! `dpkg-deb --build`. Tauri's own bundler would need `tauri-cli` (a long extra build); a
//! staged tree is a few files and fully under our control:
//!
//! ```text
//! DEBIAN/control                                   Depends computed from the binary (below)
//! usr/bin/starweave-app                            stripped of debug info
//! usr/share/starweave/ui/                          the built UI (index.html, pkg/, monaco/, style/)
//! usr/share/applications/starweave.desktop
//! usr/share/icons/hicolor/<size>/apps/starweave.png   from app/icons/
//! usr/share/doc/starweave-desktop/copyright
//! ```
//!
//! `Depends` lists the Debian packages owning the shared libraries the binary links directly
//! (`readelf -d` NEEDED → `ldconfig -p` → `dpkg -S`), so it is right for the distribution the
//! package is built on (libwebkit2gtk-4.1-0, libgtk-3-0, libxdo3, …).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{desktop, exec, root, target_dir, ui};

/// The package's name.
pub const PACKAGE: &str = "starweave-desktop";

/// `cargo xtask dist`.
pub fn dist() -> Result<()> {
    desktop::ensure_packages()?;
    // A UI already built (`STARWEAVE_UI_DIST`) is packed as it is.
    let dist = match std::env::var_os(ui::DIST_ENV).filter(|d| !d.is_empty()) {
        Some(dist) => PathBuf::from(dist),
        None => ui::build_ui(true)?,
    };
    let app = desktop::build_app(None)?;
    let deb = build_deb(&app, &dist)?;
    let size = fs::metadata(&deb)?.len();
    eprintln!(
        "xtask: {} ({:.1} MiB)",
        deb.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!("{}", deb.display());
    Ok(())
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {}", crate::describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            crate::describe(cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stages the package tree for `app` and the built UI `ui_dist` and packs it; returns the
/// `.deb`.
pub fn build_deb(app: &Path, ui_dist: &Path) -> Result<PathBuf> {
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_owned();
    let version = version();
    let out_dir = target_dir().join("dist");
    let stage = out_dir.join(format!("{PACKAGE}_{version}_{arch}"));
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let bin_dir = stage.join("usr/bin");
    fs::create_dir_all(&bin_dir)?;
    let bin = bin_dir.join("starweave-app");
    exec(
        Command::new("strip")
            .args(["--strip-debug", "-o"])
            .arg(&bin)
            .arg(app),
    )?;

    // The UI as files: the app finds it beside its executable (`../share/starweave/ui`).
    ui::copy_dir(ui_dist, &stage.join("usr/share/starweave/ui"))?;

    let applications = stage.join("usr/share/applications");
    fs::create_dir_all(&applications)?;
    fs::write(applications.join("starweave.desktop"), DESKTOP_ENTRY)?;
    let icons = root().join("app/icons");
    for (file, size) in [
        ("32x32.png", "32x32"),
        ("128x128.png", "128x128"),
        ("128x128@2x.png", "256x256"),
        ("icon.png", "512x512"),
    ] {
        let dir = stage.join(format!("usr/share/icons/hicolor/{size}/apps"));
        fs::create_dir_all(&dir)?;
        fs::copy(icons.join(file), dir.join("starweave.png"))
            .with_context(|| format!("copying the icon {file}"))?;
    }
    let doc = stage.join(format!("usr/share/doc/{PACKAGE}"));
    fs::create_dir_all(&doc)?;
    fs::write(
        doc.join("copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: Starweave\n\
         Source: https://github.com/starweave/starweave\n\n\
         Files: *\n\
         License: Apache-2.0\n \
         On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n",
    )?;

    let depends = depends(&bin)?;
    let installed_kib = du_kib(&stage)?;
    let debian = stage.join("DEBIAN");
    fs::create_dir_all(&debian)?;
    fs::write(
        debian.join("control"),
        format!(
            "Package: {PACKAGE}\n\
             Version: {version}\n\
             Architecture: {arch}\n\
             Maintainer: Starweave developers <dev@starweave.invalid>\n\
             Installed-Size: {installed_kib}\n\
             Depends: {}\n\
             Section: devel\n\
             Priority: optional\n\
             Homepage: https://github.com/starweave/starweave\n\
             Description: Starweave desktop IDE for visual microservices\n \
             Build microservices from BPMN flows, JavaScript and Rhai functions,\n \
             connectors and triggers. The IDE runs on an embedded engine and works\n \
             offline; each VMS is an ordinary Git repository on disk.\n",
            depends.join(", ")
        ),
    )?;
    let deb = out_dir.join(format!("{PACKAGE}_{version}_{arch}.deb"));
    exec(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group", "-Zxz"])
            .arg(&stage)
            .arg(&deb),
    )?;
    Ok(deb)
}

/// The packages owning the libraries `bin` links directly.
fn depends(bin: &Path) -> Result<Vec<String>> {
    let dynamic = output(Command::new("readelf").arg("-d").arg(bin))?;
    let needed: Vec<String> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_owned()))
        .collect();
    let cache = output(Command::new("ldconfig").arg("-p"))?;
    let mut packages = BTreeSet::new();
    for library in &needed {
        // `\tlibgtk-3.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libgtk-3.so.0`
        let Some(path) = cache
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("{library} ")))
            .find(|l| l.contains("x86-64") || !cfg!(target_arch = "x86_64"))
            .and_then(|l| l.split("=> ").nth(1))
        else {
            bail!("{library} (needed by the app) is not in the linker cache");
        };
        let owner = output(Command::new("dpkg").args(["-S", path.trim()]))
            .or_else(|_| {
                // Merged /usr: the package may list the /usr/lib path.
                let other = match path.trim().strip_prefix("/usr") {
                    Some(rest) => rest.to_owned(),
                    None => format!("/usr{}", path.trim()),
                };
                output(Command::new("dpkg").args(["-S", &other]))
            })
            .with_context(|| format!("which package owns {library}"))?;
        let package = owner
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !package.is_empty() {
            packages.insert(package);
        }
    }
    if !packages.iter().any(|p| p.starts_with("libwebkit2gtk-4.1")) {
        bail!("the app links no WebKitGTK 4.1; Depends would be wrong: {packages:?}");
    }
    Ok(packages.into_iter().collect())
}

fn du_kib(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            du_kib(&entry.path())? * 1024
        } else {
            meta.len()
        };
    }
    Ok(total.div_ceil(1024))
}

/// The menu entry.
const DESKTOP_ENTRY: &str = "[Desktop Entry]
Type=Application
Name=Starweave
GenericName=Microservice IDE
Comment=Build visual microservices; works offline on an embedded engine
Exec=starweave-app
Icon=starweave
Terminal=false
Categories=Development;IDE;
StartupWMClass=starweave-app
";
