//! `Idempotency-Key` on the writes that take it (docs/api.md §2): the first response
//! of a successful write is kept for 24 hours and replayed to every retry.

use std::future::Future;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use exsvc_domain::idempotency::{IdempotencyKey, StoredResponse};
use exsvc_domain::usecases::{Admission, Claim, IdempotencyGuard};
use exsvc_domain::validation::FieldErrors;
use exsvc_domain::{Permission, Principal};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::error::ApiError;
use crate::AppState;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Marks a replayed response, as Stripe does.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The headers that describe a write's result and are replayed with it. Others
/// (request id, rate limits) belong to each request.
const KEPT_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// The request's `Idempotency-Key`, if it sent one.
///
/// # Errors
/// 400 `VALIDATION_ERROR` for a key that is empty, too long, not visible
/// ASCII, or sent twice.
pub(crate) fn key_of(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::validation(&FieldErrors::single(
            "Idempotency-Key",
            "is given more than once",
        )));
    }
    let text = value.to_str().unwrap_or("\u{fffd}");
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|errors| ApiError::validation(&errors))
}

/// Runs `write` at most once per key: a retry of a write that succeeded gets
/// its response again; a refused or failed write frees the key.
///
/// `operation` names the method and target (`PUT /api/v1/services/{id}/…`
/// with the id), so one key cannot stand for two different requests.
///
/// # Errors
/// The write's own error; 422 `IDEMPOTENCY_KEY_REUSED` for another request
/// under a used key; 409 `IDEMPOTENCY_KEY_IN_USE` while the first still runs;
/// 503 when the key cannot be claimed.
pub(crate) async fn run_once<W, F>(
    state: &web::Data<AppState>,
    principal: Principal,
    key: Option<IdempotencyKey>,
    permission: Permission,
    operation: &str,
    body: Map<String, Value>,
    write: W,
) -> Result<HttpResponse, ApiError>
where
    W: FnOnce(web::Data<AppState>, Principal, Map<String, Value>) -> F,
    F: Future<Output = Result<HttpResponse, ApiError>> + 'static,
{
    // A caller who may not write gets the write's own refusal (recorded
    // wherever the use case records refusals), never someone else's replay.
    let (Some(key), Ok(permit)) = (key, principal.permit(permission)) else {
        return write(state.clone(), principal, body).await;
    };
    let claim = match state
        .use_cases
        .idempotency
        .admit(permit, key, operation, &body)
        .await?
    {
        Admission::Replay(stored) => return Ok(replay(stored)),
        Admission::Proceed(claim) => claim,
    };
    // The write and the keeping of its response run as a task of their own,
    // so a client that hangs up cannot cancel the one between the other.
    let written = write(state.clone(), principal, body);
    let task = actix_web::rt::spawn(
        settle(state.use_cases.idempotency.clone(), claim, written)
            .instrument(tracing::Span::current()),
    );
    task.await.unwrap_or_else(|_| Err(ApiError::internal()))
}

/// Awaits a claimed write, then keeps its response (success) or frees its key
/// (failure).
async fn settle(
    guard: IdempotencyGuard,
    claim: Claim,
    written: impl Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    match written.await {
        Ok(response) if response.status().is_success() => {
            Ok(keep_response(&guard, claim, response).await)
        }
        failed => {
            if let Err(error) = guard.release(claim).await {
                tracing::warn!(
                    error = %error,
                    "an idempotency key could not be released; it frees itself when its lease ends"
                );
            }
            failed
        }
    }
}

/// Keeps a committed write's response for its retries. The write has
/// happened, so its response is the answer even if it cannot be kept (the key
/// then frees itself when its lease ends).
async fn keep_response(
    guard: &IdempotencyGuard,
    claim: Claim,
    response: HttpResponse,
) -> HttpResponse {
    const ATTEMPTS: u32 = 3;
    let (response, stored) = split(response);
    let Some(stored) = stored else {
        tracing::warn!(
            "a streamed response cannot be kept; its key frees itself when its lease ends"
        );
        return response;
    };
    for attempt in 1..=ATTEMPTS {
        match guard.complete(&claim, &stored).await {
            Ok(()) => break,
            Err(error) if attempt < ATTEMPTS => {
                tracing::debug!(error = %error, attempt, "keeping an idempotent response failed; retrying");
                let pause = std::time::Duration::from_millis(100 * u64::from(attempt));
                actix_web::rt::time::sleep(pause).await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "an idempotent response could not be kept");
            }
        }
    }
    response
}

/// Splits `response` into itself and the copy kept for replay; `None` for a
/// streamed body, which cannot be kept (handlers answer writes with a body
/// built in memory, so this does not happen).
fn split(response: HttpResponse) -> (HttpResponse, Option<StoredResponse>) {
    let (response, body) = response.into_parts();
    let body = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => return (response.set_body(body), None),
    };
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let stored = StoredResponse {
        status: response.status().as_u16(),
        headers,
        body: body.to_vec(),
    };
    (response.set_body(BoxBody::new(body)), Some(stored))
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.insert_header((name, value));
        }
    }
    response
        .insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")))
        .body(stored.body)
}
