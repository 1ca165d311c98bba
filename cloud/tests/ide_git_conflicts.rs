//! Divergence and merge conflicts through the IDE API: two real clones of one bare
//! repository (the IDE's and "another developer's" with the `git` command) produce real
//! conflicts, resolved each way: this branch's version, theirs, and edited by hand.

mod ide_support;

use std::path::{Path, PathBuf};

use ide_support::{Server, code, git};
use serde_json::json;

const BASE: &str = "line 1\nline 2\nline 3\n";

/// A bare repository holding a small VMS, and a working clone of "another developer".
fn remote_with_vms(root: &Path) -> (PathBuf, PathBuf) {
    let bare = root.join("team.git");
    let other = root.join("other");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "--initial-branch=main"]);
    git(root, &["clone", bare.to_str().unwrap(), "other"]);
    git(&other, &["checkout", "-B", "main"]);
    std::fs::write(other.join("vms.yaml"), "name: team\n").unwrap();
    for file in ["mine.txt", "theirs.txt", "by-hand.txt", "calm.txt"] {
        std::fs::write(other.join(file), BASE).unwrap();
    }
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-m", "Start"]);
    git(&other, &["push", "origin", "main"]);
    (bare, other)
}

/// An IDE server on a workspace under `root` with `bare` cloned into it: the server and the
/// clone's folder.
async fn clone_in_the_ide(root: &Path, bare: &Path) -> (Server, PathBuf) {
    let workspace = root.join("workspace");
    let server = Server::start(&workspace, &[]);
    let (status, cloned) = server
        .post(
            "/vms/clone",
            &json!({ "url": format!("file://{}", bare.display()) }),
        )
        .await;
    assert_eq!(status, 201, "{cloned}");
    (server, workspace.join("team"))
}

fn version(who: &str) -> String {
    format!("line 1\nline 2 ({who})\nline 3\n")
}

#[tokio::test]
async fn divergence_then_conflicts_resolved_each_way() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    let (server, ide_dir) = clone_in_the_ide(root.path(), &bare).await;
    let vms = "/vms/team";

    // Both sides change the same three lines.
    for file in ["mine.txt", "theirs.txt", "by-hand.txt"] {
        let (status, _) = server
            .put(
                &format!("{vms}/files/{file}"),
                &json!({ "content": version("ide") }),
            )
            .await;
        assert_eq!(status, 200);
        std::fs::write(other.join(file), version("other")).unwrap();
    }
    let (status, _) = server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "IDE edits" }),
        )
        .await;
    assert_eq!(status, 200);
    git(&other, &["commit", "-am", "Other edits"]);
    git(&other, &["push", "origin", "main"]);

    // Before a fetch the IDE does not know; after it, one ahead and one behind.
    let (_, before) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(
        (before["ahead"].as_u64(), before["behind"].as_u64()),
        (Some(1), Some(0))
    );
    let (status, fetched) = server.post(&format!("{vms}/git/fetch"), &json!({})).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["upstream"], "origin/main");
    assert_eq!(
        (fetched["ahead"].as_u64(), fetched["behind"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(fetched["merging"], false);
    let (status, body) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!((status, code(&body)), (409, "non_fast_forward"), "{body}");
    let (status, body) = server
        .post(&format!("{vms}/git/fetch"), &json!({ "remote": "nowhere" }))
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");

    // The pull conflicts: markers in the files, the repository merging.
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "conflicts");
    assert_eq!(
        pulled["conflicts"],
        json!(["by-hand.txt", "mine.txt", "theirs.txt"])
    );
    let (_, merging) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(merging["merging"], true);
    let conflicted: Vec<&str> = merging["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "conflicted")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(conflicted, ["by-hand.txt", "mine.txt", "theirs.txt"]);
    let (status, body) = server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "too early" }),
        )
        .await;
    assert_eq!((status, code(&body)), (409, "merge_conflict"), "{body}");

    // Take mine, take theirs.
    let (status, after) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "mine.txt", "take": "ours" }),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        std::fs::read_to_string(ide_dir.join("mine.txt")).unwrap(),
        version("ide")
    );
    let (status, _) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "theirs.txt", "take": "theirs" }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, theirs) = server.get(&format!("{vms}/files/theirs.txt")).await;
    assert_eq!(theirs["content"], version("other"));

    // By hand: refused while markers remain, accepted once they are gone.
    let (_, marked) = server.get(&format!("{vms}/files/by-hand.txt")).await;
    assert!(
        marked["content"].as_str().unwrap().contains("<<<<<<< "),
        "{marked}"
    );
    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "by-hand.txt", "take": "file" }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{body}"
    );
    let merged_by_hand = "line 1\nline 2 (ide and other)\nline 3\n";
    server
        .put(
            &format!("{vms}/files/by-hand.txt"),
            &json!({ "content": merged_by_hand }),
        )
        .await;
    let (status, after) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "by-hand.txt", "take": "file" }),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert!(
        after["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] != "conflicted"),
        "{after}"
    );
    assert_eq!(after["merging"], true, "the merge still needs its commit");

    // Bad requests say so.
    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "calm.txt", "take": "ours" }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "mine.txt", "take": "both" }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "../x", "take": "ours" }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_path"), "{body}");

    // The commit concludes the merge; the other developer gets exactly these files.
    let (status, committed) = server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "Merge the team's work" }),
        )
        .await;
    assert_eq!(status, 200, "{committed}");
    let parents = git(&ide_dir, &["log", "-1", "--format=%P"]);
    assert_eq!(parents.split_whitespace().count(), 2);
    let (_, done) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(done["merging"], false);
    assert_eq!(
        (done["ahead"].as_u64(), done["behind"].as_u64()),
        (Some(2), Some(0))
    );
    let (status, pushed) = server.post(&format!("{vms}/git/push"), &json!({})).await;
    assert_eq!(status, 200, "{pushed}");
    git(&other, &["pull", "--no-rebase", "origin", "main"]);
    for (file, content) in [
        ("mine.txt", version("ide")),
        ("theirs.txt", version("other")),
        ("by-hand.txt", merged_by_hand.to_owned()),
        ("calm.txt", BASE.to_owned()),
    ] {
        assert_eq!(
            std::fs::read_to_string(other.join(file)).unwrap(),
            content,
            "{file}"
        );
    }
    server.stop();
}

