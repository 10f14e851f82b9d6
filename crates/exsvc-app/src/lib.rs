//! The HTTP adapter: actix-web routes, DTOs, the error envelope, middleware and
//! the OpenAPI document. HTTP status codes exist only in this crate.

mod auth;
mod body;
mod dto;
mod dto_access;
pub mod edge;
mod error;
mod headers;
mod idempotency;
pub mod metrics;
mod middleware;
mod openapi;
/// The OpenAPI document the app serves, for tests that check a client against it.
pub use openapi::document as openapi_document;
pub mod ratelimit;
mod routes;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App};
use exsvc_domain::ports::TokenVerifier;
use exsvc_domain::usecases::UseCases;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler may use.
pub struct AppState {
    pub use_cases: UseCases,
    pub verifier: Arc<dyn TokenVerifier>,
    /// The prefix of every route (`EXSVC_BASE_PATH`), "" or "/something".
    pub base_path: String,
    pub metrics: metrics::Metrics,
    pub rate_limits: ratelimit::RateLimits,
    /// `EXSVC_DEBUG_ENDPOINTS`: serve `/debug/auth`, or answer it 404.
    pub debug_endpoints: bool,
    /// `EXSVC_BODY_TIMEOUT_MS`: past it, a body still arriving is 408.
    pub body_timeout: std::time::Duration,
    /// `EXSVC_PROXY_MAX_BODY_BYTES`: the largest body the proxy sends on.
    pub proxy_max_body_bytes: usize,
}

/// The application: API routes, docs, error handling, under the base path.
/// `extra` registers more routes inside the same middleware (tests use it).
pub fn build_app(
    state: web::Data<AppState>,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let base = state.base_path.clone();
    let debug_endpoints = state.debug_endpoints;
    let doc = openapi::document(&base);
    App::new()
        .app_data(state)
        .wrap(actix_web::middleware::from_fn(middleware::envelope))
        // SwaggerUi registers absolute paths, so it sits beside the scope, not in it.
        .service(
            SwaggerUi::new(format!("{base}/swagger-ui/{{_:.*}}"))
                .external_url_unchecked(format!("{base}/api-docs/openapi.json"), doc),
        )
        // The root and `/swagger-ui` lead to it; absolute paths, beside it too.
        .service(routes::docs::redirects(&base))
        .service(
            web::scope(&base)
                .configure(|config| routes::register(config, debug_endpoints))
                .configure(extra),
        )
        .default_service(web::to(routes::unknown_route))
}
