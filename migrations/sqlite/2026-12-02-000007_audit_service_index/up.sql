-- The events of one service, newest first: the access review's readers
-- (docs/api.md §4.6) and the audit listing's service_id filter read them
-- without scanning the tenant's whole trail.
CREATE INDEX audit_events_tenant_service_time_idx
    ON audit_events (tenant_id, service_id, occurred_at DESC, id DESC);
