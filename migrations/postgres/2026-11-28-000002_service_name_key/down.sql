DROP INDEX services_tenant_name_key_key;
CREATE UNIQUE INDEX services_tenant_lower_name_key ON services (tenant_id, lower(name));
ALTER TABLE services DROP COLUMN name_key;
