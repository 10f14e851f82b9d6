-- The service registry (docs/api.md §1.1). Every row belongs to one tenant; every query
-- filters on tenant_id first.
CREATE TABLE services (
    id           uuid        PRIMARY KEY,
    tenant_id    text        NOT NULL,
    name         text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    service_type text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'inactive')),
    base_url     text        NOT NULL,
    api_version  text,
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- Optimistic concurrency: 1 at creation, +1 per change; the ETag.
    version      bigint      NOT NULL CHECK (version >= 1)
);

-- Names are unique per tenant ignoring case. The database enforces it so two
-- racing creates cannot both win.
CREATE UNIQUE INDEX services_tenant_lower_name_key ON services (tenant_id, lower(name));

-- Serves keyset pagination: newest first, then id, within a tenant.
CREATE INDEX services_tenant_created_id_idx ON services (tenant_id, created_at DESC, id DESC);
