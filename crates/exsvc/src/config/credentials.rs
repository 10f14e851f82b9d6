//! How credentials are kept: encrypted under the master keyring, with a bounded
//! history of earlier versions.

use exsvc_crypto::Keyring;

use super::core::{bounded, settings, Settings};
use super::deployment::{Environment, ENV};
use super::ConfigError;

settings! {
    /// The master keyring, `id1:<base64 of 32 bytes>,id2:…`: the first encrypts.
    MASTER_KEYS;
    /// A file of keyring entries, one per line; not together with `MASTER_KEYS`.
    MASTER_KEY_FILE;
    /// Earlier credential versions kept per service beside the current one.
    CREDENTIAL_MAX_VERSIONS = "10";
}

#[derive(Debug)]
pub struct Credentials {
    /// `None` only in development: a master key is then kept in the data directory.
    pub keyring: Option<Keyring>,
    pub max_versions: usize,
}

pub(super) fn read(
    settings: &Settings,
    environment: Environment,
) -> Result<Credentials, ConfigError> {
    let keyring = keyring(settings)?;
    let refused = settings.refused(&[MASTER_KEYS.name(), MASTER_KEY_FILE.name()]);
    if environment == Environment::Production && keyring.is_none() && !refused {
        settings.refuse(MASTER_KEYS.missing(
            &[MASTER_KEY_FILE.name()],
            format!("is required when {}=production", ENV.name()),
        ));
    }
    Ok(Credentials {
        keyring,
        max_versions: settings.read(CREDENTIAL_MAX_VERSIONS, bounded(0..=1000, "a number"))?,
    })
}

/// The master keyring from `EXSVC_MASTER_KEYS` or `EXSVC_MASTER_KEY_FILE` (not
/// both); `None` when neither is set.
pub(super) fn keyring(settings: &Settings) -> Result<Option<Keyring>, ConfigError> {
    let from_keys = settings.read(MASTER_KEYS, |keys| {
        Keyring::parse(keys).map_err(|e| e.to_string())
    })?;
    let from_file = settings.read(MASTER_KEY_FILE, |path| {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Keyring::parse(&text).map_err(|e| format!("{path}: {e}"))
    })?;
    if settings.is_set(MASTER_KEYS) && settings.is_set(MASTER_KEY_FILE) {
        // Which one would win is a guess.
        settings.refuse(MASTER_KEYS.invalid(format!(
            "cannot be set together with {}: set one",
            MASTER_KEY_FILE.name()
        )));
        return Ok(None);
    }
    Ok(from_keys.or(from_file))
}
