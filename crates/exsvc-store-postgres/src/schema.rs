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
        details -> Nullable<Text>,
    }
}

diesel::joinable!(credentials -> services (service_id));
diesel::allow_tables_to_appear_in_same_query!(services, credentials, audit_events);

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

diesel::table! {
    roles (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        id -> Uuid,
        description -> Text,
        permissions -> Text,
        services -> Text,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    role_bindings (id) {
        id -> Uuid,
        tenant_id -> Text,
        role_name -> Text,
        subject_type -> Text,
        subject_value -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    access_clock (id) {
        id -> Integer,
        clock -> Int8,
    }
}

diesel::table! {
    access_changes (tenant_id) {
        tenant_id -> Text,
        clock -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(roles, role_bindings);
diesel::allow_tables_to_appear_in_same_query!(access_clock, access_changes);
