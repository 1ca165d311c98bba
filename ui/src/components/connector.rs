//! A connector tab: settings and methods. Every kind has a form (HTTP method editor with
//! OpenAPI import; SQL in Monaco; cache operations; publish methods; gRPC methods imported
//! from the descriptor set; a table of config values), and every method a "Try it" that runs
//! it for real; every connector can be edited as raw YAML and tested ("Test connection": one
//! harmless command against the real system). Both use the VMS's env values on this machine
//! (declared defaults, then `.env.local`). Forms write the file back with `starweave-model`'s
//! canonical writer.

use indexmap::IndexMap;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use starweave_model::vms::Connector;
use starweave_model::vms::connector::{
    CacheConnector, CacheMethod, CacheOp, ConfigConnector, ConfigValue, GrpcConnector, GrpcMethod,
    HttpAuth, HttpConnector, HttpMethod, HttpTls, HttpVerb, MqBroker, MqConnector, MqMethod,
    SqlMethod, SqlReturns,
};
use starweave_model::vms::disk::{connector_to_yaml, parse_connector};
use starweave_model::vms::params::Parameter;

use super::editor::CodeEditor;
use super::icons::{Icon, Svg};
use super::params::ParamsEditor;
use super::run::sample_input;
use super::{Modal, pretty, tid, yaml_model};
use crate::api;
use crate::monaco;
use crate::state::AppState;

type ConnectorEdit = Box<dyn FnOnce(&mut Connector) + Send + Sync>;

/// A connector tab.
#[component]
pub fn ConnectorTab(name: String, tab_id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let file = state
        .detail
        .with_untracked(|d| {
            d.as_ref()?
                .connectors
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.file.clone())
        })
        .unwrap_or_else(|| format!("connectors/{name}.yaml"));
    let conn = yaml_model(state, &file, parse_connector);
    let raw = RwSignal::new(false);
    let f = file.clone();
    let update = Callback::new(move |u: ConnectorEdit| {
        if let Some(mut c) = conn.get_untracked() {
            u(&mut c);
            state.edit(&f, connector_to_yaml(&c));
        }
    });
    let kind = Memo::new(move |_| conn.with(|c| c.as_ref().map(|c| c.kind().as_str())));
    let import_open = RwSignal::new(false);
    let has_form = move || {
        matches!(
            kind.get(),
            Some("http" | "database" | "cache" | "mq" | "grpc" | "config")
        )
    };
    let (import_name, import_file) = (name.clone(), file.clone());
    let grpc_import_open = RwSignal::new(false);
    let (grpc_import_name, grpc_import_file) = (name.clone(), file.clone());
    let header_name = name.clone();
    let header_file = file.clone();
    let test_result = RwSignal::new(None::<Result<api::ConnectionTest, String>>);
    let testing = RwSignal::new(false);
    let test_name = name.clone();
    let test_connection = move |_| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let connector = test_name.clone();
        testing.set(true);
        test_result.set(None);
        state.flush_all();
        spawn_local(async move {
            // The server reads the connector from disk: let pending writes land first.
            state.saves_landed().await;
            let r = api::test_connection(&vms, &connector)
                .await
                .map_err(|e| e.to_string());
            test_result.try_set(Some(r));
            testing.try_set(false);
        });
    };
    view! {
        <div class="pane-column connector-tab">
            <div class="pane-header">
                <span class="badge">{move || kind.get().unwrap_or("connector")}</span>
                <strong>{header_name}</strong>
                <span class="muted mono small">{header_file}</span>
                <div class="spacer"></div>
                <Show when=move || kind.get() == Some("http")>
                    <button class="btn btn-small" data-testid=tid("connector-import-openapi") on:click=move |_| import_open.set(true)>
                        <Svg icon=Icon::Import />
                        "Import OpenAPI"
                    </button>
                </Show>
                <Show when=move || kind.get() == Some("grpc")>
                    <button class="btn btn-small" data-testid=tid("connector-import-grpc") on:click=move |_| grpc_import_open.set(true)
                        title="Add methods from the connector's descriptor set">
                        <Svg icon=Icon::Import />
                        "Import methods"
                    </button>
                </Show>
                <button class="btn btn-small" data-testid=tid("connector-test") disabled=move || testing.get() || kind.get().is_none() on:click=test_connection
                    title="Connect with this machine's env values and run one harmless command">
                    <Svg icon=Icon::Connector />
                    {move || if testing.get() { "Testing…" } else { "Test connection" }}
                </button>
                <div class="segmented" role="tablist" aria-label="Editor">
                    <button class="seg" class:active=move || !raw.get() disabled=move || !has_form() on:click=move |_| raw.set(false)>"Form"</button>
                    <button class="seg" class:active=move || raw.get() || !has_form() data-testid=tid("raw-yaml-toggle") on:click=move |_| raw.set(true)>"YAML"</button>
                </div>
            </div>
            {move || test_result.get().map(|r| view! { <ConnectionTestResult result=r dismiss=test_result /> })}
            {move || {
                if raw.get() || (!has_form() && kind.get().is_some()) {
                    return view! { <CodeEditor path=file.clone() tab_id=tab_id.clone() primary=true /> }.into_any();
                }
                match kind.get() {
                    None => view! {
                        <div class="notice pad">
                            "The connector file does not parse; fix it in the YAML view (see the problems panel)."
                        </div>
                    }
                    .into_any(),
                    Some("config") => view! { <ConfigForm conn=conn update=update /> }.into_any(),
                    Some(_) => view! { <ConnectorForm conn=conn update=update tab_id=tab_id.clone() name=name.clone() /> }.into_any(),
                }
            }}
            <Show when=move || import_open.get()>
                <ImportDialog connector=import_name.clone() file=import_file.clone() open=import_open />
            </Show>
            <Show when=move || grpc_import_open.get()>
                <GrpcImportDialog connector=grpc_import_name.clone() file=grpc_import_file.clone() open=grpc_import_open />
            </Show>
        </div>
    }
}

/// The outcome of "Test connection": what was reached and the notes, or why not.
#[component]
fn ConnectionTestResult(
    result: Result<api::ConnectionTest, String>,
    dismiss: RwSignal<Option<Result<api::ConnectionTest, String>>>,
) -> impl IntoView {
    let (ok, headline, notes, ms) = match result {
        Ok(t) if t.ok => (
            true,
            t.summary.unwrap_or_default(),
            t.notes,
            Some(t.duration_ms),
        ),
        Ok(t) => {
            let message = t
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the connection failed")
                .to_owned();
            (false, message, Vec::new(), Some(t.duration_ms))
        }
        Err(e) => (false, e, Vec::new(), None),
    };
    view! {
        <div class="connection-test" class:ok=ok class:failed=!ok role="status" data-testid=tid("connector-test-result")>
            <Svg icon=if ok { Icon::Check } else { Icon::Error } />
            <div class="connection-test-text">
                <div><strong>{if ok { "Connection OK: " } else { "Cannot connect: " }}</strong><span class="mono">{headline}</span></div>
                {notes.into_iter().map(|n| view! { <div class="muted small">{n}</div> }).collect_view()}
            </div>
            <span class="muted small">{ms.map(|ms| format!("{ms:.0} ms"))}</span>
            <button class="btn btn-icon btn-small" aria-label="Dismiss" on:click=move |_| dismiss.set(None)><Svg icon=Icon::Close /></button>
        </div>
    }
}

