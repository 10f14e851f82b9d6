//! The route table. Every API route is declared once here; registration and the
//! OpenAPI coverage test both read this table.

pub mod audit;
pub mod credentials;
pub mod debug;
pub mod ops;
pub mod services;

use actix_web::http::Method;
use actix_web::{web, Route};

/// One served API route.
pub struct RouteDef {
    pub method: Method,
    /// In actix and OpenAPI syntax alike (`{id}`).
    pub path: &'static str,
    make: fn() -> Route,
}

/// Every API route, in registration order.
pub fn api_routes() -> Vec<RouteDef> {
    let route = |method: Method, path, make| RouteDef { method, path, make };
    vec![
        route(Method::GET, "/healthz", || web::get().to(ops::healthz)),
        route(Method::GET, "/readyz", || web::get().to(ops::readyz)),
        route(Method::GET, "/metrics", || web::get().to(ops::metrics)),
        route(Method::GET, DEBUG_AUTH, || web::get().to(debug::debug_auth)),
        route(Method::GET, "/api/v1/services", || {
            web::get().to(services::list_services)
        }),
        route(Method::POST, "/api/v1/services", || {
            web::post().to(services::create_service)
        }),
        route(Method::GET, "/api/v1/services/{id}", || {
            web::get().to(services::get_service)
        }),
        route(Method::PUT, "/api/v1/services/{id}", || {
            web::put().to(services::replace_service)
        }),
        route(Method::PATCH, "/api/v1/services/{id}", || {
            web::patch().to(services::patch_service)
        }),
        route(Method::DELETE, "/api/v1/services/{id}", || {
            web::delete().to(services::delete_service)
        }),
        route(Method::GET, "/api/v1/services/{id}/credentials", || {
            web::get().to(credentials::get_credentials)
        }),
        route(Method::PUT, "/api/v1/services/{id}/credentials", || {
            web::put().to(credentials::put_credentials)
        }),
        route(Method::DELETE, "/api/v1/services/{id}/credentials", || {
            web::delete().to(credentials::delete_credentials)
        }),
        route(
            Method::GET,
            "/api/v1/services/{id}/credentials/versions",
            || web::get().to(credentials::list_versions),
        ),
        route(Method::GET, "/api/v1/audit-events", || {
            web::get().to(audit::list_audit_events)
        }),
    ]
}

/// The diagnostics route that `EXSVC_DEBUG_ENDPOINTS=false` removes (it is then
/// an unknown route: 404).
pub const DEBUG_AUTH: &str = "/debug/auth";

/// Registers the table, one resource per path. actix answers other methods on a
/// path with 405 and its `Allow` header; the middleware gives that the envelope.
pub fn register(config: &mut web::ServiceConfig, debug_endpoints: bool) {
    let routes: Vec<RouteDef> = api_routes()
        .into_iter()
        .filter(|r| debug_endpoints || r.path != DEBUG_AUTH)
        .collect();
    let mut paths: Vec<&'static str> = routes.iter().map(|r| r.path).collect();
    paths.dedup();
    for path in paths {
        let resource = routes
            .iter()
            .filter(|r| r.path == path)
            .fold(web::resource(path), |resource, def| {
                resource.route((def.make)())
            });
        config.service(resource);
    }
}
