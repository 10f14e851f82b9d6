//! The ports: what the domain needs from the outside world. Adapters implement
//! them; use cases hold them as `Arc<dyn Port>` so the store is chosen at run time.

mod cipher;
mod clock;
mod idempotency;
mod ratelimit;
mod repository;
mod token;

pub use cipher::{CipherError, CredentialBinding, CredentialCipher};
pub use clock::{Clock, IdGenerator, SystemClock, UuidV7Generator};
pub use idempotency::IdempotencyStore;
pub use ratelimit::{RateLimitDecision, RateLimitError, RateLimiter};
pub use repository::{
    AuditLog, CredentialRepository, RepositoryError, ServiceRepository, VersionState,
};
pub use token::{TokenError, TokenVerifier, VerifiedToken};

#[cfg(any(test, feature = "mock"))]
pub use cipher::MockCredentialCipher;
#[cfg(any(test, feature = "mock"))]
pub use clock::{MockClock, MockIdGenerator};
#[cfg(any(test, feature = "mock"))]
pub use idempotency::MockIdempotencyStore;
#[cfg(any(test, feature = "mock"))]
pub use ratelimit::MockRateLimiter;
#[cfg(any(test, feature = "mock"))]
pub use repository::{MockAuditLog, MockCredentialRepository, MockServiceRepository};
#[cfg(any(test, feature = "mock"))]
pub use token::MockTokenVerifier;
