//! A certificate authority made at test time.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names a leaf of [`TestCa::server_config_default`] is valid for.
pub const LOCAL_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// A CA of the test's own. Trust it by writing [`TestCa::ca_pem`] to the file
/// named by `EXSVC_EGRESS_CA_FILE`; a second `TestCa` is a CA nobody trusts.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "exsvc test CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_pem(&self, path: impl AsRef<std::path::Path>) {
        std::fs::write(path, &self.cert_pem).expect("write the CA PEM");
    }

    /// A leaf certificate for `names` (an IP address becomes an IP SAN, anything
    /// else a DNS SAN), signed by this CA: (chain, key).
    pub fn issue(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        params.distinguished_name = name;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone(), self.cert_der.clone()], key)
    }

    /// A rustls server configuration (HTTP/1.1) presenting a leaf for `names`.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let (chain, key) = self.issue(names);
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// [`TestCa::server_config`] for `127.0.0.1`, `::1` and `localhost`.
    pub fn server_config_default(&self) -> Arc<rustls::ServerConfig> {
        self.server_config(&LOCAL_NAMES)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}
