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

/// The longest `kid` an `EXSVC_JWT_SECRETS` entry may name.
pub const MAX_KID_CHARS: usize = 64;

/// At most this many HMAC secrets (`EXSVC_JWT_SECRETS` entries and
/// `EXSVC_JWT_SECRET` together): a token without `kid` is checked with each, so
/// the number bounds the work one token can cause (an HMAC check costs about a
/// microsecond; a rotation needs one new entry at a time).
pub const MAX_HMAC_SECRETS: usize = 8;

/// HMAC secrets by `kid` (`EXSVC_JWT_SECRETS`), in the order configured, each
/// kid once. `Debug` names the kids only.
#[derive(Clone, Default)]
pub struct HmacSecrets(Vec<(String, HmacSecret)>);

impl HmacSecrets {
    /// `kid:secret` entries separated by `separator` (`,` in a variable, `\n`
    /// in a file). Blank entries and, in a file, `#` comment lines are skipped;
    /// the kid ends at the first `:`, and kid and secret are trimmed.
    ///
    /// # Errors
    /// An entry without `:`, an empty or unprintable kid or one over 64
    /// characters, a secret under 32 bytes, a kid named twice, or more than
    /// `MAX_HMAC_SECRETS` entries. The message names the entry by position
    /// and kid, never by its text: a malformed entry may be all secret.
    pub fn parse(text: &str, separator: char) -> Result<Self, String> {
        let mut entries: Vec<(String, HmacSecret)> = Vec::new();
        let comments = separator == '\n';
        for (index, raw) in text.split(separator).enumerate() {
            let entry = raw.trim();
            if entry.is_empty() || (comments && entry.starts_with('#')) {
                continue;
            }
            let position = index + 1;
            let Some((kid, secret)) = entry.split_once(':') else {
                return Err(format!("entry {position} is not kid:secret"));
            };
            let kid = kid.trim();
            if kid.is_empty()
                || kid.chars().count() > MAX_KID_CHARS
                || !kid.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(format!(
                    "entry {position}: the kid must be 1–{MAX_KID_CHARS} printable ASCII characters"
                ));
            }
            // Errors name the entry by position only: an entry that is really
            // a bare secret containing ':' would put part of it in the kid.
            if entries.iter().any(|(k, _)| k == kid) {
                return Err(format!("entry {position} names a kid named before"));
            }
            let secret = HmacSecret::new(SecretString::from(secret.trim().to_owned()))
                .map_err(|e| format!("entry {position}: {e}"))?;
            entries.push((kid.to_owned(), secret));
        }
        if entries.len() > MAX_HMAC_SECRETS {
            return Err(format!(
                "holds {} secrets; at most {MAX_HMAC_SECRETS} are accepted",
                entries.len()
            ));
        }
        Ok(Self(entries))
    }

    /// The secrets of `pairs`, for tests and tools.
    ///
    /// # Errors
    /// A kid named twice.
    pub fn from_pairs(pairs: Vec<(String, HmacSecret)>) -> Result<Self, String> {
        for (i, (kid, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(k, _)| k == kid) {
                return Err(format!("the kid '{kid}' is named twice"));
            }
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, kid: &str) -> Option<&HmacSecret> {
        self.0.iter().find(|(k, _)| k == kid).map(|(_, s)| s)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &HmacSecret)> {
        self.0.iter().map(|(k, s)| (k.as_str(), s))
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn first(&self) -> Option<&HmacSecret> {
        self.0.first().map(|(_, s)| s)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for HmacSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HmacSecrets")
            .field(&self.kids().collect::<Vec<_>>())
            .finish()
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

    const A: &str = "a-first-secret-of-at-least-32-bytes!!";
    const B: &str = "b-second-secret-of-at-least-32-bytes!";

    #[test]
    fn named_secrets_parse_from_a_variable_and_a_file() {
        let env = HmacSecrets::parse(&format!(" default:{A} , sdk-agent:{B},"), ',').unwrap();
        assert_eq!(env.kids().collect::<Vec<_>>(), ["default", "sdk-agent"]);
        assert_eq!(env.get("sdk-agent").unwrap().expose_bytes(), B.as_bytes());
        let file = HmacSecrets::parse(
            &format!("# rotated 2024-05\n\ndefault:{A}\r\nsdk-agent:{B}:with:colons\n"),
            '\n',
        )
        .unwrap();
        assert_eq!(
            file.get("sdk-agent").unwrap().expose_bytes(),
            format!("{B}:with:colons").as_bytes()
        );
        assert_eq!(file.len(), 2);
        assert!(HmacSecrets::parse("", ',').unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused_without_showing_a_secret() {
        let cases = [
            (A.to_owned(), "entry 1 is not kid:secret"),
            (
                format!("default:{A},default:{B}"),
                "names a kid named before",
            ),
            ("default:short".to_owned(), "at least 32 bytes"),
            (format!(":{A}"), "the kid must be"),
            (format!("de fault:{A}"), "the kid must be"),
        ];
        for (text, expected) in cases {
            let error = HmacSecrets::parse(&text, ',').unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains(A) && !error.contains("short"), "{error}");
        }
        let many: Vec<String> = (0..=MAX_HMAC_SECRETS)
            .map(|i| format!("k{i}:{A}"))
            .collect();
        assert!(HmacSecrets::parse(&many.join(","), ',').is_err());
        // A comment is an entry in a variable: refused, not skipped.
        assert!(HmacSecrets::parse(&format!("#x,default:{A}"), ',').is_err());
    }

    #[test]
    fn debug_names_only_the_kids() {
        let secrets = HmacSecrets::parse(&format!("default:{A}"), ',').unwrap();
        assert_eq!(format!("{secrets:?}"), r#"HmacSecrets(["default"])"#);
    }
}
