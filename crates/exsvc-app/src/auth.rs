//! Authentication as an extractor: a handler that takes `Authenticated` only runs
//! for a fully verified bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use exsvc_domain::ports::VerifiedToken;
use exsvc_domain::Principal;

use crate::error::ApiError;
use crate::middleware::{RequestId, RequestTenant};
use crate::ratelimit::Scope;
use crate::AppState;

pub struct Authenticated(pub VerifiedToken);

impl Authenticated {
    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    pub fn into_principal(self) -> Principal {
        self.0.principal
    }
}

/// What the `Authorization` headers of a request hold.
enum Credentials {
    None,
    Bearer(String),
    /// More than one `Authorization` header.
    Ambiguous,
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 7235); another scheme counts as no token.
fn bearer_token(req: &HttpRequest) -> Credentials {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        return Credentials::Ambiguous;
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    token.map_or(Credentials::None, |t| Credentials::Bearer(t.to_owned()))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let verified = match &token {
                Credentials::None => Err(ApiError::missing_token()),
                Credentials::Ambiguous => Err(ApiError::ambiguous_authorization()),
                Credentials::Bearer(token) => state
                    .verifier
                    .verify(token)
                    .await
                    .map_err(|e| ApiError::invalid_token(&e)),
            };
            let mut verified = match verified {
                Ok(verified) => verified,
                Err(refusal) => {
                    // Without a valid token, the client address's budget pays.
                    let forwarded = req
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok());
                    let client = state
                        .rate_limits
                        .client_address(req.peer_addr().map(|a| a.ip()), forwarded);
                    let spent = state
                        .rate_limits
                        .spend(Scope::Client, &client, &state.metrics)
                        .await?;
                    if let Some(spent) = spent {
                        req.extensions_mut().insert(spent);
                    }
                    return Err(refusal);
                }
            };
            let tenant = verified.principal.tenant().as_str().to_owned();
            req.extensions_mut().insert(RequestTenant(tenant.clone()));
            if let Some(spent) = state
                .rate_limits
                .spend(Scope::Tenant, &tenant, &state.metrics)
                .await?
            {
                req.extensions_mut().insert(spent);
            }
            // The bindings that apply to the caller now: from the replica's
            // copy, so deciding costs no query (docs/operations.md).
            verified.principal = state
                .use_cases
                .directory
                .resolve(verified.principal)
                .await?;
            // The audit trail records which request a caller made.
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
            if let Some(id) = request_id {
                verified.principal = verified.principal.with_request_id(id);
            }
            Ok(Authenticated(verified))
        })
    }
}
