-- Credentials (docs/api.md §1.2, §6) and the audit trail (docs/api.md §1.3). Same conventions
-- as the services table: ids as hyphenated lowercase UUID text, timestamps as
-- microseconds since the Unix epoch (UTC).

-- The current credential's summary, denormalised onto the service so a listing
-- can show and filter it without a join. Written only by the credential
-- operations, in the transaction that changes the credential rows.
ALTER TABLE services ADD COLUMN credential_auth_type TEXT;
ALTER TABLE services ADD COLUMN credential_expires_at INTEGER;

-- The `credential_expires_before` listing filter.
CREATE INDEX services_tenant_credential_expires_idx
    ON services (tenant_id, credential_expires_at);

-- One row per kept version. The primary key serves lookups by service, the
-- rotation batches' (service_id, version) order and the cascade from services.
CREATE TABLE credentials (
    tenant_id  TEXT    NOT NULL,
    service_id TEXT    NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version >= 1),
    auth_type  TEXT    NOT NULL,
    -- Envelope-encrypted secret (docs/api.md §6); never plaintext.
    ciphertext BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (service_id, version)
) STRICT;

-- No foreign key to services: the events of a deleted service stay readable.
CREATE TABLE audit_events (
    id                 TEXT    PRIMARY KEY NOT NULL,
    occurred_at        INTEGER NOT NULL,
    tenant_id          TEXT    NOT NULL,
    actor              TEXT    NOT NULL,
    action             TEXT    NOT NULL,
    service_id         TEXT,
    credential_version INTEGER,
    outcome            TEXT    NOT NULL CHECK (outcome IN ('success', 'denied')),
    request_id         TEXT
) STRICT;

-- The listing's keyset order, per tenant.
CREATE INDEX audit_events_tenant_occurred_id_idx
    ON audit_events (tenant_id, occurred_at DESC, id DESC);
