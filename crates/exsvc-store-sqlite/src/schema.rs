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
    }
}
