//! The IDE API client: one typed function per endpoint of `docs/ide-api.md`.
//!
//! Every call goes through [`request`], which adds the bearer token (when the page was opened
//! with `#token=…`), sends JSON and turns any non-2xx answer into an [`ApiError`] carrying the
//! server's stable `code`. Nothing here touches signals: components decide what to do with the
//! answers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use starweave_model::Diagnostic;
use starweave_model::vms::Parameter;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The base path of every API call.
pub const BASE: &str = "/api/v1";

/// An API failure: either the server's error body or a transport problem (`status` 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status, 0 when the request never got an answer.
    pub status: u16,
    /// The server's stable error code (`conflict`, `too_large`…), or `network`/`decode`.
    pub code: String,
    /// A sentence a user can read.
    pub message: String,
    /// The server's `details`, `null` when absent.
    pub details: Value,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({}): {}", self.status, self.code, self.message)
        }
    }
}

impl ApiError {
    fn transport(code: &str, err: impl std::fmt::Debug) -> Self {
        ApiError {
            status: 0,
            code: code.to_owned(),
            message: format!("{code}: {err:?}"),
            details: Value::Null,
        }
    }
}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
    #[serde(default)]
    details: Value,
}

/// The bearer token given in the page URL (`#token=…`), kept in session storage.
fn token() -> Option<String> {
    let window = web_sys::window()?;
    let storage = window.session_storage().ok().flatten();
    let hash = window.location().hash().unwrap_or_default();
    if let Some(t) = hash.strip_prefix("#token=")
        && !t.is_empty()
    {
        if let Some(s) = &storage {
            let _ = s.set_item("starweave.token", t);
        }
        let _ = window.location().set_hash("");
        return Some(t.to_owned());
    }
    storage?.get_item("starweave.token").ok().flatten()
}

/// Percent-encodes one path segment or query value.
pub fn encode(part: &str) -> String {
    js_sys::encode_uri_component(part).into()
}

/// Encodes a file path keeping its `/` separators.
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

async fn request<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> ApiResult<T> {
    let (status, text) = send(method, path, body).await?;
    if (200..300).contains(&status) {
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        return serde_json::from_str(text).map_err(|e| ApiError {
            status,
            code: "decode".into(),
            message: format!("unexpected answer from {method} {path}: {e}"),
            details: Value::Null,
        });
    }
    Err(error_of(method, path, status, &text))
}

/// Sends a request; the status and the body text, whatever the status.
pub(crate) async fn send(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> ApiResult<(u16, String)> {
    let window = web_sys::window().ok_or_else(|| ApiError::transport("network", "no window"))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|e| ApiError::transport("network", e))?;
    let _ = headers.set("accept", "application/json");
    if let Some(t) = token() {
        let _ = headers.set("authorization", &format!("Bearer {t}"));
    }
    if let Some(body) = body {
        let _ = headers.set("content-type", "application/json");
        init.set_body(&JsValue::from_str(&body.to_string()));
    }
    init.set_headers(&headers);
    let url = format!("{BASE}{path}");
    let req = web_sys::Request::new_with_str_and_init(&url, &init)
        .map_err(|e| ApiError::transport("network", e))?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|e| ApiError::transport("network", e))?
        .unchecked_into();
    let status = resp.status();
    let text = match resp.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok((status, text))
}

fn error_of(method: &str, path: &str, status: u16, text: &str) -> ApiError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => ApiError {
            status,
            code: body.error.code,
            message: body.error.message,
            details: body.error.details,
        },
        Err(_) => ApiError {
            status,
            code: format!("http_{status}"),
            message: if text.is_empty() {
                format!("{method} {path} answered {status}")
            } else {
                text.chars().take(300).collect()
            },
            details: Value::Null,
        },
    }
}

async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    request("GET", path, None).await
}

async fn post<T: DeserializeOwned>(path: &str, body: &Value) -> ApiResult<T> {
    request("POST", path, Some(body)).await
}

// ---------------------------------------------------------------------------------------
// Types of the answers
// ---------------------------------------------------------------------------------------

/// A template a new VMS can start from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TemplateInfo {
    /// Its name (`empty`, `bff-aggregation`…).
    pub name: String,
    /// What it holds.
    #[serde(default)]
    pub description: String,
}

/// A VMS of the workspace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VmsSummary {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The checked-out branch.
    #[serde(default)]
    pub branch: String,
    /// Whether the working tree has uncommitted changes.
    #[serde(default)]
    pub dirty: bool,
}

