//! Any value in any field: real records with fields replaced by values of every JSON type (wrong
//! ones included), unknown keys at the top and inside known objects, numbers past 64 bits,
//! text that is not UTF-8 or holds half a surrogate pair. Whatever the mix, the page decodes, and
//! every record rebuilds from its row as it was served (text that is not text reads as U+FFFD).

use std::collections::BTreeMap;

use intercom_dump::api::sanitize::sanitize;
use intercom_dump::api::wire::parse_cursor_page;
use intercom_dump::schema::PageDecoder;
use intercom_sim::Workspace;
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::helpers::{rebuild_row, without_nulls};

/// JSON text of any shape, as a server might send it where another was expected.
fn any_json() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("{n}.5")),
        Just("123456789012345678901234567890".to_string()),
        Just("1e5".to_string()),
        Just("-0".to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""1700000000""#.to_string()),
        Just(r#""true""#.to_string()),
        Just(r#""a\ud800b""#.to_string()),
        Just(r#""\udfff""#.to_string()),
        Just("\"bad \u{1F980} \u{7f}\"".to_string()),
    ];
    scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|fields| {
                let fields: BTreeMap<String, String> = fields.into_iter().collect();
                let body: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap())).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Numbers compare by value: `-0` is the integer 0 (serde_json reads it as the float -0.0).
fn zero_is_zero(value: Value) -> Value {
    match value {
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => Value::from(0),
        Value::Array(items) => Value::Array(items.into_iter().map(zero_is_zero).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, zero_is_zero(v))).collect()),
        other => other,
    }
}

/// The value a reader expects back for `field`: what was served, but for the documented
/// conversions (`owner_id` as digits becomes a number).
fn expected(record: Value) -> Value {
    let mut record = zero_is_zero(record);
    if let Some(owner) = record.get("owner_id").and_then(Value::as_str) {
        let trimmed = owner.trim();
        record["owner_id"] =
            if trimmed.is_empty() { Value::Null } else { trimmed.parse::<i64>().map_or(Value::from(owner), Value::from) };
    }
    without_nulls(record)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_value_rebuilds_from_its_row(
        mutations in proptest::collection::vec((0usize..20, 0usize..80, any_json()), 1..16),
        invalid_utf8 in proptest::option::of(0usize..20),
    ) {
        let ws = Workspace::new(17, 20);
        let mut page = Vec::new();
        ws.write_contacts_json(0, 20, &mut page);
        let mut records: Vec<BTreeMap<String, Box<RawValue>>> = serde_json::from_slice(&page).unwrap();
        for (record, field, value) in mutations {
            let record = &mut records[record];
            let keys: Vec<String> = record.keys().filter(|k| *k != "id").cloned().collect();
            let key = match field % (keys.len() + 2) {
                n if n < keys.len() => keys[n].clone(),
                n if n == keys.len() => "fuzz_new_field".to_string(),
                // A key no schema knows, inside a known object.
                _ => {
                    record.insert("location".into(), RawValue::from_string(format!(r#"{{"type":"location","city":"Cork","fuzz":{value}}}"#)).unwrap());
                    continue;
                }
            };
            record.insert(key, RawValue::from_string(value).unwrap());
        }
        let mut body = format!(r#"{{"type":"list","total_count":20,"pages":{{}},"data":{}}}"#, serde_json::to_string(&records).unwrap()).into_bytes();
        if let Some(record) = invalid_utf8 {
            // A byte that is not UTF-8 inside the record's email.
            let id = ws.contact_id(record as u64);
            let needle = "\"email\":\"";
            let start = body.windows(id.len()).position(|w| w == id.as_bytes()).unwrap();
            if let Some(at) = body[start..].windows(needle.len()).position(|w| w == needle.as_bytes()) {
                let at = start + at + needle.len();
                if body[at] != b'"' && body[at] != b'\\' {
                    body[at] = 0xfe;
                }
            }
        }
        let listed = parse_cursor_page(bytes::Bytes::from(body)).unwrap();
        let served: Vec<Value> = serde_json::from_slice(&sanitize(listed.page.records_json()).0).unwrap();
        let mut decoder = PageDecoder::contacts_v2(1_024);
        let batch = decoder.decode([listed.page.records_json()]).unwrap();
        prop_assert_eq!(batch.num_rows(), 20);
        for (row, record) in served.into_iter().enumerate() {
            prop_assert_eq!(zero_is_zero(without_nulls(rebuild_row(&batch, row))), expected(record), "record {}", row);
        }
    }
}
