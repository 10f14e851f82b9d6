-- Idempotency keys (docs/api.md §2): one row per key of a tenant, kept 24 hours.
-- A row without a response is a request still running, which holds the key
-- until locked_until; its response is stored when it succeeds.
CREATE TABLE idempotency_keys (
    tenant_id        text        NOT NULL,
    idempotency_key  text        NOT NULL,
    -- Which request holds the key: only it may complete or release the row.
    claim            uuid        NOT NULL,
    -- HMAC of the request under a key derived from the master key named in
    -- fingerprint_key; never the body itself, which may hold a secret.
    fingerprint      bytea       NOT NULL,
    fingerprint_key  text        NOT NULL,
    response_status  smallint,
    -- JSON array of [name, value] pairs.
    response_headers text,
    response_body    bytea,
    locked_until     timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- The purge of expired keys.
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
