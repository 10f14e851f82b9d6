-- What an event was about beyond a service (see the PostgreSQL migration of the
-- same name): JSON text.
ALTER TABLE audit_events ADD COLUMN details TEXT CHECK (details IS NULL OR json_valid(details));
