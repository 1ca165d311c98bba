//! The HTTP connector: one pooled reqwest client per connector.
//!
//! A call renders the method's templates (see `template`): `base_url` + `path` (with `{name}`
//! path segments), `query` (a value rendering empty is left out), connector then method
//! `headers`, and the JSON `body`. Authentication comes from env vars: bearer token, basic,
//! API key (header or query) or OAuth 2 client credentials (token cached until it expires).
//!
//! Idempotent verbs (GET, HEAD, PUT, DELETE, OPTIONS) are retried per the connector's `retry`
//! policy after transport errors, timeouts, 429 and 5xx answers, waiting `initial_ms` ×
//! `multiplier`ⁿ (capped at `max_ms`, then between half of it and all of it, at random)
//! between attempts, or what the answer's `Retry-After` asks for. A wait that would not
//! leave the next attempt its time within the call's timeout is not waited: the answer (or
//! error) at hand is the call's. POST and PATCH are never retried.
//!
//! Redirects are followed within the request's origin only (see [`same_origin_redirects`]):
//! a redirect to another host is answered as the 3xx it is, so credentials never follow it.
//!
//! The response is `{status, headers, body}` — header names lower-case, the body parsed as JSON
//! when it is JSON, else text, `null` when empty. The method's `response` expression maps it
//! to the output; without one the output is the body. A non-2xx status raises the code that
//! `error_statuses` gives it (`"404"`, or a class such as `"5xx"`), else `HTTP_<status>`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{
    HttpAuth, HttpConnector, HttpMethod, HttpTls, HttpVerb, RetryPolicy,
};

use super::template::{JsonTemplate, Template, encode_path_segment};
use super::{ConnectionCheck, Context, error_chain, technical};
use crate::connectors::ConnectorError;
use crate::script::rhai::{RhaiAst, VariableUse};

/// An HTTP connector, ready to call.
#[derive(Debug)]
pub(crate) struct HttpClient {
    name: String,
    base_url: Option<Template>,
    headers: Vec<(String, Template)>,
    auth: Option<HttpAuth>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    methods: IndexMap<String, Result<MethodPlan, String>>,
    /// Built on the first call, or at load when the connector has `tls` settings.
    client: OnceLock<reqwest::Client>,
    /// Why the client cannot be built (bad `tls` settings): every call fails with it.
    client_error: Option<String>,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    token_url: Option<Template>,
    context: Arc<Context>,
    /// The last base URL rendered and its parse: a base URL comes from the env and rarely
    /// changes, so a call sets only the path and query of a copy instead of parsing (and
    /// IDNA-mapping the host of) the whole URL again.
    parsed_base: Mutex<Option<(String, reqwest::Url)>>,
}

#[derive(Debug)]
struct MethodPlan {
    verb: HttpVerb,
    path_text: String,
    path: Template,
    query: Vec<(String, Template)>,
    headers: Vec<(String, Template)>,
    body: Option<JsonTemplate>,
    response: Option<RhaiAst>,
    error_statuses: IndexMap<String, String>,
    timeout: Option<Duration>,
    /// The env vars the method's templates read (the connector's base URL and headers
    /// included), sorted; `None` when one reads `env` as a whole. A call gives its
    /// templates only these, rather than a copy of every env var of the deployment.
    env_keys: Option<Vec<String>>,
}

/// A client builder with the connector's pool settings and its redirect policy.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .redirect(same_origin_redirects())
}

