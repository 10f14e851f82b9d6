//! The typed secret part of a credential and its rules.

use std::fmt;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::validation::FieldErrors;

/// Largest serialized `credentials` object.
pub const CREDENTIALS_MAX_BYTES: usize = 16 * 1024;
const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    ApiKey,
    Basic,
    Bearer,
    OAuth2ClientCredentials,
    Custom,
}

impl AuthType {
    pub const ALL: [AuthType; 5] = [
        AuthType::ApiKey,
        AuthType::Basic,
        AuthType::Bearer,
        AuthType::OAuth2ClientCredentials,
        AuthType::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::ApiKey => "api_key",
            AuthType::Basic => "basic",
            AuthType::Bearer => "bearer",
            AuthType::OAuth2ClientCredentials => "oauth2_client_credentials",
            AuthType::Custom => "custom",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// (required string keys, optional string keys) of a known type.
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            AuthType::ApiKey => (&["key"], &["header_name", "query_param"]),
            AuthType::Basic => (&["username", "password"], &[]),
            AuthType::Bearer => (&["token"], &[]),
            AuthType::OAuth2ClientCredentials => (
                &["client_id", "client_secret", "token_url"],
                &["audience", "token_auth_method"],
            ),
            AuthType::Custom => (&[], &[]),
        }
    }
}

/// A validated credential secret: the JSON object, serialized, in memory that is
/// wiped when dropped. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct CredentialSecret {
    auth_type: AuthType,
    json: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for CredentialSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CredentialSecret({}, [REDACTED])",
            self.auth_type.as_str()
        )
    }
}

fn field(name: &str) -> String {
    format!("credentials.{name}")
}

impl CredentialSecret {
    /// Validates `credentials` for `auth_type` (docs/api.md §1.2): known types need
    /// their required keys as non-empty strings and refuse unknown keys;
    /// `oauth2_client_credentials` needs an https `token_url`; `custom` takes any
    /// object. Every object is at most 16 KiB serialized. Error keys are
    /// `auth_type` or `credentials.<key>`.
    ///
    /// # Errors
    /// The field errors.
    pub fn parse(auth_type: &Value, credentials: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let auth_type = match auth_type.as_str().and_then(AuthType::parse) {
            Some(t) => Some(t),
            None => {
                let names: Vec<&str> = AuthType::ALL.iter().map(|t| t.as_str()).collect();
                errors.add("auth_type", format!("must be one of {}", names.join(", ")));
                None
            }
        };
        let Value::Object(members) = credentials else {
            errors.add("credentials", "must be a JSON object");
            return Err(errors);
        };
        let size = serde_json::to_vec(members).map_or(usize::MAX, |b| b.len());
        if size > CREDENTIALS_MAX_BYTES {
            errors.add(
                "credentials",
                format!("must be at most {CREDENTIALS_MAX_BYTES} bytes serialized"),
            );
        }
        let Some(auth_type) = auth_type else {
            return Err(errors);
        };
        let mut members = members.clone();
        if auth_type != AuthType::Custom {
            check_known(auth_type, &members, &mut errors);
        }
        if auth_type == AuthType::ApiKey
            && !members.contains_key("header_name")
            && !members.contains_key("query_param")
        {
            members.insert("header_name".into(), Value::from(DEFAULT_API_KEY_HEADER));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let json = serde_json::to_vec(&Value::Object(members))
            .map_err(|_| FieldErrors::single("credentials", "cannot be serialized"))?;
        Ok(Self {
            auth_type,
            json: Zeroizing::new(json),
        })
    }

    /// Rebuilds a secret from decrypted bytes of a stored version.
    ///
    /// # Errors
    /// When the bytes are not a JSON object (a corrupt record).
    pub fn from_plaintext(
        auth_type: AuthType,
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Result<Self, &'static str> {
        match serde_json::from_slice::<Value>(&plaintext) {
            Ok(Value::Object(_)) => Ok(Self {
                auth_type,
                json: plaintext,
            }),
            _ => Err("the decrypted credential is not a JSON object"),
        }
    }

    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// The serialized object, to be encrypted.
    pub fn plaintext(&self) -> &[u8] {
        &self.json
    }

    /// The object, for the one response that returns it.
    pub fn expose(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// Header names exsvc sets itself when it sends a request: a credential may
/// not name them (docs/api.md §1.2).
const RESERVED_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];
const NAME_MAX_CHARS: usize = 64;
/// How an OAuth client authenticates at the token endpoint (RFC 6749 §2.3.1).
pub const TOKEN_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// An HTTP header name: an RFC 9110 token (§5.6.2) of 1–64 characters that
/// exsvc does not set itself. CR, LF, NUL and spaces are not token characters,
/// so no value can smuggle a second header.
fn check_header_name(name: &str) -> Result<(), &'static str> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > NAME_MAX_CHARS || !name.bytes().all(token) {
        return Err("must be an HTTP header name: 1-64 letters, digits or !#$%&'*+-.^_`|~");
    }
    if RESERVED_HEADERS
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
    {
        return Err("names a header exsvc sets itself");
    }
    Ok(())
}

