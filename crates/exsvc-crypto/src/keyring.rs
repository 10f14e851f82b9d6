//! The master keys: `EXSVC_MASTER_KEYS` (`id1:<base64>,id2:<base64>`) or
//! `EXSVC_MASTER_KEY_FILE` (one entry per line). The first key encrypts; every
//! key decrypts, so an old key stays until `exsvc keys rewrap` has moved all
//! data keys off it.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The length of a master key: AES-256.
pub const MASTER_KEY_LEN: usize = 32;

/// The longest key id; it must fit the one-byte length of the ciphertext framing.
pub const KEY_ID_MAX_CHARS: usize = 32;

// Operators paste keys from `openssl rand -base64 32` or from tools that drop the
// padding; both mean the same bytes, so padding is optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a keyring could not be read. Messages name an entry by its position or
/// its id, never by its text, so key material never reaches a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring has no keys")]
    Empty,
    /// `entry` counts the non-blank entries from 1.
    #[error("keyring entry {entry} is not of the form id:<base64 key>")]
    Malformed { entry: usize },
    #[error("keyring entry {entry} has an invalid id: it must be 1-{KEY_ID_MAX_CHARS} characters of A-Z a-z 0-9 . _ -")]
    InvalidId { entry: usize },
    #[error("the key of '{id}' is not valid base64")]
    InvalidBase64 { id: String },
    #[error("the key of '{id}' is {len} bytes; it must be exactly {MASTER_KEY_LEN}")]
    WrongLength { id: String, len: usize },
    #[error("the key id '{id}' appears more than once")]
    DuplicateId { id: String },
    #[error("the system's random number generator failed")]
    Randomness,
}

#[derive(Clone)]
pub(crate) struct MasterKey {
    pub(crate) id: String,
    pub(crate) key: Zeroizing<[u8; MASTER_KEY_LEN]>,
}

/// An ordered, non-empty list of master keys with distinct ids.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// Reads entries separated by commas and/or newlines; blank entries and `#`
    /// comments (to the end of the line) are skipped.
    ///
    /// # Errors
    /// A [`KeyringError`] naming the first entry that breaks a rule.
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let entries = text
            .lines()
            // '#' can occur in neither an id nor base64, so it always starts a comment.
            .map(|line| line.split('#').next().unwrap_or_default())
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());

        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, entry) in entries.enumerate() {
            let key = parse_entry(index + 1, entry)?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(KeyringError::DuplicateId { id: key.id });
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }

    /// A new `id:<base64>` entry with a random key, for an operator to prepend
    /// to the keyring.
    ///
    /// # Errors
    /// `InvalidId` (entry 1) for a bad id; `Randomness` if the system's
    /// randomness fails.
    pub fn generate_entry(id: &str) -> Result<Zeroizing<String>, KeyringError> {
        if !is_valid_id(id) {
            return Err(KeyringError::InvalidId { entry: 1 });
        }
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        SystemRandom::new()
            .fill(key.as_mut())
            .map_err(|_| KeyringError::Randomness)?;
        let mut entry = Zeroizing::new(String::with_capacity(id.len() + 1 + 44));
        entry.push_str(id);
        entry.push(':');
        BASE64.encode_string(key.as_ref(), &mut entry);
        Ok(entry)
    }

    /// The id of the key that encrypts.
    pub fn primary_id(&self) -> &str {
        &self.primary().id
    }

    /// Every id, the primary first.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub(crate) fn primary(&self) -> &MasterKey {
        // `parse` never builds an empty keyring, so index 0 always exists.
        &self.keys[0]
    }

    pub(crate) fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Whether `id` is 1-32 characters of `[A-Za-z0-9._-]`; ids go into logs and
