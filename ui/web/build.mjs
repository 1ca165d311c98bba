// Bundles Monaco for the Starweave IDE with esbuild; run by `cargo xtask ui` after `npm ci`.
//
//   node build.mjs <out-dir>
//
// Writes into <out-dir>: monaco.js (IIFE setting globalThis.monaco), monaco.css, the codicon
// font it references, and the workers editor.worker.js, ts.worker.js, json.worker.js.
// Everything is local: the page never loads anything from a CDN.
import * as esbuild from "esbuild";
import { rmSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "dist"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
};

const workers = {
  "editor.worker": "monaco-editor/esm/vs/editor/editor.worker.js",
  "ts.worker": "monaco-editor/esm/vs/language/typescript/ts.worker.js",
  "json.worker": "monaco-editor/esm/vs/language/json/json.worker.js",
};

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: { monaco: join(here, "monaco-entry.js") },
    outdir: out,
    loader: { ".ttf": "file" },
    assetNames: "[name]",
  }),
  ...Object.entries(workers).map(([name, entry]) =>
    esbuild.build({ ...common, entryPoints: { [name]: entry }, outdir: out }),
  ),
]);
console.log(`monaco bundled into ${out}`);
