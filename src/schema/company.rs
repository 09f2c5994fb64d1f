//! The company schema (API 2.x), defined once: the documented fields in the API's order, the
//! typed columns of the company custom attributes (`GET /data_attributes?model=company`), and
//! `_extra` for what the schema does not know.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::contact::{extra_column, list, structure, timestamp, utf8, with_typed};
use super::custom::DeclaredAttribute;
use super::decoders::{DECODE_KEY, EMPTY_IS_NULL, INT_OR_STRING, json_text_metadata};

/// The schema's name in messages and file metadata.
pub const COMPANY_V2: &str = "company (v2)";

/// With a typed column per declared custom attribute; as written to files `id` is never null,
/// `decode` makes every field nullable.
pub fn company_schema_with(declared: &[DeclaredAttribute], decode: bool) -> SchemaRef {
    Arc::new(Schema::new(with_typed(company_fields(decode), declared)))
}

fn company_fields(id_nullable: bool) -> Vec<Field> {
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    // Counts are integers in the API's answers; a string of digits is read as one.
    let count = |name: &str| int(name).with_metadata(HashMap::from([(DECODE_KEY.into(), INT_OR_STRING.into())]));
    let named_list = |name: &str, item_fields: Vec<Field>| structure(name, vec![utf8("type"), list(name, item_fields)]);
    vec![
        utf8("type"),
        Field::new("id", DataType::Utf8, id_nullable),
        utf8("company_id"),
        utf8("app_id"),
        utf8("name"),
        // `{}` for a company without a plan: null, as a reader asking `plan IS NULL` expects.
        structure("plan", vec![utf8("type"), utf8("id"), utf8("name")])
            .with_metadata(HashMap::from([(DECODE_KEY.into(), EMPTY_IS_NULL.into())])),
        timestamp("remote_created_at"),
        timestamp("created_at"),
        timestamp("updated_at"),
        timestamp("last_request_at"),
        count("size"),
        utf8("website"),
        utf8("industry"),
        Field::new("monthly_spend", DataType::Float64, true),
        count("session_count"),
        count("user_count"),
        Field::new("custom_attributes", DataType::Utf8, true).with_metadata(json_text_metadata()),
        named_list("tags", ["type", "id", "name"].map(utf8).to_vec()),
        named_list("segments", ["type", "id"].map(utf8).to_vec()),
        extra_column(),
    ]
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    use crate::schema::PageDecoder;
    use crate::schema::{AttributeType, DeclaredAttribute};
    use intercom_sim::Workspace;

    #[test]
    fn decodes_generated_companies_with_typed_custom_attributes() {
        let ws = Workspace::new(9, 4_000);
        let companies: Vec<_> = (0..ws.companies).map(|k| ws.company(k, k % 5)).collect();
        let body = serde_json::to_vec(&companies).unwrap();
        let declared = [DeclaredAttribute { name: "seats".into(), kind: AttributeType::Integer }];
        let mut decoder = PageDecoder::for_source(crate::config::Source::Companies, 1_024, &declared);
        let batch = decoder.decode([body.as_slice()]).unwrap();
        assert_eq!(batch.num_rows(), companies.len());
        assert!(decoder.take_repairs().fields.is_empty(), "every value fits its column");
        let extra = batch.column_by_name("_extra").unwrap();
        assert_eq!(extra.null_count(), companies.len(), "the schema knows every field the simulator sends");
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        let users = batch.column_by_name("user_count").unwrap().as_primitive::<Int64Type>();
        let seats = batch.column_by_name("custom_seats").unwrap().as_primitive::<Int64Type>();
        let plan = batch.column_by_name("plan").unwrap().as_struct();
        let plans = plan.column_by_name("name").unwrap().as_string::<i32>();
        for (row, company) in companies.iter().enumerate() {
            assert_eq!(ids.value(row), company.id);
            assert_eq!(users.value(row), company.user_count as i64);
            let expected = match company.custom_attributes.get("seats") {
                Some(intercom_sim::generator::CustomValue::Integer(n)) => Some(*n),
                _ => None,
            };
            assert_eq!(seats.is_valid(row).then(|| seats.value(row)), expected);
            let plan = match &company.plan {
                intercom_sim::companies::Plan::Some { name, .. } => Some(*name),
                intercom_sim::companies::Plan::None {} => None,
            };
            assert_eq!(plans.is_valid(row).then(|| plans.value(row)), plan);
            assert_eq!(batch.column_by_name("plan").unwrap().is_valid(row), plan.is_some(), "`plan: {{}}` is null");
        }
    }
}
