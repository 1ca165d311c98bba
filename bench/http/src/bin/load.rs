//! `load`: a closed-loop HTTP/1.1 load generator. Each of `--concurrency` clients owns one
//! keep-alive connection and sends its next request as soon as the previous answer is read,
//! cycling through the `--path`s, for `--seconds`. Latencies go into an HDR histogram (µs).
//!
//! The result is one line of `key=value` pairs on stdout, for `cargo xtask bench http`:
//! `requests= errors= seconds= rps= p50_us= p99_us= p999_us= max_us=`.
//!
//! `load check --target A --target B --path …` instead fetches each path once from every
//! target and fails unless all answer 200 with the same JSON: the servers compared must do
//! the same work.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use starweave_bench_http::{JWT_AUDIENCE, JWT_ISSUER, jwt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measures one target.
    Run {
        #[command(flatten)]
        requests: RequestConfig,
        /// The server, `host:port`.
        #[arg(long)]
        target: SocketAddr,
        /// Concurrent clients, one connection each.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// How long to measure.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Runtime worker threads of the generator itself.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Fetches every path from every target once and compares the answers.
    Check {
        #[command(flatten)]
        requests: RequestConfig,
        /// The servers, `host:port`; all must answer alike.
        #[arg(long, required = true)]
        target: Vec<SocketAddr>,
    },
}

/// What each request looks like.
#[derive(Debug, clap::Args)]
struct RequestConfig {
    /// Request paths, used in turn.
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// When set, every request carries an HS256 bearer token signed with this secret, with
    /// the bff-aggregation route's issuer and audience.
    #[arg(long, env = "DASHBOARD_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
}

impl RequestConfig {
    fn authorization(&self) -> Option<String> {
        let secret = self.jwt_secret.as_ref()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = json!({
            "sub": "bench", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": now + 24 * 3600
        });
        Some(format!("Bearer {}", jwt::sign(&claims, secret.as_bytes())))
    }
}

/// One client's connection.
struct Connection {
    target: SocketAddr,
    host: String,
    sender: SendRequest<Empty<Bytes>>,
}

impl Connection {
    async fn open(target: SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(target)
            .await
            .with_context(|| format!("connecting to {target}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection {
            target,
            host: target.to_string(),
            sender,
        })
    }

    /// Sends one GET and reads the whole answer: status and body.
    async fn get(&mut self, path: &str, authorization: Option<&str>) -> Result<(u16, Bytes)> {
        if self.sender.is_closed() {
            *self = Connection::open(self.target).await?;
        }
        self.sender.ready().await?;
        let mut request = Request::get(path).header(HOST, &self.host);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let response = self
            .sender
            .send_request(request.body(Empty::new())?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

#[derive(Debug)]
struct ClientResult {
    histogram: Histogram<u64>,
    errors: u64,
}

async fn client(
    target: SocketAddr,
    paths: Vec<String>,
    authorization: Option<String>,
    offset: usize,
    deadline: Instant,
) -> Result<ClientResult> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let mut connection = Connection::open(target).await?;
    let mut turn = offset;
    loop {
        let path = &paths[turn % paths.len()];
        turn += 1;
        let start = Instant::now();
        let outcome = connection.get(path, authorization.as_deref()).await;
        let end = Instant::now();
        if end > deadline {
            break;
        }
        match outcome {
            Ok((status, _)) if (200..300).contains(&status) => {
                histogram.saturating_record(end.duration_since(start).as_micros() as u64);
            }
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                // A broken connection is replaced on the next request.
                if let Ok(fresh) = Connection::open(target).await {
                    connection = fresh;
                }
            }
        }
    }
    Ok(ClientResult { histogram, errors })
}

async fn run(
    requests: RequestConfig,
    target: SocketAddr,
    concurrency: usize,
    seconds: f64,
) -> Result<()> {
    let authorization = requests.authorization();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let clients: Vec<_> = (0..concurrency.max(1))
        .map(|i| {
            tokio::spawn(client(
                target,
                requests.paths.clone(),
                authorization.clone(),
                i,
                deadline,
            ))
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for client in clients {
        let result = client.await??;
        histogram.add(&result.histogram)?;
        errors += result.errors;
    }
    let requests = histogram.len();
    println!(
        "requests={requests} errors={errors} seconds={seconds} rps={:.1} p50_us={} p99_us={} p999_us={} max_us={}",
        requests as f64 / seconds,
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max(),
    );
    Ok(())
}

async fn check(requests: RequestConfig, targets: Vec<SocketAddr>) -> Result<()> {
    let authorization = requests.authorization();
    for path in &requests.paths {
        let mut first: Option<(SocketAddr, Value)> = None;
        for &target in &targets {
            let mut connection = Connection::open(target).await?;
            let (status, body) = connection.get(path, authorization.as_deref()).await?;
            let text = String::from_utf8_lossy(&body);
            if status != 200 {
                bail!("{target}{path} answered {status}: {text}");
            }
            let value: Value = serde_json::from_slice(&body)
                .with_context(|| format!("{target}{path} answered no JSON: {text}"))?;
            match &first {
                None => {
                    eprintln!("load: {target}{path} → 200 {text}");
                    first = Some((target, value));
                }
                Some((other, expected)) if *expected != value => {
                    bail!(
                        "{target}{path} and {other}{path} answer differently:\n{value}\n{expected}"
                    )
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Run { threads, .. } => (*threads).max(1),
        Command::Check { .. } => 1,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run {
                requests,
                target,
                concurrency,
                seconds,
                threads: _,
            } => run(requests, target, concurrency, seconds).await,
            Command::Check { requests, target } => check(requests, target).await,
        }
    })
}
