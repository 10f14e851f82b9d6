-- Case-insensitive uniqueness and search on a key the application computes
-- (Unicode lowercase), so PostgreSQL and SQLite agree whatever the collation.
ALTER TABLE services ADD COLUMN name_key text;
UPDATE services SET name_key = lower(name);
ALTER TABLE services ALTER COLUMN name_key SET NOT NULL;
DROP INDEX services_tenant_lower_name_key;
CREATE UNIQUE INDEX services_tenant_name_key_key ON services (tenant_id, name_key);
