//! Git through the IDE API: status, diff, commit, log, branches, and clone/push/pull
//! against a bare repository that "another developer" also uses with the `git` command.

mod ide_support;

use std::path::Path;

use ide_support::{Server, code, git};
use serde_json::json;

#[tokio::test]
async fn status_diff_commit_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    server
        .post("/vms", &json!({ "name": "g", "template": "http-js" }))
        .await;
    let (_, status) = server.get("/vms/g/git/status").await;
    assert_eq!(status["branch"], "main");
    assert_eq!(status["files"], json!([]));

    let (_, manifest) = server.get("/vms/g/files/vms.yaml").await;
    let edited =
        manifest["content"]
            .as_str()
            .unwrap()
            .replacen("description: ", "description: Edited. ", 1);
    server
        .put("/vms/g/files/vms.yaml", &json!({ "content": edited }))
        .await;
    server
        .put(
            "/vms/g/files/notes/todo.md",
            &json!({ "content": "one\ntwo\n" }),
        )
        .await;
    let (_, status) = server.get("/vms/g/git/status").await;
    assert_eq!(
        status["files"],
        json!([
            { "path": "notes/todo.md", "status": "new" },
            { "path": "vms.yaml", "status": "modified" }
        ]),
        "{status}"
    );
    let (_, list) = server.get("/vms").await;
    let g = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "g")
        .unwrap();
    assert_eq!(g["dirty"], true);

    let (_, diff) = server.get("/vms/g/git/diff?path=notes/todo.md").await;
    let files = diff["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{diff}");
    assert_eq!(files[0]["status"], "new");
    let lines = &files[0]["hunks"][0]["lines"];
    assert_eq!(
        lines[0],
        json!({ "kind": "add", "text": "one", "new_line": 1 })
    );
    assert_eq!(
        lines[1],
        json!({ "kind": "add", "text": "two", "new_line": 2 })
    );
    let (_, diff) = server.get("/vms/g/git/diff").await;
    let manifest_diff = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "vms.yaml")
        .unwrap();
    let hunk = &manifest_diff["hunks"][0];
    assert!(hunk["header"].as_str().unwrap().starts_with("@@"));
    assert!(hunk["lines"].as_array().unwrap().iter().any(|l| {
        l["kind"] == "add"
            && l["text"]
                .as_str()
                .unwrap()
                .starts_with("description: Edited.")
    }));
    assert!(
        hunk["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "remove" && l["old_line"].is_u64())
    );

    // Commit only the note, then everything.
    let (status, first) = server
        .post(
            "/vms/g/git/commit",
            &json!({ "message": "Add notes", "paths": ["notes/todo.md"] }),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["summary"], "Add notes");
    let (_, status) = server.get("/vms/g/git/status").await;
    assert_eq!(
        status["files"],
        json!([{ "path": "vms.yaml", "status": "modified" }])
    );
    let (status, second) = server
        .post(
            "/vms/g/git/commit",
            &json!({ "message": "Describe the service\n\nLonger text." }),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let (status, body) = server
        .post("/vms/g/git/commit", &json!({ "message": "again" }))
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "invalid_request"),
        "nothing to commit"
    );
    let (status, body) = server
        .post("/vms/g/git/commit", &json!({ "message": " " }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));

    // A deletion is committed too.
    server.delete("/vms/g/files/notes/todo.md").await;
    server
        .post("/vms/g/git/commit", &json!({ "message": "Drop notes" }))
        .await;

    let (_, log) = server.get("/vms/g/git/log?limit=10").await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0]["summary"], "Drop notes");
    assert_eq!(log[1]["id"], second["id"]);
    assert_eq!(log[1]["message"], "Describe the service\n\nLonger text.");
    assert!(log[1]["author"].as_str().unwrap().contains('<'));
    assert!(log[1]["time"].as_str().unwrap().contains('T'));
    let (_, log) = server.get("/vms/g/git/log?limit=1").await;
    assert_eq!(log.as_array().unwrap().len(), 1);
    let (_, status) = server.get("/vms/g/git/status").await;
    assert_eq!(status["files"], json!([]));
    // The repository is a normal Git repository.
    let count = git(&dir.path().join("g"), &["rev-list", "--count", "HEAD"]);
    assert_eq!(count.trim(), "4");
}

