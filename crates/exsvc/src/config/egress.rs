//! Outbound requests (docs/api.md §10.3): which private networks they may
//! reach, the extra TLS roots they trust, their timeouts, retries and circuit
//! breaker, and the largest body the proxy forwards.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::core::{bounded, list, settings, Settings};
use super::ConfigError;

settings! {
    /// Comma-separated networks or addresses that outbound requests may reach although not public.
    EGRESS_ALLOW_CIDRS;
    /// A PEM file of extra root certificates for outbound TLS; read at start.
    EGRESS_CA_FILE;
    /// Outbound connect timeout, in milliseconds.
    EGRESS_CONNECT_TIMEOUT_MS = "3000";
    /// The longest wait, in milliseconds, for an upstream's response headers.
    EGRESS_TIMEOUT_MS = "30000";
    /// Extra attempts of an idempotent proxied request.
    EGRESS_RETRIES = "2";
    /// Consecutive failed attempts that open a service's circuit.
    EGRESS_BREAKER_FAILURES = "5";
    /// How long, in seconds, an open circuit stays open.
    EGRESS_BREAKER_OPEN_SECS = "30";
    /// The largest proxied request body, in bytes.
    PROXY_MAX_BODY_BYTES = "10485760";
}

#[derive(Clone, PartialEq, Eq)]
pub struct Egress {
    /// Networks let through although not public (empty: public addresses only).
    pub allow_cidrs: Vec<IpNet>,
    /// The contents of `EXSVC_EGRESS_CA_FILE`: at least one PEM certificate.
    pub ca_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    /// The longest wait for response headers.
    pub response_timeout: Duration,
    pub retries: u32,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
    pub proxy_max_body_bytes: usize,
}

impl std::fmt::Debug for Egress {
    /// The CA file by its size: a bundle of roots is no line for a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("allow_cidrs", &self.allow_cidrs)
            .field(
                "ca_pem",
                &self
                    .ca_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("retries", &self.retries)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_open", &self.breaker_open)
            .field("proxy_max_body_bytes", &self.proxy_max_body_bytes)
            .finish()
    }
}

pub(super) fn read(settings: &Settings) -> Result<Egress, ConfigError> {
    Ok(Egress {
        allow_cidrs: settings
            .read(EGRESS_ALLOW_CIDRS, list(network))?
            .unwrap_or_default(),
        ca_pem: settings.read(EGRESS_CA_FILE, ca_file)?,
        connect_timeout: Duration::from_millis(settings.read(
            EGRESS_CONNECT_TIMEOUT_MS,
            bounded(10..=600_000, "a number of milliseconds"),
        )?),
        response_timeout: Duration::from_millis(settings.read(
            EGRESS_TIMEOUT_MS,
            bounded(10..=600_000, "a number of milliseconds"),
        )?),
        retries: settings.read(EGRESS_RETRIES, bounded(0..=10, "a number"))?,
        breaker_failures: settings
            .read(EGRESS_BREAKER_FAILURES, bounded(1..=10_000, "a number"))?,
        breaker_open: Duration::from_secs(settings.read(
            EGRESS_BREAKER_OPEN_SECS,
            bounded(1..=86_400, "a number of seconds"),
        )?),
        proxy_max_body_bytes: settings.read(
            PROXY_MAX_BODY_BYTES,
            bounded(1..=1_073_741_824, "a number of bytes"),
        )?,
    })
}

/// `10.0.0.0/8`, `fd00::/8`, or a bare address (its own /32 or /128).
/// Host bits are cleared: `10.1.2.3/8` is `10.0.0.0/8`.
fn network(entry: &str) -> Result<IpNet, String> {
    entry
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{entry}' is not an address or a network like 10.0.0.0/8"))
}

