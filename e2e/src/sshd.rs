//! An OpenSSH server for tests: `sshd` from the distribution on a free loopback port, with
//! its own host key and `authorized_keys`, serving the machine's `git-upload-pack` and
//! `git-receive-pack`. Shared by the IDE API tests (`cloud/tests/ide_git_ssh.rs` includes this
//! file) and the browser tests. Only the standard library, so both can include it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sshd` on a free loopback port, serving the machine's `git-upload-pack` and
/// `git-receive-pack` to whoever holds a key in `authorized_keys`.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Its private host key; the public one is beside it with `.pub`.
    pub host_key: PathBuf,
    authorized_keys: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_binary() -> PathBuf {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("`sshd` is missing: `cargo xtask test` installs it (package openssh-server)")
}

/// Makes an Ed25519 key pair without a passphrase: `path` and `path.pub`.
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "starweave-test",
            "-f",
        ])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen runs (package openssh-client)");
    assert!(status.success());
}

/// What `ssh-keygen -l` prints as the fingerprint of a public key file.
pub fn fingerprint_of(public_key: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

impl Sshd {
    /// Starts `sshd` with its files in `dir`; nobody is authorized yet.
    pub fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_ed25519");
        keygen(&host_key);
        let authorized_keys = dir.join("authorized_keys");
        std::fs::write(&authorized_keys, "").unwrap();
        // sshd wants its privilege separation directory even when it runs for one user.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {keys}\n\
                 AuthenticationMethods publickey\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 LogLevel ERROR\n",
                host = host_key.display(),
                pid = dir.join("sshd.pid").display(),
                keys = authorized_keys.display(),
            ),
        )
        .unwrap();
        let child = Command::new(sshd_binary())
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "sshd does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            child,
            port,
            host_key,
            authorized_keys,
        }
    }

    /// Lets the holder of this public key (a `.pub` file) in, and nobody else.
    pub fn authorize(&self, public_key: &Path) {
        std::fs::write(&self.authorized_keys, std::fs::read(public_key).unwrap()).unwrap();
    }

    /// The `ssh://` URL of the repository at `repo` on this machine.
    pub fn url(&self, repo: &Path) -> String {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, repo.display())
    }
}
