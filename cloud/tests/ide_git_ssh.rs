//! SSH Git remotes: a real OpenSSH server (`sshd` on loopback, its own host key and
//! `authorized_keys`) in front of a bare repository. The server's first contact is refused
//! with the host key's fingerprint (the one `ssh-keygen -l` prints), trusting it writes the
//! user's `~/.ssh/known_hosts`, the user's key file opens the remote for clone and push, a
//! key the server does not know is refused by name, and a host key that changed is reported
//! as such.

mod ide_support;
#[path = "../../e2e/src/sshd.rs"]
mod sshd;

use ide_support::{Server, bare_vms_repo, code, git};
use serde_json::json;
use sshd::{Sshd, fingerprint_of, keygen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_remotes_use_key_files_and_known_hosts() {
    let root = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&root.path().join("sshd"));
    let bare = root.path().join("srv/team.git");
    bare_vms_repo(&bare, &root.path().join("seed"));
    let url = sshd.url(&bare);

    // The user's home: a key pair in ~/.ssh, no known_hosts yet, no agent.
    let home = root.path().join("home");
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    keygen(&ssh_dir.join("id_ed25519"));
    sshd.authorize(&ssh_dir.join("id_ed25519.pub"));
    let home_str = home.to_str().unwrap().to_owned();
    let env = [
        ("HOME", home_str.as_str()),
        ("XDG_CONFIG_HOME", home_str.as_str()),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("SSH_AUTH_SOCK", ""),
        ("STARWEAVE_SSH_KEY", ""),
        ("STARWEAVE_CREDENTIALS", "memory"),
    ];
    let workspace = root.path().join("workspace");
    let server = Server::start_with_env(&workspace, &[], &env);

    // First contact: refused, with the key to compare.
    let (status, body) = server.post("/vms/clone", &json!({ "url": url })).await;
    assert_eq!((status, code(&body)), (502, "unknown_host_key"), "{body}");
    let key = body["error"]["details"].clone();
    assert_eq!(key["host"], "127.0.0.1");
    assert_eq!(key["port"], sshd.port);
    assert_eq!(key["key_type"], "ssh-ed25519");
    assert_eq!(key["changed"], false);
    let host_public = sshd.host_key.with_extension("pub");
    assert_eq!(
        key["fingerprint"].as_str().unwrap(),
        fingerprint_of(&host_public),
        "the fingerprint is the one ssh-keygen shows"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&fingerprint_of(&host_public)),
        "{body}"
    );
    assert!(!workspace.join("team").exists());

    // Malformed or hostile trust requests change nothing.
    for bad in [
        json!({ "host": "127.0.0.1", "port": sshd.port, "key_type": "ssh-ed25519", "key": "not base64!" }),
        json!({ "host": "127.0.0.1", "port": sshd.port, "key_type": "ssh-rsa", "key": key["key"] }),
        json!({ "host": "evil\nhost", "key_type": "ssh-ed25519", "key": key["key"] }),
        json!({ "host": "a b", "key_type": "ssh-ed25519", "key": key["key"] }),
        json!({ "host": "", "key_type": "ssh-ed25519", "key": key["key"] }),
        json!({ "host": "127.0.0.1", "key_type": "ssh-ed25519", "key": "QUFBQQ==" }),
        json!({ "host": "127.0.0.1", "key_type": "ssh-ed25519", "key": "A".repeat(100_000) }),
        json!({ "host": "127.0.0.1", "key_type": "ssh-ed25519", "key": key["key"], "extra": 1 }),
    ] {
        let (status, answer) = server.post("/git/known-hosts", &bad).await;
        assert_eq!(status, 400, "{bad} → {answer}");
    }
    assert!(!ssh_dir.join("known_hosts").exists());

    // Trusted: the line `ssh` itself would write, in the user's known_hosts.
    let (status, trusted) = server
        .post(
            "/git/known-hosts",
            &json!({ "host": key["host"], "port": key["port"], "key_type": key["key_type"], "key": key["key"] }),
        )
        .await;
    assert_eq!(status, 200, "{trusted}");
    let known = std::fs::read_to_string(ssh_dir.join("known_hosts")).unwrap();
    let host_line = std::fs::read_to_string(&host_public).unwrap();
    let host_key_b64 = host_line.split_whitespace().nth(1).unwrap();
    assert_eq!(
        known,
        format!("[127.0.0.1]:{} ssh-ed25519 {host_key_b64}\n", sshd.port)
    );
    // Trusting it again adds nothing.
    let (status, _) = server
        .post(
            "/git/known-hosts",
            &json!({ "host": key["host"], "port": key["port"], "key_type": key["key_type"], "key": key["key"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        std::fs::read_to_string(ssh_dir.join("known_hosts")).unwrap(),
        known
    );

    // Now the key file opens the remote: clone, change, commit, push.
    let (status, cloned) = server.post("/vms/clone", &json!({ "url": url })).await;
    assert_eq!(status, 201, "{cloned}");
    assert_eq!(
        std::fs::read_to_string(workspace.join("team/notes.txt")).unwrap(),
        "first\n"
    );
    let (status, body) = server
        .put(
            "/vms/team/files/notes.txt",
            &json!({ "content": "over ssh\n" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post("/vms/team/git/commit", &json!({ "message": "Over SSH" }))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = server.post("/vms/team/git/push", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]).trim(),
        "Over SSH"
    );
    assert_eq!(git(&bare, &["show", "main:notes.txt"]), "over ssh\n");

    // A key the server does not know: refused, and the error names what was offered.
    let other = root.path().join("other_key");
    keygen(&other);
    sshd.authorize(&other.with_extension("pub"));
    let (status, body) = server.post("/vms/team/git/fetch", &json!({})).await;
    assert_eq!((status, code(&body)), (502, "remote_auth_failed"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("id_ed25519"), "{message}");
    assert_eq!(body["error"]["details"]["origin"], serde_json::Value::Null);

    // The host key changed (another key recorded for the host): reported as a change.
    sshd.authorize(&ssh_dir.join("id_ed25519.pub"));
    let impostor = root.path().join("impostor");
    keygen(&impostor);
    let impostor_line = std::fs::read_to_string(impostor.with_extension("pub")).unwrap();
    let impostor_b64 = impostor_line.split_whitespace().nth(1).unwrap();
    std::fs::write(
        ssh_dir.join("known_hosts"),
        format!("[127.0.0.1]:{} ssh-ed25519 {impostor_b64}\n", sshd.port),
    )
    .unwrap();
    let (status, body) = server.post("/vms/team/git/fetch", &json!({})).await;
    assert_eq!((status, code(&body)), (502, "unknown_host_key"), "{body}");
    assert_eq!(body["error"]["details"]["changed"], true, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CHANGED"),
        "{body}"
    );
    server.stop();
}
