use zeroize::Zeroizing;

use crate::principal::TenantId;
use crate::service::ServiceId;

/// What a stored credential ciphertext is bound to. A ciphertext moved to
/// another tenant, service or version fails to decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBinding {
    pub tenant: TenantId,
    pub service: ServiceId,
    pub version: i64,
}

/// Why a ciphertext could not be produced or opened. Never carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The master key named by the ciphertext is not in the keyring.
    #[error("the master key '{0}' is not in the keyring (EXSVC_MASTER_KEYS or EXSVC_MASTER_KEY_FILE; keys made in development mode live in the data directory's dev-master-key)")]
    UnknownKey(String),
    /// Authentication failed: tampered bytes, or bytes bound to another
    /// tenant, service or version.
    #[error("the ciphertext does not authenticate")]
    Tampered,
    /// Not bytes this cipher produced (wrong format version, truncated).
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("encryption failed")]
    Failed,
}

/// Envelope encryption of credential plaintexts (docs/api.md §6).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait CredentialCipher: Send + Sync + 'static {
    /// Encrypts `plaintext` under a fresh data key, itself encrypted under the
    /// keyring's first master key, bound to `binding`.
    ///
    /// # Errors
    /// `Failed` only if the system's randomness fails.
    fn encrypt(
        &self,
        plaintext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Vec<u8>, CipherError>;

    /// Opens a ciphertext made by `encrypt` with the same binding.
    ///
    /// # Errors
    /// `UnknownKey`, `Tampered` or `Malformed`; never a partial plaintext.
    fn decrypt(
        &self,
        ciphertext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Zeroizing<Vec<u8>>, CipherError>;

    /// Re-encrypts the data key of `ciphertext` under the first master key.
    /// `None` when it already is.
    ///
    /// # Errors
    /// As `decrypt`.
    fn rewrap(
        &self,
        ciphertext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Option<Vec<u8>>, CipherError>;

    /// A keyed digest (HMAC-SHA-256) of `data` under a key derived from the
    /// first master key, with that key's id. It recognises a repeated request
    /// that holds a secret without storing anything a stolen database could be
    /// searched with.
    fn request_digest(&self, data: &[u8]) -> (String, [u8; 32]);

    /// The digest of `data` under the master key `key_id`, as
    /// `request_digest` made it then; `None` when that key has left the
    /// keyring.
    fn request_digest_with(&self, key_id: &str, data: &[u8]) -> Option<[u8; 32]>;
}
