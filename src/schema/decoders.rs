//! Custom arrow-json decoders for what Intercom's JSON does that a plain schema cannot say:
//! objects kept whole as JSON text (`custom_attributes`), and integers sent as either numbers
//! or strings (`owner_id`); fields opt in through their metadata. And the record decoder at the
//! root, which walks each record's keys once to place every known field, fill the typed custom
//! attribute columns, and keep the fields the schema does not know in `_extra`.

use std::fmt::Write as _;
use std::sync::Arc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, NullBufferBuilder, StringBuilder, StructArray, TimestampSecondBuilder,
};
use arrow::datatypes::{DataType, FieldRef, Fields, TimeUnit};
use arrow::error::ArrowError;
use arrow::json::reader::{ArrayDecoder, DecoderContext, DecoderFactory, Tape, TapeElement};

use super::custom::CUSTOM_ATTRIBUTE_KEY;

/// Arrow's canonical extension type for UTF-8 holding JSON text.
pub const JSON_EXTENSION: &str = "arrow.json";
const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Field metadata key naming one of this module's decoders.
pub const DECODE_KEY: &str = "intercom_dump.decode";
/// An Int64 field that accepts `123` and `"123"`.
pub const INT_OR_STRING: &str = "int_or_string";
/// A struct sent as `{}` when it has nothing (a company's `plan`) is null, not a struct of nulls.
pub const EMPTY_IS_NULL: &str = "empty_is_null";
/// The column that keeps a record's fields the schema does not know, as a JSON object.
pub const EXTRA_COLUMN: &str = "_extra";

pub fn json_text_metadata() -> HashMap<String, String> {
    // The canonical JSON type's metadata is an empty string: without it the type is not valid,
    // and Parquet would not annotate the column as JSON.
    HashMap::from([
        (EXTENSION_NAME_KEY.to_string(), JSON_EXTENSION.to_string()),
        ("ARROW:extension:metadata".to_string(), String::new()),
    ])
}

/// Hands arrow-json this module's decoders for the fields that ask for them.
#[derive(Debug, Default)]
pub struct IntercomDecoders {
    /// Counts custom attribute values that do not fit their declared type.
    misfits: Arc<AtomicU64>,
}

impl DecoderFactory for IntercomDecoders {
    fn make_default_decoder(
        &self,
        ctx: &DecoderContext,
        field: &FieldRef,
        is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        // The root (a nameless struct of every column): keep what the schema does not know.
        if field.name().is_empty()
            && let DataType::Struct(fields) = field.data_type()
            && fields.iter().any(|f| f.name() == EXTRA_COLUMN)
        {
            return Ok(Some(Box::new(RecordDecoder::new(ctx, fields, is_nullable, self.misfits.clone())?)));
        }
        let metadata = field.metadata();
        if metadata.get(EXTENSION_NAME_KEY).map(String::as_str) == Some(JSON_EXTENSION) && field.data_type() == &DataType::Utf8 {
            return Ok(Some(Box::new(JsonTextDecoder::default())));
        }
        if metadata.get(DECODE_KEY).map(String::as_str) == Some(INT_OR_STRING) && field.data_type() == &DataType::Int64 {
            return Ok(Some(Box::new(IntOrStringDecoder)));
        }
        if let DataType::Timestamp(TimeUnit::Second, zone) = field.data_type() {
            return Ok(Some(Box::new(UnixSecondsDecoder { zone: zone.clone() })));
        }
        Ok(None)
    }
}

pub fn factory(misfits: Arc<AtomicU64>) -> Arc<dyn DecoderFactory> {
    Arc::new(IntercomDecoders { misfits })
}

/// What a column of the root is made from.
enum Column {
    /// A field of the record, by arrow-json's decoder for its type (or one of this module's).
    Field(Box<dyn ArrayDecoder>),
    /// The n-th typed custom attribute, read out of the record's `custom_attributes`.
    Typed(usize),
    /// The record's other fields, as one JSON object.
    Extra,
}

/// Where a key of a record goes: the column of that name, or `_extra`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Column(usize),
    Extra,
}

