//! The page decoder: the record arrays of one or more pages straight into one `RecordBatch`,
//! with arrow-json's tape decoder (no `serde_json::Value` on the way).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::json::ReaderBuilder;
use arrow::json::reader::Decoder;

use serde_json::value::RawValue;

use super::DecodeError;
use super::custom::DeclaredAttribute;
use super::decoders::{EXTRA_COLUMN, MAX_DEPTH, factory};
use super::repair::Repairs;
use crate::api::FetchedPage;
use crate::config::Source;

pub struct PageDecoder {
    name: &'static str,
    /// All fields nullable: what arrow-json fills.
    decode_schema: SchemaRef,
    /// What the batches carry: `id` not null.
    output_schema: SchemaRef,
    batch_rows: usize,
    decoder: Decoder,
    /// Custom attribute values that did not fit their declared type, since last taken.
    misfits: Arc<AtomicU64>,
    /// What the slow path changed, since last taken.
    repairs: Repairs,
    /// The column that tells records apart: a record without it is refused.
    key: &'static str,
    /// The struct columns where a row of nothing but nulls (`{}`) is a null row.
    empty_is_null: Vec<usize>,
}

impl PageDecoder {
    /// A decoder for `schema` (`name` for messages), building batches of up to `batch_rows`.
    pub fn new(name: &'static str, decode_schema: SchemaRef, output_schema: SchemaRef, batch_rows: usize) -> Self {
        let misfits = Arc::new(AtomicU64::new(0));
        let decoder = build(&decode_schema, batch_rows, &misfits);
        let empty_is_null = output_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.metadata().get(super::decoders::DECODE_KEY).map(String::as_str) == Some(super::decoders::EMPTY_IS_NULL)
            })
            .map(|(index, _)| index)
            .collect();
        PageDecoder {
            name,
            decode_schema,
            output_schema,
            batch_rows,
            decoder,
            misfits,
            repairs: Repairs::default(),
            key: "id",
            empty_is_null,
        }
    }

    /// The v2 contact decoder.
    pub fn contacts_v2(batch_rows: usize) -> Self {
        PageDecoder::for_source(Source::Contacts, batch_rows, &[])
    }

    /// The decoder for what `source` lists, with a typed column per declared custom attribute.
    pub fn for_source(source: Source, batch_rows: usize, declared: &[DeclaredAttribute]) -> Self {
        let (name, schema) = shape(source);
        PageDecoder {
            key: source.spec().key,
            ..PageDecoder::new(name, schema(declared, true), schema(declared, false), batch_rows)
        }
    }

    /// The schema the batches of [`PageDecoder::for_source`] carry, without building a decoder.
    pub fn output_schema(source: Source, declared: &[DeclaredAttribute]) -> SchemaRef {
        shape(source).1(declared, false)
    }

    /// Custom attribute values that did not fit their declared type since the last call.
    pub fn take_misfits(&self) -> u64 {
        self.misfits.swap(0, Ordering::Relaxed)
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// What the slow path changed since the last call.
    pub fn take_repairs(&mut self) -> Repairs {
        std::mem::take(&mut self.repairs)
    }

    /// Decodes JSON arrays of records (one a page) into one batch, in order.
    pub fn decode<'a>(&mut self, arrays: impl IntoIterator<Item = &'a [u8]>) -> Result<RecordBatch, DecodeError> {
        let arrays: Vec<&[u8]> = arrays.into_iter().collect();
        self.decode_named(&arrays, |n| format!("page {}", n + 1))
    }

    /// Decodes fetched pages into one batch, in order; errors name the page.
    pub fn decode_pages(&mut self, pages: &[FetchedPage]) -> Result<RecordBatch, DecodeError> {
        let arrays: Vec<&[u8]> = pages.iter().map(FetchedPage::records_json).collect();
        self.decode_named(&arrays, |n| pages[n].origin.to_string())
    }

    /// The whole group at once, the fast path; when that fails, page by page and record by record
    /// ([`repair`]), so that an odd value costs its field, not the run.
    fn decode_named(&mut self, arrays: &[&[u8]], name: impl Fn(usize) -> String) -> Result<RecordBatch, DecodeError> {
        if let Ok(batch) = self.try_decode(arrays).and_then(|batch| self.finish(batch, "")) {
            return Ok(batch);
        }
        self.repairs.slow_groups += 1;
        let mut batches = Vec::with_capacity(arrays.len());
        for (n, array) in arrays.iter().enumerate() {
            let page = name(n);
            let batch = self.decode_repairing(array, &page)?;
            batches.push(batch);
        }
        concat_batches(&self.output_schema, &batches).map_err(|e| self.error("", e))
    }

    /// One page, on the slow path.
    fn decode_repairing(&mut self, array: &[u8], page: &str) -> Result<RecordBatch, DecodeError> {
        // The envelope's reader replaced text that is not text where it noticed; not every
        // parser notices everywhere, so the slow path looks again.
        let (clean, replaced) = crate::api::sanitize::sanitize(array);
        self.repairs.replaced_text += replaced;
        if let Ok(batch) = self.try_decode(&[&clean]) {
            return self.finish(batch, page);
        }
        let records: Vec<&RawValue> =
            serde_json::from_slice(&clean).map_err(|e| self.message(page, &format!("not a JSON array of records: {e}")))?;
        let mut batches = Vec::with_capacity(records.len());
        for (n, record) in records.iter().enumerate() {
            let one = format!("[{}]", record.get());
            let batch = match self.try_decode(&[one.as_bytes()]) {
                Ok(batch) => batch,
                Err(_) => self.repair_record(record.get(), &format!("{page}, record {}", n + 1))?,
            };
            batches.push(batch);
        }
        let batch = concat_batches(&self.decode_schema, &batches).map_err(|e| self.error(page, e))?;
        self.finish(batch, page)
    }

    /// A record that does not decode: each field that does not decode alone goes to `_extra`.
    /// Values are handled as the text they arrived as, so nothing is rounded or respelled.
    fn repair_record(&mut self, record: &str, at: &str) -> Result<RecordBatch, DecodeError> {
        if nesting(record.as_bytes()) > MAX_DEPTH {
            return Err(self.message(
                at,
                &format!("a record nests objects and lists more than {MAX_DEPTH} deep, far past any Intercom object"),
            ));
        }
        let Ok(fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(record) else {
            return Err(self.message(at, "a record is not a JSON object"));
        };
        let mut kept: Vec<(String, String)> = Vec::with_capacity(fields.len());
        let mut moved: BTreeMap<String, &RawValue> = BTreeMap::new();
        for (key, value) in fields {
            let alone = format!("[{}]", object_text([(key.as_str(), value.get())]));
            if self.try_decode(&[alone.as_bytes()]).is_ok() {
                kept.push((key, value.get().to_string()));
                continue;
            }
            let seen = self.repairs.fields.entry(key.clone()).or_default();
            if *seen == 0 {
                tracing::warn!(record = at, field = %key, "a value does not fit its column: kept as it came in _extra (counted in the summary)");
            }
            *seen += 1;
            // An id must stay: a number (or a boolean) as its text; the original rides in _extra.
            if key == self.key && !value.get().starts_with(['{', '[', '"', 'n']) {
                kept.push((key.clone(), serde_json::to_string(value.get()).expect("a string serialises")));
            }
            moved.insert(key, value);
        }
        let repaired = format!("[{}]", object_text(kept.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        let batch = self
            .try_decode(&[repaired.as_bytes()])
            .map_err(|e| self.message(at, &format!("cannot be decoded even without its odd fields: {e}")))?;
        self.merge_extra(batch, moved).map_err(|e| self.error(at, e))
    }

    /// `batch` (one row) with `moved` added to its `_extra` object.
    fn merge_extra(
        &self,
        batch: RecordBatch,
        moved: BTreeMap<String, &RawValue>,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let Ok(index) = self.decode_schema.index_of(EXTRA_COLUMN) else { return Ok(batch) };
        let column = batch.column(index).as_string::<i32>();
        let earlier = if column.is_valid(0) { column.value(0) } else { "{}" };
        let mut extra: BTreeMap<String, &RawValue> = serde_json::from_str(earlier).unwrap_or_default();
        extra.extend(moved);
        let text = object_text(extra.iter().map(|(k, v)| (k.as_str(), v.get())));
        let merged: ArrayRef = Arc::new(StringArray::from(vec![text]));
        let mut columns = batch.columns().to_vec();
        columns[index] = merged;
        RecordBatch::try_new(batch.schema(), columns)
    }

    /// The fast path: arrays straight into one batch. A failure leaves partial rows behind in
    /// the decoder; it is rebuilt so that the next call starts clean.
    fn try_decode(&mut self, arrays: &[&[u8]]) -> Result<RecordBatch, DecodeError> {
        let result = self.decode_all(arrays.iter().copied());
        if result.is_err() {
            self.decoder = build(&self.decode_schema, self.batch_rows, &self.misfits);
        }
        result
    }

    fn decode_all<'a>(&mut self, arrays: impl IntoIterator<Item = &'a [u8]>) -> Result<RecordBatch, DecodeError> {
        let mut batches = Vec::with_capacity(1);
        for array in arrays {
            let mut rest = array;
            while !rest.is_empty() {
                let read = self.decoder.decode(rest).map_err(|e| self.error("", e))?;
                rest = &rest[read..];
                if !rest.is_empty() {
                    // The batch is full: flush it and go on with the same page.
                    match self.decoder.flush().map_err(|e| self.error("", e))? {
                        Some(batch) => batches.push(batch),
                        None if read == 0 => return Err(self.message("", "the decoder made no progress")),
                        None => {}
                    }
                }
            }
        }
        if self.decoder.has_partial_record() {
            return Err(self.message("", "a record is cut off at the end of its page"));
        }
        if let Some(batch) = self.decoder.flush().map_err(|e| self.error("", e))? {
            batches.push(batch);
        }
        match batches.len() {
            0 => Ok(RecordBatch::new_empty(self.decode_schema.clone())),
            1 => Ok(batches.pop().expect("one batch")),
            _ => concat_batches(&self.decode_schema, &batches).map_err(|e| self.error("", e)),
        }
    }

    /// Moves the batch onto the output schema, refusing records without their key.
    fn finish(&self, batch: RecordBatch, page: &str) -> Result<RecordBatch, DecodeError> {
        if let Ok(index) = self.output_schema.index_of(self.key) {
            let missing = batch.column(index).null_count();
            if missing > 0 {
                return Err(DecodeError::MissingId { count: missing, key: self.key, page: page.to_string() });
            }
        }
        let mut columns = batch.columns().to_vec();
        for &index in &self.empty_is_null {
            columns[index] = empty_structs_to_null(&columns[index]);
        }
        RecordBatch::try_new(self.output_schema.clone(), columns).map_err(|e| self.error(page, e))
    }

    fn error(&self, page: &str, error: arrow::error::ArrowError) -> DecodeError {
        self.message(page, &error.to_string())
    }

    fn message(&self, page: &str, message: &str) -> DecodeError {
        DecodeError::Json { schema: self.name, page: page.to_string(), message: message.to_string() }
    }
}

/// How deep the JSON text `json` nests objects and lists (strings skipped).
fn nesting(json: &[u8]) -> u32 {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0u32, 0u32, false, false);
    for &b in json {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// `{"key":value,...}`: an object of the given fields (values as JSON text).
fn object_text<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (n, (key, value)) in fields.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        super::decoders::write_json_string(key, &mut out);
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// `column` (a struct) with each row whose fields are all null made null itself.
fn empty_structs_to_null(column: &arrow::array::ArrayRef) -> arrow::array::ArrayRef {
    use arrow::array::{Array, AsArray, StructArray};
    let Some(structs) = column.as_struct_opt() else { return column.clone() };
    let valid: arrow::buffer::BooleanBuffer =
        (0..structs.len()).map(|row| structs.is_valid(row) && structs.columns().iter().any(|c| c.is_valid(row))).collect();
    let (fields, children, _) = structs.clone().into_parts();
    std::sync::Arc::new(StructArray::new(fields, children, Some(arrow::buffer::NullBuffer::new(valid))))
}

/// The object shape `source` lists: its name in messages, and its schema.
fn shape(source: Source) -> (&'static str, crate::source::SchemaFn) {
    let spec = source.spec();
    (spec.object, spec.schema)
}

fn build(schema: &SchemaRef, batch_rows: usize, misfits: &Arc<AtomicU64>) -> Decoder {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_rows.max(1))
        .with_flatten(true)
        // A key a nested object's schema does not know fails the record's fast path, so that the
        // slow path keeps the whole field, as it came, in `_extra` (the root keeps unknown
        // top-level keys itself).
        .with_strict_mode(true)
        .with_decoder_factory(factory(misfits.clone()))
        .build_decoder()
        .expect("the schemas of this crate are all decodable")
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, ArrayRef, AsArray, TimestampSecondArray};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::schema::decoders::{EXTRA_COLUMN, JSON_EXTENSION};
    use crate::schema::{AttributeType, DeclaredAttribute};
    use intercom_sim::Workspace;

    fn page(ws: &Workspace, start: u64, end: u64) -> Vec<u8> {
        let mut out = Vec::new();
        ws.write_contacts_json(start, end, &mut out);
        out
    }

    #[test]
    fn decodes_generated_pages_into_one_batch() {
        let ws = Workspace::new(21, 1_000);
        let pages: Vec<Vec<u8>> = (0..4).map(|p| page(&ws, p * 150, (p + 1) * 150)).collect();
        let mut decoder = PageDecoder::contacts_v2(4_096);
        let batch = decoder.decode(pages.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(batch.num_rows(), 600);
        assert_eq!(decoder.take_repairs(), Repairs::default(), "the fast path decodes the simulator's pages");
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        assert_eq!(ids.value(151), ws.contact_id(151));
        let created = batch.column_by_name("created_at").unwrap().as_any().downcast_ref::<TimestampSecondArray>().unwrap();
        assert_eq!(created.value(7), ws.contact(7).created_at);
        let owners = batch.column_by_name("owner_id").unwrap().as_primitive::<Int64Type>();
        for i in 0..600 {
            assert_eq!(owners.is_valid(i), ws.contact(i as u64).owner_id.is_some());
            if let Some(owner) = ws.contact(i as u64).owner_id {
                assert_eq!(owners.value(i), owner.value());
            }
        }
        let custom = batch.column_by_name("custom_attributes").unwrap().as_string::<i32>();
        for i in 0..600 {
            let expected = serde_json::to_value(&ws.contact(i as u64).custom_attributes).unwrap();
            let got: serde_json::Value = serde_json::from_str(custom.value(i)).unwrap();
            assert_eq!(got, expected, "contact {i}");
        }
    }

    /// The root decoder remembers the order of the last record's keys: records that spell their
    /// keys in another order, lack some, or carry unknown ones in any place decode the same.
    #[test]
    fn key_order_and_unknown_keys_do_not_matter() {
        let ws = Workspace::new(23, 300);
        let declared: Vec<DeclaredAttribute> = intercom_sim::generator::CUSTOM_ATTRIBUTES
            .iter()
            .filter_map(|(name, kind)| Some(DeclaredAttribute { name: name.to_string(), kind: AttributeType::parse(kind)? }))
            .collect();
        assert!(declared.len() >= 5);
        let original = page(&ws, 0, 300);
        let records: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&original).unwrap();
        // serde_json's map sorts keys: every record now spells them in another order. Every
        // third loses its email, every fifth gains a key in front, every seventh one at the end.
        let mut shuffled = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let mut entries: Vec<(String, serde_json::Value)> = record.clone().into_iter().collect();
            if i % 3 == 0 {
                entries.retain(|(k, _)| k != "email");
            }
            if i % 5 == 0 {
                entries.insert(0, ("aa_new".into(), serde_json::json!({"n": i})));
            }
            if i % 7 == 0 {
                entries.push(("zz_new".into(), serde_json::json!([i, "x"])));
            }
            let body: Vec<String> = entries.iter().map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v)).collect();
            shuffled.push(format!("{{{}}}", body.join(",")));
        }
        let shuffled = format!("[{}]", shuffled.join(","));

        let decode = |body: &[u8]| PageDecoder::for_source(Source::Contacts, 4_096, &declared).decode([body]).unwrap();
        let (a, b) = (decode(&original), decode(shuffled.as_bytes()));
        assert_eq!(a.schema(), b.schema());
        for (field, (left, right)) in a.schema().fields().iter().zip(a.columns().iter().zip(b.columns())) {
            match field.name().as_str() {
                "email" => {
                    let (left, right) = (left.as_string::<i32>(), right.as_string::<i32>());
                    for i in 0..300 {
                        let want = (i % 3 != 0 && left.is_valid(i)).then(|| left.value(i));
                        assert_eq!(right.is_valid(i).then(|| right.value(i)), want, "email of {i}");
                    }
                }
                EXTRA_COLUMN => {
                    let (left, right) = (left.as_string::<i32>(), right.as_string::<i32>());
                    assert!(left.null_count() < 300, "some generated records carry fields the schema does not know");
                    for i in 0..300 {
                        let mut want: serde_json::Map<String, serde_json::Value> =
                            if left.is_valid(i) { serde_json::from_str(left.value(i)).unwrap() } else { Default::default() };
                        if i % 5 == 0 {
                            want.insert("aa_new".into(), serde_json::json!({"n": i}));
                        }
                        if i % 7 == 0 {
                            want.insert("zz_new".into(), serde_json::json!([i, "x"]));
                        }
                        let got = right.is_valid(i).then(|| right.value(i));
                        assert_eq!(
                            got.map(|g| serde_json::from_str(g).unwrap()),
                            (!want.is_empty()).then_some(want),
                            "_extra of {i}"
                        );
                        // In the record's own order: the key in front first, the one behind last.
                        assert_eq!(got.is_some_and(|g| g.starts_with(r#"{"aa_new":"#)), i % 5 == 0, "_extra of {i}");
                        assert_eq!(
                            got.is_some_and(|g| g.ends_with(&format!(r#""zz_new":[{i},"x"]}}"#))),
                            i % 7 == 0,
                            "_extra of {i}"
                        );
                    }
                }
                // JSON text keeps the order it came in, and serde_json sorted nested keys too.
                _ if field.metadata().values().any(|v| v == JSON_EXTENSION) => {
                    let as_json = |a: &ArrayRef, i: usize| {
                        let a = a.as_string::<i32>();
                        a.is_valid(i).then(|| serde_json::from_str::<serde_json::Value>(a.value(i)).unwrap())
                    };
                    for i in 0..300 {
                        assert_eq!(as_json(left, i), as_json(right, i), "{} of {i}", field.name());
                    }
                }
                _ => assert_eq!(left, right, "column {}", field.name()),
            }
        }
        assert!(a.schema().fields().iter().any(|f| f.name() == "custom_plan"), "typed columns are compared too");
    }

    #[test]
    fn small_batches_still_make_one() {
        let ws = Workspace::new(2, 300);
        let body = page(&ws, 0, 300);
        let batch = PageDecoder::contacts_v2(64).decode([body.as_slice()]).unwrap();
        assert_eq!(batch.num_rows(), 300);
    }

    #[test]
    fn bad_pages_are_errors_and_the_decoder_recovers() {
        let mut decoder = PageDecoder::contacts_v2(1_024);
        let cut = br#"[{"id":"a","type":"contact"},{"id":"b","#;
        assert!(matches!(decoder.decode([cut.as_slice()]), Err(DecodeError::Json { .. })));
        let no_id = br#"[{"type":"contact","email":"x@y.z"}]"#;
        assert_eq!(
            decoder.decode([no_id.as_slice()]).unwrap_err(),
            DecodeError::MissingId { count: 1, key: "id", page: "page 1".into() }
        );
        // An owner_id that is no integer costs its column, not the page: kept as it came in _extra.
        let wrong = br#"[{"id":"a","owner_id":"abc"}]"#;
        let batch = decoder.decode([wrong.as_slice()]).unwrap();
        assert!(batch.column_by_name("owner_id").unwrap().is_null(0));
        assert_eq!(batch.column_by_name(EXTRA_COLUMN).unwrap().as_string::<i32>().value(0), r#"{"owner_id":"abc"}"#);
        assert_eq!(decoder.take_repairs().fields.get("owner_id"), Some(&1));
        let fine = br#"[{"id":"a","owner_id":"12"},{"id":"b","owner_id":7,"custom_attributes":{"x":[1,"two",null]}}]"#;
        let batch = decoder.decode([fine.as_slice()]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let custom = batch.column_by_name("custom_attributes").unwrap().as_string::<i32>();
        assert_eq!(custom.value(1), r#"{"x":[1,"two",null]}"#);
        assert!(custom.is_null(0));
    }
}

/// The page parser's fuzz target: whatever bytes a page holds (real pages cut, spliced, with
/// bytes flipped, or plain noise), decoding answers an error or a batch, never a panic, and the
/// decoder stays usable.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::api::wire::{parse_cursor_page, parse_v1_page};
    use intercom_sim::Workspace;

    fn real_page() -> Vec<u8> {
        let mut page = Vec::new();
        Workspace::new(77, 40).write_contacts_json(0, 40, &mut page);
        page
    }

    proptest! {
        // Failing seeds are kept beside this file (`decode.proptest-regressions`), not at the top.
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn mutated_pages_never_panic(
            cut in 0usize..120_000,
            flips in proptest::collection::vec((0usize..120_000, any::<u8>()), 0..24),
            splice in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut page = real_page();
            for (at, byte) in flips {
                let at = at % page.len();
                page[at] = byte;
            }
            let at = cut % page.len();
            page.splice(at..at, splice.iter().copied());
            page.truncate(at.max(1) + (cut % 7) * 1_000);
            let mut decoder = PageDecoder::contacts_v2(1_024);
            let _ = decoder.decode([page.as_slice()]);
            prop_assert_eq!(decoder.decode([real_page().as_slice()]).unwrap().num_rows(), 40);
            let body = bytes::Bytes::from(page);
            let _ = parse_cursor_page(body.clone());
            let _ = parse_v1_page(body, "users");
        }

        #[test]
        fn noise_never_panics(noise in proptest::collection::vec(any::<u8>(), 0..4_096)) {
            let mut decoder = PageDecoder::contacts_v2(64);
            let _ = decoder.decode([noise.as_slice()]);
            let _ = parse_cursor_page(bytes::Bytes::from(noise));
        }
    }
}
