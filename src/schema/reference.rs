//! The reference objects' schemas: tags, segments, admins, teams and data attributes, the small
//! lists the rest of the workspace refers to by id. Each ends with `_extra`, like every schema.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::contact::{boolean, extra_column, structure, timestamp, utf8};
use super::custom::DeclaredAttribute;
use super::decoders::{DECODE_KEY, INT_OR_STRING};

pub const TAG: &str = "tag";
pub const SEGMENT: &str = "segment";
pub const ADMIN: &str = "admin";
pub const TEAM: &str = "team";
pub const DATA_ATTRIBUTE: &str = "data attribute";

/// A schema of `fields` then `_extra`, its `key` never null as written.
fn schema(key: &str, fields: Vec<Field>, decode: bool) -> SchemaRef {
    let mut fields: Vec<Field> = fields.into_iter().map(|f| if f.name() == key { f.with_nullable(decode) } else { f }).collect();
    fields.push(extra_column());
    Arc::new(Schema::new(fields))
}

/// Ids the API sends as numbers or strings of digits.
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true).with_metadata(HashMap::from([(DECODE_KEY.into(), INT_OR_STRING.into())]))
}

fn int_list(name: &str) -> Field {
    let item =
        Field::new_list_field(DataType::Int64, true).with_metadata(HashMap::from([(DECODE_KEY.into(), INT_OR_STRING.into())]));
    Field::new(name, DataType::List(Arc::new(item)), true)
}

pub fn tag_schema(_: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    schema("id", vec![utf8("type"), utf8("id"), utf8("name")], decode)
}

pub fn segment_schema(_: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    let fields = vec![
        utf8("type"),
        utf8("id"),
        utf8("name"),
        timestamp("created_at"),
        timestamp("updated_at"),
        utf8("person_type"),
        int("count"),
    ];
    schema("id", fields, decode)
}

pub fn admin_schema(_: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    let fields = vec![
        utf8("type"),
        utf8("id"),
        utf8("name"),
        utf8("email"),
        boolean("email_verified"),
        utf8("job_title"),
        boolean("away_mode_enabled"),
        boolean("away_mode_reassign"),
        boolean("has_inbox_seat"),
        int_list("team_ids"),
        structure("avatar", vec![utf8("type"), utf8("image_url")]),
    ];
    schema("id", fields, decode)
}

pub fn team_schema(_: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    let fields = vec![
        utf8("type"),
        utf8("id"),
        utf8("name"),
        int_list("admin_ids"),
        structure("admin_priority_level", vec![int_list("primary_admin_ids"), int_list("secondary_admin_ids")]),
    ];
    schema("id", fields, decode)
}

/// Keyed on `full_name` (`custom_attributes.plan`): built-in attributes carry no id.
pub fn data_attribute_schema(_: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    let options = Field::new("options", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), true);
    let fields = vec![
        utf8("type"),
        int("id"),
        utf8("model"),
        utf8("name"),
        utf8("full_name"),
        utf8("label"),
        utf8("description"),
        utf8("data_type"),
        options,
        boolean("api_writable"),
        boolean("ui_writable"),
        boolean("messenger_writable"),
        boolean("custom"),
        boolean("archived"),
        utf8("admin_id"),
        timestamp("created_at"),
        timestamp("updated_at"),
    ];
    schema("full_name", fields, decode)
}