/// Follows up to 10 redirects within the origin (scheme, host and port) of the request, and
/// none to another: a connector's credentials travel in headers an HTTP client does not know
/// to drop on the way to another host (an API key's header, say). The redirect is then the
/// call's answer, a 3xx status.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else if first.is_some_and(|origin| origin == attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The most a PEM file named by a `tls` env var may hold.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// [`builder`] with the CA certificates and client certificate of `tls`, read from the
/// deployment's env. Errors name the setting and the env var, never what it holds.
fn tls_builder(context: &Context, tls: &HttpTls) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = builder();
    if let Some(var) = &tls.ca_env {
        let pem = pem_of(context, "ca_env", var)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("tls.ca_env: env var {var}: not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "tls.ca_env: env var {var}: no certificate in it (`-----BEGIN CERTIFICATE-----`)"
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    match (&tls.client_cert_env, &tls.client_key_env) {
        (Some(cert_var), Some(key_var)) => {
            let mut pem = pem_of(context, "client_cert_env", cert_var)?;
            pem.push(b'\n');
            pem.extend(pem_of(context, "client_key_env", key_var)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                format!(
                    "tls: env vars {cert_var} and {key_var} are not a PEM certificate and private key: {e}"
                )
            })?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => {
            return Err(
                "tls: a client certificate needs both client_cert_env and client_key_env".into(),
            );
        }
    }
    Ok(builder)
}

/// The PEM text the env var `var` of `tls.<field>` holds: the value itself when it is PEM
/// (one-line values with `\n` escapes are unescaped), else the contents of the file it names.
fn pem_of(context: &Context, field: &str, var: &str) -> Result<Vec<u8>, String> {
    let value = context
        .env
        .get(var)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("tls.{field}: env var {var} is not set"))?
        .trim();
    if value.starts_with("-----BEGIN") {
        if !value.contains('\n') && value.contains("\\n") {
            return Ok(value.replace("\\n", "\n").into_bytes());
        }
        return Ok(value.as_bytes().to_vec());
    }
    // Not PEM text, so a path: the errors say nothing of the value, which may be a secret
    // in the wrong format rather than a path.
    let unreadable = |e: std::io::Error| {
        format!(
            "tls.{field}: env var {var} holds neither PEM text (`-----BEGIN …`) nor the path of a readable file: {e}"
        )
    };
    let metadata = std::fs::metadata(value).map_err(unreadable)?;
    if !metadata.is_file() || metadata.len() > MAX_PEM_BYTES {
        return Err(format!(
            "tls.{field}: env var {var} names something other than a PEM file of at most 1 MiB"
        ));
    }
    std::fs::read(value).map_err(unreadable)
}

/// The env vars `asts` read: see [`MethodPlan::env_keys`].
fn env_keys<'a>(asts: impl IntoIterator<Item = &'a RhaiAst>) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    for ast in asts {
        match ast.use_of("env") {
            VariableUse::None => {}
            VariableUse::Properties(properties) => keys.extend(properties.iter().cloned()),
            VariableUse::Whole => return None,
        }
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

/// The request URL as text: `base` without trailing slashes, `path` (after a `/` it lacks),
/// then `query` after `?`, or `&` when the text has a query already.
fn url_text(base: &str, path: &str, query: &str) -> String {
    let mut url = base.trim_end_matches('/').to_owned();
    if !path.is_empty() && !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path);
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    url
}

/// [`url_text`] as a parsed URL, from the
/// cached parse of `base`; `None` when that shortcut does not apply (a base with a query or
/// fragment, a path with `?` or `#`, a base that does not parse) and the caller passes the
/// text instead.
fn url_from_base(
    cache: &Mutex<Option<(String, reqwest::Url)>>,
    base: &str,
    path: &str,
    query: &str,
) -> Option<reqwest::Url> {
    if path.contains(['?', '#']) {
        return None;
    }
    let mut cached = cache.lock().ok()?;
    if cached.as_ref().is_none_or(|(text, _)| text != base) {
        *cached = Some((base.to_owned(), reqwest::Url::parse(base).ok()?));
    }
    let (_, base_url) = cached.as_ref()?;
    if base_url.query().is_some() || base_url.fragment().is_some() || base_url.cannot_be_a_base() {
        return None;
    }
    let mut url = base_url.clone();
    drop(cached);
    let base_path = url.path().trim_end_matches('/');
    let mut full = String::with_capacity(base_path.len() + 1 + path.len());
    full.push_str(base_path);
    if !path.is_empty() && !path.starts_with('/') {
        full.push('/');
    }
    full.push_str(path);
    url.set_path(&full);
    if !query.is_empty() {
        url.set_query(Some(query));
    }
    Some(url)
}

fn compile_pairs(
    context: &Context,
    pairs: &IndexMap<String, String>,
    what: &str,
) -> Result<Vec<(String, Template)>, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            Template::compile(&context.rhai, v, false)
                .map(|t| (k.clone(), t))
                .map_err(|e| format!("{what} `{k}`: {e}"))
        })
        .collect()
}

