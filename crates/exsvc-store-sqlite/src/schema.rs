// The diesel view of migrations/sqlite.
diesel::table! {
    services (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Text,
        service_type -> Text,
        status -> Text,
        base_url -> Text,
        api_version -> Nullable<Text>,
        metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        version -> BigInt,
        credential_auth_type -> Nullable<Text>,
        credential_expires_at -> Nullable<BigInt>,
        credential_version_issued -> BigInt,
    }
}

diesel::table! {
    credentials (service_id, version) {
        tenant_id -> Text,
        service_id -> Text,
        version -> BigInt,
        auth_type -> Text,
        ciphertext -> Binary,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> BigInt,
        tenant_id -> Text,
        actor -> Text,
        action -> Text,
        service_id -> Nullable<Text>,
        credential_version -> Nullable<BigInt>,
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
        claim -> Text,
        fingerprint -> Binary,
        fingerprint_key -> Text,
        response_status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        locked_until -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    roles (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        id -> Text,
        description -> Text,
        permissions -> Text,
        services -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    role_bindings (id) {
        id -> Text,
        tenant_id -> Text,
        role_name -> Text,
        subject_type -> Text,
        subject_value -> Text,
        expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        created_by -> Text,
    }
}

diesel::table! {
    access_clock (id) {
        id -> Integer,
        clock -> BigInt,
    }
}

diesel::table! {
    access_changes (tenant_id) {
        tenant_id -> Text,
        clock -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(roles, role_bindings);
diesel::allow_tables_to_appear_in_same_query!(access_clock, access_changes);
