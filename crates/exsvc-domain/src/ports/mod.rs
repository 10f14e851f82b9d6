//! The ports: what the domain needs from the outside world. Adapters implement
//! them; use cases hold them as `Arc<dyn Port>` so the store is chosen at run time.

mod access;
mod cipher;
mod clock;
mod egress;
mod idempotency;
mod ratelimit;
mod repository;
mod token;

pub use access::{AccessChanges, AccessQuery, AccessRepository, SecretReader};
pub use cipher::{CipherError, CredentialBinding, CredentialCipher};
pub use clock::{Clock, IdGenerator, SystemClock, UuidV7Generator};
pub use egress::{
    BodyError, BodyStream, BrokerError, CircuitKey, EgressError, IssuedToken, OAuthClient,
    OutboundBody, OutboundRequest, OutboundResponse, TokenAuthMethod, TokenBroker, TokenKey,
    Upstream,
};
pub use idempotency::IdempotencyStore;
pub use ratelimit::{RateLimitDecision, RateLimitError, RateLimiter};
pub use repository::{
    AuditLog, CredentialRepository, OutcomeSink, RepositoryError, ServiceRepository, UseOutcome,
    VersionState,
};
pub use token::{TokenError, TokenVerifier, VerifiedToken};

use std::sync::Arc;

/// One store (PostgreSQL or SQLite) through each of its repository ports.
#[derive(Clone)]
pub struct Stores {
    pub services: Arc<dyn ServiceRepository>,
    pub credentials: Arc<dyn CredentialRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub access: Arc<dyn AccessRepository>,
}

impl Stores {
    pub fn of<S>(store: S) -> Self
    where
        S: ServiceRepository
            + CredentialRepository
            + AuditLog
            + IdempotencyStore
            + AccessRepository
            + Clone,
    {
        Self {
            services: Arc::new(store.clone()),
            credentials: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            access: Arc::new(store),
        }
    }
}

#[cfg(any(test, feature = "mock"))]
pub use access::MockAccessRepository;
#[cfg(any(test, feature = "mock"))]
pub use cipher::MockCredentialCipher;
#[cfg(any(test, feature = "mock"))]
pub use clock::{MockClock, MockIdGenerator};
#[cfg(any(test, feature = "mock"))]
pub use egress::{MockTokenBroker, MockUpstream};
#[cfg(any(test, feature = "mock"))]
pub use idempotency::MockIdempotencyStore;
#[cfg(any(test, feature = "mock"))]
pub use ratelimit::MockRateLimiter;
#[cfg(any(test, feature = "mock"))]
pub use repository::{
    MockAuditLog, MockCredentialRepository, MockOutcomeSink, MockServiceRepository,
};
#[cfg(any(test, feature = "mock"))]
pub use token::MockTokenVerifier;
