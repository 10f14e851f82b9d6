use std::sync::Arc;
use std::time::Duration;

use crate::access::AccessDirectory;
use crate::ports::{
    CredentialCipher, OutcomeSink, Stores, SystemClock, TokenBroker, Upstream, UuidV7Generator,
};
use crate::usecases::{
    AccessAdmin, AuditTrail, CatalogSettings, CredentialUse, CredentialUsePorts, CredentialVault,
    IdempotencyGuard, ServiceCatalog,
};

/// The ports of outbound HTTP (docs/api.md §10).
#[derive(Clone)]
pub struct Outbound {
    pub upstream: Arc<dyn Upstream>,
    pub broker: Arc<dyn TokenBroker>,
    /// Where the outcomes of uses go, to be written off the request path.
    pub outcomes: Arc<dyn OutcomeSink>,
}

/// What the use cases are configured with beyond the store and the cipher.
#[derive(Debug, Clone)]
pub struct UseCaseSettings {
    /// Also keys the audit trail's cursors.
    pub catalog: CatalogSettings,
    /// Credential versions kept per service.
    pub max_credential_versions: usize,
    /// The store's operation timeout, which an idempotency claim outlasts.
    pub store_timeout: Duration,
}

/// Every use case over one store, on the system clock and UUIDv7 ids: what
/// the server and the test app both serve.
#[derive(Clone)]
pub struct UseCases {
    pub catalog: ServiceCatalog,
    pub vault: CredentialVault,
    pub audit_trail: AuditTrail,
    pub idempotency: IdempotencyGuard,
    pub access: AccessAdmin,
    /// The token broker and the proxy.
    pub usage: CredentialUse,
    /// The replica's copy of role bindings: every request's caller is
    /// resolved through it, and the composition root polls it.
    pub directory: Arc<AccessDirectory>,
}

impl UseCases {
    pub fn new(
        stores: &Stores,
        cipher: Arc<dyn CredentialCipher>,
        outbound: Outbound,
        settings: UseCaseSettings,
    ) -> Self {
        let vault = CredentialVault::new(
            stores.services.clone(),
            stores.credentials.clone(),
            stores.audit.clone(),
            cipher.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            outbound.broker.clone(),
            settings.max_credential_versions,
        );
        let usage = CredentialUse::new(CredentialUsePorts {
            services: stores.services.clone(),
            credentials: stores.credentials.clone(),
            audit: stores.audit.clone(),
            outcomes: outbound.outcomes,
            cipher: cipher.clone(),
            upstream: outbound.upstream,
            broker: outbound.broker.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
        });
        let audit_trail =
            AuditTrail::new(stores.audit.clone(), settings.catalog.cursor_key.clone());
        let idempotency = IdempotencyGuard::new(
            stores.idempotency.clone(),
            cipher.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            settings.store_timeout,
        );
        let directory = Arc::new(AccessDirectory::new(
            stores.access.clone(),
            Arc::new(SystemClock),
        ));
        let access = AccessAdmin::new(
            stores.access.clone(),
            stores.services.clone(),
            directory.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            settings.catalog.cursor_key.clone(),
        );
        let catalog = ServiceCatalog::new(
            stores.services.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            cipher,
            outbound.broker,
            settings.catalog,
        );
        Self {
            catalog,
            vault,
            audit_trail,
            idempotency,
            access,
            usage,
            directory,
        }
    }
}
