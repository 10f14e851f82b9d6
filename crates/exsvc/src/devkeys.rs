//! Development mode (docs/api.md §7): with no key source configured and `EXSVC_ENV` not
//! `production`, the keys are made once under the data directory (mode 0600) and
//! reused on later starts, so tokens and data survive a restart.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use exsvc_auth::HmacSecret;
use exsvc_crypto::Keyring;
use secrecy::SecretString;

const HMAC_SECRET_FILE: &str = "dev-jwt-secret";
const MASTER_KEY_FILE: &str = "dev-master-key";

/// A development key file and whether this call created it.
pub struct DevKey {
    pub secret: HmacSecret,
    pub path: PathBuf,
    pub created: bool,
}

/// The development HMAC secret if `serve` has made one in `data_dir`; `exsvc
/// token` only reads it: a secret it made itself would sign tokens no running
/// server accepts.
///
/// # Errors
/// When the file cannot be read or holds a secret under 32 bytes.
pub fn existing_hmac_secret(data_dir: &Path) -> Result<Option<DevKey>, String> {
    let path = data_dir.join(HMAC_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => dev_key(&text, path, false).map(Some),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn dev_key(text: &str, path: PathBuf, created: bool) -> Result<DevKey, String> {
    let secret = HmacSecret::new(SecretString::from(text.trim().to_owned()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(DevKey {
        secret,
        path,
        created,
    })
}

/// Reads the development HMAC secret, creating it (48 random bytes, base64,
/// mode 0600) on first use.
///
/// # Errors
/// When the data directory or the file cannot be read or written, or the file
/// holds a secret under 32 bytes.
pub fn hmac_secret(data_dir: &Path) -> Result<DevKey, String> {
    let path = data_dir.join(HMAC_SECRET_FILE);
    let (text, created) = read_or_create(&path, || {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
        Ok(STANDARD.encode(bytes))
    })?;
    dev_key(&text, path, created)
}

/// Reads the key file, or creates it atomically: the key is written to a
/// private temporary file first and then linked into place, so no reader ever
/// sees a half-written key, and of two processes starting at once one wins and
/// both use its key.
/// Reads the development master keyring (one `dev1:<base64>` entry), creating
/// it (mode 0600) on first use.
///
/// # Errors
/// As `hmac_secret`, or when the file is not a keyring.
pub fn master_keyring(data_dir: &Path) -> Result<(Keyring, PathBuf, bool), String> {
    let path = data_dir.join(MASTER_KEY_FILE);
    let (text, created) = read_or_create(&path, || {
        Keyring::generate_entry("dev1")
            .map(|entry| entry.to_string())
            .map_err(|e| e.to_string())
    })?;
    let keyring = Keyring::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((keyring, path, created))
}

fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<String, String>,
) -> Result<(String, bool), String> {
    let shown = path.display();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let read = || std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"));
    match std::fs::metadata(path) {
        Ok(_) => return Ok((read()?, false)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    }
    let text = make()?;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
        });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok((text, true)),
        // Another process linked its key first: use that one.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok((read()?, false)),
        Err(e) => Err(format!("cannot write {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = std::env::temp_dir().join(format!("exsvc-devkeys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = hmac_secret(&dir).unwrap();
        assert!(first.created);
        let mode = std::fs::metadata(&first.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = hmac_secret(&dir).unwrap();
        assert!(!second.created);
        assert_eq!(first.secret.expose_bytes(), second.secret.expose_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
