//! SSH remotes: the user's key files and `known_hosts`.
//!
//! Git over SSH authenticates with the user's own keys, as the `git` command line does: the
//! keys held by `ssh-agent` first (when `SSH_AUTH_SOCK` is set), then the key files in
//! `~/.ssh` (`id_ed25519`, `id_ecdsa`, `id_rsa`), or the one file named by
//! `STARWEAVE_SSH_KEY`. Key files protected by a passphrase are used through the agent.
//!
//! Host keys are checked against `~/.ssh/known_hosts`, the file the `ssh` command uses, so a
//! host trusted in a terminal is trusted here and the other way round. A host that is not in
//! it is refused with its key's fingerprint ([`HostKey`]); the user compares it and, when it
//! is right, trusts it ([`trust`]), which adds the line `ssh` would have added.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};

/// Longest host key accepted (an RSA-16384 key is about 2 KiB).
const MAX_KEY_BYTES: usize = 16 * 1024;

/// The key files tried, in order, when `STARWEAVE_SSH_KEY` is not set.
const DEFAULT_KEYS: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// The user's SSH directory: `$HOME/.ssh`.
pub fn ssh_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".ssh"))
}

/// The private key files to offer, in order: `STARWEAVE_SSH_KEY` alone when set, otherwise
/// those of [`DEFAULT_KEYS`] that exist in [`ssh_dir`].
pub fn key_files() -> Vec<PathBuf> {
    if let Some(key) = std::env::var_os("STARWEAVE_SSH_KEY").filter(|k| !k.is_empty()) {
        return vec![PathBuf::from(key)];
    }
    let Some(dir) = ssh_dir() else {
        return Vec::new();
    };
    DEFAULT_KEYS
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .collect()
}

/// A server's host key, as the SSH handshake presented it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostKey {
    /// The host name as written in the remote URL.
    pub host: String,
    /// The port, when the URL names one other than 22.
    pub port: Option<u16>,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…
    pub key_type: String,
    /// The key in base64, as `known_hosts` and `.pub` files write it.
    pub key: String,
    /// `SHA256:…`, the fingerprint `ssh` shows.
    pub fingerprint: String,
    /// `known_hosts` already holds a different key of this type for this host: the server's
    /// key changed, or someone is in the middle.
    pub changed: bool,
}

impl HostKey {
    /// The key from the raw blob `libgit2` hands over (the SSH wire format, which names its
    /// own type first).
    pub fn from_blob(host: &str, port: Option<u16>, blob: &[u8]) -> Option<HostKey> {
        let key_type = wire_key_type(blob)?;
        Some(HostKey {
            host: host.to_owned(),
            port: port.filter(|&p| p != 22),
            fingerprint: fingerprint(blob),
            key: STANDARD.encode(blob),
            key_type,
            changed: false,
        })
    }

    /// Sets [`HostKey::changed`] from the user's `known_hosts`. Read only when a key was
    /// refused (every connection presents its key; most are known and need no second look).
    pub fn with_known_hosts(mut self) -> HostKey {
        if let Some(dir) = ssh_dir() {
            self.changed = self.replaces(&known_keys(&dir.join("known_hosts"), &self.pattern()));
        }
        self
    }

    /// Whether `known` (the entries for this host) holds another key of this type.
    fn replaces(&self, known: &[(String, String)]) -> bool {
        known
            .iter()
            .any(|(t, k)| *t == self.key_type && *k != self.key)
    }