/// A function of a VMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// `bpmn`, `javascript` or `rhai`.
    pub kind: String,
    /// Its body file.
    pub file: String,
    /// Its parameters file, when it has one.
    #[serde(default)]
    pub params_file: Option<String>,
    /// Input parameters.
    #[serde(default)]
    pub input: Vec<Parameter>,
    /// Output parameters.
    #[serde(default)]
    pub output: Vec<Parameter>,
}

/// A method of a connector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MethodInfo {
    /// Its name.
    pub name: String,
    /// Input parameters.
    #[serde(default)]
    pub input: Vec<Parameter>,
    /// Output parameters.
    #[serde(default)]
    pub output: Vec<Parameter>,
}

/// A connector of a VMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectorInfo {
    /// Its name.
    pub name: String,
    /// `http`, `database`, `cache`, `mq`, `grpc` or `config`.
    pub kind: String,
    /// Its file.
    pub file: String,
    /// Its methods.
    #[serde(default)]
    pub methods: Vec<MethodInfo>,
}

/// A trigger of a VMS (an entry of `triggers.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TriggerInfo {
    /// Position in `triggers.yaml`.
    pub index: usize,
    /// `http`, `cron`, `mq` or `grpc`.
    pub kind: String,
    /// The function it calls.
    pub function: String,
    /// One line saying what it listens to.
    #[serde(default)]
    pub summary: String,
}

/// An env var declaration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnvInfo {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type", default)]
    pub ty: String,
    /// Whether its value is a secret.
    #[serde(default)]
    pub secret: bool,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// A test case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TestInfo {
    /// The function tested.
    pub function: String,
    /// The case name.
    pub name: String,
    /// Its file.
    pub file: String,
}

/// Everything the explorer shows about one VMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VmsDetail {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The checked-out branch.
    #[serde(default)]
    pub branch: String,
    /// Uncommitted changes?
    #[serde(default)]
    pub dirty: bool,
    /// Every file path.
    #[serde(default)]
    pub files: Vec<String>,
    /// Functions.
    #[serde(default)]
    pub functions: Vec<FunctionInfo>,
    /// Connectors.
    #[serde(default)]
    pub connectors: Vec<ConnectorInfo>,
    /// Triggers.
    #[serde(default)]
    pub triggers: Vec<TriggerInfo>,
    /// Env var declarations.
    #[serde(default)]
    pub env: Vec<EnvInfo>,
    /// Test cases.
    #[serde(default)]
    pub tests: Vec<TestInfo>,
    /// Diagnostics of the whole VMS.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

/// A file's content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileContent {
    /// Its path.
    pub path: String,
    /// Its text.
    pub content: String,
    /// Hash of the content, for conflict-safe writes.
    #[serde(default)]
    pub etag: Option<String>,
}

/// The answer to a write.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WriteResult {
    /// The new etag.
    #[serde(default)]
    pub etag: Option<String>,
    /// Diagnostics of the whole VMS after the write.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

/// An error of a run or a connector call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RunErrorInfo {
    /// Its code.
    #[serde(default)]
    pub code: String,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// A log line of a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogLine {
    /// `info`, `warn`…
    #[serde(default)]
    pub level: String,
    /// The text.
    #[serde(default)]
    pub message: String,
    /// The code function that logged it.
    #[serde(default)]
    pub function: String,
}

/// One trace step as the model serialises it (read leniently: the UI only paints it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TraceStepInfo {
    /// The BPMN element id (or a script step's id).
    #[serde(default, alias = "node", alias = "node_id")]
    pub element_id: String,
    /// Its kind.
    #[serde(default, alias = "kind")]
    pub element_kind: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Start, µs from the run's start.
    #[serde(default)]
    pub start_offset_us: u64,
    /// Duration in µs.
    #[serde(default)]
    pub duration_us: u64,
    /// What went in.
    #[serde(default)]
    pub input: Option<Value>,
    /// What came out.
    #[serde(default)]
    pub output: Option<Value>,
    /// The error raised.
    #[serde(default)]
    pub error: Option<RunErrorInfo>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunResult {
    /// The run's id.
    #[serde(default)]
    pub id: Value,
    /// Whether it succeeded.
    #[serde(default)]
    pub ok: bool,
    /// The output.
    #[serde(default)]
    pub output: Option<Value>,
    /// The error.
    #[serde(default)]
    pub error: Option<RunErrorInfo>,
    /// Duration in ms.
    #[serde(default)]
    pub duration_ms: f64,
    /// Log lines.
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Trace steps.
    #[serde(default)]
    pub trace: Vec<TraceStepInfo>,
    /// Steps that ran after the trace was full (the engine keeps a run's first ten thousand).
    #[serde(default)]
    pub trace_dropped_steps: u64,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunRecord {
    /// Its id.
    #[serde(default)]
    pub id: Value,
    /// When it ran.
    #[serde(default)]
    pub at: String,
    /// Its input.
    #[serde(default)]
    pub input: Value,
    /// Its result.
    pub result: RunResult,
}

/// An expression built-in, for completion.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BuiltinInfo {
    /// Its name.
    pub name: String,
    /// Its signature.
    #[serde(default)]
    pub signature: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// An example.
    #[serde(default)]
    pub example: String,
}

