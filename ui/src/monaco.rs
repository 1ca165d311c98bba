//! Monaco, bound through wasm-bindgen.
//!
//! Monaco is loaded on first use, not with the page: the first editor shown calls [`load`],
//! which adds `/monaco/monaco.css` and the classic script `/monaco/monaco.js` (it sets
//! `globalThis.monaco`) to the page. Until then an IDE that only browses, runs and commits
//! does not pay for parsing Monaco (about 30 MB of the page's memory, and the time to compile
//! it at start). Plain externs on `monaco.editor` cover the calls whose arguments are simple;
//! a small inline ES module holds what is awkward from Rust: the loader, option objects, the
//! Monarch grammar for Rhai, the completion providers and the two `window` helpers the
//! end-to-end tests use. When Monaco is missing (a build without the bundle) the loader
//! reports it and the editors fall back to a `<textarea>`.

use std::cell::OnceCell;

use leptos::prelude::*;
use serde_json::{Value, json};
use starweave_model::{Diagnostic, Severity};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A Monaco code editor instance (`monaco.editor.IStandaloneCodeEditor`).
    #[derive(Debug, Clone)]
    pub type Editor;

    #[wasm_bindgen(method, js_name = getModel)]
    fn get_model(this: &Editor) -> JsValue;

    #[wasm_bindgen(method, js_name = getValue)]
    fn get_value_raw(this: &Editor) -> String;

    #[wasm_bindgen(method)]
    fn dispose(this: &Editor);

    #[wasm_bindgen(method)]
    fn focus(this: &Editor);

    #[wasm_bindgen(js_namespace = ["monaco", "editor"], js_name = setModelMarkers)]
    fn set_model_markers(model: &JsValue, owner: &str, markers: &JsValue);

    #[wasm_bindgen(js_namespace = ["monaco", "editor"], js_name = setTheme)]
    fn monaco_set_theme(theme: &str);
}

#[wasm_bindgen(inline_js = r#"
let active = null;
let completionData = { builtins: [], env: [], connectors: [], functions: [] };
let jsLib = null;
let registered = false;

let loading = null;
let pendingDts = null;

export function sw_available() { return typeof globalThis.monaco === 'object' && !!globalThis.monaco.editor; }

// Adds Monaco's stylesheet and script to the page, once; resolves to whether Monaco is there.
export function sw_load() {
  if (sw_available()) { sw_register(); return Promise.resolve(true); }
  if (!loading) {
    loading = new Promise((resolve) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = '/monaco/monaco.css';
      document.head.appendChild(css);
      const script = document.createElement('script');
      script.src = '/monaco/monaco.js';
      const done = () => {
        const ok = sw_available();
        if (ok) {
          sw_register();
          if (pendingDts !== null) { const dts = pendingDts; pendingDts = null; sw_set_js_lib(dts); }
        }
        resolve(ok);
      };
      script.onload = done;
      script.onerror = () => resolve(false);
      document.head.appendChild(script);
    });
  }
  return loading;
}

export function sw_create(container, value, language, theme, onChange, onFocus) {
  const ed = monaco.editor.create(container, {
    value, language, theme, automaticLayout: true, minimap: { enabled: false },
    fontSize: 13, lineHeight: 20, scrollBeyondLastLine: false, tabSize: 2,
    renderLineHighlight: 'line', fixedOverflowWidgets: true, wordBasedSuggestions: 'currentDocument',
    padding: { top: 8 },
  });
  ed.onDidChangeModelContent(() => onChange(ed.getValue()));
  ed.onDidFocusEditorText(() => { active = ed; onFocus(); });
  const fire = (name) => () => window.dispatchEvent(new CustomEvent(name));
  ed.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, fire('starweave-save'));
  ed.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, fire('starweave-run'));
  return ed;
}