/// The root decoder: one walk over each record's keys finds every column's value, so the keys
/// are looked up once, not once by arrow-json's struct decoder and again to find the unknown
/// ones. The known fields decode as usual from their positions; the typed custom attribute
/// columns are read out of each record's `custom_attributes` object; the other fields of each
/// record go, in their order, into one JSON object in `_extra` (null when there are none).
struct RecordDecoder {
    fields: Fields,
    columns: Vec<Column>,
    is_nullable: bool,
    slots: HashMap<String, Slot>,
    /// The slots of the last record's keys, in its order: the records of a listing spell their
    /// keys in the same order, so comparing a key with the one at its position last time finds
    /// its slot without hashing it.
    last_order: Vec<(String, Slot)>,
    /// The `custom_attributes` column, when attributes are typed.
    custom_attributes: Option<usize>,
    /// Typed columns: attribute name to its position, and each one's type.
    typed_index: HashMap<String, usize>,
    typed: Vec<DataType>,
    /// Value positions on the tape, column by column (0, arrow-json's null, when absent).
    positions: Vec<u32>,
    scratch: String,
    misfits: Arc<AtomicU64>,
}

impl RecordDecoder {
    fn new(ctx: &DecoderContext, fields: &Fields, is_nullable: bool, misfits: Arc<AtomicU64>) -> Result<Self, ArrowError> {
        let mut columns = Vec::with_capacity(fields.len());
        // A typed column's name is not a key of the record (its value sits in custom_attributes):
        // only the fields decoded from the record have a slot.
        let mut slots = HashMap::new();
        let mut typed = Vec::new();
        let mut typed_index = HashMap::new();
        for (i, field) in fields.iter().enumerate() {
            let column = if field.name() == EXTRA_COLUMN {
                Column::Extra
            } else if let Some(attribute) = field.metadata().get(CUSTOM_ATTRIBUTE_KEY) {
                typed_index.insert(attribute.clone(), typed.len());
                typed.push(field.data_type().clone());
                Column::Typed(typed.len() - 1)
            } else {
                slots.insert(field.name().clone(), Slot::Column(i));
                Column::Field(ctx.make_decoder(field, field.is_nullable() || is_nullable)?)
            };
            columns.push(column);
        }
        let custom_attributes = (!typed.is_empty()).then(|| fields.find("custom_attributes").map(|(i, _)| i)).flatten();
        Ok(RecordDecoder {
            fields: fields.clone(),
            columns,
            is_nullable,
            slots,
            last_order: Vec::new(),
            custom_attributes,
            typed_index,
            typed,
            positions: Vec::new(),
            scratch: String::new(),
            misfits,
        })
    }

    /// The slot of the `nth` key of a record.
    fn slot(&mut self, nth: usize, key: &str) -> Slot {
        if let Some((last, slot)) = self.last_order.get(nth)
            && last == key
        {
            return *slot;
        }
        let slot = self.slots.get(key).copied().unwrap_or(Slot::Extra);
        match self.last_order.get_mut(nth) {
            Some(entry) => {
                entry.0.clear();
                entry.0.push_str(key);
                entry.1 = slot;
            }
            None => self.last_order.push((key.to_string(), slot)),
        }
        slot
    }

    /// Where each typed attribute's value sits in the record's `custom_attributes`, if present.
    fn locate_typed(&self, tape: &Tape<'_>, object: u32, slots: &mut [Option<u32>]) -> Result<(), ArrowError> {
        let TapeElement::StartObject(end) = tape.get(object) else { return Ok(()) };
        let mut cur = object + 1;
        while cur < end {
            let TapeElement::String(key) = tape.get(cur) else { break };
            if let Some(&slot) = self.typed_index.get(tape.get_string(key)) {
                slots[slot] = Some(cur + 1);
            }
            cur = tape.next(cur + 1, "a value")?;
        }
        Ok(())
    }
}

/// A typed column being built.
enum TypedBuilder {
    Text(StringBuilder),
    Integer(Int64Builder),
    Float(Float64Builder),
    Boolean(BooleanBuilder),
    Date(TimestampSecondBuilder),
}

impl TypedBuilder {
    fn new(data_type: &DataType, rows: usize) -> TypedBuilder {
        match data_type {
            DataType::Int64 => TypedBuilder::Integer(Int64Builder::with_capacity(rows)),
            DataType::Float64 => TypedBuilder::Float(Float64Builder::with_capacity(rows)),
            DataType::Boolean => TypedBuilder::Boolean(BooleanBuilder::with_capacity(rows)),
            DataType::Timestamp(_, _) => TypedBuilder::Date(TimestampSecondBuilder::with_capacity(rows)),
            _ => TypedBuilder::Text(StringBuilder::with_capacity(rows, rows * 8)),
        }
    }

