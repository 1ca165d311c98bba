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
    let staged = Stage::new(PACKAGE)?;
    let stage = staged.root.clone();
    let bin = staged.install_binary(app, "starweave-app")?;

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
    staged.doc_dir()?;
    let depends = depends(&bin)?;
    staged.control(
        &depends.join(", "),
        "devel",
        "Starweave desktop IDE for visual microservices\n \
         Build microservices from BPMN flows, JavaScript and Rhai functions,\n \
         connectors and triggers. The IDE runs on an embedded engine and works\n \
         offline; each VMS is an ordinary Git repository on disk.\n",
    )?;
    staged.build()
}

/// A package's folder under `target/dist`, emptied, to fill and then [`Stage::build`].
struct Stage {
    package: &'static str,
    arch: String,
    version: String,
    root: PathBuf,
}

impl Stage {
    fn new(package: &'static str) -> Result<Stage> {
        let arch = output(Command::new("dpkg").arg("--print-architecture"))?
            .trim()
            .to_owned();
        let version = version();
        let root = target_dir()
            .join("dist")
            .join(format!("{package}_{version}_{arch}"));
        if root.exists() {
            fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
        }
        fs::create_dir_all(root.join("usr/bin"))?;
        Ok(Stage {
            package,
            arch,
            version,
            root,
        })
    }

    /// Copies `from` into `usr/bin/<name>` without its debug sections; returns where.
    fn install_binary(&self, from: &Path, name: &str) -> Result<PathBuf> {
        let to = self.root.join("usr/bin").join(name);
        exec(
            Command::new("strip")
                .args(["--strip-debug", "-o"])
                .arg(&to)
                .arg(from),
        )?;
        Ok(to)
    }

    /// `usr/share/doc/<package>` with the copyright file in it.
    fn doc_dir(&self) -> Result<PathBuf> {
        let doc = self.root.join(format!("usr/share/doc/{}", self.package));
        fs::create_dir_all(&doc)?;
        fs::write(doc.join("copyright"), COPYRIGHT)?;
        Ok(doc)
    }

    /// Writes `DEBIAN/control` for what is staged so far; returns the `DEBIAN` folder.
    fn control(&self, depends: &str, section: &str, description: &str) -> Result<PathBuf> {
        let installed_kib = du_kib(&self.root)?;
        let debian = self.root.join("DEBIAN");
        fs::create_dir_all(&debian)?;
        fs::write(
            debian.join("control"),
            control(
                self.package,
                &self.arch,
                installed_kib,
                depends,
                section,
                description,
            ),
        )?;
        Ok(debian)
    }

    /// Packs the folder into `target/dist/<package>_<version>_<arch>.deb`.
    fn build(&self) -> Result<PathBuf> {
        let deb = target_dir().join("dist").join(format!(
            "{}_{}_{}.deb",
            self.package, self.version, self.arch
        ));
        exec(
            Command::new("dpkg-deb")
                .args(["--build", "--root-owner-group", "-Zxz"])
                .arg(&self.root)
                .arg(&deb),
        )?;
        let size = fs::metadata(&deb)?.len();
        eprintln!(
            "xtask: {} ({:.1} MiB)",
            deb.display(),
            size as f64 / (1024.0 * 1024.0)
        );
        Ok(deb)
    }
}

/// The Debian copyright file of both packages.
const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
    Upstream-Name: Starweave\n\
    Source: https://github.com/starweave/starweave\n\n\
    Files: *\n\
    License: Apache-2.0\n \
    On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n";

/// A package's `DEBIAN/control`; `description` is the summary line, then the long text
/// (continuation lines start with a space).
fn control(
    package: &str,
    arch: &str,
    installed_kib: u64,
    depends: &str,
    section: &str,
    description: &str,
) -> String {
    let version = version();
    format!(
        "Package: {package}\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: Starweave developers <dev@starweave.invalid>\n\
         Installed-Size: {installed_kib}\n\
         Depends: {depends}\n\
         Section: {section}\n\
         Priority: optional\n\
         Homepage: https://github.com/starweave/starweave\n\
         Description: {description}"
    )
}

/// The packages owning the libraries the desktop app links directly.
fn depends(bin: &Path) -> Result<Vec<String>> {
    let packages = libraries_of(bin)?;
    if !packages.iter().any(|p| p.starts_with("libwebkit2gtk-4.1")) {
        bail!("the app links no WebKitGTK 4.1; Depends would be wrong: {packages:?}");
    }
    Ok(packages.into_iter().collect())
}