/// The answer of "Test connection".
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectionTest {
    /// Whether the connection was made and answered.
    #[serde(default)]
    pub ok: bool,
    /// What was reached.
    #[serde(default)]
    pub summary: Option<String>,
    /// Remarks worth acting on.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Why it failed: `code` and `message`.
    #[serde(default)]
    pub error: Option<Value>,
    /// Duration in ms.
    #[serde(default)]
    pub duration_ms: f64,
}

/// The answer of "try it".
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TryResult {
    /// Whether the call succeeded.
    #[serde(default)]
    pub ok: bool,
    /// Its output.
    #[serde(default)]
    pub output: Option<Value>,
    /// Its error.
    #[serde(default)]
    pub error: Option<Value>,
    /// Duration in ms.
    #[serde(default)]
    pub duration_ms: f64,
}

/// The answer of the OpenAPI import.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImportResult {
    /// The connector file written.
    #[serde(default)]
    pub file: String,
    /// The methods created.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Diagnostics.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

/// A changed file in Git.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GitFile {
    /// Its path.
    pub path: String,
    /// `new`, `modified`, `deleted`, `renamed`, `conflicted`.
    #[serde(default)]
    pub status: String,
}

/// `git status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GitStatus {
    /// Current branch.
    #[serde(default)]
    pub branch: String,
    /// The upstream branch (`origin/main`), when there is one.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Whether a merge is in progress (a pull with conflicts).
    #[serde(default)]
    pub merging: bool,
    /// Commits ahead of upstream.
    #[serde(default)]
    pub ahead: u32,
    /// Commits behind upstream.
    #[serde(default)]
    pub behind: u32,
    /// Changed files.
    #[serde(default)]
    pub files: Vec<GitFile>,
}

/// One line of a diff hunk.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiffLine {
    /// `context`, `add`, `remove`.
    #[serde(default)]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Line in the old file.
    #[serde(default)]
    pub old_line: Option<u32>,
    /// Line in the new file.
    #[serde(default)]
    pub new_line: Option<u32>,
}

/// A diff hunk.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiffHunk {
    /// `@@ … @@`.
    #[serde(default)]
    pub header: String,
    /// Its lines.
    #[serde(default)]
    pub lines: Vec<DiffLine>,
}

/// The diff of one file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiffFile {
    /// Its path.
    pub path: String,
    /// Its hunks.
    #[serde(default)]
    pub hunks: Vec<DiffHunk>,
}

#[derive(Deserialize)]
struct DiffAnswer {
    #[serde(default)]
    files: Vec<DiffFile>,
}

/// A commit of the history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Commit {
    /// Its id.
    pub id: String,
    /// First line of the message.
    #[serde(default)]
    pub summary: String,
    /// Author.
    #[serde(default)]
    pub author: String,
    /// Time (as the server writes it).
    #[serde(default)]
    pub time: Value,
}

/// A branch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Branch {
    /// Its name.
    pub name: String,
}

/// The branches of a VMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Branches {
    /// The checked-out one.
    #[serde(default)]
    pub current: String,
    /// All of them.
    #[serde(default)]
    pub branches: Vec<Branch>,
}

// ---------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------

fn vms_path(vms: &str) -> String {
    format!("/vms/{}", encode(vms))
}

/// `GET /templates`.
pub async fn templates() -> ApiResult<Vec<TemplateInfo>> {
    get("/templates").await
}

