//! The UI's static files: from `--ui-dir` when given, else embedded in the binary at build
//! time (`STARWEAVE_UI_DIST`), else a small page saying how to get the UI.
//!
//! Single-page app: a GET that names no file (and is not under `/api`) answers `index.html`.
//! `index.html` is `no-cache`; other files are revalidated by ETag (embedded) or
//! Last-Modified (`--ui-dir`), so a rebuilt UI is never stale.

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use super::embedded::UI_FILES;

/// The page served when the binary has no UI.
const NO_UI_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Starweave IDE</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>Starweave IDE</h1>
<p>The IDE's user interface is not built into this <code>starweave</code> binary.</p>
<p>Build and start everything with <code>cargo xtask run</code>, or point this server at a built UI
with <code>starweave up --ui-dir &lt;dir&gt;</code>.</p>
<p>The API is running: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>
"#;

/// Whether the binary carries the UI.
pub fn embedded_ui() -> bool {
    !UI_FILES.is_empty()
}

/// The routes serving the UI.
pub fn routes(ui_dir: Option<PathBuf>) -> Router<AppState> {
    if let Some(dir) = ui_dir {
        let index = dir.join("index.html");
        let service = ServeDir::new(&dir)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(ServeFile::new(index));
        return Router::new().fallback_service(service).layer(
            SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
        );
    }
    if embedded_ui() {
        Router::new().fallback(get(embedded))
    } else {
        Router::new().fallback(get(|| async { Html(NO_UI_PAGE) }))
    }
}

async fn embedded(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let found = UI_FILES.iter().find(|(p, _, _)| *p == path).or_else(|| {
        // An unknown path that looks like a file is a 404; anything else is a route of
        // the single-page app.
        let last = path.rsplit('/').next().unwrap_or("");
        if last.contains('.') {
            None
        } else {
            UI_FILES.iter().find(|(p, _, _)| *p == "index.html")
        }
    });
    let Some((file, content_type, bytes)) = found else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = format!("\"{}\"", super::files::etag(bytes));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let cache = if *file == "index.html" {
        "no-cache"
    } else {
        "public, max-age=0, must-revalidate"
    };
    (
        [
            (header::CONTENT_TYPE, (*content_type).to_owned()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        Body::from(*bytes),
    )
        .into_response()
}
