//! Validated value objects of a Service. Each is built by `parse`, which states the
//! rule it enforces; the reason strings end up in `details.fields` of a 400.

use std::fmt;

use serde_json::{Map, Value};
use uuid::Uuid;

const NAME_MAX_CHARS: usize = 100;
const DESCRIPTION_MAX_CHARS: usize = 1000;
const TYPE_MAX_CHARS: usize = 50;
const BASE_URL_MAX_CHARS: usize = 2048;
const API_VERSION_MAX_CHARS: usize = 32;
/// Largest serialized `metadata` object.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(Uuid);

impl ServiceId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Any textual UUID; `None` for anything else (such an id can name no service).
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw).ok().map(Self)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Control characters other than line breaks and tabs (text may span lines).
fn has_non_text_control_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// NUL anywhere in a JSON value, keys included: PostgreSQL's jsonb refuses it.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// 1–100 characters after trimming, no control characters. Unique per tenant,
/// case-insensitively (the store enforces that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    /// A name a client sent: also refuses invisible format characters
    /// (`validation::is_hidden`), so two names that look alike are alike.
    ///
    /// # Errors
    /// The reason, for `details.fields`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw
            .chars()
            .any(|c| !c.is_control() && crate::validation::is_hidden(c))
        {
            return Err("must not contain invisible formatting characters".into());
        }
        Self::from_stored(raw)
    }

    /// A name read back from a store, under the rules it was written with.
    ///
    /// # Errors
    /// The reason, for a row no version of the rules accepted.
    pub fn from_stored(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err("must not be empty".into());
        }
        if chars > NAME_MAX_CHARS {
            return Err(format!("must be at most {NAME_MAX_CHARS} characters"));
        }
        if has_control_chars(trimmed) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What uniqueness and search compare: the Unicode lowercase of the name,
    /// computed here so every store agrees regardless of its collation.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// At most 1000 characters; empty by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > DESCRIPTION_MAX_CHARS {
            return Err(format!(
                "must be at most {DESCRIPTION_MAX_CHARS} characters"
            ));
        }
        if has_non_text_control_chars(raw) {
            return Err(
                "must not contain control characters other than line breaks and tabs".into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category such as `payment`: 1–50 characters of `[a-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceType(String);

impl ServiceType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > TYPE_MAX_CHARS {
            return Err(format!("must be 1-{TYPE_MAX_CHARS} characters"));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if !raw.chars().all(allowed) {
            return Err("must contain only a-z, 0-9, '.', '_' and '-'".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceStatus {
    #[default]
    Active,
    Inactive,
}

impl ServiceStatus {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            _ => Err("must be 'active' or 'inactive'".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// The refusal of an `http` URL when the deployment does not allow them.
const HTTP_REFUSED: &str =
    "must use https (http only when the server sets EXSVC_ALLOW_HTTP_BASE_URL=true)";

/// An absolute `https` URL (or `http` when the deployment allows it) with a host,
/// no user-info and no fragment, at most 2048 characters. Kept as the client wrote
/// it: validation does not rewrite the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, String> {
        if raw.chars().count() > BASE_URL_MAX_CHARS {
            return Err(format!("must be at most {BASE_URL_MAX_CHARS} characters"));
        }
        if raw.trim() != raw || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters".into());
        }
        let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            // Say how a deployment allows http: a developer trying a local
            // upstream meets this first.
            "http" => return Err(HTTP_REFUSED.into()),
            _ if allow_http => return Err("must use http or https".into()),
            _ => return Err("must use https".into()),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must have a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain user information".into());
        }
        // `Url` drops an empty fragment ("https://a/#"), so look at the raw text.
        if url.fragment().is_some() || raw.contains('#') {
            return Err("must not contain a fragment".into());
        }
        if !in_documented_form(raw, allow_http) {
            return Err(
                "must be a lowercase https:// URL whose host is a DNS name, an IPv4 \
                        address or a bracketed IPv6 address, with an optional port, and whose \
                        path and query use only URL characters and %-escapes"
                    .into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The URL grammar the OpenAPI document states for `base_url` (its `pattern`),
/// checked on the raw text after `Url` accepted it. `Url` follows the WHATWG
/// parser, which takes hosts such as `a*`, `-a-` or `.a` and stray `%`; this
/// keeps what a client can register to RFC 3986 forms:
/// `https://` host [`:` port] path [`?` query], where host is a DNS name (LDH
/// labels of 1-63 characters, `_` allowed, the last starting with a letter), a dotted IPv4
/// address or a bracketed IPv6 address (which `Url` has validated), port is
/// 0-65535, and path and query are `pchar`s (`%` only before two hex digits).
fn in_documented_form(raw: &str, allow_http: bool) -> bool {
    let rest = match raw.strip_prefix("https://") {
        Some(rest) => rest,
        None if allow_http => match raw.strip_prefix("http://") {
            Some(rest) => rest,
            None => return false,
        },
        None => return false,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        match inner.split_once(']') {
            Some((_, after)) => (
                authority,
                after.strip_prefix(':').map(Some).unwrap_or_else(|| {
                    if after.is_empty() {
                        None
                    } else {
                        Some("not a port")
                    }
                }),
            ),
            None => return false,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = if host.starts_with('[') {
        true
    } else {
        is_dotted_ipv4(host) || is_dns_name(host)
    };
    let port_ok = port.is_none_or(|p| {
        let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        digits
            && (p.len() <= 4
                || (p.len() == 5
                    && !p.starts_with('0')
                    && p.parse::<u32>().is_ok_and(|v| v <= 65535)))
    });
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    host_ok
        && port_ok
        && url_chars(path, |c| c == '/')
        && query.is_none_or(|q| url_chars(q, |c| c == '/' || c == '?'))
}

fn is_dotted_ipv4(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            (1..=3).contains(&o.len())
                && o.bytes().all(|b| b.is_ascii_digit())
                && !(o.len() > 1 && o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

fn is_dns_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            // `_` is not LDH, but internal names (containers, service
            // discovery) use it and RFC 3986 allows it in a host.
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// RFC 3986 `pchar`s (unreserved, sub-delims, `:`, `@`, `%HH`) plus `extra`.
fn url_chars(text: &str, extra: impl Fn(char) -> bool) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let ok = if c == '%' {
            chars.next().is_some_and(|h| h.is_ascii_hexdigit())
                && chars.next().is_some_and(|h| h.is_ascii_hexdigit())
        } else {
            c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c) || extra(c)
        };
        if !ok {
            return false;
        }
    }
    true
}

/// At most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(String);

impl ApiVersion {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > API_VERSION_MAX_CHARS {
            return Err(format!(
                "must be at most {API_VERSION_MAX_CHARS} characters"
            ));
        }
        if has_control_chars(raw) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON object of at most 16 KiB serialized.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(Map<String, Value>);

/// Writes a number in the one form every store gives back: an integral float
/// of 1e16 or more in magnitude that fits in 64 bits becomes that integer, and
/// -0.0 becomes 0.0.
/// serde_json prints such a float as `1e16`; PostgreSQL's `jsonb` keeps it as
/// the digits `10000000000000000`, which read back as an integer. Without this,
/// the same metadata would read back differently from the two stores. The
/// conversion is exact: every f64 of that size is an integer.
fn canonical_number(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                // PostgreSQL's numeric has no negative zero: -0.0 reads back 0.0.
                if f == 0.0 && f.is_sign_negative() {
                    *n = serde_json::Number::from_f64(0.0).unwrap_or_else(|| 0.into());
                    return;
                }
                // Both bounds are exact powers of two, so the casts are exact.
                let integral = f.fract() == 0.0 && f.abs() >= 1e16;
                if integral && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let exact = f as u64;
                    *n = exact.into();
                } else if integral && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    #[allow(clippy::cast_possible_truncation)]
                    let exact = f as i64;
                    *n = exact.into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical_number),
        Value::Object(members) => members.values_mut().for_each(canonical_number),
        _ => {}
    }
}

impl Metadata {
    /// Metadata read back from a store: checked and put in canonical form when
    /// it was written, so a read does not serialize and walk it again (a
    /// listing decodes every row of its page).
    pub fn from_stored(value: Map<String, Value>) -> Self {
        Self(value)
    }

    /// # Errors
    /// Over 16 KiB serialized, or a NUL character in a key or a string.
    pub fn parse(mut value: Map<String, Value>) -> Result<Self, String> {
        value.values_mut().for_each(canonical_number);
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |bytes| bytes.len());
        if size > METADATA_MAX_BYTES {
            return Err(format!(
                "must be at most {METADATA_MAX_BYTES} bytes serialized"
            ));
        }
        if value
            .iter()
            .any(|(k, v)| k.contains('\0') || contains_nul(v))
        {
            return Err("must not contain the NUL character".into());
        }
        Ok(Self(value))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(ServiceName::parse("  Stripe ").unwrap().as_str(), "Stripe");
        assert!(ServiceName::parse("   ").is_err());
        assert!(ServiceName::parse("").is_err());
        assert!(ServiceName::parse(&"a".repeat(100)).is_ok());
        assert!(ServiceName::parse(&format!("  {}  ", "a".repeat(100))).is_ok());
        assert!(ServiceName::parse(&"a".repeat(101)).is_err());
        assert!(ServiceName::parse(&"ü".repeat(100)).is_ok());
        assert!(ServiceName::parse("a\u{0}b").is_err());
        assert!(ServiceName::parse("Stripe\u{200B}").is_err());
        assert!(ServiceName::parse("\u{202E}epirtS").is_err());
        assert!(ServiceName::from_stored("Stripe\u{200B}").is_ok());
        assert_eq!(
            ServiceName::parse("ÄRZTE Über").unwrap().key(),
            "ärzte über"
        );
    }

    #[test]
    fn description_is_bounded() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(1000)).is_ok());
        assert!(Description::parse(&"d".repeat(1001)).is_err());
        assert!(Description::parse("line one\nline two\ttabbed").is_ok());
        assert!(Description::parse("nul \u{0} inside").is_err());
    }

    #[test]
    fn type_charset() {
        for ok in [
            "payment",
            "a",
            "llm.v2",
            "mail_provider",
            "x-1",
            &"a".repeat(50),
        ] {
            assert!(ServiceType::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Payment", "pay ment", "pay/ment", "é", &"a".repeat(51)] {
            assert!(ServiceType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_values() {
        assert_eq!(ServiceStatus::parse("active"), Ok(ServiceStatus::Active));
        assert_eq!(
            ServiceStatus::parse("inactive"),
            Ok(ServiceStatus::Inactive)
        );
        assert!(ServiceStatus::parse("Active").is_err());
        assert!(ServiceStatus::parse("").is_err());
    }

    #[test]
    fn base_url_rules() {
        assert!(BaseUrl::parse("https://api.stripe.com/v1", false).is_ok());
        assert!(BaseUrl::parse("https://10.0.0.1:8443", false).is_ok());
        assert_eq!(
            BaseUrl::parse("https://api.example.com", false)
                .unwrap()
                .as_str(),
            "https://api.example.com"
        );
        assert_eq!(
            BaseUrl::parse("http://api.example.com", false),
            Err(HTTP_REFUSED.to_owned())
        );
        assert!(BaseUrl::parse("http://api.example.com", true).is_ok());
        assert_eq!(
            BaseUrl::parse("ftp://api.example.com", false),
            Err("must use https".to_owned())
        );
        assert_eq!(
            BaseUrl::parse("ftp://api.example.com", true),
            Err("must use http or https".to_owned())
        );
        assert!(BaseUrl::parse("/relative", false).is_err());
        assert!(BaseUrl::parse("api.example.com", false).is_err());
        assert!(BaseUrl::parse("https://user:pw@api.example.com", false).is_err());
        assert!(BaseUrl::parse("https://user@api.example.com", false).is_err());
        assert!(BaseUrl::parse("https://api.example.com/#frag", false).is_err());
        assert!(BaseUrl::parse("https://api.example.com/#", false).is_err());
        assert!(BaseUrl::parse(" https://api.example.com", false).is_err());
        assert!(BaseUrl::parse("https://", false).is_err());
        assert!(BaseUrl::parse("javascript:alert(1)", false).is_err());
        // The documented grammar: what WHATWG parsing takes but RFC 3986 does not.
        for odd in [
            "https://a*",
            "https://-a-/",
            "https://.a/",
            "https://a..b/",
            "https://0x1/",
            "https://01.2.3.4/",
            "https://a:/",
            "https://a:00080/",
            "https://a/%zz",
            "https://a/|",
            "https://a/?q=\"x\"",
            "HTTPS://a.example",
            "https://a.example/x\\y",
        ] {
            assert!(BaseUrl::parse(odd, false).is_err(), "{odd}");
        }
        for fine in [
            "https://a",
            "https://API.Example.com:65535/v1/x%2Fy?a=b&c=d/e?f",
            "https://1a.b2c:0/",
            "https://xn--ls8h.example/",
            "https://payment_gateway:8443/v1",
            "https://svc_1.internal_zone.example/",
            "https://[::1]:8443/x",
            "https://255.255.255.255",
            "https://a.example/~user/(x);y=z,w:v@u!$'*+",
        ] {
            assert!(BaseUrl::parse(fine, false).is_ok(), "{fine}");
        }
        let long = format!("https://a.com/{}", "p".repeat(2048 - 14));
        assert_eq!(long.len(), 2048);
        assert!(BaseUrl::parse(&long, false).is_ok());
        assert!(BaseUrl::parse(&format!("{long}p"), false).is_err());
    }

    #[test]
    fn api_version_is_bounded() {
        assert!(ApiVersion::parse("2024-06-20").is_ok());
        assert!(ApiVersion::parse(&"v".repeat(32)).is_ok());
        assert!(ApiVersion::parse(&"v".repeat(33)).is_err());
    }

    #[test]
    fn metadata_is_bounded() {
        let mut small = Map::new();
        small.insert("k".into(), Value::String("v".repeat(100)));
        assert!(Metadata::parse(small).is_ok());
        let mut big = Map::new();
        big.insert("k".into(), Value::String("v".repeat(16 * 1024)));
        assert!(Metadata::parse(big).is_err());
        for nul in [
            json!({"k\u{0}": 1}),
            json!({"k": "v\u{0}"}),
            json!({"k": [{"deep": "\u{0}"}]}),
        ] {
            assert!(
                Metadata::parse(nul.as_object().unwrap().clone()).is_err(),
                "{nul}"
            );
        }
    }

    #[test]
    fn metadata_numbers_take_the_form_every_store_reads_back() {
        let parsed = Metadata::parse(
            json!({"a": 1e16, "b": -1e16, "c": 1.5, "d": 1e300, "e": [2e19, 1e17], "f": 100.0, "z": -0.0})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(parsed.into_map()),
            json!({"a": 10_000_000_000_000_000_u64, "b": -10_000_000_000_000_000_i64,
                   "c": 1.5, "d": 1e300, "e": [2e19, 100_000_000_000_000_000_u64], "f": 100.0, "z": 0.0})
        );
        // Value equality cannot tell -0.0 from 0.0; the sign can.
        let parsed = Metadata::parse(json!({"z": -0.0}).as_object().unwrap().clone()).unwrap();
        assert!(parsed.as_map()["z"].as_f64().unwrap().is_sign_positive());
    }

    #[test]
    fn service_id_parse() {
        assert!(ServiceId::parse("0190b6d2-7d7e-7c4a-9a8e-4a4d2f0c1b2a").is_some());
        assert!(ServiceId::parse("abc123").is_none());
    }
}
