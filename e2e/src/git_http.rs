//! A Git smart-HTTP server for tests: `git http-backend` (the git CLI's CGI program) over a
//! folder of bare repositories, behind HTTP Basic authentication with one username and token,
//! on a loopback port. Shared by the IDE API tests (`cloud/tests/ide_git_credentials.rs`
//! includes this file) and the browser tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;

/// `git http-backend` over `root`, behind HTTP Basic authentication, on a loopback port.
#[derive(Debug)]
pub struct GitHttp {
    /// `http://127.0.0.1:PORT`; a repository `x.git` under the root is `<base>/x.git`.
    pub base: String,
    /// Requests that carried the right username and token.
    pub authenticated: Arc<AtomicUsize>,
}

/// Who may talk to the server.
#[derive(Debug, Clone)]
struct Access {
    root: Arc<PathBuf>,
    user: Arc<str>,
    token: Arc<str>,
    authenticated: Arc<AtomicUsize>,
}

async fn git_cgi(
    access: Access,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", access.user, access.token))
    );
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
            .body(Body::from("authentication required"))
            .unwrap();
    }
    access.authenticated.fetch_add(1, Ordering::SeqCst);
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", access.root.as_ref())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REMOTE_USER", access.user.as_ref())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (name, var) in [
        (header::CONTENT_TYPE, "CONTENT_TYPE"),
        (header::CONTENT_ENCODING, "HTTP_CONTENT_ENCODING"),
        (
            header::HeaderName::from_static("git-protocol"),
            "GIT_PROTOCOL",
        ),
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            cgi.env(var, value);
        }
    }
    let output = tokio::task::spawn_blocking(move || {
        let mut child = cgi.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    })
    .await
    .unwrap();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, 2))
        })
        .expect("http-backend wrote CGI headers");
    let head = String::from_utf8_lossy(&output.stdout[..split.0]).into_owned();
    let mut response = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.split_whitespace().next().unwrap().parse().unwrap();
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Body::from(output.stdout[split.0 + split.1..].to_vec()))
        .unwrap()
}

impl GitHttp {
    /// Serves the bare repositories under `root` to `user` with `token` as the password;
    /// other requests get `401` with a Basic challenge. Call inside a Tokio runtime.
    pub async fn start(root: &Path, user: &str, token: &str) -> GitHttp {
        let authenticated = Arc::new(AtomicUsize::new(0));
        let access = Access {
            root: Arc::new(root.to_path_buf()),
            user: user.into(),
            token: token.into(),
            authenticated: authenticated.clone(),
        };
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                git_cgi(access.clone(), method, uri, headers, body)
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GitHttp {
            base,
            authenticated,
        }
    }

    /// How many requests carried the right credentials so far.
    pub fn authenticated(&self) -> usize {
        self.authenticated.load(Ordering::SeqCst)
    }
}
