//! Shared by the IDE API tests: a real `starweave up` process on a loopback port over a
//! temporary workspace, a JSON client, raw HTTP for requests a URL parser would normalise,
//! and the `git` command line for "another developer".

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `starweave up`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// The workspace folder.
    pub workspace: PathBuf,
    /// A client without proxies or timeouts surprises.
    pub client: reqwest::Client,
    token: Option<String>,
}

impl Server {
    /// Starts `starweave up --listen 127.0.0.1:0 --workspace <workspace> <extra…>`.
    pub fn start(workspace: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(workspace, extra, &[])
    }

    /// [`Server::start`] with extra environment variables for the server process.
    pub fn start_with_env(workspace: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_starweave"))
            .args(["up", "--listen", "127.0.0.1:0", "--workspace"])
            .arg(workspace)
            .args(extra)
            .env_remove("STARWEAVE_TOKEN")
            .env_remove("STARWEAVE_WORKSPACE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starweave up starts");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("starweave up printed its URL before exiting")
                .expect("stdout is UTF-8");
            if let Some(url) = line.strip_prefix("Starweave IDE: ") {
                break url.trim_end_matches('/').to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        let token = extra
            .windows(2)
            .find(|w| w[0] == "--token")
            .map(|w| w[1].to_owned());
        Server {
            child: Some(child),
            base: url,
            port,
            workspace: workspace.to_path_buf(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            token,
        }
    }

    /// `http://127.0.0.1:PORT/api/v1<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// GET → (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .auth(self.client.get(self.url(path)))
            .send()
            .await
            .unwrap();
        status_json(response).await
    }

    /// A request with a JSON body → (status, JSON body).
    pub async fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .auth(self.client.request(method, self.url(path)).json(body))
            .send()
            .await
            .unwrap();
        status_json(response).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, body).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("PUT", path, body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self
            .auth(self.client.delete(self.url(path)))
            .send()
            .await
            .unwrap();
        status_json(response).await
    }

    /// One raw HTTP/1.1 request, bytes exactly as given (no URL normalisation).
    pub fn raw(
        &self,
        request_line_target: &str,
        method: &str,
        host: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut request = format!(
            "{method} {request_line_target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        match body {
            Some(body) => request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => request.push_str("\r\n"),
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Stops the server with SIGTERM and checks it shut down cleanly.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "starweave up exited with {exit}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The `error.code` of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Runs `git` in `dir` as "another developer"; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Other Dev")
        .env("GIT_AUTHOR_EMAIL", "other@example.com")
        .env("GIT_COMMITTER_NAME", "Other Dev")
        .env("GIT_COMMITTER_EMAIL", "other@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes `bare` a bare repository whose `main` holds a small VMS (`vms.yaml` naming `team`,
/// `notes.txt` reading `first`), pushed from a working copy made in `seed`.
pub fn bare_vms_repo(bare: &Path, seed: &Path) {
    std::fs::create_dir_all(bare).unwrap();
    git(bare, &["init", "--bare", "--initial-branch=main"]);
    std::fs::create_dir_all(seed).unwrap();
    git(seed, &["init", "--initial-branch=main"]);
    std::fs::write(seed.join("vms.yaml"), "name: team\n").unwrap();
    std::fs::write(seed.join("notes.txt"), "first\n").unwrap();
    git(seed, &["add", "-A"]);
    git(seed, &["commit", "-m", "Start"]);
    git(seed, &["push", bare.to_str().unwrap(), "main"]);
}
