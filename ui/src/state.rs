//! Application state: plain Rust data in signals, shared through context, and the live-save
//! machinery for open files.
//!
//! Every open file is a [`Doc`]: its text lives in one signal that every view of the file
//! (Monaco, a form, the raw YAML toggle) reads and writes. An edit goes through
//! [`AppState::edit`], which mirrors the buffer to `localStorage` at once (a reload restores
//! it) and schedules a debounced `PUT`. At most one write per file is in flight; edits made
//! meanwhile are sent by one more write when it returns, so no keystroke is lost.

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use starweave_model::Diagnostic;

use crate::api::{self, ApiError, BuiltinInfo, VmsDetail, VmsSummary};

/// Debounce between the last keystroke and the write.
pub const SAVE_DEBOUNCE: Duration = Duration::from_millis(500);

/// Where a file's buffer stands relative to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveState {
    /// Same as on the server.
    #[default]
    Saved,
    /// Changed, write not sent yet.
    Unsaved,
    /// A write is in flight.
    Saving,
    /// The last write failed; the buffer is kept.
    Error,
}

impl SaveState {
    /// The text of the `save-status` indicator.
    pub fn label(self) -> &'static str {
        match self {
            SaveState::Saved => "Saved",
            SaveState::Unsaved => "Unsaved",
            SaveState::Saving => "Saving…",
            SaveState::Error => "Error",
        }
    }
}

/// An open file: its text and whether it has been loaded yet.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// The current buffer (the truth for every view of the file).
    pub text: RwSignal<String>,
    /// False until the first read answered.
    pub loaded: RwSignal<bool>,
}

#[derive(Debug, Default)]
struct SaveSlot {
    etag: Option<String>,
    in_flight: bool,
    again: bool,
    timer: Option<TimeoutHandle>,
    /// The file could not be read (not text, too large): its empty buffer is never written
    /// over it.
    unreadable: bool,
    /// A change on disk reported while a write was in flight: looked at once the write
    /// answers (the write may have landed before it, and then nothing refuses it).
    changed_meanwhile: Option<api::FileChange>,
}

/// What an item tab shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TabKind {
    /// A function: source, parameters, run & debug.
    Function(String),
    /// A connector: settings and methods.
    Connector(String),
    /// A trigger, by its index in `triggers.yaml`.
    Trigger(usize),
    /// An env var declaration.
    Env(String),
    /// A test case file.
    Test(String, String),
    /// Any file, raw.
    File(String),
}

/// An open tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tab {
    /// Stable id, used in `data-testid="tab-<id>"`.
    pub id: String,
    /// What it shows.
    pub kind: TabKind,
    /// Its label.
    pub title: String,
}

impl Tab {
    /// The tab of an item.
    pub fn new(kind: TabKind) -> Tab {
        let (id, title) = match &kind {
            TabKind::Function(n) => (format!("function-{n}"), n.clone()),
            TabKind::Connector(n) => (format!("connector-{n}"), n.clone()),
            TabKind::Trigger(i) => (format!("trigger-{i}"), format!("trigger #{i}")),
            TabKind::Env(n) => (format!("env-{n}"), n.clone()),
            TabKind::Test(f, n) => (format!("test-{f}-{n}"), format!("{f}/{n}")),
            TabKind::File(p) => (
                format!("file-{}", p.replace('/', "-")),
                p.rsplit('/').next().unwrap_or(p).to_owned(),
            ),
        };
        Tab { id, kind, title }
    }
}

/// A failed write, shown in the problems panel until the file saves.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveProblem {
    /// The file.
    pub path: String,
    /// What the server said.
    pub message: String,
}

/// A file whose buffer has edits the disk copy does not have, while the disk copy changed
/// too: a write refused with `409`, or a change made outside the IDE (the file watcher).
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The file.
    pub path: String,
    /// What is on disk now (empty when it was deleted).
    pub theirs: String,
    /// The etag of `theirs`, when known: "keep mine" writes over exactly that version.
    pub theirs_etag: Option<String>,
    /// The file was deleted on disk.
    pub deleted: bool,
}

/// Which bottom panel is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BottomPanel {
    /// Diagnostics.
    Problems,
    /// Git.
    Git,
    /// Deploy to compute engines.
    Deploy,
    /// The deployed VMS's recent log lines on its engines.
    Logs,
}

