//! Access tokens for HTTPS Git remotes, and where they are kept.
//!
//! A token belongs to an *origin* (`https://host[:port]`): every repository on that server
//! uses it, the way Git's own credential helpers key credentials by host. The store is:
//!
//! - the desktop's **Secret Service** (GNOME Keyring, KWallet, KeePassXC…) over the D-Bus
//!   session bus, when one answers: tokens survive restarts and live encrypted in the user's
//!   keyring, where the system's keyring tools see them (schema `dev.starweave.GitToken`,
//!   attributes `origin` and `username`);
//! - otherwise this process's **memory**: tokens last until the server stops, and the API says
//!   so (`persistent: false`). Tokens are never written to a plain file.
//!
//! `STARWEAVE_CREDENTIALS=memory` picks memory even when a keyring is there. The choice is
//! made on first use, not at start, so a server that never talks to an HTTPS remote never
//! touches the session bus.
//!
//! Git asks for a credential only when the remote demands one; [`Credentials::lookup`] is
//! called from libgit2's credential callback (see `git::callbacks`), so public remotes,
//! `file://` and SSH remotes never read the keyring.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use secret_service::blocking::{Item, SecretService};
use secret_service::{EncryptionType, SearchItemsResult};
use serde::Serialize;

use super::error::{ApiError, ApiResult};

/// What a kept token opens: a Git server, or a compute engine's admin API (the Deploy
/// panel's). Each kind has its own keyring schema, so a token is only ever sent where it
/// was given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An HTTPS Git remote's access token.
    Git,
    /// A `starweave-engine` admin API's bearer token.
    Engine,
}

impl Kind {
    /// The Secret Service schema of its items.
    fn schema(self) -> &'static str {
        match self {
            Kind::Git => "dev.starweave.GitToken",
            Kind::Engine => "dev.starweave.EngineAdminToken",
        }
    }

    /// What its items are called in the keyring.
    fn label(self) -> &'static str {
        match self {
            Kind::Git => "Starweave Git token",
            Kind::Engine => "Starweave engine admin token",
        }
    }
}
/// The username sent with a token when none is given; servers that take a token as the
/// password accept any non-empty name.
pub const DEFAULT_USERNAME: &str = "git";
/// The longest token accepted.
const MAX_TOKEN: usize = 4096;
/// The longest username accepted.
const MAX_USERNAME: usize = 256;

/// A username and the token sent as its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The username.
    pub username: String,
    /// The token; never logged, never answered by the API.
    pub token: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Credential {
    /// Checks a username (empty means [`DEFAULT_USERNAME`]) and a token as a user typed them.
    pub fn new(username: Option<&str>, token: &str) -> ApiResult<Credential> {
        let token = token.trim();
        if token.is_empty() {
            return Err(ApiError::InvalidRequest("the token is empty".into()));
        }
        if token.len() > MAX_TOKEN {
            return Err(ApiError::InvalidRequest(format!(
                "the token is longer than {MAX_TOKEN} bytes"
            )));
        }
        if token.chars().any(char::is_control) {
            return Err(ApiError::InvalidRequest(
                "the token has control characters (a line break pasted with it?)".into(),
            ));
        }
        let username = username.map(str::trim).unwrap_or("");
        let username = if username.is_empty() {
            DEFAULT_USERNAME
        } else {
            username
        };
        if username.len() > MAX_USERNAME || username.chars().any(|c| c.is_control() || c == ':') {
            return Err(ApiError::InvalidRequest(
                "the username is too long or has a `:` or control characters".into(),
            ));
        }
        Ok(Credential {
            username: username.to_owned(),
            token: token.to_owned(),
        })
    }
}

/// The origin (`scheme://host[:port]`, lowercase, default port left out) a token of `url`
/// is kept under, or `None` for remotes that do not take tokens (SSH, `file://`, paths).
pub fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    Some(match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

/// [`origin`], or a request error explaining which remotes take tokens.
pub fn origin_or_error(url: &str) -> ApiResult<String> {
    origin(url).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "`{url}` is not an HTTPS remote: tokens are for https:// (and http://) remotes; \
             SSH remotes use the keys of your SSH agent"
        ))
    })
}

