//! Connecting to NATS, for the `mq` connector's publisher and for MQ triggers alike.
//!
//! A connector's URL names one server or several separated by commas (a cluster: the client
//! picks one and fails over to the others), each `nats://host:port` or `tls://host:port`, with
//! `user:password@` or `token@` when the server wants them (percent-encoded; the first server
//! that has credentials gives them for all). TLS is used for `tls://` and
//! whenever the server asks for it, and the server's certificate is checked against the
//! system's roots. Three query parameters, with the names RabbitMQ's and NATS's own tools use,
//! configure TLS further; the server never sees them:
//!
//! - `cacertfile=/path/ca.pem`: trust the CA certificates in that file instead of the system's
//!   roots (a private CA), and require TLS;
//! - `certfile=/path/cert.pem&keyfile=/path/key.pem`: present that client certificate (mutual
//!   TLS, `verify: true` on the server).
//!
//! Two more name the files of NATS's key-based authentication, instead of credentials in the
//! URL:
//!
//! - `credsfile=/path/user.creds`: a user's JWT and NKey seed, as `nsc` writes them (servers
//!   in operator mode, Synadia Cloud);
//! - `nkeyfile=/path/user.nk`: a user's NKey seed alone (servers listing NKey users).

use std::path::PathBuf;
use std::time::Duration;

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the query parameters of a NATS URL asked for.
#[derive(Debug, Default, PartialEq)]
struct TlsFiles {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    creds: Option<PathBuf>,
    nkey: Option<PathBuf>,
}

/// The credentials in a NATS URL.
#[derive(Debug, PartialEq)]
enum Credentials {
    /// `user:password@`.
    UserPassword(String, String),
    /// `token@`.
    Token(String),
}

/// The credentials of the first server address that has some, percent-decoded. async-nats
/// does not read them from the URL itself.
fn credentials(servers: &[async_nats::ServerAddr]) -> Option<Credentials> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    servers.iter().find_map(|server| {
        let user = server.username()?;
        Some(match server.password() {
            Some(password) => Credentials::UserPassword(decode(user), decode(password)),
            None => Credentials::Token(decode(user)),
        })
    })
}

/// Splits `url` into the server addresses async-nats takes and the TLS files of its query
/// parameters. Errors never repeat the URL (it may hold a password).
fn parse(url: &str) -> Result<(Vec<async_nats::ServerAddr>, TlsFiles), String> {
    let mut files = TlsFiles::default();
    let mut servers = Vec::new();
    for (index, part) in url.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            return Err(format!(
                "server {} of the NATS URL is empty (a stray comma?)",
                index + 1
            ));
        }
        let mut address = part.to_owned();
        if part.contains('?') {
            let mut parsed = reqwest::Url::parse(part)
                .map_err(|e| format!("server {} of the NATS URL: {e}", index + 1))?;
            for (name, value) in parsed.query_pairs() {
                let path = Some(PathBuf::from(value.as_ref()));
                match name.as_ref() {
                    "cacertfile" => files.ca = path,
                    "certfile" => files.cert = path,
                    "keyfile" => files.key = path,
                    "credsfile" => files.creds = path,
                    "nkeyfile" => files.nkey = path,
                    other => {
                        return Err(format!(
                            "the NATS URL has an unknown parameter `{other}` (known: cacertfile, certfile, keyfile, credsfile, nkeyfile)"
                        ));
                    }
                }
            }
            parsed.set_query(None);
            address = parsed.to_string();
        }
        let server = address
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| format!("server {} of the NATS URL: {e}", index + 1))?;
        servers.push(server);
    }
    if files.cert.is_some() != files.key.is_some() {
        return Err("the NATS URL names a client certificate without its key, or a key without its certificate (certfile and keyfile go together)".into());
    }
    if files.creds.is_some() && files.nkey.is_some() {
        return Err(
            "the NATS URL names both a credentials file and an NKey seed file; one of them".into(),
        );
    }
    for path in [
        &files.ca,
        &files.cert,
        &files.key,
        &files.creds,
        &files.nkey,
    ]
    .into_iter()
    .flatten()
    {
        if !path.is_file() {
            return Err(format!(
                "the file `{}` named in the NATS URL cannot be read",
                path.display()
            ));
        }
    }
    Ok((servers, files))
}

