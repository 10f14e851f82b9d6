//! The shared HMAC secret (HS256/384/512).

use secrecy::{ExposeSecret, SecretString};

/// jsonwebtoken accepts even an empty HMAC key; a short one is guessable offline.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

/// A shared HMAC secret of at least 32 bytes. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct HmacSecret(SecretString);

impl HmacSecret {
    /// # Errors
    /// `SecretTooShort` under 32 bytes.
    pub fn new(secret: SecretString) -> Result<Self, SecretTooShort> {
        let len = secret.expose_secret().len();
        if len < MIN_HMAC_SECRET_BYTES {
            return Err(SecretTooShort(len));
        }
        Ok(Self(secret))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_debug_is_redacted() {
        assert_eq!(
            HmacSecret::new("x".repeat(31).into()).unwrap_err(),
            SecretTooShort(31)
        );
        let secret = HmacSecret::new("an-hmac-secret-of-at-least-32-bytes!".into()).unwrap();
        assert_eq!(format!("{secret:?}"), "HmacSecret([REDACTED])");
    }
}