export function sw_create_compact(container, value, language, theme, onChange) {
  const ed = monaco.editor.create(container, {
    value, language, theme, automaticLayout: true, minimap: { enabled: false },
    fontSize: 12, lineHeight: 18, scrollBeyondLastLine: false, tabSize: 2, wordWrap: 'on',
    lineNumbers: 'off', glyphMargin: false, folding: false, lineDecorationsWidth: 4,
    lineNumbersMinChars: 0, renderLineHighlight: 'none', overviewRulerLanes: 0,
    scrollbar: { vertical: 'auto', horizontal: 'hidden', verticalScrollbarSize: 6 },
    fixedOverflowWidgets: true, wordBasedSuggestions: 'currentDocument', padding: { top: 4, bottom: 4 },
  });
  ed.onDidChangeModelContent(() => onChange(ed.getValue()));
  ed.onDidFocusEditorText(() => { active = ed; });
  return ed;
}

export function sw_set_active(ed) { active = ed; }

export function sw_set_value(ed, text) {
  const model = ed.getModel();
  if (model.getValue() === text) return;
  ed.pushUndoStop();
  model.pushEditOperations([], [{ range: model.getFullModelRange(), text }], () => null);
  ed.pushUndoStop();
}

export function sw_set_language(ed, language) {
  monaco.editor.setModelLanguage(ed.getModel(), language);
}

export function sw_reveal(ed, line, column) {
  ed.revealLineInCenter(line);
  ed.setPosition({ lineNumber: line, column: Math.max(1, column) });
  ed.focus();
}

function fallbackArea() {
  return document.querySelector('[data-testid="editor"] textarea');
}

export function sw_install_helpers() {
  window.__starweave_editor_value = () => {
    if (active && document.body.contains(active.getContainerDomNode())) return active.getValue();
    const ta = fallbackArea();
    return ta ? ta.value : null;
  };
  window.__starweave_editor_set = (text) => {
    if (active && document.body.contains(active.getContainerDomNode())) {
      active.focus();
      const model = active.getModel();
      active.executeEdits('starweave-test', [{ range: model.getFullModelRange(), text }]);
      return true;
    }
    const ta = fallbackArea();
    if (!ta) return false;
    ta.value = text;
    ta.dispatchEvent(new Event('input', { bubbles: true }));
    return true;
  };
}

export function sw_set_completions(data) { completionData = data; }

function items(model, position, languageId) {
  const word = model.getWordUntilPosition(position);
  const range = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber,
                  startColumn: word.startColumn, endColumn: word.endColumn };
  const K = monaco.languages.CompletionItemKind;
  const out = [];
  const line = model.getLineContent(position.lineNumber).slice(0, position.column - 1);
  const afterEnv = /env\.\w*$/.test(line);
  const connectorDot = line.match(/(\w+)\.\w*$/);
  if (afterEnv) {
    for (const e of completionData.env) out.push({ label: e.name, kind: K.Variable, detail: e.detail, insertText: e.name, range });
    return out;
  }
  if (connectorDot) {
    const c = completionData.connectors.find((c) => c.name === connectorDot[1]);
    if (c) {
      for (const m of c.methods) out.push({ label: m.name, kind: K.Method, detail: m.detail, insertText: m.name, range });
      return out;
    }
  }
  for (const b of completionData.builtins) {
    out.push({ label: b.name, kind: K.Function, detail: b.signature, documentation: b.description + (b.example ? '\n\n' + b.example : ''), insertText: b.name, range });
  }
  for (const e of completionData.env) out.push({ label: 'env.' + e.name, kind: K.Variable, detail: e.detail, insertText: 'env.' + e.name, range });
  for (const c of completionData.connectors) {
    for (const m of c.methods) out.push({ label: c.name + '.' + m.name, kind: K.Method, detail: m.detail, insertText: c.name + '.' + m.name, range });
  }
  for (const f of completionData.functions) out.push({ label: f, kind: K.Module, detail: 'function', insertText: f, range });
  if (languageId === 'rhai') {
    for (const k of RHAI_KEYWORDS) out.push({ label: k, kind: K.Keyword, insertText: k, range });
  }
  return out;
}

