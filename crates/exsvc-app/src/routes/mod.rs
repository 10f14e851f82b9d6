//! The route table. Every API route is declared once here; registration, the
//! `Allow` header of 405s and the OpenAPI coverage test all read this table.

pub mod services;

use actix_web::http::Method;
use actix_web::{web, HttpResponse, Route};

use crate::error::ApiError;

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
    ]
}

/// Registers the table: one resource per path, answering other methods with 405
/// and the `Allow` header of that path.
pub fn register(config: &mut web::ServiceConfig) {
    let routes = api_routes();
    let mut paths: Vec<&'static str> = routes.iter().map(|r| r.path).collect();
    paths.dedup();
    for path in paths {
        let on_path: Vec<&RouteDef> = routes.iter().filter(|r| r.path == path).collect();
        let allow = on_path
            .iter()
            .map(|r| r.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(path);
        for def in on_path {
            resource = resource.route((def.make)());
        }
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::method_not_allowed(&allow)) }
        }));
        config.service(resource);
    }
}
