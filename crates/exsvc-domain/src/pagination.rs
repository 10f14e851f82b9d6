//! Keyset pagination of listings: newest first, then by id. A cursor is the
//! position (time, id) of the last row of a page, so the cost of a page does not
//! grow with the number of rows before it; it is opaque and bound to the tenant,
//! the listing and its filter (docs/api.md §2).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::access::Reach;
use crate::principal::TenantId;
use crate::service::{ServiceStatus, ServiceType};
use crate::validation::FieldErrors;
use crate::UseCaseError;

pub const DEFAULT_PAGE_LIMIT: u16 = 20;
pub const MAX_PAGE_LIMIT: u16 = 100;
const QUERY_MAX_CHARS: usize = 100;

/// Framing version of the cursor bytes, so the format can change without old
/// cursors being misread. Version 1 carried the position in the clear.
const CURSOR_FORMAT: u8 = 2;
const POSITION_LEN: usize = 8 + 16;
/// Truncated HMAC-SHA256 tag: forging a cursor means guessing 128 bits.
const TAG_LEN: usize = 16;
const CURSOR_LEN: usize = 1 + TAG_LEN + POSITION_LEN;
/// Positions outside 1970..10000 are never issued (and PostgreSQL refuses some).
const MAX_CURSOR_MICROS: i64 = 253_402_300_799_999_999;

/// The key that authenticates and hides cursors. Replicas that share it accept
/// each other's cursors. `Debug` prints `[REDACTED]`.
///
/// Each key is kept as an HMAC already keyed with it (its inner and outer
/// padded blocks compressed), so a cursor costs a clone instead of two SHA-256
/// compressions of key setup per HMAC.
#[derive(Clone)]
pub struct CursorKey {
    mac: Hmac<Sha256>,
    mask: Hmac<Sha256>,
}

impl CursorKey {
    /// Derives the cursor keys from a deployment secret, each bound to its
    /// purpose so neither reveals anything about the secret or the other.
    pub fn derive(secret: &[u8]) -> Self {
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let mut mac = hmac_sha256(secret);
            mac.update(purpose);
            mac.finalize().into_bytes().into()
        };
        Self {
            mac: hmac_sha256(&derive(b"exsvc listing cursor key v1")),
            mask: hmac_sha256(&derive(b"exsvc listing cursor mask v2")),
        }
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

/// What a cursor continues: one listing (`services`, `audit`) of one tenant
/// under one filter. A cursor made for another scope is refused, so tenant A
/// cannot page with tenant B's cursor, nor with a cursor of other filters.
#[derive(Debug, Clone, Copy)]
pub struct CursorScope<'a> {
    pub listing: &'static str,
    pub tenant: &'a TenantId,
    pub filter: &'a [Option<&'a str>],
}

impl CursorScope<'_> {
    fn feed(&self, mac: &mut Hmac<Sha256>) {
        let parts = [Some(self.listing), Some(self.tenant.as_str())];
        for part in parts.iter().chain(self.filter) {
            // A presence byte, then length-prefixed bytes: no two scopes feed
            // the same bytes, whatever text a filter holds.
            match part {
                None => mac.update(&[0]),
                Some(text) => {
                    mac.update(&[1]);
                    mac.update(&(text.len() as u64).to_be_bytes());
                    mac.update(text.as_bytes());
                }
            }
        }
    }
}

