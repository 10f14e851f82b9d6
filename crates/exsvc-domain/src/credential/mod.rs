//! Credentials of a service (docs/api.md §1.2): typed, validated secrets that exist in
//! plaintext only in memory while a request is served; at rest they are
//! ciphertext produced by the `CredentialCipher` port.

mod secret;

pub use secret::{AuthType, CredentialSecret, CREDENTIALS_MAX_BYTES, TOKEN_AUTH_METHODS};

use chrono::{DateTime, Utc};

use crate::principal::TenantId;
use crate::service::ServiceId;

/// One stored credential version: metadata in clear, the secret as ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub tenant_id: TenantId,
    pub service_id: ServiceId,
    /// 1 for the first credential of a service, +1 for each new one.
    pub version: i64,
    pub auth_type: AuthType,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl CredentialRecord {
    /// The lowest version kept once this one is current: the current version and
    /// `earlier` versions before it stay, older ones are destroyed
    /// (`EXSVC_CREDENTIAL_MAX_VERSIONS`, docs/api.md §1.2). Version numbers are
    /// issued one by one and never reused, so the rule is arithmetic and every
    /// store applies it with the same `version < keep_from` delete.
    pub fn keep_from(&self, earlier: usize) -> i64 {
        self.version
            .saturating_sub(i64::try_from(earlier).unwrap_or(i64::MAX))
            .max(1)
    }
}

impl std::fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("tenant_id", &self.tenant_id)
            .field("service_id", &self.service_id)
            .field("version", &self.version)
            .field("auth_type", &self.auth_type)
            .field(
                "ciphertext",
                &format_args!("[{} bytes]", self.ciphertext.len()),
            )
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A version as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMeta {
    pub service_id: ServiceId,
    pub version: i64,
    pub auth_type: AuthType,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether this is the current (newest) version.
    pub current: bool,
}

impl From<&CredentialRecord> for CredentialMeta {
    fn from(r: &CredentialRecord) -> Self {
        Self {
            service_id: r.service_id,
            version: r.version,
            auth_type: r.auth_type,
            created_at: r.created_at,
            expires_at: r.expires_at,
            current: true,
        }
    }
}
