//! An app whose egress rules let it reach the test's own servers: loopback
//! allowed (`EXSVC_EGRESS_ALLOW_CIDRS=127.0.0.0/8`) and a CA made for the
//! test trusted (`EXSVC_EGRESS_CA_FILE`), as docs/api.md §10.3 describes.

use exsvc_testkit_net::TestCa;

use crate::TestOptions;

/// The test's CA and the options that trust it.
pub struct LocalEgress {
    pub ca: TestCa,
}

impl Default for LocalEgress {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalEgress {
    pub fn new() -> Self {
        Self { ca: TestCa::new() }
    }

    /// Default options, plus loopback allowed and the CA trusted.
    pub fn options(&self) -> TestOptions {
        TestOptions {
            egress_allow_cidrs: vec!["127.0.0.0/8".parse().expect("a CIDR")],
            egress_ca_pem: Some(self.ca.ca_pem().into_bytes()),
            ..TestOptions::default()
        }
    }

    /// Default options with only the CA trusted: no private address is allowed.
    pub fn options_without_allow_list(&self) -> TestOptions {
        TestOptions {
            egress_ca_pem: Some(self.ca.ca_pem().into_bytes()),
            ..TestOptions::default()
        }
    }
}
