//! A certificate authority made by a TLS test, and the certificates it signs (rcgen).

#![allow(dead_code)]

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// A CA of the test and a server certificate it signed for `localhost` and `127.0.0.1`, also
/// written as PEM files (`server.pem`, `server-key.pem`) for servers that read files.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivatePkcs8KeyDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// The server certificate and key files.
    pub fn server_files(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server-key.pem"),
        )
    }

    /// A client certificate the CA signed, as certificate and key files.
    pub fn client_files(&self, name: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.issuer).expect("client cert");
        let (cert_file, key_file) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}-key.pem")),
        );
        std::fs::write(&cert_file, cert.pem()).expect("write client cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write client key");
        (cert_file, key_file)
    }
}

/// A CA and a server certificate for `localhost` and `127.0.0.1`.
pub fn pki(name: &str) -> TestPki {
    pki_for(name, &["localhost", "127.0.0.1"])
}

/// A CA and a server certificate for these names.
pub fn pki_for(name: &str, names: &[&str]) -> TestPki {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("Starweave test CA {name}"));
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("server params");
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.path().join("server.pem"), server_cert.pem()).expect("write server.pem");
    std::fs::write(
        dir.path().join("server-key.pem"),
        server_key.serialize_pem(),
    )
    .expect("write server-key.pem");
    TestPki {
        ca_file,
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        issuer,
        dir,
    }
}