#[component]
fn ConnectorForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    tab_id: String,
    name: String,
) -> impl IntoView {
    let sel = RwSignal::new(0usize);
    let methods = Memo::new(move |_| {
        conn.with(|c| {
            c.as_ref()
                .map(|c| {
                    c.methods()
                        .iter()
                        .map(|m| m.name.to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    // A memo, so that the settings and the method editor are built again only when the kind
    // changes, not at each keystroke in one of their fields (which would take the focus away).
    let kind = Memo::new(move |_| conn.with(|c| c.as_ref().map(|c| c.kind().as_str())));
    let add_method = move |_| {
        let n = methods.with_untracked(Vec::len);
        let mut i = n + 1;
        while methods.with_untracked(|m| m.contains(&format!("method{i}"))) {
            i += 1;
        }
        let mname = format!("method{i}");
        update.run(Box::new(move |c| match c {
            Connector::Http(h) => h.methods.push(HttpMethod {
                name: mname,
                path: "/".into(),
                ..Default::default()
            }),
            Connector::Database(d) => d.methods.push(SqlMethod {
                name: mname,
                sql: "SELECT 1".into(),
                ..Default::default()
            }),
            Connector::Cache(k) => k.methods.push(CacheMethod {
                name: mname,
                key: "key:{{ input.id }}".into(),
                ..Default::default()
            }),
            Connector::Grpc(g) => g.methods.push(GrpcMethod {
                name: mname,
                method: "package.Service/Method".into(),
                ..Default::default()
            }),
            Connector::Mq(q) => {
                let amqp = q.broker == MqBroker::Amqp;
                q.methods.push(MqMethod {
                    name: mname,
                    subject: (!amqp).then(|| "events.created".into()),
                    exchange: amqp.then(|| "events".into()),
                    routing_key: amqp.then(|| "created".into()),
                    ..Default::default()
                })
            }
            _ => {}
        }));
        sel.set(n);
    };
    view! {
        <div class="connector-body">
            <div class="settings">
                {move || match kind.get() {
                    Some("http") => view! { <HttpSettings conn=conn update=update /> }.into_any(),
                    Some("cache") => view! { <CacheSettings conn=conn update=update /> }.into_any(),
                    Some("mq") => view! { <MqSettings conn=conn update=update /> }.into_any(),
                    Some("grpc") => view! { <GrpcSettings conn=conn update=update /> }.into_any(),
                    _ => view! { <DbSettings conn=conn update=update /> }.into_any(),
                }}
            </div>
            <div class="methods-split">
                <nav class="method-list" aria-label="Methods">
                    <div class="section-title">"Methods" <div class="spacer"></div>
                        <button class="btn btn-icon btn-small" aria-label="Add method" data-testid=tid("add-method") on:click=add_method><Svg icon=Icon::Plus /></button>
                    </div>
                    <ul>
                        {move || methods.get().into_iter().enumerate().map(|(i, m)| view! {
                            <li>
                                <button class="tree-item" class:active=move || sel.get() == i data-testid=format!("method-{m}") on:click=move |_| sel.set(i)>
                                    <span class="label">{m.clone()}</span>
                                </button>
                            </li>
                        }).collect_view()}
                    </ul>
                </nav>
                <div class="method-editor">
                    {move || {
                        let count = methods.with(Vec::len);
                        let i = sel.get();
                        if count == 0 {
                            return view! { <p class="muted pad">"No methods yet."</p> }.into_any();
                        }
                        let i = i.min(count - 1);
                        match kind.get() {
                            Some("http") => view! { <HttpMethodForm conn=conn update=update index=i connector=name.clone() /> }.into_any(),
                            Some("cache") => view! { <CacheMethodForm conn=conn update=update index=i connector=name.clone() /> }.into_any(),
                            Some("mq") => view! { <MqMethodForm conn=conn update=update index=i connector=name.clone() /> }.into_any(),
                            Some("grpc") => view! { <GrpcMethodForm conn=conn update=update index=i connector=name.clone() /> }.into_any(),
                            _ => view! { <SqlMethodForm conn=conn update=update index=i tab_id=tab_id.clone() connector=name.clone() /> }.into_any(),
                        }
                    }}
                </div>
            </div>
        </div>
    }
}

/// A labelled text input bound to a getter and a setter.
fn text_field(
    label: &'static str,
    testid: &'static str,
    get: impl Fn() -> String + Send + Sync + 'static,
    set: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input data-testid=tid(testid) prop:value=get on:input=move |ev| set(event_target_value(&ev)) />
        </label>
    }
}

/// `fn http_of(c: &Option<Connector>) -> Option<&HttpConnector>` and the like: the
/// connector, when it is of that kind.
macro_rules! kind_of {
    ($($name:ident: $variant:ident($ty:ty)),* $(,)?) => {$(
        fn $name(c: &Option<Connector>) -> Option<&$ty> {
            match c {
                Some(Connector::$variant(k)) => Some(k),
                _ => None,
            }
        }
    )*};
}
kind_of!(
    http_of: Http(HttpConnector),
    cache_of: Cache(CacheConnector),
    mq_of: Mq(MqConnector),
    grpc_of: Grpc(GrpcConnector),
    config_of: Config(ConfigConnector),
);

#[component]
fn HttpSettings(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    view! {
        <div class="form-row">
            {text_field("Base URL", "http-base-url", move || conn.with(|c| http_of(c).map(|h| h.base_url.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Http(h) = c { h.base_url = v })))}
            {text_field("Description", "connector-description", move || conn.with(|c| http_of(c).and_then(|h| h.description.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Http(h) = c { h.description = (!v.is_empty()).then_some(v) })))}
        </div>
        <HttpAuthSettings conn=conn update=update />
        <div class="form-row">
            {tls_field("TLS CA env var", "http-tls-ca-env", conn, update, |t| &mut t.ca_env)}
            {tls_field("Client certificate env var", "http-tls-cert-env", conn, update, |t| &mut t.client_cert_env)}
            {tls_field("Client key env var", "http-tls-key-env", conn, update, |t| &mut t.client_key_env)}
        </div>
    }
}

/// The kinds of authentication in the form's menu: the serde tag of [`HttpAuth`] and a label.
const AUTH_KINDS: [(&str, &str); 5] = [
    ("none", "None"),
    ("bearer", "Bearer token"),
    ("basic", "Basic"),
    ("api_key", "API key"),
    ("oauth2_client_credentials", "OAuth 2 client credentials"),
];

/// A new authentication of `kind` (a tag of [`AUTH_KINDS`]) with empty fields.
fn new_auth(kind: &str) -> Option<HttpAuth> {
    Some(match kind {
        "bearer" => HttpAuth::Bearer {
            token_env: String::new(),
        },
        "basic" => HttpAuth::Basic {
            username_env: String::new(),
            password_env: String::new(),
        },
        "api_key" => HttpAuth::ApiKey {
            name: String::new(),
            value_env: String::new(),
            in_query: false,
        },
        "oauth2_client_credentials" => HttpAuth::OAuth2ClientCredentials {
            token_url: String::new(),
            client_id_env: String::new(),
            client_secret_env: String::new(),
            scopes: Vec::new(),
        },
        _ => return None,
    })
}

fn auth_kind(auth: Option<&HttpAuth>) -> &'static str {
    match auth {
        None => "none",
        Some(HttpAuth::Bearer { .. }) => "bearer",
        Some(HttpAuth::Basic { .. }) => "basic",
        Some(HttpAuth::ApiKey { .. }) => "api_key",
        Some(HttpAuth::OAuth2ClientCredentials { .. }) => "oauth2_client_credentials",
    }
}

/// A text field of an HTTP connector: `get` reads it from the connector, `set` writes the
/// trimmed text.
fn http_field(
    label: &'static str,
    testid: &'static str,
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    get: impl Fn(&HttpConnector) -> Option<String> + Send + Sync + 'static,
    set: impl Fn(&mut HttpConnector, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    text_field(
        label,
        testid,
        move || conn.with(|c| http_of(c).and_then(&get).unwrap_or_default()),
        move |v| {
            update.run(Box::new(move |c| {
                if let Connector::Http(h) = c {
                    set(h, v.trim().to_owned());
                }
            }))
        },
    )
}

/// One text field of the connector's authentication; `field` finds it (`None` when the
/// authentication is of another kind).
fn auth_field(
    label: &'static str,
    testid: &'static str,
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    field: fn(&mut HttpAuth) -> Option<&mut String>,
) -> AnyView {
    http_field(
        label,
        testid,
        conn,
        update,
        move |h| {
            h.auth
                .clone()
                .and_then(|mut a| field(&mut a).map(std::mem::take))
        },
        move |h, v| {
            if let Some(slot) = h.auth.as_mut().and_then(field) {
                *slot = v;
            }
        },
    )
    .into_any()
}

/// The OAuth 2 scopes, typed space-separated. The field keeps the text as typed (a
/// separator just typed must stay), and the connector gets the words.
fn scopes_field(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> AnyView {
    let text = RwSignal::new(conn.with_untracked(
        |c| match http_of(c).and_then(|h| h.auth.as_ref()) {
            Some(HttpAuth::OAuth2ClientCredentials { scopes, .. }) => scopes.join(" "),
            _ => String::new(),
        },
    ));
    text_field(
        "Scopes (space-separated)",
        "http-auth-scopes",
        move || text.get(),
        move |v| {
            let words: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
            text.set(v);
            update.run(Box::new(move |c| {
                if let Connector::Http(h) = c
                    && let Some(HttpAuth::OAuth2ClientCredentials { scopes, .. }) = &mut h.auth
                {
                    *scopes = words;
                }
            }))
        },
    )
    .into_any()
}

/// The HTTP connector's authentication (every secret is the name of an env var) and timeout.
#[component]
fn HttpAuthSettings(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
) -> impl IntoView {
    let kind =
        Memo::new(move |_| conn.with(|c| auth_kind(http_of(c).and_then(|h| h.auth.as_ref()))));
    let fields = move || {
        let f = |label, testid, field| auth_field(label, testid, conn, update, field);
        match kind.get() {
            "bearer" => vec![f("Token env var", "http-auth-token-env",
                |a| match a { HttpAuth::Bearer { token_env } => Some(token_env), _ => None })],
            "basic" => vec![
                f("User name env var", "http-auth-username-env",
                    |a| match a { HttpAuth::Basic { username_env, .. } => Some(username_env), _ => None }),
                f("Password env var", "http-auth-password-env",
                    |a| match a { HttpAuth::Basic { password_env, .. } => Some(password_env), _ => None }),
            ],
            "api_key" => vec![
                f("Header (or query parameter)", "http-auth-key-name",
                    |a| match a { HttpAuth::ApiKey { name, .. } => Some(name), _ => None }),
                f("Key env var", "http-auth-key-env",
                    |a| match a { HttpAuth::ApiKey { value_env, .. } => Some(value_env), _ => None }),
                view! {
                    <label class="field check-row narrow">
                        <input type="checkbox" data-testid=tid("http-auth-key-in-query")
                            prop:checked=move || conn.with(|c| matches!(http_of(c).and_then(|h| h.auth.as_ref()), Some(HttpAuth::ApiKey { in_query: true, .. })))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                update.run(Box::new(move |c| if let Connector::Http(h) = c
                                    && let Some(HttpAuth::ApiKey { in_query, .. }) = &mut h.auth {
                                        *in_query = on;
                                }))
                            } />
                        <span>"In the query"</span>
                    </label>
                }.into_any(),
            ],
            "oauth2_client_credentials" => vec![
                f("Token URL", "http-auth-token-url",
                    |a| match a { HttpAuth::OAuth2ClientCredentials { token_url, .. } => Some(token_url), _ => None }),
                f("Client id env var", "http-auth-client-id-env",
                    |a| match a { HttpAuth::OAuth2ClientCredentials { client_id_env, .. } => Some(client_id_env), _ => None }),
                f("Client secret env var", "http-auth-client-secret-env",
                    |a| match a { HttpAuth::OAuth2ClientCredentials { client_secret_env, .. } => Some(client_secret_env), _ => None }),
                scopes_field(conn, update),
            ],
            _ => Vec::new(),
        }
    };
    view! {
        <div class="form-row">
            <label class="field narrow">
                <span>"Authentication"</span>
                <select
                    data-testid=tid("http-auth-kind")
                    prop:value=move || kind.get()
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        update.run(Box::new(move |c| if let Connector::Http(h) = c
                            && auth_kind(h.auth.as_ref()) != v {
                                h.auth = new_auth(&v);
                        }))
                    }
                >
                    {AUTH_KINDS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                </select>
            </label>
            {fields}
            <label class="field narrow">
                <span>"Timeout (ms)"</span>
                <input type="number" min="1" data-testid=tid("http-timeout-ms")
                    prop:value=move || conn.with(|c| http_of(c).and_then(|h| h.timeout_ms).map(|t| t.to_string()).unwrap_or_default())
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        update.run(Box::new(move |c| if let Connector::Http(h) = c {
                            h.timeout_ms = v.trim().parse().ok().filter(|t| *t > 0);
                        }))
                    } />
            </label>
        </div>
    }
}

/// A text field for one env var name of an HTTP connector's `tls` block; the block goes away
/// when its last field is emptied.
fn tls_field(
    label: &'static str,
    testid: &'static str,
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    field: fn(&mut HttpTls) -> &mut Option<String>,
) -> impl IntoView {
    http_field(
        label,
        testid,
        conn,
        update,
        move |h| h.tls.clone().and_then(|mut t| field(&mut t).take()),
        move |h, v| {
            let tls = h.tls.get_or_insert_with(HttpTls::default);
            *field(tls) = (!v.is_empty()).then_some(v);
            if *tls == HttpTls::default() {
                h.tls = None;
            }
        },
    )
}

#[component]
fn DbSettings(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    let db = move || {
        conn.with(|c| match c {
            Some(Connector::Database(d)) => {
                Some((format!("{:?}", d.driver).to_lowercase(), d.url_env.clone()))
            }
            _ => None,
        })
    };
    view! {
        <div class="form-row">
            <label class="field">
                <span>"Driver"</span>
                <select
                    data-testid=tid("db-driver")
                    prop:value=move || db().map(|d| d.0).unwrap_or_default()
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        update.run(Box::new(move |c| if let Connector::Database(d) = c
                            && let Ok(driver) = serde_json::from_value(Value::String(v)) {
                                d.driver = driver;
                        }))
                    }
                >
                    <option value="postgres">"PostgreSQL"</option>
                    <option value="mysql">"MySQL / MariaDB"</option>
                    <option value="sqlite">"SQLite"</option>
                </select>
            </label>
            {text_field("URL env var", "db-url-env", move || db().map(|d| d.1).unwrap_or_default(),
                move |v| update.run(Box::new(move |c| if let Connector::Database(d) = c { d.url_env = v })))}
        </div>
    }
}

/// A kind of connector method the forms edit: how to find a connector's list of them.
trait FormMethod: Sized + 'static {
    fn list(c: &Connector) -> Option<&Vec<Self>>;
    fn list_mut(c: &mut Connector) -> Option<&mut Vec<Self>>;
}

macro_rules! form_method {
    ($method:ty, $variant:ident) => {
        impl FormMethod for $method {
            fn list(c: &Connector) -> Option<&Vec<Self>> {
                match c {
                    Connector::$variant(k) => Some(&k.methods),
                    _ => None,
                }
            }
            fn list_mut(c: &mut Connector) -> Option<&mut Vec<Self>> {
                match c {
                    Connector::$variant(k) => Some(&mut k.methods),
                    _ => None,
                }
            }
        }
    };
}
form_method!(HttpMethod, Http);
form_method!(SqlMethod, Database);
form_method!(CacheMethod, Cache);
form_method!(MqMethod, Mq);
form_method!(GrpcMethod, Grpc);

/// The connector's method `i`, when the connector has methods of kind `M`.
fn method_at<M: FormMethod>(c: &Option<Connector>, i: usize) -> Option<&M> {
    M::list(c.as_ref()?)?.get(i)
}

/// Edits the connector's method `i` (of kind `M`).
fn with_method<M: FormMethod>(
    update: Callback<ConnectorEdit>,
    i: usize,
    f: impl FnOnce(&mut M) + Send + Sync + 'static,
) {
    update.run(Box::new(move |c| {
        if let Some(m) = M::list_mut(c).and_then(|list| list.get_mut(i)) {
            f(m)
        }
    }));
}

/// A reader of one value, for a field's `prop:value`.
type Reader<T> = Box<dyn Fn() -> T + Send + Sync>;
/// A writer of a text field's typed text.
type Writer = Box<dyn Fn(String)>;

/// The getter maker of a method form, for method `index` of kind `M`: `get(f)` is a
/// closure reading `f` of the method (its default when there is no such method).
fn method_getter<M: FormMethod, T: Default + 'static>(
    conn: Memo<Option<Connector>>,
    index: usize,
) -> impl Fn(fn(&M) -> T) -> Reader<T> + Copy {
    move |f| Box::new(move || conn.with(|c| method_at::<M>(c, index).map(f).unwrap_or_default()))
}

/// The setter maker of a method form's text fields, for method `index` of kind `M`:
/// `edit(|m, v| …)` writes the typed text.
fn method_setter<M: FormMethod>(
    update: Callback<ConnectorEdit>,
    index: usize,
) -> impl Fn(fn(&mut M, String)) -> Writer + Copy {
    move |f| Box::new(move |v: String| with_method::<M>(update, index, move |m| f(m, v)))
}

/// The input parameters of method `index` of kind `M`.
fn method_input<M: FormMethod + MethodInput>(
    conn: Memo<Option<Connector>>,
    index: usize,
) -> Signal<Vec<Parameter>> {
    Signal::derive(move || {
        conn.with(|c| {
            method_at::<M>(c, index)
                .map(|m| m.input().to_vec())
                .unwrap_or_default()
        })
    })
}

/// Methods with input parameters.
trait MethodInput {
    fn input(&self) -> &[Parameter];
}

impl MethodInput for CacheMethod {
    fn input(&self) -> &[Parameter] {
        &self.input
    }
}

impl MethodInput for MqMethod {
    fn input(&self) -> &[Parameter] {
        &self.input
    }
}

impl MethodInput for GrpcMethod {
    fn input(&self) -> &[Parameter] {
        &self.input
    }
}

fn http_method(c: &Option<Connector>, i: usize) -> Option<&HttpMethod> {
    method_at(c, i)
}

fn with_http_method(
    update: Callback<ConnectorEdit>,
    i: usize,
    f: impl FnOnce(&mut HttpMethod) + Send + Sync + 'static,
) {
    with_method(update, i, f)
}

#[component]
fn HttpMethodForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    index: usize,
    connector: String,
) -> impl IntoView {
    let get = move |f: fn(&HttpMethod) -> String| {
        move || conn.with(|c| http_method(c, index).map(f).unwrap_or_default())
    };
    let input = Signal::derive(move || {
        conn.with(|c| {
            http_method(c, index)
                .map(|m| m.input.clone())
                .unwrap_or_default()
        })
    });
    let body_text = RwSignal::new(conn.with_untracked(|c| {
        http_method(c, index)
            .and_then(|m| m.body.as_ref())
            .map(pretty)
            .unwrap_or_default()
    }));
    let body_error = RwSignal::new(None::<String>);
    view! {
        <div class="method-form">
            <div class="form-row">
                {text_field("Name", "method-name", get(|m| m.name.clone()), move |v| with_http_method(update, index, move |m| m.name = v))}
                <label class="field narrow">
                    <span>"Verb"</span>
                    <select
                        data-testid=tid("http-verb")
                        prop:value=get(|m| format!("{:?}", m.method).to_uppercase())
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if let Ok(verb) = serde_json::from_value::<HttpVerb>(Value::String(v)) {
                                with_http_method(update, index, move |m| m.method = verb);
                            }
                        }
                    >
                        {["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map(|v| view! { <option value=v>{v}</option> }).collect_view()}
                    </select>
                </label>
                {text_field("Path", "http-path", get(|m| m.path.clone()), move |v| with_http_method(update, index, move |m| m.path = v))}
            </div>
            {text_field("Description", "method-description", get(|m| m.description.clone().unwrap_or_default()),
                move |v| with_http_method(update, index, move |m| m.description = (!v.is_empty()).then_some(v)))}
            <div class="form-grid-2">
                <KvEditor
                    title="Query"
                    map=Signal::derive(move || conn.with(|c| http_method(c, index).map(|m| m.query.clone()).unwrap_or_default()))
                    on_change=Callback::new(move |q| with_http_method(update, index, move |m| m.query = q))
                />
                <KvEditor
                    title="Headers"
                    map=Signal::derive(move || conn.with(|c| http_method(c, index).map(|m| m.headers.clone()).unwrap_or_default()))
                    on_change=Callback::new(move |h| with_http_method(update, index, move |m| m.headers = h))
                />
            </div>
            <label class="field">
                <span>"Body (JSON with {{ }} templates; empty for none)"</span>
                <textarea
                    class="mono"
                    rows="4"
                    data-testid=tid("http-body")
                    prop:value=move || body_text.get()
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        body_text.set(v.clone());
                        if v.trim().is_empty() {
                            body_error.set(None);
                            with_http_method(update, index, |m| m.body = None);
                        } else {
                            match serde_json::from_str::<Value>(&v) {
                                Ok(b) => {
                                    body_error.set(None);
                                    with_http_method(update, index, move |m| m.body = Some(b));
                                }
                                Err(e) => body_error.set(Some(e.to_string())),
                            }
                        }
                    }
                ></textarea>
                <span class="error-text small">{move || body_error.get().unwrap_or_default()}</span>
            </label>
            <div class="section-title">"Input parameters"</div>
            <ParamsEditor params=input on_change=Callback::new(move |p| with_http_method(update, index, move |m| m.input = p)) />
            <TryIt conn=conn index=index connector=connector what="sends the real request to the configured base URL" />
        </div>
    }
}

/// Key → value rows (query parameters, headers).
#[component]
fn KvEditor(
    title: &'static str,
    map: Signal<IndexMap<String, String>>,
    on_change: Callback<IndexMap<String, String>>,
) -> impl IntoView {
    let rows = move || map.get().into_iter().enumerate().collect::<Vec<_>>();
    let set_at = move |i: usize, key: Option<String>, value: Option<String>| {
        let mut m: Vec<(String, String)> = map.get_untracked().into_iter().collect();
        if let Some(row) = m.get_mut(i) {
            if let Some(k) = key {
                row.0 = k;
            }
            if let Some(v) = value {
                row.1 = v;
            }
        }
        on_change.run(m.into_iter().collect());
    };
    view! {
        <div class="kv">
            <div class="section-title">{title}</div>
            <table class="grid">
                <tbody>
                    {move || rows().into_iter().map(|(i, (k, v))| view! {
                        <tr>
                            <td><input class="cell mono" aria-label="Name" value=k on:change=move |ev| set_at(i, Some(event_target_value(&ev)), None) /></td>
                            <td><input class="cell mono" aria-label="Value" value=v on:change=move |ev| set_at(i, None, Some(event_target_value(&ev))) /></td>
                            <td class="narrow">
                                <button class="btn btn-icon btn-small" aria-label="Remove" on:click=move |_| {
                                    let mut m = map.get_untracked();
                                    m.shift_remove_index(i);
                                    on_change.run(m);
                                }>"×"</button>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <button class="btn btn-small btn-ghost" on:click=move |_| {
                let mut m = map.get_untracked();
                let mut n = m.len() + 1;
                while m.contains_key(&format!("name{n}")) {
                    n += 1;
                }
                m.insert(format!("name{n}"), String::new());
                on_change.run(m);
            }>"+ Add"</button>
        </div>
    }
}

/// A config value's default as the table shows it: text as it is, other JSON as JSON.
fn default_cell(value: &ConfigValue) -> String {
    match &value.default {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A config connector: its description and a table of values, each read from an env var
/// with an optional default (`ctx.connectors.<name>.<value>()`).
#[component]
fn ConfigForm(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    let rows = Memo::new(move |_| {
        conn.with(|c| config_of(c).map(|k| k.values.clone()).unwrap_or_default())
    });
    let count = Memo::new(move |_| rows.with(Vec::len));
    let edit = move |i: usize, f: Box<dyn FnOnce(&mut ConfigValue) + Send + Sync>| {
        update.run(Box::new(move |c| {
            if let Connector::Config(k) = c
                && let Some(value) = k.values.get_mut(i)
            {
                f(value);
            }
        }))
    };
    let add = move |_| {
        let taken = rows.get_untracked();
        let mut n = taken.len() + 1;
        while taken.iter().any(|v| v.name == format!("value{n}")) {
            n += 1;
        }
        update.run(Box::new(move |c| {
            if let Connector::Config(k) = c {
                k.values.push(ConfigValue {
                    name: format!("value{n}"),
                    env: format!("VALUE_{n}"),
                    ..ConfigValue::default()
                });
            }
        }))
    };
    view! {
        <div class="connector-body">
            <div class="settings">
                <div class="form-row">
                    {text_field("Description", "connector-description", move || conn.with(|c| config_of(c).and_then(|k| k.description.clone()).unwrap_or_default()),
                        move |v| update.run(Box::new(move |c| if let Connector::Config(k) = c { k.description = some_text(v) })))}
                </div>
            </div>
            <div class="pad">
                <div class="section-title">"Values"
                    <span class="muted small">" each is read from an env var (declare it in vms.yaml) and is a method with no input"</span>
                </div>
                <table class="grid" data-testid=tid("config-values")>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Env var"</th>
                            <th scope="col">"Default"</th>
                            <th scope="col">"Description"</th>
                            <th scope="col" class="narrow"><span class="sr-only">"Remove"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // Rows are rebuilt only when their number changes, so typing in a cell
                        // (saved as it is typed) keeps the focus and the caret.
                        {move || (0..count.get()).map(|i| {
                            let cell = move |f: fn(&ConfigValue) -> String| move || rows.with(|r| r.get(i).map(f).unwrap_or_default());
                            view! {
                                <tr data-testid=format!("config-row-{i}")>
                                    <td><input class="cell mono" aria-label="Name" data-testid=format!("config-name-{i}") prop:value=cell(|v| v.name.clone())
                                        on:input=move |ev| { let v = event_target_value(&ev); edit(i, Box::new(move |x| x.name = v)) } /></td>
                                    <td><input class="cell mono" aria-label="Env var" data-testid=format!("config-env-{i}") prop:value=cell(|v| v.env.clone())
                                        on:input=move |ev| { let v = event_target_value(&ev); edit(i, Box::new(move |x| x.env = v)) } /></td>
                                    <td><input class="cell mono" aria-label="Default" data-testid=format!("config-default-{i}") prop:value=cell(default_cell) placeholder="none: the env var is required"
                                        on:input=move |ev| { let v = event_target_value(&ev); edit(i, Box::new(move |x| x.default = (!v.is_empty()).then_some(Value::String(v)))) } /></td>
                                    <td><input class="cell" aria-label="Description" data-testid=format!("config-description-{i}") prop:value=cell(|v| v.description.clone().unwrap_or_default())
                                        on:input=move |ev| { let v = event_target_value(&ev); edit(i, Box::new(move |x| x.description = some_text(v))) } /></td>
                                    <td class="narrow">
                                        <button class="btn btn-icon btn-small" aria-label="Remove" data-testid=format!("config-remove-{i}") on:click=move |_| {
                                            update.run(Box::new(move |c| if let Connector::Config(k) = c && i < k.values.len() { k.values.remove(i); }))
                                        }>"×"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                <button class="btn btn-small btn-ghost" data-testid=tid("config-add") on:click=add>"+ Add value"</button>
            </div>
        </div>
    }
}

#[component]
fn GrpcSettings(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    let edit = move |f: Box<dyn FnOnce(&mut GrpcConnector) + Send + Sync>| {
        update.run(Box::new(move |c| {
            if let Connector::Grpc(g) = c {
                f(g)
            }
        }))
    };
    view! {
        <div class="form-row">
            {text_field("Endpoint (http:// or https://; {{ }} template)", "grpc-endpoint", move || conn.with(|c| grpc_of(c).map(|g| g.endpoint.clone()).unwrap_or_default()),
                move |v| edit(Box::new(move |g| g.endpoint = v)))}
            {text_field("Descriptor set (a file in the VMS)", "grpc-descriptor-set", move || conn.with(|c| grpc_of(c).map(|g| g.descriptor_set.clone()).unwrap_or_default()),
                move |v| edit(Box::new(move |g| g.descriptor_set = v.trim().to_owned())))}
            <label class="field narrow">
                <span>"Timeout (ms)"</span>
                <input type="number" min="1" data-testid=tid("grpc-timeout")
                    prop:value=move || conn.with(|c| grpc_of(c).and_then(|g| g.timeout_ms).map(|t| t.to_string()).unwrap_or_default())
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        if v.trim().is_empty() {
                            edit(Box::new(|g| g.timeout_ms = None));
                        } else if let Ok(ms) = v.trim().parse::<u64>() {
                            edit(Box::new(move |g| g.timeout_ms = Some(ms)));
                        }
                    } />
            </label>
        </div>
        {text_field("Description", "connector-description", move || conn.with(|c| grpc_of(c).and_then(|g| g.description.clone()).unwrap_or_default()),
            move |v| edit(Box::new(move |g| g.description = some_text(v))))}
        <KvEditor
            title="Metadata (every call; values are {{ }} templates)"
            map=Signal::derive(move || conn.with(|c| grpc_of(c).map(|g| g.metadata.clone()).unwrap_or_default()))
            on_change=Callback::new(move |m| edit(Box::new(move |g| g.metadata = m)))
        />
    }
}

#[component]
fn GrpcMethodForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    index: usize,
    connector: String,
) -> impl IntoView {
    let get = method_getter::<GrpcMethod, String>(conn, index);
    let edit = method_setter::<GrpcMethod>(update, index);
    let input = method_input::<GrpcMethod>(conn, index);
    let output = Signal::derive(move || {
        conn.with(|c| {
            method_at::<GrpcMethod>(c, index)
                .map(|m| m.output.clone())
                .unwrap_or_default()
        })
    });
    view! {
        <div class="method-form">
            <div class="form-row">
                {text_field("Name", "method-name", get(|m| m.name.clone()), edit(|m, v| m.name = v))}
                {text_field("gRPC method (package.Service/Method)", "grpc-method", get(|m| m.method.clone()), edit(|m, v| m.method = v.trim().to_owned()))}
            </div>
            {text_field("Description", "method-description", get(|m| m.description.clone().unwrap_or_default()), edit(|m, v| m.description = some_text(v)))}
            <KvEditor
                title="Metadata (added to the connector's)"
                map=Signal::derive(move || conn.with(|c| method_at::<GrpcMethod>(c, index).map(|m| m.metadata.clone()).unwrap_or_default()))
                on_change=Callback::new(move |m| with_method::<GrpcMethod>(update, index, move |g| g.metadata = m))
            />
            <div class="section-title">"Input parameters (the request message's fields)"</div>
            <ParamsEditor params=input on_change=Callback::new(move |p| with_method::<GrpcMethod>(update, index, move |m| m.input = p)) />
            <div class="section-title">"Output parameters (the response message's fields)"</div>
            <ParamsEditor params=output on_change=Callback::new(move |p| with_method::<GrpcMethod>(update, index, move |m| m.output = p)) />
            <TryIt conn=conn index=index connector=connector what="calls the real method at the configured endpoint" />
        </div>
    }
}

/// "Import methods" of a gRPC connector: the descriptor set's methods, each with a box to
/// tick; the unary ones not imported yet start ticked.
#[component]
fn GrpcImportDialog(connector: String, file: String, open: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let listed = RwSignal::new(None::<Result<api::GrpcMethods, String>>);
    let chosen = RwSignal::new(Vec::<String>::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<(bool, String)>);
    let c = connector.clone();
    Effect::new(move |_| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let connector = c.clone();
        spawn_local(async move {
            // The server reads the connector from disk: let pending writes land first.
            state.flush_all();
            state.saves_landed().await;
            let answer = api::grpc_methods(&vms, &connector).await;
            if let Ok(found) = &answer {
                chosen.try_set(
                    found
                        .services
                        .iter()
                        .flat_map(|s| &s.methods)
                        .filter(|m| !m.streaming && m.imported_as.is_none())
                        .map(|m| m.method.clone())
                        .collect(),
                );
            }
            listed.try_set(Some(answer.map_err(|e| e.message)));
        });
    });
    let import = move |_| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let connector = connector.clone();
        let file = file.clone();
        let methods = chosen.get_untracked();
        busy.set(true);
        spawn_local(async move {
            match api::import_grpc(&vms, &connector, &methods).await {
                Ok(r) => {
                    state.reload(if r.file.is_empty() { &file } else { &r.file });
                    state.refresh_detail();
                    message.try_set(Some((
                        true,
                        format!("Imported {} method(s)", r.added.len() + r.updated.len()),
                    )));
                    open.set(false);
                }
                Err(e) => {
                    message.try_set(Some((false, e.message)));
                }
            }
            busy.try_set(false);
        });
    };
    view! {
        <Modal open=open id="grpc-import" title="Import gRPC methods" class="wide">
            {move || match listed.get() {
                None => view! { <p class="muted">"Reading the descriptor set…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error-text" data-testid="grpc-import-error">{e}</p> }.into_any(),
                Some(Ok(found)) => view! { <div>
                    <p class="muted small">{format!("From {}. Each method gets the request and response messages' fields as its parameters; methods already imported get fresh ones.", found.descriptor_set)}</p>
                    <div class="grpc-methods" data-testid="grpc-import-list">
                        {found.services.into_iter().map(|service| view! {
                            <div class="section-title mono">{service.name.clone()}</div>
                            {service.methods.into_iter().map(|m| {
                                let full = m.method.clone();
                                let f = full.clone();
                                let short = full.rsplit('/').next().unwrap_or_default().to_owned();
                                let note = if m.streaming {
                                    "streaming: connectors call unary methods only".to_owned()
                                } else if let Some(name) = &m.imported_as {
                                    format!("imported as {name}")
                                } else {
                                    format!("{} → {}", m.input_type, m.output_type)
                                };
                                view! {
                                    <label class="check">
                                        <input type="checkbox" data-testid=format!("grpc-import-{short}") disabled=m.streaming
                                            prop:checked=move || chosen.with(|c| c.contains(&f))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                let full = full.clone();
                                                chosen.update(|c| {
                                                    c.retain(|x| *x != full);
                                                    if on {
                                                        c.push(full);
                                                    }
                                                });
                                            } />
                                        <span class="mono">{short}</span>
                                        <span class="muted small">{note}</span>
                                    </label>
                                }
                            }).collect_view()}
                        }).collect_view()}
                    </div>
                </div> }.into_any(),
            }}
            {move || message.get().map(|(ok, m)| view! { <p class={if ok { "ok-text" } else { "error-text" }}>{m}</p> })}
            <div class="dialog-actions">
                <button class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                <button class="btn btn-primary" data-testid="grpc-import-button" disabled=move || busy.get() || chosen.with(Vec::is_empty) on:click=import>
                    {move || if busy.get() { "Importing…" } else { "Import" }}
                </button>
            </div>
        </Modal>
    }
}

/// Empty text is `None`.
fn some_text(v: String) -> Option<String> {
    (!v.trim().is_empty()).then_some(v)
}

#[component]
fn CacheSettings(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    view! {
        <div class="form-row">
            {text_field("URL env var", "cache-url-env", move || conn.with(|c| cache_of(c).map(|k| k.url_env.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Cache(k) = c { k.url_env = v.trim().to_owned() })))}
            {text_field("Key prefix", "cache-key-prefix", move || conn.with(|c| cache_of(c).and_then(|k| k.key_prefix.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Cache(k) = c { k.key_prefix = some_text(v) })))}
            {text_field("Description", "connector-description", move || conn.with(|c| cache_of(c).and_then(|k| k.description.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Cache(k) = c { k.description = some_text(v) })))}
        </div>
    }
}

/// The cache operations in the form's menu: the serde name and what it does.
const CACHE_OPS: [(&str, &str); 8] = [
    ("get", "get: read a value"),
    ("set", "set: write a value"),
    ("del", "del: delete a key"),
    ("incr", "incr: add to a number"),
    ("hget", "hget: read a hash field"),
    ("hset", "hset: write a hash field"),
    ("hgetall", "hgetall: read a whole hash"),
    ("expire", "expire: set a key's TTL"),
];

#[component]
fn CacheMethodForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    index: usize,
    connector: String,
) -> impl IntoView {
    let get = method_getter::<CacheMethod, String>(conn, index);
    let edit = method_setter::<CacheMethod>(update, index);
    let input = method_input::<CacheMethod>(conn, index);
    let op = Memo::new(move |_| method_getter::<CacheMethod, CacheOp>(conn, index)(|m| m.op)());
    view! {
        <div class="method-form">
            <div class="form-row">
                {text_field("Name", "method-name", get(|m| m.name.clone()), edit(|m, v| m.name = v))}
                <label class="field medium">
                    <span>"Operation"</span>
                    <select
                        data-testid=tid("cache-op")
                        prop:value=move || serde_json::to_value(op.get()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                        on:change=move |ev| {
                            if let Ok(o) = serde_json::from_value::<CacheOp>(Value::String(event_target_value(&ev))) {
                                with_method::<CacheMethod>(update, index, move |m| m.op = o);
                            }
                        }
                    >
                        {CACHE_OPS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                    </select>
                </label>
                {text_field("Key ({{ }} template; the prefix is added)", "cache-key", get(|m| m.key.clone()), edit(|m, v| m.key = v))}
            </div>
            <div class="form-row">
                <Show when=move || matches!(op.get(), CacheOp::Hget | CacheOp::Hset)>
                    {text_field("Hash field ({{ }} template)", "cache-field", get(|m| m.field.clone().unwrap_or_default()), edit(|m, v| m.field = some_text(v)))}
                </Show>
                <Show when=move || matches!(op.get(), CacheOp::Set | CacheOp::Hset | CacheOp::Incr)>
                    {text_field("Value (expression; input.value when empty)", "cache-value", get(|m| m.value.clone().unwrap_or_default()), edit(|m, v| m.value = some_text(v)))}
                </Show>
                <Show when=move || matches!(op.get(), CacheOp::Set | CacheOp::Expire)>
                    <label class="field narrow">
                        <span>"TTL (s)"</span>
                        <input type="number" min="1" data-testid=tid("cache-ttl")
                            prop:value=get(|m| m.ttl_seconds.map(|t| t.to_string()).unwrap_or_default())
                            on:input=move |ev| {
                                let ttl = event_target_value(&ev).trim().parse().ok().filter(|t| *t > 0);
                                with_method::<CacheMethod>(update, index, move |m| m.ttl_seconds = ttl);
                            } />
                    </label>
                </Show>
            </div>
            {text_field("Description", "method-description", get(|m| m.description.clone().unwrap_or_default()), edit(|m, v| m.description = some_text(v)))}
            <div class="section-title">"Input parameters"</div>
            <ParamsEditor params=input on_change=Callback::new(move |p| with_method::<CacheMethod>(update, index, move |m| m.input = p)) />
            <TryIt conn=conn index=index connector=connector what="runs the real command against the configured Redis" />
        </div>
    }
}

#[component]
fn MqSettings(conn: Memo<Option<Connector>>, update: Callback<ConnectorEdit>) -> impl IntoView {
    let broker = Memo::new(move |_| conn.with(|c| mq_of(c).map(|q| q.broker).unwrap_or_default()));
    view! {
        <div class="form-row">
            <label class="field medium">
                <span>"Broker"</span>
                <select
                    data-testid=tid("mq-broker")
                    prop:value=move || serde_json::to_value(broker.get()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                    on:change=move |ev| {
                        if let Ok(b) = serde_json::from_value::<MqBroker>(Value::String(event_target_value(&ev))) {
                            update.run(Box::new(move |c| if let Connector::Mq(q) = c {
                                q.broker = b;
                                if b != MqBroker::Nats {
                                    q.stream = None;
                                }
                            }));
                        }
                    }
                >
                    <option value="nats">"NATS JetStream"</option>
                    <option value="amqp">"AMQP (RabbitMQ)"</option>
                    <option value="redis-streams">"Redis Streams"</option>
                </select>
            </label>
            {text_field("URL env var", "mq-url-env", move || conn.with(|c| mq_of(c).map(|q| q.url_env.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Mq(q) = c { q.url_env = v.trim().to_owned() })))}
            <Show when=move || broker.get() == MqBroker::Nats>
                {text_field("Stream (checked at start)", "mq-stream", move || conn.with(|c| mq_of(c).and_then(|q| q.stream.clone()).unwrap_or_default()),
                    move |v| update.run(Box::new(move |c| if let Connector::Mq(q) = c { q.stream = some_text(v).map(|s| s.trim().to_owned()) })))}
            </Show>
            {text_field("Description", "connector-description", move || conn.with(|c| mq_of(c).and_then(|q| q.description.clone()).unwrap_or_default()),
                move |v| update.run(Box::new(move |c| if let Connector::Mq(q) = c { q.description = some_text(v) })))}
        </div>
    }
}

#[component]
fn MqMethodForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    index: usize,
    connector: String,
) -> impl IntoView {
    let get = method_getter::<MqMethod, String>(conn, index);
    let edit = method_setter::<MqMethod>(update, index);
    let input = method_input::<MqMethod>(conn, index);
    let amqp =
        Memo::new(move |_| conn.with(|c| mq_of(c).is_some_and(|q| q.broker == MqBroker::Amqp)));
    view! {
        <div class="method-form">
            <div class="form-row">
                {text_field("Name", "method-name", get(|m| m.name.clone()), edit(|m, v| m.name = v))}
                <Show
                    when=move || amqp.get()
                    fallback=move || text_field("Subject or stream key ({{ }} template)", "mq-subject", get(|m| m.subject.clone().unwrap_or_default()), edit(|m, v| m.subject = some_text(v)))
                >
                    {text_field("Exchange", "mq-exchange", get(|m| m.exchange.clone().unwrap_or_default()), edit(|m, v| m.exchange = some_text(v)))}
                    {text_field("Routing key ({{ }} template)", "mq-routing-key", get(|m| m.routing_key.clone().unwrap_or_default()), edit(|m, v| m.routing_key = some_text(v)))}
                </Show>
            </div>
            {text_field("Payload (expression; the whole input when empty)", "mq-payload", get(|m| m.payload.clone().unwrap_or_default()), edit(|m, v| m.payload = some_text(v)))}
            {text_field("Description", "method-description", get(|m| m.description.clone().unwrap_or_default()), edit(|m, v| m.description = some_text(v)))}
            <KvEditor
                title="Headers"
                map=Signal::derive(move || conn.with(|c| method_at::<MqMethod>(c, index).map(|m| m.headers.clone()).unwrap_or_default()))
                on_change=Callback::new(move |h| with_method::<MqMethod>(update, index, move |m| m.headers = h))
            />
            <div class="section-title">"Input parameters"</div>
            <ParamsEditor params=input on_change=Callback::new(move |p| with_method::<MqMethod>(update, index, move |m| m.input = p)) />
            <TryIt conn=conn index=index connector=connector what="publishes a real message to the configured broker" />
        </div>
    }
}

fn sql_method(c: &Option<Connector>, i: usize) -> Option<&SqlMethod> {
    method_at(c, i)
}

fn with_sql_method(
    update: Callback<ConnectorEdit>,
    i: usize,
    f: impl FnOnce(&mut SqlMethod) + Send + Sync + 'static,
) {
    with_method(update, i, f)
}

#[component]
fn SqlMethodForm(
    conn: Memo<Option<Connector>>,
    update: Callback<ConnectorEdit>,
    index: usize,
    tab_id: String,
    connector: String,
) -> impl IntoView {
    let get = move |f: fn(&SqlMethod) -> String| {
        move || conn.with(|c| sql_method(c, index).map(f).unwrap_or_default())
    };
    let input = Signal::derive(move || {
        conn.with(|c| {
            sql_method(c, index)
                .map(|m| m.input.clone())
                .unwrap_or_default()
        })
    });
    let sql = Signal::derive(get(|m| m.sql.clone()));
    let _ = tab_id;
    view! {
        <div class="method-form">
            <div class="form-row">
                {text_field("Name", "method-name", get(|m| m.name.clone()), move |v| with_sql_method(update, index, move |m| m.name = v))}
                <label class="field narrow">
                    <span>"Returns"</span>
                    <select
                        data-testid=tid("sql-returns")
                        prop:value=move || conn.with(|c| sql_method(c, index).map(|m| serde_json::to_value(m.returns).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()).unwrap_or_default())
                        on:change=move |ev| {
                            if let Ok(r) = serde_json::from_value::<SqlReturns>(Value::String(event_target_value(&ev))) {
                                with_sql_method(update, index, move |m| m.returns = r);
                            }
                        }
                    >
                        <option value="rows">"rows"</option>
                        <option value="one">"one"</option>
                        <option value="affected">"affected"</option>
                        <option value="generated-key">"generated-key"</option>
                    </select>
                </label>
            </div>
            <div class="section-title">"SQL"<span class="muted small">" #{name} binds a parameter; ${name} only from the allow-list"</span></div>
            <FieldEditor value=sql language="sql" testid="sql-editor" on_change=Callback::new(move |v: String| with_sql_method(update, index, move |m| m.sql = v)) />
            <div class="section-title">"Input parameters"</div>
            <ParamsEditor params=input on_change=Callback::new(move |p| with_sql_method(update, index, move |m| m.input = p)) />
            <TryIt conn=conn index=index connector=connector what="runs the real query against the configured database" />
        </div>
    }
}

/// "Try it" under a method form: runs method `index` of the connector for real (the IDE
/// API's `…/try`, with this machine's env values) on a sample input built from its input
/// parameters, and shows the answer (rows as a table).
#[component]
fn TryIt(
    conn: Memo<Option<Connector>>,
    index: usize,
    connector: String,
    what: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let method_name = move || {
        conn.with_untracked(|c| {
            c.as_ref()
                .and_then(|c| c.methods().get(index).map(|m| m.name.to_owned()))
        })
        .unwrap_or_default()
    };
    let params: Vec<Parameter> = conn
        .with_untracked(|c| {
            c.as_ref()
                .and_then(|c| c.methods().get(index).map(|m| m.input.to_vec()))
        })
        .unwrap_or_default();
    let sample = RwSignal::new(pretty(&sample_input(&params)));
    let try_result = RwSignal::new(None::<Result<api::TryResult, String>>);
    let trying = RwSignal::new(false);
    let try_it = move |_| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let method = method_name();
        if method.is_empty() {
            return;
        }
        let input = match serde_json::from_str::<Value>(&sample.get_untracked()) {
            Ok(v) => v,
            Err(e) => {
                try_result.set(Some(Err(format!("The sample input is not JSON: {e}"))));
                return;
            }
        };
        let connector = connector.clone();
        trying.set(true);
        state.flush_all();
        spawn_local(async move {
            // The server reads the connector from disk: let pending writes land first.
            state.saves_landed().await;
            let r = api::try_method(&vms, &connector, &method, &input)
                .await
                .map_err(|e| e.to_string());
            try_result.try_set(Some(r));
            trying.try_set(false);
        });
    };
    view! {
        <div class="try-it">
            <div class="section-title">"Try it"<span class="muted small">{format!(" {what}")}</span></div>
            <textarea class="mono" rows="3" aria-label="Sample input" data-testid=tid("try-it-input")
                prop:value=move || sample.get() on:input=move |ev| sample.set(event_target_value(&ev))></textarea>
            <button class="btn btn-primary btn-small" data-testid=tid("try-it-button") disabled=move || trying.get() on:click=try_it>
                <Svg icon=Icon::Run />{move || if trying.get() { "Running…" } else { "Try it" }}
            </button>
            <div data-testid=tid("try-it-output") class="try-output">
                {move || try_result.get().map(|r| match r {
                    Ok(t) if t.ok => view! { <ResultTable value=t.output.unwrap_or(Value::Null) ms=t.duration_ms /> }.into_any(),
                    Ok(t) => view! { <pre class="result error mono">{t.error.map(|e| match e { Value::Object(o) => format!("{}: {}", o.get("code").and_then(Value::as_str).unwrap_or("error"), o.get("message").and_then(Value::as_str).unwrap_or_default()), other => pretty(&other) }).unwrap_or_default()}</pre> }.into_any(),
                    Err(e) => view! { <pre class="result error mono">{e}</pre> }.into_any(),
                })}
            </div>
        </div>
    }
}

/// Rows as a table (an array of objects), anything else as JSON.
#[component]
fn ResultTable(value: Value, ms: f64) -> impl IntoView {
    let rows: Option<Vec<serde_json::Map<String, Value>>> = value
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|r| r.as_object().cloned())
                .collect::<Option<Vec<_>>>()
        })
        .filter(|r| !r.is_empty());
    let meta = format!("{:.1} ms", ms);
    match rows {
        Some(rows) => {
            let cols: Vec<String> = rows[0].keys().cloned().collect();
            let n = rows.len();
            view! {
                <div class="muted small">{format!("{n} row(s) · {meta}")}</div>
                <div class="table-scroll">
                    <table class="grid result-grid">
                        <thead><tr>{cols.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {rows.iter().map(|r| view! {
                                <tr>{cols.iter().map(|c| view! { <td class="mono">{r.get(c).map(|v| match v { Value::String(s) => s.clone(), other => other.to_string() }).unwrap_or_default()}</td> }).collect_view()}</tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .into_any()
        }
        None => view! { <div class="muted small">{meta}</div><pre class="result mono">{pretty(&value)}</pre> }.into_any(),
    }
}

/// Monaco on a string field of a YAML file (SQL of a method), not on a file of its own.
#[component]
pub fn FieldEditor(
    value: Signal<String>,
    language: &'static str,
    testid: &'static str,
    on_change: Callback<String>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let node = NodeRef::<leptos::html::Div>::new();
    let handle: StoredValue<Option<monaco::EditorHandle>, LocalStorage> =
        StoredValue::new_local(None);
    let status = monaco::load();
    Effect::new(move |_| {
        if status.get() != monaco::Status::Ready {
            return;
        }
        let Some(el) = node.get() else { return };
        if handle.with_value(|h| h.is_some()) {
            return;
        }
        let h = monaco::create(
            &el,
            &value.get_untracked(),
            language,
            state.dark.get_untracked(),
            move |v| on_change.run(v),
        );
        handle.set_value(Some(h));
    });
    Effect::new(move |_| {
        let v = value.get();
        handle.with_value(|h| {
            if let Some(h) = h
                && h.value() != v
            {
                h.set_value(&v);
            }
        });
    });
    view! {
        <div class="field-editor" data-testid=tid(testid)>
            <Show
                when=move || status.get() != monaco::Status::Missing
                fallback=move || view! { <textarea class="code-fallback" spellcheck="false" prop:value=move || value.get() on:input=move |ev| on_change.run(event_target_value(&ev))></textarea> }
            >
                <div class="monaco-host" node_ref=node></div>
            </Show>
        </div>
    }
}

#[component]
fn ImportDialog(connector: String, file: String, open: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<(bool, String)>);
    let import = move |_| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let connector = connector.clone();
        let file = file.clone();
        busy.set(true);
        spawn_local(async move {
            match api::import_openapi(&vms, &connector, &text.get_untracked()).await {
                Ok(r) => {
                    state.diagnostics.update(|d| {
                        d.retain(|d| d.file.as_deref() != Some(file.as_str()));
                        d.extend(r.diagnostics.clone());
                    });
                    state.reload(if r.file.is_empty() { &file } else { &r.file });
                    state.refresh_detail();
                    message.try_set(Some((
                        true,
                        format!(
                            "Imported {} method(s): {}",
                            r.methods.len(),
                            r.methods.join(", ")
                        ),
                    )));
                    open.set(false);
                }
                Err(e) => {
                    message.try_set(Some((false, e.to_string())));
                }
            }
            busy.try_set(false);
        });
    };
    view! {
        <Modal open=open id="import" title="Import OpenAPI" class="wide">
            <p class="muted small">"Paste an OpenAPI 3 document (JSON or YAML). Its operations become methods of this connector; the file is rewritten."</p>
            <textarea class="mono" rows="14" spellcheck="false" data-testid="openapi-input" autofocus
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            {move || message.get().map(|(ok, m)| view! { <p class={if ok { "ok-text" } else { "error-text" }}>{m}</p> })}
            <div class="dialog-actions">
                <button class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                <button class="btn btn-primary" data-testid="openapi-import-button" disabled=move || busy.get() || text.with(|t| t.trim().is_empty()) on:click=import>
                    {move || if busy.get() { "Importing…" } else { "Import" }}
                </button>
            </div>
        </Modal>
    }
}
