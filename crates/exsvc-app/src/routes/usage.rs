//! Using a credential without revealing it (docs/api.md §10):
//! `POST /api/v1/services/{id}/token` and `{ANY} /api/v1/services/{id}/proxy/{path}`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::dev::Payload;
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use exsvc_domain::ports::{BodyError, BodyStream, EgressError, OutboundBody};
use exsvc_domain::usecases::ProxyRequest;
use exsvc_domain::{ServiceId, UseCaseError};

use crate::auth::Authenticated;
use crate::dto::TokenDto;
use crate::error::{ApiError, ErrorResponse};
use crate::routes::services::path_service;
use crate::AppState;

/// `Proxy-Status` (RFC 9209), on every answer of the proxy.
pub static PROXY_STATUS: HeaderName = HeaderName::from_static("proxy-status");

/// The proxy's route, in OpenAPI syntax; actix matches `{path}` as the rest of
/// the path, slashes included (`register` turns it into `{path:.*}`).
pub const PROXY_PATH: &str = "/api/v1/services/{id}/proxy/{path}";

/// A body up to this size is read whole before it is sent, so that the
/// request can be sent again (a retry, or with a fresh OAuth token).
const REPLAYABLE_BODY_BYTES: usize = 64 * 1024;

/// Chunks of a streamed body in flight between the caller and the upstream:
/// what bounds the memory one proxied upload holds.
const STREAM_CHUNKS_IN_FLIGHT: usize = 8;

/// Marks an answer as the upstream's own: the envelope middleware leaves its
/// error bodies as they came.
#[derive(Clone, Copy)]
pub struct Proxied;

