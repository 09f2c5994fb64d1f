//! The v1 user and lead schema, defined once: the two share one shape (a lead is a user with
//! `"type": "contact"` and `anonymous: true`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::contact::{boolean, extra_column, list, structure, timestamp, utf8, with_typed};
use super::custom::DeclaredAttribute;
use super::decoders::{DECODE_KEY, INT_OR_STRING, json_text_metadata};

pub const USER_V1: &str = "user (v1)";
pub const LEAD_V1: &str = "lead (v1)";

/// With a typed column per declared custom attribute; as written to files `id` is never null,
/// `decode` makes every field nullable.
pub fn v1_schema_with(declared: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    Arc::new(Schema::new(with_typed(v1_fields(decode), declared)))
}

fn v1_fields(id_nullable: bool) -> Vec<Field> {
    let named_list = |name: &str, item: &str, fields: Vec<Field>| structure(name, vec![utf8("type"), list(item, fields)]);
    let mut fields = vec![
        utf8("type"),
        Field::new("id", DataType::Utf8, id_nullable),
        utf8("user_id"),
        boolean("anonymous"),
        utf8("email"),
        utf8("phone"),
        utf8("name"),
        utf8("pseudonym"),
        structure("avatar", vec![utf8("type"), utf8("image_url")]),
        utf8("app_id"),
        named_list("companies", "companies", ["type", "company_id", "id", "name"].map(utf8).to_vec()),
        structure(
            "location_data",
            vec![
                utf8("type"),
                utf8("city_name"),
                utf8("continent_code"),
                utf8("country_name"),
                Field::new("latitude", DataType::Float64, true),
                Field::new("longitude", DataType::Float64, true),
                utf8("postal_code"),
                utf8("region_name"),
                utf8("timezone"),
                utf8("country_code"),
            ],
        ),
        timestamp("last_request_at"),
        utf8("last_seen_ip"),
        timestamp("created_at"),
        timestamp("remote_created_at"),
        timestamp("signed_up_at"),
        timestamp("updated_at"),
        Field::new("session_count", DataType::Int64, true),
        named_list("social_profiles", "social_profiles", ["type", "name", "username", "url"].map(utf8).to_vec()),
        boolean("unsubscribed_from_emails"),
        boolean("marked_email_as_spam"),
        boolean("has_hard_bounced"),
        utf8("user_agent_data"),
        named_list("tags", "tags", ["type", "id", "name"].map(utf8).to_vec()),
        named_list("segments", "segments", ["type", "id"].map(utf8).to_vec()),
        Field::new("custom_attributes", DataType::Utf8, true).with_metadata(json_text_metadata()),
        Field::new("owner_id", DataType::Int64, true).with_metadata(HashMap::from([(DECODE_KEY.into(), INT_OR_STRING.into())])),
    ];
    fields.extend(["referrer", "utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term"].map(utf8));
    fields.push(boolean("do_not_track"));
    fields.push(extra_column());
    fields
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, TimestampSecondArray};

    use crate::schema::PageDecoder;
    use intercom_sim::Workspace;

    #[test]
    fn decodes_generated_v1_records() {
        let ws = Workspace::new(9, 400);
        let mut body = Vec::new();
        ws.write_v1_json(0..400, &mut body);
        let batch = PageDecoder::for_source(crate::config::Source::Users, 1_024, &[]).decode([body.as_slice()]).unwrap();
        assert_eq!(batch.num_rows(), 400);
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        let seen = batch.column_by_name("last_request_at").unwrap().as_any().downcast_ref::<TimestampSecondArray>().unwrap();
        for i in 0..400 {
            let record = ws.v1_record(i as u64);
            assert_eq!(ids.value(i), record.id);
            assert_eq!(seen.is_valid(i).then(|| seen.value(i)), record.last_request_at);
        }
        let tags = batch.column_by_name("tags").unwrap().as_struct();
        let lists = tags.column_by_name("tags").unwrap().as_list::<i32>();
        assert_eq!(lists.value_length(7) as usize, ws.v1_record(7).tags.items.len());
    }
}