/// Everything the components share, as copyable signal handles.
#[derive(Debug, Clone, Copy)]
pub struct AppState {
    /// The workspace's VMS.
    pub vms_list: RwSignal<Vec<VmsSummary>>,
    /// The open VMS.
    pub current: RwSignal<Option<String>>,
    /// Its detail, `None` while loading.
    pub detail: RwSignal<Option<VmsDetail>>,
    /// Open tabs, in order.
    pub tabs: RwSignal<Vec<Tab>>,
    /// Id of the active tab.
    pub active: RwSignal<Option<String>>,
    /// Diagnostics of the whole VMS (from the last write or load).
    pub diagnostics: RwSignal<Vec<Diagnostic>>,
    /// Failed writes.
    pub save_problems: RwSignal<Vec<SaveProblem>>,
    /// Save state per open file.
    pub statuses: RwSignal<HashMap<String, SaveState>>,
    /// A conflict waiting for the user.
    pub conflict: RwSignal<Option<Conflict>>,
    /// Dark theme?
    pub dark: RwSignal<bool>,
    /// A request to show a file at a line: (path, line, column, nonce).
    pub reveal: RwSignal<Option<(String, u32, u32, u64)>>,
    /// Bumped by Ctrl+Enter: the active function tab runs.
    pub run_request: RwSignal<u64>,
    /// Expression built-ins (completion).
    pub builtins: RwSignal<Vec<BuiltinInfo>>,
    /// The bottom panel shown.
    pub bottom: RwSignal<BottomPanel>,
    /// A global error line (failed loads).
    pub banner: RwSignal<Option<String>>,
    /// A request to select a BPMN element on its diagram: (path, element id, nonce).
    pub reveal_element: RwSignal<Option<(String, String, u64)>>,
    /// Bumped when the open VMS's files or Git state changed outside the IDE: the Git panel
    /// refreshes.
    pub outside_changes: RwSignal<u64>,
    docs: StoredValue<HashMap<String, Doc>>,
    slots: StoredValue<HashMap<String, SaveSlot>>,
}