// JavaScript: the TypeScript service completes the language, but the `ctx` parameter of
// `export default async function (input, ctx)` has no declared type, so the `ctx` API is
// completed here from the VMS detail (env vars, connectors and their methods, log).
function jsCtxItems(model, position) {
  const word = model.getWordUntilPosition(position);
  const range = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber,
                  startColumn: word.startColumn, endColumn: word.endColumn };
  const K = monaco.languages.CompletionItemKind;
  const line = model.getLineContent(position.lineNumber).slice(0, position.column - 1);
  const item = (label, kind, detail) => ({ label, kind, detail, insertText: label, range, sortText: '0' + label });
  if (/\bctx\.env\.\w*$/.test(line)) {
    return completionData.env.map((e) => item(e.name, K.Variable, e.detail));
  }
  if (/\bctx\.log\.\w*$/.test(line)) {
    return ['info', 'warn', 'error'].map((l) => item(l, K.Method, 'log a line at ' + l + ' level'));
  }
  const method = line.match(/\bctx\.connectors\.(\w+)\.\w*$/);
  if (method) {
    const c = completionData.connectors.find((c) => c.name === method[1]);
    return c ? c.methods.map((m) => item(m.name, K.Method, m.detail)) : [];
  }
  if (/\bctx\.connectors\.\w*$/.test(line)) {
    return completionData.connectors.map((c) => item(c.name, K.Module, 'connector'));
  }
  if (/\bctx\.\w*$/.test(line)) {
    return [
      item('env', K.Property, "the deployment's env vars (strings)"),
      item('connectors', K.Property, "the VMS's connectors; each method returns a promise"),
      item('log', K.Property, 'log.info / log.warn / log.error'),
    ];
  }
  return [];
}

const RHAI_KEYWORDS = ['let', 'const', 'if', 'else', 'switch', 'do', 'while', 'loop', 'until', 'for', 'in', 'continue',
  'break', 'return', 'throw', 'try', 'catch', 'fn', 'private', 'import', 'export', 'as', 'true', 'false', 'this', 'global'];

