//! The Git panel: changed files with their diff, commit, history, branches.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::icons::{Icon, Svg};
use crate::api::{self, Branches, Commit, DiffFile, GitStatus};
use crate::state::AppState;

/// The Git panel.
#[component]
pub fn GitPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let status = RwSignal::new(None::<GitStatus>);
    let log = RwSignal::new(Vec::<Commit>::new());
    let branches = RwSignal::new(None::<Branches>);
    let diff = RwSignal::new(None::<(String, Vec<DiffFile>)>);
    let message = RwSignal::new(String::new());
    let feedback = RwSignal::new(None::<(bool, String)>);
    let new_branch = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    // A remote that refused: (its origin, the operation to retry once a token is saved).
    let token_prompt = RwSignal::new(None::<(String, &'static str)>);
    let host_prompt = RwSignal::new(None::<(serde_json::Value, &'static str)>);
    let prompt_user = RwSignal::new(String::new());
    let prompt_token = RwSignal::new(String::new());
    let tokens = RwSignal::new(None::<api::CredentialStore>);
    let load_tokens = move || {
        spawn_local(async move {
            match api::credentials().await {
                Ok(t) => tokens.set(Some(t)),
                Err(e) => feedback.set(Some((false, e.message))),
            }
        });
    };

    let refresh = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        spawn_local(async move {
            match api::git_status(&vms).await {
                Ok(s) => status.set(Some(s)),
                Err(e) => feedback.set(Some((false, e.to_string()))),
            }
            if let Ok(l) = api::git_log(&vms).await {
                log.set(l);
            }
            if let Ok(b) = api::git_branches(&vms).await {
                branches.set(Some(b));
            }
        });
    };
    // Another VMS: forget what was shown for the previous one.
    Effect::new(move |_| {
        state.current.track();
        diff.set(None);
        feedback.set(None);
        status.set(None);
    });
    // Refresh when the panel opens, the VMS changes, a save lands, or the files or the
    // repository changed outside the IDE (a terminal `git commit`, `git checkout`…).
    Effect::new(move |_| {
        state.current.track();
        state.outside_changes.track();
        let saved = state.overall_status();
        if state.bottom.get() == crate::state::BottomPanel::Git
            && saved == crate::state::SaveState::Saved
        {
            refresh();
        }
    });

    let show_diff = move |path: String| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        spawn_local(async move {
            match api::git_diff(&vms, &path).await {
                Ok(d) => diff.set(Some((path, d))),
                Err(e) => feedback.set(Some((false, e.to_string()))),
            }
        });
    };
    let commit = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let msg = message.get_untracked();
        if msg.trim().is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        state.flush_all();
        spawn_local(async move {
            state.saves_landed().await;
            match api::git_commit(&vms, &msg).await {
                Ok(r) => {
                    message.set(String::new());
                    diff.set(None);
                    let id = r
                        .get("id")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .chars()
                        .take(8)
                        .collect::<String>();
                    feedback.set(Some((true, format!("Committed {id}"))));
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
            busy.set(false);
            refresh();
            state.refresh_detail();
        });
    };
    let switch_branch = move |name: String| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        // Edits go to disk first, on this branch: the checkout then carries them over or
        // refuses, rather than leaving them to be restored onto the other branch's files.
        state.flush_all();
        spawn_local(async move {
            state.saves_landed().await;
            match api::git_checkout(&vms, &name).await {
                Ok(_) => {
                    feedback.set(Some((true, format!("Switched to {name}"))));
                    // Files changed under every open buffer: reopen the VMS.
                    let current = vms.clone();
                    state.current.set(None);
                    state.open_vms(current);
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
            refresh();
        });
    };
    // Fetch / pull / push: the answer is shown, the status refreshed.
    let remote_op = move |op: &'static str| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        if op != "fetch" {
            state.flush_all();
        }
        spawn_local(async move {
            let outcome = match op {
                "fetch" => api::git_fetch(&vms).await.map(|s| {
                    let behind = s.get("behind").and_then(|v| v.as_u64()).unwrap_or(0);
                    let ahead = s.get("ahead").and_then(|v| v.as_u64()).unwrap_or(0);
                    format!("Fetched: {ahead} to push, {behind} to pull")
                }),
                "pull" => api::git_pull(&vms).await.map(|r| match r.result.as_str() {
                    "up_to_date" => "Already up to date".to_owned(),
                    "fast_forward" => "Pulled (fast-forward)".to_owned(),
                    "merged" => "Pulled and merged".to_owned(),
                    _ => format!(
                        "Pulled with conflicts in {}: resolve them below, then commit",
                        r.conflicts.join(", ")
                    ),
                }),
                _ => api::git_push(&vms).await.map(|_| "Pushed".to_owned()),
            };
            match outcome {
                Ok(m) => {
                    token_prompt.set(None);
                    host_prompt.set(None);
                    feedback.set(Some((true, m)));
                }
                Err(e) => {
                    if e.code == "remote_auth_failed"
                        && let Some(origin) = e.details.get("origin").and_then(|o| o.as_str())
                    {
                        token_prompt.set(Some((origin.to_owned(), op)));
                    }
                    if e.code == "unknown_host_key" {
                        host_prompt.set(Some((e.details.clone(), op)));
                    }
                    feedback.set(Some((false, e.message)));
                }
            }
            busy.set(false);
            refresh();
            state.refresh_detail();
        });
    };
    // Resolve one conflicted file; `file` first saves the buffer the user edited.
    let resolve = move |path: String, take: &'static str| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        spawn_local(async move {
            if take == "file" {
                state.flush_all();
                for _ in 0..50 {
                    if state.overall_status() == crate::state::SaveState::Saved {
                        break;
                    }
                    crate::state::sleep_ms(100).await;
                }
            }
            match api::git_resolve(&vms, &path, take).await {
                Ok(_) => {
                    let how = match take {
                        "ours" => "kept this branch's version",
                        "theirs" => "took the incoming version",
                        _ => "marked resolved",
                    };
                    feedback.set(Some((true, format!("{path}: {how}"))));
                    state.reload(&path);
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
            refresh();
            state.refresh_detail();
        });
    };
    let conflicted = move || {
        status.with(|s| {
            s.iter()
                .flat_map(|s| s.files.iter())
                .filter(|f| f.status == "conflicted")
                .map(|f| f.path.clone())
                .collect::<Vec<_>>()
        })
    };

    let create_branch = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let name = new_branch.get_untracked();
        if name.trim().is_empty() {
            return;
        }
        spawn_local(async move {
            match api::git_create_branch(&vms, &name).await {
                Ok(_) => {
                    new_branch.set(String::new());
                    feedback.set(Some((true, format!("Created branch {name}"))));
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
            refresh();
        });
    };

    view! {
        <div class="git" data-testid="git-panel" role="region" aria-label="Git">
            <div class="git-col">
                <div class="section-title">
                    <Svg icon=Icon::Branch />
                    {move || status.with(|s| s.as_ref().map(|s| s.branch.clone()).unwrap_or_default())}
                    <span class="muted small">{move || status.with(|s| s.as_ref().map(|s| format!("{} changed", s.files.len())).unwrap_or_default())}</span>
                    <div class="spacer"></div>
                    <button class="btn btn-small btn-ghost" on:click=move |_| refresh()>"Refresh"</button>
                </div>
                <div class="git-remote" data-testid="git-remote">
                    {move || status.with(|s| match s.as_ref().and_then(|s| s.upstream.clone().map(|u| (u, s.ahead, s.behind))) {
                        Some((upstream, ahead, behind)) => view! {
                            <span class="muted small" title="The upstream branch">{upstream}</span>
                            <span class="divergence small" data-testid="git-ahead" title="Commits to push">{format!("↑{ahead}")}</span>
                            <span class="divergence small" class:behind={behind > 0} data-testid="git-behind" title="Commits to pull">{format!("↓{behind}")}</span>
                        }.into_any(),
                        None => view! { <span class="muted small">"No upstream branch"</span> }.into_any(),
                    })}
                    <div class="spacer"></div>
                    <button class="btn btn-small" data-testid="git-fetch" disabled=move || busy.get() on:click=move |_| remote_op("fetch")>"Fetch"</button>
                    <button class="btn btn-small" data-testid="git-pull" disabled=move || busy.get() on:click=move |_| remote_op("pull")>"Pull"</button>
                    <button class="btn btn-small" data-testid="git-push" disabled=move || busy.get() on:click=move |_| remote_op("push")>"Push"</button>
                </div>
                {move || host_prompt.get().map(|(key, op)| view! {
                    <super::topbar::HostKeyPrompt key=key action=op
                        on_trusted=Callback::new(move |()| { host_prompt.set(None); remote_op(op); })
                        on_cancel=Callback::new(move |()| host_prompt.set(None)) />
                })}
                {move || token_prompt.get().map(|(origin, op)| {
                    let save_origin = origin.clone();
                    let save = move || {
                        let origin = save_origin.clone();
                        let (user, token) = (prompt_user.get_untracked(), prompt_token.get_untracked());
                        spawn_local(async move {
                            match api::store_credential(&origin, &user, &token).await {
                                Ok(answer) => {
                                    prompt_token.set(String::new());
                                    token_prompt.set(None);
                                    let kept = if answer["persistent"] == true { "kept in the system keyring" } else { "kept until Starweave stops (no system keyring)" };
                                    feedback.set(Some((true, format!("Token for {origin} {kept}"))));
                                    if tokens.get_untracked().is_some() {
                                        load_tokens();
                                    }
                                    remote_op(op);
                                }
                                Err(e) => feedback.set(Some((false, e.message))),
                            }
                        });
                    };
                    view! {
                        <form class="git-token-prompt" data-testid="git-token-prompt" on:submit=move |ev| { ev.prevent_default(); save(); }>
                            <p class="small">{format!("{origin} wants an access token.")}</p>
                            <super::topbar::TokenFields username=prompt_user token=prompt_token />
                            <div class="dialog-actions">
                                <button type="button" class="btn btn-small" on:click=move |_| token_prompt.set(None)>"Cancel"</button>
                                <button type="submit" class="btn btn-small btn-primary" data-testid="git-token-save"
                                    disabled=move || prompt_token.with(|t| t.trim().is_empty())>{format!("Save and {op}")}</button>
                            </div>
                        </form>
                    }
                })}
                <Show when=move || status.with(|s| s.as_ref().is_some_and(|s| s.merging)) || !conflicted().is_empty()>
                    <div class="git-conflicts" data-testid="git-conflicts" role="region" aria-label="Merge conflicts">
                        {move || {
                            let files = conflicted();
                            if files.is_empty() {
                                view! { <p class="small">"Every conflict is resolved: commit to conclude the merge."</p> }.into_any()
                            } else {
                                view! {
                                    <p class="small">"Merge conflicts: take one side, or open the file, edit the markers away and mark it resolved. Then commit."</p>
                                    <ul>
                                        {files.into_iter().map(|path| {
                                            let (p1, p2, p3, p4) = (path.clone(), path.clone(), path.clone(), path.clone());
                                            view! {
                                                <li data-testid=format!("git-conflict-{path}")>
                                                    <span class="mono small" title=path.clone()>{path.clone()}</span>
                                                    <button class="btn btn-small btn-ghost" data-testid=format!("git-conflict-open-{path}") on:click=move |_| state.reveal_at(&p1, 1, 1)>"Open"</button>
                                                    <button class="btn btn-small" data-testid=format!("git-conflict-ours-{path}") on:click=move |_| resolve(p2.clone(), "ours")>"Take mine"</button>
                                                    <button class="btn btn-small" data-testid=format!("git-conflict-theirs-{path}") on:click=move |_| resolve(p3.clone(), "theirs")>"Take theirs"</button>
                                                    <button class="btn btn-small btn-primary" data-testid=format!("git-conflict-resolved-{path}") on:click=move |_| resolve(p4.clone(), "file")>"Mark resolved"</button>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }
                        }}
                    </div>
                </Show>
                <ul class="git-files">
                    {move || status.with(|s| s.iter().flat_map(|s| s.files.clone()).map(|f| {
                        let p = f.path.clone();
                        let selected = {
                            let p = f.path.clone();
                            move || diff.with(|d| d.as_ref().is_some_and(|d| d.0 == p))
                        };
                        view! {
                            <li>
                                <button class="git-file" class:active=selected data-testid=format!("git-file-{}", f.path) on:click=move |_| show_diff(p.clone())>
                                    <span class=format!("git-status st-{}", f.status)>{f.status.chars().next().map(|c| c.to_ascii_uppercase().to_string()).unwrap_or_default()}</span>
                                    <span class="mono small">{f.path.clone()}</span>
                                </button>
                            </li>
                        }
                    }).collect_view())}
                </ul>
                <form class="commit-form" on:submit=move |ev| { ev.prevent_default(); commit(); }>
                    <textarea rows="2" placeholder="Commit message" aria-label="Commit message" data-testid="git-commit-message"
                        prop:value=move || message.get() on:input=move |ev| message.set(event_target_value(&ev))
                        on:keydown=move |ev| { if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) { ev.prevent_default(); ev.stop_propagation(); commit(); } }></textarea>
                    <button type="submit" class="btn btn-primary btn-small" data-testid="git-commit-button"
                        disabled=move || busy.get() || message.with(|m| m.trim().is_empty())>"Commit all"</button>
                </form>
                {move || feedback.get().map(|(ok, m)| view! { <p class={if ok { "ok-text small" } else { "error-text small" }} role="status">{m}</p> })}
                <details class="git-tokens" data-testid="git-tokens" on:toggle=move |_| { if tokens.get_untracked().is_none() { load_tokens(); } }>
                    <summary class="small">"Access tokens"</summary>
                    {move || tokens.get().map(|t| {
                        let where_ = if t.persistent {
                            "Kept in the system keyring.".to_owned()
                        } else {
                            format!("Kept in memory until Starweave stops: {}.", t.reason.clone().unwrap_or_default())
                        };
                        view! {
                            <p class="muted small" data-testid="git-tokens-store">{where_}</p>
                            <ul>
                                {t.credentials.into_iter().map(|c| {
                                    let origin = c.origin.clone();
                                    view! {
                                        <li data-testid=format!("git-token-{}", c.origin)>
                                            <span class="mono small">{c.origin.clone()}</span>
                                            <span class="muted small">{c.username.clone()}</span>
                                            <button class="btn btn-small btn-ghost" on:click=move |_| {
                                                let origin = origin.clone();
                                                spawn_local(async move {
                                                    match api::remove_credential(&origin).await {
                                                        Ok(_) => feedback.set(Some((true, format!("Forgot the token for {origin}")))),
                                                        Err(e) => feedback.set(Some((false, e.message))),
                                                    }
                                                    load_tokens();
                                                });
                                            }>"Forget"</button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }
                    })}
                </details>
            </div>
            <div class="git-diff" aria-label="Diff">
                {move || match diff.get() {
                    None => view! { <p class="muted small pad">"Select a changed file to see its diff."</p> }.into_any(),
                    Some((_, files)) => files.into_iter().map(|f| view! {
                        <div class="diff-file">
                            <div class="mono small diff-path">{f.path.clone()}</div>
                            {f.hunks.into_iter().map(|h| view! {
                                <div class="hunk">
                                    <div class="hunk-header mono small">{h.header.clone()}</div>
                                    {h.lines.into_iter().map(|l| view! {
                                        <div class=format!("diff-line {}", l.kind)>
                                            <span class="ln">{l.old_line.map(|n| n.to_string()).unwrap_or_default()}</span>
                                            <span class="ln">{l.new_line.map(|n| n.to_string()).unwrap_or_default()}</span>
                                            <span class="sign">{match l.kind.as_str() { "add" => "+", "remove" => "-", _ => " " }}</span>
                                            <span class="code">{l.text.trim_end_matches('\n').to_owned()}</span>
                                        </div>
                                    }).collect_view()}
                                </div>
                            }).collect_view()}
                        </div>
                    }).collect_view().into_any(),
                }}
            </div>
            <div class="git-col">
                <div class="section-title">"Branches"</div>
                <ul class="branches">
                    {move || branches.with(|b| b.iter().flat_map(|b| {
                        let current = b.current.clone();
                        b.branches.iter().map(move |br| (br.name.clone(), br.name == current)).collect::<Vec<_>>()
                    }).map(|(name, current)| {
                        let n = name.clone();
                        view! {
                            <li>
                                <button class="branch" class:active=current disabled=current data-testid=format!("git-branch-{name}") on:click=move |_| switch_branch(n.clone())>
                                    <Svg icon=Icon::Branch /><span>{name.clone()}</span>
                                </button>
                            </li>
                        }
                    }).collect_view())}
                </ul>
                <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); create_branch(); }>
                    <input placeholder="new-branch" aria-label="New branch name" data-testid="git-new-branch"
                        prop:value=move || new_branch.get() on:input=move |ev| new_branch.set(event_target_value(&ev)) />
                    <button type="submit" class="btn btn-small" data-testid="git-create-branch">"Create"</button>
                </form>
                <div class="section-title">"History"</div>
                <ol class="history-list">
                    {move || log.get().into_iter().map(|c| view! {
                        <li title=c.id.clone()>
                            <span class="mono small muted">{c.id.chars().take(7).collect::<String>()}</span>
                            <span class="small">{c.summary.clone()}</span>
                            <span class="muted small">{c.author.clone()}</span>
                        </li>
                    }).collect_view()}
                </ol>
            </div>
        </div>
    }
}