/// A query parameter name: 1–64 unreserved URL characters (RFC 3986 §2.3), so
/// it needs no escaping and cannot add a parameter of its own.
fn check_query_param(name: &str) -> Result<(), &'static str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"._~-".contains(&b);
    if name.is_empty() || name.len() > NAME_MAX_CHARS || !name.bytes().all(unreserved) {
        return Err("must be 1-64 characters of A-Z a-z 0-9 . _ ~ -");
    }
    Ok(())
}

fn check_known(auth_type: AuthType, members: &Map<String, Value>, errors: &mut FieldErrors) {
    let (required, optional) = auth_type.keys();
    for key in required {
        match members.get(*key) {
            None | Some(Value::Null) => errors.add(field(key), "is required"),
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.add(field(key), "must not be empty")
            }
            Some(Value::String(_)) => {}
            Some(_) => errors.add(field(key), "must be a string"),
        }
    }
    let mut unknown = false;
    for (key, value) in members {
        let known = required.contains(&key.as_str()) || optional.contains(&key.as_str());
        let oauth_scopes = auth_type == AuthType::OAuth2ClientCredentials && key == "scopes";
        if oauth_scopes {
            let strings = value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string));
            if !strings {
                errors.add(field(key), "must be an array of strings");
            }
        } else if !known {
            // Never the key's name: it may be a secret pasted in the wrong place.
            unknown = true;
        } else if optional.contains(&key.as_str()) && !value.is_string() {
            errors.add(field(key), "must be a string");
        } else if let Some(text) = value.as_str() {
            let checked = match key.as_str() {
                "header_name" => check_header_name(text),
                "query_param" => check_query_param(text),
                "token_auth_method" if !TOKEN_AUTH_METHODS.contains(&text) => {
                    Err("must be client_secret_basic or client_secret_post")
                }
                _ => Ok(()),
            };
            if let Err(reason) = checked {
                errors.add(field(key), reason);
            }
        }
    }
    if unknown {
        errors.add(
            "credentials",
            format!(
                "has a key that {} credentials do not take",
                auth_type.as_str()
            ),
        );
    }
    if auth_type == AuthType::OAuth2ClientCredentials {
        if let Some(url) = members
            .get("token_url")
            .and_then(Value::as_str)
            .filter(|u| !u.trim().is_empty())
        {
            // The same rules (and documented pattern) as a service's base_url.
            let https = crate::service::BaseUrl::parse(url, false).is_ok();
            if !https {
                errors.add(field("token_url"), "must be an absolute https URL");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(auth_type: &str, credentials: Value) -> Result<CredentialSecret, FieldErrors> {
        CredentialSecret::parse(&json!(auth_type), &credentials)
    }

    #[test]
    fn each_type_accepts_its_shape() {
        assert!(parse("api_key", json!({"key": "k"})).is_ok());
        assert!(parse("api_key", json!({"key": "k", "query_param": "api_key"})).is_ok());
        assert!(parse("basic", json!({"username": "u", "password": "p"})).is_ok());
        assert!(parse("bearer", json!({"token": "t"})).is_ok());
        assert!(parse(
            "oauth2_client_credentials",
            json!({"client_id": "c", "client_secret": "s", "token_url": "https://auth.example/token", "scopes": ["a"], "audience": "x"})
        )
        .is_ok());
        assert!(parse("custom", json!({"anything": {"nested": [1, 2]}})).is_ok());
    }

    #[test]
    fn api_key_header_defaults() {
        let secret = parse("api_key", json!({"key": "k"})).unwrap();
        assert_eq!(
            secret.expose(),
            json!({"key": "k", "header_name": "X-API-Key"})
        );
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            ("nope", json!({}), "auth_type"),
            ("api_key", json!([]), "credentials"),
            ("api_key", json!({}), "credentials.key"),
            ("api_key", json!({"key": ""}), "credentials.key"),
            ("api_key", json!({"key": "  "}), "credentials.key"),
            ("api_key", json!({"key": 5}), "credentials.key"),
            ("api_key", json!({"key": "k", "extra": "x"}), "credentials"),
            (
                "api_key",
                json!({"key": "k", "header_name": "X-API-Key\r\nEvil: 1"}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": "X\u{0}"}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": ""}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": "X Key"}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": "x".repeat(10_000)}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": "Content-length"}),
                "credentials.header_name",
            ),
            (
                "api_key",
                json!({"key": "k", "query_param": "a&b=c"}),
                "credentials.query_param",
            ),
            (
                "api_key",
                json!({"key": "k", "query_param": ""}),
                "credentials.query_param",
            ),
            (
                "oauth2_client_credentials",
                json!({"client_id": "c", "client_secret": "s", "token_url": "https://a/t", "token_auth_method": "private_key_jwt"}),
                "credentials.token_auth_method",
            ),
            (
                "api_key",
                json!({"key": "k", "header_name": 3}),
                "credentials.header_name",
            ),
            ("basic", json!({"username": "u"}), "credentials.password"),
            ("bearer", json!({"token": null}), "credentials.token"),
            (
                "oauth2_client_credentials",
                json!({"client_id": "c", "client_secret": "s", "token_url": "http://auth.example/token"}),
                "credentials.token_url",
            ),
            (
                "oauth2_client_credentials",
                json!({"client_id": "c", "client_secret": "s", "token_url": "https://a/t", "scopes": "a b"}),
                "credentials.scopes",
            ),
            (
                "oauth2_client_credentials",
                json!({"client_id": "c", "client_secret": "s"}),
                "credentials.token_url",
            ),
            (
                "custom",
                json!({"blob": "x".repeat(CREDENTIALS_MAX_BYTES)}),
                "credentials",
            ),
        ];
        for (auth_type, credentials, field) in cases {
            let errors = parse(auth_type, credentials.clone()).unwrap_err();
            assert!(
                errors.get(field).is_some(),
                "{auth_type} {credentials}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_never_named() {
        let errors = parse("bearer", json!({"token": "t", "sk_live_CANARY": "x"})).unwrap_err();
        assert!(!format!("{errors:?}").contains("CANARY"), "{errors:?}");
        assert!(errors.get("credentials").is_some());
    }

    #[test]
    fn header_and_parameter_names_that_are_tokens_pass() {
        for name in [
            "X-API-Key",
            "x-api-key",
            "Api_Key.v2",
            "Authorization",
            "a!#$%&'*+-.^_`|~",
        ] {
            assert!(check_header_name(name).is_ok(), "{name}");
        }
        for name in ["api_key", "key.v2", "a~b-c"] {
            assert!(check_query_param(name).is_ok(), "{name}");
        }
        assert!(parse(
            "oauth2_client_credentials",
            json!({"client_id": "c", "client_secret": "s", "token_url": "https://a.example/t", "token_auth_method": "client_secret_post"})
        )
        .is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = parse("bearer", json!({"token": "CANARY-9f2c"})).unwrap();
        assert!(!format!("{secret:?}").contains("CANARY"));
    }

    #[test]
    fn plaintext_round_trips() {
        let secret = parse("basic", json!({"username": "u", "password": "p"})).unwrap();
        let again = CredentialSecret::from_plaintext(
            AuthType::Basic,
            Zeroizing::new(secret.plaintext().to_vec()),
        )
        .unwrap();
        assert_eq!(again.expose(), secret.expose());
        assert!(
            CredentialSecret::from_plaintext(AuthType::Basic, Zeroizing::new(b"[1]".to_vec()))
                .is_err()
        );
    }
}