/// Set to `allow` to let tokens go to `http://` servers that are not on this machine.
pub const CLEARTEXT_ENV: &str = "STARWEAVE_GIT_HTTP_TOKENS";

/// Whether a token may be sent to `origin` (as [`origin`] gives it): always over `https://`;
/// over plain `http://` only to this machine (`localhost`, `127.0.0.0/8`, `::1`), where it
/// never crosses a network, unless [`CLEARTEXT_ENV`] is `allow`. Anywhere else the token
/// would travel readable by anyone on the path.
pub fn sendable(origin: &str) -> bool {
    let Ok(parsed) = url::Url::parse(origin) else {
        return false;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => {
            let local = match parsed.host() {
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            local || std::env::var(CLEARTEXT_ENV).is_ok_and(|v| v == "allow")
        }
        _ => false,
    }
}

/// [`origin_or_error`], refusing a server a token must not be sent to (see [`sendable`]).
pub fn sendable_origin_or_error(url: &str) -> ApiResult<String> {
    let origin = origin_or_error(url)?;
    if !sendable(&origin) {
        return Err(ApiError::InvalidRequest(format!(
            "`{origin}` is plain http://: a token sent to it crosses the network unencrypted. \
             Use the server's https:// URL (to allow it anyway, start Starweave with \
             {CLEARTEXT_ENV}=allow)"
        )));
    }
    Ok(origin)
}

/// One stored token, as the API lists it (without the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCredential {
    /// `https://host[:port]`.
    pub origin: String,
    /// The username sent with the token.
    pub username: String,
}

/// Which store holds the tokens, as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StoreInfo {
    /// `keyring` or `memory`.
    pub store: &'static str,
    /// Whether tokens outlive this server.
    pub persistent: bool,
    /// Why the keyring is not used, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug)]
enum Backend {
    Keyring,
    Memory { reason: String },
}

/// The token store of one IDE server.
#[derive(Debug, Default)]
pub struct Credentials {
    backend: OnceLock<Backend>,
    /// Tokens of the memory store, by kind and origin.
    memory: Mutex<BTreeMap<(Kind, String), Credential>>,
}

fn keyring_error(err: secret_service::Error) -> ApiError {
    let message = match err {
        secret_service::Error::Locked | secret_service::Error::Prompt => {
            "the system keyring is locked and was not unlocked; unlock it and try again".to_owned()
        }
        secret_service::Error::Unavailable => {
            "the system keyring stopped answering; is its service still running?".to_owned()
        }
        other => format!("the system keyring failed: {other}"),
    };
    ApiError::KeyringFailed(message)
}

fn schema_attributes(kind: Kind, origin: &str) -> HashMap<&str, &str> {
    HashMap::from([("xdg:schema", kind.schema()), ("origin", origin)])
}

/// A session with the Secret Service (its secrets encrypted on the bus).
fn connect() -> ApiResult<SecretService<'static>> {
    SecretService::connect(EncryptionType::Dh).map_err(keyring_error)
}

/// The keyring items kept for `origin`.
fn search<'a>(
    service: &'a SecretService<'a>,
    kind: Kind,
    origin: &str,
) -> ApiResult<SearchItemsResult<Item<'a>>> {
    service
        .search_items(schema_attributes(kind, origin))
        .map_err(keyring_error)
}

impl Credentials {
    /// A store that chooses its backend on first use.
    pub fn new() -> Credentials {
        Credentials::default()
    }

    fn backend(&self) -> &Backend {
        self.backend.get_or_init(|| {
            if std::env::var("STARWEAVE_CREDENTIALS").is_ok_and(|v| v == "memory") {
                return Backend::Memory {
                    reason: "STARWEAVE_CREDENTIALS=memory".into(),
                };
            }
            match SecretService::connect(EncryptionType::Dh)
                .and_then(|service| service.get_default_collection().map(|_| ()))
            {
                Ok(()) => {
                    tracing::info!("Git tokens are kept in the system keyring");
                    Backend::Keyring
                }
                Err(err) => {
                    let reason = match err {
                        secret_service::Error::Unavailable => {
                            "no Secret Service (system keyring) on the session bus".to_owned()
                        }
                        other => format!("the system keyring did not answer: {other}"),
                    };
                    tracing::info!(
                        reason,
                        "Git tokens are kept in memory until the server stops"
                    );
                    Backend::Memory { reason }
                }
            }
        })
    }