#[tokio::test]
async fn branches_and_a_refused_dirty_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    server.post("/vms", &json!({ "name": "b" })).await;
    server
        .put("/vms/b/files/shared.txt", &json!({ "content": "base\n" }))
        .await;
    server
        .post("/vms/b/git/commit", &json!({ "message": "base" }))
        .await;

    let (status, _) = server
        .post("/vms/b/git/branches", &json!({ "name": "feature" }))
        .await;
    assert_eq!(status, 201);
    let (status, body) = server
        .post("/vms/b/git/branches", &json!({ "name": "feature" }))
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let (status, body) = server
        .post("/vms/b/git/branches", &json!({ "name": "bad..name" }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_name"));

    let (status, _) = server
        .post("/vms/b/git/checkout", &json!({ "branch": "feature" }))
        .await;
    assert_eq!(status, 200);
    server
        .put(
            "/vms/b/files/shared.txt",
            &json!({ "content": "feature\n" }),
        )
        .await;
    server
        .post("/vms/b/git/commit", &json!({ "message": "feature work" }))
        .await;
    let (status, _) = server
        .post("/vms/b/git/checkout", &json!({ "branch": "main" }))
        .await;
    assert_eq!(status, 200);
    let (_, file) = server.get("/vms/b/files/shared.txt").await;
    assert_eq!(file["content"], "base\n");

    let (_, branches) = server.get("/vms/b/git/branches").await;
    assert_eq!(branches["current"], "main");
    let names: Vec<&str> = branches["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feature", "main"]);

    // An uncommitted edit that switching would overwrite stops the switch.
    server
        .put(
            "/vms/b/files/shared.txt",
            &json!({ "content": "my unsaved work\n" }),
        )
        .await;
    let (status, body) = server
        .post("/vms/b/git/checkout", &json!({ "branch": "feature" }))
        .await;
    assert_eq!((status, code(&body)), (409, "dirty_worktree"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!(["shared.txt"]));
    let (_, file) = server.get("/vms/b/files/shared.txt").await;
    assert_eq!(file["content"], "my unsaved work\n");
    let (_, branches) = server.get("/vms/b/git/branches").await;
    assert_eq!(branches["current"], "main");

    // An uncommitted edit the switch does not touch comes along.
    server
        .put("/vms/b/files/shared.txt", &json!({ "content": "base\n" }))
        .await;
    server
        .put(
            "/vms/b/files/other.txt",
            &json!({ "content": "untracked\n" }),
        )
        .await;
    let (status, body) = server
        .post("/vms/b/git/checkout", &json!({ "branch": "feature" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, file) = server.get("/vms/b/files/other.txt").await;
    assert_eq!(file["content"], "untracked\n");
    let (status, body) = server
        .post("/vms/b/git/checkout", &json!({ "branch": "nope" }))
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _) = server
        .post(
            "/vms/b/git/branches",
            &json!({ "name": "from-main", "from": "main" }),
        )
        .await;
    assert_eq!(status, 201);
}

/// A bare repository holding a small VMS, and a working clone of "another developer".
fn remote_with_vms(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bare = root.join("remote.git");
    let other = root.join("other");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "--initial-branch=main"]);
    git(root, &["clone", bare.to_str().unwrap(), "other"]);
    git(&other, &["checkout", "-B", "main"]);
    std::fs::write(other.join("vms.yaml"), "name: team\n").unwrap();
    for file in ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"] {
        std::fs::write(other.join(file), "line 1\nline 2\nline 3\n").unwrap();
    }
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-m", "Start"]);
    git(&other, &["push", "origin", "main"]);
    (bare, other)
}

fn other_commits(other: &Path, file: &str, content: &str) {
    git(other, &["pull", "--no-rebase", "origin", "main"]);
    std::fs::write(other.join(file), content).unwrap();
    git(other, &["commit", "-am", &format!("other edits {file}")]);
    git(other, &["push", "origin", "main"]);
}

