DROP TABLE audit_events;
DROP TABLE credentials;
DROP INDEX services_tenant_credential_expiry_idx;
ALTER TABLE services DROP COLUMN credential_auth_type, DROP COLUMN credential_expires_at;
