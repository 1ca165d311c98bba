//! Shared helpers of the connector integration tests (`io_*.rs`): where the real servers
//! are, a fail-loudly reachability check, unique names, and building live connectors.
//!
//! The servers are started by `cargo xtask test` (xtask/src/services.rs). Addresses come from
//! env vars with loopback defaults:
//!
//! | env var | default |
//! |---|---|
//! | `STARWEAVE_TEST_PG` | `postgres://postgres@127.0.0.1:5432/test` |
//! | `STARWEAVE_TEST_MYSQL` | `mysql://root@127.0.0.1:3306/test` |
//! | `STARWEAVE_TEST_REDIS` | `redis://127.0.0.1:6379/` |
//! | `STARWEAVE_TEST_NATS` | `nats://127.0.0.1:4222` |
//! | `STARWEAVE_TEST_AMQP` | `amqp://guest:guest@127.0.0.1:5672/%2f` |

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;
use starweave_engine::connectors::{ConnectorError, ConnectorRequest, Connectors, TransactionId};
use starweave_engine::io::{LiveConnectors, LiveOptions};
use starweave_model::vms::Connector;

/// A server the tests need.
pub struct Service {
    pub name: &'static str,
    pub env: &'static str,
    pub default_url: &'static str,
    pub default_port: u16,
}

pub const POSTGRES: Service = Service {
    name: "PostgreSQL",
    env: "STARWEAVE_TEST_PG",
    default_url: "postgres://postgres@127.0.0.1:5432/test",
    default_port: 5432,
};
pub const MARIADB: Service = Service {
    name: "MariaDB",
    env: "STARWEAVE_TEST_MYSQL",
    default_url: "mysql://root@127.0.0.1:3306/test",
    default_port: 3306,
};
pub const REDIS: Service = Service {
    name: "Redis",
    env: "STARWEAVE_TEST_REDIS",
    default_url: "redis://127.0.0.1:6379/",
    default_port: 6379,
};
pub const RABBITMQ: Service = Service {
    name: "RabbitMQ",
    env: "STARWEAVE_TEST_AMQP",
    default_url: "amqp://guest:guest@127.0.0.1:5672/%2f",
    default_port: 5672,
};
pub const NATS: Service = Service {
    name: "NATS (JetStream)",
    env: "STARWEAVE_TEST_NATS",
    default_url: "nats://127.0.0.1:4222",
    default_port: 4222,
};

impl Service {
    /// The server's URL; panics (the test fails) with how to start it when nothing listens.
    pub fn url(&self) -> String {
        let url = std::env::var(self.env).unwrap_or_else(|_| self.default_url.to_owned());
        let host_port =
            host_port(&url).unwrap_or_else(|| format!("127.0.0.1:{}", self.default_port));
        let reachable =
            host_port
                .to_socket_addrs()
                .ok()
                .into_iter()
                .flatten()
                .any(|addr: SocketAddr| {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
                });
        assert!(
            reachable,
            "{} is not reachable at {host_port} ({}={url}). Run `cargo xtask test`, which installs \
             and starts the test services on loopback, or start {} yourself and point {} at it.",
            self.name, self.env, self.name, self.env
        );
        url
    }
}

/// The `host:port` of a server URL.
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    Some(host_port.to_owned())
}

/// A name no other test run uses: `prefix` + 12 hex digits.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..12])
}

/// Live connectors from `(name, YAML)` pairs and env values; panics on diagnostics.
pub fn live(connectors: &[(&str, &str)], env: &[(&str, &str)]) -> LiveConnectors {
    let (live, diagnostics) = live_with_diagnostics(connectors, env);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    live
}

/// Live connectors and their diagnostics.
pub fn live_with_diagnostics(
    connectors: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (LiveConnectors, Vec<starweave_model::Diagnostic>) {
    let connectors: BTreeMap<String, Connector> = connectors
        .iter()
        .map(|(name, yaml)| {
            let connector: Connector =
                serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            ((*name).to_owned(), connector)
        })
        .collect();
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    LiveConnectors::new(&connectors, env, LiveOptions::default())
}

/// Calls `connector.method` outside any transaction.
pub async fn call(
    live: &LiveConnectors,
    connector: &str,
    method: &str,
    args: Value,
) -> Result<Value, ConnectorError> {
    call_in(live, connector, method, args, None).await
}

/// Calls `connector.method` inside `transaction`.
pub async fn call_in(
    live: &LiveConnectors,
    connector: &str,
    method: &str,
    args: Value,
    transaction: Option<u64>,
) -> Result<Value, ConnectorError> {
    live.call(ConnectorRequest {
        connector,
        method,
        args,
        transaction: transaction.map(TransactionId),
    })
    .await
}
