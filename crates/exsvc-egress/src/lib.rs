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
//!
//! Where docs/api.md is silent, this crate decides:
//! - The resolver refuses a host when *any* of its addresses is refused, and
//!   hands hyper only the addresses it checked. IP-literal hosts (which hyper
//!   connects to without resolving) are checked before sending. The
//!   deprecated IPv4-compatible form `::a.b.c.d` is judged by its IPv4
//!   address, like the mapped and NAT64 forms.
//! - Retried: a connection that could not be made (refused, another connect
//!   failure) and 502/503/504; not retried: any timeout (connect or
//!   response), DNS failures, denials, TLS failures, failures after
//!   connecting, a failure of the caller's own body. The
//!   full-jitter backoff ceiling (100 ms · 2ⁿ) is capped at 5 s. A
//!   `Retry-After` of more than 5 s ends the retries with that answer.
//! - The breaker counts every failed attempt except a denial and a failure of
//!   the caller's body: no connection
//!   (DNS, refused, connect timeout, TLS), a response timeout, or a 5xx. While
//!   a half-open trial runs, other requests get `CircuitOpen` with a
//!   `retry_after` of 1 s. When the circuit opens between the attempts of
//!   one request, that request returns its previous attempt's result.
//!   `breaker_failures = 0` disables the breaker.
//! - The token endpoint is asked once (a POST), outside the service's circuit
//!   (it is another host, and a failing token endpoint is not the API
//!   failing), under the same address rules, TLS and timeouts; its body is
//!   read within the response timeout again and at most 64 KiB.
//! - Metrics count attempts (each retry is one), plus one `denied` or
//!   `circuit_open` per refused send; latency is observed for answered attempts.
//! - reqwest adds `Accept: */*` when the request has no `Accept` header.

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
