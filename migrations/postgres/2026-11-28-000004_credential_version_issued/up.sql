-- The highest credential version ever issued for a service: numbers are never
-- reused after a delete, so an audit event's version names one secret and an
-- old ciphertext (bound to its version) can never open in a new row.
ALTER TABLE services ADD COLUMN credential_version_issued bigint NOT NULL DEFAULT 0;
UPDATE services SET credential_version_issued =
    COALESCE((SELECT max(version) FROM credentials WHERE credentials.service_id = services.id), 0);