    /// How `known_hosts` names the host: `host`, or `[host]:port` for another port.
    pub fn pattern(&self) -> String {
        match self.port {
            Some(port) => format!("[{}]:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// `SHA256:<base64 without padding>` of a key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The type name a wire-format key starts with (a 4-byte big-endian length, then the name).
fn wire_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(blob.get(4..4 + len)?).ok()?;
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-@.".contains(&b)))
    .then(|| name.to_owned())
}

/// Whether one name of a `known_hosts` host field is `pattern`: written plainly (`host`,
/// `[host]:port`) or hashed, `|1|<salt>|<hash>` with the hash an HMAC-SHA1 of the name keyed
/// by the salt — what `ssh` writes with `HashKnownHosts yes` (Debian's and Ubuntu's default)
/// and `ssh-keygen -H` makes of a file.
fn names_host(entry: &str, pattern: &str) -> bool {
    let Some(hashed) = entry.strip_prefix("|1|") else {
        return entry == pattern;
    };
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(pattern.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// The (type, base64 key) pairs `known_hosts` lists for `pattern`, in plain or hashed
/// entries (see [`names_host`]).
fn known_keys(file: &Path, pattern: &str) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                return None;
            }
            let mut fields = line.split_whitespace();
            let hosts = fields.next()?;
            let (key_type, key) = (fields.next()?, fields.next()?);
            hosts
                .split(',')
                .any(|h| names_host(h, pattern))
                .then(|| (key_type.to_owned(), key.to_owned()))
        })
        .collect()
}

/// What `POST /git/known-hosts` takes: the host key the user checked and trusts.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRequest {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub key_type: String,
    pub key: String,
}

/// Adds a host key to `~/.ssh/known_hosts` (creating the directory and the file, private to
/// the user, when missing). The key must be well-formed: base64 of a wire-format blob whose
/// type is `key_type`; the host a plain name or address. Returns the key as recorded.
pub fn trust(request: &TrustRequest) -> ApiResult<HostKey> {
    let host = request.host.trim();
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
    if !valid_host {
        return Err(ApiError::InvalidRequest(format!(
            "`{}` is not a host name or address",
            request.host
        )));
    }
    if request.key.len() > MAX_KEY_BYTES * 2 {
        return Err(ApiError::InvalidRequest("the host key is too long".into()));
    }
    let blob = STANDARD
        .decode(request.key.trim())
        .map_err(|_| ApiError::InvalidRequest("the host key is not base64".into()))?;
    if blob.len() > MAX_KEY_BYTES {
        return Err(ApiError::InvalidRequest("the host key is too long".into()));
    }
    let mut key = HostKey::from_blob(host, request.port, &blob)
        .ok_or_else(|| ApiError::InvalidRequest("the host key is not an SSH public key".into()))?;
    if key.key_type != request.key_type {
        return Err(ApiError::InvalidRequest(format!(
            "the key is of type `{}`, not `{}`",
            key.key_type, request.key_type
        )));
    }
    let dir = ssh_dir().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "no home directory (HOME is not set) to keep known_hosts in"
        ))
    })?;
    let file = dir.join("known_hosts");
    let known = known_keys(&file, &key.pattern());
    key.changed = key.replaces(&known);
    if known
        .iter()
        .any(|(t, k)| *t == key.key_type && *k == key.key)
    {
        return Ok(key);
    }
    append_line(
        &dir,
        &file,
        &format!("{} {} {}\n", key.pattern(), key.key_type, key.key),
    )
    .map_err(|err| ApiError::internal(anyhow::anyhow!("cannot write {}: {err}", file.display())))?;
    tracing::info!(
        host = key.pattern(),
        fingerprint = key.fingerprint,
        "SSH host key trusted"
    );
    Ok(key)
}

