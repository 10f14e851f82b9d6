//! The outermost middleware: request id, panic containment, the error envelope
//! for responses other layers produced, and one log line per request.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use futures_util::FutureExt;

use crate::error::ApiError;

use crate::headers::REQUEST_ID;
const REQUEST_ID_MAX_LEN: usize = 128;

/// The request's id, in request extensions: the client's `X-Request-Id` when it
/// is a sane token, else a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The tenant of an authenticated request, put in request extensions by the
/// authentication extractor so the log line can name it.
#[derive(Debug, Clone)]
pub struct RequestTenant(pub String);

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= REQUEST_ID_MAX_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

fn is_json(response: &ServiceResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Replaces a non-JSON error body with the envelope, keeping status and headers.
fn ensure_envelope(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let proxied = response
        .response()
        .extensions()
        .contains::<crate::routes::usage::Proxied>();
    if proxied || !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (request, original) = response.into_parts();
    let mut replacement = ApiError::for_status(status).error_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(request, replacement)
}

/// Every response to a request that spent a budget says how much is left.
fn insert_spent_budget<B>(response: &mut ServiceResponse<B>) {
    let spent = response
        .request()
        .extensions()
        .get::<crate::ratelimit::RateLimitState>()
        .copied();
    if let Some(spent) = spent {
        crate::headers::insert_rate_limit_headers(response.headers_mut(), &spent.0);
    }
}

fn record(
    state: Option<&crate::AppState>,
    method: &actix_web::http::Method,
    route: &str,
    status: u16,
    started: Instant,
) {
    if let Some(state) = state {
        state.metrics.observe(
            method.as_str(),
            route,
            status,
            started.elapsed().as_secs_f64(),
        );
    }
}

pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    // The request is moved below; keep what the metrics need.
    let metrics = req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .map(|s| s.clone().into_inner());

    // Limits of the HTTP layer (docs/api.md §3): charged to the caller like an
    // unknown route, then refused before anything else runs.
    if let Err(refusal) = crate::edge::check_limits(&req) {
        let refusal = match crate::routes::charge_caller(req.request()).await {
            Ok(()) => refusal,
            Err(budget) => budget,
        };
        let status = refusal.status_code().as_u16();
        record(metrics.as_deref(), &method, "<refused>", status, started);
        tracing::warn!(request_id = %id, method = %method, status, reason = %refusal, "request refused by the HTTP layer");
        let mut response = req.error_response(refusal.with_request_id(&id));
        // The budget the refusal spent is told as on any other answer.
        insert_spent_budget(&mut response);
        return Ok(response);
    }

    // The request cannot be cloned before routing (actix mutates it in place), so
    // a panic or an error from below is returned as an `ApiError`, which actix
    // renders with the envelope and the request id.
    let mut response = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(response)) => ensure_envelope(response.map_into_boxed_body()),
        Ok(Err(error)) => {
            let status = error.as_response_error().status_code();
            record(
                metrics.as_deref(),
                &method,
                "<middleware>",
                status.as_u16(),
                started,
            );
            tracing::info!(request_id = %id, method = %method, status = status.as_u16(), "request failed in middleware");
            return Err(ApiError::for_status(status).with_request_id(&id).into());
        }
        Err(_) => {
            record(metrics.as_deref(), &method, "<panic>", 500, started);
            tracing::error!(request_id = %id, method = %method, status = 500, "a request handler panicked");
            return Err(ApiError::internal().with_request_id(&id).into());
        }
    };

    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    insert_spent_budget(&mut response);

    let request = response.request();
    let route = request.match_pattern();
    let route = route.as_deref().unwrap_or("<unmatched>");
    let status = response.status().as_u16();
    record(metrics.as_deref(), &method, route, status, started);
    let tenant = request
        .extensions()
        .get::<RequestTenant>()
        .map(|t| t.0.clone());
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status,
        tenant = tenant.as_deref().unwrap_or("-"),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}