/// `GET /vms`.
pub async fn list_vms() -> ApiResult<Vec<VmsSummary>> {
    get("/vms").await
}

/// `POST /vms`.
pub async fn create_vms(name: &str, template: &str) -> ApiResult<VmsSummary> {
    post("/vms", &json!({ "name": name, "template": template })).await
}

/// `POST /vms/clone`: clones `url` into the workspace. `token` (with `username`) is sent if
/// the remote asks for a password, and kept for its server when `remember` and the clone
/// worked. The answer is the new VMS's summary, plus `token: { stored, store, message? }`.
pub async fn clone_vms(
    url: &str,
    name: Option<&str>,
    username: &str,
    token: &str,
    remember: bool,
) -> ApiResult<Value> {
    let mut body = json!({ "url": url, "remember": remember });
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        body["name"] = json!(name);
    }
    if !token.trim().is_empty() {
        body["token"] = json!(token);
        body["username"] = json!(username);
    }
    post("/vms/clone", &body).await
}

/// A token kept for a Git server (the token itself is never answered).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredCredential {
    /// `https://host[:port]`.
    pub origin: String,
    /// The username sent with it.
    pub username: String,
}

/// Where tokens of HTTPS remotes are kept, and for which servers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CredentialStore {
    /// `keyring` or `memory`.
    pub store: String,
    /// Whether they outlive the server.
    pub persistent: bool,
    /// Why the keyring is not used.
    #[serde(default)]
    pub reason: Option<String>,
    /// The kept tokens.
    #[serde(default)]
    pub credentials: Vec<StoredCredential>,
}

/// `GET /git/credentials`.
pub async fn credentials() -> ApiResult<CredentialStore> {
    get("/git/credentials").await
}

/// `PUT /git/credentials`: keeps `token` for the server of `url`.
pub async fn store_credential(url: &str, username: &str, token: &str) -> ApiResult<Value> {
    request(
        "PUT",
        "/git/credentials",
        Some(&json!({ "url": url, "username": username, "token": token })),
    )
    .await
}

/// `POST /git/known-hosts`: trusts the SSH host key an `unknown_host_key` error's details
/// carry (`host`, `port`, `key_type`, `key`), adding it to `~/.ssh/known_hosts`.
pub async fn trust_host_key(key: &Value) -> ApiResult<Value> {
    post(
        "/git/known-hosts",
        &json!({
            "host": key["host"],
            "port": key["port"],
            "key_type": key["key_type"],
            "key": key["key"],
        }),
    )
    .await
}

/// `DELETE /git/credentials?url=…`.
pub async fn remove_credential(url: &str) -> ApiResult<Value> {
    request(
        "DELETE",
        &format!("/git/credentials?url={}", encode(url)),
        None,
    )
    .await
}

/// `GET /vms/{vms}`.
pub async fn vms_detail(vms: &str) -> ApiResult<VmsDetail> {
    get(&vms_path(vms)).await
}

/// `GET /vms/{vms}/files/{path}`.
pub async fn read_file(vms: &str, path: &str) -> ApiResult<FileContent> {
    get(&format!("{}/files/{}", vms_path(vms), encode_path(path))).await
}

/// `PUT /vms/{vms}/files/{path}`; with `etag`, refused with `409 conflict` when the file changed.
pub async fn write_file(
    vms: &str,
    path: &str,
    content: &str,
    etag: Option<&str>,
) -> ApiResult<WriteResult> {
    let mut body = json!({ "content": content });
    if let Some(etag) = etag {
        body["etag"] = json!(etag);
    }
    request(
        "PUT",
        &format!("{}/files/{}", vms_path(vms), encode_path(path)),
        Some(&body),
    )
    .await
}

/// `POST /vms/{vms}/run`.
pub async fn run(vms: &str, function: &str, input: &Value, mocks: &Value) -> ApiResult<RunResult> {
    let mut body = json!({ "function": function, "input": input });
    if mocks.as_object().is_some_and(|m| !m.is_empty()) {
        body["mocks"] = mocks.clone();
    }
    post(&format!("{}/run", vms_path(vms)), &body).await
}

/// `GET /vms/{vms}/runs?function=`.
pub async fn runs(vms: &str, function: &str) -> ApiResult<Vec<RunRecord>> {
    get(&format!(
        "{}/runs?function={}",
        vms_path(vms),
        encode(function)
    ))
    .await
}