/// Get an OAuth 2.0 access token for the service's `oauth2_client_credentials` credential.
#[utoipa::path(
    post, path = "/api/v1/services/{id}/token", tag = "usage",
    operation_id = "getServiceToken",
    responses(
        (status = 200, description = "A token from the credential's token endpoint, or the cached one. `Cache-Control: no-store`", body = TokenDto,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 403, description = "`FORBIDDEN`: the token lacks `external-service:use`; or `EGRESS_DENIED`: the token endpoint's address is refused by the egress rules", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`, or `CREDENTIALS_NOT_FOUND`", body = ErrorResponse),
        (status = 422, description = "`UNSUPPORTED_AUTH_TYPE`: the current credential is not `oauth2_client_credentials`", body = ErrorResponse),
        (status = 502, description = "`UPSTREAM_ERROR`: the token endpoint answered an error (`details.upstream_status`, `details.oauth_error`) or could not be reached", body = ErrorResponse),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the use could not be recorded, so nothing was sent", body = ErrorResponse),
        (status = 504, description = "`UPSTREAM_TIMEOUT`: the token endpoint did not answer in time", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_token(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let usage = &state.use_cases.usage;
    let permit = usage
        .permit_use(auth.principal(), named_service(&req))
        .await?;
    let id = path_service(&req)?;
    let token = usage.token(permit, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(TokenDto::from(&token)))
}

/// Send a request to the service's `base_url` with its credential injected.
///
/// Registered for GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS; the answer
/// is the upstream's, streamed.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/proxy/{path}", tag = "usage",
    operation_id = "proxyGet",
    params(("path" = String, Path, description = "Joined to the service's `base_url`; the query string is passed on as received")),
    responses(
        (status = "default", description = "The upstream's answer, status, headers and body as it sent them (less hop-by-hop headers and `Set-Cookie`), with `Proxy-Status: exsvc; received-status=<status>`"),
        (status = 403, description = "`FORBIDDEN`: the token lacks `external-service:use`; or `EGRESS_DENIED`: the destination is refused by the egress rules", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`, or `CREDENTIALS_NOT_FOUND`", body = ErrorResponse),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the body exceeds the proxy's limit (EXSVC_PROXY_MAX_BODY_BYTES)", body = ErrorResponse),
        (status = 422, description = "`UNSUPPORTED_AUTH_TYPE`: a `custom` credential", body = ErrorResponse),
        (status = 502, description = "`UPSTREAM_ERROR`: no connection, an untrusted certificate, or the token endpoint refused; `Proxy-Status` names the error", body = ErrorResponse),
        (status = 503, description = "`UPSTREAM_UNAVAILABLE` (the service's circuit is open, with `Retry-After`) or `SERVICE_UNAVAILABLE`", body = ErrorResponse),
        (status = 504, description = "`UPSTREAM_TIMEOUT`: no connection or no response headers in time", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn proxy(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match forward(auth, &state, &req, payload.into_inner()).await {
        Ok(response) => response,
        Err(refusal) => {
            // The RFC 9209 error type where exsvc failed the request; the
            // route adds a plain `Proxy-Status: exsvc` to every other answer.
            let (error, failure) = match refusal {
                Refusal::Egress(error) => {
                    let kind = error.proxy_status_type();
                    (ApiError::from(UseCaseError::Egress(error)), Some(kind))
                }
                // The stored OAuth client is what the token endpoint refused.
                Refusal::TokenEndpoint(error) => (error, Some("proxy_configuration_error")),
                Refusal::Other(error) => (error, None),
            };
            let status = failure
                .and_then(|kind| HeaderValue::from_str(&format!("exsvc; error={kind}")).ok());
            let error = match status {
                Some(value) => error.with_extra_header(PROXY_STATUS.clone(), value),
                None => error,
            };
            actix_web::ResponseError::error_response(&error)
        }
    }
}

/// Why exsvc answered itself, kept apart until the `Proxy-Status` is chosen.
enum Refusal {
    Egress(EgressError),
    TokenEndpoint(ApiError),
    Other(ApiError),
}

async fn forward(
    auth: Authenticated,
    state: &AppState,
    req: &HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, Refusal> {
    let refuse = Refusal::Other;
    let usage = &state.use_cases.usage;
    let permit = usage
        .permit_use(auth.principal(), named_service(req))
        .await
        .map_err(|e| refuse(e.into()))?;
    let id = path_service(req).map_err(refuse)?;
    let max = state.proxy_max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(refuse(ApiError::payload_too_large(max)));
    }
    let too_large = Arc::new(AtomicBool::new(false));
    let body = read_body(
        req,
        payload,
        declared,
        max,
        too_large.clone(),
        state.body_timeout,
    )
    .await
    .map_err(refuse)?;
    let mut headers = to_http1(req.headers());
    // The upstream sees the id this request is known by here.
    if let Some(request_id) = auth.principal().request_id() {
        if let Ok(value) = http::HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", value);
        }
    }
    let request = ProxyRequest {
        // The route serves standard methods only, which always convert.
        method: http::Method::from_bytes(req.method().as_str().as_bytes()).map_err(|_| {
            refuse(ApiError::http_layer(
                StatusCode::BAD_REQUEST,
                "The request method is not one the proxy sends",
            ))
        })?,
        path: proxied_path(state, req, id).map_err(refuse)?,
        query: Some(req.query_string().to_owned()).filter(|q| !q.is_empty()),
        headers,
        body,
    };
    match usage.proxy(permit, id, request).await {
        Ok(answer) => Ok(answer_of(req.method(), answer)),
        Err(_) if too_large.load(Ordering::Relaxed) => {
            Err(refuse(ApiError::payload_too_large(max)))
        }
        Err(UseCaseError::Egress(error)) => Err(Refusal::Egress(error)),
        Err(error @ UseCaseError::TokenRefused { .. }) => Err(Refusal::TokenEndpoint(error.into())),
        Err(error) => Err(refuse(error.into())),
    }
}

/// The service the path names, for recording a refusal before anything else.
fn named_service(req: &HttpRequest) -> Option<ServiceId> {
    ServiceId::parse(req.match_info().get("id").unwrap_or(""))
}

/// The `{path}` as the caller sent it, still percent-encoded: the route's
/// match is decoded, and `%2F` must stay what it was. It is what follows the
/// route's own prefix, under the base path, for the service id as matched; a
/// request that spells that prefix otherwise (an escaped letter of `proxy`,
/// say) names no path the service can be sent.
fn proxied_path(state: &AppState, req: &HttpRequest, id: ServiceId) -> Result<String, ApiError> {
    let prefix = format!("{}/api/v1/services/{id}/proxy/", state.base_path);
    req.uri()
        .path()
        .strip_prefix(&prefix)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::from(exsvc_domain::validation::FieldErrors::single(
                "path",
                "must follow /proxy/ as written, without escaped characters before it",
            ))
        })
}

