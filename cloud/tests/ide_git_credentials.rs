//! Access tokens for HTTPS Git remotes: kept in a real Secret Service (GNOME Keyring on a
//! private D-Bus session bus), sent to a real Git smart-HTTP server (`git http-backend`
//! behind Basic authentication on loopback), forgotten on request; and kept in memory only
//! when no keyring answers.

#[path = "../../e2e/src/git_http.rs"]
mod git_http;
mod ide_support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use git_http::GitHttp;
use ide_support::{Server, bare_vms_repo, code, git};
use serde_json::json;

const USER: &str = "ann";
const TOKEN: &str = "tok-3f9a1c-right";

/// A session bus and a GNOME Keyring on it, unlocked, with its data in `dir`.
struct Keyring {
    bus: Child,
    keyring: Child,
    address: String,
}

impl Keyring {
    fn start(dir: &Path) -> Keyring {
        for tool in ["dbus-daemon", "gnome-keyring-daemon", "secret-tool"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .unwrap()
                    .status
                    .success(),
                "`{tool}` is missing: `cargo xtask test` installs it (packages dbus-daemon, \
                 gnome-keyring, libsecret-tools)"
            );
        }
        let runtime = dir.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let address = format!("unix:path={}", runtime.join("bus").display());
        let bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let socket = runtime.join("bus");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no session bus"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.join("home"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // `--unlock` reads the login keyring's password up to the end of its input.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"keyring-test-password").unwrap();
        drop(stdin);
        let this = Keyring {
            bus,
            keyring,
            address,
        };
        let started = Instant::now();
        loop {
            let owned = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &this.address)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&owned.stdout).contains("boolean true") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no keyring on the bus"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        this
    }

    /// What `secret-tool` (libsecret, the system's own client) finds for `origin`.
    fn lookup(&self, origin: &str) -> Option<String> {
        let output = Command::new("secret-tool")
            .args([
                "lookup",
                "xdg:schema",
                "dev.starweave.GitToken",
                "origin",
                origin,
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A bare repository `team.git` under `repos` holding a small VMS.
fn remote_with_vms(root: &Path) -> PathBuf {
    let repos = root.join("repos");
    bare_vms_repo(&repos.join("team.git"), &root.join("seed"));
    repos
}

/// The server's environment: its own (empty) Git configuration, no terminal prompts.
fn server_env<'a>(home: &'a str, bus: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("HOME", home),
        ("XDG_CONFIG_HOME", home),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("DBUS_SESSION_BUS_ADDRESS", bus),
        ("STARWEAVE_CREDENTIALS", "auto"),
    ]
}

async fn commit_a_change(server: &Server, vms: &str, content: &str) {
    let (status, body) = server
        .put(
            &format!("/vms/{vms}/files/notes.txt"),
            &json!({ "content": content }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post(
            &format!("/vms/{vms}/git/commit"),
            &json!({ "message": format!("notes: {content}") }),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_tokens_live_in_the_keyring_and_open_the_remote() {
    let root = tempfile::tempdir().unwrap();
    let keyring = Keyring::start(&root.path().join("keyring"));
    let repos = remote_with_vms(root.path());
    let remote = GitHttp::start(&repos, USER, TOKEN).await;
    let url = format!("{}/team.git", remote.base);
    let origin = remote.base.clone();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap().to_owned();
    let env = server_env(&home, &keyring.address);
    let workspace = root.path().join("workspace");
    let server = Server::start_with_env(&workspace, &[], &env);

    let (status, store) = server.get("/git/credentials").await;
    assert_eq!(status, 200, "{store}");
    assert_eq!(store["store"], "keyring", "{store}");
    assert_eq!(store["persistent"], true);
    assert_eq!(store["credentials"], json!([]));

    // No token: the remote refuses, and the error names the server that wants one.
    let (status, body) = server.post("/vms/clone", &json!({ "url": url })).await;
    assert_eq!((status, code(&body)), (502, "remote_auth_failed"), "{body}");
    assert_eq!(body["error"]["details"]["origin"], origin.as_str());
    assert!(!workspace.join("team").exists());

    // A wrong token: refused too, and not kept.
    let (status, body) = server
        .post(
            "/vms/clone",
            &json!({ "url": url, "username": USER, "token": "tok-wrong" }),
        )
        .await;
    assert_eq!((status, code(&body)), (502, "remote_auth_failed"), "{body}");
    assert!(!workspace.join("team").exists());
    assert_eq!(keyring.lookup(&origin), None);
    assert_eq!(remote.authenticated(), 0);

    // The right token: the clone works, and the token goes into the keyring, where the
    // system's own keyring tool finds it.
    let (status, cloned) = server
        .post(
            "/vms/clone",
            &json!({ "url": url, "username": USER, "token": TOKEN }),
        )
        .await;
    assert_eq!(status, 201, "{cloned}");
    assert_eq!(cloned["name"], "team");
    assert_eq!(
        cloned["token"],
        json!({ "origin": origin, "stored": true, "store": "keyring", "persistent": true })
    );
    assert!(workspace.join("team/notes.txt").is_file());
    assert_eq!(keyring.lookup(&origin).as_deref(), Some(TOKEN));
    let (_, store) = server.get("/git/credentials").await;
    assert_eq!(
        store["credentials"],
        json!([{ "origin": origin, "username": USER }])
    );
    assert!(
        !store.to_string().contains(TOKEN),
        "the API never answers a token"
    );

    // A new server process (the app restarted) pushes with the kept token.
    server.stop();
    let server = Server::start_with_env(&workspace, &[], &env);
    let before = remote.authenticated();
    commit_a_change(&server, "team", "second").await;
    let (status, pushed) = server.post("/vms/team/git/push", &json!({})).await;
    assert_eq!(status, 200, "{pushed}");
    assert!(remote.authenticated() > before);
    assert_eq!(
        git(
            &repos.join("team.git"),
            &["log", "-1", "--format=%s", "main"]
        )
        .trim(),
        "notes: second"
    );
    let (status, fetched) = server.post("/vms/team/git/fetch", &json!({})).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["ahead"], 0, "{fetched}");

    // Forgotten: gone from the keyring, and the remote refuses the next push.
    let query = format!("/git/credentials?url={}", remote.base);
    let (status, body) = server.delete(&query).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.delete(&query).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    assert_eq!(keyring.lookup(&origin), None);
    commit_a_change(&server, "team", "third").await;
    let (status, body) = server.post("/vms/team/git/push", &json!({})).await;
    assert_eq!((status, code(&body)), (502, "remote_auth_failed"), "{body}");
    assert_eq!(body["error"]["details"]["origin"], origin.as_str());

    // Stored again from the Git panel (any URL of the server will do): the push goes through.
    let (status, stored) = server
        .put(
            "/git/credentials",
            &json!({ "url": format!("{}/other/repo.git", remote.base), "username": USER, "token": TOKEN }),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        stored,
        json!({ "origin": origin, "username": USER, "store": "keyring", "persistent": true })
    );
    let (status, pushed) = server.post("/vms/team/git/push", &json!({})).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(
        git(
            &repos.join("team.git"),
            &["log", "-1", "--format=%s", "main"]
        )
        .trim(),
        "notes: third"
    );
    // Replacing the token keeps one item per server.
    let (status, _) = server
        .put(
            "/git/credentials",
            &json!({ "url": url, "username": "bob", "token": "tok-other" }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, store) = server.get("/git/credentials").await;
    assert_eq!(
        store["credentials"],
        json!([{ "origin": origin, "username": "bob" }])
    );
    assert_eq!(keyring.lookup(&origin).as_deref(), Some("tok-other"));

    // Bad input is refused before anything is kept.
    let huge = "x".repeat(5000);
    for (body, why) in [
        (
            json!({ "url": "git@example.com:team/a.git", "token": "t" }),
            "an SSH remote",
        ),
        (
            json!({ "url": "file:///srv/a.git", "token": "t" }),
            "a file remote",
        ),
        (json!({ "url": url, "token": "a\nb" }), "a line break"),
        (json!({ "url": url, "token": "  " }), "an empty token"),
        (json!({ "url": url, "token": huge }), "a huge token"),
        (
            json!({ "url": url, "username": "a:b", "token": "t" }),
            "a colon in the username",
        ),
    ] {
        let (status, answer) = server.put("/git/credentials", &body).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_request"),
            "{why}: {answer}"
        );
    }
    let (status, answer) = server.put("/git/credentials", &json!({ "url": url })).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = server
        .post(
            "/vms/clone",
            &json!({ "url": "git@example.com:a.git", "name": "ssh", "token": "t" }),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_request"),
        "{answer}"
    );
    assert_eq!(keyring.lookup(&origin).as_deref(), Some("tok-other"));
    server.stop();
}

#[tokio::test]
async fn without_a_keyring_tokens_stay_in_memory_until_the_server_stops() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap().to_owned();
    let nobody = format!("unix:path={}", root.path().join("no-bus").display());
    let workspace = root.path().join("workspace");
    for env in [
        server_env(&home, &nobody),
        vec![("HOME", home.as_str()), ("STARWEAVE_CREDENTIALS", "memory")],
    ] {
        let env: HashMap<&str, &str> = env.into_iter().collect();
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let server = Server::start_with_env(&workspace, &[], &env);
        let (status, store) = server.get("/git/credentials").await;
        assert_eq!(status, 200, "{store}");
        assert_eq!(store["store"], "memory", "{store}");
        assert_eq!(store["persistent"], false);
        assert!(
            store["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{store}"
        );
        let (status, stored) = server
            .put(
                "/git/credentials",
                &json!({ "url": "https://git.example.com/team/a.git", "token": "tok-mem" }),
            )
            .await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["persistent"], false);
        assert_eq!(stored["username"], "git");
        let (_, store) = server.get("/git/credentials").await;
        assert_eq!(
            store["credentials"],
            json!([{ "origin": "https://git.example.com", "username": "git" }])
        );
        server.stop();
        // Nothing was written: a new server knows no token.
        let server = Server::start_with_env(&workspace, &[], &env);
        let (_, store) = server.get("/git/credentials").await;
        assert_eq!(store["credentials"], json!([]), "{store}");
        server.stop();
    }
}
