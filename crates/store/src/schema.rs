// @generated automatically by Diesel CLI.

diesel::table! {
    admin_tokens (id) {
        id -> Uuid,
        subject -> Text,
        scope -> Text,
        tenant_id -> Nullable<Uuid>,
        created_by -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        actor_token_id -> Nullable<Uuid>,
        action -> Text,
        tenant_id -> Nullable<Uuid>,
        directory_id -> Nullable<Uuid>,
        target_id -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    consumer_offsets (consumer_group, topic, kafka_partition) {
        consumer_group -> Text,
        topic -> Text,
        kafka_partition -> Int4,
        next_offset -> Int8,
        last_event_id -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    directories (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        deprovision_policy -> Text,
        created_at -> Timestamptz,
        initial_deprovision_policy -> Text,
    }
}

diesel::table! {
    event_outcomes (event_id) {
        event_id -> Uuid,
        directory_id -> Uuid,
        kafka_partition -> Int4,
        kafka_offset -> Int8,
        status -> Int2,
        resource_id -> Nullable<Uuid>,
        body -> Nullable<Jsonb>,
        applied_at -> Timestamptz,
    }
}

diesel::table! {
    group_members (directory_id, group_id, member_id) {
        directory_id -> Uuid,
        group_id -> Uuid,
        member_id -> Uuid,
        member_kind -> Text,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    groups (id, directory_id) {
        directory_id -> Uuid,
        id -> Uuid,
        display_name -> Text,
        external_id -> Nullable<Text>,
        resource -> Jsonb,
        version -> Int8,
        created_at -> Timestamptz,
        last_modified -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mapping_rules (directory_id, version) {
        directory_id -> Uuid,
        version -> Int8,
        rules -> Jsonb,
        event_id -> Uuid,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    notification_sequences (directory_id) {
        directory_id -> Uuid,
        last_sequence -> Int8,
    }
}

diesel::table! {
    notifications (directory_id, sequence) {
        directory_id -> Uuid,
        sequence -> Int8,
        id -> Uuid,
        position -> Int8,
        #[sql_name = "type"]
        type_ -> Text,
        subject_id -> Nullable<Uuid>,
        cause_event_id -> Uuid,
        occurred_at -> Timestamptz,
        payload -> Bytea,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notified_group_members (directory_id, group_id, member_id) {
        directory_id -> Uuid,
        group_id -> Uuid,
        member_id -> Uuid,
        member_kind -> Text,
    }
}

diesel::table! {
    notified_groups (directory_id, group_id) {
        directory_id -> Uuid,
        group_id -> Uuid,
        view -> Jsonb,
    }
}

diesel::table! {
    notified_users (directory_id, user_id) {
        directory_id -> Uuid,
        user_id -> Uuid,
        view -> Jsonb,
    }
}

diesel::table! {
    operator_rejections (topic, kafka_partition, kafka_offset) {
        topic -> Text,
        kafka_partition -> Int4,
        kafka_offset -> Int8,
        event_id -> Uuid,
        directory_id -> Uuid,
        actor -> Text,
        reason -> Text,
        rejected_at -> Timestamptz,
    }
}

diesel::table! {
    provisioning_log (id) {
        id -> Int8,
        directory_id -> Uuid,
        at -> Timestamptz,
        method -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        resource_name -> Nullable<Text>,
        operation -> Text,
        status -> Int2,
        scim_type -> Nullable<Text>,
        detail -> Nullable<Text>,
        latency_ms -> Int4,
        request_id -> Text,
        token_id -> Nullable<Uuid>,
        reference_failure -> Bool,
        probe -> Bool,
    }
}

diesel::table! {
    scim_tokens (id) {
        id -> Uuid,
        directory_id -> Uuid,
        token_sha256 -> Bytea,
        description -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id, directory_id) {
        directory_id -> Uuid,
        id -> Uuid,
        user_name -> Text,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        active -> Bool,
        resource -> Jsonb,
        version -> Int8,
        created_at -> Timestamptz,
        last_modified -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(admin_tokens -> tenants (tenant_id));
diesel::joinable!(directories -> tenants (tenant_id));
diesel::joinable!(groups -> directories (directory_id));
diesel::joinable!(mapping_rules -> directories (directory_id));
diesel::joinable!(scim_tokens -> directories (directory_id));
diesel::joinable!(users -> directories (directory_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_tokens,
    audit_log,
    consumer_offsets,
    directories,
    event_outcomes,
    group_members,
    groups,
    mapping_rules,
    notification_sequences,
    notifications,
    notified_group_members,
    notified_groups,
    notified_users,
    operator_rejections,
    provisioning_log,
    scim_tokens,
    tenants,
    users,
);