/// `GET /reference/expressions`.
pub async fn expressions() -> ApiResult<Vec<BuiltinInfo>> {
    get("/reference/expressions").await
}

/// `GET /reference/ctx?vms=`: a TypeScript declaration of `ctx`.
pub async fn ctx_declaration(vms: &str) -> ApiResult<String> {
    let path = format!("/reference/ctx?vms={}", encode(vms));
    let (status, text) = send("GET", &path, None).await?;
    if !(200..300).contains(&status) {
        return Err(error_of("GET", &path, status, &text));
    }
    // Plain TypeScript; tolerate a JSON string or `{ "dts": … }` too.
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(o)) => o
            .get("dts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => text,
    })
}

/// `POST /vms/{vms}/connectors/{name}/import-openapi`.
pub async fn import_openapi(vms: &str, connector: &str, document: &str) -> ApiResult<ImportResult> {
    post(
        &format!(
            "{}/connectors/{}/import-openapi",
            vms_path(vms),
            encode(connector)
        ),
        &json!({ "document": document }),
    )
    .await
}

/// `POST /vms/{vms}/connectors/{name}/methods/{method}/try`.
pub async fn try_method(
    vms: &str,
    connector: &str,
    method: &str,
    input: &Value,
) -> ApiResult<TryResult> {
    post(
        &format!(
            "{}/connectors/{}/methods/{}/try",
            vms_path(vms),
            encode(connector),
            encode(method)
        ),
        &json!({ "input": input }),
    )
    .await
}

/// `POST /vms/{vms}/connectors/{name}/test`.
pub async fn test_connection(vms: &str, connector: &str) -> ApiResult<ConnectionTest> {
    post(
        &format!("{}/connectors/{}/test", vms_path(vms), encode(connector)),
        &json!({}),
    )
    .await
}

/// One method of a gRPC connector's descriptor set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GrpcMethodInfo {
    /// `package.Service/Method`.
    pub method: String,
    /// The request message.
    #[serde(default)]
    pub input_type: String,
    /// The response message.
    #[serde(default)]
    pub output_type: String,
    /// A streaming method: connectors call unary methods only.
    #[serde(default)]
    pub streaming: bool,
    /// The connector method that calls it already.
    #[serde(default)]
    pub imported_as: Option<String>,
}

/// One service of a descriptor set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GrpcServiceInfo {
    /// `package.Service`.
    pub name: String,
    /// Its methods.
    #[serde(default)]
    pub methods: Vec<GrpcMethodInfo>,
}

/// `GET /vms/{vms}/connectors/{name}/grpc-methods`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GrpcMethods {
    /// The descriptor set's path in the VMS.
    #[serde(default)]
    pub descriptor_set: String,
    /// Its services.
    #[serde(default)]
    pub services: Vec<GrpcServiceInfo>,
}

/// What `import-grpc` did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GrpcImport {
    /// The connector file written.
    #[serde(default)]
    pub file: String,
    /// Methods added.
    #[serde(default)]
    pub added: Vec<String>,
    /// Methods whose parameters were refreshed.
    #[serde(default)]
    pub updated: Vec<String>,
}

/// `GET /vms/{vms}/connectors/{name}/grpc-methods`.
pub async fn grpc_methods(vms: &str, connector: &str) -> ApiResult<GrpcMethods> {
    get(&format!(
        "{}/connectors/{}/grpc-methods",
        vms_path(vms),
        encode(connector)
    ))
    .await
}

/// `POST /vms/{vms}/connectors/{name}/import-grpc`.
pub async fn import_grpc(vms: &str, connector: &str, methods: &[String]) -> ApiResult<GrpcImport> {
    post(
        &format!(
            "{}/connectors/{}/import-grpc",
            vms_path(vms),
            encode(connector)
        ),
        &json!({ "methods": methods }),
    )
    .await
}

/// What went wrong reading `.env.local`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LocalEnvError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What, for people.
    pub message: String,
}

/// This machine's own env values for a VMS (`.env.local`): used by Run, Try it and Test
/// connection over the declared defaults; never committed, never deployed.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct LocalEnv {
    /// The file's name in the VMS (`.env.local`).
    #[serde(default)]
    pub file: String,
    /// Whether the file exists.
    #[serde(default)]
    pub exists: bool,
    /// The values by name.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    /// Why the file does not parse, when it does not.
    #[serde(default)]
    pub error: Option<LocalEnvError>,
    /// Names set in the file that `vms.yaml` does not declare.
    #[serde(default)]
    pub undeclared: Vec<String>,
    /// `ignored`, `tracked`, `not_ignored` or `no_repository`.
    #[serde(default)]
    pub git: String,
}

