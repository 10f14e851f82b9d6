//! The ways into the documentation that a person types: the root, and the
//! Swagger UI's address without its trailing slash, lead to the Swagger UI.
//! Like the Swagger UI itself these are no API operation: they are not in the
//! route table, so not in the OpenAPI document, and they spend no rate-limit
//! budget. Registered beside the Swagger UI, at absolute paths.

use actix_web::http::StatusCode;
use actix_web::web::{self, Redirect};
use actix_web::{guard, Resource};

/// The redirects under `base` (`EXSVC_BASE_PATH`, "" or "/something"):
///
/// - `{base}/`, and `{base}` itself when there is a base path, answer
///   **307 Temporary Redirect**: what the root shows is a choice that will
///   change (the web console is to take it), and browsers keep a permanent
///   redirect for good, so a 308 now would send them to the Swagger UI after
///   the console arrives.
/// - `{base}/swagger-ui` answers **308 Permanent Redirect**: it is the Swagger
///   UI's own address misspelt, and that will not change.
///
/// Both keep the method (a HEAD stays a HEAD, which 301 and 302 do not
/// promise) and name a fixed `Location`, without the request's query string:
/// the Swagger UI reads its own query (`?url=` would load another document),
/// and nothing sent to the root is meant for it. Only GET and HEAD are
/// redirected, as only GET serves the Swagger UI; another method stays an
/// unknown route (404).
pub fn redirects(base: &str) -> Vec<Resource> {
    let swagger_ui = format!("{base}/swagger-ui/");
    let mut redirects = vec![
        redirect(
            format!("{base}/"),
            &swagger_ui,
            StatusCode::TEMPORARY_REDIRECT,
        ),
        redirect(
            format!("{base}/swagger-ui"),
            &swagger_ui,
            StatusCode::PERMANENT_REDIRECT,
        ),
    ];
    if !base.is_empty() {
        redirects.push(redirect(
            base.to_owned(),
            &swagger_ui,
            StatusCode::TEMPORARY_REDIRECT,
        ));
    }
    redirects
}

fn redirect(from: String, to: &str, status: StatusCode) -> Resource {
    let to = to.to_owned();
    web::resource(from)
        .guard(guard::Any(guard::Get()).or(guard::Head()))
        .to(move || {
            let answer = Redirect::to(to.clone()).using_status_code(status);
            async move { answer }
        })
}
