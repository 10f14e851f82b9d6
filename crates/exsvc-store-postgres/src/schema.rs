// The diesel view of migrations/postgres. Kept by hand.
diesel::table! {
    services (id) {
        id -> Uuid,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Text,
        service_type -> Text,
        status -> Text,
        base_url -> Text,
        api_version -> Nullable<Text>,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
        credential_auth_type -> Nullable<Text>,
        credential_expires_at -> Nullable<Timestamptz>,
        credential_version_issued -> Int8,
    }
}

diesel::table! {
    credentials (service_id, version) {
        tenant_id -> Text,
        service_id -> Uuid,
        version -> Int8,
        auth_type -> Text,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        tenant_id -> Text,
        actor -> Text,
        action -> Text,
        service_id -> Nullable<Uuid>,
        credential_version -> Nullable<Int8>,
        outcome -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::joinable!(credentials -> services (service_id));
diesel::allow_tables_to_appear_in_same_query!(services, credentials);

diesel::table! {
    idempotency_keys (tenant_id, idempotency_key) {
        tenant_id -> Text,
        idempotency_key -> Text,
        claim -> Uuid,
        fingerprint -> Bytea,
        fingerprint_key -> Text,
        response_status -> Nullable<Int2>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
        locked_until -> Timestamptz,
        expires_at -> Timestamptz,
    }
}
