//! The route table. Every API route is declared once here; registration and the
//! OpenAPI coverage test both read this table.

pub mod access;
pub mod audit;
pub mod credentials;
pub mod debug;
pub mod docs;
pub mod ops;
pub mod services;
pub mod usage;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError, Route};

use crate::auth::Authenticated;
use crate::error::ApiError;

/// One served API route.
pub struct RouteDef {
    pub method: Method,
    /// In actix and OpenAPI syntax alike (`{id}`).
    pub path: &'static str,
    /// The handler, without a method guard: `register` adds it.
    make: fn() -> Route,
}

/// Every API route, in registration order.
pub fn api_routes() -> Vec<RouteDef> {
    let route = |method: Method, path, make| RouteDef { method, path, make };
    vec![
        route(Method::GET, "/healthz", || web::route().to(ops::healthz)),
        route(Method::GET, "/readyz", || web::route().to(ops::readyz)),
        route(Method::GET, "/metrics", || web::route().to(ops::metrics)),
        route(Method::GET, DEBUG_AUTH, || {
            web::route().to(debug::debug_auth)
        }),
        route(Method::GET, "/api/v1/services", || {
            web::route().to(services::list_services)
        }),
        route(Method::POST, "/api/v1/services", || {
            web::route().to(services::create_service)
        }),
        route(Method::GET, "/api/v1/services/{id}", || {
            web::route().to(services::get_service)
        }),
        route(Method::PUT, "/api/v1/services/{id}", || {
            web::route().to(services::replace_service)
        }),
        route(Method::PATCH, "/api/v1/services/{id}", || {
            web::route().to(services::patch_service)
        }),
        route(Method::DELETE, "/api/v1/services/{id}", || {
            web::route().to(services::delete_service)
        }),
        route(Method::GET, "/api/v1/services/{id}/credentials", || {
            web::route().to(credentials::get_credentials)
        }),
        route(Method::PUT, "/api/v1/services/{id}/credentials", || {
            web::route().to(credentials::put_credentials)
        }),
        route(Method::DELETE, "/api/v1/services/{id}/credentials", || {
            web::route().to(credentials::delete_credentials)
        }),
        route(
            Method::GET,
            "/api/v1/services/{id}/credentials/versions",
            || web::route().to(credentials::list_versions),
        ),
        route(Method::GET, "/api/v1/audit-events", || {
            web::route().to(audit::list_audit_events)
        }),
        route(Method::POST, "/api/v1/services/{id}/token", || {
            web::route().to(usage::get_token)
        }),
        route(Method::GET, usage::PROXY_PATH, proxy_route),
        route(Method::POST, usage::PROXY_PATH, proxy_route),
        route(Method::PUT, usage::PROXY_PATH, proxy_route),
        route(Method::PATCH, usage::PROXY_PATH, proxy_route),
        route(Method::DELETE, usage::PROXY_PATH, proxy_route),
        route(Method::OPTIONS, usage::PROXY_PATH, proxy_route),
        route(Method::GET, "/api/v1/services/{id}/access", || {
            web::route().to(access::review_access)
        }),
        route(Method::GET, "/api/v1/roles", || {
            web::route().to(access::list_roles)
        }),
        route(Method::POST, "/api/v1/roles", || {
            web::route().to(access::create_role)
        }),
        route(Method::GET, "/api/v1/roles/{name}", || {
            web::route().to(access::get_role)
        }),
        route(Method::PUT, "/api/v1/roles/{name}", || {
            web::route().to(access::replace_role)
        }),
        route(Method::DELETE, "/api/v1/roles/{name}", || {
            web::route().to(access::delete_role)
        }),
        route(Method::GET, "/api/v1/role-bindings", || {
            web::route().to(access::list_bindings)
        }),
        route(Method::POST, "/api/v1/role-bindings", || {
            web::route().to(access::create_binding)
        }),
        route(Method::GET, "/api/v1/role-bindings/{id}", || {
            web::route().to(access::get_binding)
        }),
        route(Method::DELETE, "/api/v1/role-bindings/{id}", || {
            web::route().to(access::delete_binding)
        }),
    ]
}

fn proxy_route() -> Route {
    web::route().to(usage::proxy)
}

