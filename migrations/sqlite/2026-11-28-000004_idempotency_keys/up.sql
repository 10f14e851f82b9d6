-- Idempotency keys (docs/api.md §2), as in the PostgreSQL migration: one row per key
-- of a tenant, kept 24 hours; a row without a response is a request still
-- running, which holds the key until locked_until. Timestamps in microseconds.
CREATE TABLE idempotency_keys (
    tenant_id        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    claim            TEXT    NOT NULL,
    -- HMAC of the request under a key derived from the master key named in
    -- fingerprint_key; never the body itself, which may hold a secret.
    fingerprint      BLOB    NOT NULL,
    fingerprint_key  TEXT    NOT NULL,
    response_status  INTEGER,
    response_headers TEXT,
    response_body    BLOB,
    locked_until     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
) STRICT;

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