    /// Which store is used (choosing it if that has not happened yet).
    pub fn info(&self) -> StoreInfo {
        match self.backend() {
            Backend::Keyring => StoreInfo {
                store: "keyring",
                persistent: true,
                reason: None,
            },
            Backend::Memory { reason } => StoreInfo {
                store: "memory",
                persistent: false,
                reason: Some(reason.clone()),
            },
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Kind, String), Credential>> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every stored token's origin and username.
    pub fn list(&self) -> ApiResult<Vec<StoredCredential>> {
        match self.backend() {
            Backend::Memory { .. } => Ok(self
                .memory()
                .iter()
                .filter(|((kind, _), _)| *kind == Kind::Git)
                .map(|((_, origin), c)| StoredCredential {
                    origin: origin.clone(),
                    username: c.username.clone(),
                })
                .collect()),
            Backend::Keyring => {
                let service = connect()?;
                let found = service
                    .search_items(HashMap::from([("xdg:schema", Kind::Git.schema())]))
                    .map_err(keyring_error)?;
                let mut list = Vec::new();
                for item in found.unlocked.iter().chain(found.locked.iter()) {
                    let attributes = item.get_attributes().map_err(keyring_error)?;
                    if let Some(origin) = attributes.get("origin") {
                        list.push(StoredCredential {
                            origin: origin.clone(),
                            username: attributes
                                .get("username")
                                .cloned()
                                .unwrap_or_else(|| DEFAULT_USERNAME.to_owned()),
                        });
                    }
                }
                list.sort_by(|a, b| a.origin.cmp(&b.origin));
                list.dedup_by(|a, b| a.origin == b.origin);
                Ok(list)
            }
        }
    }

    /// Keeps the Git `credential` for `origin`, replacing what was kept for it.
    pub fn store(&self, origin: &str, credential: &Credential) -> ApiResult<()> {
        self.store_kind(Kind::Git, origin, credential)
    }

    /// Forgets the Git token of `origin`; answers whether there was one.
    pub fn remove(&self, origin: &str) -> ApiResult<bool> {
        self.remove_kind(Kind::Git, origin)
    }

    /// The Git token kept for `origin`, unlocking the keyring item if it is locked (the
    /// keyring may ask the user).
    pub fn get(&self, origin: &str) -> ApiResult<Option<Credential>> {
        self.get_kind(Kind::Git, origin)
    }

    /// Keeps a `kind` of `credential` for `origin`, replacing what was kept for it.
    pub fn store_kind(&self, kind: Kind, origin: &str, credential: &Credential) -> ApiResult<()> {
        match self.backend() {
            Backend::Memory { .. } => {
                self.memory()
                    .insert((kind, origin.to_owned()), credential.clone());
                Ok(())
            }
            Backend::Keyring => {
                let service = connect()?;
                // One item per origin: the old one goes, whatever its username was.
                let old = search(&service, kind, origin)?;
                let collection = service.get_default_collection().map_err(keyring_error)?;
                collection.ensure_unlocked().map_err(keyring_error)?;
                let mut attributes = schema_attributes(kind, origin);
                attributes.insert("username", &credential.username);
                collection
                    .create_item(
                        &format!("{} for {origin}", kind.label()),
                        attributes,
                        credential.token.as_bytes(),
                        true,
                        "text/plain",
                    )
                    .map_err(keyring_error)?;
                for item in old.unlocked.iter().chain(old.locked.iter()) {
                    let same_user = item
                        .get_attributes()
                        .ok()
                        .and_then(|a| a.get("username").cloned())
                        .is_some_and(|u| u == credential.username);
                    // `replace` already overwrote the item with the same attributes.
                    if !same_user {
                        item.delete().map_err(keyring_error)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Forgets the `kind` of token of `origin`; answers whether there was one.
    pub fn remove_kind(&self, kind: Kind, origin: &str) -> ApiResult<bool> {
        match self.backend() {
            Backend::Memory { .. } => {
                Ok(self.memory().remove(&(kind, origin.to_owned())).is_some())
            }
            Backend::Keyring => {
                let service = connect()?;
                let found = search(&service, kind, origin)?;
                let mut removed = false;
                for item in found.unlocked.iter().chain(found.locked.iter()) {
                    item.delete().map_err(keyring_error)?;
                    removed = true;
                }
                Ok(removed)
            }
        }
    }

    /// The `kind` of token kept for `origin`, unlocking the keyring item if it is locked
    /// (the keyring may ask the user).
    pub fn get_kind(&self, kind: Kind, origin: &str) -> ApiResult<Option<Credential>> {
        match self.backend() {
            Backend::Memory { .. } => Ok(self.memory().get(&(kind, origin.to_owned())).cloned()),
            Backend::Keyring => {
                let service = connect()?;
                let found = search(&service, kind, origin)?;
                let Some(item) = found.unlocked.first().or(found.locked.first()) else {
                    return Ok(None);
                };
                item.ensure_unlocked().map_err(keyring_error)?;
                let secret = item.get_secret().map_err(keyring_error)?;
                let token = String::from_utf8(secret).map_err(|_| {
                    ApiError::KeyringFailed(format!(
                        "the keyring's token for {origin} is not text; store it again"
                    ))
                })?;
                let username = item
                    .get_attributes()
                    .map_err(keyring_error)?
                    .get("username")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_USERNAME.to_owned());
                Ok(Some(Credential { username, token }))
            }
        }
    }

    /// What libgit2's credential callback sends for `url`: the kept token of its origin, if
    /// any. Keyring failures are logged and count as "no token" (Git then tries its own
    /// credential helpers).
    pub fn lookup(&self, url: &str) -> Option<Credential> {
        let origin = origin(url)?;
        if !sendable(&origin) {
            // Kept before, or allowed then: never sent in clear unless allowed now.
            tracing::warn!(
                origin,
                "not sending the kept Git token over plain http:// (set {CLEARTEXT_ENV}=allow)"
            );
            return None;
        }
        match self.get(&origin) {
            Ok(found) => found,
            Err(err) => {
                let (_, code) = err.status_and_code();
                tracing::warn!(
                    origin,
                    code,
                    "could not read the Git token from the keyring"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_key_tokens_by_server() {
        assert_eq!(
            origin("https://Git.Example.com/team/a.git").as_deref(),
            Some("https://git.example.com")
        );
        assert_eq!(
            origin("https://user:pw@git.example.com:8443/a.git").as_deref(),
            Some("https://git.example.com:8443")
        );
        assert_eq!(
            origin("https://git.example.com:443/a").as_deref(),
            Some("https://git.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/r.git").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        for no_token in [
            "git@github.com:team/a.git",
            "ssh://git@host/a.git",
            "file:///srv/a.git",
            "/srv/a.git",
            "",
            "https://",
        ] {
            assert_eq!(origin(no_token), None, "{no_token}");
        }
        assert!(matches!(
            origin_or_error("git@host:a.git"),
            Err(ApiError::InvalidRequest(_))
        ));
    }

    /// A store that keeps tokens in memory, whatever keyring the machine has.
    fn memory_store() -> Credentials {
        let store = Credentials::default();
        store
            .backend
            .set(Backend::Memory {
                reason: "test".into(),
            })
            .unwrap();
        store
    }

    #[test]
    fn tokens_go_to_plain_http_only_on_this_machine() {
        for local in [
            "https://git.example.com",
            "http://127.0.0.1:9000",
            "http://127.3.4.5",
            "http://localhost:8080",
            "http://[::1]:9000",
        ] {
            assert!(sendable(local), "{local}");
        }
        // The test process never sets the variable, so the default is what runs here.
        assert!(std::env::var(CLEARTEXT_ENV).is_err());
        for remote in [
            "http://git.example.com",
            "http://10.0.0.5:3000",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
            "ftp://git.example.com",
        ] {
            assert!(!sendable(remote), "{remote}");
        }
        let err = sendable_origin_or_error("http://git.example.com/team/a.git").unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidRequest(m) if m.contains("https://") && m.contains(CLEARTEXT_ENV)),
            "{err:?}"
        );
        assert_eq!(
            sendable_origin_or_error("https://git.example.com/a.git").unwrap(),
            "https://git.example.com"
        );
        // A token kept for such a server is not handed to Git.
        let store = memory_store();
        store
            .store(
                "http://git.example.com",
                &Credential::new(None, "secret").unwrap(),
            )
            .unwrap();
        assert_eq!(store.lookup("http://git.example.com/team/a.git"), None);
        store
            .store(
                "http://127.0.0.1:9000",
                &Credential::new(None, "local").unwrap(),
            )
            .unwrap();
        assert_eq!(
            store.lookup("http://127.0.0.1:9000/a.git").map(|c| c.token),
            Some("local".to_owned())
        );
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let c = Credential::new(None, "  ghp_secret  ").unwrap();
        assert_eq!(c.username, DEFAULT_USERNAME);
        assert_eq!(c.token, "ghp_secret");
        assert!(!format!("{c:?}").contains("ghp_secret"));
        assert_eq!(Credential::new(Some(" ann "), "t").unwrap().username, "ann");
        for (user, token) in [
            (None, ""),
            (None, "   "),
            (None, "a\nb"),
            (None, "a\u{0}b"),
            (Some("a:b"), "t"),
            (Some("a\nb"), "t"),
        ] {
            assert!(Credential::new(user, token).is_err(), "{user:?} {token:?}");
        }
        assert!(Credential::new(None, &"x".repeat(MAX_TOKEN + 1)).is_err());
        assert!(Credential::new(None, &"x".repeat(MAX_TOKEN)).is_ok());
    }

    #[test]
    fn the_memory_store_keeps_one_token_per_origin() {
        let store = memory_store();
        let info = store.info();
        assert_eq!((info.store, info.persistent), ("memory", false));
        let origin = "https://git.example.com";
        assert_eq!(store.get(origin).unwrap(), None);
        store
            .store(origin, &Credential::new(Some("a"), "one").unwrap())
            .unwrap();
        store
            .store(origin, &Credential::new(Some("b"), "two").unwrap())
            .unwrap();
        assert_eq!(
            store.list().unwrap(),
            vec![StoredCredential {
                origin: origin.into(),
                username: "b".into()
            }]
        );
        assert_eq!(
            store.lookup("https://GIT.example.com/x/y.git"),
            Some(Credential::new(Some("b"), "two").unwrap())
        );
        assert_eq!(store.lookup("https://other.example.com/x.git"), None);
        assert_eq!(store.lookup("file:///srv/x.git"), None);
        assert!(store.remove(origin).unwrap());
        assert!(!store.remove(origin).unwrap());
        assert_eq!(store.get(origin).unwrap(), None);
    }

    #[test]
    fn an_engine_token_is_never_a_git_token() {
        let store = memory_store();
        let origin = "https://engines.example.com";
        let admin = Credential::new(None, "admin-token").unwrap();
        store.store_kind(Kind::Engine, origin, &admin).unwrap();
        // Not listed, not looked up, not removed as a Git token of the same server.
        assert_eq!(store.list().unwrap(), vec![]);
        assert_eq!(store.lookup("https://engines.example.com/repo.git"), None);
        assert!(!store.remove(origin).unwrap());
        assert_eq!(store.get_kind(Kind::Engine, origin).unwrap(), Some(admin));
        let git = Credential::new(None, "git-token").unwrap();
        store.store(origin, &git).unwrap();
        assert_eq!(store.get(origin).unwrap(), Some(git));
        assert!(store.remove_kind(Kind::Engine, origin).unwrap());
        assert_eq!(store.get_kind(Kind::Engine, origin).unwrap(), None);
        assert!(store.get(origin).unwrap().is_some());
    }
}
