//! Keyset pagination of listings: newest `created_at` first, then `id`. A cursor
//! is the position (created_at, id) of the last row of a page, so the cost of a
//! page does not grow with the number of rows before it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
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
const CURSOR_LEN: usize = 1 + 8 + 16;

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: ServiceId,
}

impl Cursor {
    /// Opaque text: base64url of (format, created_at in microseconds, id).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.push(CURSOR_FORMAT);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_uuid().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// # Errors
    /// `ServiceError::InvalidCursor` for anything `encode` could not have produced.
    pub fn decode(text: &str) -> Result<Self, ServiceError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ServiceError::InvalidCursor)?;
        if bytes.len() != CURSOR_LEN || bytes[0] != CURSOR_FORMAT {
            return Err(ServiceError::InvalidCursor);
        }
        let micros = i64::from_be_bytes(
            bytes[1..9]
                .try_into()
                .map_err(|_| ServiceError::InvalidCursor)?,
        );
        let created_at =
            DateTime::from_timestamp_micros(micros).ok_or(ServiceError::InvalidCursor)?;
        let id = Uuid::from_slice(&bytes[9..]).map_err(|_| ServiceError::InvalidCursor)?;
        // Every id this server issues is a UUIDv7; anything else was made up.
        if id.get_version_num() != 7 {
            return Err(ServiceError::InvalidCursor);
        }
        Ok(Self {
            created_at,
            id: ServiceId::from_uuid(id),
        })
    }
}

/// What a listing may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    pub service_type: Option<ServiceType>,
    pub status: Option<ServiceStatus>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
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
}

impl ListQuery {
    /// # Errors
    /// `Validation` naming each bad parameter; `InvalidCursor` for a cursor this
    /// server did not issue.
    pub fn parse(raw: &RawListParams<'_>) -> Result<Self, ServiceError> {
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
            Some("") | None => None,
            Some(q) => Some(q.to_owned()),
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let after = raw.cursor.map(Cursor::decode).transpose()?;
        Ok(Self {
            limit,
            after,
            filter: ServiceFilter {
                service_type,
                status,
                name_contains,
            },
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: ServiceId::from_uuid(Uuid::now_v7()),
        }
    }

    #[test]
    fn cursor_round_trips() {
        let c = cursor();
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn forged_cursors_are_refused() {
        let good = cursor().encode();
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[0] = 2;
        let other_format = URL_SAFE_NO_PAD.encode(&bytes);
        let v4 = Cursor {
            id: ServiceId::from_uuid(Uuid::from_u128(1 << 76)),
            ..cursor()
        }
        .encode();
        for bad in [
            "",
            "abc",
            "!!!!",
            &good[..good.len() - 2],
            &format!("{good}AA"),
            &other_format,
            &v4,
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(ServiceError::InvalidCursor)),
                "{bad}"
            );
        }
    }

    #[test]
    fn limit_bounds() {
        let parse = |l: &str| {
            ListQuery::parse(&RawListParams {
                limit: Some(l),
                ..Default::default()
            })
        };
        assert_eq!(parse("1").unwrap().limit, 1);
        assert_eq!(parse("100").unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999"] {
            match parse(bad) {
                Err(ServiceError::Validation(e)) => assert!(e.get("limit").is_some()),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(
            ListQuery::parse(&RawListParams::default()).unwrap().limit,
            20
        );
    }

    #[test]
    fn filters_are_validated() {
        let q = ListQuery::parse(&RawListParams {
            service_type: Some("payment"),
            status: Some("inactive"),
            q: Some("Str"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.filter.service_type.unwrap().as_str(), "payment");
        assert_eq!(q.filter.status, Some(ServiceStatus::Inactive));
        assert_eq!(q.filter.name_contains.as_deref(), Some("Str"));
        let err = ListQuery::parse(&RawListParams {
            service_type: Some("Bad!"),
            status: Some("on"),
            q: Some(&"q".repeat(101)),
            ..Default::default()
        })
        .unwrap_err();
        let ServiceError::Validation(e) = err else {
            panic!()
        };
        assert!(e.get("type").is_some() && e.get("status").is_some() && e.get("q").is_some());
    }
}
