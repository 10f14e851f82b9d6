-- Least privilege inside a tenant (see the PostgreSQL migration of the same
-- name). Ids as UUID text, timestamps as microseconds, JSON as text. The
-- foreign key holds because every connection enables foreign keys (pool.rs).

CREATE TABLE roles (
    tenant_id   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    id          TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    permissions TEXT    NOT NULL CHECK (json_valid(permissions)),
    services    TEXT    NOT NULL CHECK (json_valid(services)),
    version     INTEGER NOT NULL CHECK (version >= 1),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;
CREATE INDEX roles_tenant_created_id_idx ON roles (tenant_id, created_at DESC, id DESC);

CREATE TABLE role_bindings (
    id            TEXT    PRIMARY KEY NOT NULL,
    tenant_id     TEXT    NOT NULL,
    role_name     TEXT    NOT NULL,
    subject_type  TEXT    NOT NULL CHECK (subject_type IN ('sub', 'client_id', 'role')),
    subject_value TEXT    NOT NULL,
    expires_at    INTEGER,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    FOREIGN KEY (tenant_id, role_name) REFERENCES roles (tenant_id, name)
) STRICT;
CREATE INDEX role_bindings_tenant_created_id_idx
    ON role_bindings (tenant_id, created_at DESC, id DESC);
CREATE INDEX role_bindings_tenant_role_idx ON role_bindings (tenant_id, role_name);

-- Writers are serialized by BEGIN IMMEDIATE, so numbers follow commit order.
CREATE TABLE access_clock (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    clock INTEGER NOT NULL
) STRICT;
INSERT INTO access_clock (id, clock) VALUES (1, 0);

CREATE TABLE access_changes (
    tenant_id TEXT    PRIMARY KEY NOT NULL,
    clock     INTEGER NOT NULL
) STRICT;
CREATE INDEX access_changes_clock_idx ON access_changes (clock);
