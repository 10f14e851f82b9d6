-- The service registry (docs/api.md §1.1) in the embedded store. Same shape as the
-- PostgreSQL schema: ids as hyphenated UUID text, JSON as text, timestamps as
-- microseconds since the Unix epoch (UTC), so keyset order is numeric.
CREATE TABLE services (
    id           TEXT    PRIMARY KEY NOT NULL,
    tenant_id    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    -- ServiceName::key(): the Unicode lowercase name, for uniqueness and search.
    name_key     TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    service_type TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    base_url     TEXT    NOT NULL,
    api_version  TEXT,
    metadata     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1)
) STRICT;

CREATE UNIQUE INDEX services_tenant_name_key_key ON services (tenant_id, name_key);
CREATE INDEX services_tenant_created_id_idx ON services (tenant_id, created_at DESC, id DESC);
