//! The v2 contact schema, defined once: the 45 documented fields in the API's order, then the
//! fields real answers carry that the schema lacks.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::custom::{DeclaredAttribute, typed_fields};
use super::decoders::{DECODE_KEY, EXTRA_COLUMN, INT_OR_STRING, JSON_EXTENSION, json_text_metadata};

/// The schema's name in messages and file metadata.
pub const CONTACT_V2: &str = "contact (v2)";

/// The v2 contact schema as written to files: `id` is never null.
pub fn contact_v2_schema() -> SchemaRef {
    contact_v2_schema_with(&[], false)
}

/// The schema with a typed column per declared custom attribute; `decode` makes every field
/// nullable, as decoded: a missing id is reported, not fatal deep inside the decoder.
pub fn contact_v2_schema_with(declared: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    Arc::new(Schema::new(with_typed(contact_v2_fields(decode), declared)))
}

/// Inserts the typed custom attribute columns before `_extra`, the last column.
pub(super) fn with_typed(mut fields: Vec<Field>, declared: &[DeclaredAttribute]) -> Vec<Field> {
    let extra = fields.pop().expect("every schema ends with _extra");
    let typed = typed_fields(declared, fields.iter().map(|f| f.name().as_str()).chain([extra.name().as_str()]));
    fields.extend(typed);
    fields.push(extra);
    fields
}

fn contact_v2_fields(id_nullable: bool) -> Vec<Field> {
    let mut fields = vec![
        utf8("type"),
        Field::new("id", DataType::Utf8, id_nullable),
        utf8("external_id"),
        utf8("workspace_id"),
        utf8("role"),
        utf8("email"),
        utf8("email_domain"),
        utf8("phone"),
        utf8("name"),
        Field::new("owner_id", DataType::Int64, true).with_metadata(HashMap::from([(DECODE_KEY.into(), INT_OR_STRING.into())])),
        boolean("has_hard_bounced"),
        boolean("marked_email_as_spam"),
        boolean("unsubscribed_from_emails"),
        timestamp("created_at"),
        timestamp("updated_at"),
        timestamp("signed_up_at"),
        timestamp("last_seen_at"),
        timestamp("last_replied_at"),
        timestamp("last_contacted_at"),
        timestamp("last_email_opened_at"),
        timestamp("last_email_clicked_at"),
        utf8("language_override"),
        utf8("browser"),
        utf8("browser_version"),
        utf8("browser_language"),
        utf8("os"),
    ];
    for platform in ["android", "ios"] {
        for part in ["app_name", "app_version", "device", "os_version", "sdk_version"] {
            fields.push(utf8(&format!("{platform}_{part}")));
        }
        fields.push(timestamp(&format!("{platform}_last_seen_at")));
    }
    fields.extend([
        Field::new("custom_attributes", DataType::Utf8, true).with_metadata(json_text_metadata()),
        structure("avatar", vec![utf8("type"), utf8("image_url")]),
        addressable_list("tags"),
        addressable_list("notes"),
        addressable_list("companies"),
        structure("location", ["type", "country", "region", "city", "country_code", "continent_code"].map(utf8).to_vec()),
        structure("social_profiles", vec![utf8("type"), list("data", vec![utf8("type"), utf8("name"), utf8("url")])]),
        // Undocumented, but in real answers.
        addressable_list("opted_out_subscription_types"),
        addressable_list("opted_in_subscription_types"),
    ]);
    fields.extend(["utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term", "referrer"].map(utf8));
    fields.push(boolean("enabled_push_messaging"));
    fields.push(extra_column());
    debug_assert!(fields.iter().any(|f| f.metadata().get("ARROW:extension:name").map(String::as_str) == Some(JSON_EXTENSION)));
    fields
}

/// The last column of every schema: the fields a record carried that the schema does not know,
/// as one JSON object (null when there were none), so every record can be rebuilt from its row.
pub(super) fn extra_column() -> Field {
    Field::new(EXTRA_COLUMN, DataType::Utf8, true).with_metadata(json_text_metadata())
}

/// Timestamps arrive as Unix seconds and are stored UTC-adjusted.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

pub(super) fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

pub(super) fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

pub(super) fn timestamp(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

pub(super) fn structure(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

pub(super) fn list(name: &str, item_fields: Vec<Field>) -> Field {
    let item = Field::new_list_field(DataType::Struct(Fields::from(item_fields)), true);
    Field::new(name, DataType::List(Arc::new(item)), true)
}

/// Tags, notes, companies, subscriptions: `{type, data: [{type, id, url}], url, total_count, has_more}`.
fn addressable_list(name: &str) -> Field {
    structure(
        name,
        vec![
            utf8("type"),
            list("data", vec![utf8("type"), utf8("id"), utf8("url")]),
            utf8("url"),
            Field::new("total_count", DataType::Int64, true),
            boolean("has_more"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_every_documented_field_once() {
        let schema = contact_v2_schema();
        assert_eq!(schema.fields().len(), 45 + 9 + 1, "documented, undocumented but seen, and _extra");
        let mut names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), schema.fields().len());
        assert!(!schema.field_with_name("id").unwrap().is_nullable());
        assert_eq!(schema.field_with_name("created_at").unwrap().data_type(), &timestamp_type());
    }
}