/// The caller's body: none, whole when small (replayable), else streamed
/// through a bounded channel (actix's payload is bound to its thread).
async fn read_body(
    req: &HttpRequest,
    mut payload: Payload,
    declared: Option<usize>,
    max: usize,
    too_large: Arc<AtomicBool>,
    timeout: std::time::Duration,
) -> Result<OutboundBody, ApiError> {
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if declared == Some(0) || (declared.is_none() && !chunked) {
        return Ok(OutboundBody::Empty);
    }
    // Small bodies are read whole, within the body timeout.
    let mut head = BytesMut::new();
    let read_head = async {
        while head.len() <= REPLAYABLE_BODY_BYTES {
            match payload.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(_)) => {
                    return Err(ApiError::http_layer(
                        StatusCode::BAD_REQUEST,
                        "The request body could not be read",
                    ))
                }
                None => return Ok(true),
            }
        }
        Ok(false)
    };
    let complete = actix_web::rt::time::timeout(timeout, read_head)
        .await
        .map_err(|_| ApiError::request_timeout(timeout))??;
    if head.len() > max {
        return Err(ApiError::payload_too_large(max));
    }
    if complete {
        return Ok(if head.is_empty() {
            OutboundBody::Empty
        } else {
            OutboundBody::Full(head.freeze())
        });
    }
    let (sender, receiver) = mpsc::channel::<Result<Bytes, BodyError>>(STREAM_CHUNKS_IN_FLIGHT);
    actix_web::rt::spawn(async move {
        let mut sent = head.len();
        if sender.send(Ok(head.freeze())).await.is_err() {
            return;
        }
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(chunk) => {
                    sent += chunk.len();
                    if sent > max {
                        too_large.store(true, Ordering::Relaxed);
                        Err(BodyError("the body exceeds the proxy's limit".into()))
                    } else {
                        Ok(chunk)
                    }
                }
                Err(error) => Err(BodyError(error.to_string())),
            };
            let stop = item.is_err();
            if sender.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let stream: BodyStream = Box::pin(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    Ok(OutboundBody::Stream(stream))
}

/// The upstream's answer as the caller gets it: streamed, with its length
/// when it said one.
fn answer_of(method: &Method, answer: exsvc_domain::ports::OutboundResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    let mut length = None;
    for (name, value) in &answer.headers {
        if name == http::header::CONTENT_LENGTH {
            length = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.append_header((name, value));
        }
    }
    // RFC 9209 `received-status`: the caller (and exsvc-client) can tell the
    // upstream's own answer from one exsvc gave itself, whatever the status.
    response.insert_header((
        PROXY_STATUS.clone(),
        format!("exsvc; received-status={}", status.as_u16()),
    ));
    response.extensions_mut().insert(Proxied);
    let bodiless = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        // A HEAD answer keeps the length the upstream stated for its GET;
        // actix writes the length of the (empty) body it is given otherwise.
        return match (length, *method == Method::HEAD) {
            (Some(length), true) => response.body(SizedStream::new(
                length,
                futures_util::stream::empty::<Result<Bytes, BodyError>>(),
            )),
            _ => response.finish(),
        };
    }
    match length {
        Some(length) => response.body(SizedStream::new(length, answer.body)),
        None => response.streaming(answer.body),
    }
}

/// actix-web 4's headers (http 0.2) as the outbound client's (http 1).
fn to_http1(headers: &actix_web::http::header::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    out
}
