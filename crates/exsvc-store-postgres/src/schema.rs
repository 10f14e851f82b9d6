// The diesel view of migrations/postgres. Kept by hand: it is one table.
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
    }
}
