//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the IDE API, written by hand
//! from the same contract as `docs/ide-api.md`. A test checks that every route the router
//! serves is described here, and nothing else.

use serde_json::{Map, Value, json};

use super::Json;

/// One operation: path (relative to `/api/v1`), method, summary, request body schema,
/// success status and response schema.
struct Operation {
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    request: Option<Value>,
    status: &'static str,
    response: Value,
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

fn operations() -> Vec<Operation> {
    let op = |path, method, summary, request, status, response| Operation {
        path,
        method,
        summary,
        request,
        status,
        response,
    };
    let remote = object(
        json!({ "remote": { "type": "string", "default": "origin" } }),
        &[],
    );
    // `.env.local` as the IDE shows it (`/vms/{vms}/local-env`).
    let local_env = object(
        json!({ "file": { "type": "string" }, "exists": { "type": "boolean" }, "values": { "type": "object", "additionalProperties": { "type": "string" } }, "error": { "type": ["object", "null"], "properties": { "line": { "type": "integer" }, "column": { "type": "integer" }, "message": { "type": "string" } } }, "undeclared": array(json!({ "type": "string" })), "git": { "type": "string", "enum": ["ignored", "tracked", "not_ignored", "no_repository"] } }),
        &["file", "exists", "values", "error", "undeclared", "git"],
    );
    let string = json!({ "type": "string" });
    // What one engine did (`/vms/{vms}/deploy`, `/vms/{vms}/deployments…`).
    let engine_outcome = object(
        json!({ "engine": string, "status": { "type": "string", "enum": ["deployed", "unchanged", "refused", "failed", "skipped", "done", "absent"] }, "message": string, "load_ms": { "type": "number" } }),
        &["engine", "status", "message"],
    );
    let pool_answer = object(
        json!({ "ok": { "type": "boolean" }, "engines": array(engine_outcome.clone()) }),
        &["ok", "engines"],
    );
    let deploy_target = object(
        json!({ "vms": { "type": ["string", "null"] }, "engines": array(object(json!({ "url": string, "token_kept": { "type": "boolean" }, "plain_http": { "type": "boolean" } }), &["url", "token_kept", "plain_http"])), "env": array(object(json!({ "name": string, "secret": { "type": "boolean" }, "default": {}, "value": { "type": ["string", "null"] } }), &["name", "secret"])), "version": { "type": ["string", "null"] }, "version_error": { "type": ["string", "null"] }, "store": { "type": "object" } }),
        &["vms", "engines", "env", "version", "store"],
    );
    vec![
        op(
            "/health",
            "get",
            "Liveness and version",
            None,
            "200",
            object(
                json!({ "status": { "type": "string" }, "version": { "type": "string" } }),
                &["status", "version"],
            ),
        ),
        op(
            "/templates",
            "get",
            "Templates a VMS can be created from",
            None,
            "200",
            array(object(
                json!({ "name": { "type": "string" }, "description": { "type": "string" } }),
                &["name", "description"],
            )),
        ),
        op(
            "/vms",
            "get",
            "The workspace's VMS",
            None,
            "200",
            array(r("VmsSummary")),
        ),
        op(
            "/vms",
            "post",
            "Create a VMS from a template (directory, git init, first commit)",
            Some(object(
                json!({ "name": { "type": "string" }, "template": { "type": "string", "default": "empty" } }),
                &["name"],
            )),
            "201",
            r("VmsSummary"),
        ),
        op(
            "/vms/clone",
            "post",
            "Clone a VMS repository into the workspace; `token` (with `username`, default `git`) is sent when an HTTPS remote asks for a password and kept for its server once the clone worked, unless `remember` is false. 502 `remote_auth_failed` (details.origin) when the remote refuses",
            Some(object(
                json!({
                    "url": { "type": "string" },
                    "name": { "type": "string" },
                    "username": { "type": "string" },
                    "token": { "type": "string" },
                    "remember": { "type": "boolean", "default": true }
                }),
                &["url"],
            )),
            "201",
            r("VmsSummary"),
        ),
        op(
            "/vms/{vms}",
            "get",
            "A VMS: files, functions, connectors, triggers, env, tests, diagnostics",
            None,
            "200",
            r("VmsDetail"),
        ),
        op(
            "/vms/{vms}/diagnostics",
            "get",
            "The whole VMS, validated",
            None,
            "200",
            array(r("Diagnostic")),
        ),
        op(
            "/vms/{vms}/files/{path}",
            "get",
            "Read a text file",
            None,
            "200",
            object(
                json!({ "path": { "type": "string" }, "content": { "type": "string" }, "etag": { "type": "string" } }),
                &["path", "content", "etag"],
            ),
        ),
        op(
            "/vms/{vms}/files/{path}",
            "put",
            "Write a text file (saved even when invalid); answers the VMS's diagnostics",
            Some(object(
                json!({ "content": { "type": "string" }, "etag": { "type": "string" } }),
                &["content"],
            )),
            "200",
            object(
                json!({ "path": { "type": "string" }, "etag": { "type": "string" }, "diagnostics": array(r("Diagnostic")) }),
                &["path", "etag", "diagnostics"],
            ),
        ),
        op(
            "/vms/{vms}/files/{path}",
            "delete",
            "Delete a file; answers the VMS's diagnostics",
            None,
            "200",
            object(
                json!({ "diagnostics": array(r("Diagnostic")) }),
                &["diagnostics"],
            ),
        ),
        op(
            "/vms/{vms}/run",
            "post",
            "Run a function on the embedded engine with mocks and a trace (recorded)",
            Some(object(
                json!({
               "function": { "type": "string" }, "input": {},
               "mocks": { "type": "object", "additionalProperties": object(json!({ "output": {}, "error": object(json!({ "code": { "type": "string" }, "message": { "type": "string" } }), &["code"]) }), &[]) },
               "env": { "type": "object", "additionalProperties": { "type": "string" } },
               "timeout_ms": { "type": "integer" } }),
                &["function"],
            )),
            "200",
            r("RunResult"),
        ),
        op(
            "/vms/{vms}/tests/run",
            "post",
            "Run test cases (all, one function's, or one)",
            Some(object(
                json!({ "function": { "type": "string" }, "name": { "type": "string" }, "env": { "type": "object", "additionalProperties": { "type": "string" } } }),
                &[],
            )),
            "200",
            object(
                json!({ "passed": { "type": "integer" }, "failed": { "type": "integer" },
               "results": array(object(json!({ "function": { "type": "string" }, "name": { "type": "string" }, "passed": { "type": "boolean" }, "message": { "type": "string" }, "duration_ms": { "type": "number" } }), &["function", "name", "passed", "duration_ms"])) }),
                &["passed", "failed", "results"],
            ),
        ),
        op(
            "/vms/{vms}/runs",
            "get",
            "Run history, newest first (`?function=`, `?limit=` up to 200, default 50)",
            None,
            "200",
            array(object(
                json!({ "id": { "type": "string" }, "at": { "type": "string", "format": "date-time" }, "function": { "type": "string" }, "input": {}, "result": r("RunResult") }),
                &["id", "at", "function", "input", "result"],
            )),
        ),
        op(
            "/params/infer",
            "post",
            "Infer parameters from a JSON sample",
            Some(object(json!({ "sample": {} }), &["sample"])),
            "200",
            r("ParamViews"),
        ),
        op(
            "/params/convert",
            "post",
            "Convert the YAML or CSV view of parameters",
            Some(object(
                json!({ "from": { "enum": ["yaml", "csv"] }, "content": { "type": "string" } }),
                &["from", "content"],
            )),
            "200",
            r("ParamViews"),
        ),
        op(
            "/vms/{vms}/connectors/{name}/import-openapi",
            "post",
            "Import an OpenAPI 3 document into connectors/{name}.yaml",
            Some(object(
                json!({ "document": { "type": "string" }, "base_url_env": { "type": "string" } }),
                &["document"],
            )),
            "200",
            object(
                json!({ "file": { "type": "string" }, "methods": array(json!({ "type": "string" })), "diagnostics": array(r("Diagnostic")) }),
                &["file", "methods", "diagnostics"],
            ),
        ),
        op(
            "/vms/{vms}/connectors/{name}/methods/{method}/try",
            "post",
            "Call one connector method for real",
            Some(object(
                json!({ "input": {}, "env": { "type": "object", "additionalProperties": { "type": "string" } } }),
                &[],
            )),
            "200",
            object(
                json!({ "ok": { "type": "boolean" }, "output": {}, "error": object(json!({ "code": { "type": ["string", "null"] }, "message": { "type": "string" } }), &["message"]), "duration_ms": { "type": "number" } }),
                &["ok", "duration_ms"],
            ),
        ),
        op(
            "/vms/{vms}/connectors/{name}/test",
            "post",
            "Test a connector's connection with one harmless command (HEAD on the base URL, the database's version, PING, …)",
            Some(object(
                json!({ "env": { "type": "object", "additionalProperties": { "type": "string" } } }),
                &[],
            )),
            "200",
            object(
                json!({ "ok": { "type": "boolean" }, "summary": { "type": "string" }, "notes": array(json!({ "type": "string" })), "error": object(json!({ "code": { "type": ["string", "null"] }, "message": { "type": "string" } }), &["message"]), "duration_ms": { "type": "number" } }),
                &["ok", "duration_ms"],
            ),
        ),
        op(
            "/vms/{vms}/connectors/{name}/grpc-methods",
            "get",
            "The services and methods of a gRPC connector's descriptor set, and which connector method calls each",
            None,
            "200",
            object(
                json!({ "descriptor_set": { "type": "string" }, "services": array(object(json!({ "name": { "type": "string" }, "methods": array(object(json!({ "method": { "type": "string" }, "input_type": { "type": "string" }, "output_type": { "type": "string" }, "streaming": { "type": "boolean" }, "imported_as": { "type": ["string", "null"] } }), &["method", "input_type", "output_type", "streaming", "imported_as"])) }), &["name", "methods"])) }),
                &["descriptor_set", "services"],
            ),
        ),
        op(
            "/vms/{vms}/connectors/{name}/import-grpc",
            "post",
            "Add methods to a gRPC connector from its descriptor set (every unary method, or `methods`), with parameters from the messages' fields; methods already there get fresh parameters",
            Some(object(
                json!({ "methods": array(json!({ "type": "string" })) }),
                &[],
            )),
            "200",
            object(
                json!({ "file": { "type": "string" }, "added": array(json!({ "type": "string" })), "updated": array(json!({ "type": "string" })), "diagnostics": array(r("Diagnostic")) }),
                &["file", "added", "updated", "diagnostics"],
            ),
        ),
        op(
            "/vms/{vms}/local-env",
            "get",
            "This machine's own env values for the VMS (`.env.local`, never committed or deployed), whether it parses, and whether Git ignores it",
            None,
            "200",
            local_env.clone(),
        ),
        op(
            "/vms/{vms}/local-env/{name}",
            "put",
            "Set one value in `.env.local` (only its entry is rewritten; 409 while the file does not parse; the file is added to `.git/info/exclude` unless Git ignores it)",
            Some(object(json!({ "value": { "type": "string" } }), &["value"])),
            "200",
            local_env.clone(),
        ),
        op(
            "/vms/{vms}/local-env/{name}",
            "delete",
            "Remove one value from `.env.local`: runs use the declared default again",
            None,
            "200",
            local_env.clone(),
        ),
        op(
            "/vms/{vms}/deploy",
            "get",
            "The VMS's deploy target: its engines (whether an admin token is kept for each), its declared env vars with the kept non-secret values, and the version Git would give a deployment now",
            None,
            "200",
            deploy_target.clone(),
        ),
        op(
            "/vms/{vms}/deploy",
            "put",
            "Save the deploy target: engines' admin URLs (rollout order) and non-secret env values (a secret's value is refused: it is given with each deployment)",
            Some(object(
                json!({ "engines": array(json!({ "type": "string" })), "env": { "type": "object", "additionalProperties": { "type": "string" } } }),
                &["engines"],
            )),
            "200",
            deploy_target,
        ),
        op(
            "/vms/{vms}/deploy",
            "post",
            "Check, pack and deploy the VMS to the target's engines one after the other, as `starweave deploy` does (422 `invalid_vms` when it has errors; a refusal by one engine stops the rollout; an unreachable engine does not)",
            Some(object(
                json!({ "version": string, "env": { "type": "object", "additionalProperties": { "type": "string" } }, "concurrency": { "type": "integer" }, "timeout_ms": { "type": "integer" }, "log_level": { "type": "string", "enum": ["error", "warn", "info", "debug", "trace"] } }),
                &[],
            )),
            "200",
            object(
                json!({ "vms": string, "version": string, "ok": { "type": "boolean" }, "engines": array(engine_outcome.clone()), "routes": array(string.clone()), "diagnostics": array(r("Diagnostic")), "unset": array(string.clone()) }),
                &[
                    "vms",
                    "version",
                    "ok",
                    "engines",
                    "routes",
                    "diagnostics",
                    "unset",
                ],
            ),
        ),
        op(
            "/vms/{vms}/deployments",
            "get",
            "The VMS's versions on the target's engines (each with its engine), and the engines that could not be asked",
            None,
            "200",
            object(
                json!({ "deployments": array(object(json!({ "engine": string, "vms": string, "version": string, "active": { "type": "boolean" }, "in_flight": { "type": "integer" }, "log_level": string, "routes": array(string.clone()) }), &["engine", "vms", "version", "active"])), "failed": array(engine_outcome.clone()) }),
                &["deployments", "failed"],
            ),
        ),
        op(
            "/vms/{vms}/deployments/{version}",
            "delete",
            "Undeploy a version from every engine of the target (its runs in flight finish first)",
            None,
            "200",
            pool_answer.clone(),
        ),
        op(
            "/vms/{vms}/deployments/{version}/activate",
            "post",
            "Give the VMS's traffic back to a version the engines still have loaded (nothing is sent or compiled)",
            None,
            "200",
            pool_answer.clone(),
        ),
        op(
            "/vms/{vms}/deployments/{version}/log-level",
            "put",
            "Set a deployment's log level on every engine of the target while it runs (an engine without that version answers `absent`)",
            Some(object(
                json!({ "level": { "type": "string", "enum": ["error", "warn", "info", "debug", "trace"] } }),
                &["level"],
            )),
            "200",
            pool_answer,
        ),
        op(
            "/vms/{vms}/logs",
            "post",
            "The VMS's recent log lines on the target's engines, oldest first: the newest ones, or with `cursors` (from the previous answer) only what came since; filtered by version, level (that level and worse), text (ignoring case), trace id and time (`since`/`until`: RFC 3339, or a span back from now such as `15m`, `1h30m`, `2d`)",
            Some(object(
                json!({ "version": string, "level": { "type": "string", "enum": ["error", "warn", "info", "debug", "trace"] }, "text": string, "trace": string, "since": string, "until": string, "limit": { "type": "integer", "minimum": 1, "maximum": 2000 }, "cursors": { "type": "object", "additionalProperties": object(json!({ "ring": { "type": "integer" }, "next": { "type": "integer" } }), &["ring", "next"]) } }),
                &[],
            )),
            "200",
            object(
                json!({ "lines": array(object(json!({ "engine": string, "seq": { "type": "integer" }, "timestamp": string, "level": string, "message": string, "vms": string, "version": string, "function": string }), &["engine", "seq", "timestamp", "level", "message"])), "cursors": { "type": "object" }, "missed": { "type": "object", "additionalProperties": { "type": "integer" } }, "failed": array(engine_outcome.clone()) }),
                &["lines", "cursors", "missed", "failed"],
            ),
        ),
        op(
            "/engine-tokens",
            "put",
            "Keep an engine's admin token, by the origin of its admin URL, in the token store (the system keyring when there is one; never sent to a Git server)",
            Some(object(
                json!({ "engine": string, "token": string }),
                &["engine", "token"],
            )),
            "200",
            object(
                json!({ "origin": string, "store": { "type": "object" } }),
                &["origin", "store"],
            ),
        ),
        op(
            "/engine-tokens",
            "delete",
            "Forget an engine's admin token (`?engine=URL`)",
            None,
            "200",
            object(
                json!({ "origin": string, "removed": { "type": "boolean" } }),
                &["origin", "removed"],
            ),
        ),
        op(
            "/reference/expressions",
            "get",
            "The expression built-ins",
            None,
            "200",
            array(object(
                json!({ "name": { "type": "string" }, "category": { "type": "string" }, "signature": { "type": "string" }, "description": { "type": "string" }, "example": { "type": "string" }, "example_result": { "type": "string" } }),
                &["name", "signature", "description", "example"],
            )),
        ),
        op(
            "/reference/ctx",
            "get",
            "TypeScript declarations of `ctx` (and of a VMS's connectors with `?vms=`)",
            None,
            "200",
            json!({ "type": "string" }),
        ),
        op(
            "/vms/{vms}/git/status",
            "get",
            "Branch, upstream, ahead/behind and changed files",
            None,
            "200",
            r("GitStatus"),
        ),
        op(
            "/vms/{vms}/git/diff",
            "get",
            "Working tree against HEAD, hunks with line numbers (`?path=`)",
            None,
            "200",
            object(json!({ "files": array(r("FileDiff")) }), &["files"]),
        ),
        op(
            "/vms/{vms}/git/commit",
            "post",
            "Commit every change, or only `paths`",
            Some(object(
                json!({ "message": { "type": "string" }, "paths": array(json!({ "type": "string" })) }),
                &["message"],
            )),
            "200",
            object(
                json!({ "id": { "type": "string" }, "summary": { "type": "string" } }),
                &["id", "summary"],
            ),
        ),
        op(
            "/vms/{vms}/git/log",
            "get",
            "Commits reachable from HEAD, newest first (`?limit=50`)",
            None,
            "200",
            array(object(
                json!({ "id": { "type": "string" }, "summary": { "type": "string" }, "message": { "type": "string" }, "author": { "type": "string" }, "time": { "type": "string", "format": "date-time" } }),
                &["id", "summary", "message", "author", "time"],
            )),
        ),
        op(
            "/vms/{vms}/git/branches",
            "get",
            "Local branches",
            None,
            "200",
            object(
                json!({ "current": { "type": "string" }, "branches": array(object(json!({ "name": { "type": "string" }, "head": { "type": "string" }, "upstream": { "type": "string" } }), &["name", "head"])) }),
                &["current", "branches"],
            ),
        ),
        op(
            "/vms/{vms}/git/branches",
            "post",
            "Create a branch",
            Some(object(
                json!({ "name": { "type": "string" }, "from": { "type": "string" } }),
                &["name"],
            )),
            "201",
            object(json!({ "name": { "type": "string" } }), &["name"]),
        ),
        op(
            "/vms/{vms}/git/checkout",
            "post",
            "Switch branch; 409 dirty_worktree when local changes or ignored files would be overwritten, 409 merge_conflict while a merge is in progress",
            Some(object(
                json!({ "branch": { "type": "string" } }),
                &["branch"],
            )),
            "200",
            object(json!({ "branch": { "type": "string" } }), &["branch"]),
        ),
        op(
            "/vms/{vms}/git/pull",
            "post",
            "Fetch and fast-forward or merge; conflicts are left in the files; 409 dirty_worktree when local changes or ignored files would be overwritten, 409 conflict on a detached HEAD",
            Some(remote.clone()),
            "200",
            object(
                json!({ "result": { "enum": ["up_to_date", "fast_forward", "merged", "conflicts"] }, "conflicts": array(json!({ "type": "string" })) }),
                &["result", "conflicts"],
            ),
        ),
        op(
            "/vms/{vms}/git/push",
            "post",
            "Push the current branch; 409 non_fast_forward when rejected, 409 conflict on a detached HEAD",
            Some(remote),
            "200",
            object(json!({ "pushed": { "type": "boolean" } }), &["pushed"]),
        ),
        op(
            "/vms/{vms}/git/fetch",
            "post",
            "Fetch the remote (the working tree is not touched); answers the status with ahead/behind against the updated upstream",
            Some(object(
                json!({ "remote": { "type": "string", "default": "origin" } }),
                &[],
            )),
            "200",
            r("GitStatus"),
        ),
        op(
            "/vms/{vms}/git/resolve",
            "post",
            "Resolve a merge conflict of `path`: `ours` (this branch's version), `theirs` (the merged-in one) or `file` (as edited by hand; refused while conflict markers remain); answers the status",
            Some(object(
                json!({ "path": { "type": "string" }, "take": { "enum": ["ours", "theirs", "file"] } }),
                &["path", "take"],
            )),
            "200",
            r("GitStatus"),
        ),
        op(
            "/git/known-hosts",
            "post",
            "Trust an SSH host key (the details of a 502 `unknown_host_key`, after the user compared its fingerprint): appends it to `~/.ssh/known_hosts`; 400 when the key is not base64 of an SSH public key of `key_type` or the host is not a plain name or address",
            Some(object(
                json!({ "host": { "type": "string" }, "port": { "type": ["integer", "null"] }, "key_type": { "type": "string" }, "key": { "type": "string" } }),
                &["host", "key_type", "key"],
            )),
            "200",
            object(
                json!({ "host": { "type": "string" }, "port": { "type": ["integer", "null"] }, "key_type": { "type": "string" }, "key": { "type": "string" }, "fingerprint": { "type": "string" }, "changed": { "type": "boolean" } }),
                &["host", "port", "key_type", "key", "fingerprint", "changed"],
            ),
        ),
        op(
            "/git/credentials",
            "get",
            "Where access tokens of HTTPS Git remotes are kept (`keyring`: the system's Secret Service; `memory`: until the server stops) and for which servers; never the tokens",
            None,
            "200",
            object(
                json!({
                    "store": { "enum": ["keyring", "memory"] },
                    "persistent": { "type": "boolean" },
                    "reason": { "type": ["string", "null"] },
                    "credentials": array(object(json!({ "origin": { "type": "string" }, "username": { "type": "string" } }), &["origin", "username"]))
                }),
                &["store", "persistent", "credentials"],
            ),
        ),
        op(
            "/git/credentials",
            "put",
            "Keep an access token for the server (`https://host[:port]`) of `url`, replacing its old one; 400 for SSH and file remotes, empty or over-long tokens, control characters",
            Some(object(
                json!({ "url": { "type": "string" }, "username": { "type": "string", "default": "git" }, "token": { "type": "string" } }),
                &["url", "token"],
            )),
            "200",
            object(
                json!({ "origin": { "type": "string" }, "username": { "type": "string" }, "store": { "enum": ["keyring", "memory"] }, "persistent": { "type": "boolean" } }),
                &["origin", "username", "store", "persistent"],
            ),
        ),
        op(
            "/git/credentials",
            "delete",
            "Forget the token of the server of `?url=`; 404 when none is kept",
            None,
            "204",
            json!({}),
        ),
        op(
            "/events",
            "get",
            "Long poll for changes made outside the IDE (`?after=<seq>&stream=<id>&timeout=<s>`): without `after`, the current position at once; with it, the events newer than `after` as soon as there are any, or none after `timeout` seconds (25 at most). `reset` means events were missed: reload everything",
            None,
            "200",
            object(
                json!({ "stream": { "type": "string" }, "seq": { "type": "integer" }, "reset": { "type": "boolean" }, "events": array(r("ChangeEvent")) }),
                &["stream", "seq", "reset", "events"],
            ),
        ),
        op(
            "/openapi.json",
            "get",
            "This document",
            None,
            "200",
            json!({ "type": "object" }),
        ),
    ]
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    json!({
        "Error": object(json!({ "error": object(json!({
            "code": { "enum": ["invalid_path", "invalid_name", "invalid_json", "invalid_request", "unauthorized", "forbidden_host", "not_found", "conflict", "dirty_worktree", "merge_conflict", "non_fast_forward", "too_large", "invalid_vms", "remote_failed", "remote_auth_failed", "keyring_failed", "internal"] },
            "message": string, "details": {} }), &["code", "message", "details"]) }), &["error"]),
        "Diagnostic": object(json!({
            "severity": { "enum": ["error", "warning", "info"] }, "code": string, "file": { "type": ["string", "null"] },
            "pos": { "type": ["object", "null"], "properties": { "line": { "type": "integer" }, "column": { "type": "integer" } } },
            "element": { "type": ["string", "null"] }, "message": string }), &["severity", "code", "message"]),
        "Param": { "type": "object", "description": "The model's parameter: name, type, required, description, fields, items, constraints.",
                   "properties": { "name": string, "type": string, "required": { "type": "boolean" }, "description": string,
                                   "fields": array(json!({ "$ref": "#/components/schemas/Param" })), "items": { "$ref": "#/components/schemas/Param" } } },
        "ParamViews": object(json!({ "params": array(r("Param")), "yaml": string, "csv": string, "diagnostics": array(r("Diagnostic")) }), &["params", "yaml", "csv"]),
        "VmsSummary": object(json!({ "name": string, "description": { "type": ["string", "null"] }, "branch": string, "dirty": { "type": "boolean" } }), &["name", "branch", "dirty"]),
        "VmsDetail": { "allOf": [r("VmsSummary"), object(json!({
            "files": array(string.clone()),
            "functions": array(object(json!({ "name": string, "kind": { "enum": ["bpmn", "javascript", "rhai"] }, "file": string, "params_file": { "type": ["string", "null"] }, "input": array(r("Param")), "output": array(r("Param")) }), &["name", "kind", "file", "input", "output"])),
            "connectors": array(object(json!({ "name": string, "kind": { "enum": ["http", "database", "cache", "mq", "grpc", "config"] }, "file": string,
                "methods": array(object(json!({ "name": string, "input": array(r("Param")), "output": array(r("Param")) }), &["name", "input", "output"])) }), &["name", "kind", "file", "methods"])),
            "triggers": array(object(json!({ "index": { "type": "integer" }, "kind": { "enum": ["http", "cron", "mq", "grpc"] }, "function": string, "summary": string }), &["index", "kind", "function", "summary"])),
            "env": array(object(json!({ "name": string, "type": string, "secret": { "type": "boolean" }, "description": { "type": ["string", "null"] }, "default": {} }), &["name", "type", "secret"])),
            "tests": array(object(json!({ "function": string, "name": string, "file": string }), &["function", "name", "file"])),
            "diagnostics": array(r("Diagnostic")) }), &["files", "functions", "connectors", "triggers", "env", "tests", "diagnostics"])] },
        "RunResult": object(json!({
            "id": string, "ok": { "type": "boolean" }, "output": {},
            "error": object(json!({ "kind": string, "code": string, "message": string, "element": string }), &["code", "message"]),
            "duration_ms": { "type": "number" },
            "logs": array(object(json!({ "level": string, "message": string, "function": string, "offset_us": { "type": "integer" } }), &["level", "message", "function", "offset_us"])),
            "trace": array(r("TraceStep")) }), &["id", "ok", "duration_ms", "logs", "trace"]),
        "TraceStep": object(json!({
            "element_id": string, "element_kind": string, "name": string, "parent": { "type": "integer" }, "iteration": { "type": "integer" },
            "start_offset_us": { "type": "integer" }, "duration_us": { "type": "integer" }, "input": {}, "output": {},
            "error": object(json!({ "code": string, "message": string }), &["code", "message"]),
            "taken_flows": array(string.clone()) }), &["element_id", "element_kind", "start_offset_us", "duration_us"]),
        "ChangeEvent": object(json!({
            "seq": { "type": "integer" }, "vms": string,
            "files": array(object(json!({ "path": string, "change": { "enum": ["created", "modified", "deleted"] }, "etag": string,
                "note": { "enum": ["too_large", "link_outside"] }, "size": { "type": "integer" } }), &["path", "change"])),
            "git": object(json!({ "branch": string, "head": { "type": ["string", "null"] }, "upstream": { "type": ["string", "null"] }, "merging": { "type": "boolean" } }), &["branch", "merging"]) }), &["seq", "vms", "files"]),
        "GitStatus": object(
            json!({ "branch": string, "head": { "type": ["string", "null"] }, "upstream": string, "ahead": { "type": "integer" }, "behind": { "type": "integer" }, "files": array(r("FileStatus")), "merging": { "type": "boolean" } }),
            &["branch", "ahead", "behind", "files", "merging"],
        ),
        "FileStatus": object(json!({ "path": string, "status": { "enum": ["new", "modified", "deleted", "renamed", "conflicted"] } }), &["path", "status"]),
        "FileDiff": object(json!({ "path": string, "status": string, "binary": { "type": "boolean" },
            "hunks": array(object(json!({ "header": string, "lines": array(object(json!({ "kind": { "enum": ["context", "add", "remove"] }, "text": string, "old_line": { "type": "integer" }, "new_line": { "type": "integer" } }), &["kind", "text"])) }), &["header", "lines"])) }), &["path", "status", "hunks"]),
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for operation in operations() {
        let parameters: Vec<Value> = operation
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut responses = Map::new();
        responses.insert(
            operation.status.to_owned(),
            json!({ "description": "success", "content": { "application/json": { "schema": operation.response } } }),
        );
        responses.insert(
            "default".to_owned(),
            json!({ "description": "an error (see `code`)", "content": { "application/json": { "schema": r("Error") } } }),
        );
        let mut entry = json!({
            "summary": operation.summary,
            "operationId": format!("{}{}", operation.method, operation.path.replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(request) = operation.request {
            entry["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": request } } });
        }
        let item = paths
            .entry(format!("/api/v1{}", operation.path))
            .or_insert_with(|| json!({}));
        item[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Starweave IDE API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The API behind the Starweave IDE; see docs/ide-api.md.",
        },
        "servers": [{ "url": "/" }],
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
        "security": [{}, { "bearer": [] }],
        "paths": paths,
    })
}

pub(super) async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let served: BTreeSet<(String, String)> = super::super::api_routes()
            .paths
            .into_iter()
            .flat_map(|(path, methods)| {
                // The router's catch-all `{*path}` is the document's `{path}`.
                let path = format!("/api/v1{}", path.replace("{*", "{"));
                methods
                    .into_iter()
                    .map(move |m| (path.clone(), m.to_owned()))
            })
            .collect();
        let document = super::document();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (path.clone(), m.clone()))
            })
            .collect();
        assert_eq!(served, documented);
    }
}
