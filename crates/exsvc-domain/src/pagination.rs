//! Keyset pagination of listings: newest `created_at` first, then `id`. A cursor
//! is the position (created_at, id) of the last row of a page, so the cost of a
//! page does not grow with the number of rows before it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::service::{ServiceId, ServiceStatus, ServiceType};
use crate::validation::FieldErrors;
use crate::ServiceError;

pub const DEFAULT_PAGE_LIMIT: u16 = 20;
pub const MAX_PAGE_LIMIT: u16 = 100;
const QUERY_MAX_CHARS: usize = 100;

/// Framing version of the cursor bytes, so the format can change without old
/// cursors being misread.
const CURSOR_FORMAT: u8 = 1;
const POSITION_LEN: usize = 1 + 8 + 16;
/// Truncated HMAC-SHA256 tag: forging a cursor means guessing 128 bits.
const TAG_LEN: usize = 16;
/// Positions outside 1970..10000 are never issued (and PostgreSQL refuses some).
const MAX_CURSOR_MICROS: i64 = 253_402_300_799_999_999;

/// The key that authenticates cursors. Replicas that share it accept each
/// other's cursors. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// Derives the cursor key from a deployment secret, bound to its purpose so
    /// the tag reveals nothing about the secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = hmac_sha256(secret);
        mac.update(b"exsvc listing cursor key v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        hmac_sha256(&self.0)
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so the fallback never runs.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([REDACTED])")
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: ServiceId,
}

impl Cursor {
    /// Opaque text: base64url of (format, created_at in µs, id, tag), where the tag
    /// authenticates the position together with the listing's filter.
    pub fn encode(&self, filter: &ServiceFilter, key: &CursorKey) -> String {
        filter.with_parts(|parts| self.encode_bound(parts, key))
    }

    /// Encodes a position bound to any listing's filter `parts`.
    pub fn encode_bound(&self, parts: &[Option<&str>], key: &CursorKey) -> String {
        let mut bytes = Vec::with_capacity(POSITION_LEN + TAG_LEN);
        bytes.push(CURSOR_FORMAT);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_uuid().as_bytes());
        let tag = tag(&bytes, parts, key);
        bytes.extend_from_slice(&tag.finalize().into_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// # Errors
    /// `ServiceError::InvalidCursor` for a cursor this server did not issue, or
    /// issued for another filter (a stale cursor).
    pub fn decode(
        text: &str,
        filter: &ServiceFilter,
        key: &CursorKey,
    ) -> Result<Self, ServiceError> {
        filter.with_parts(|parts| Self::decode_bound(text, parts, key))
    }

    /// Decodes a cursor made by `encode_bound` with the same `parts`.
    ///
    /// # Errors
    /// `InvalidCursor` as `decode`.
    pub fn decode_bound(
        text: &str,
        parts: &[Option<&str>],
        key: &CursorKey,
    ) -> Result<Self, ServiceError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ServiceError::InvalidCursor)?;
        if bytes.len() != POSITION_LEN + TAG_LEN || bytes[0] != CURSOR_FORMAT {
            return Err(ServiceError::InvalidCursor);
        }
        let (position, given_tag) = bytes.split_at(POSITION_LEN);
        tag(position, parts, key)
            .verify_truncated_left(given_tag)
            .map_err(|_| ServiceError::InvalidCursor)?;
        let micros = i64::from_be_bytes(
            position[1..9]
                .try_into()
                .map_err(|_| ServiceError::InvalidCursor)?,
        );
        if !(0..=MAX_CURSOR_MICROS).contains(&micros) {
            return Err(ServiceError::InvalidCursor);
        }
        let created_at =
            DateTime::from_timestamp_micros(micros).ok_or(ServiceError::InvalidCursor)?;
        let id = Uuid::from_slice(&position[9..]).map_err(|_| ServiceError::InvalidCursor)?;
        Ok(Self {
            created_at,
            id: ServiceId::from_uuid(id),
        })
    }
}

