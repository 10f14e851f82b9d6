//! The one outbound HTTP client of exsvc (docs/api.md §10.3): every request to
//! a service's upstream or a token endpoint goes through [`Egress`], which
//! owns the egress rules (scheme, public addresses only, checked at resolution
//! so the connection goes to the address checked), TLS (platform roots plus
//! `EXSVC_EGRESS_CA_FILE`), timeouts, retries and the per-service circuit
//! breakers; [`OAuthBroker`] asks token endpoints through it and caches what
//! they issue (§10.1).
//!
//! No URL, header value or body reaches a log line, an error or a `Debug`
//! output: the URL may carry an injected api key, the headers a credential.
//! Log lines name the host only.

mod breaker;
mod broker;
mod classify;
mod egress;
mod metrics;
mod policy;
mod resolve;
mod retry;

pub use breaker::{Admission, BreakerConfig, Circuit, CircuitState, Outcome};
pub use broker::{OAuthBroker, EXPIRY_MARGIN, TOKEN_BODY_LIMIT};
pub use egress::{Egress, EgressSettings, EgressSetupError};
pub use policy::{embedded_v4, AddressPolicy, Refusal};
pub use retry::{backoff_ceiling, retry_after, MAX_RETRY_AFTER};