    /// Appends the value at `idx` (null when absent or JSON null); false when it does not fit
    /// (then a null goes in its place).
    fn append(&mut self, tape: &Tape<'_>, idx: Option<u32>) -> bool {
        let element = match idx.map(|i| tape.get(i)) {
            None | Some(TapeElement::Null) => {
                self.append_null();
                return true;
            }
            Some(element) => element,
        };
        let number = match element {
            TapeElement::Number(s) => Some(tape.get_string(s)),
            _ => None,
        };
        let fits = match (&mut *self, element) {
            (TypedBuilder::Text(b), TapeElement::String(s)) => {
                b.append_value(tape.get_string(s));
                true
            }
            (TypedBuilder::Boolean(b), TapeElement::True | TapeElement::False) => {
                b.append_value(matches!(element, TapeElement::True));
                true
            }
            (TypedBuilder::Integer(b), _) => number.and_then(|n| n.parse().ok()).map(|v| b.append_value(v)).is_some(),
            (TypedBuilder::Date(b), _) => number.and_then(|n| n.parse().ok()).map(|v| b.append_value(v)).is_some(),
            (TypedBuilder::Float(b), _) => number.and_then(|n| n.parse().ok()).map(|v| b.append_value(v)).is_some(),
            _ => false,
        };
        if !fits {
            self.append_null();
        }
        fits
    }

    fn append_null(&mut self) {
        match self {
            TypedBuilder::Text(b) => b.append_null(),
            TypedBuilder::Integer(b) => b.append_null(),
            TypedBuilder::Float(b) => b.append_null(),
            TypedBuilder::Boolean(b) => b.append_null(),
            TypedBuilder::Date(b) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            TypedBuilder::Text(mut b) => Arc::new(b.finish()),
            TypedBuilder::Integer(mut b) => Arc::new(b.finish()),
            TypedBuilder::Float(mut b) => Arc::new(b.finish()),
            TypedBuilder::Boolean(mut b) => Arc::new(b.finish()),
            TypedBuilder::Date(mut b) => Arc::new(b.finish().with_timezone("UTC")),
        }
    }
}

impl ArrayDecoder for RecordDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let rows = pos.len();
        self.positions.clear();
        self.positions.resize(self.fields.len() * rows, 0);
        let mut nulls = self.is_nullable.then(|| NullBufferBuilder::new(rows));
        let mut extra = StringBuilder::with_capacity(rows, 0);
        let mut typed: Vec<TypedBuilder> = self.typed.iter().map(|t| TypedBuilder::new(t, rows)).collect();
        let mut typed_slots = vec![None; typed.len()];
        let mut misfits = 0;
        for (row, &p) in pos.iter().enumerate() {
            check_depth(tape, p)?;
            let end = match (tape.get(p), nulls.as_mut()) {
                (TapeElement::StartObject(end), nulls) => {
                    if let Some(nulls) = nulls {
                        nulls.append_non_null();
                    }
                    end
                }
                (TapeElement::Null, Some(nulls)) => {
                    nulls.append_null();
                    extra.append_null();
                    typed.iter_mut().for_each(TypedBuilder::append_null);
                    continue;
                }
                _ => return Err(tape.error(p, "{")),
            };
            self.scratch.clear();
            let mut cur = p + 1;
            let mut nth = 0;
            while cur < end {
                let TapeElement::String(key) = tape.get(cur) else { return Err(tape.error(cur, "field name")) };
                let key = tape.get_string(key);
                match self.slot(nth, key) {
                    Slot::Column(column) => {
                        self.positions[column * rows + row] = cur + 1;
                        cur = tape.next(cur + 1, "a value")?;
                    }
                    Slot::Extra => {
                        self.scratch.push(if self.scratch.is_empty() { '{' } else { ',' });
                        write_json_string(key, &mut self.scratch);
                        self.scratch.push(':');
                        cur = write_json(tape, cur + 1, &mut self.scratch);
                    }
                }
                nth += 1;
            }
            if self.scratch.is_empty() {
                extra.append_null();
            } else {
                self.scratch.push('}');
                extra.append_value(&self.scratch);
            }
            if let Some(column) = self.custom_attributes {
                typed_slots.iter_mut().for_each(|s| *s = None);
                let at = self.positions[column * rows + row];
                if at != 0 {
                    self.locate_typed(tape, at, &mut typed_slots)?;
                }
                for (builder, slot) in typed.iter_mut().zip(&typed_slots) {
                    misfits += u64::from(!builder.append(tape, *slot));
                }
            }
        }
        if misfits > 0 {
            self.misfits.fetch_add(misfits, Ordering::Relaxed);
        }
        let typed: Vec<ArrayRef> = typed.into_iter().map(TypedBuilder::finish).collect();
        let extra: ArrayRef = Arc::new(extra.finish());
        let mut arrays = Vec::with_capacity(self.columns.len());
        for (i, (column, field)) in self.columns.iter_mut().zip(self.fields.iter()).enumerate() {
            let array = match column {
                Column::Field(decoder) => decoder
                    .decode(tape, &self.positions[i * rows..(i + 1) * rows])
                    .map_err(|e| ArrowError::JsonError(format!("whilst decoding field '{}': {e}", field.name())))?,
                Column::Typed(n) => typed[*n].clone(),
                Column::Extra => extra.clone(),
            };
            arrays.push(array);
        }
        Ok(Arc::new(StructArray::try_new(self.fields.clone(), arrays, nulls.and_then(|mut n| n.finish()))?))
    }
}