/// HMAC over the position and the listing's filter parts, so a cursor only
/// continues the listing it came from.
fn tag(position: &[u8], parts: &[Option<&str>], key: &CursorKey) -> Hmac<Sha256> {
    let mut mac = key.mac();
    mac.update(position);
    for part in parts {
        // Length-prefixed, so no two filters feed the same bytes.
        let part = part.unwrap_or("\u{0}absent");
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

/// What a listing may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    pub service_type: Option<ServiceType>,
    pub status: Option<ServiceStatus>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Only services whose current credential expires before this instant.
    pub credential_expires_before: Option<DateTime<Utc>>,
}

impl ServiceFilter {
    /// `name_contains` as a SQL LIKE pattern over `ServiceName::key()` (escape
    /// character `\`), so every store matches the same names: lowercased, and
    /// with `%` and `_` matched literally.
    pub fn name_key_pattern(&self) -> Option<String> {
        let text = self.name_contains.as_ref()?.to_lowercase();
        let mut pattern = String::with_capacity(text.len() + 2);
        pattern.push('%');
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }

    /// The filter as the parts a cursor is bound to.
    fn with_parts<T>(&self, f: impl FnOnce(&[Option<&str>]) -> T) -> T {
        let expires_before = self
            .credential_expires_before
            .map(|t| t.timestamp_micros().to_string());
        f(&[
            self.service_type.as_ref().map(ServiceType::as_str),
            self.status.map(ServiceStatus::as_str),
            self.name_contains.as_deref(),
            expires_before.as_deref(),
        ])
    }
}

/// A validated listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: u16,
    pub after: Option<Cursor>,
    pub filter: ServiceFilter,
}

/// The query parameters of a listing, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct RawListParams<'a> {
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub service_type: Option<&'a str>,
    pub status: Option<&'a str>,
    pub q: Option<&'a str>,
    /// RFC 3339.
    pub credential_expires_before: Option<&'a str>,
}