/// The packages owning the libraries `bin` links directly.
fn libraries_of(bin: &Path) -> Result<BTreeSet<String>> {
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
            bail!(
                "{library} (needed by {}) is not in the linker cache",
                bin.display()
            );
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
    Ok(packages)
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

/// The compute engine's package: the servers a host of the pool runs.
pub const ENGINE_PACKAGE: &str = "starweave-engine";

/// `cargo xtask dist engine`: the engine's `.deb` from release binaries built with the UI
/// (`starweave` serves the IDE too), then the same checks `cargo xtask test` makes.
pub fn dist_engine() -> Result<()> {
    let dist = match std::env::var_os(ui::DIST_ENV).filter(|d| !d.is_empty()) {
        Some(dist) => PathBuf::from(dist),
        None => ui::build_ui(true)?,
    };
    let cli = crate::bench_ui::build_server(&dist)?;
    let deb = build_engine_deb(&cli)?;
    check_engine_deb(&deb)?;
    println!("{}", deb.display());
    Ok(())
}

/// Stages and packs the engine's package around `starweave-engine` (beside `cli` in the
/// release folder) and the `starweave` command line `cli`:
///
/// ```text
/// DEBIAN/{control,conffiles,postinst,prerm,postrm}  postinst writes a random admin token
/// usr/bin/starweave-engine, usr/bin/starweave       stripped of debug info
/// lib/systemd/system/starweave-engine.service       sandboxed (packaging/engine/)
/// etc/starweave/engine.env                          settings, a conffile (kept on upgrade)
/// usr/share/doc/starweave-engine/{README.md,copyright}
/// ```
pub fn build_engine_deb(cli: &Path) -> Result<PathBuf> {
    let staged = Stage::new(ENGINE_PACKAGE)?;
    let stage = staged.root.clone();
    let binaries = [
        staged.install_binary(&cli.with_file_name("starweave-engine"), "starweave-engine")?,
        staged.install_binary(cli, "starweave")?,
    ];
    let files = root().join("packaging/engine");
    let unit_dir = stage.join("lib/systemd/system");
    fs::create_dir_all(&unit_dir)?;
    fs::copy(
        files.join("starweave-engine.service"),
        unit_dir.join("starweave-engine.service"),
    )?;
    let etc = stage.join("etc/starweave");
    fs::create_dir_all(&etc)?;
    fs::copy(files.join("engine.env"), etc.join("engine.env"))?;
    let doc = staged.doc_dir()?;
    fs::copy(root().join("packaging/README.md"), doc.join("README.md"))?;

    let mut depends = BTreeSet::new();
    for bin in &binaries {
        depends.extend(libraries_of(bin)?);
    }
    let debian = staged.control(
        &depends.into_iter().collect::<Vec<_>>().join(", "),
        "net",
        "Starweave compute engine and command line\n \
         Hosts many visual microservice (VMS) versions in one process, serves their\n \
         HTTP, cron, MQ and gRPC triggers and swaps versions with no failed request.\n \
         Runs as the starweave-engine systemd service; `starweave deploy` sends it\n \
         VMS from a developer's machine or a CI job.\n",
    )?;
    fs::write(debian.join("conffiles"), "/etc/starweave/engine.env\n")?;
    for script in ["postinst", "prerm", "postrm"] {
        let target = debian.join(script);
        fs::copy(files.join(script), &target)?;
        set_mode(&target, 0o755)?;
    }
    staged.build()
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// What `cargo xtask test` checks of the engine's package, on the package file itself:
/// its metadata; the unit as systemd reads it (`systemd-analyze verify`, no warning) and its
/// sandbox (`systemd-analyze security`, exposure at most 2.0 of 10); the postinst giving the
/// settings file a random token (run on a copy); and the packed engine started with exactly
/// those settings, answering `/readyz` and refusing the admin API without the token — and
/// refusing to start with an empty token. (No systemd runs as PID 1 on the build machines, so
/// the service itself is not started by systemd here.)
pub fn check_engine_deb(deb: &Path) -> Result<()> {
    let info = output(Command::new("dpkg-deb").arg("--info").arg(deb))?;
    for wanted in [
        "Package: starweave-engine",
        "Depends: ",
        "conffiles",
        "postinst",
    ] {
        if !info.contains(wanted) {
            bail!(
                "{}: `dpkg-deb --info` lacks `{wanted}`:\n{info}",
                deb.display()
            );
        }
    }
    let tree = target_dir().join("dist/engine-check");
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    fs::create_dir_all(&tree)?;
    exec(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
    exec(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(deb)
            .arg(tree.join("DEBIAN")),
    )?;

    // The unit, pointed at the unpacked files (verify checks that ExecStart exists).
    let unit_text = fs::read_to_string(tree.join("lib/systemd/system/starweave-engine.service"))?;
    let env_file = tree.join("etc/starweave/engine.env");
    let engine = tree.join("usr/bin/starweave-engine");
    let local_unit = tree.join("starweave-engine.service");
    let pointed = unit_text
        .replace(
            "ExecStart=/usr/bin/starweave-engine",
            &format!("ExecStart={}", engine.display()),
        )
        .replace(
            "EnvironmentFile=/etc/starweave/engine.env",
            &format!("EnvironmentFile={}", env_file.display()),
        );
    if pointed == unit_text {
        bail!("the unit's ExecStart/EnvironmentFile lines were not found");
    }
    fs::write(&local_unit, pointed)?;
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&local_unit)
        .output()
        .context("running systemd-analyze (package systemd)")?;
    let said = String::from_utf8_lossy(&verify.stderr);
    if !verify.status.success() || !said.trim().is_empty() {
        bail!("systemd-analyze verify: {said}");
    }
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", "--threshold=20"])
        .arg(&local_unit)
        .output()?;
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("no exposure level printed")
        .to_owned();
    if !security.status.success() {
        bail!("the unit's sandbox is weaker than exposure 2.0: {exposure}");
    }
    eprintln!("xtask: {}", exposure.trim_start_matches('→').trim());

    // postinst on a copy of the settings: a token of 64 hex digits, the file owner-only.
    let settings = tree.join("engine.env");
    fs::copy(&env_file, &settings)?;
    exec(
        Command::new("sh")
            .arg(tree.join("DEBIAN/postinst"))
            .arg("configure")
            .env("STARWEAVE_ENGINE_ENV_FILE", &settings),
    )?;
    let written = fs::read_to_string(&settings)?;
    let token = written
        .lines()
        .find_map(|l| l.strip_prefix("STARWEAVE_ADMIN_TOKEN="))
        .unwrap_or_default()
        .to_owned();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("postinst wrote no 64-hex-digit token: `{token}`");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&settings)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            bail!("postinst left the settings file with mode {mode:o}, not 600");
        }
    }
    // Run again (an upgrade): the token stays.
    exec(
        Command::new("sh")
            .arg(tree.join("DEBIAN/postinst"))
            .arg("configure")
            .env("STARWEAVE_ENGINE_ENV_FILE", &settings),
    )?;
    if fs::read_to_string(&settings)? != written {
        bail!("postinst changed an existing token");
    }

    // The packed engine with exactly these settings, on free loopback ports.
    let mut env: Vec<(String, String)> = written
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let data_port = free_port()?;
    let admin_port = free_port()?;
    let state_dir = tree.join("state");
    for (name, value) in &mut env {
        match name.as_str() {
            "STARWEAVE_LISTEN" => *value = format!("127.0.0.1:{data_port}"),
            "STARWEAVE_ADMIN_LISTEN" => *value = format!("127.0.0.1:{admin_port}"),
            "STARWEAVE_STATE_DIR" => *value = state_dir.display().to_string(),
            _ => {}
        }
    }
    if !env.iter().any(|(name, _)| name == "STARWEAVE_STATE_DIR") {
        bail!("the settings set no STARWEAVE_STATE_DIR: deployments would not survive a restart");
    }
    let mut child = Command::new(&engine)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the packed engine")?;
    let answers = (|| -> Result<(String, String)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match http_get(admin_port, "/readyz", None) {
                Ok(ready) if ready.starts_with("HTTP/1.1 200") => {
                    let refused = http_get(admin_port, "/admin/deployments", None)?;
                    let listed = http_get(admin_port, "/admin/deployments", Some(&token))?;
                    return Ok((refused, listed));
                }
                _ if std::time::Instant::now() > deadline => {
                    bail!("the packed engine did not become ready on 127.0.0.1:{admin_port}")
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    })();
    let _ = child.kill();
    let _ = child.wait();
    let (refused, listed) = answers?;
    if !refused.starts_with("HTTP/1.1 401") {
        bail!("the admin API answered without the token: {refused}");
    }
    if !(listed.starts_with("HTTP/1.1 200") && listed.trim_end().ends_with("[]")) {
        bail!("the admin API with the token: {listed}");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&state_dir)
            .with_context(|| format!("the engine made no state directory {}", state_dir.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode != 0o700 || !state_dir.join("lock").is_file() {
            bail!("the state directory is not the engine's own (mode {mode:o}, lock file)");
        }
    }
    let empty_token = Command::new(&engine)
        .env_clear()
        .envs(
            env.iter()
                .filter(|(k, _)| k != "STARWEAVE_ADMIN_TOKEN")
                .map(|(k, v)| (k, v)),
        )
        .env("STARWEAVE_ADMIN_TOKEN", "")
        .output()?;
    let said = String::from_utf8_lossy(&empty_token.stdout).into_owned()
        + &String::from_utf8_lossy(&empty_token.stderr);
    if empty_token.status.success() || !said.contains("at least 16 characters") {
        bail!("the engine started with an empty admin token: {said}");
    }
    eprintln!("xtask: the engine's package checks out ({})", deb.display());
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A plain HTTP/1.1 GET on loopback, the whole answer as text.
fn http_get(port: u16, path: &str, token: Option<&str>) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}
