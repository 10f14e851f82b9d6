-- Least privilege inside a tenant (docs/api.md §4.5): roles, their bindings,
-- and the access clock every replica polls to learn of changes.

CREATE TABLE roles (
    tenant_id   text        NOT NULL,
    name        text        NOT NULL,
    -- The listing's keyset tie-breaker (UUIDv7); paths name a role by name.
    id          uuid        NOT NULL UNIQUE,
    description text        NOT NULL DEFAULT '',
    -- JSON text of RolePermissions::to_json and ServiceSelector::to_json: read
    -- back through the domain's parsers, never queried inside.
    permissions text        NOT NULL,
    services    text        NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX roles_tenant_created_id_idx ON roles (tenant_id, created_at DESC, id DESC);

-- No ON DELETE: the key makes "a role named by a binding cannot be deleted"
-- and "a binding names an existing role" hold against racing writers.
CREATE TABLE role_bindings (
    id            uuid        PRIMARY KEY,
    tenant_id     text        NOT NULL,
    role_name     text        NOT NULL,
    subject_type  text        NOT NULL CHECK (subject_type IN ('sub', 'client_id', 'role')),
    subject_value text        NOT NULL,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    FOREIGN KEY (tenant_id, role_name) REFERENCES roles (tenant_id, name)
);
CREATE INDEX role_bindings_tenant_created_id_idx
    ON role_bindings (tenant_id, created_at DESC, id DESC);
-- The foreign key's check on delete, and the listing's role filter.
CREATE INDEX role_bindings_tenant_role_idx ON role_bindings (tenant_id, role_name);

-- One counter for the whole store. Every access write increments it in its
-- transaction; the row lock makes writers take numbers in commit order, so a
-- poller that has seen clock N has seen every change numbered N or less.
CREATE TABLE access_clock (
    id    integer PRIMARY KEY CHECK (id = 1),
    clock bigint  NOT NULL
);
INSERT INTO access_clock (id, clock) VALUES (1, 0);

-- The clock of each tenant's latest access change.
CREATE TABLE access_changes (
    tenant_id text   PRIMARY KEY,
    clock     bigint NOT NULL
);
CREATE INDEX access_changes_clock_idx ON access_changes (clock);
