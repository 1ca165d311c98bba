//! The VMS explorer: functions, connectors, triggers, env vars, tests and files of the open
//! VMS, from `GET /vms/{vms}`; plus "new function" and "new connector".

use leptos::prelude::*;
use starweave_model::vms::connector::{
    CacheConnector, ConfigConnector, DatabaseConnector, GrpcConnector, HttpConnector, MqConnector,
};
use starweave_model::vms::disk::{connector_to_yaml, function_spec_to_yaml, is_valid_name};
use starweave_model::vms::{Connector, FunctionSpec};

use super::icons::{Icon, Svg};
use crate::state::{AppState, TabKind};

struct Item {
    testid: String,
    label: String,
    detail: String,
    kind: TabKind,
}

/// The explorer.
#[component]
pub fn Explorer() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <nav class="explorer" data-testid="explorer" aria-label="VMS explorer">
            <Show
                when=move || state.detail.with(|d| d.is_some())
                fallback=move || {
                    view! {
                        <div class="skeleton-list" aria-hidden="true">
                            <span></span><span></span><span></span><span></span><span></span><span></span>
                        </div>
                    }
                }
            >
                <Sections />
            </Show>
        </nav>
    }
}

fn items_of(state: AppState, kind: &'static str) -> Vec<Item> {
    state.detail.with(|d| {
        let Some(d) = d.as_ref() else {
            return Vec::new();
        };
        match kind {
            "function" => d
                .functions
                .iter()
                .map(|f| Item {
                    testid: format!("explorer-item-function-{}", f.name),
                    label: f.name.clone(),
                    detail: f.kind.clone(),
                    kind: TabKind::Function(f.name.clone()),
                })
                .collect(),
            "connector" => d
                .connectors
                .iter()
                .map(|c| Item {
                    testid: format!("explorer-item-connector-{}", c.name),
                    label: c.name.clone(),
                    detail: c.kind.clone(),
                    kind: TabKind::Connector(c.name.clone()),
                })
                .collect(),
            "trigger" => d
                .triggers
                .iter()
                .map(|t| Item {
                    testid: format!("explorer-item-trigger-{}", t.index),
                    label: if t.summary.is_empty() {
                        format!("{} → {}", t.kind, t.function)
                    } else {
                        t.summary.clone()
                    },
                    detail: format!("{} → {}", t.kind, t.function),
                    kind: TabKind::Trigger(t.index),
                })
                .collect(),
            "env" => d
                .env
                .iter()
                .map(|e| Item {
                    testid: format!("explorer-item-env-{}", e.name),
                    label: e.name.clone(),
                    detail: if e.secret {
                        "secret".into()
                    } else {
                        e.ty.clone()
                    },
                    kind: TabKind::Env(e.name.clone()),
                })
                .collect(),
            "test" => d
                .tests
                .iter()
                .map(|t| Item {
                    testid: format!("explorer-item-test-{}-{}", t.function, t.name),
                    label: t.name.clone(),
                    detail: t.function.clone(),
                    kind: TabKind::Test(t.function.clone(), t.name.clone()),
                })
                .collect(),
            _ => d
                .files
                .iter()
                .map(|f| Item {
                    testid: format!("explorer-item-file-{f}"),
                    label: f.clone(),
                    detail: String::new(),
                    kind: TabKind::File(f.clone()),
                })
                .collect(),
        }
    })
}

#[component]
fn Sections() -> impl IntoView {
    view! {
        <Section title="Functions" icon=Icon::Function kind="function" adder=NewItem::Function />
        <Section title="Connectors" icon=Icon::Connector kind="connector" adder=NewItem::Connector />
        <Section title="Triggers" icon=Icon::Trigger kind="trigger" />
        <Section title="Env vars" icon=Icon::Env kind="env" />
        <Section title="Tests" icon=Icon::Test kind="test" />
        <Section title="Files" icon=Icon::File kind="file" start_closed=true />
    }
}

/// What the "+" of a section creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum NewItem {
    #[default]
    None,
    Function,
    Connector,
}