/// Connects to the NATS server(s) at `url` (see the module docs), naming the connection
/// `name` in the server's monitoring.
pub(crate) async fn connect(url: &str, name: &str) -> Result<async_nats::Client, String> {
    // async-nats builds its TLS configuration with rustls' process-wide provider.
    super::tls_provider();
    let (servers, files) = parse(url)?;
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .name(name);
    options = match credentials(&servers) {
        Some(Credentials::UserPassword(user, password)) => {
            options.user_and_password(user, password)
        }
        Some(Credentials::Token(token)) => options.token(token),
        None => options,
    };
    if let Some(creds) = &files.creds {
        options = options.credentials_file(creds).await.map_err(|e| {
            format!(
                "the credentials file `{}` cannot be used: {e}",
                creds.display()
            )
        })?;
    }
    if let Some(nkey) = &files.nkey {
        let seed = std::fs::read_to_string(nkey)
            .map_err(|e| format!("cannot read the NKey seed file `{}`: {e}", nkey.display()))?;
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(ca) = files.ca {
        options = options.add_root_certificates(ca).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (files.cert, files.key) {
        options = options.add_client_certificate(cert, key).require_tls(true);
    }
    options
        .connect(servers)
        .await
        .map_err(|e| format!("cannot connect to NATS: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_clustered_urls_become_server_addresses() {
        let (servers, files) = parse("nats://127.0.0.1:4222").expect("one server");
        assert_eq!(servers.len(), 1);
        assert_eq!(files, TlsFiles::default());
        let (servers, _) =
            parse("nats://a.example:4222, tls://user:secret@b.example:4443").expect("two servers");
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].host(), "b.example");
        assert_eq!(servers[1].port(), 4443);
        assert!(servers[1].tls_required());
        assert!(servers[1].has_user_pass());
    }

    #[test]
    fn credentials_come_from_the_first_server_that_has_them() {
        let (servers, _) =
            parse("nats://a:4222,nats://us%40er:p%3Ass@b:4222,nats://other:x@c:4222")
                .expect("parses");
        assert_eq!(
            credentials(&servers),
            Some(Credentials::UserPassword("us@er".into(), "p:ss".into()))
        );
        let (servers, _) = parse("tls://s3cr3t-token@a:4222").expect("parses");
        assert_eq!(
            credentials(&servers),
            Some(Credentials::Token("s3cr3t-token".into()))
        );
        let (servers, _) = parse("nats://a:4222").expect("parses");
        assert_eq!(credentials(&servers), None);
    }

    #[test]
    fn tls_files_are_taken_from_the_query_and_kept_from_the_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").expect("write");
        let url = format!("tls://127.0.0.1:4443?cacertfile={}", ca.display());
        let (servers, files) = parse(&url).expect("parses");
        assert_eq!(files.ca.as_deref(), Some(ca.as_path()));
        assert_eq!(servers[0].host(), "127.0.0.1");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        for (url, expected) in [
            ("nats://a:4222,", "server 2 of the NATS URL is empty"),
            (
                "nats://u:hunter2@a:4222?verify=1",
                "unknown parameter `verify`",
            ),
            (
                "nats://a:4222?certfile=/etc/hostname",
                "certfile and keyfile",
            ),
            (
                "nats://a:4222?credsfile=/etc/hostname&nkeyfile=/etc/hostname",
                "one of them",
            ),
            (
                "nats://a:4222?cacertfile=/nonexistent/ca.pem",
                "`/nonexistent/ca.pem`",
            ),
        ] {
            let error = parse(url).expect_err(url);
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{url}: {error}");
        }
    }
}