thread_local! {
    static ROOT_OWNER: std::cell::RefCell<Option<Owner>> = const { std::cell::RefCell::new(None) };
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Reads a value from `localStorage`.
pub fn load_local(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

/// Writes a value to `localStorage` (quota errors are ignored: the server copy still counts).
pub fn store_local(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

/// Removes a value from `localStorage`.
pub fn remove_local(key: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(key);
    }
}

impl AppState {
    /// Fresh state; the theme comes from `localStorage` or the system preference.
    pub fn new() -> AppState {
        ROOT_OWNER.with(|r| *r.borrow_mut() = Owner::current());
        let dark = match load_local("starweave.theme").as_deref() {
            Some("dark") => true,
            Some("light") => false,
            _ => web_sys::window()
                .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
                .is_some_and(|m| m.matches()),
        };
        AppState {
            vms_list: RwSignal::new(Vec::new()),
            current: RwSignal::new(None),
            detail: RwSignal::new(None),
            tabs: RwSignal::new(Vec::new()),
            active: RwSignal::new(None),
            diagnostics: RwSignal::new(Vec::new()),
            save_problems: RwSignal::new(Vec::new()),
            statuses: RwSignal::new(HashMap::new()),
            conflict: RwSignal::new(None),
            dark: RwSignal::new(dark),
            reveal: RwSignal::new(None),
            run_request: RwSignal::new(0),
            builtins: RwSignal::new(Vec::new()),
            bottom: RwSignal::new(BottomPanel::Problems),
            banner: RwSignal::new(None),
            reveal_element: RwSignal::new(None),
            outside_changes: RwSignal::new(0),
            docs: StoredValue::new(HashMap::new()),
            slots: StoredValue::new(HashMap::new()),
        }
    }

    /// The overall save state shown in the top bar.
    pub fn overall_status(&self) -> SaveState {
        self.statuses.with(|s| {
            let has = |st: SaveState| s.values().any(|v| *v == st);
            if has(SaveState::Error) {
                SaveState::Error
            } else if has(SaveState::Saving) {
                SaveState::Saving
            } else if has(SaveState::Unsaved) {
                SaveState::Unsaved
            } else {
                SaveState::Saved
            }
        })
    }

    fn set_status(&self, path: &str, state: SaveState) {
        self.statuses.update(|s| {
            s.insert(path.to_owned(), state);
        });
    }

    fn local_key(&self, path: &str) -> String {
        format!(
            "starweave.buf.{}/{}",
            self.current.get_untracked().unwrap_or_default(),
            path
        )
    }

    /// Opens (or returns) the buffer of a file, loading it on first use. An unsaved buffer
    /// left in `localStorage` by an earlier session wins over the server copy and is saved.
    pub fn doc(&self, path: &str) -> Doc {
        if let Some(doc) = self.docs.with_value(|d| d.get(path).copied()) {
            return doc;
        }
        // Buffers outlive the component that first asked for them (a dialog that closes, a
        // tab): their signals belong to the app's root owner.
        let make = || Doc {
            text: RwSignal::new(String::new()),
            loaded: RwSignal::new(false),
        };
        let doc = ROOT_OWNER
            .with(|r| r.borrow().as_ref().map(|o| o.with(make)))
            .unwrap_or_else(make);
        self.docs.update_value(|d| {
            d.insert(path.to_owned(), doc);
        });
        let this = *self;
        let path = path.to_owned();
        let Some(vms) = self.current.get_untracked() else {
            return doc;
        };
        spawn_local(async move {
            let local = load_local(&this.local_key(&path))
                .and_then(|s| serde_json::from_str::<Value>(&s).ok());
            let result = api::read_file(&vms, &path).await;
            // Another VMS is open now: this buffer, and the backup it names, are not its.
            if this.current.get_untracked().as_deref() != Some(vms.as_str()) {
                return;
            }
            // Edited before the read answered (a file just created): the buffer wins, and
            // goes out now that the write may be sent.
            if this.statuses.with_untracked(|s| {
                matches!(s.get(&path), Some(SaveState::Unsaved | SaveState::Saving))
            }) {
                if let Ok(file) = &result {
                    this.slots.update_value(|s| {
                        let slot = s.entry(path.clone()).or_default();
                        if slot.etag.is_none() && !slot.in_flight {
                            slot.etag = file.etag.clone();
                        }
                    });
                }
                doc.loaded.set(true);
                this.flush(&path);
                return;
            }
            match result {
                Ok(file) => {
                    this.slots.update_value(|s| {
                        s.entry(path.clone()).or_default().etag = file.etag.clone()
                    });
                    let restored = local
                        .as_ref()
                        .and_then(|l| l["content"].as_str())
                        .map(str::to_owned);
                    match restored {
                        Some(mine) if mine != file.content => {
                            // Save against the version the buffer was based on, so a file that
                            // changed on disk meanwhile raises the conflict prompt.
                            let base = local
                                .as_ref()
                                .and_then(|l| l["etag"].as_str())
                                .map(str::to_owned);
                            this.slots.update_value(|s| {
                                s.entry(path.clone()).or_default().etag = base.or(file.etag)
                            });
                            doc.text.set(mine);
                            doc.loaded.set(true);
                            this.set_status(&path, SaveState::Unsaved);
                            this.flush(&path);
                        }
                        _ => {
                            remove_local(&this.local_key(&path));
                            doc.text.set(file.content);
                            doc.loaded.set(true);
                            this.set_status(&path, SaveState::Saved);
                        }
                    }
                }
                Err(err) if err.status == 404 => {
                    // A file that does not exist yet (a new parameters file): start empty.
                    if let Some(mine) = local.as_ref().and_then(|l| l["content"].as_str()) {
                        doc.text.set(mine.to_owned());
                        this.set_status(&path, SaveState::Unsaved);
                        this.flush(&path);
                    }
                    doc.loaded.set(true);
                }
                Err(err) => {
                    this.slots.update_value(|s| {
                        s.entry(path.clone()).or_default().unreadable = true;
                    });
                    this.save_problems.update(|p| {
                        p.push(SaveProblem {
                            path: path.clone(),
                            message: format!("cannot read, so it is not saved from here: {err}"),
                        })
                    });
                    doc.loaded.set(true);
                }
            }
        });
        doc
    }

    /// Records an edit of a file and schedules its write.
    pub fn edit(&self, path: &str, text: String) {
        let doc = self.doc(path);
        // The editor reports the text the IDE itself put there (a reload from disk) as an
        // edit too: an unchanged, saved buffer stays as it is.
        if doc.loaded.get_untracked()
            && doc.text.with_untracked(|t| *t == text)
            && self
                .statuses
                .with_untracked(|s| s.get(path).is_none_or(|s| *s == SaveState::Saved))
        {
            return;
        }
        let etag = self
            .slots
            .with_value(|s| s.get(path).and_then(|s| s.etag.clone()));
        store_local(
            &self.local_key(path),
            &json!({ "content": &text, "etag": etag }).to_string(),
        );
        if doc.text.with_untracked(|t| *t != text) {
            doc.text.set(text);
        }
        if self
            .statuses
            .with_untracked(|s| s.get(path) != Some(&SaveState::Saving))
        {
            self.set_status(path, SaveState::Unsaved);
        }
        let this = *self;
        let p = path.to_owned();
        // A timer outlives a switch to another VMS: it saves only in the VMS it was set in.
        let vms = self.current.get_untracked();
        let handle = set_timeout_with_handle(
            move || {
                if this.current.get_untracked() == vms {
                    this.flush(&p);
                }
            },
            SAVE_DEBOUNCE,
        )
        .ok();
        self.slots.update_value(|s| {
            let slot = s.entry(path.to_owned()).or_default();
            if let Some(old) = slot.timer.take() {
                old.clear();
            }
            slot.timer = handle;
        });
    }

    /// Waits (up to five seconds) until no write is in flight, so that what the server reads
    /// next (a run, a commit, a connection test) is what the editors show.
    pub async fn saves_landed(&self) {
        for _ in 0..100 {
            if !self
                .statuses
                .with_untracked(|s| s.values().any(|v| *v == SaveState::Saving))
            {
                return;
            }
            let pause = js_sys::Promise::new(&mut |resolve, _| {
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 50);
                }
            });
            let _ = wasm_bindgen_futures::JsFuture::from(pause).await;
        }
    }

    /// Writes every unsaved buffer now (Ctrl+S).
    pub fn flush_all(&self) {
        let pending: Vec<String> = self.statuses.with_untracked(|s| {
            s.iter()
                .filter(|(_, v)| matches!(v, SaveState::Unsaved | SaveState::Error))
                .map(|(k, _)| k.clone())
                .collect()
        });
        for path in pending {
            self.flush(&path);
        }
    }

    /// Sends the latest buffer of `path`, or queues one more write if one is in flight.
    pub fn flush(&self, path: &str) {
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let Some(doc) = self.docs.with_value(|d| d.get(path).copied()) else {
            return;
        };
        // Not read yet: its text is not the file's (the read's answer saves what it must).
        // Unreadable: its empty text would replace content the IDE could not show.
        if !doc.loaded.get_untracked()
            || self
                .slots
                .with_value(|s| s.get(path).is_some_and(|s| s.unreadable))
        {
            return;
        }
        let mut busy = false;
        let mut etag = None;
        self.slots.update_value(|s| {
            let slot = s.entry(path.to_owned()).or_default();
            if let Some(t) = slot.timer.take() {
                t.clear();
            }
            if slot.in_flight {
                slot.again = true;
                busy = true;
            } else {
                slot.in_flight = true;
                etag = slot.etag.clone();
            }
        });
        if busy {
            return;
        }
        let sent = doc.text.get_untracked();
        self.set_status(path, SaveState::Saving);
        let this = *self;
        let path = path.to_owned();
        spawn_local(async move {
            let result = api::write_file(&vms, &path, &sent, etag.as_deref()).await;
            // Another VMS is open now: its save state is not this write's.
            if this.current.get_untracked().as_deref() != Some(vms.as_str()) {
                return;
            }
            let mut again = false;
            let mut changed_meanwhile = None;
            this.slots.update_value(|s| {
                let slot = s.entry(path.clone()).or_default();
                slot.in_flight = false;
                again = std::mem::take(&mut slot.again);
                changed_meanwhile = slot.changed_meanwhile.take();
                if let Ok(w) = &result {
                    slot.etag = w.etag.clone();
                }
            });
            // A change reported while this write was on its way that is not the write
            // itself: another program wrote after it.
            if let (Ok(w), Some(change)) = (&result, changed_meanwhile)
                && change.etag != w.etag
            {
                spawn_local(async move { this.file_changed_on_disk(&change) });
            }
            match result {
                Ok(w) => {
                    this.save_problems.update(|p| p.retain(|p| p.path != path));
                    this.diagnostics.set(w.diagnostics);
                    let now = doc.text.get_untracked();
                    if now == sent && !again {
                        remove_local(&this.local_key(&path));
                        this.set_status(&path, SaveState::Saved);
                        this.refresh_detail();
                    } else {
                        this.flush(&path);
                    }
                }
                Err(err) => this.save_failed(&path, err),
            }
        });
    }

    fn save_failed(&self, path: &str, err: ApiError) {
        self.set_status(path, SaveState::Error);
        if err.code == "conflict" {
            let theirs = err
                .details
                .get("current")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let theirs_etag = err
                .details
                .get("etag")
                .and_then(Value::as_str)
                .map(str::to_owned);
            self.conflict.set(Some(Conflict {
                path: path.to_owned(),
                deleted: err.details.get("current").is_some_and(Value::is_null),
                theirs,
                theirs_etag,
            }));
        }
        let message = match err.code.as_str() {
            "too_large" => format!("not saved, the file is too large: {}", err.message),
            "conflict" => "not saved: the file changed on disk".to_owned(),
            _ => format!("not saved: {err}"),
        };
        self.save_problems.update(|p| {
            p.retain(|p| p.path != path);
            p.push(SaveProblem {
                path: path.to_owned(),
                message,
            });
        });
        self.bottom.set(BottomPanel::Problems);
    }

    /// Resolves a conflict: overwrite the disk copy with the buffer. The write names the
    /// disk version the user saw, so a third change meanwhile asks again.
    pub fn keep_mine(&self, path: &str) {
        let base = self
            .conflict
            .get_untracked()
            .filter(|c| c.path == path)
            .and_then(|c| c.theirs_etag);
        self.conflict.set(None);
        self.slots
            .update_value(|s| s.entry(path.to_owned()).or_default().etag = base);
        self.set_status(path, SaveState::Unsaved);
        self.flush(path);
    }

    /// Resolves a conflict: replace the buffer with the disk copy.
    pub fn take_theirs(&self, path: &str, theirs: String) {
        let deleted = self
            .conflict
            .get_untracked()
            .is_some_and(|c| c.path == path && c.deleted);
        self.conflict.set(None);
        if deleted {
            self.forget_deleted(path);
            return;
        }
        let doc = self.doc(path);
        doc.text.set(theirs);
        remove_local(&self.local_key(path));
        self.save_problems.update(|p| p.retain(|p| p.path != path));
        let this = *self;
        let path = path.to_owned();
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        spawn_local(async move {
            if let Ok(file) = api::read_file(&vms, &path).await {
                this.slots
                    .update_value(|s| s.entry(path.clone()).or_default().etag = file.etag);
                doc.text.set(file.content);
            }
            this.set_status(&path, SaveState::Saved);
        });
    }

    /// Replaces a buffer with the disk copy (after the server wrote the file itself).
    pub fn reload(&self, path: &str) {
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let doc = self.doc(path);
        let this = *self;
        let path = path.to_owned();
        spawn_local(async move {
            if let Ok(file) = api::read_file(&vms, &path).await {
                this.slots
                    .update_value(|s| s.entry(path.clone()).or_default().etag = file.etag);
                remove_local(&this.local_key(&path));
                doc.text.set(file.content);
                doc.loaded.set(true);
                this.set_status(&path, SaveState::Saved);
            }
        });
    }

    /// Re-reads the VMS detail (explorer, parameters) after a write.
    pub fn refresh_detail(&self) {
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let this = *self;
        spawn_local(async move {
            if let Ok(detail) = api::vms_detail(&vms).await
                && this.current.get_untracked().as_deref() == Some(detail.name.as_str())
            {
                this.update_completions(&detail);
                this.detail.set(Some(detail));
            }
        });
    }

    /// Opens a VMS: closes tabs of the previous one and loads the detail.
    pub fn open_vms(&self, name: String) {
        if self.current.get_untracked().as_deref() == Some(name.as_str()) {
            return;
        }
        store_local("starweave.vms", &name);
        self.tabs.set(Vec::new());
        self.active.set(None);
        self.docs.update_value(|d| d.clear());
        // Pending save timers belong to the VMS being left (they check that too).
        self.slots.update_value(|s| {
            for slot in s.values_mut() {
                if let Some(timer) = slot.timer.take() {
                    timer.clear();
                }
            }
            s.clear();
        });
        self.statuses.set(HashMap::new());
        self.save_problems.set(Vec::new());
        self.diagnostics.set(Vec::new());
        self.detail.set(None);
        self.current.set(Some(name.clone()));
        let this = *self;
        spawn_local(async move {
            match api::vms_detail(&name).await {
                Ok(detail) => {
                    this.diagnostics.set(detail.diagnostics.clone());
                    this.update_completions(&detail);
                    if let Ok(dts) = api::ctx_declaration(&name).await
                        && !dts.trim().is_empty()
                    {
                        crate::monaco::set_js_declarations(&dts);
                    } else {
                        crate::monaco::set_js_declarations(
                            &crate::components::completion::ctx_dts(&detail),
                        );
                    }
                    this.detail.set(Some(detail));
                    this.restore_tabs(&name);
                }
                Err(err) => this.banner.set(Some(format!("Cannot open {name}: {err}"))),
            }
            mark_ready();
        });
    }

    fn update_completions(&self, detail: &VmsDetail) {
        let data =
            crate::components::completion::completion_data(detail, &self.builtins.get_untracked());
        crate::monaco::set_completions(&data);
    }

    /// Opens a tab (or focuses it when open).
    pub fn open_tab(&self, kind: TabKind) {
        let tab = Tab::new(kind);
        let id = tab.id.clone();
        self.tabs.update(|t| {
            if !t.iter().any(|x| x.id == tab.id) {
                t.push(tab);
            }
        });
        self.active.set(Some(id));
        self.remember_tabs();
    }

    /// Closes a tab; the neighbour becomes active.
    pub fn close_tab(&self, id: &str) {
        let mut next = None;
        self.tabs.update(|t| {
            if let Some(i) = t.iter().position(|x| x.id == id) {
                t.remove(i);
                next = t
                    .get(i.min(t.len().saturating_sub(1)))
                    .map(|x| x.id.clone());
            }
        });
        if self.active.get_untracked().as_deref() == Some(id) {
            self.active.set(next);
        }
        self.remember_tabs();
    }

    fn remember_tabs(&self) {
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let kinds: Vec<Value> = self
            .tabs
            .with_untracked(|t| t.iter().map(|t| tab_to_json(&t.kind)).collect());
        let active = self.active.get_untracked();
        store_local(
            &format!("starweave.tabs.{vms}"),
            &json!({ "tabs": kinds, "active": active }).to_string(),
        );
    }

    fn restore_tabs(&self, vms: &str) {
        let Some(saved) = load_local(&format!("starweave.tabs.{vms}"))
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        else {
            return;
        };
        let tabs: Vec<Tab> = saved["tabs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(tab_from_json)
            .map(Tab::new)
            .collect();
        let active = saved["active"]
            .as_str()
            .map(str::to_owned)
            .filter(|a| tabs.iter().any(|t| &t.id == a));
        let active = active.or_else(|| tabs.first().map(|t| t.id.clone()));
        self.tabs.set(tabs);
        self.active.set(active);
    }

    /// Shows a file at a line: opens the tab that edits it and moves the cursor.
    pub fn reveal_at(&self, path: &str, line: u32, column: u32) {
        let kind = self
            .detail
            .with_untracked(|d| {
                let d = d.as_ref()?;
                d.functions
                    .iter()
                    .find(|f| f.file == path)
                    .map(|f| TabKind::Function(f.name.clone()))
            })
            .unwrap_or_else(|| TabKind::File(path.to_owned()));
        self.open_tab(kind);
        let nonce = js_sys::Date::now() as u64;
        self.reveal
            .set(Some((path.to_owned(), line, column, nonce)));
    }
}

impl AppState {
    /// Shows a BPMN element: opens the function of `path` and selects the element's shape.
    pub fn reveal_element_in(&self, path: &str, element: &str) {
        self.reveal_at(path, 1, 1);
        let nonce = js_sys::Date::now() as u64;
        self.reveal_element
            .set(Some((path.to_owned(), element.to_owned(), nonce)));
    }
}

impl AppState {
    /// Follows `GET /events` for as long as the page lives: files changed outside the IDE
    /// reload in open tabs (or raise the conflict prompt when the tab has unsaved edits), the
    /// explorer, the VMS list, the branch and the Git panel refresh.
    pub fn follow_outside_changes(&self) {
        let this = *self;
        spawn_local(async move {
            let mut position: Option<(String, u64)> = None;
            loop {
                let answer = api::events(position.as_ref().map(|(s, n)| (s.as_str(), *n))).await;
                match answer {
                    Ok(answer) => {
                        if answer.reset {
                            this.resync();
                        }
                        for event in answer.events {
                            this.apply_outside_change(event);
                        }
                        position = Some((answer.stream, answer.seq));
                    }
                    // The server is gone for now (restarting, or the laptop slept): try again
                    // a bit later from the same position; a new server run answers `reset`.
                    Err(_) => sleep_ms(2000).await,
                }
            }
        });
    }

    fn apply_outside_change(&self, event: api::ChangeEvent) {
        let listed = self
            .vms_list
            .with_untracked(|l| l.iter().any(|v| v.name == event.vms));
        if !listed || event.git.is_some() || event.files.iter().any(|f| f.path == "vms.yaml") {
            self.refresh_vms_list();
        }
        if self.current.get_untracked().as_deref() != Some(event.vms.as_str()) {
            return;
        }
        for file in &event.files {
            self.file_changed_on_disk(file);
        }
        self.refresh_detail_and_diagnostics();
        self.outside_changes.update(|n| *n += 1);
    }

    /// Events were missed (a new server run): compare every open buffer with the disk.
    fn resync(&self) {
        self.refresh_vms_list();
        let paths: Vec<String> = self.docs.with_value(|d| d.keys().cloned().collect());
        for path in paths {
            self.file_changed_on_disk(&api::FileChange {
                path,
                change: "modified".into(),
                etag: None,
                note: None,
            });
        }
        self.refresh_detail_and_diagnostics();
        self.outside_changes.update(|n| *n += 1);
    }

    fn refresh_vms_list(&self) {
        let this = *self;
        spawn_local(async move {
            if let Ok(list) = api::list_vms().await {
                this.vms_list.set(list);
            }
        });
    }

    fn refresh_detail_and_diagnostics(&self) {
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let this = *self;
        spawn_local(async move {
            if let Ok(detail) = api::vms_detail(&vms).await
                && this.current.get_untracked().as_deref() == Some(detail.name.as_str())
            {
                this.update_completions(&detail);
                this.diagnostics.set(detail.diagnostics.clone());
                this.detail.set(Some(detail));
            }
        });
    }

    /// One file changed on disk: reload a clean buffer, ask about one with edits.
    fn file_changed_on_disk(&self, change: &api::FileChange) {
        let path = change.path.clone();
        let Some(doc) = self.docs.with_value(|d| d.get(&path).copied()) else {
            return; // not open: the explorer refresh is enough
        };
        if !doc.loaded.get_untracked() {
            return; // its first read is on the way and will see the new content
        }
        let (known, in_flight) = self.slots.with_value(|s| {
            s.get(&path)
                .map(|s| (s.etag.clone(), s.in_flight))
                .unwrap_or_default()
        });
        if change.etag.is_some() && change.etag == known {
            return; // the buffer is based on this very version
        }
        let status = self
            .statuses
            .with_untracked(|s| s.get(&path).copied().unwrap_or_default());
        if in_flight || status == SaveState::Saving {
            // The write in flight names the version it was based on: the server refuses it
            // with 409 when the disk changed before it, which raises the prompt. A change
            // after it is looked at when it answers.
            self.slots.update_value(|s| {
                s.entry(path.clone()).or_default().changed_meanwhile = Some(change.clone());
            });
            return;
        }
        if self
            .conflict
            .with_untracked(|c| c.as_ref().is_some_and(|c| c.path == path))
        {
            return; // already asking; the choice re-reads the disk
        }
        let Some(vms) = self.current.get_untracked() else {
            return;
        };
        let this = *self;
        let before = doc.text.get_untracked();
        spawn_local(async move {
            let disk = api::read_file(&vms, &path).await;
            if this.current.get_untracked().as_deref() != Some(vms.as_str()) {
                return;
            }
            let (theirs, theirs_etag, deleted) = match disk {
                Ok(file) => (file.content, file.etag, false),
                Err(err) if err.status == 404 => (String::new(), None, true),
                // Unreadable (too large, a link out of the VMS): keep the buffer, say why.
                Err(err) => {
                    this.save_problems.update(|p| {
                        p.retain(|p| p.path != path);
                        p.push(SaveProblem {
                            path: path.clone(),
                            message: format!("changed on disk but cannot be read: {err}"),
                        });
                    });
                    return;
                }
            };
            let status = this
                .statuses
                .with_untracked(|s| s.get(&path).copied().unwrap_or_default());
            let untouched = status == SaveState::Saved && doc.text.with_untracked(|t| *t == before);
            let mine = doc.text.get_untracked();
            if !deleted && mine == theirs {
                // Same text on both sides: only the version moved.
                this.slots
                    .update_value(|s| s.entry(path.clone()).or_default().etag = theirs_etag);
                if status != SaveState::Saving {
                    remove_local(&this.local_key(&path));
                    this.set_status(&path, SaveState::Saved);
                }
                return;
            }
            if untouched {
                if deleted {
                    this.forget_deleted(&path);
                } else {
                    this.slots
                        .update_value(|s| s.entry(path.clone()).or_default().etag = theirs_etag);
                    remove_local(&this.local_key(&path));
                    doc.text.set(theirs);
                    this.set_status(&path, SaveState::Saved);
                }
                return;
            }
            // Edits on both sides: nothing is written until the user chooses.
            this.slots.update_value(|s| {
                if let Some(t) = s.entry(path.clone()).or_default().timer.take() {
                    t.clear();
                }
            });
            this.set_status(&path, SaveState::Unsaved);
            this.conflict.set(Some(Conflict {
                path,
                theirs,
                theirs_etag,
                deleted,
            }));
        });
    }

    /// A file deleted on disk whose buffer holds nothing unsaved: its raw tab closes and the
    /// buffer goes (the explorer refresh removes its item).
    fn forget_deleted(&self, path: &str) {
        remove_local(&self.local_key(path));
        self.docs.update_value(|d| {
            d.remove(path);
        });
        self.slots.update_value(|s| {
            if let Some(t) = s.remove(path).and_then(|s| s.timer) {
                t.clear();
            }
        });
        self.statuses.update(|s| {
            s.remove(path);
        });
        self.save_problems.update(|p| p.retain(|p| p.path != path));
        let tab = Tab::new(TabKind::File(path.to_owned())).id;
        if self.tabs.with_untracked(|t| t.iter().any(|t| t.id == tab)) {
            self.close_tab(&tab);
        }
    }
}

/// Waits `ms` milliseconds.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

fn tab_to_json(kind: &TabKind) -> Value {
    match kind {
        TabKind::Function(n) => json!(["function", n]),
        TabKind::Connector(n) => json!(["connector", n]),
        TabKind::Trigger(i) => json!(["trigger", i]),
        TabKind::Env(n) => json!(["env", n]),
        TabKind::Test(f, n) => json!(["test", f, n]),
        TabKind::File(p) => json!(["file", p]),
    }
}

fn tab_from_json(v: &Value) -> Option<TabKind> {
    let a = v.as_array()?;
    let s = |i: usize| a.get(i).and_then(Value::as_str).map(str::to_owned);
    Some(match a.first()?.as_str()? {
        "function" => TabKind::Function(s(1)?),
        "connector" => TabKind::Connector(s(1)?),
        "trigger" => TabKind::Trigger(a.get(1)?.as_u64()? as usize),
        "env" => TabKind::Env(s(1)?),
        "test" => TabKind::Test(s(1)?, s(2)?),
        "file" => TabKind::File(s(1)?),
        _ => return None,
    })
}

/// Sets `document.body.dataset.ready = "1"` (the time-to-interactive marker).
pub fn mark_ready() {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.dataset().set("ready", "1");
    }
}