/// into the ciphertext framing, so they stay short and printable.
pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=KEY_ID_MAX_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_entry(entry: usize, text: &str) -> Result<MasterKey, KeyringError> {
    let (id, encoded) = text
        .split_once(':')
        .ok_or(KeyringError::Malformed { entry })?;
    let (id, encoded) = (id.trim(), encoded.trim());
    if encoded.is_empty() {
        return Err(KeyringError::Malformed { entry });
    }
    if !is_valid_id(id) {
        return Err(KeyringError::InvalidId { entry });
    }
    let decoded = Zeroizing::new(
        BASE64
            .decode(encoded)
            .map_err(|_| KeyringError::InvalidBase64 { id: id.to_owned() })?,
    );
    let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
    if decoded.len() != MASTER_KEY_LEN {
        return Err(KeyringError::WrongLength {
            id: id.to_owned(),
            len: decoded.len(),
        });
    }
    key.copy_from_slice(&decoded);
    Ok(MasterKey {
        id: id.to_owned(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, byte: u8, len: usize) -> String {
        format!("{id}:{}", BASE64.encode(vec![byte; len]))
    }

    #[test]
    fn parses_comma_list_and_file_form_alike() {
        let list = format!("{},{}", entry("k2", 2, 32), entry("k1", 1, 32));
        let file = format!(
            "# rotated 2025-01\n\n{}  # current\n\r\n{}\n",
            entry("k2", 2, 32),
            entry("k1", 1, 32)
        );
        for text in [list, file] {
            let ring = Keyring::parse(&text).unwrap();
            assert_eq!(ring.primary_id(), "k2");
            assert_eq!(ring.ids().collect::<Vec<_>>(), ["k2", "k1"]);
            assert_eq!(*ring.get("k1").unwrap().key, [1u8; 32]);
        }
    }

    #[test]
    fn accepts_unpadded_base64() {
        let text = entry("k1", 7, 32);
        let unpadded = text.trim_end_matches('=');
        assert_ne!(text, unpadded);
        assert_eq!(*Keyring::parse(unpadded).unwrap().primary().key, [7u8; 32]);
    }

    #[test]
    fn rejects_each_broken_rule() {
        let good = entry("k1", 1, 32);
        let cases: Vec<(String, KeyringError)> = vec![
            (String::new(), KeyringError::Empty),
            (" \n# only a comment\n,,".into(), KeyringError::Empty),
            ("no-colon-here".into(), KeyringError::Malformed { entry: 1 }),
            (format!("{good},k2:"), KeyringError::Malformed { entry: 2 }),
            (entry("", 1, 32), KeyringError::InvalidId { entry: 1 }),
            (
                entry(&"a".repeat(33), 1, 32),
                KeyringError::InvalidId { entry: 1 },
            ),
            (entry("k/1", 1, 32), KeyringError::InvalidId { entry: 1 }),
            (entry("ké", 1, 32), KeyringError::InvalidId { entry: 1 }),
            (
                "k1:not*base64".into(),
                KeyringError::InvalidBase64 { id: "k1".into() },
            ),
            (
                entry("k1", 1, 16),
                KeyringError::WrongLength {
                    id: "k1".into(),
                    len: 16,
                },
            ),
            (
                entry("k1", 1, 33),
                KeyringError::WrongLength {
                    id: "k1".into(),
                    len: 33,
                },
            ),
            (
                format!("{good}\n{good}"),
                KeyringError::DuplicateId { id: "k1".into() },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Keyring::parse(&text).unwrap_err(),
                expected,
                "input {text:?}"
            );
        }
        assert!(Keyring::parse(&entry(&"a".repeat(32), 1, 32)).is_ok());
    }

    #[test]
    fn errors_and_debug_never_show_key_material() {
        // A recognisable key: its base64 and its bytes must appear nowhere.
        let canary = [0xC4u8; 32];
        let encoded = BASE64.encode(canary);
        let ring = Keyring::parse(&format!("canary:{encoded}")).unwrap();
        let debug = format!("{ring:?} {:?}", ring.primary());
        assert!(debug.contains("canary"));
        assert!(!debug.contains(&encoded[..8]));
        assert!(!debug.contains("196") && !debug.to_lowercase().contains("c4c4"));

        let short = BASE64.encode([0xC4u8; 31]);
        for text in [
            format!("bad id!:{encoded}"),
            format!("k1:{encoded}*"),
            format!("k1:{short}"),
            format!("k1:{encoded},k1:{encoded}"),
            encoded.clone(),
        ] {
            let message = Keyring::parse(&text).unwrap_err().to_string();
            assert!(!message.contains(&short[..8]), "{message}");
            assert!(!message.contains(&encoded[..8]), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn generated_entries_parse_and_differ() {
        let a = Keyring::generate_entry("k1").unwrap();
        let b = Keyring::generate_entry("k1").unwrap();
        assert_ne!(*a, *b);
        assert_eq!(Keyring::parse(&a).unwrap().primary_id(), "k1");
        assert_eq!(
            Keyring::generate_entry("bad id").unwrap_err(),
            KeyringError::InvalidId { entry: 1 }
        );
    }
}
