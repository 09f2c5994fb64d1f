//! Typed custom attributes: the workspace declares each custom attribute's `data_type`
//! (`GET /data_attributes`), and each becomes a typed column beside the `custom_attributes` JSON
//! text. A value that does not fit its declared type is left out of the typed column (the JSON
//! text keeps it) and counted.
//!
//! Column names follow one rule ([`typed_fields`]), so that no two columns collide in any
//! reader, case-sensitive (pyarrow, polars) or not (DuckDB, most SQL engines):
//!
//! 1. `custom_` + the attribute's name, lowercased, with every character other than `a-z`,
//!    `0-9` and `_` replaced by `_` (`Plan Name` -> `custom_plan_name`);
//! 2. attributes are named in byte order of their declared names, and an attribute declared twice
//!    gets one column;
//! 3. a name already taken, by another column of the schema (an attribute named `attributes`
//!    would be `custom_attributes`) or an earlier attribute (`plan` and `Plan`), gets `_2`, `_3`,
//!    ... (`custom_plan`, `custom_plan_2`), compared without case.
//!
//! Each typed column's metadata (`intercom_dump.custom_attribute`) holds the attribute's name as
//! declared.

use std::collections::{BTreeMap, HashMap, HashSet};

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

    /// The `data_type` Intercom declares it as.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Integer => "integer",
            AttributeType::Float => "float",
            AttributeType::Boolean => "boolean",
            AttributeType::Date => "date",
        }
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

/// The typed columns of the declared attributes, named by the module's rule so that none collides
/// with another or with `taken` (the schema's other columns).
pub fn typed_fields<'a>(declared: &[DeclaredAttribute], taken: impl IntoIterator<Item = &'a str>) -> Vec<Field> {
    let mut used: HashSet<String> = taken.into_iter().map(str::to_lowercase).collect();
    // One entry a name, in byte order: the columns do not depend on the order the API lists them.
    let unique: BTreeMap<&str, AttributeType> = declared.iter().rev().map(|a| (a.name.as_str(), a.kind)).collect();
    let mut fields = Vec::with_capacity(unique.len());
    for (name, kind) in unique {
        let base: String = format!("custom_{name}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
            .collect();
        let mut column = base.clone();
        let mut n = 1;
        while !used.insert(column.clone()) {
            n += 1;
            column = format!("{base}_{n}");
        }
        fields.push(
            Field::new(column, kind.arrow_type(), true)
                .with_metadata(HashMap::from([(CUSTOM_ATTRIBUTE_KEY.to_string(), name.to_string())])),
        );
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declare(names: &[&str]) -> Vec<DeclaredAttribute> {
        names.iter().map(|name| DeclaredAttribute { name: name.to_string(), kind: AttributeType::String }).collect()
    }

    fn columns(declared: &[DeclaredAttribute]) -> Vec<(String, String)> {
        typed_fields(declared, ["id", "custom_attributes", "_extra"])
            .iter()
            .map(|f| (f.name().clone(), f.metadata()[CUSTOM_ATTRIBUTE_KEY].clone()))
            .collect()
    }

    #[test]
    fn colliding_names_get_distinct_columns_by_one_stable_rule() {
        let got = columns(&declare(&["plan", "Plan", "attributes", "Plan Name", "plan", "ünï", "PLAN"]));
        let expected = [
            // Byte order: upper case before lower.
            ("custom_plan", "PLAN"),
            ("custom_plan_2", "Plan"),
            ("custom_plan_name", "Plan Name"),
            ("custom_attributes_2", "attributes"),
            ("custom_plan_3", "plan"),
            ("custom__n_", "ünï"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
        assert_eq!(got, expected);
        // The same names in another order give the same columns.
        let mut reordered = declare(&["ünï", "attributes", "PLAN", "plan", "Plan Name", "Plan"]);
        reordered.reverse();
        assert_eq!(columns(&reordered), expected);
    }
}
