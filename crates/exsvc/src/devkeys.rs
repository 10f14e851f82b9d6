//! Development mode (SPEC §7): with no key source configured and `EXSVC_ENV` not
//! `production`, the keys are made once under the data directory (mode 0600) and
//! reused on later starts, so tokens and data survive a restart.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use exsvc_auth::HmacSecret;
use secrecy::SecretString;

const HMAC_SECRET_FILE: &str = "dev-jwt-secret";

/// A development key file and whether this call created it.
pub struct DevKey {
    pub secret: HmacSecret,
    pub path: PathBuf,
    pub created: bool,
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
    let secret = HmacSecret::new(SecretString::from(text.trim().to_owned()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(DevKey {
        secret,
        path,
        created,
    })
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
    // create_new: two processes starting at once cannot both write a key.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let text = make()?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {shown}: {e}"))?;
            Ok((text, true))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            Ok((text, false))
        }
        Err(e) => Err(format!("cannot create {shown}: {e}")),
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