/// The file's bytes, when it holds at least one well-formed PEM certificate.
fn ca_file(path: &str) -> Result<Vec<u8>, String> {
    let path = path.trim();
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let blocks = pem::parse_many(&bytes).map_err(|e| format!("{path}: not PEM: {e}"))?;
    if !blocks.iter().any(|block| block.tag() == "CERTIFICATE") {
        return Err(format!("{path}: holds no PEM certificate"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;

    use super::*;
    use crate::config::layered;

    fn load(vars: &[(&str, &str)]) -> Result<Egress, ConfigError> {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::new(layered(None, env)?).gather(read)
    }

    /// A temporary file holding `contents`, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> Self {
            let mut name = [0u8; 8];
            getrandom::fill(&mut name).unwrap();
            let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
            let path = std::env::temp_dir().join(format!("exsvc-egress-{name}.pem"));
            std::fs::File::create(&path)
                .unwrap()
                .write_all(contents)
                .unwrap();
            Self(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A PEM block of `tag` around a few bytes (what is inside is the TLS
    /// library's to judge; start-up checks only that a certificate is there).
    fn pem_block(tag: &str) -> String {
        pem::encode(&pem::Pem::new(tag, vec![0x30, 0x03, 0x02, 0x01, 0x01]))
    }

    #[test]
    fn defaults() {
        let egress = load(&[]).unwrap();
        assert!(egress.allow_cidrs.is_empty());
        assert!(egress.ca_pem.is_none());
        assert_eq!(egress.connect_timeout, Duration::from_millis(3000));
        assert_eq!(egress.response_timeout, Duration::from_secs(30));
        assert_eq!(egress.retries, 2);
        assert_eq!(egress.breaker_failures, 5);
        assert_eq!(egress.breaker_open, Duration::from_secs(30));
        assert_eq!(egress.proxy_max_body_bytes, 10_485_760);
    }

    #[test]
    fn values_are_read() {
        let egress = load(&[
            (
                "EXSVC_EGRESS_ALLOW_CIDRS",
                "127.0.0.0/8, 10.1.2.3/16,::1 ,fd00::/8,,192.168.1.7",
            ),
            ("EXSVC_EGRESS_CONNECT_TIMEOUT_MS", "250"),
            ("EXSVC_EGRESS_TIMEOUT_MS", "1500"),
            ("EXSVC_EGRESS_RETRIES", "0"),
            ("EXSVC_EGRESS_BREAKER_FAILURES", "1"),
            ("EXSVC_EGRESS_BREAKER_OPEN_SECS", "5"),
            ("EXSVC_PROXY_MAX_BODY_BYTES", "1024"),
        ])
        .unwrap();
        let shown: Vec<String> = egress.allow_cidrs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.0/8",
                "10.1.0.0/16",
                "::1/128",
                "fd00::/8",
                "192.168.1.7/32"
            ]
        );
        assert!(egress.allow_cidrs[0].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert_eq!(egress.connect_timeout, Duration::from_millis(250));
        assert_eq!(egress.response_timeout, Duration::from_millis(1500));
        assert_eq!(egress.retries, 0);
        assert_eq!(egress.breaker_failures, 1);
        assert_eq!(egress.breaker_open, Duration::from_secs(5));
        assert_eq!(egress.proxy_max_body_bytes, 1024);
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases = [
            ("EXSVC_EGRESS_ALLOW_CIDRS", "10.0.0.0/40"),
            ("EXSVC_EGRESS_ALLOW_CIDRS", "127.0.0.0/8,localhost"),
            ("EXSVC_EGRESS_CA_FILE", "/nonexistent/ca.pem"),
            ("EXSVC_EGRESS_CONNECT_TIMEOUT_MS", "0"),
            ("EXSVC_EGRESS_CONNECT_TIMEOUT_MS", "soon"),
            ("EXSVC_EGRESS_TIMEOUT_MS", "600001"),
            ("EXSVC_EGRESS_RETRIES", "11"),
            ("EXSVC_EGRESS_RETRIES", "-1"),
            ("EXSVC_EGRESS_BREAKER_FAILURES", "0"),
            ("EXSVC_EGRESS_BREAKER_OPEN_SECS", "0"),
            ("EXSVC_PROXY_MAX_BODY_BYTES", "0"),
            ("EXSVC_PROXY_MAX_BODY_BYTES", "10MB"),
        ];
        for (variable, value) in cases {
            let err = load(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{variable}={value}: {err}");
        }
    }

    #[test]
    fn a_bad_network_is_named_in_the_error() {
        let err = load(&[("EXSVC_EGRESS_ALLOW_CIDRS", "127.0.0.0/8, 10.0.0.0/33")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EXSVC_EGRESS_ALLOW_CIDRS: '10.0.0.0/33' is not an address or a network like 10.0.0.0/8"
        );
    }

    #[test]
    fn the_ca_file_must_hold_a_pem_certificate() {
        let good = TempFile::new(
            format!(
                "# our roots\n{}{}",
                pem_block("CERTIFICATE"),
                pem_block("CERTIFICATE")
            )
            .as_bytes(),
        );
        let egress = load(&[("EXSVC_EGRESS_CA_FILE", good.path())]).unwrap();
        assert_eq!(
            egress.ca_pem.as_deref(),
            Some(std::fs::read(&good.0).unwrap().as_slice()),
            "the bytes are kept as read"
        );
        assert!(format!("{egress:?}").contains("bytes"), "{egress:?}");

        let key_only = TempFile::new(pem_block("PRIVATE KEY").as_bytes());
        let text = TempFile::new(b"not a certificate at all\n");
        let empty = TempFile::new(b"");
        for file in [&key_only, &text, &empty] {
            let err = load(&[("EXSVC_EGRESS_CA_FILE", file.path())]).unwrap_err();
            assert_eq!(err.variable, "EXSVC_EGRESS_CA_FILE");
            assert!(err.reason.contains(file.path()), "{err}");
        }
    }
}