#[tokio::test]
async fn branches_cannot_be_switched_until_the_merge_is_committed() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    let (server, ide_dir) = clone_in_the_ide(root.path(), &bare).await;
    let vms = "/vms/team";
    let (status, _) = server
        .post(&format!("{vms}/git/branches"), &json!({ "name": "side" }))
        .await;
    assert_eq!(status, 201);

    server
        .put(
            &format!("{vms}/files/mine.txt"),
            &json!({ "content": version("ide") }),
        )
        .await;
    let (status, _) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "IDE" }))
        .await;
    assert_eq!(status, 200);
    std::fs::write(other.join("mine.txt"), version("other")).unwrap();
    git(&other, &["commit", "-am", "Other"]);
    git(&other, &["push", "origin", "main"]);
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["result"], "conflicts");

    // With the conflict still open, and once it is resolved but not committed: refused.
    let (status, body) = server
        .post(&format!("{vms}/git/checkout"), &json!({ "branch": "side" }))
        .await;
    assert_eq!((status, code(&body)), (409, "merge_conflict"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!(["mine.txt"]));

    // A symbolic link where the conflicted file was: resolving replaces the link and leaves
    // its target alone.
    let manifest = std::fs::read_to_string(ide_dir.join("vms.yaml")).unwrap();
    std::fs::remove_file(ide_dir.join("mine.txt")).unwrap();
    std::os::unix::fs::symlink("vms.yaml", ide_dir.join("mine.txt")).unwrap();
    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "mine.txt", "take": "ours" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(ide_dir.join("vms.yaml")).unwrap(),
        manifest
    );
    assert!(
        std::fs::symlink_metadata(ide_dir.join("mine.txt"))
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(
        std::fs::read_to_string(ide_dir.join("mine.txt")).unwrap(),
        version("ide")
    );
    let (status, body) = server
        .post(&format!("{vms}/git/checkout"), &json!({ "branch": "side" }))
        .await;
    assert_eq!((status, code(&body)), (409, "merge_conflict"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("commit or abort the merge"),
        "{body}"
    );
    let (_, status_now) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(status_now["branch"], "main");
    assert_eq!(status_now["merging"], true);

    // The commit concludes the merge on `main`; then `side` is reached and stays a plain line.
    let (status, body) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "Merge" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let parents = git(&ide_dir, &["log", "-1", "--format=%P", "main"]);
    assert_eq!(parents.split_whitespace().count(), 2);
    let (status, body) = server
        .post(&format!("{vms}/git/checkout"), &json!({ "branch": "side" }))
        .await;
    assert_eq!(status, 200, "{body}");
    server
        .put(
            &format!("{vms}/files/calm.txt"),
            &json!({ "content": "side work\n" }),
        )
        .await;
    let (status, body) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "Side" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let parents = git(&ide_dir, &["log", "-1", "--format=%P", "side"]);
    assert_eq!(parents.split_whitespace().count(), 1, "not a merge");
    server.stop();
}

/// A binary file changed on both sides gets no conflict markers (Git leaves this branch's
/// version in the working tree): committing everything refuses rather than dropping the
/// other side silently; taking a side settles it.
#[tokio::test]
async fn a_binary_conflict_is_not_committed_by_committing_everything() {
    let root = tempfile::tempdir().unwrap();
    let (bare, other) = remote_with_vms(root.path());
    std::fs::write(other.join("logo.bin"), b"\x00base\xff").unwrap();
    git(&other, &["add", "logo.bin"]);
    git(&other, &["commit", "-m", "Logo"]);
    git(&other, &["push", "origin", "main"]);
    let (server, ide_dir) = clone_in_the_ide(root.path(), &bare).await;
    let vms = "/vms/team";

    std::fs::write(ide_dir.join("logo.bin"), b"\x00ide\xff").unwrap();
    let (status, _) = server
        .post(
            &format!("{vms}/git/commit"),
            &json!({ "message": "IDE logo" }),
        )
        .await;
    assert_eq!(status, 200);
    std::fs::write(other.join("logo.bin"), b"\x00other\xff").unwrap();
    git(&other, &["commit", "-am", "Other logo"]);
    git(&other, &["push", "origin", "main"]);
    let (status, pulled) = server.post(&format!("{vms}/git/pull"), &json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["conflicts"], json!(["logo.bin"]), "{pulled}");

    let (status, body) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "Merge" }))
        .await;
    assert_eq!((status, code(&body)), (409, "merge_conflict"), "{body}");
    assert_eq!(body["error"]["details"]["files"], json!(["logo.bin"]));

    let (status, body) = server
        .post(
            &format!("{vms}/git/resolve"),
            &json!({ "path": "logo.bin", "take": "theirs" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post(&format!("{vms}/git/commit"), &json!({ "message": "Merge" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read(ide_dir.join("logo.bin")).unwrap(),
        b"\x00other\xff"
    );
    let (_, after) = server.get(&format!("{vms}/git/status")).await;
    assert_eq!(after["merging"], false, "{after}");
}