/// A listing's filter, as the scope its cursors are bound to: the one way a
/// cursor is opened or made, for every listing.
pub trait Scoped {
    /// Runs `f` with the scope of `tenant`'s listing under this filter.
    fn with_scope<T>(&self, tenant: &TenantId, f: impl FnOnce(&CursorScope<'_>) -> T) -> T;

    /// The opaque cursor of the page after `position`.
    fn cursor_after(&self, tenant: &TenantId, key: &CursorKey, position: Cursor) -> String {
        self.with_scope(tenant, |scope| position.encode(scope, key))
    }
}

/// The position after which the next page starts: the (time, id) of the last
/// row of a page, for any listing ordered newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// Opaque text: base64url of (format, tag, position XOR mask), a
    /// deterministic authenticated encryption in the shape of SIV (RFC 5297):
    /// the tag is an HMAC of the position and its scope, and the mask an HMAC
    /// of the tag under a second key. The position cannot be read without the
    /// key, and no bit of it can be changed without the tag failing.
    pub fn encode(&self, scope: &CursorScope<'_>, key: &CursorKey) -> String {
        let position = self.position();
        let tag = tag(&position, scope, key);
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.push(CURSOR_FORMAT);
        bytes.extend_from_slice(&tag);
        bytes.extend(position.iter().zip(mask(&tag, key)).map(|(p, m)| p ^ m));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// # Errors
    /// `UseCaseError::InvalidCursor` for a cursor this server did not issue, or
    /// issued for another scope (another tenant, listing or filter: stale).
    pub fn decode(
        text: &str,
        scope: &CursorScope<'_>,
        key: &CursorKey,
    ) -> Result<Self, UseCaseError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| UseCaseError::InvalidCursor)?;
        if bytes.len() != CURSOR_LEN || bytes[0] != CURSOR_FORMAT {
            return Err(UseCaseError::InvalidCursor);
        }
        let (given_tag, hidden) = bytes[1..].split_at(TAG_LEN);
        let mut position = [0u8; POSITION_LEN];
        for ((p, h), m) in position.iter_mut().zip(hidden).zip(mask(given_tag, key)) {
            *p = h ^ m;
        }
        let mut mac = key.mac.clone();
        mac.update(&[CURSOR_FORMAT]);
        mac.update(&position);
        scope.feed(&mut mac);
        mac.verify_truncated_left(given_tag)
            .map_err(|_| UseCaseError::InvalidCursor)?;
        let (micros, id) = position.split_at(8);
        let micros =
            i64::from_be_bytes(micros.try_into().map_err(|_| UseCaseError::InvalidCursor)?);
        if !(0..=MAX_CURSOR_MICROS).contains(&micros) {
            return Err(UseCaseError::InvalidCursor);
        }
        let at = DateTime::from_timestamp_micros(micros).ok_or(UseCaseError::InvalidCursor)?;
        let id = Uuid::from_slice(id).map_err(|_| UseCaseError::InvalidCursor)?;
        Ok(Self { at, id })
    }

    fn position(&self) -> [u8; POSITION_LEN] {
        let mut position = [0u8; POSITION_LEN];
        position[..8].copy_from_slice(&self.at.timestamp_micros().to_be_bytes());
        position[8..].copy_from_slice(self.id.as_bytes());
        position
    }
}

fn tag(position: &[u8], scope: &CursorScope<'_>, key: &CursorKey) -> [u8; TAG_LEN] {
    let mut mac = key.mac.clone();
    mac.update(&[CURSOR_FORMAT]);
    mac.update(position);
    scope.feed(&mut mac);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
    tag
}

/// The keystream that hides a position: HMAC-SHA256 of the tag (32 bytes, more
/// than the 24 of a position).
fn mask(tag: &[u8], key: &CursorKey) -> [u8; 32] {
    let mut mac = key.mask.clone();
    mac.update(tag);
    mac.finalize().into_bytes().into()
}

/// `limit` of a listing: 1–100, 20 when absent.
pub fn parse_limit(raw: Option<&str>, errors: &mut FieldErrors) -> u16 {
    match raw.map(str::parse::<u16>) {
        None => DEFAULT_PAGE_LIMIT,
        Some(Ok(n)) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
        Some(_) => {
            errors.add(
                "limit",
                format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
            );
            DEFAULT_PAGE_LIMIT
        }
    }
}

/// An RFC 3339 timestamp parameter, in UTC; the one parser of every listing.
pub fn parse_timestamp(
    field: &str,
    raw: Option<&str>,
    errors: &mut FieldErrors,
) -> Option<DateTime<Utc>> {
    raw.and_then(|text| {
        let Ok(at) = DateTime::parse_from_rfc3339(text) else {
            errors.add(field, "must be an RFC 3339 timestamp");
            return None;
        };
        // chrono reads `23:59:60` as a leap second, which neither store keeps:
        // it would read back as the next minute, not as sent.
        if at.timestamp_subsec_nanos() >= 1_000_000_000 {
            errors.add(field, "must be an RFC 3339 timestamp without a leap second");
            return None;
        }
        Some(at.with_timezone(&Utc))
    })
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
}

