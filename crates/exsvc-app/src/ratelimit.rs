//! Rate limiting at the edge of authentication (docs/api.md §5): an authenticated
//! request spends its tenant's budget, one without a valid token its client
//! address's. Routes that take no token (health, metrics, docs) never get here.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use exsvc_domain::ports::{RateLimitDecision, RateLimiter};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// What to do when the limiter's store (Redis) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    Allow,
    Deny,
}

pub struct RateLimits {
    pub tenants: Arc<dyn RateLimiter>,
    pub clients: Arc<dyn RateLimiter>,
    pub on_store_error: OnStoreError,
    /// Proxies (load balancers) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNetwork>,
}

/// An address range, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or one with `/n`.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => {
                (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?)
            }
            None => {
                let address = text.trim().parse::<IpAddr>().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Self { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<(u128, u8)> {
            match ip {
                IpAddr::V4(v4) => Some((u128::from(u32::from(v4)) << 96, 32)),
                IpAddr::V6(v6) => Some((u128::from(v6), 128)),
            }
        };
        let (Some((net, width)), Some((candidate, candidate_width))) =
            (bits(self.address), bits(ip))
        else {
            return false;
        };
        if width != candidate_width {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        net & mask == candidate & mask
    }
}

impl RateLimits {
    /// The client's address: the TCP peer, or — when the peer is a trusted proxy —
    /// the right-most address of `X-Forwarded-For` that is not a trusted proxy.
    pub fn client_address(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> String {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        let Some(peer) = peer else {
            return "unknown".to_owned();
        };
        if !trusted(peer) {
            return peer.to_string();
        }
        forwarded_for
            .into_iter()
            .flat_map(|list| list.split(','))
            .rev()
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|ip| !trusted(*ip))
            .unwrap_or(peer)
            .to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    Client,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Client => "client",
        }
    }
}

/// The decision of a request, kept in its extensions so the middleware can put
/// the headers on whatever response follows (errors included).
#[derive(Debug, Clone, Copy)]
pub struct RateLimitState(pub RateLimitDecision);

impl RateLimits {
    /// Spends one request of `key`'s budget. `Ok(None)` when the store failed
    /// and the policy lets the request through (there is then nothing to tell).
    ///
    /// # Errors
    /// 429 when the budget is spent (or the store failed under `Deny`).
    pub async fn spend(
        &self,
        scope: Scope,
        key: &str,
        metrics: &Metrics,
    ) -> Result<Option<RateLimitState>, ApiError> {
        let limiter = match scope {
            Scope::Tenant => &self.tenants,
            Scope::Client => &self.clients,
        };
        match limiter.check(key).await {
            Ok(decision) if decision.allowed => Ok(Some(RateLimitState(decision))),
            Ok(decision) => {
                metrics.rate_limit_refused(scope.as_str());
                let retry = crate::headers::ceil_secs(
                    decision.retry_after.unwrap_or(Duration::from_secs(1)),
                )
                .max(1);
                Err(ApiError::rate_limited(retry).with_rate_limit(&decision))
            }
            Err(error) => {
                metrics.rate_limit_store_error();
                tracing::warn!(%error, scope = scope.as_str(), policy = ?self.on_store_error, "rate limit store failed");
                match self.on_store_error {
                    OnStoreError::Allow => Ok(None),
                    OnStoreError::Deny => {
                        metrics.rate_limit_refused(scope.as_str());
                        Err(ApiError::rate_limited(1))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        struct Never;
        #[async_trait::async_trait]
        impl RateLimiter for Never {
            async fn check(
                &self,
                _: &str,
            ) -> Result<RateLimitDecision, exsvc_domain::ports::RateLimitError> {
                Err(exsvc_domain::ports::RateLimitError("unused".into()))
            }
        }
        RateLimits {
            tenants: Arc::new(Never),
            clients: Arc::new(Never),
            on_store_error: OnStoreError::Allow,
            trusted_proxies: trusted
                .iter()
                .map(|t| IpNetwork::parse(t).unwrap())
                .collect(),
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn networks() {
        let net = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(IpNetwork::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpNetwork::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "x", "10.0.0.0/x"] {
            assert!(IpNetwork::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let open = limits(&[]);
        assert_eq!(
            open.client_address(ip("10.0.0.5"), Some("1.2.3.4")),
            "10.0.0.5",
            "not trusted: the header is ignored"
        );
        let behind = limits(&["10.0.0.0/8"]);
        assert_eq!(
            behind.client_address(ip("10.0.0.5"), Some("1.2.3.4")),
            "1.2.3.4"
        );
        // A client cannot pick its address by prepending to the header.
        assert_eq!(
            behind.client_address(ip("10.0.0.5"), Some("6.6.6.6, 1.2.3.4, 10.0.0.7")),
            "1.2.3.4"
        );
        assert_eq!(behind.client_address(ip("10.0.0.5"), None), "10.0.0.5");
        assert_eq!(
            behind.client_address(ip("10.0.0.5"), Some("garbage")),
            "10.0.0.5"
        );
        assert_eq!(behind.client_address(None, None), "unknown");
    }
}
