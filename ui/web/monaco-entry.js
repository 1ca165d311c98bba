// The Monaco editor as the Starweave IDE loads it: one classic script (`/monaco/monaco.js`) that
// sets `globalThis.monaco` before the wasm app starts, so the Rust side can bind
// `monaco.editor.*` and `monaco.languages.*` through wasm-bindgen externs.
//
// Only the languages the IDE edits are included: JavaScript/TypeScript (with the language
// service, for `ctx` completion), JSON (with its worker), YAML, SQL and XML (BPMN files).
// Rhai is registered by the app itself as a Monarch grammar.
import * as monaco from "monaco-editor/esm/vs/editor/edcore.main.js";
import "monaco-editor/esm/vs/basic-languages/javascript/javascript.contribution.js";
import "monaco-editor/esm/vs/basic-languages/typescript/typescript.contribution.js";
import "monaco-editor/esm/vs/basic-languages/yaml/yaml.contribution.js";
import "monaco-editor/esm/vs/basic-languages/sql/sql.contribution.js";
import "monaco-editor/esm/vs/basic-languages/xml/xml.contribution.js";
import "monaco-editor/esm/vs/language/typescript/monaco.contribution.js";
import "monaco-editor/esm/vs/language/json/monaco.contribution.js";

// The workers are separate bundles next to this file (see build.mjs). The base is taken from
// this script's own URL, so the dist can be served under any prefix.
const base = (() => {
  const src = document.currentScript && document.currentScript.src;
  return src ? src.slice(0, src.lastIndexOf("/") + 1) : "/monaco/";
})();

self.MonacoEnvironment = {
  getWorkerUrl(_moduleId, label) {
    if (label === "typescript" || label === "javascript") return base + "ts.worker.js";
    if (label === "json") return base + "json.worker.js";
    return base + "editor.worker.js";
  },
};

globalThis.monaco = monaco;