/// `GET /vms/{vms}/local-env`.
pub async fn local_env(vms: &str) -> ApiResult<LocalEnv> {
    get(&format!("{}/local-env", vms_path(vms))).await
}

/// `PUT /vms/{vms}/local-env/{name}`.
pub async fn set_local_env(vms: &str, name: &str, value: &str) -> ApiResult<LocalEnv> {
    request(
        "PUT",
        &format!("{}/local-env/{}", vms_path(vms), encode(name)),
        Some(&json!({ "value": value })),
    )
    .await
}

/// `DELETE /vms/{vms}/local-env/{name}`.
pub async fn remove_local_env(vms: &str, name: &str) -> ApiResult<LocalEnv> {
    request(
        "DELETE",
        &format!("{}/local-env/{}", vms_path(vms), encode(name)),
        None,
    )
    .await
}

/// `GET /vms/{vms}/git/status`.
pub async fn git_status(vms: &str) -> ApiResult<GitStatus> {
    get(&format!("{}/git/status", vms_path(vms))).await
}

/// `GET /vms/{vms}/git/diff?path=`.
pub async fn git_diff(vms: &str, path: &str) -> ApiResult<Vec<DiffFile>> {
    let a: DiffAnswer = get(&format!("{}/git/diff?path={}", vms_path(vms), encode(path))).await?;
    Ok(a.files)
}

/// `POST /vms/{vms}/git/commit`.
pub async fn git_commit(vms: &str, message: &str) -> ApiResult<Value> {
    post(
        &format!("{}/git/commit", vms_path(vms)),
        &json!({ "message": message }),
    )
    .await
}

/// `GET /vms/{vms}/git/log`.
pub async fn git_log(vms: &str) -> ApiResult<Vec<Commit>> {
    get(&format!("{}/git/log?limit=50", vms_path(vms))).await
}

/// `GET /vms/{vms}/git/branches`.
pub async fn git_branches(vms: &str) -> ApiResult<Branches> {
    get(&format!("{}/git/branches", vms_path(vms))).await
}

/// `POST /vms/{vms}/git/branches`.
pub async fn git_create_branch(vms: &str, name: &str) -> ApiResult<Value> {
    post(
        &format!("{}/git/branches", vms_path(vms)),
        &json!({ "name": name }),
    )
    .await
}

/// `POST /vms/{vms}/git/checkout`.
pub async fn git_checkout(vms: &str, branch: &str) -> ApiResult<Value> {
    post(
        &format!("{}/git/checkout", vms_path(vms)),
        &json!({ "branch": branch }),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Changes made outside the IDE (`GET /events`), and Git with a remote
// ---------------------------------------------------------------------------------------

/// One file of a [`ChangeEvent`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileChange {
    /// Relative to the VMS.
    pub path: String,
    /// `created`, `modified` or `deleted`.
    pub change: String,
    /// The new etag, for readable files.
    #[serde(default)]
    pub etag: Option<String>,
    /// `too_large` or `link_outside`: the server did not read the file.
    #[serde(default)]
    pub note: Option<String>,
}

/// Branch and HEAD after a Git change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GitHead {
    /// The current branch.
    #[serde(default)]
    pub branch: String,
    /// The commit HEAD points at.
    #[serde(default)]
    pub head: Option<String>,
    /// Whether a merge is in progress.
    #[serde(default)]
    pub merging: bool,
}

/// What changed in one VMS outside the IDE.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeEvent {
    /// Its sequence number.
    pub seq: u64,
    /// The VMS.
    pub vms: String,
    /// Changed files.
    #[serde(default)]
    pub files: Vec<FileChange>,
    /// Set when the branch or HEAD moved.
    #[serde(default)]
    pub git: Option<GitHead>,
}

/// The answer of a poll.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventsAnswer {
    /// This server run's id.
    pub stream: String,
    /// Poll again with `after` = this.
    pub seq: u64,
    /// Events were missed: reload what is shown.
    #[serde(default)]
    pub reset: bool,
    /// The events.
    #[serde(default)]
    pub events: Vec<ChangeEvent>,
}

