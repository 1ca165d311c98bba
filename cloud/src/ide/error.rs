//! The one error type of the IDE API: each variant is an HTTP status and a stable `code`.
//!
//! Bodies are `{"error": {"code", "message", "details"}}`. Messages are for users; nothing
//! internal (paths outside the workspace, SQL, libgit2 text about the server's files) goes
//! into them: an [`ApiError::Internal`] is logged with an id and the client only sees the id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An IDE API failure.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a file path that is absolute, has `..`, empty segments, backslashes, NUL, points
    /// under `.git/`, or leaves the VMS through a symbolic link.
    InvalidPath(String),
    /// 400: a VMS, branch or connector name that is not allowed.
    InvalidName(String),
    /// 400: the body is not JSON.
    InvalidJson(String),
    /// 400: the body is JSON but not the expected shape, or a value makes no sense.
    InvalidRequest(String),
    /// 401: `--token` is set and the request has no or a wrong bearer token.
    Unauthorized,
    /// 403: the `Host` header is not a loopback name (DNS rebinding protection).
    ForbiddenHost(String),
    /// 404: the thing named does not exist.
    NotFound(String),
    /// 409: an etag mismatch or a name already taken; `details` may carry the current state.
    Conflict {
        /// What clashed.
        message: String,
        /// E.g. the file's current content.
        details: Option<Value>,
    },
    /// 409: switching branches or merging would overwrite uncommitted changes.
    DirtyWorktree {
        /// What the user should do.
        message: String,
        /// The files in the way.
        files: Vec<String>,
    },
    /// 409: the repository is in the middle of a merge with unresolved conflicts.
    MergeConflict {
        /// What the user should do.
        message: String,
        /// The conflicted files.
        files: Vec<String>,
    },
    /// 409: the remote has commits this branch does not; pull first.
    NonFastForward(String),
    /// 413: a body over the limit.
    TooLarge,
    /// 422: the VMS does not compile; `details` holds the diagnostics.
    InvalidVms {
        /// Summary.
        message: String,
        /// The diagnostics, serialised.
        diagnostics: Value,
    },
    /// 502: a Git remote or a connector's server answered badly.
    RemoteFailed(String),
    /// 502: a Git remote wanted a username and password and refused what it got (or got
    /// none); `origin` is where an access token for it would be kept.
    RemoteAuth {
        /// What happened and what to do.
        message: String,
        /// `https://host[:port]` of the remote, when it takes tokens.
        origin: Option<String>,
    },
    /// 502: an SSH remote presented a host key `~/.ssh/known_hosts` does not hold (or holds
    /// another key for); `details` carries the key and its fingerprint for the user to check.
    UnknownHostKey(Box<super::ssh::HostKey>),
    /// 503: the system keyring (Secret Service) is locked, refused or stopped answering.
    KeyringFailed(String),
    /// 500: a failure of the server itself; logged, never shown.
    Internal(anyhow::Error),
}

impl ApiError {
    /// An internal error from anything that can become an `anyhow::Error`.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    /// The status and the stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidPath(_) => (StatusCode::BAD_REQUEST, "invalid_path"),
            ApiError::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::ForbiddenHost(_) => (StatusCode::FORBIDDEN, "forbidden_host"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::DirtyWorktree { .. } => (StatusCode::CONFLICT, "dirty_worktree"),
            ApiError::MergeConflict { .. } => (StatusCode::CONFLICT, "merge_conflict"),
            ApiError::NonFastForward(_) => (StatusCode::CONFLICT, "non_fast_forward"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::InvalidVms { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_vms"),
            ApiError::RemoteFailed(_) => (StatusCode::BAD_GATEWAY, "remote_failed"),
            ApiError::RemoteAuth { .. } => (StatusCode::BAD_GATEWAY, "remote_auth_failed"),
            ApiError::UnknownHostKey(_) => (StatusCode::BAD_GATEWAY, "unknown_host_key"),
            ApiError::KeyringFailed(_) => (StatusCode::SERVICE_UNAVAILABLE, "keyring_failed"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Internal(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let (message, details) = match self {
            ApiError::InvalidPath(m)
            | ApiError::InvalidName(m)
            | ApiError::InvalidJson(m)
            | ApiError::InvalidRequest(m)
            | ApiError::ForbiddenHost(m)
            | ApiError::NotFound(m)
            | ApiError::NonFastForward(m)
            | ApiError::RemoteFailed(m)
            | ApiError::KeyringFailed(m) => (m, Value::Null),
            ApiError::Unauthorized => (
                "this server needs `Authorization: Bearer <token>` (the token `starweave up` was started with)"
                    .to_owned(),
                Value::Null,
            ),
            ApiError::Conflict { message, details } => (message, details.unwrap_or(Value::Null)),
            ApiError::RemoteAuth { message, origin } => (message, json!({ "origin": origin })),
            ApiError::UnknownHostKey(key) => {
                let message = if key.changed {
                    format!(
                        "the SSH host key of {} has CHANGED (now {} {}): the server was \
                         reinstalled, or someone is in between; trust the new key only if its \
                         owner confirms it",
                        key.pattern(),
                        key.key_type,
                        key.fingerprint
                    )
                } else {
                    format!(
                        "{} is not a known SSH host: its {} key has the fingerprint {}; trust \
                         it if that is what its owner publishes",
                        key.pattern(),
                        key.key_type,
                        key.fingerprint
                    )
                };
                (message, json!(key))
            }
            ApiError::DirtyWorktree { message, files }
            | ApiError::MergeConflict { message, files } => (message, json!({ "files": files })),
            ApiError::TooLarge => (
                format!(
                    "the request body is larger than {} MiB",
                    super::BODY_LIMIT / (1024 * 1024)
                ),
                Value::Null,
            ),
            ApiError::InvalidVms {
                message,
                diagnostics,
            } => (message, json!({ "diagnostics": diagnostics })),
            ApiError::Internal(err) => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                let id = &id[..12];
                tracing::error!(error_id = id, error = format!("{err:#}"), "internal error");
                (
                    format!("internal error {id}; the server log has the details"),
                    Value::Null,
                )
            }
        };
        let body = json!({ "error": { "code": code, "message": message, "details": details } });
        (status, Json(body)).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