impl ListQuery {
    /// # Errors
    /// `Validation` naming each bad parameter; `InvalidCursor` for a cursor this
    /// server did not issue.
    pub fn parse(raw: &RawListParams<'_>, key: &CursorKey) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::new();
        let limit = match raw.limit {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => match text.parse::<u16>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    errors.add(
                        "limit",
                        format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
                    );
                    DEFAULT_PAGE_LIMIT
                }
            },
        };
        let service_type = raw.service_type.and_then(|t| {
            ServiceType::parse(t)
                .map_err(|r| errors.add("type", r))
                .ok()
        });
        let status = raw.status.and_then(|s| {
            ServiceStatus::parse(s)
                .map_err(|r| errors.add("status", r))
                .ok()
        });
        let name_contains = match raw.q {
            Some(q) if q.chars().count() > QUERY_MAX_CHARS => {
                errors.add("q", format!("must be at most {QUERY_MAX_CHARS} characters"));
                None
            }
            Some(q) if q.chars().any(char::is_control) => {
                errors.add("q", "must not contain control characters");
                None
            }
            Some("") | None => None,
            Some(q) => Some(q.to_owned()),
        };
        let credential_expires_before = raw.credential_expires_before.and_then(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    errors.add("credential_expires_before", "must be an RFC 3339 timestamp")
                })
                .ok()
        });
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let filter = ServiceFilter {
            service_type,
            status,
            name_contains,
            credential_expires_before,
        };
        let after = raw
            .cursor
            .map(|text| Cursor::decode(text, &filter, key))
            .transpose()?;
        Ok(Self {
            limit,
            after,
            filter,
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The encoded cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::derive(b"a deployment secret")
    }

    fn cursor() -> Cursor {
        Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: ServiceId::from_uuid(Uuid::now_v7()),
        }
    }

    fn filter(q: Option<&str>) -> ServiceFilter {
        ServiceFilter {
            name_contains: q.map(str::to_owned),
            ..ServiceFilter::default()
        }
    }

    #[test]
    fn cursor_round_trips() {
        let c = cursor();
        assert_eq!(
            Cursor::decode(&c.encode(&filter(None), &key()), &filter(None), &key()).unwrap(),
            c
        );
    }

    #[test]
    fn forged_tampered_and_stale_cursors_are_refused() {
        let good = cursor().encode(&filter(None), &key());
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[5] ^= 1; // move the position without the key
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        let other_key = cursor().encode(&filter(None), &CursorKey::derive(b"another secret"));
        let cases = [
            "".to_owned(),
            "abc".to_owned(),
            "!!!!".to_owned(),
            good[..good.len() - 2].to_owned(),
            format!("{good}AA"),
            tampered,
            other_key,
        ];
        for bad in &cases {
            assert!(
                matches!(
                    Cursor::decode(bad, &filter(None), &key()),
                    Err(ServiceError::InvalidCursor)
                ),
                "{bad}"
            );
        }
        // Issued for another filter: stale.
        assert!(matches!(
            Cursor::decode(&good, &filter(Some("x")), &key()),
            Err(ServiceError::InvalidCursor)
        ));
    }

    #[test]
    fn an_authentic_cursor_out_of_range_is_refused() {
        let ancient = Cursor {
            created_at: DateTime::from_timestamp_micros(-1).unwrap(),
            ..cursor()
        };
        let text = ancient.encode(&filter(None), &key());
        assert!(matches!(
            Cursor::decode(&text, &filter(None), &key()),
            Err(ServiceError::InvalidCursor)
        ));
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "CursorKey([REDACTED])");
    }

    fn parse(raw: RawListParams<'_>) -> Result<ListQuery, ServiceError> {
        ListQuery::parse(&raw, &key())
    }

    #[test]
    fn limit_bounds() {
        let with_limit = |l| {
            parse(RawListParams {
                limit: Some(l),
                ..Default::default()
            })
        };
        assert_eq!(with_limit("1").unwrap().limit, 1);
        assert_eq!(with_limit("100").unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999"] {
            match with_limit(bad) {
                Err(ServiceError::Validation(e)) => assert!(e.get("limit").is_some()),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(parse(RawListParams::default()).unwrap().limit, 20);
    }

    #[test]
    fn filters_are_validated() {
        let q = parse(RawListParams {
            service_type: Some("payment"),
            status: Some("inactive"),
            q: Some("Str"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.filter.service_type.unwrap().as_str(), "payment");
        assert_eq!(q.filter.status, Some(ServiceStatus::Inactive));
        assert_eq!(q.filter.name_contains.as_deref(), Some("Str"));
        let long = "q".repeat(101);
        for (raw, field) in [
            (
                RawListParams {
                    service_type: Some("Bad!"),
                    ..Default::default()
                },
                "type",
            ),
            (
                RawListParams {
                    status: Some("on"),
                    ..Default::default()
                },
                "status",
            ),
            (
                RawListParams {
                    q: Some(&long),
                    ..Default::default()
                },
                "q",
            ),
            (
                RawListParams {
                    q: Some("nul\u{0}"),
                    ..Default::default()
                },
                "q",
            ),
        ] {
            let Err(ServiceError::Validation(e)) = parse(raw) else {
                panic!("{field}")
            };
            assert!(e.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn name_patterns_escape_like_wildcards() {
        assert_eq!(
            filter(Some("A%b_C\\")).name_key_pattern().as_deref(),
            Some("%a\\%b\\_c\\\\%")
        );
        assert_eq!(filter(None).name_key_pattern(), None);
    }

    #[test]
    fn a_cursor_continues_only_its_own_filter() {
        let position = cursor();
        let text = position.encode(&filter(Some("str")), &key());
        let same = parse(RawListParams {
            q: Some("str"),
            cursor: Some(&text),
            ..Default::default()
        });
        assert_eq!(same.unwrap().after, Some(position));
        let other = parse(RawListParams {
            q: Some("other"),
            cursor: Some(&text),
            ..Default::default()
        });
        assert!(matches!(other, Err(ServiceError::InvalidCursor)));
    }
}
