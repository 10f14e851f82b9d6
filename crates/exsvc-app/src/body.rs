//! The JSON body extractor: media type, size limit and parse errors all answer in
//! the envelope (actix's `Json` answers them in plain text).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::ApiError;

/// Largest request body (docs/api.md §3).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `EXSVC_BODY_TIMEOUT_MS`'s default: the longest wait for a whole body.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

const MERGE_PATCH: &str = "application/merge-patch+json";

/// A request body parsed as JSON (any JSON value; handlers check its shape).
///
/// The extractor itself never fails: actix runs a handler's extractors side by
/// side and answers with the first error, so a body error would otherwise win
/// the race against authentication and rate limiting (which may wait on
/// Redis). The handler takes the outcome with `value()` once its
/// `Authenticated` argument exists, so 401 and 429 always come first.
pub struct JsonBody(Result<Value, ApiError>);

impl JsonBody {
    /// The parsed body, or the media-type, size or syntax error.
    ///
    /// # Errors
    /// 415, 413 or 400 `INVALID_JSON`.
    pub fn value(self) -> Result<Value, ApiError> {
        self.0
    }
}

/// `application/json` everywhere; PATCH also takes `application/merge-patch+json`.
fn media_type_allowed(req: &HttpRequest) -> bool {
    let Some(content_type) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (req.method() == Method::PATCH && essence == MERGE_PATCH)
}

fn expected_media_type(req: &HttpRequest) -> &'static str {
    if req.method() == Method::PATCH {
        "application/merge-patch+json or application/json"
    } else {
        "application/json"
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let early_error = if declared_len.is_some_and(|len| len > MAX_BODY_BYTES) {
            Some(ApiError::payload_too_large(MAX_BODY_BYTES))
        } else if !media_type_allowed(req) {
            Some(ApiError::unsupported_media_type(expected_media_type(req)))
        } else {
            None
        };
        let mut payload = payload.take();
        let timeout = req
            .app_data::<actix_web::web::Data<crate::AppState>>()
            .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
        Box::pin(async move {
            // A body that stops arriving would hold the connection forever.
            let read = actix_web::rt::time::timeout(
                timeout,
                read(early_error, declared_len, &mut payload),
            );
            Ok(JsonBody(read.await.unwrap_or_else(|_| {
                Err(ApiError::request_timeout(timeout))
            })))
        })
    }
}

/// Reads the body within the size limit and parses it.
async fn read(
    early_error: Option<ApiError>,
    declared_len: Option<usize>,
    payload: &mut Payload,
) -> Result<Value, ApiError> {
    if let Some(error) = early_error {
        return Err(error);
    }
    let mut body = Vec::with_capacity(declared_len.unwrap_or(1024).min(MAX_BODY_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid_json("the body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::invalid_json("the body is empty"));
    }
    serde_json::from_slice(&body).map_err(ApiError::invalid_json)
}