#[component]
fn Section(
    title: &'static str,
    icon: Icon,
    kind: &'static str,
    #[prop(optional)] adder: NewItem,
    #[prop(optional)] start_closed: bool,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let open = RwSignal::new(!start_closed);
    let adding = RwSignal::new(false);
    let items = Memo::new(move |_| {
        items_of(state, kind)
            .into_iter()
            .map(|i| (i.testid, i.label, i.detail, i.kind))
            .collect::<Vec<_>>()
    });
    view! {
        <section class="tree-section">
            <div class="tree-heading">
                <button
                    class="tree-toggle"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    <span class="chev" class:closed=move || !open.get()>
                        <Svg icon=Icon::Chevron />
                    </span>
                    <span>{title}</span>
                    <span class="count">{move || items.with(Vec::len)}</span>
                </button>
                {(adder != NewItem::None)
                    .then(|| {
                        view! {
                            <button
                                class="btn btn-icon btn-small"
                                data-testid=format!("new-{kind}-button")
                                aria-label=format!("New {kind}")
                                title=format!("New {kind}")
                                on:click=move |_| {
                                    adding.update(|a| *a = !*a);
                                    open.set(true);
                                }
                            >
                                <Svg icon=Icon::Plus />
                            </button>
                        }
                    })}
            </div>
            <Show when=move || adding.get()>
                <NewItemForm what=adder adding=adding />
            </Show>
            <Show when=move || open.get()>
                <ul class="tree">
                    <For
                        each=move || items.get()
                        key=|i| i.0.clone()
                        children=move |(testid, label, detail, tab_kind)| {
                            let tab_id = crate::state::Tab::new(tab_kind.clone()).id;
                            let active = move || state.active.get().as_deref() == Some(tab_id.as_str());
                            view! {
                                <li>
                                    <button
                                        class="tree-item"
                                        class:active=active
                                        data-testid=testid
                                        title=label.clone()
                                        on:click=move |_| state.open_tab(tab_kind.clone())
                                    >
                                        <Svg icon=icon />
                                        <span class="label">{label.clone()}</span>
                                        <span class="muted small">{detail}</span>
                                    </button>
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
        </section>
    }
}

#[component]
fn NewItemForm(what: NewItem, adding: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(
        if what == NewItem::Function {
            "js"
        } else {
            "http"
        }
        .to_owned(),
    );
    let prefix = if what == NewItem::Function {
        "new-function"
    } else {
        "new-connector"
    };
    let options: &'static [(&'static str, &'static str)] = if what == NewItem::Function {
        &[
            ("js", "JavaScript"),
            ("rhai", "Rhai"),
            ("bpmn", "BPMN flow"),
        ]
    } else {
        &[
            ("http", "HTTP"),
            ("database", "Database"),
            ("cache", "Cache"),
            ("mq", "Message queue"),
            ("grpc", "gRPC"),
            ("config", "Config"),
        ]
    };
    // A name already in use would have its files written over with the template's.
    let taken = move |n: &str| {
        state.detail.with(|d| {
            d.as_ref().is_some_and(|d| match what {
                NewItem::Function => {
                    let prefix = format!("functions/{n}.");
                    d.functions.iter().any(|f| f.name == n)
                        || d.files.iter().any(|f| f.starts_with(&prefix))
                }
                _ => {
                    let file = format!("connectors/{n}.yaml");
                    d.connectors.iter().any(|c| c.name == n) || d.files.contains(&file)
                }
            })
        })
    };
    let create = move || {
        let n = name.get_untracked();
        if !is_valid_name(&n) || taken(&n) {
            return;
        }
        let k = kind.get_untracked();
        if what == NewItem::Function {
            let source = if k == "bpmn" {
                // An empty executable process with an empty diagram, drawn on the canvas.
                starweave_model::bpmn::write_bpmn(&starweave_diagram::new_definitions(&n, &n))
            } else if k == "rhai" {
                "// input: the function's input; return its output.\nlet result = #{ ok: true };\nresult\n".to_owned()
            } else {
                "export default async function (input, ctx) {\n  return { ok: true };\n}\n"
                    .to_owned()
            };
            state.edit(&format!("functions/{n}.{k}"), source);
            state.edit(
                &format!("functions/{n}.yaml"),
                function_spec_to_yaml(&FunctionSpec::default()),
            );
            state.open_tab(TabKind::Function(n));
        } else {
            let connector = match k.as_str() {
                "database" => Connector::Database(DatabaseConnector {
                    url_env: "DATABASE_URL".into(),
                    ..Default::default()
                }),
                "cache" => Connector::Cache(CacheConnector {
                    url_env: "REDIS_URL".into(),
                    ..Default::default()
                }),
                "mq" => Connector::Mq(MqConnector {
                    url_env: "MQ_URL".into(),
                    ..Default::default()
                }),
                "grpc" => Connector::Grpc(GrpcConnector::default()),
                "config" => Connector::Config(ConfigConnector::default()),
                _ => Connector::Http(HttpConnector {
                    base_url: "https://api.example.com".into(),
                    ..Default::default()
                }),
            };
            state.edit(
                &format!("connectors/{n}.yaml"),
                connector_to_yaml(&connector),
            );
            state.open_tab(TabKind::Connector(n));
        }
        state.flush_all();
        adding.set(false);
    };
    view! {
        <form
            class="new-item"
            on:submit=move |ev| {
                ev.prevent_default();
                create();
            }
        >
            <input
                data-testid=format!("{prefix}-name")
                aria-label="Name"
                placeholder="name"
                autofocus
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))
            />
            <select
                data-testid=format!("{prefix}-{}", if what == NewItem::Function { "language" } else { "kind" })
                aria-label="Kind"
                prop:value=move || kind.get()
                on:change=move |ev| kind.set(event_target_value(&ev))
            >
                {options.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
            </select>
            <button
                type="submit"
                class="btn btn-primary btn-small"
                data-testid=format!("{prefix}-create")
                disabled=move || { let n = name.get(); !is_valid_name(&n) || taken(&n) }
            >
                "Create"
            </button>
            {move || {
                let n = name.get();
                taken(&n).then(|| view! {
                    <p class="error-text small" role="status" data-testid=format!("{prefix}-taken")>
                        {format!("`{n}` already exists")}
                    </p>
                })
            }}
        </form>
    }
}