fn append_line(dir: &Path, file: &Path, line: &str) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut out = options.open(file)?;
    // A file whose last line has no newline would glue the new entry onto it.
    let ends_open = std::fs::read(file)
        .map(|bytes| bytes.last().is_some_and(|&b| b != b'\n'))
        .unwrap_or(false);
    if ends_open {
        out.write_all(b"\n")?;
    }
    out.write_all(line.as_bytes())?;
    out.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(key_type: &str, body: &[u8]) -> Vec<u8> {
        let mut blob = (key_type.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(key_type.as_bytes());
        blob.extend_from_slice(body);
        blob
    }

    #[test]
    fn the_wire_format_names_the_key_type() {
        assert_eq!(
            wire_key_type(&blob("ssh-ed25519", &[7; 36])).as_deref(),
            Some("ssh-ed25519")
        );
        assert_eq!(wire_key_type(&[0, 0, 0]), None);
        assert_eq!(
            wire_key_type(&[0, 0, 0, 40, b'a']),
            None,
            "length past the end"
        );
        assert_eq!(
            wire_key_type(&blob("ssh rsa", &[])),
            None,
            "space in the name"
        );
        assert_eq!(wire_key_type(&blob("", &[1])), None);
    }

    #[test]
    fn fingerprints_are_unpadded_sha256() {
        // `ssh-keygen -lf` of this key prints the same: SHA-256 over the blob, base64
        // without `=`.
        let f = fingerprint(b"abc");
        assert_eq!(f, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
    }

    #[test]
    fn known_hosts_entries_match_on_their_exact_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(
            &file,
            "# comment\n\
             example.org,192.0.2.1 ssh-ed25519 AAAA1\n\
             [example.org]:2222 ssh-ed25519 AAAA2\n\
             |1|hashed= ssh-ed25519 AAAA3\n\
             @revoked example.org ssh-rsa AAAA4\n\
             broken-line\n",
        )
        .unwrap();
        assert_eq!(
            known_keys(&file, "example.org"),
            vec![("ssh-ed25519".to_owned(), "AAAA1".to_owned())]
        );
        assert_eq!(
            known_keys(&file, "[example.org]:2222"),
            vec![("ssh-ed25519".to_owned(), "AAAA2".to_owned())]
        );
        assert!(known_keys(&file, "example").is_empty());
        assert!(known_keys(&dir.path().join("missing"), "example.org").is_empty());
    }

    #[test]
    fn hashed_entries_match_the_names_they_hash() {
        // Written by `ssh-keygen -H` from `example.org …` and `[example.org]:2222 …` lines.
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIA3J6Eb2Zhd2C9B040+lZ0AJQxSFIRa6Xo54BiUmYv5O";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(
            &file,
            format!(
                "|1|2lpdKffonTd9cWE9ge3u7uU3MTk=|5Q3ZS4Oz7y/qPbX+plmeyEodLcE= ssh-ed25519 {key}\n\
                 |1|L9kUdKaUiK9Pz2IVuEkP95pi3x0=|QarQYdjqjmIcO+TAusjgRF0m8eY= ssh-ed25519 {key}\n\
                 |1|not base64|!! ssh-ed25519 AAAA5\n\
                 |1|onlysalt ssh-ed25519 AAAA6\n"
            ),
        )
        .unwrap();
        let found = vec![("ssh-ed25519".to_owned(), key.to_owned())];
        assert_eq!(known_keys(&file, "example.org"), found);
        assert_eq!(known_keys(&file, "[example.org]:2222"), found);
        for other in ["example.com", "Example.org", "[example.org]:22", ""] {
            assert!(known_keys(&file, other).is_empty(), "{other}");
        }

        // A different key for a host known only by its hash is a changed key.
        let presented =
            HostKey::from_blob("example.org", None, &blob("ssh-ed25519", &[7; 32])).unwrap();
        assert!(presented.replaces(&known_keys(&file, &presented.pattern())));
        let same = HostKey {
            key: key.to_owned(),
            ..presented
        };
        assert!(!same.replaces(&known_keys(&file, &same.pattern())));
    }

    #[test]
    fn host_patterns_bracket_other_ports() {
        let key =
            HostKey::from_blob("127.0.0.1", Some(2222), &blob("ssh-ed25519", &[1; 36])).unwrap();
        assert_eq!(key.pattern(), "[127.0.0.1]:2222");
        let key =
            HostKey::from_blob("example.org", Some(22), &blob("ssh-ed25519", &[1; 36])).unwrap();
        assert_eq!(key.pattern(), "example.org");
        assert_eq!(key.port, None);
    }
}
