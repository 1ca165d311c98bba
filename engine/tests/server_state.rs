//! The real `starweave-engine` binary with `--state-dir`: deployments made through the admin
//! API survive a crash (SIGKILL) and a restart — the active version, env values, settings and
//! log levels come back before `/readyz` says ready; undeployed and refused versions stay
//! gone; a deployment the state directory cannot record is refused and not activated; two
//! engines cannot share a directory.

mod server_common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};
use server_common::{TOKEN, write_vms};

/// A `starweave-engine` process on loopback.
struct Engine {
    child: Child,
    data: String,
    admin: String,
    client: reqwest::Client,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Engine {
    /// Starts an engine on `state` and waits until it is ready.
    async fn start(state: &Path) -> Engine {
        let launched = server_common::launch(&mut engine_command(state));
        let engine = Engine {
            child: launched.child,
            data: launched.data,
            admin: launched.admin,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        };
        for _ in 0..1500 {
            let ready = engine
                .client
                .get(format!("http://{}/readyz", engine.admin))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return engine;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the engine did not become ready");
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.admin))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn deploy(&self, body: Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, "/admin/deployments", Some(body))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.data))
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `(vms/version, active, log level)` of every deployment.
    async fn deployments(&self) -> Vec<(String, bool, String)> {
        let (status, list) = self
            .admin(reqwest::Method::GET, "/admin/deployments", None)
            .await;
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .expect("a list")
            .iter()
            .map(|d| {
                (
                    format!(
                        "{}/{}",
                        d["vms"].as_str().unwrap(),
                        d["version"].as_str().unwrap()
                    ),
                    d["active"].as_bool().unwrap(),
                    d["log_level"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn engine_command(state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starweave-engine"));
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(state)
        .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
        .env("STARWEAVE_LOG", "info")
        .env("STARWEAVE_LOG_FLUSH_MS", "0");
    command
}

/// A VMS `name` whose `GET /who` answers its version and its `REGION` env value.
fn who(root: &Path, folder: &str, name: &str, version: &str) -> String {
    let function = format!(
        "fn main(input, ctx) {{ #{{ version: \"{version}\", region: ctx.env.REGION }} }}\n"
    );
    write_vms(
        root,
        folder,
        &[
            (
                "vms.yaml",
                &format!("name: {name}\nenv:\n- name: REGION\n  default: nowhere\n"),
            ),
            ("functions/who.rhai", &function),
            (
                "triggers.yaml",
                "- kind: http\n  function: who\n  method: GET\n  path: /who\n",
            ),
        ],
    )
    .display()
    .to_string()
}

fn spec(vms: &str, version: &str, path: &str, extra: Value) -> Value {
    let mut body = json!({"vms": vms, "version": version, "source": {"path": path}});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_survive_a_crash_and_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let v1 = who(tmp.path(), "shop-v1", "shop", "v1");
    let v2 = who(tmp.path(), "shop-v2", "shop", "v2");
    let blog = who(tmp.path(), "blog", "blog", "1");
    let broken = write_vms(
        tmp.path(),
        "broken",
        &[
            ("vms.yaml", "name: shop\n"),
            (
                "functions/who.js",
                "export default async function () { return {; }\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: who\n  method: GET\n  path: /who\n",
            ),
        ],
    )
    .display()
    .to_string();

    let engine = Engine::start(&state).await;
    let eu = json!({"env": {"REGION": "eu"}, "concurrency": 4});
    assert_eq!(
        engine.deploy(spec("shop", "v1", &v1, eu.clone())).await.0,
        201
    );
    assert_eq!(
        engine.deploy(spec("shop", "v2", &v2, json!({}))).await.0,
        201
    );
    // Back to v1: the same build, so nothing is compiled, but it is the active one again.
    assert_eq!(
        engine.deploy(spec("shop", "v1", &v1, eu.clone())).await.0,
        200
    );
    let (status, body) = engine
        .admin(
            reqwest::Method::PUT,
            "/admin/deployments/shop/v2/log-level",
            Some(json!({"level": "debug"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        engine.deploy(spec("blog", "1", &blog, json!({}))).await.0,
        201
    );
    assert_eq!(
        engine
            .admin(reqwest::Method::DELETE, "/admin/deployments/blog/1", None)
            .await
            .0,
        204
    );
    // Refused by the engine: never saved.
    let (status, body) = engine.deploy(spec("shop", "v3", &broken, json!({}))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        engine.get("/shop/who").await,
        (200, json!({"version": "v1", "region": "eu"}))
    );
    let before = engine.deployments().await;
    assert_eq!(
        before,
        [
            ("shop/v1".to_owned(), true, "info".to_owned()),
            ("shop/v2".to_owned(), false, "debug".to_owned()),
        ]
    );

    // A second engine on the same directory refuses to start, and the first keeps serving.
    let second = engine_command(&state).output().expect("second engine");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another engine"), "{stderr}");
    assert_eq!(engine.get("/shop/who").await.0, 200);

    // A crash: no shutdown at all.
    drop(engine);
    // The folders the deployments came from are gone too: the engine serves what it saved.
    std::fs::remove_dir_all(&v1).expect("remove v1's folder");
    std::fs::remove_dir_all(&v2).expect("remove v2's folder");

    let engine = Engine::start(&state).await;
    assert_eq!(engine.deployments().await, before);
    assert_eq!(
        engine.get("/shop/who").await,
        (200, json!({"version": "v1", "region": "eu"}))
    );
    assert_eq!(engine.get("/blog/who").await.0, 404);
    let (_, shown) = engine
        .admin(reqwest::Method::GET, "/admin/deployments/shop/v1", None)
        .await;
    assert_eq!(shown["concurrency"], 4, "{shown}");
    // A rollback by activation (nothing sent) is saved like a deployment.
    let (status, body) = engine
        .admin(
            reqwest::Method::POST,
            "/admin/deployments/shop/v2/activate",
            None,
        )
        .await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    let (status, _) = engine
        .admin(
            reqwest::Method::POST,
            "/admin/deployments/shop/v9/activate",
            None,
        )
        .await;
    assert_eq!(status, 404);
    drop(engine);
    let engine = Engine::start(&state).await;
    assert_eq!(
        engine.get("/shop/who").await,
        (200, json!({"version": "v2", "region": "nowhere"}))
    );
    let (status, _) = engine
        .admin(
            reqwest::Method::POST,
            "/admin/deployments/shop/v1/activate",
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Undeploying the active version hands the traffic to v2, and that sticks too.
    assert_eq!(
        engine
            .admin(reqwest::Method::DELETE, "/admin/deployments/shop/v1", None)
            .await
            .0,
        204
    );
    assert_eq!(
        engine.get("/shop/who").await,
        (200, json!({"version": "v2", "region": "nowhere"}))
    );
    drop(engine);
    let engine = Engine::start(&state).await;
    assert_eq!(
        engine.deployments().await,
        [("shop/v2".to_owned(), true, "debug".to_owned())]
    );

    // The fallback is the version active most recently, not the one loaded most recently:
    // v3, v4, back to v3, then v5 comes and goes — v3 serves, before and after a restart.
    for version in ["v3", "v4", "v5"] {
        let dir = who(tmp.path(), version, "shop", version);
        if version == "v5" {
            let (status, _) = engine
                .admin(
                    reqwest::Method::POST,
                    "/admin/deployments/shop/v3/activate",
                    None,
                )
                .await;
            assert_eq!(status, 200);
        }
        let (status, body) = engine.deploy(spec("shop", version, &dir, json!({}))).await;
        assert_eq!(status, 201, "{version}: {body}");
    }
    assert_eq!(
        engine
            .admin(reqwest::Method::DELETE, "/admin/deployments/shop/v5", None)
            .await
            .0,
        204
    );
    let v3 = (200, json!({"version": "v3", "region": "nowhere"}));
    assert_eq!(engine.get("/shop/who").await, v3);
    drop(engine);
    let engine = Engine::start(&state).await;
    assert_eq!(engine.get("/shop/who").await, v3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_cannot_be_saved_is_refused_and_the_old_version_serves() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let v1 = who(tmp.path(), "v1", "shop", "v1");
    let v2 = who(tmp.path(), "v2", "shop", "v2");
    let engine = Engine::start(&state).await;
    assert_eq!(
        engine.deploy(spec("shop", "v1", &v1, json!({}))).await.0,
        201
    );
    // A file where v2's folder would go: its record cannot be written (even as root).
    std::fs::write(state.join("deployments/shop/v2"), b"in the way").expect("block");
    let (status, body) = engine.deploy(spec("shop", "v2", &v2, json!({}))).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "storage", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("not activated"), "{message}");
    assert_eq!(
        engine.get("/shop/who").await,
        (200, json!({"version": "v1", "region": "nowhere"}))
    );
    assert_eq!(
        engine.deployments().await,
        [("shop/v1".to_owned(), true, "info".to_owned())]
    );
    // A record damaged on disk is skipped with an error; the others load.
    std::fs::remove_file(state.join("deployments/shop/v2")).expect("unblock");
    let blog = who(tmp.path(), "blog", "blog", "1");
    assert_eq!(
        engine.deploy(spec("blog", "1", &blog, json!({}))).await.0,
        201
    );
    drop(engine);
    std::fs::write(state.join("deployments/blog/1/deployment.json"), b"{").expect("damage");
    let engine = Engine::start(&state).await;
    assert_eq!(
        engine.deployments().await,
        [("shop/v1".to_owned(), true, "info".to_owned())]
    );
}