export function sw_register() {
  if (registered || !sw_available()) return;
  registered = true;
  monaco.languages.register({ id: 'rhai', extensions: ['.rhai'] });
  monaco.languages.setLanguageConfiguration('rhai', {
    comments: { lineComment: '//', blockComment: ['/*', '*/'] },
    brackets: [['{', '}'], ['[', ']'], ['(', ')']],
    autoClosingPairs: [{ open: '{', close: '}' }, { open: '[', close: ']' }, { open: '(', close: ')' },
      { open: '"', close: '"' }, { open: '`', close: '`' }],
  });
  monaco.languages.setMonarchTokensProvider('rhai', {
    keywords: RHAI_KEYWORDS,
    operators: ['=', '>', '<', '!', '==', '<=', '>=', '!=', '&&', '||', '+', '-', '*', '/', '%', '**',
      '+=', '-=', '*=', '/=', '%=', '<<', '>>', '&', '|', '^', '..', '..=', '??', '?.', '=>'],
    symbols: /[=><!~?:&|+\-*\/\^%.]+/,
    tokenizer: {
      root: [
        [/[a-zA-Z_]\w*(?=\s*\()/, { cases: { '@keywords': 'keyword', '@default': 'entity.name.function' } }],
        [/[a-zA-Z_]\w*/, { cases: { '@keywords': 'keyword', '@default': 'identifier' } }],
        { include: '@whitespace' },
        [/[{}()\[\]]/, '@brackets'],
        [/@symbols/, { cases: { '@operators': 'operator', '@default': '' } }],
        [/\d[\d_]*\.\d+([eE][\-+]?\d+)?/, 'number.float'],
        [/0x[0-9a-fA-F_]+/, 'number.hex'],
        [/\d[\d_]*/, 'number'],
        [/[;,]/, 'delimiter'],
        [/"([^"\\]|\\.)*$/, 'string.invalid'],
        [/"/, 'string', '@string'],
        [/`/, 'string', '@backtick'],
        [/'[^\\']'/, 'string'],
      ],
      whitespace: [[/[ \t\r\n]+/, ''], [/\/\*/, 'comment', '@comment'], [/\/\/.*$/, 'comment']],
      comment: [[/[^\/*]+/, 'comment'], [/\*\//, 'comment', '@pop'], [/[\/*]/, 'comment']],
      string: [[/[^\\"]+/, 'string'], [/\\./, 'string.escape'], [/"/, 'string', '@pop']],
      backtick: [[/\$\{/, 'delimiter.bracket', '@interp'], [/[^\\`$]+/, 'string'], [/\\./, 'string.escape'],
        [/`/, 'string', '@pop'], [/\$/, 'string']],
      interp: [[/\}/, 'delimiter.bracket', '@pop'], { include: 'root' }],
    },
  });
  for (const lang of ['rhai', 'yaml', 'sql']) {
    monaco.languages.registerCompletionItemProvider(lang, {
      triggerCharacters: ['.'],
      provideCompletionItems: (model, position) => ({ suggestions: items(model, position, lang) }),
    });
  }
  monaco.languages.registerCompletionItemProvider('javascript', {
    triggerCharacters: ['.'],
    provideCompletionItems: (model, position) => ({ suggestions: jsCtxItems(model, position) }),
  });
  const js = monaco.languages.typescript && monaco.languages.typescript.javascriptDefaults;
  if (js) {
    js.setCompilerOptions({ target: 99, allowNonTsExtensions: true, checkJs: false, allowJs: true });
  }
}

export function sw_set_js_lib(dts) {
  if (!sw_available()) { pendingDts = dts; return; }
  const js = monaco.languages.typescript && monaco.languages.typescript.javascriptDefaults;
  if (!js) return;
  if (jsLib) jsLib.dispose();
  jsLib = js.addExtraLib(dts, 'file:///starweave/ctx.d.ts');
}
"#)]
extern "C" {
    fn sw_available() -> bool;
    fn sw_load() -> js_sys::Promise;
    fn sw_create(
        container: &web_sys::HtmlElement,
        value: &str,
        language: &str,
        theme: &str,
        on_change: &Closure<dyn FnMut(String)>,
        on_focus: &Closure<dyn FnMut()>,
    ) -> Editor;
    fn sw_create_compact(
        container: &web_sys::HtmlElement,
        value: &str,
        language: &str,
        theme: &str,
        on_change: &Closure<dyn FnMut(String)>,
    ) -> Editor;
    fn sw_set_active(ed: &Editor);
    fn sw_set_value(ed: &Editor, text: &str);
    fn sw_set_language(ed: &Editor, language: &str);
    fn sw_reveal(ed: &Editor, line: u32, column: u32);
    fn sw_install_helpers();
    fn sw_set_completions(data: &JsValue);
    fn sw_register();
    fn sw_set_js_lib(dts: &str);
}

/// Whether the Monaco bundle is loaded.
pub fn available() -> bool {
    sw_available()
}

/// Where Monaco is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not asked for yet.
    NotLoaded,
    /// Its script is on its way.
    Loading,
    /// Loaded, languages registered: editors can be created.
    Ready,
    /// The build has no Monaco bundle (or it failed to load): editors are `<textarea>`s.
    Missing,
}

thread_local! {
    static STATUS: OnceCell<RwSignal<Status>> = const { OnceCell::new() };
}

/// Sets up the loader; called once by the app's root component, whose reactive owner keeps the
/// status signal alive for the page's life.
pub fn init() {
    STATUS.with(|cell| {
        cell.get_or_init(|| {
            RwSignal::new(if sw_available() {
                sw_register();
                Status::Ready
            } else {
                Status::NotLoaded
            })
        });
    });
    sw_install_helpers();
}

/// Monaco's status, loading it on the first call; editors wait for [`Status::Ready`].
pub fn load() -> Signal<Status> {
    let Some(status) = STATUS.with(|cell| cell.get().copied()) else {
        // Without `init` (a component rendered on its own) there is no loader.
        return Signal::stored(Status::Missing);
    };
    if status.get_untracked() == Status::NotLoaded {
        status.set(Status::Loading);
        leptos::task::spawn_local(async move {
            let loaded = wasm_bindgen_futures::JsFuture::from(sw_load())
                .await
                .is_ok_and(|v| v.as_bool() == Some(true));
            status.set(if loaded {
                Status::Ready
            } else {
                Status::Missing
            });
        });
    }
    status.into()
}

/// Monaco's language id for a file path.
pub fn language_for(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or_default();
    match ext {
        "js" | "mjs" => "javascript",
        "rhai" => "rhai",
        "yaml" | "yml" => "yaml",
        "sql" => "sql",
        "bpmn" | "xml" => "xml",
        "json" => "json",
        _ => "plaintext",
    }
}

/// A live editor with the callbacks it holds (dropping this disposes the editor).
#[derive(Debug)]
pub struct EditorHandle {
    /// The editor.
    pub editor: Editor,
    _on_change: Closure<dyn FnMut(String)>,
    _on_focus: Closure<dyn FnMut()>,
}

impl Drop for EditorHandle {
    fn drop(&mut self) {
        self.editor.dispose();
    }
}

/// Creates an editor in `container`; `on_change` gets the whole text after every edit.
pub fn create(
    container: &web_sys::HtmlElement,
    value: &str,
    language: &str,
    dark: bool,
    on_change: impl FnMut(String) + 'static,
) -> EditorHandle {
    handle(on_change, |on_change, on_focus| {
        sw_create(
            container,
            value,
            language,
            theme_name(dark),
            on_change,
            on_focus,
        )
    })
}

/// A compact editor for one expression or a short script (no line numbers, wrapped lines),
/// as used in the BPMN properties panel; focusing it makes it the active editor.
pub fn create_compact(
    container: &web_sys::HtmlElement,
    value: &str,
    language: &str,
    dark: bool,
    on_change: impl FnMut(String) + 'static,
) -> EditorHandle {
    handle(on_change, |on_change, _| {
        sw_create_compact(container, value, language, theme_name(dark), on_change)
    })
}

/// Wraps the callbacks an editor holds and the editor `make` creates with them.
fn handle(
    on_change: impl FnMut(String) + 'static,
    make: impl FnOnce(&Closure<dyn FnMut(String)>, &Closure<dyn FnMut()>) -> Editor,
) -> EditorHandle {
    let on_change = Closure::<dyn FnMut(String)>::new(on_change);
    let on_focus = Closure::<dyn FnMut()>::new(|| {});
    let editor = make(&on_change, &on_focus);
    EditorHandle {
        editor,
        _on_change: on_change,
        _on_focus: on_focus,
    }
}

impl EditorHandle {
    /// The current text.
    pub fn value(&self) -> String {
        self.editor.get_value_raw()
    }

    /// Replaces the whole text as one undoable edit (no-op when equal).
    pub fn set_value(&self, text: &str) {
        sw_set_value(&self.editor, text);
    }

    /// Changes the language of the model.
    pub fn set_language(&self, language: &str) {
        sw_set_language(&self.editor, language);
    }

    /// Makes this the editor the window helpers read and write.
    pub fn set_active(&self) {
        sw_set_active(&self.editor);
    }

    /// Moves the cursor to a line and focuses the editor.
    pub fn reveal(&self, line: u32, column: u32) {
        sw_reveal(&self.editor, line.max(1), column.max(1));
    }

    /// Focuses the editor.
    pub fn focus(&self) {
        self.editor.focus();
    }

    /// Shows `diagnostics` of this file as markers.
    pub fn set_markers(&self, diagnostics: &[Diagnostic]) {
        let markers: Vec<Value> = diagnostics
            .iter()
            .map(|d| {
                let (line, col) = d.pos.map(|p| (p.line as u64, p.column as u64)).unwrap_or((1, 1));
                json!({
                    "severity": match d.severity { Severity::Error => 8, Severity::Warning => 4, _ => 2 },
                    "message": format!("{} [{}]", d.message, d.code),
                    "startLineNumber": line, "startColumn": col,
                    "endLineNumber": line, "endColumn": col + 200,
                })
            })
            .collect();
        if let Ok(js) = js_sys::JSON::parse(&Value::Array(markers).to_string()) {
            set_model_markers(&self.editor.get_model(), "starweave", &js);
        }
    }
}

fn theme_name(dark: bool) -> &'static str {
    if dark { "vs-dark" } else { "vs" }
}

/// Switches every editor between the light and dark theme.
pub fn set_theme(dark: bool) {
    if available() {
        monaco_set_theme(theme_name(dark));
    }
}

/// Sets what the Rhai/YAML/SQL completion offers (built-ins, env vars, connector methods).
pub fn set_completions(data: &Value) {
    if let Ok(js) = js_sys::JSON::parse(&data.to_string()) {
        sw_set_completions(&js);
    }
}

/// Gives the JavaScript language service a declaration of `ctx`.
pub fn set_js_declarations(dts: &str) {
    sw_set_js_lib(dts);
}