/// The path as actix matches it: the proxy's `{path}` is the rest of the
/// path, slashes included.
fn actix_pattern(path: &'static str) -> String {
    match path.strip_suffix("{path}") {
        Some(prefix) => format!("{prefix}{{path:.*}}"),
        None => path.to_owned(),
    }
}

/// The `Location` of a created resource at `path`, under the base path.
fn location(state: &crate::AppState, path: &str) -> Option<actix_web::http::header::HeaderValue> {
    actix_web::http::header::HeaderValue::from_str(&format!("{}{path}", state.base_path)).ok()
}

/// The diagnostics route that `EXSVC_DEBUG_ENDPOINTS=false` removes (it is then
/// an unknown route: 404).
pub const DEBUG_AUTH: &str = "/debug/auth";

/// Registers the table, one resource per path. HEAD is served wherever GET is
/// (actix sends the GET answer's headers without its body). Any other method
/// is 405 with the path's `Allow`, charged to the caller like any request.
pub fn register(config: &mut web::ServiceConfig, debug_endpoints: bool) {
    let routes: Vec<RouteDef> = api_routes()
        .into_iter()
        .filter(|r| debug_endpoints || r.path != DEBUG_AUTH)
        .collect();
    for (path, defs) in by_path(&routes) {
        let mut allow = Vec::new();
        let mut resource = web::resource(actix_pattern(path));
        for def in &defs {
            allow.push(def.method.as_str());
            resource = resource.route((def.make)().method(def.method.clone()));
            if def.method == Method::GET {
                allow.push(Method::HEAD.as_str());
                resource = resource.route((def.make)().method(Method::HEAD));
            }
        }
        let allow = allow.join(", ");
        let resource = resource.default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move {
                charge_caller(&req).await?;
                Err::<HttpResponse, _>(ApiError::method_not_allowed(&allow))
            }
        }));
        if path == usage::PROXY_PATH {
            // Every answer of the proxy names exsvc (RFC 9209), also those
            // given before its handler runs (401, 429, 405); the handler sets
            // its own where exsvc failed the request, which this keeps.
            config.service(
                resource.wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((usage::PROXY_STATUS.clone(), "exsvc")),
                ),
            );
        } else {
            config.service(resource);
        }
    }
}

/// The table grouped by path, in the order paths first appear: actix serves a
/// path from the first resource registered for it, so each path must be one
/// resource with all its methods, wherever its routes stand in the table.
fn by_path(routes: &[RouteDef]) -> Vec<(&'static str, Vec<&RouteDef>)> {
    let mut groups: Vec<(&'static str, Vec<&RouteDef>)> = Vec::new();
    for route in routes {
        match groups.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, defs)) => defs.push(route),
            None => groups.push((route.path, vec![route])),
        }
    }
    groups
}

/// The answer to a path no route serves: 404, charged to the caller.
pub async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    charge_caller(&req).await?;
    Err(ApiError::route_not_found())
}

/// Spends the caller's rate-limit budget for a request no handler takes: the
/// tenant's with a valid token, else the client address's. Only a refusal of
/// the budget itself (429, or 503 when the limiter fails closed) is returned;
/// a missing or bad token does not turn the route's own answer into a 401.
pub(crate) async fn charge_caller(req: &HttpRequest) -> Result<(), ApiError> {
    match Authenticated::from_request(req, &mut Payload::None).await {
        Ok(_) => Ok(()),
        Err(error) if error.status_code() == StatusCode::UNAUTHORIZED => Ok(()),
        Err(refusal) => Err(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_one_resource_wherever_its_routes_stand() {
        let route = |method: Method, path| RouteDef {
            method,
            path,
            make: web::route,
        };
        let table = [
            route(Method::GET, "/a"),
            route(Method::GET, "/b"),
            route(Method::POST, "/a"),
        ];
        let groups: Vec<(&str, Vec<Method>)> = by_path(&table)
            .into_iter()
            .map(|(path, defs)| (path, defs.iter().map(|d| d.method.clone()).collect()))
            .collect();
        assert_eq!(
            groups,
            [
                ("/a", vec![Method::GET, Method::POST]),
                ("/b", vec![Method::GET])
            ]
        );
    }
}