#[tokio::test]
async fn clone_push_pull_with_conflicts_that_lose_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    let workspace = root.path().join("workspace");
    let server = Server::start(&workspace, &[]);
    let url = format!("file://{}", bare.display());

    let (status, cloned) = server.post("/vms/clone", &json!({ "url": url })).await;
    assert_eq!(status, 201, "{cloned}");
    assert_eq!(cloned["name"], "remote");
    let (status, body) = server.post("/vms/clone", &json!({ "url": url })).await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let (status, body) = server
        .post("/vms/clone", &json!({ "url": format!("file://{}/missing.git", root.path().display()), "name": "missing" }))
        .await;
    assert_eq!((status, code(&body)), (502, "remote_failed"), "{body}");
    assert!(!workspace.join("missing").exists());
    let vms = "/vms/remote";
    let (_, status) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(status["upstream"], "origin/main", "{status}");

    // Push a commit.
    server
        .put(
            &format!("{vms}/files/a.txt"),
            &json!({ "content": "line 1\nline 2 (ide)\nline 3\n" }),
        )
        .await;
    server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "IDE edits a" }),
        )
        .await;
    let (_, status) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(status["ahead"], 1, "{status}");
    let (status, pushed) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["pushed"], true);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]).trim(),
        "IDE edits a"
    );
    let (_, status) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(status["ahead"], 0, "{status}");

    // The other developer pushes; pull fast-forwards.
    other_commits(&other, "b.txt", "line 1\nline 2 (other)\nline 3\n");
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "fast_forward");
    let (_, b) = server.get(&format!("{vms}/files/b.txt")).await;
    assert_eq!(b["content"], "line 1\nline 2 (other)\nline 3\n");
    let (_, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(pulled["result"], "up_to_date");

    // Both commit to different files: push is refused, pull merges, push goes through.
    other_commits(&other, "c.txt", "line 1\nline 2 (other)\nline 3\n");
    server
        .put(
            &format!("{vms}/files/d.txt"),
            &json!({ "content": "line 1\nline 2 (ide)\nline 3\n" }),
        )
        .await;
    server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "IDE edits d" }),
        )
        .await;
    let (status, body) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "non_fast_forward"), "{body}");
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "merged");
    let (_, log) = server.get(&format!("{vms}/git/log?limit=1")).await;
    assert!(
        log[0]["summary"].as_str().unwrap().starts_with("Merge"),
        "{log}"
    );
    let parents = git(&workspace.join("remote"), &["log", "-1", "--format=%P"]);
    assert_eq!(parents.split_whitespace().count(), 2);
    let (status, _) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!(status, 200);

    // An uncommitted edit in a file the pull would change stops the pull.
    other_commits(&other, "e.txt", "line 1\nline 2 (other)\nline 3\n");
    server
        .put(
            &format!("{vms}/files/e.txt"),
            &json!({ "content": "unsaved ide work\n" }),
        )
        .await;
    let (status, body) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "dirty_worktree"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!(["e.txt"]));
    let (_, e) = server.get(&format!("{vms}/files/e.txt")).await;
    assert_eq!(e["content"], "unsaved ide work\n");
    server
        .put(
            &format!("{vms}/files/e.txt"),
            &json!({ "content": "line 1\nline 2\nline 3\n" }),
        )
        .await;
    let (_, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(pulled["result"], "fast_forward", "{pulled}");

    // Both change the same line: the pull reports the conflict and keeps both sides.
    other_commits(&other, "a.txt", "line 1\nline 2 (other's take)\nline 3\n");
    server
        .put(
            &format!("{vms}/files/a.txt"),
            &json!({ "content": "line 1\nline 2 (ide's take)\nline 3\n" }),
        )
        .await;
    server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "IDE's take" }),
        )
        .await;
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "conflicts");
    assert_eq!(pulled["conflicts"], json!(["a.txt"]));
    let (_, a) = server.get(&format!("{vms}/files/a.txt")).await;
    let text = a["content"].as_str().unwrap();
    assert!(
        text.contains("<<<<<<<") && text.contains(">>>>>>>"),
        "{text}"
    );
    assert!(
        text.contains("line 2 (ide's take)") && text.contains("line 2 (other's take)"),
        "{text}"
    );
    let (_, status) = server.get(&format!("{vms}/git/status")).await;
    assert!(
        status["files"]
            .as_array()
            .unwrap()
            .contains(&json!({ "path": "a.txt", "status": "conflicted" })),
        "{status}"
    );
    let (status, body) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "merge_conflict"));

    // Resolving and committing concludes the merge; pushing publishes it.
    server
        .put(
            &format!("{vms}/files/a.txt"),
            &json!({ "content": "line 1\nline 2 (agreed)\nline 3\n" }),
        )
        .await;
    let (status, merged) = server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "Merge the other take" }),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let parents = git(&workspace.join("remote"), &["log", "-1", "--format=%P"]);
    assert_eq!(parents.split_whitespace().count(), 2);
    let (status, body) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    git(&other, &["pull", "--no-rebase", "origin", "main"]);
    assert_eq!(
        std::fs::read_to_string(other.join("a.txt")).unwrap(),
        "line 1\nline 2 (agreed)\nline 3\n"
    );
    let (status, body) = server
        .post(&format!("{vms}/git/push"), &json!({ "remote": "nowhere" }))
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_pull_or_a_switch_never_overwrites_this_machines_ignored_env_file() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    let workspace = root.path().join("workspace");
    let server = Server::start(&workspace, &[]);
    let (status, cloned) = server
        .post(
            "/vms/clone",
            &json!({ "url": format!("file://{}", bare.display()) }),
        )
        .await;
    assert_eq!(status, 201, "{cloned}");
    let vms = "/vms/remote";
    let ide_dir = workspace.join("remote");
    let (status, local) = server
        .put(
            &format!("{vms}/local-env/API_KEY"),
            &json!({ "value": "mine" }),
        )
        .await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(
        local["git"], "ignored",
        "kept out through .git/info/exclude"
    );
    let env_file = ide_dir.join(".env.local");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "API_KEY=mine\n"
    );
    assert_eq!(mode(&env_file), 0o600);

    // A teammate commits a `.env.local` of their own.
    std::fs::write(other.join(".env.local"), "API_KEY=theirs\n").unwrap();
    git(&other, &["add", ".env.local"]);
    git(&other, &["commit", "-m", "Share the env file"]);
    git(&other, &["push", "origin", "main"]);

    let unchanged = |env_file: &Path| {
        assert_eq!(
            std::fs::read_to_string(env_file).unwrap(),
            "API_KEY=mine\n",
            "this machine's values are kept"
        );
        assert_eq!(mode(env_file), 0o600);
    };

    // A fast-forward would write it: refused, with the file in the way named.
    let (status, body) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "dirty_worktree"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!([".env.local"]));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".env.local"),
        "{body}"
    );
    unchanged(&env_file);

    // So would a merge, once this branch has a commit of its own.
    server
        .put(
            &format!("{vms}/files/a.txt"),
            &json!({ "content": "line 1\nline 2 (ide)\nline 3\n" }),
        )
        .await;
    let (status, body) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "IDE" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "dirty_worktree"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!([".env.local"]));
    unchanged(&env_file);
    assert_eq!(
        git(&ide_dir, &["log", "-1", "--format=%s"]).trim(),
        "IDE",
        "no merge was made"
    );

    // And so would switching to a branch that has one.
    let (status, body) = server
        .post(
            "/vms/remote/git/branches",
            &json!({ "name": "shared-env", "from": "origin/main" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .post(
            &format!("{vms}/git/checkout"),
            &json!({ "branch": "shared-env" }),
        )
        .await;
    assert_eq!((status, code(&body)), (409, "dirty_worktree"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!([".env.local"]));
    unchanged(&env_file);
    let (_, branches) = server.get(&format!("{vms}/git/branches")).await;
    assert_eq!(branches["current"], "main");

    // Moved aside, the pull goes through.
    std::fs::rename(&env_file, ide_dir.join("env.mine")).unwrap();
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "merged");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "API_KEY=theirs\n"
    );
}

#[tokio::test]
async fn pull_and_push_need_a_branch() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    let workspace = root.path().join("workspace");
    let server = Server::start(&workspace, &[]);
    let (status, cloned) = server
        .post(
            "/vms/clone",
            &json!({ "url": format!("file://{}", bare.display()) }),
        )
        .await;
    assert_eq!(status, 201, "{cloned}");
    let vms = "/vms/remote";
    let ide_dir = workspace.join("remote");
    other_commits(&other, "b.txt", "line 1\nline 2 (other)\nline 3\n");
    git(&ide_dir, &["checkout", "--detach"]);
    let detached_at = git(&ide_dir, &["rev-parse", "HEAD"]);

    let (status, body) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("check out a branch"),
        "{body}"
    );
    let (status, body) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");

    // Nothing moved, and no branch named `HEAD` appeared on either side.
    assert_eq!(git(&ide_dir, &["rev-parse", "HEAD"]), detached_at);
    assert_eq!(
        git(
            &ide_dir,
            &["for-each-ref", "--format=%(refname)", "refs/heads"]
        )
        .trim(),
        "refs/heads/main"
    );
    assert_eq!(
        git(
            &bare,
            &["for-each-ref", "--format=%(refname)", "refs/heads"]
        )
        .trim(),
        "refs/heads/main"
    );

    // Back on a branch, both work.
    let (status, body) = server
        .post(&format!("{vms}/git/checkout"), &json!({ "branch": "main" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "fast_forward");
    let (status, body) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
}
