//! `/vms/{vms}/run`, `/vms/{vms}/tests/run`, `/vms/{vms}/runs`: running functions and test
//! cases on the embedded engine, with mocks and traces; every run is recorded in SQLite.
//!
//! Connector calls that are not mocked go to the real connectors (`LiveConnectors`), built
//! from the VMS's connectors and env values: the declared defaults, overlaid with this
//! machine's `.env.local`, overlaid with the request's `env`. Nothing is read from the
//! server's own environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::{get, post};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use starweave_engine::compile::{Compiled, Scripting, compile_vms};
use starweave_engine::io::{LiveConnectors, LiveOptions};
use starweave_engine::mocks::{MockAnswer, Mocks};
use starweave_engine::run::{RunConfig, run_function};
use starweave_engine::testing::judge;
use starweave_model::vms::local_env::{LocalEnv, local_run_env};
use starweave_model::vms::{self, Vms};

use super::db::{self, RunRecord};
use super::error::{ApiError, ApiResult};
use super::{ApiRoutes, AppState, Json, Path, Query, blocking};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route("/vms/{vms}/run", &["post"], post(run))
        .route("/vms/{vms}/tests/run", &["post"], post(run_tests))
        .route("/vms/{vms}/runs", &["get"], get(runs))
}

/// One mock of a run request: a result or an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MockSpec {
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<MockErrorSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MockErrorSpec {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    function: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    mocks: IndexMap<String, MockSpec>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// The env values of a run: declared defaults, then this machine's `.env.local`, then the
/// request's values. A `.env.local` that does not parse stops the run with its error:
/// running without the values it was meant to hold would fail in more confusing ways.
pub(super) fn env_values(
    model: &Vms,
    given: &BTreeMap<String, String>,
) -> ApiResult<BTreeMap<String, String>> {
    let local = LocalEnv::of_vms_files(&model.other_files)
        .transpose()
        .map_err(|e| {
            ApiError::InvalidRequest(format!(
                "{e}: this machine's env values do not parse; fix the file or delete it"
            ))
        })?;
    Ok(local_run_env(
        &model.env,
        local.as_ref(),
        given.iter().map(|(k, v)| (k.clone(), v.clone())),
    ))
}

/// Reads and compiles the VMS in `dir` off the async threads (compiling is CPU work over
/// every function).
async fn load(dir: PathBuf, scripting: &Scripting) -> ApiResult<(vms::VmsDocument, Compiled)> {
    let scripting = scripting.clone();
    blocking(move || {
        let files = crate::files::read_vms_dir(&dir)?;
        let document = vms::read_vms(&files);
        let compiled = compile_vms(&document.vms, &scripting);
        Ok((document, compiled))
    })
    .await
}

async fn run(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<RunRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&name)?;
    let (document, compiled) = load(dir, state.scripting()).await?;
    let model = &document.vms;
    let Some(function) = model.functions.get(&request.function) else {
        return Err(ApiError::NotFound(format!(
            "`{name}` has no function `{}`",
            request.function
        )));
    };
    let mut diagnostics = document.diagnostics.clone();
    diagnostics.extend(compiled.diagnostics.iter().cloned());
    diagnostics.extend(compiled.program.prepare().await);
    // Only the function's own files block the run; problems elsewhere surface when reached.
    let own_files = [
        vms::disk::function_body_file(&request.function, function.extension()),
        vms::disk::function_spec_file(&request.function),
    ];
    let blocking_errors: Vec<_> = diagnostics
        .into_iter()
        .filter(|d| d.is_error() && d.file.as_ref().is_some_and(|f| own_files.contains(f)))
        .collect();
    if !blocking_errors.is_empty() {
        return Err(ApiError::InvalidVms {
            message: format!(
                "`{}` does not compile; fix the problems listed in `details.diagnostics`",
                request.function
            ),
            diagnostics: serde_json::to_value(&blocking_errors).map_err(ApiError::internal)?,
        });
    }

    let mut mocks = Mocks::new();
    for (key, mock) in &request.mocks {
        let answer = match (&mock.error, &mock.output) {
            (Some(error), _) => MockAnswer::Error {
                code: error.code.clone(),
                message: error.message.clone().unwrap_or_else(|| error.code.clone()),
            },
            (None, output) => MockAnswer::Result(output.clone().unwrap_or(Value::Null)),
        };
        mocks.insert(key.clone(), vec![answer]);
    }
    let env = env_values(model, &request.env)?;
    let (connectors, _) = LiveConnectors::new(
        &model.connectors,
        env.clone(),
        LiveOptions {
            files: model.other_files.clone(),
            ..LiveOptions::default()
        },
    );
    let timeout = request
        .timeout_ms
        .map(starweave_engine::run::check_timeout_ms)
        .transpose()
        .map_err(ApiError::InvalidRequest)?;
    let config = RunConfig {
        timeout,
        trace: true,
        mocks: Arc::new(mocks),
        connectors: Arc::new(connectors),
        env,
        ..RunConfig::default()
    };
    let started = Instant::now();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let outcome = run_function(
        &compiled.program,
        &request.function,
        request.input.clone(),
        config,
    )
    .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let id = uuid::Uuid::now_v7().to_string();
    let (ok, output, error) = match outcome.output {
        Ok(output) => (true, Some(output), None),
        Err(error) => (
            false,
            None,
            Some(serde_json::to_value(&error).map_err(ApiError::internal)?),
        ),
    };
    let (steps, dropped_steps) = outcome
        .trace
        .map(|t| (t.steps, t.dropped_steps))
        .unwrap_or_default();
    let mut result = json!({
        "id": id,
        "ok": ok,
        "duration_ms": duration_ms,
        "logs": outcome.logs,
        "trace": steps,
    });
    if dropped_steps > 0 {
        result["trace_dropped_steps"] = json!(dropped_steps);
    }
    if let Some(output) = output {
        result["output"] = output;
    }
    if let Some(error) = error {
        result["error"] = error;
    }
    let record = RunRecord {
        id,
        at,
        function: request.function,
        input: request.input,
        result: result.clone(),
    };
    db::insert_run(state.db(), &name, &record).await?;
    Ok(Json(result))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsRequest {
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct CaseResult {
    function: String,
    name: String,
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    duration_ms: f64,
}

async fn run_tests(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<TestsRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&name)?;
    let (document, compiled) = load(dir, state.scripting()).await?;
    let model = &document.vms;
    let env = env_values(model, &request.env)?;
    let (connectors, _) = LiveConnectors::new(
        &model.connectors,
        env.clone(),
        LiveOptions {
            files: model.other_files.clone(),
            ..LiveOptions::default()
        },
    );
    let mut results = Vec::new();
    for (function, cases) in &model.tests {
        if request.function.as_ref().is_some_and(|f| f != function) {
            continue;
        }
        for (case_name, case) in cases {
            if request.name.as_ref().is_some_and(|n| n != case_name) {
                continue;
            }
            let config = RunConfig {
                mocks: Arc::new(Mocks::from_model(&case.mocks)),
                connectors: Arc::new(connectors.for_run()),
                env: env.clone(),
                ..RunConfig::default()
            };
            let started = Instant::now();
            let outcome =
                run_function(&compiled.program, function, case.input.clone(), config).await;
            // Diffing a large output is CPU work too.
            let expected = case.clone();
            let message = blocking(move || Ok(judge(&expected, &outcome.output))).await?;
            results.push(CaseResult {
                function: function.clone(),
                name: case_name.clone(),
                passed: message.is_none(),
                message,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            });
        }
    }
    if results.is_empty() && (request.function.is_some() || request.name.is_some()) {
        return Err(ApiError::NotFound("no test case matches".into()));
    }
    let passed = results.iter().filter(|r| r.passed).count();
    Ok(Json(json!({
        "passed": passed,
        "failed": results.len() - passed,
        "results": results,
    })))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn runs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> ApiResult<Json<Vec<RunRecord>>> {
    state.workspace().vms_dir(&name)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let records = db::list_runs(
        state.db(),
        &name,
        query.function.as_deref().filter(|f| !f.is_empty()),
        limit,
    )
    .await?;
    Ok(Json(records))
}
