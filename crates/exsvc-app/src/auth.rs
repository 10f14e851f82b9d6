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

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 7235); anything else counts as no token.
fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
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
                None => Err(ApiError::missing_token()),
                Some(token) => state
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
            // The audit trail records which request a caller made.
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
            if let Some(id) = request_id {
                verified.principal = verified.principal.with_request_id(id);
            }
            Ok(Authenticated(verified))
        })
    }
}
