//! Shared helpers of the engine server tests: VMS folders on disk, an engine on loopback
//! port 0 with both ports, and an HTTP client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use starweave_engine::server::registry::EngineOptions;
use starweave_engine::server::{Server, admin, data};
use tokio::net::TcpListener;

/// The admin token of test engines.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// An engine serving both ports on loopback.
pub struct TestEngine {
    /// The server state.
    pub server: Arc<Server>,
    /// Data plane address.
    pub data: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// A client.
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an engine on 127.0.0.1 port 0.
pub async fn start_engine(options: EngineOptions) -> TestEngine {
    let server = Arc::new(Server::new(options, Some(TOKEN.to_owned())));
    server.set_ready();
    let data_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind data");
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
    let data_addr = data_listener.local_addr().expect("addr");
    let admin_addr = admin_listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let shared = futures_util::FutureExt::shared(stopped);
    let data_router = data::router(server.clone());
    let admin_router = admin::router(server.clone());
    let s1 = shared.clone();
    tokio::spawn(async move {
        let _ = starweave_engine::server::serve(data_listener, data_router, s1).await;
    });
    tokio::spawn(async move {
        let _ = starweave_engine::server::serve(admin_listener, admin_router, shared).await;
    });
    TestEngine {
        server,
        data: data_addr,
        admin: admin_addr,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        stop: Some(stop),
    }
}

impl TestEngine {
    /// `http://data/…`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    /// `http://admin/…`
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Deploys a folder through the admin API; returns status and body.
    pub async fn deploy(&self, vms: &str, version: &str, dir: &Path, extra: Value) -> (u16, Value) {
        let mut body =
            json!({"vms": vms, "version": version, "source": {"path": dir.display().to_string()}});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let response = self
            .client
            .post(self.admin_url("/admin/deployments"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("deploy");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Unloads through the admin API; returns the status.
    pub async fn undeploy(&self, vms: &str, version: &str) -> u16 {
        self.client
            .delete(self.admin_url(&format!("/admin/deployments/{vms}/{version}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("undeploy")
            .status()
            .as_u16()
    }

    /// GET on the data plane: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON on the data plane: status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Writes files into a new folder under `root`.
pub fn write_vms(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(name);
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    dir
}

/// A small Rhai VMS: `GET /hello/{name}`, `POST /hello`, `GET /version`, `GET /spin` (JavaScript
/// looping until its 300 ms deadline); `robot` raises a mapped business error (403), `teapot` an
/// unmapped one (422), `crash` a runtime error (500).
pub fn greeter(root: &Path, dir_name: &str, version: &str) -> PathBuf {
    let hello = format!(
        r#"fn main(input, ctx) {{
    if input.name == "robot" {{ throw_bpmn_error("NO_ROBOTS", "robots are not greeted"); }}
    if input.name == "teapot" {{ throw_bpmn_error("TEAPOT", "short and stout"); }}
    if input.name == "crash" {{ let zero = 0; return 1 / zero; }}
    #{{ message: "hello " + input.name, times: input.times, version: "{version}" }}
}}
"#
    );
    let version_fn = format!("fn main(input, ctx) {{ #{{ version: \"{version}\" }} }}\n");
    write_vms(
        root,
        dir_name,
        &[
            ("vms.yaml", "name: greeter\n"),
            (
                "functions/hello.yaml",
                "input:\n- name: name\n  type: string\n  required: true\n  max_length: 20\n- name: times\n  type: integer\n  default: 1\noutput:\n- name: message\n  type: string\n- name: times\n  type: integer\n- name: version\n  type: string\nerrors:\n- code: NO_ROBOTS\n- code: TEAPOT\n",
            ),
            ("functions/hello.rhai", &hello),
            ("functions/version.rhai", &version_fn),
            ("functions/spin.yaml", "timeout_ms: 300\n"),
            (
                "functions/spin.js",
                "export default async function (input, ctx) {\n  while (true) {}\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: hello\n  method: GET\n  path: /hello/{name}\n  error_statuses:\n    NO_ROBOTS: 403\n- kind: http\n  function: hello\n  method: POST\n  path: /hello\n  status: 201\n- kind: http\n  function: version\n  method: GET\n  path: /version\n- kind: http\n  function: spin\n  method: GET\n  path: /spin\n",
            ),
        ],
    )
}

/// Resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A `starweave-engine` process, its log lines (JSON parsed, other lines as strings) and the
/// addresses its first line names.
pub struct Launched {
    /// The process.
    pub child: std::process::Child,
    /// Its standard error, line by line.
    pub lines: std::sync::mpsc::Receiver<Value>,
    /// Data plane address.
    pub data: String,
    /// Admin address.
    pub admin: String,
}

/// Starts `command` (a `starweave-engine` with JSON logs) and waits for its "engine
/// listening" line.
pub fn launch(command: &mut std::process::Command) -> Launched {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the engine");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let parsed = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let listening = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the engine logs its addresses");
        if line["message"] == "engine listening" {
            break line;
        }
    };
    Launched {
        child,
        lines,
        data: listening["listen"].as_str().expect("listen").to_owned(),
        admin: listening["admin"].as_str().expect("admin").to_owned(),
    }
}