fn compile_method(context: &Context, method: &HttpMethod) -> Result<MethodPlan, String> {
    Ok(MethodPlan {
        verb: method.method,
        path_text: method.path.clone(),
        path: Template::compile(&context.rhai, &method.path, true)
            .map_err(|e| format!("path: {e}"))?,
        query: compile_pairs(context, &method.query, "query parameter")?,
        headers: compile_pairs(context, &method.headers, "header")?,
        body: method
            .body
            .as_ref()
            .map(|b| JsonTemplate::compile(&context.rhai, b))
            .transpose()
            .map_err(|e| format!("body: {e}"))?,
        response: method
            .response
            .as_deref()
            .map(|r| context.rhai.compile_expression(r))
            .transpose()
            .map_err(|e| format!("response: {e}"))?,
        error_statuses: method.error_statuses.clone(),
        timeout: method.timeout_ms.map(Duration::from_millis),
        // Filled in by the connector, which adds its own templates.
        env_keys: None,
    })
}

impl HttpClient {
    pub(crate) fn new(
        name: &str,
        config: &HttpConnector,
        context: Arc<Context>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut error = |element: Option<&str>, message: String| {
            let mut d = Diagnostic::error("connector.template", message);
            d.element = element.map(|m| format!("{name}.{m}"));
            diagnostics.push(d);
        };
        let base_url = match Template::compile(&context.rhai, &config.base_url, false) {
            Ok(t) => Some(t),
            Err(e) => {
                error(None, format!("base_url: {e}"));
                None
            }
        };
        let headers = compile_pairs(&context, &config.headers, "header").unwrap_or_else(|e| {
            error(None, e);
            Vec::new()
        });
        let token_url = match &config.auth {
            Some(HttpAuth::OAuth2ClientCredentials { token_url, .. }) => {
                match Template::compile(&context.rhai, token_url, false) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        error(None, format!("token_url: {e}"));
                        None
                    }
                }
            }
            _ => None,
        };
        let mut methods = IndexMap::new();
        for method in &config.methods {
            let mut plan = compile_method(&context, method);
            if let Ok(plan) = &mut plan {
                let connector_asts = base_url
                    .iter()
                    .flat_map(Template::asts)
                    .chain(headers.iter().flat_map(|(_, t)| t.asts()));
                let method_asts = plan
                    .path
                    .asts()
                    .chain(plan.query.iter().flat_map(|(_, t)| t.asts()))
                    .chain(plan.headers.iter().flat_map(|(_, t)| t.asts()))
                    .chain(plan.body.iter().flat_map(JsonTemplate::asts))
                    .chain(plan.response.iter());
                plan.env_keys = env_keys(connector_asts.chain(method_asts));
            }
            if let Err(e) = &plan {
                error(Some(&method.name), e.clone());
            }
            methods.insert(method.name.clone(), plan);
        }
        let client = OnceLock::new();
        let mut client_error = None;
        if let Some(tls) = &config.tls {
            match tls_builder(&context, tls).and_then(|b| b.build().map_err(|e| e.to_string())) {
                Ok(built) => {
                    let _ = client.set(built);
                }
                Err(e) => {
                    let e = format!("http connector `{name}`: {e}");
                    let mut d = Diagnostic::error("connector.tls", e.clone());
                    d.element = Some(format!("{name}.tls"));
                    diagnostics.push(d);
                    client_error = Some(e);
                }
            }
        }
        HttpClient {
            name: name.to_owned(),
            base_url,
            headers,
            auth: config.auth.clone(),
            timeout: config.timeout_ms.map(Duration::from_millis),
            retry: config.retry.clone(),
            methods,
            client,
            client_error,
            token: tokio::sync::Mutex::new(None),
            token_url,
            context,
            parsed_base: Mutex::new(None),
        }
    }

    pub(crate) fn method_names(&self) -> Vec<String> {
        self.methods.keys().cloned().collect()
    }

    /// The whole call's timeout: all attempts and waits. Each attempt has the method's (or
    /// connector's) timeout; the call may take `max_attempts` of them plus the backoff.
    pub(crate) fn timeout(&self, method: &str) -> Duration {
        let per_attempt = self
            .methods
            .get(method)
            .and_then(|m| m.as_ref().ok())
            .and_then(|m| m.timeout)
            .or(self.timeout)
            .unwrap_or(self.context.default_timeout);
        let attempts = self.retry.as_ref().map_or(1, |r| r.max_attempts.max(1));
        let backoff: u64 = (1..attempts)
            .map(|n| self.backoff(n).as_millis() as u64)
            .sum();
        per_attempt * attempts + Duration::from_millis(backoff)
    }

    fn backoff(&self, retry: u32) -> Duration {
        let Some(backoff) = self.retry.as_ref().and_then(|r| r.backoff.as_ref()) else {
            return Duration::from_millis(100 * u64::from(retry));
        };
        let factor = backoff.multiplier.unwrap_or(2.0).max(1.0);
        let mut wait = backoff.initial_ms as f64 * factor.powi(retry.saturating_sub(1) as i32);
        if let Some(max) = backoff.max_ms {
            wait = wait.min(max as f64);
        }
        Duration::from_millis(wait.min(3_600_000.0) as u64)
    }

    fn client(&self) -> Result<&reqwest::Client, ConnectorError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        if let Some(e) = &self.client_error {
            return Err(technical(e.clone()));
        }
        let client = builder().build().map_err(|e| {
            technical(format!(
                "http connector `{}`: cannot build a client: {e}",
                self.name
            ))
        })?;
        Ok(self.client.get_or_init(|| client))
    }

    fn env(&self, var: &str) -> Result<String, ConnectorError> {
        self.context
            .env
            .get(var)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                technical(format!(
                    "http connector `{}`: env var {var} is not set",
                    self.name
                ))
            })
    }

    fn render_error(&self, method: &str, what: &str, err: String) -> ConnectorError {
        technical(
            self.context
                .secrets
                .redact(&format!("{}.{method}: {what}: {err}", self.name)),
        )
    }

    pub(crate) async fn call(&self, method: &str, args: Value) -> Result<Value, ConnectorError> {
        let plan = match self.methods.get(method) {
            Some(Ok(plan)) => plan,
            Some(Err(e)) => {
                return Err(technical(format!("{}.{method} cannot run: {e}", self.name)));
            }
            None => {
                return Err(technical(format!(
                    "http connector `{}` has no method `{method}`",
                    self.name
                )));
            }
        };
        let Some(base_url) = &self.base_url else {
            return Err(technical(format!(
                "{}.{method} cannot run: its base_url is invalid",
                self.name
            )));
        };
        let rhai = &self.context.rhai;
        let vars = self.context.vars_reading(args, plan.env_keys.as_deref());
        let control = self.context.control(self.timeout(method));
        let base = base_url
            .render(rhai, &vars, &control)
            .map_err(|e| self.render_error(method, "base_url", e))?;
        if base.is_empty() {
            return Err(technical(format!(
                "{}.{method}: the base URL renders empty (is its env var set?)",
                self.name
            )));
        }
        let path = plan
            .path
            .render(rhai, &vars, &control)
            .map_err(|e| self.render_error(method, "path", e))?;
        let mut query = Vec::new();
        for (key, template) in &plan.query {
            let value = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.render_error(method, "query", e))?;
            if !value.is_empty() {
                query.push((key.clone(), value));
            }
        }
        let mut headers = Vec::new();
        for (key, template) in self.headers.iter().chain(&plan.headers) {
            let value = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.render_error(method, "header", e))?;
            headers.push((key.clone(), value));
        }
        self.authenticate(method, &mut headers, &mut query).await?;
        let encoded_query = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_path_segment(k), encode_path_segment(v)))
            .collect::<Vec<_>>()
            .join("&");
        // The URL as text only when the cached base cannot give it parsed.
        let target = match url_from_base(&self.parsed_base, &base, &path, &encoded_query) {
            Some(parsed) => Ok(parsed),
            None => Err(url_text(&base, &path, &encoded_query)),
        };
        let body = match &plan.body {
            Some(template) => Some(
                template
                    .render(rhai, &vars, &control)
                    .map_err(|e| self.render_error(method, "body", e))?,
            ),
            None => None,
        };

        let per_attempt = plan
            .timeout
            .or(self.timeout)
            .unwrap_or(self.context.default_timeout);
        let attempts = match &self.retry {
            Some(policy) if plan.verb.is_idempotent() => policy.max_attempts.max(1),
            _ => 1,
        };
        let verb = match plan.verb {
            HttpVerb::Get => reqwest::Method::GET,
            HttpVerb::Post => reqwest::Method::POST,
            HttpVerb::Put => reqwest::Method::PUT,
            HttpVerb::Patch => reqwest::Method::PATCH,
            HttpVerb::Delete => reqwest::Method::DELETE,
            HttpVerb::Head => reqwest::Method::HEAD,
            HttpVerb::Options => reqwest::Method::OPTIONS,
        };
        let client = self.client()?;
        let label = || format!("{}.{method} ({} {})", self.name, verb, plan.path_text);
        let (started, budget) = (Instant::now(), self.timeout(method));
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let request = match &target {
                Ok(parsed) => client.request(verb.clone(), parsed.clone()),
                Err(text) => client.request(verb.clone(), text),
            };
            let mut request = request.timeout(per_attempt);
            for (key, value) in &headers {
                request = request.header(key.as_str(), value.as_str());
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let (retryable, asked) = match &outcome {
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                    (
                        retryable,
                        retryable.then(|| retry_after(response.headers())).flatten(),
                    )
                }
                Err(err) => (
                    err.is_timeout() || err.is_connect() || err.is_request(),
                    None,
                ),
            };
            if retryable && attempt < attempts {
                // The server's own `Retry-After` when it gives one, else the backoff with
                // jitter (so that callers failing together do not come back together). A
                // wait that would leave no time for the next attempt within the call's
                // timeout is not waited: the answer at hand is the call's.
                let wait = asked.unwrap_or_else(|| jittered(self.backoff(attempt)));
                if started
                    .elapsed()
                    .saturating_add(wait)
                    .saturating_add(per_attempt)
                    <= budget
                {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            match outcome {
                Ok(response) => break response,
                Err(err) => {
                    let code = if err.is_timeout() {
                        Some("TIMEOUT".to_owned())
                    } else {
                        None
                    };
                    let detail = error_chain(&err.without_url());
                    return Err(ConnectorError {
                        code,
                        message: self.context.secrets.redact(&format!(
                            "{} failed after {attempt} attempt(s): {detail}",
                            label()
                        )),
                    });
                }
            }
        };

        let status = response.status().as_u16();
        // The headers are only visible to a `response` expression: without one, they are not
        // copied out of the response.
        let header_map = if plan.response.is_some() {
            header_map(response.headers())
        } else {
            Map::new()
        };
        // A failed call's body is not read: nothing uses it.
        if !(200..300).contains(&status) {
            let code = error_code(&plan.error_statuses, status);
            return Err(ConnectorError {
                code: Some(code),
                message: format!("{} answered HTTP {status}", label()),
            });
        }
        let bytes = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|err| match err {
                Some(err) => technical(self.context.secrets.redact(&format!(
                    "{}: reading the body failed: {}",
                    label(),
                    err.without_url()
                ))),
                None => technical(format!(
                    "{}: the answer is larger than {} MiB",
                    label(),
                    MAX_RESPONSE_BYTES >> 20
                )),
            })?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        match &plan.response {
            Some(ast) => {
                let response = json!({ "status": status, "headers": header_map, "body": body });
                let mut vars = vars;
                vars.insert("response".into(), response);
                rhai.eval_expression(ast, &vars, &control)
                    .map_err(|e| self.render_error(method, "response", e.to_string()))
            }
            None => Ok(body),
        }
    }

    /// Adds the connector's authentication to a request's headers (or query, for an API
    /// key sent there); `method` names the call in errors. OAuth 2 fetches (or reuses) the
    /// token.
    async fn authenticate(
        &self,
        method: &str,
        headers: &mut Vec<(String, String)>,
        query: &mut Vec<(String, String)>,
    ) -> Result<(), ConnectorError> {
        match &self.auth {
            None => {}
            Some(HttpAuth::Bearer { token_env }) => {
                headers.push((
                    "Authorization".into(),
                    format!("Bearer {}", self.env(token_env)?),
                ));
            }
            Some(HttpAuth::Basic {
                username_env,
                password_env,
            }) => {
                use base64::Engine as _;
                let pair = format!("{}:{}", self.env(username_env)?, self.env(password_env)?);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                headers.push(("Authorization".into(), format!("Basic {encoded}")));
            }
            Some(HttpAuth::ApiKey {
                name,
                value_env,
                in_query,
            }) => {
                let value = self.env(value_env)?;
                if *in_query {
                    query.push((name.clone(), value));
                } else {
                    headers.push((name.clone(), value));
                }
            }
            Some(HttpAuth::OAuth2ClientCredentials {
                client_id_env,
                client_secret_env,
                scopes,
                ..
            }) => {
                let token = self
                    .oauth_token(method, client_id_env, client_secret_env, scopes)
                    .await?;
                headers.push(("Authorization".into(), format!("Bearer {token}")));
            }
        }
        Ok(())
    }

    /// The timeout of one request with the connector's settings (no method's).
    pub(crate) fn connector_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.context.default_timeout)
    }

    /// The connection test: `HEAD` on the base URL with the connector's headers and
    /// authentication. Any HTTP answer means the server was reached (a base URL often
    /// answers 404 or 405 to `HEAD`); 401 and 403, and 5xx, come with a note.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        const LABEL: &str = "connection test";
        let Some(base_url) = &self.base_url else {
            return Err(technical(format!(
                "http connector `{}`: its base_url is invalid",
                self.name
            )));
        };
        let rhai = &self.context.rhai;
        let vars = self.context.vars(&Value::Null);
        let control = self.context.control(self.connector_timeout());
        let base = base_url
            .render(rhai, &vars, &control)
            .map_err(|e| self.render_error(LABEL, "base_url", e))?;
        if base.is_empty() {
            return Err(technical(format!(
                "http connector `{}`: the base URL renders empty (is its env var set?)",
                self.name
            )));
        }
        let mut headers = Vec::new();
        for (key, template) in &self.headers {
            let value = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.render_error(LABEL, "header", e))?;
            headers.push((key.clone(), value));
        }
        let mut query = Vec::new();
        self.authenticate(LABEL, &mut headers, &mut query).await?;
        let mut url = reqwest::Url::parse(&base).map_err(|e| {
            technical(format!(
                "http connector `{}`: the base URL is not a URL: {e}",
                self.name
            ))
        })?;
        // Only the origin is shown: the path and query of a base URL may hold a secret (a
        // webhook's token), and the whole URL, an env value, would be redacted anyway.
        let mut shown = url.origin().ascii_serialization();
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            shown.push_str("/…");
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let mut request = self.client()?.head(url).timeout(self.connector_timeout());
        for (key, value) in &headers {
            request = request.header(key.as_str(), value.as_str());
        }
        let response = request.send().await.map_err(|e| {
            technical(format!(
                "http connector `{}`: HEAD {shown}: {}",
                self.name,
                self.context.secrets.redact(&error_chain(&e.without_url()))
            ))
        })?;
        let status = response.status();
        let mut check = ConnectionCheck::new(format!("HEAD {shown} answered HTTP {status}"));
        if matches!(self.auth, Some(HttpAuth::OAuth2ClientCredentials { .. })) {
            check = check.note("the OAuth 2 token endpoint gave a token");
        }
        if matches!(status.as_u16(), 401 | 403) {
            check = check.note(if self.auth.is_some() {
                "the base URL refused the credentials; a method's own path may still accept them"
            } else {
                "the base URL asks for credentials: set the connector's authentication"
            });
        } else if status.is_server_error() {
            check = check.note("the server reported an error of its own at the base URL");
        }
        Ok(check)
    }

    async fn oauth_token(
        &self,
        method: &str,
        client_id_env: &str,
        client_secret_env: &str,
        scopes: &[String],
    ) -> Result<String, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let Some(token_url) = &self.token_url else {
            return Err(technical(format!(
                "{}: its token_url is invalid",
                self.name
            )));
        };
        let vars = self.context.vars(&Value::Null);
        let control = self.context.control(self.context.default_timeout);
        let url = token_url
            .render(&self.context.rhai, &vars, &control)
            .map_err(|e| self.render_error(method, "token_url", e))?;
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.env(client_id_env)?),
            ("client_secret", self.env(client_secret_env)?),
        ];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_path_segment(v)))
            .collect();
        let response = self
            .client()?
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
            .timeout(self.timeout.unwrap_or(self.context.default_timeout))
            .send()
            .await
            .map_err(|e| {
                technical(self.context.secrets.redact(&format!(
                    "{}: token request failed: {}",
                    self.name,
                    error_chain(&e.without_url())
                )))
            })?;
        let status = response.status();
        let answer: Value = read_body(response, MAX_TOKEN_ANSWER_BYTES)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        let Some(token) = answer.get("access_token").and_then(Value::as_str) else {
            return Err(technical(format!(
                "{}: the token endpoint answered HTTP {} without an access_token",
                self.name,
                status.as_u16()
            )));
        };
        // At most a day: a token is renewed at least that often, and the deadline stays
        // clear of overflow whatever the endpoint answers.
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300)
            .min(24 * 60 * 60);
        // Renew a little early so a token never expires in flight.
        let expires = Instant::now() + Duration::from_secs(lifetime.saturating_sub(30).max(1));
        *cached = Some((token.to_owned(), expires));
        Ok(token.to_owned())
    }
}