impl Scoped for ServiceFilter {
    fn with_scope<T>(&self, tenant: &TenantId, f: impl FnOnce(&CursorScope<'_>) -> T) -> T {
        let expires_before = self
            .credential_expires_before
            .map(|t| t.timestamp_micros().to_string());
        f(&CursorScope {
            listing: "services",
            tenant,
            filter: &[
                self.service_type.as_ref().map(ServiceType::as_str),
                self.status.map(ServiceStatus::as_str),
                self.name_contains.as_deref(),
                expires_before.as_deref(),
            ],
        })
    }
}

/// A listing request as the domain takes it: the page size and filter
/// validated, the cursor still as sent. Only the use case can open the cursor:
/// it holds the key and knows the caller's tenant the cursor must be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest<F> {
    pub limit: u16,
    pub cursor: Option<String>,
    pub filter: F,
}

/// A request for a page of the tenant's services.
pub type ServiceListRequest = ListRequest<ServiceFilter>;

/// A validated listing of services, with its cursor opened: what a store reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: u16,
    pub after: Option<Cursor>,
    pub filter: ServiceFilter,
    /// The services the caller may read: part of the query, so a page holds
    /// `limit` visible services and paging stays keyset-fast.
    pub reach: Reach,
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

impl ServiceListRequest {
    /// # Errors
    /// The field errors naming each bad parameter.
    pub fn parse(raw: &RawListParams<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let limit = parse_limit(raw.limit, &mut errors);
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
        let credential_expires_before = parse_timestamp(
            "credential_expires_before",
            raw.credential_expires_before,
            &mut errors,
        );
        errors.into_result(Self {
            limit,
            cursor: raw.cursor.map(str::to_owned),
            filter: ServiceFilter {
                service_type,
                status,
                name_contains,
                credential_expires_before,
            },
        })
    }

    /// The store's query of `tenant`'s listing, its cursor opened with `key`.
    ///
    /// # Errors
    /// `InvalidCursor` for a cursor not issued for this tenant, listing and filter.
    /// The listing reaches the services `reach` names: the caller's, which
    /// every caller must say (a listing cannot forget to narrow).
    pub fn open(
        self,
        tenant: &TenantId,
        key: &CursorKey,
        reach: Reach,
    ) -> Result<ListQuery, UseCaseError> {
        let after = self.open_cursor(tenant, key)?;
        Ok(ListQuery {
            limit: self.limit,
            after,
            filter: self.filter,
            reach,
        })
    }
}

impl<F: Scoped> ListRequest<F> {
    /// The position the request's cursor names, if it was issued for
    /// `tenant`'s listing under this filter.
    ///
    /// # Errors
    /// `InvalidCursor`.
    pub fn open_cursor(
        &self,
        tenant: &TenantId,
        key: &CursorKey,
    ) -> Result<Option<Cursor>, UseCaseError> {
        let Some(text) = self.cursor.as_deref() else {
            return Ok(None);
        };
        self.filter
            .with_scope(tenant, |scope| Cursor::decode(text, scope, key))
            .map(Some)
    }
}

