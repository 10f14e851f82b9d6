DROP INDEX audit_events_tenant_occurred_id_idx;
DROP TABLE audit_events;
DROP TABLE credentials;
-- The index must go before the column it covers can be dropped.
DROP INDEX services_tenant_credential_expires_idx;
ALTER TABLE services DROP COLUMN credential_expires_at;
ALTER TABLE services DROP COLUMN credential_auth_type;