/// The largest answer body an HTTP connector reads, in bytes; a larger one fails the call
/// rather than the engine's memory.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// The largest answer of a token endpoint read.
const MAX_TOKEN_ANSWER_BYTES: usize = 1 << 20;

/// The body of `response`, or `Err(None)` once it is (or says it is) over `limit` bytes.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Option<reqwest::Error>> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(None);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if bytes.len() + chunk.len() > limit {
            return Err(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Response headers as a JSON object: names lower-case, repeated headers joined by `, `.
fn header_map(headers: &reqwest::header::HeaderMap) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(key.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            _ => {
                map.insert(key.as_str().to_owned(), Value::String(text));
            }
        }
    }
    map
}

/// The error code for a non-2xx status: an exact entry, then a class entry (`5xx`), then
/// `HTTP_<status>`.
fn error_code(statuses: &IndexMap<String, String>, status: u16) -> String {
    let exact = status.to_string();
    let class = format!("{}xx", status / 100);
    statuses
        .iter()
        .find(|(k, _)| k.trim() == exact)
        .or_else(|| {
            statuses
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(&class))
        })
        .map(|(_, code)| code.clone())
        .unwrap_or_else(|| format!("HTTP_{status}"))
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date (a date in the past
/// asks for none). `None` without a header or with one that is neither.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    // Capped at a day: no call waits that long, and the arithmetic on it cannot overflow.
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds.min(MAX_RETRY_AFTER_SECONDS)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(MAX_RETRY_AFTER_SECONDS)),
    )
}