/// Any JSON value, re-serialised compactly as JSON text; JSON `null` stays a null.
#[derive(Default)]
struct JsonTextDecoder {
    scratch: String,
}

impl ArrayDecoder for JsonTextDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = StringBuilder::with_capacity(pos.len(), pos.len() * 64);
        for &p in pos {
            if matches!(tape.get(p), TapeElement::Null) {
                builder.append_null();
            } else {
                self.scratch.clear();
                write_json(tape, p, &mut self.scratch);
                builder.append_value(&self.scratch);
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// The deepest nesting a record may have. Intercom's records nest four or five levels (a contact,
/// its tag list, a tag); custom attributes hold what a workspace puts there, still far from this.
pub const MAX_DEPTH: u32 = 64;

/// Refuses a record nested deeper than [`MAX_DEPTH`] before anything walks it: arrow-json's error
/// messages print a value by recursing into it, and a record nested 40,000 deep would overflow
/// the parser thread's stack and abort the process. One pass over the record's tape elements.
fn check_depth(tape: &Tape<'_>, p: u32) -> Result<(), ArrowError> {
    let (TapeElement::StartObject(end) | TapeElement::StartList(end)) = tape.get(p) else { return Ok(()) };
    let mut depth = 0u32;
    for i in p..=end {
        match tape.get(i) {
            TapeElement::StartObject(_) | TapeElement::StartList(_) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ArrowError::JsonError(format!(
                        "a record nests objects and lists more than {MAX_DEPTH} deep, far past any Intercom object"
                    )));
                }
            }
            TapeElement::EndObject(_) | TapeElement::EndList(_) => depth -= 1,
            _ => {}
        }
    }
    Ok(())
}

