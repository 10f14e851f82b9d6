//! Operations endpoints: liveness, readiness and metrics. No token needed.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorResponse};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct StatusDto {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "The process is alive", body = StatusDto)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(StatusDto { status: "ok" })
}

/// Readiness: 200 when the database answers, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "The database answers", body = StatusDto),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the database does not answer", body = ErrorResponse),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.catalog.check_store().await?;
    Ok(HttpResponse::Ok().json(StatusDto { status: "ready" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .unwrap_or(mime_text_plain()),
        ))
        .body(state.metrics.render())
}

fn mime_text_plain() -> actix_web::mime::Mime {
    actix_web::mime::TEXT_PLAIN_UTF_8
}