/// The longest `Retry-After` taken as given, in seconds.
const MAX_RETRY_AFTER_SECONDS: u64 = 24 * 60 * 60;

/// `wait` with "equal jitter": a random time between half of it and all of it.
fn jittered(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` is seeded differently: a random number without a generator.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(wait.subsec_nanos());
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    wait.mul_f64(0.5 + 0.5 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let with = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                reqwest::header::RETRY_AFTER,
                value.parse().expect("header value"),
            );
            retry_after(&headers)
        };
        assert_eq!(with("2"), Some(Duration::from_secs(2)));
        assert_eq!(with(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = std::time::SystemTime::now() + Duration::from_secs(600);
        let wait = with(&httpdate::fmt_http_date(later)).expect("a date");
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
        assert_eq!(with("soon"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(
            with("18446744073709551615"),
            Some(Duration::from_secs(24 * 60 * 60))
        );
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_wait() {
        let wait = Duration::from_millis(1000);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(wait)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_millis(500) && *w <= wait)
        );
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "{} distinct waits", distinct.len());
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn error_codes_by_exact_status_then_class() {
        let mut statuses = IndexMap::new();
        statuses.insert("404".to_owned(), "NOT_FOUND".to_owned());
        statuses.insert("5XX".to_owned(), "UPSTREAM".to_owned());
        assert_eq!(error_code(&statuses, 404), "NOT_FOUND");
        assert_eq!(error_code(&statuses, 503), "UPSTREAM");
        assert_eq!(error_code(&statuses, 409), "HTTP_409");
    }

    #[test]
    fn templates_get_only_the_env_vars_they_read() {
        let rhai = crate::script::rhai::RhaiEngine::new(Default::default(), Default::default());
        let template = |text: &str| Template::compile(&rhai, text, true).unwrap();
        let base = template("{{ env.API_URL }}/v1");
        let header = template("Bearer {{ env.TOKEN }}");
        let path = template("/users/{id}/{{ env.TENANT }}");
        let plain = template("/users/{id}");
        let keys = env_keys(base.asts().chain(header.asts()).chain(path.asts()));
        assert_eq!(
            keys.as_deref(),
            Some(
                &[
                    "API_URL".to_owned(),
                    "TENANT".to_owned(),
                    "TOKEN".to_owned()
                ][..]
            )
        );
        assert_eq!(env_keys(plain.asts()), Some(Vec::new()));
        // A template that reads `env` as a whole, or looks a name up in it, gets all of it.
        for whole in [
            "{{ env }}",
            "{{ env[input.name] }}",
            "{{ env.keys().len() }}",
        ] {
            let t = Template::compile(&rhai, whole, false).unwrap();
            assert_eq!(env_keys(base.asts().chain(t.asts())), None, "{whole}");
        }
        let body = JsonTemplate::compile(
            &rhai,
            &json!({ "a": ["{{ env.BODY }}", 1], "b": "{{ input.x }}" }),
        )
        .unwrap();
        assert_eq!(env_keys(body.asts()), Some(vec!["BODY".to_owned()]));

        let context = Context {
            rhai: rhai.clone(),
            env: json!({ "API_URL": "http://a", "TOKEN": "t", "OTHER": "o" }),
            secrets: Arc::default(),
            default_timeout: Duration::from_secs(1),
        };
        let input = json!({ "id": 7 });
        let vars = context.vars_reading(
            input.clone(),
            Some(&["TOKEN".to_owned(), "MISSING".to_owned()]),
        );
        assert_eq!(
            Value::Object(vars),
            json!({ "input": input, "env": { "TOKEN": "t" } })
        );
        let vars = context.vars_reading(input.clone(), Some(&[]));
        assert_eq!(Value::Object(vars), json!({ "input": input }));
        let vars = context.vars_reading(input.clone(), None);
        assert_eq!(vars["env"], context.env);
    }

    /// The URL built from the cached base is the URL the whole text parses to, whenever the
    /// shortcut applies; where it does not, the text is used.
    #[test]
    fn a_url_from_the_cached_base_equals_the_parsed_text() {
        let cache = Mutex::new(None);
        let bases = [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "https://api.example.com/v1/",
            "https://API.Example.com:443/a/../b",
            "http://user:pw@host/base%20dir",
            "http://host/search?key=1",
            "http://host/#top",
            "mailto:someone@example.com",
            "not a url",
        ];
        let paths = [
            "",
            "/",
            "/orders/a%20b",
            "items/7",
            "/x/./y/../z",
            "/q?x=1",
            "/é",
            "/a#b",
        ];
        let queries = ["", "limit=5&sort=-placedAt", "q=a%26b"];
        let mut shortcuts = 0;
        for base in bases {
            for path in paths {
                for query in queries {
                    let text = url_text(base, path, query);
                    match url_from_base(&cache, base, path, query) {
                        Some(url) => {
                            shortcuts += 1;
                            let parsed = reqwest::Url::parse(&text).expect("the text parses");
                            assert_eq!(url, parsed, "{base} + {path} + {query}");
                        }
                        None => assert!(
                            path.contains(['?', '#'])
                                || base.contains(['?', '#'])
                                || reqwest::Url::parse(base).map_or(true, |u| u.cannot_be_a_base()),
                            "{base} + {path} + {query}: no shortcut"
                        ),
                    }
                }
            }
        }
        assert_eq!(shortcuts, 5 * 6 * 3);
    }
}
