//! Operations endpoints: liveness, readiness and metrics. No token needed.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = Status)]
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
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.use_cases.catalog.check_store().await {
        Ok(()) => Ok(HttpResponse::Ok().json(StatusDto { status: "ready" })),
        // Any failure means "not ready" to a probe; the cause goes to the log.
        Err(error) => {
            tracing::warn!(%error, source = ?std::error::Error::source(&error), "readiness check failed");
            Err(ApiError::unavailable())
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, prometheus::TEXT_FORMAT))
        .body(state.metrics.render())
}
