//! Typed custom attributes: the workspace declares each custom attribute's `data_type`
//! (`GET /data_attributes`), and each becomes a typed column `custom_<name>` beside the
//! `custom_attributes` JSON text. A value that does not fit its declared type is left out of the
//! typed column (the JSON text keeps it) and counted.

use std::collections::HashMap;

use arrow::datatypes::{DataType, Field};

use super::contact::timestamp_type;

/// Field metadata naming the custom attribute a typed column holds.
pub const CUSTOM_ATTRIBUTE_KEY: &str = "intercom_dump.custom_attribute";

/// The `data_type`s Intercom declares for custom attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Integer,
    Float,
    Boolean,
    /// Unix seconds on the wire.
    Date,
}

impl AttributeType {
    pub fn parse(data_type: &str) -> Option<AttributeType> {
        Some(match data_type {
            "string" => AttributeType::String,
            "integer" => AttributeType::Integer,
            "float" => AttributeType::Float,
            "boolean" => AttributeType::Boolean,
            "date" | "datetime" => AttributeType::Date,
            _ => return None,
        })
    }

    pub fn arrow_type(self) -> DataType {
        match self {
            AttributeType::String => DataType::Utf8,
            AttributeType::Integer => DataType::Int64,
            AttributeType::Float => DataType::Float64,
            AttributeType::Boolean => DataType::Boolean,
            AttributeType::Date => timestamp_type(),
        }
    }
}

/// A custom attribute as the workspace declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredAttribute {
    pub name: String,
    pub kind: AttributeType,
}

/// The typed column of a declared attribute.
pub fn typed_field(attribute: &DeclaredAttribute) -> Field {
    Field::new(format!("custom_{}", attribute.name), attribute.kind.arrow_type(), true)
        .with_metadata(HashMap::from([(CUSTOM_ATTRIBUTE_KEY.to_string(), attribute.name.clone())]))
}
