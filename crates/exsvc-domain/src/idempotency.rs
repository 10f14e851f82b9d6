//! Idempotency keys (docs/api.md §2): a client that retries a write with the same
//! `Idempotency-Key` gets the first response again and nothing is written twice.
//!
//! A key is claimed before the write runs. The claim is a lease: if the process
//! dies mid-request, another request may take the key over once the lease ends.
//! The response of a successful write is kept with the key for 24 hours; a
//! failed write releases the key (it changed nothing, so a retry may run).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::principal::TenantId;
use crate::validation::FieldErrors;

/// The longest key accepted (as Stripe and the IETF draft suggest).
pub const MAX_KEY_LEN: usize = 255;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// A field error on `Idempotency-Key` naming the rule broken.
    pub fn parse(text: &str) -> Result<Self, FieldErrors> {
        const FIELD: &str = "Idempotency-Key";
        if text.is_empty() || text.len() > MAX_KEY_LEN {
            return Err(FieldErrors::single(
                FIELD,
                format!("must be 1 to {MAX_KEY_LEN} characters"),
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FieldErrors::single(
                FIELD,
                "must be visible ASCII characters without spaces",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The response of the first request, replayed to its retries. Never holds a
/// secret: only the metadata responses of writes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers that describe the result (content type, location, entity tag).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StoredResponse {
    /// The headers as both stores keep them: a JSON array of `[name, value]`
    /// pairs.
    pub fn headers_json(&self) -> String {
        // A list of string pairs always serializes.
        serde_json::to_string(&self.headers).unwrap_or_else(|_| "[]".to_owned())
    }

    /// A kept response from the columns it is stored in; `None` while the
    /// first request still runs (no status and no body yet).
    ///
    /// # Errors
    /// A status outside HTTP's range or headers that are not `headers_json`.
    pub fn from_columns(
        status: Option<i64>,
        headers: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Self>, String> {
        let (Some(status), Some(body)) = (status, body) else {
            return Ok(None);
        };
        let status = u16::try_from(status).map_err(|e| e.to_string())?;
        let headers = match headers {
            Some(text) => serde_json::from_str(text).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        Ok(Some(Self {
            status,
            headers,
            body,
        }))
    }
}

/// One key of one tenant, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub tenant: TenantId,
    pub key: IdempotencyKey,
    /// Names the request holding the key; the holder alone may complete or
    /// release it.
    pub claim: Uuid,
    /// A keyed digest of the request (operation, target and body), so a
    /// different request under the same key is recognised without storing the
    /// body, which may hold a secret.
    pub fingerprint: Vec<u8>,
    /// The master key the digest was made with.
    pub fingerprint_key: String,
    /// `None` while the first request is still running.
    pub response: Option<StoredResponse>,
    /// Until then the running request holds the key.
    pub locked_until: DateTime<Utc>,
    /// After it the key is forgotten.
    pub expires_at: DateTime<Utc>,
}

/// The bytes a request's fingerprint is made of: the operation and its target,
/// then the body in a canonical form (object keys sorted, no whitespace), so the
/// same JSON written differently is the same request. Zeroized, and sized
/// before it is written so no growing buffer leaves a copy behind: it may hold
/// a credential.
pub fn request_material(operation: &str, body: &Map<String, Value>) -> Zeroizing<Vec<u8>> {
    let mut len = operation.len() + 1;
    write_object(body, &mut |bytes| len += bytes.len());
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(operation.as_bytes());
    out.push(0);
    write_object(body, &mut |bytes| out.extend_from_slice(bytes));
    out
}

fn write_object(map: &Map<String, Value>, emit: &mut dyn FnMut(&[u8])) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    emit(b"{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            emit(b",");
        }
        write_scalar(&Value::String(key.clone()), emit);
        emit(b":");
        write_canonical(value, emit);
    }
    emit(b"}");
}

fn write_canonical(value: &Value, emit: &mut dyn FnMut(&[u8])) {
    match value {
        Value::Object(map) => write_object(map, emit),
        Value::Array(items) => {
            emit(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    emit(b",");
                }
                write_canonical(item, emit);
            }
            emit(b"]");
        }
        scalar => write_scalar(scalar, emit),
    }
}

fn write_scalar(value: &Value, emit: &mut dyn FnMut(&[u8])) {
    let text = Zeroizing::new(value.to_string());
    emit(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_response_round_trips_through_its_columns() {
        let response = StoredResponse {
            status: 201,
            headers: vec![("etag".into(), "\"1\"".into())],
            body: b"{}".to_vec(),
        };
        let kept = StoredResponse::from_columns(
            Some(201),
            Some(&response.headers_json()),
            Some(response.body.clone()),
        );
        assert_eq!(kept, Ok(Some(response)));
        assert_eq!(StoredResponse::from_columns(None, None, None), Ok(None));
        assert!(StoredResponse::from_columns(Some(-1), None, Some(vec![])).is_err());
        assert!(StoredResponse::from_columns(Some(200), Some("{"), Some(vec![])).is_err());
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("3f1c-9a/ok_KEY.1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "has space", "tab\t", "é", "nul\0"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn material_ignores_key_order_and_whitespace_but_not_values() {
        let a: Map<String, Value> =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "s"}], "a": null}"#).unwrap();
        let b: Map<String, Value> =
            serde_json::from_str(r#"{"a":null,"b":[1,{"x":"s","y":2}]}"#).unwrap();
        assert_eq!(*request_material("op", &a), *request_material("op", &b));
        assert_ne!(*request_material("op", &a), *request_material("other", &a));
        let Value::Object(c) = json!({"a": null, "b": [{"x": "s", "y": 2}, 1]}) else {
            unreachable!()
        };
        assert_ne!(*request_material("op", &a), *request_material("op", &c));
        let material = request_material("op", &b);
        assert_eq!(
            String::from_utf8(material.to_vec()).unwrap(),
            "op\0{\"a\":null,\"b\":[1,{\"x\":\"s\",\"y\":2}]}"
        );
        assert_eq!(material.capacity(), material.len(), "sized up front");
    }
}
