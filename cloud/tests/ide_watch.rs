//! The workspace watcher through `GET /api/v1/events`: a real `starweave up` over a real
//! workspace, files changed with `std::fs` (as any editor would) and `git` in a "terminal".

mod ide_support;

use std::collections::BTreeMap;
use std::path::Path;

use ide_support::{Server, code, git};
use serde_json::{Value, json};
use sha2::Digest as _;

/// The example VMS `starweave up` seeds into an empty workspace.
const VMS: &str = "bff-aggregation";

/// Where a client stands in the event stream.
struct Cursor {
    stream: String,
    after: u64,
}

impl Cursor {
    /// The current position (waits until the watcher has its first snapshot).
    async fn start(server: &Server) -> Cursor {
        let (status, answer) = server.get("/events").await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["events"], json!([]));
        Cursor {
            stream: answer["stream"].as_str().unwrap().to_owned(),
            after: answer["seq"].as_u64().unwrap(),
        }
    }

    /// One poll of at most `timeout` seconds; the events it brought.
    async fn poll(&mut self, server: &Server, timeout: u32) -> Vec<Value> {
        let (status, answer) = server
            .get(&format!(
                "/events?after={}&stream={}&timeout={timeout}",
                self.after, self.stream
            ))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["reset"], false, "{answer}");
        self.after = answer["seq"].as_u64().unwrap();
        answer["events"].as_array().unwrap().clone()
    }

    /// Polls until `done` holds for everything received so far (at most about a minute).
    async fn until(&mut self, server: &Server, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..30 {
            all.extend(self.poll(server, 2).await);
            if done(&all) {
                return all;
            }
        }
        panic!("the expected events never came; got {all:#?}");
    }

    /// Polls until a poll of `seconds` brings nothing; everything received.
    async fn until_quiet(&mut self, server: &Server, seconds: u32) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let batch = self.poll(server, seconds).await;
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }
}

/// (path → last change) of the events of `vms`, in order.
fn last_changes(events: &[Value], vms: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for event in events.iter().filter(|e| e["vms"] == vms) {
        for file in event["files"].as_array().unwrap() {
            out.insert(file["path"].as_str().unwrap().to_owned(), file.clone());
        }
    }
    out
}

fn etag(content: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(content)[..16])
}

fn has_file(events: &[Value], path: &str, change: &str) -> bool {
    last_changes(events, VMS)
        .get(path)
        .is_some_and(|f| f["change"] == change)
}

#[tokio::test]
async fn outside_writes_are_events_and_the_ides_own_writes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = server.workspace.join(VMS);
    let mut cursor = Cursor::start(&server).await;

    // The IDE's own save, then an edit with another tool.
    let (status, saved) = server
        .put(
            &format!("/vms/{VMS}/files/notes/from-ide.md"),
            &json!({ "content": "written by the IDE\n" }),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let outside = b"export default async function (input) { return input; }\n";
    std::fs::write(vms_dir.join("functions/buildDashboard.js"), outside).unwrap();

    let events = cursor
        .until(&server, |e| {
            has_file(e, "functions/buildDashboard.js", "modified")
        })
        .await;
    let changes = last_changes(&events, VMS);
    assert!(
        !changes.contains_key("notes/from-ide.md"),
        "the IDE's own write was reported: {events:#?}"
    );
    let change = &changes["functions/buildDashboard.js"];
    assert_eq!(change["etag"], etag(outside));
    let (_, read) = server
        .get(&format!("/vms/{VMS}/files/functions/buildDashboard.js"))
        .await;
    assert_eq!(
        read["etag"], change["etag"],
        "the event's etag is the API's"
    );

    // A new file in a new folder, and a deletion.
    std::fs::create_dir_all(vms_dir.join("docs/deep")).unwrap();
    std::fs::write(vms_dir.join("docs/deep/new.md"), "new\n").unwrap();
    std::fs::remove_file(vms_dir.join("connectors/profile.yaml")).unwrap();
    let events = cursor
        .until(&server, |e| {
            has_file(e, "docs/deep/new.md", "created")
                && has_file(e, "connectors/profile.yaml", "deleted")
        })
        .await;
    assert_eq!(
        last_changes(&events, VMS)["docs/deep/new.md"]["etag"],
        etag(b"new\n")
    );

    // The IDE deletes a file: no event either.
    let (status, _) = server
        .delete(&format!("/vms/{VMS}/files/docs/deep/new.md"))
        .await;
    assert_eq!(status, 200);
    std::fs::write(vms_dir.join("sentinel.txt"), "s").unwrap();
    let events = cursor
        .until(&server, |e| has_file(e, "sentinel.txt", "created"))
        .await;
    assert!(
        !last_changes(&events, VMS).contains_key("docs/deep/new.md"),
        "{events:#?}"
    );

    // Nothing at all for writes that do not change the content, nor for the database.
    std::fs::write(vms_dir.join("sentinel.txt"), "s").unwrap();
    let (status, _) = server.get(&format!("/vms/{VMS}")).await;
    assert_eq!(status, 200);
    assert_eq!(cursor.until_quiet(&server, 1).await, Vec::<Value>::new());
    server.stop();
}

