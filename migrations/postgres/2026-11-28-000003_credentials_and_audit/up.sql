-- Credentials (docs/api.md §1.2, §6) and the audit trail (§1.3).

-- The current credential's summary, kept on the service row so reads and the
-- `credential_expires_before` filter need no join.
ALTER TABLE services
    ADD COLUMN credential_auth_type  text,
    ADD COLUMN credential_expires_at timestamptz;
CREATE INDEX services_tenant_credential_expiry_idx ON services (tenant_id, credential_expires_at);

-- Every kept version; the ciphertext is the cipher's framed envelope, the
-- plaintext is never stored. Deleting a service destroys its credentials.
CREATE TABLE credentials (
    tenant_id  text        NOT NULL,
    service_id uuid        NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    version    bigint      NOT NULL CHECK (version >= 1),
    auth_type  text        NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (service_id, version)
);

-- No foreign key to services: the trail outlives what it describes.
CREATE TABLE audit_events (
    id                 uuid        PRIMARY KEY,
    occurred_at        timestamptz NOT NULL,
    tenant_id          text        NOT NULL,
    actor              text        NOT NULL,
    action             text        NOT NULL,
    service_id         uuid,
    credential_version bigint,
    outcome            text        NOT NULL CHECK (outcome IN ('success', 'denied')),
    request_id         text
);
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant_id, occurred_at DESC, id DESC);
