//! The exsvc domain: the Service registry's entities, validated value objects, the
//! ports the adapters implement, and the use cases that enforce tenancy and
//! permissions. Nothing here performs I/O; adapters live in their own crates.

pub mod access;
pub mod audit;
pub mod credential;
pub mod error;
pub mod idempotency;
pub mod pagination;
pub mod ports;
pub mod principal;
pub mod service;
pub mod stored;
pub mod usecases;
pub mod validation;

pub use error::UseCaseError;
pub use principal::{Permission, Principal, TenantId};
pub use service::{Service, ServiceId, ServiceSpec};