#[tokio::test]
async fn git_commit_and_checkout_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = server.workspace.join(VMS);
    let mut cursor = Cursor::start(&server).await;
    let main_js = std::fs::read(vms_dir.join("functions/buildDashboard.js")).unwrap();

    git(&vms_dir, &["checkout", "-b", "feature"]);
    let events = cursor
        .until(&server, |e| {
            e.iter()
                .any(|e| e["vms"] == VMS && e["git"]["branch"] == "feature")
        })
        .await;
    assert!(last_changes(&events, VMS).is_empty(), "{events:#?}");

    let feature_js = b"export default async function () { return { feature: true }; }\n";
    std::fs::write(vms_dir.join("functions/buildDashboard.js"), feature_js).unwrap();
    std::fs::write(
        vms_dir.join("functions/extra.js"),
        "export default () => 1;\n",
    )
    .unwrap();
    git(&vms_dir, &["add", "-A"]);
    git(&vms_dir, &["commit", "-m", "Feature work"]);
    let head = git(&vms_dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let events = cursor
        .until(&server, |e| {
            e.iter().any(|e| e["git"]["head"] == head.as_str())
                && has_file(e, "functions/extra.js", "created")
        })
        .await;
    assert_eq!(
        last_changes(&events, VMS)["functions/buildDashboard.js"]["etag"],
        etag(feature_js)
    );

    // Back to main in the terminal: the files change back, the new one goes.
    git(&vms_dir, &["checkout", "main"]);
    let events = cursor
        .until(&server, |e| {
            e.iter().any(|e| e["git"]["branch"] == "main")
                && has_file(e, "functions/extra.js", "deleted")
                && has_file(e, "functions/buildDashboard.js", "modified")
        })
        .await;
    let changes = last_changes(&events, VMS);
    assert_eq!(
        changes["functions/buildDashboard.js"]["etag"],
        etag(&main_js)
    );
    let git_event = events.iter().rev().find(|e| e["git"].is_object()).unwrap();
    assert_eq!(
        git_event["git"]["head"],
        git(&vms_dir, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(git_event["git"]["merging"], false);
    server.stop();
}

#[tokio::test]
async fn a_burst_of_writes_gives_few_events_and_the_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = server.workspace.join(VMS);
    let mut cursor = Cursor::start(&server).await;

    // 1000 writes: 100 files, each written 10 times.
    std::fs::create_dir_all(vms_dir.join("burst")).unwrap();
    for round in 0..10 {
        for file in 0..100 {
            std::fs::write(
                vms_dir.join(format!("burst/f{file:03}.txt")),
                format!("file {file} round {round}\n"),
            )
            .unwrap();
        }
    }
    let events = cursor.until_quiet(&server, 3).await;
    assert!(
        events.len() <= 30,
        "1000 writes should be debounced into a handful of events, got {}",
        events.len()
    );
    let changes = last_changes(&events, VMS);
    for file in 0..100 {
        let path = format!("burst/f{file:03}.txt");
        let change = changes
            .get(&path)
            .unwrap_or_else(|| panic!("no event for {path}: {events:#?}"));
        assert_eq!(
            change["etag"],
            etag(format!("file {file} round 9\n").as_bytes()),
            "{path}: the last event must carry the final content's version"
        );
        assert_ne!(change["change"], "deleted");
    }
    server.stop();
}

#[tokio::test]
async fn links_out_of_the_workspace_and_huge_files_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret\n").unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = server.workspace.join(VMS);
    let mut cursor = Cursor::start(&server).await;

    std::os::unix::fs::symlink(outside.path(), vms_dir.join("linked")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        vms_dir.join("functions/secret.js"),
    )
    .unwrap();
    // A sparse file larger than anything the IDE reads.
    let big = std::fs::File::create(vms_dir.join("big.bin")).unwrap();
    big.set_len(64 * 1024 * 1024).unwrap();
    drop(big);

    let events = cursor
        .until(&server, |e| {
            let changes = last_changes(e, VMS);
            changes
                .get("big.bin")
                .is_some_and(|f| f["note"] == "too_large")
                && changes.contains_key("linked")
                && changes.contains_key("functions/secret.js")
        })
        .await;
    let changes = last_changes(&events, VMS);
    assert_eq!(changes["big.bin"]["size"], 64 * 1024 * 1024);
    assert!(changes["big.bin"].get("etag").is_none());
    for link in ["linked", "functions/secret.js"] {
        assert_eq!(changes[link]["note"], "link_outside", "{events:#?}");
        assert!(changes[link].get("etag").is_none());
    }
    // The file API refuses to go through them.
    let (status, body) = server
        .get(&format!("/vms/{VMS}/files/functions/secret.js"))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_path"), "{body}");

    // Writing behind the link is not watched: only the sentinel shows up.
    std::fs::write(outside.path().join("secret.txt"), "changed\n").unwrap();
    std::fs::write(outside.path().join("another.txt"), "x\n").unwrap();
    std::fs::write(vms_dir.join("sentinel.txt"), "s").unwrap();
    let events = cursor
        .until(&server, |e| has_file(e, "sentinel.txt", "created"))
        .await;
    let changes = last_changes(&events, VMS);
    assert_eq!(
        changes.keys().collect::<Vec<_>>(),
        ["sentinel.txt"],
        "{events:#?}"
    );
    server.stop();
}

#[tokio::test]
async fn a_client_of_another_server_run_is_told_to_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (status, answer) = server.get("/events?after=0&stream=elsewhere").await;
    assert_eq!(status, 200);
    assert_eq!(answer["reset"], true);
    let (status, answer) = server.get("/events?after=12345").await;
    assert_eq!(status, 200);
    assert_eq!(answer["reset"], true);
    let (status, body) = server.get("/events?after=x").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    assert!(Path::new(&server.workspace).is_dir());
    server.stop();
}
