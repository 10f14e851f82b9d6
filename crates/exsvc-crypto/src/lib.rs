//! Credentials at rest (docs/api.md §6): AES-256-GCM envelope encryption on ring,
//! implementing the domain's `CredentialCipher` port.

mod envelope;
mod keyring;

pub use envelope::EnvelopeCipher;
pub use keyring::{Keyring, KeyringError, KEY_ID_MAX_CHARS, MASTER_KEY_LEN};
