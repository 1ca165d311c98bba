//! The one error type of the engine's HTTP services (data plane and admin API).
//!
//! Every error answers JSON: `{"error": "<code>", "message": "…"}` plus, depending on the
//! case, `problems` (invalid input), `diagnostics` (a VMS that does not load) or `trace_id`.
//! 5xx bodies never carry internal detail: the detail goes to the logs under the trace id.

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use starweave_model::Diagnostic;

use super::input::Problem;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// No VMS is loaded under the path's first segment.
    NoSuchVms,
    /// The VMS has no route for the path.
    NoSuchRoute,
    /// The requested version (`x-starweave-version`) is not loaded.
    NoSuchVersion,
    /// The path exists with other methods.
    MethodNotAllowed(Vec<Method>),
    /// Missing or wrong credentials.
    /// With the `WWW-Authenticate` challenge of the scheme asked for, when it has one.
    Unauthorized(Option<String>),
    /// The input does not match the function's parameters.
    InvalidInput(Vec<Problem>),
    /// The request body is too large.
    BodyTooLarge,
    /// The request body did not arrive within the body timeout.
    BodyTimeout,
    /// The VMS is at its concurrency limit.
    Overloaded,
    /// A business (BPMN) error, or an error code the route maps to a status.
    Business {
        /// The status.
        status: StatusCode,
        /// The error code.
        code: String,
        /// The message, for business errors only.
        message: Option<String>,
        /// The request's trace id.
        trace_id: String,
    },
    /// The run passed its deadline.
    Deadline {
        /// The request's trace id.
        trace_id: String,
    },
    /// The deployment is unloading and cancelled the run.
    Unavailable {
        /// The request's trace id.
        trace_id: String,
    },
    /// A technical failure; details are in the logs only.
    Internal {
        /// The request's trace id.
        trace_id: String,
    },
    /// Admin: a malformed request.
    BadRequest(String),
    /// Admin: the VMS does not load.
    InvalidVms(Vec<Diagnostic>),
    /// Admin: no such deployment.
    NoSuchDeployment,
    /// Admin: the state directory could not be written.
    Storage(String),
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NoSuchVms
            | ApiError::NoSuchRoute
            | ApiError::NoSuchVersion
            | ApiError::NoSuchDeployment => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::InvalidInput(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded | ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Business { status, .. } => *status,
            ApiError::Deadline { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal { .. } | ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::InvalidVms(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::NoSuchVms => {
                json!({"error": "not_found", "message": "no VMS is deployed at this path"})
            }
            ApiError::NoSuchRoute => {
                json!({"error": "not_found", "message": "the VMS has no route for this path"})
            }
            ApiError::NoSuchVersion => {
                json!({"error": "not_found", "message": "the requested version of the VMS is not deployed"})
            }
            ApiError::MethodNotAllowed(_) => {
                json!({"error": "method_not_allowed", "message": "the route does not accept this method"})
            }
            ApiError::Unauthorized(_) => {
                json!({"error": "unauthorized", "message": "missing or wrong credentials"})
            }
            ApiError::InvalidInput(problems) => {
                json!({"error": "invalid_input", "problems": problems})
            }
            ApiError::BodyTimeout => {
                json!({"error": "request_timeout", "message": "the request body did not arrive in time"})
            }
            ApiError::BodyTooLarge => {
                json!({"error": "body_too_large", "message": "the request body is too large"})
            }
            ApiError::Overloaded => {
                json!({"error": "overloaded", "message": "the VMS is at its concurrency limit; retry later"})
            }
            ApiError::Business {
                code,
                message,
                trace_id,
                ..
            } => {
                let mut body = json!({"error": code, "trace_id": trace_id});
                if let Some(message) = message {
                    body["message"] = Value::String(message.clone());
                }
                body
            }
            ApiError::Deadline { trace_id } => {
                json!({"error": "deadline_exceeded", "message": "the run passed its deadline", "trace_id": trace_id})
            }
            ApiError::Unavailable { trace_id } => {
                json!({"error": "unavailable", "message": "the VMS version is being unloaded", "trace_id": trace_id})
            }
            ApiError::Internal { trace_id } => {
                json!({"error": "internal", "message": "the run failed; see the engine logs for this trace id", "trace_id": trace_id})
            }
            ApiError::BadRequest(message) => json!({"error": "bad_request", "message": message}),
            ApiError::InvalidVms(diagnostics) => json!({
                "error": "invalid_vms",
                "message": "the VMS does not load; the previous version, if any, keeps serving",
                "diagnostics": diagnostics,
            }),
            ApiError::NoSuchDeployment => {
                json!({"error": "not_found", "message": "no such deployment"})
            }
            ApiError::Storage(message) => json!({"error": "storage", "message": message}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        match &self {
            ApiError::MethodNotAllowed(methods) => {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            ApiError::Overloaded => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Unauthorized(Some(challenge)) => {
                if let Ok(value) = HeaderValue::from_str(challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}