/// `GET /events`: without a position, the current one at once; with it, a long poll (the
/// server answers when something changed, or after 25 s with nothing).
pub async fn events(position: Option<(&str, u64)>) -> ApiResult<EventsAnswer> {
    match position {
        None => get("/events").await,
        Some((stream, after)) => {
            get(&format!("/events?after={after}&stream={}", encode(stream))).await
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PullReport {
    /// `up_to_date`, `fast_forward`, `merged` or `conflicts`.
    pub result: String,
    /// Files left with conflict markers.
    #[serde(default)]
    pub conflicts: Vec<String>,
}

/// `POST /vms/{vms}/git/fetch`.
pub async fn git_fetch(vms: &str) -> ApiResult<Value> {
    post(&format!("{}/git/fetch", vms_path(vms)), &json!({})).await
}

/// `POST /vms/{vms}/git/pull`.
pub async fn git_pull(vms: &str) -> ApiResult<PullReport> {
    post(&format!("{}/git/pull", vms_path(vms)), &json!({})).await
}

/// `POST /vms/{vms}/git/push`.
pub async fn git_push(vms: &str) -> ApiResult<Value> {
    post(&format!("{}/git/push", vms_path(vms)), &json!({})).await
}

/// `POST /vms/{vms}/git/resolve`: `take` is `ours`, `theirs` or `file` (mark the file as
/// it is now resolved).
pub async fn git_resolve(vms: &str, path: &str, take: &str) -> ApiResult<Value> {
    post(
        &format!("{}/git/resolve", vms_path(vms)),
        &json!({ "path": path, "take": take }),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Deploy
// ---------------------------------------------------------------------------------------

/// One engine of a VMS's deploy target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeployEngine {
    /// Its admin API URL.
    pub url: String,
    /// Whether an admin token is kept for it.
    #[serde(default)]
    pub token_kept: bool,
    /// Plain HTTP to another machine.
    #[serde(default)]
    pub plain_http: bool,
}

/// One declared env var and the target's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeployEnv {
    /// Its name.
    pub name: String,
    /// Secret: typed for each deployment, never kept.
    #[serde(default)]
    pub secret: bool,
    /// The declared default (not for secrets).
    #[serde(default)]
    pub default: Option<Value>,
    /// The kept value (never for secrets).
    #[serde(default)]
    pub value: Option<String>,
}

/// `GET /vms/{vms}/deploy`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeployTarget {
    /// The VMS's name in `vms.yaml`.
    #[serde(default)]
    pub vms: Option<String>,
    /// Its engines, in rollout order.
    #[serde(default)]
    pub engines: Vec<DeployEngine>,
    /// Its declared env vars.
    #[serde(default)]
    pub env: Vec<DeployEnv>,
    /// The version Git gives a deployment now.
    #[serde(default)]
    pub version: Option<String>,
    /// Why there is none.
    #[serde(default)]
    pub version_error: Option<String>,
    /// Where admin tokens are kept.
    #[serde(default)]
    pub store: Value,
}

/// What one engine did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EngineOutcome {
    /// The engine's admin URL.
    pub engine: String,
    /// `deployed`, `unchanged`, `refused`, `failed`, `skipped`, `done` or `absent`.
    pub status: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// How long the engine took to load it.
    #[serde(default)]
    pub load_ms: Option<f64>,
}

/// `POST /vms/{vms}/deploy`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeployAnswer {
    /// The version deployed.
    pub version: String,
    /// Every engine serves it.
    pub ok: bool,
    /// Each engine's outcome.
    pub engines: Vec<EngineOutcome>,
    /// The routes it serves.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Warnings of the checks.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    /// Env vars with neither a value nor a default.
    #[serde(default)]
    pub unset: Vec<String>,
}

/// One version on one engine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EngineDeployment {
    /// The engine.
    pub engine: String,
    /// The version.
    pub version: String,
    /// Whether it takes the VMS's traffic.
    #[serde(default)]
    pub active: bool,
    /// Runs in flight.
    #[serde(default)]
    pub in_flight: u64,
    /// Its log level.
    #[serde(default)]
    pub log_level: String,
}

/// `GET /vms/{vms}/deployments`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deployments {
    /// The versions on the engines.
    pub deployments: Vec<EngineDeployment>,
    /// Engines that could not be asked.
    #[serde(default)]
    pub failed: Vec<EngineOutcome>,
}

/// `POST …/activate`, `DELETE /vms/{vms}/deployments/{version}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PoolAnswer {
    /// Every engine did it.
    pub ok: bool,
    /// Each engine's outcome.
    pub engines: Vec<EngineOutcome>,
}