/// Writes the value at `idx` as JSON text and returns the index after it. A walk along the tape
/// with a stack of open containers on the heap, not a recursion: a record nested 40,000 deep costs
/// memory in proportion, never the thread's stack.
pub fn write_json(tape: &Tape<'_>, idx: u32, out: &mut String) -> u32 {
    /// An open object or list, and how many keys and values it has written.
    struct Open {
        object: bool,
        items: u32,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut cur = idx;
    loop {
        if let Some(container) = open.last_mut() {
            if let TapeElement::EndObject(_) | TapeElement::EndList(_) = tape.get(cur) {
                out.push(if container.object { '}' } else { ']' });
                open.pop();
                cur += 1;
                if open.is_empty() {
                    return cur;
                }
                continue;
            }
            // An object alternates keys and values: `,` before a key, `:` before its value.
            match (container.object, container.items) {
                (true, n) if n % 2 == 1 => out.push(':'),
                (_, 0) => {}
                _ => out.push(','),
            }
            container.items += 1;
        }
        cur = match tape.get(cur) {
            TapeElement::StartObject(_) => {
                out.push('{');
                open.push(Open { object: true, items: 0 });
                cur + 1
            }
            TapeElement::StartList(_) => {
                out.push('[');
                open.push(Open { object: false, items: 0 });
                cur + 1
            }
            TapeElement::String(s) => {
                write_json_string(tape.get_string(s), out);
                cur + 1
            }
            // Numbers keep the text they arrived as: nothing is rounded.
            TapeElement::Number(s) => {
                out.push_str(tape.get_string(s));
                cur + 1
            }
            TapeElement::True => {
                out.push_str("true");
                cur + 1
            }
            TapeElement::False => {
                out.push_str("false");
                cur + 1
            }
            TapeElement::Null => {
                out.push_str("null");
                cur + 1
            }
            TapeElement::I64(high) => {
                let low = match tape.get(cur + 1) {
                    TapeElement::I32(low) => low,
                    _ => 0,
                };
                let _ = write!(out, "{}", ((high as i64) << 32) | (low as u32) as i64);
                cur + 2
            }
            TapeElement::I32(v) => {
                let _ = write!(out, "{v}");
                cur + 1
            }
            TapeElement::F64(high) => {
                let low = match tape.get(cur + 1) {
                    TapeElement::F32(low) => low,
                    _ => 0,
                };
                let _ = write!(out, "{}", f64::from_bits(((high as u64) << 32) | low as u64));
                cur + 2
            }
            TapeElement::F32(v) => {
                let _ = write!(out, "{}", f32::from_bits(v));
                cur + 1
            }
            // A well-formed tape never starts a value with its end; newer element kinds are not
            // produced from JSON text.
            _ => cur + 1,
        };
        if open.is_empty() {
            return cur;
        }
    }
}

/// A JSON string literal, escaped as RFC 8259 requires.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// Int64 from a JSON integer or a string of one.
struct IntOrStringDecoder;

impl ArrayDecoder for IntOrStringDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = Int64Builder::with_capacity(pos.len());
        for &p in pos {
            let value = match tape.get(p) {
                TapeElement::Null => None,
                TapeElement::Number(s) | TapeElement::String(s) => {
                    let text = tape.get_string(s).trim();
                    if text.is_empty() {
                        None
                    } else {
                        Some(text.parse::<i64>().map_err(|_| tape.error(p, "an integer or a string of digits"))?)
                    }
                }
                TapeElement::I32(v) => Some(i64::from(v)),
                TapeElement::I64(high) => match tape.get(p + 1) {
                    TapeElement::I32(low) => Some(((high as i64) << 32) | (low as u32) as i64),
                    _ => return Err(tape.error(p, "an integer")),
                },
                _ => return Err(tape.error(p, "an integer or a string of digits")),
            };
            builder.append_option(value);
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// The largest Unix time, in seconds, that every output can hold: Parquet parts store
/// milliseconds in an `i64`, so seconds past `i64::MAX / 1000` (the year 292 million) would
/// overflow there.
pub const MAX_UNIX_SECONDS: i64 = i64::MAX / 1_000;

/// Intercom's timestamps: whole Unix seconds, as JSON integers. Anything else (a fraction, a
/// string, a number past [`MAX_UNIX_SECONDS`]) is an error rather than a value quietly
/// truncated, parsed or dropped: the record's slow path then keeps it, as it came, in `_extra`.
struct UnixSecondsDecoder {
    zone: Option<Arc<str>>,
}

impl ArrayDecoder for UnixSecondsDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = TimestampSecondBuilder::with_capacity(pos.len());
        let expected = "whole Unix seconds";
        for &p in pos {
            let seconds = match tape.get(p) {
                TapeElement::Null => None,
                TapeElement::Number(s) => Some(tape.get_string(s).parse::<i64>().map_err(|_| tape.error(p, expected))?),
                TapeElement::I32(v) => Some(i64::from(v)),
                TapeElement::I64(high) => match tape.get(p + 1) {
                    TapeElement::I32(low) => Some(((high as i64) << 32) | (low as u32) as i64),
                    _ => return Err(tape.error(p, expected)),
                },
                _ => return Err(tape.error(p, expected)),
            };
            if seconds.is_some_and(|s| s.unsigned_abs() > MAX_UNIX_SECONDS as u64) {
                return Err(tape.error(p, "Unix seconds within the range Parquet's milliseconds hold"));
            }
            builder.append_option(seconds);
        }
        Ok(Arc::new(builder.finish().with_timezone_opt(self.zone.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut out = String::new();
        write_json_string("a\"b\\c\nd\u{1}é🦀", &mut out);
        assert_eq!(out, r#""a\"b\\c\nd\u0001é🦀""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é🦀");
    }
}
