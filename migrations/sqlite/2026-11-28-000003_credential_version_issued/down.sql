ALTER TABLE services DROP COLUMN credential_version_issued;