/// `GET /vms/{vms}/deploy`.
pub async fn deploy_target(vms: &str) -> ApiResult<DeployTarget> {
    get(&format!("{}/deploy", vms_path(vms))).await
}

/// `PUT /vms/{vms}/deploy`.
pub async fn set_deploy_target(
    vms: &str,
    engines: &[String],
    env: &std::collections::BTreeMap<String, String>,
) -> ApiResult<DeployTarget> {
    request(
        "PUT",
        &format!("{}/deploy", vms_path(vms)),
        Some(&json!({ "engines": engines, "env": env })),
    )
    .await
}

/// `POST /vms/{vms}/deploy`.
pub async fn deploy(
    vms: &str,
    version: Option<&str>,
    env: &std::collections::BTreeMap<String, String>,
) -> ApiResult<DeployAnswer> {
    let mut body = json!({ "env": env });
    if let Some(version) = version {
        body["version"] = json!(version);
    }
    post(&format!("{}/deploy", vms_path(vms)), &body).await
}

/// `GET /vms/{vms}/deployments`.
pub async fn deployments(vms: &str) -> ApiResult<Deployments> {
    get(&format!("{}/deployments", vms_path(vms))).await
}

/// `POST /vms/{vms}/deployments/{version}/activate`.
pub async fn activate(vms: &str, version: &str) -> ApiResult<PoolAnswer> {
    post(
        &format!("{}/deployments/{}/activate", vms_path(vms), encode(version)),
        &json!({}),
    )
    .await
}

/// `DELETE /vms/{vms}/deployments/{version}`.
pub async fn undeploy(vms: &str, version: &str) -> ApiResult<PoolAnswer> {
    request(
        "DELETE",
        &format!("{}/deployments/{}", vms_path(vms), encode(version)),
        None,
    )
    .await
}

/// `PUT /vms/{vms}/deployments/{version}/log-level`.
pub async fn set_log_level(vms: &str, version: &str, level: &str) -> ApiResult<PoolAnswer> {
    request(
        "PUT",
        &format!(
            "{}/deployments/{}/log-level",
            vms_path(vms),
            encode(version)
        ),
        Some(&json!({ "level": level })),
    )
    .await
}

/// `POST /vms/{vms}/logs`: the recent log lines on the target's engines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EngineLogs {
    /// The lines, oldest first: the engine's JSON objects (`seq`, `timestamp`, `level`,
    /// `message`, `version`, `function`…) with their `engine`.
    #[serde(default)]
    pub lines: Vec<Value>,
    /// Where to read on from, per engine (pass back as they are).
    #[serde(default)]
    pub cursors: Value,
    /// Lines an engine dropped before they were read.
    #[serde(default)]
    pub missed: std::collections::BTreeMap<String, u64>,
    /// Engines that could not be asked.
    #[serde(default)]
    pub failed: Vec<EngineOutcome>,
}

/// `POST /vms/{vms}/logs`. `cursors` from the previous answer to read only what came since.
pub async fn read_logs(vms: &str, filters: &LogFilters, cursors: &Value) -> ApiResult<EngineLogs> {
    // No cursors yet (`null`): the newest lines.
    let mut body = json!({});
    if cursors.is_object() {
        body["cursors"] = cursors.clone();
    }
    for (key, value) in [
        ("level", &filters.level),
        ("text", &filters.text),
        ("version", &filters.version),
        ("trace", &filters.trace),
        ("since", &filters.since),
    ] {
        let value = value.trim();
        if !value.is_empty() {
            body[key] = json!(value);
        }
    }
    post(&format!("{}/logs", vms_path(vms)), &body).await
}

/// What the Logs panel asks for (empty: no filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilters {
    /// `error`, `warn`, `info` or `debug`: that level and worse.
    pub level: String,
    /// Text the line contains, ignoring case.
    pub text: String,
    /// One version's lines.
    pub version: String,
    /// One trace id's lines.
    pub trace: String,
    /// A span back from now (`15m`, `1h`).
    pub since: String,
}

/// `PUT /engine-tokens`.
pub async fn store_engine_token(engine: &str, token: &str) -> ApiResult<Value> {
    request(
        "PUT",
        "/engine-tokens",
        Some(&json!({ "engine": engine, "token": token })),
    )
    .await
}
