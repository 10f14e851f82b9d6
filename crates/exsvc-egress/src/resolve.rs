//! The resolver hook: every address a host name resolves to is checked, and
//! the connection goes to the addresses checked (no second lookup).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::policy::{AddressPolicy, Refusal};

/// A resolved address is refused: carried out of reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{refusal}")]
pub struct DeniedAddress {
    pub refusal: Refusal,
}

/// The host name did not resolve (or to nothing).
#[derive(Debug, thiserror::Error)]
#[error("the host name could not be resolved")]
pub struct ResolveFailed;

pub struct CheckingResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(ResolveFailed) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(ResolveFailed) as _);
            }
            // One refused address refuses the host: a name that resolves to
            // both a public and a private address is not trusted either way.
            for addr in &addrs {
                if let Err(refusal) = policy.check(addr.ip()) {
                    return Err(Box::new(DeniedAddress { refusal }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
