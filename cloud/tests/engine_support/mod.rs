//! Shared by the tests that deploy: a real compute engine (`starweave-engine`'s server, in
//! the test's process on loopback ports) with its admin token.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use starweave_engine::server::registry::EngineOptions;
use starweave_engine::server::{Server, admin, data};
use tokio::net::TcpListener;

/// The engine's admin token.
pub const TOKEN: &str = "deploy-test-token-0123456789";

/// A running engine.
pub struct Engine {
    /// The data plane's base URL.
    pub data: String,
    /// The admin API's base URL.
    pub admin: String,
    /// The runtime serving it (tests may drive their own futures on it).
    pub runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// Starts an engine on two loopback ports.
pub fn start_engine() -> Engine {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (data, admin) = runtime.block_on(async {
        let server = Arc::new(Server::new(
            EngineOptions::default(),
            Some(TOKEN.to_owned()),
        ));
        server.set_ready();
        let data_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = (
            data_listener.local_addr().unwrap(),
            admin_listener.local_addr().unwrap(),
        );
        let data_router = data::router(server.clone());
        let admin_router = admin::router(server);
        tokio::spawn(starweave_engine::server::serve(
            data_listener,
            data_router,
            std::future::pending(),
        ));
        tokio::spawn(starweave_engine::server::serve(
            admin_listener,
            admin_router,
            std::future::pending(),
        ));
        addrs
    });
    Engine {
        data: format!("http://{data}"),
        admin: format!("http://{admin}"),
        runtime,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

impl Engine {
    /// `GET` on the data plane: status and body text.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let response = self
                .client
                .get(format!("{}{path}", self.data))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    /// `starweave <args>` in `cwd` with this engine and its token.
    pub fn starweave(&self, args: &[&str], cwd: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_starweave"))
            .args(args)
            .current_dir(cwd)
            .env("STARWEAVE_ENGINE", &self.admin)
            .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
            .env_remove("GREETING")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .output()
            .expect("starweave runs")
    }
}
