-- What an event was about beyond a service (the role or binding of an access
-- change, a credential use's outcome). JSON text, not jsonb: jsonb would
-- reorder keys and respell numbers, and the event must read back as written.
ALTER TABLE audit_events ADD COLUMN details text;