impl ListQuery {
    /// Parses and opens in one step (tests and tools; the HTTP adapter parses
    /// before the use case opens).
    ///
    /// # Errors
    /// `Validation` naming each bad parameter; `InvalidCursor` for a cursor this
    /// server did not issue.
    pub fn parse(
        raw: &RawListParams<'_>,
        tenant: &TenantId,
        key: &CursorKey,
    ) -> Result<Self, UseCaseError> {
        ServiceListRequest::parse(raw)?.open(tenant, key, Reach::Tenant)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The encoded cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from the `limit + 1` rows a store returned for it: a row beyond
    /// `limit` only says that a next page exists, which starts after the last
    /// row kept (`cursor_after` of it; not called on a last page).
    pub fn from_rows(
        mut rows: Vec<T>,
        limit: u16,
        cursor_after: impl FnOnce(&T) -> String,
    ) -> Self {
        let limit = usize::from(limit);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_after)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leap_second_is_refused_as_it_would_not_read_back() {
        let mut errors = FieldErrors::new();
        assert!(parse_timestamp("at", Some("2027-01-01T00:00:60Z"), &mut errors).is_none());
        assert!(errors.get("at").is_some());
        let mut errors = FieldErrors::new();
        let at = parse_timestamp("at", Some("2027-01-01T00:00:59.999999Z"), &mut errors);
        assert_eq!(at.unwrap().to_rfc3339(), "2027-01-01T00:00:59.999999+00:00");
        assert!(errors.is_empty());
    }

    fn key() -> CursorKey {
        CursorKey::derive(b"a deployment secret")
    }

    fn cursor() -> Cursor {
        Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        }
    }

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn encode(c: &Cursor, filter: &ServiceFilter, key: &CursorKey) -> String {
        filter.with_scope(&acme(), |scope| c.encode(scope, key))
    }

    fn decode(text: &str, filter: &ServiceFilter, key: &CursorKey) -> Result<Cursor, UseCaseError> {
        filter.with_scope(&acme(), |scope| Cursor::decode(text, scope, key))
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
            decode(&encode(&c, &filter(None), &key()), &filter(None), &key()).unwrap(),
            c
        );
    }

    #[test]
    fn forged_tampered_and_stale_cursors_are_refused() {
        let good = encode(&cursor(), &filter(None), &key());
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[20] ^= 1; // move the hidden position without the key
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        let other_key = encode(
            &cursor(),
            &filter(None),
            &CursorKey::derive(b"another secret"),
        );
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
                    decode(bad, &filter(None), &key()),
                    Err(UseCaseError::InvalidCursor)
                ),
                "{bad}"
            );
        }
        // Issued for another filter: stale.
        assert!(matches!(
            decode(&good, &filter(Some("x")), &key()),
            Err(UseCaseError::InvalidCursor)
        ));
    }

    #[test]
    fn an_authentic_cursor_out_of_range_is_refused() {
        let ancient = Cursor {
            at: DateTime::from_timestamp_micros(-1).unwrap(),
            ..cursor()
        };
        let text = encode(&ancient, &filter(None), &key());
        assert!(matches!(
            decode(&text, &filter(None), &key()),
            Err(UseCaseError::InvalidCursor)
        ));
    }

    #[test]
    fn a_cursor_is_bound_to_its_tenant_and_listing_and_hides_its_position() {
        let c = cursor();
        let text = encode(&c, &filter(None), &key());
        let other_tenant = TenantId::parse("globex").unwrap();
        let foreign = filter(None).with_scope(&other_tenant, |s| Cursor::decode(&text, s, &key()));
        assert!(matches!(foreign, Err(UseCaseError::InvalidCursor)));
        let audit = CursorScope {
            listing: "audit",
            tenant: &acme(),
            filter: &[None, None, None, None],
        };
        assert!(matches!(
            Cursor::decode(&text, &audit, &key()),
            Err(UseCaseError::InvalidCursor)
        ));
        // Neither the id nor the time is readable in the bytes.
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        assert!(
            !bytes.windows(16).any(|w| w == c.id.as_bytes()),
            "the id is in the clear"
        );
        let micros = c.at.timestamp_micros().to_be_bytes();
        assert!(
            !bytes.windows(8).any(|w| w == micros),
            "the time is in the clear"
        );
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "CursorKey([REDACTED])");
    }

    fn parse(raw: RawListParams<'_>) -> Result<ListQuery, UseCaseError> {
        ListQuery::parse(&raw, &acme(), &key())
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
                Err(UseCaseError::Validation(e)) => assert!(e.get("limit").is_some()),
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
            let Err(UseCaseError::Validation(e)) = parse(raw) else {
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
        let text = encode(&position, &filter(Some("str")), &key());
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
        assert!(matches!(other, Err(UseCaseError::InvalidCursor)));
    }
}
