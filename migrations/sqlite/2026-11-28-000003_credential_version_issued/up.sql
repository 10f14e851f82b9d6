-- The highest credential version ever issued for a service (see the PostgreSQL
-- migration of the same name).
ALTER TABLE services ADD COLUMN credential_version_issued INTEGER NOT NULL DEFAULT 0;
UPDATE services SET credential_version_issued =
    COALESCE((SELECT max(version) FROM credentials WHERE credentials.service_id = services.id), 0);
