//! Exactly-once output for listings that can repeat records: a restarted scroll serves every
//! record again from the start, and a page list shifts when records change under it.
//! [`SeenIds`] remembers every id written and drops rows it has seen.
//!
//! Intercom ids are lowercase hex: 24 digits (v2 contacts, most v1 records) pack into 12 bytes,
//! other lengths up to 30 into a `u128` with their length, instead of heap strings. Other ids fall
//! back to boxed strings.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;

#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// 24 hex digits, as 12 bytes: the common case, a quarter smaller than a `u128` key.
    hex24: HashSet<[u8; 12]>,
    packed: HashSet<u128>,
    other: HashSet<Box<str>>,
    other_bytes: usize,
    dropped: u64,
    /// Ids the listing announced: the first table used is sized for them at once, so it never
    /// grows (a growing table holds its old and new buckets together: half as much again).
    expected: Option<usize>,
}

/// The most ids a table is sized for ahead of time, whatever a listing announces: a count
/// a server made up must not allocate the machine away.
const MAX_EXPECTED: usize = 20_000_000;

impl SeenIds {
    pub(crate) fn new() -> SeenIds {
        SeenIds::default()
    }

    /// Sizes the table for `count` ids, once, on the first id (a count no listing should pass is
    /// capped).
    pub(crate) fn expect(&mut self, count: u64) {
        if self.is_empty() && self.expected.is_none() {
            self.expected = Some((count as usize).min(MAX_EXPECTED));
        }
    }

    /// Remembers `id`; false when it was seen before.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if let Some(key) = pack24(id) {
            if let Some(expected) = self.expected.take() {
                let _ = self.hex24.try_reserve(expected);
            }
            return self.hex24.insert(key);
        }
        if let Some(expected) = self.expected.take() {
            let _ = self.packed.try_reserve(expected);
        }
        match pack(id) {
            Some(key) => self.packed.insert(key),
            None if self.other.contains(id) => false,
            None => {
                self.other_bytes += id.len();
                self.other.insert(id.into())
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hex24.len() + self.packed.len() + self.other.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows dropped as repeats so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The rows of `batch` whose `key` column holds a key not seen before (repeats within the
    /// batch included), remembering them.
    pub(crate) fn retain_new(&mut self, batch: RecordBatch, key: &str) -> Result<RecordBatch, ArrowError> {
        let ids = batch
            .column_by_name(key)
            .ok_or_else(|| ArrowError::SchemaError(format!("a batch to deduplicate has no {key} column")))?
            .as_string_opt::<i32>()
            .ok_or_else(|| ArrowError::SchemaError(format!("the {key} column is not text")))?;
        let keep: BooleanArray = (0..ids.len()).map(|row| Some(ids.is_null(row) || self.insert(ids.value(row)))).collect();
        let fresh = keep.true_count();
        if fresh == batch.num_rows() {
            return Ok(batch);
        }
        self.dropped += (batch.num_rows() - fresh) as u64;
        filter_record_batch(&batch, &keep)
    }

    /// Heap bytes the remembered ids hold: the hash tables' buckets and control bytes, and the
    /// fallback strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        let table = |capacity: usize, slot: usize| {
            if capacity == 0 {
                return 0;
            }
            // hashbrown keeps buckets at a power of two, at most 7/8 full, plus a control byte each.
            let buckets = (capacity * 8 / 7).next_power_of_two();
            buckets * (slot + 1)
        };
        table(self.hex24.capacity(), 12)
            + table(self.packed.capacity(), size_of::<u128>())
            + table(self.other.capacity(), size_of::<Box<str>>())
            + self.other_bytes
    }
}

/// Exactly 24 lowercase hex digits, as 12 bytes.
fn pack24(id: &str) -> Option<[u8; 12]> {
    let bytes = id.as_bytes();
    if bytes.len() != 24 {
        return None;
    }
    let mut key = [0u8; 12];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        key[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(key)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Up to 30 lowercase hex digits, with their count in the top byte so "0a" and "a" differ.
fn pack(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 30 || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let value = u128::from_str_radix(id, 16).ok()?;
    Some(value | (bytes.len() as u128) << 120)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn packs_intercom_ids_and_keeps_others_apart() {
        assert_ne!(pack("0a"), pack("a"));
        assert!(pack("5f9b5e8e6f1b2c0012345678").is_some());
        assert_eq!(pack("ABC"), None);
        assert_eq!(pack24("5F9B5E8E6F1B2C0012345678"), None, "upper case is another id");
        assert_eq!(
            pack24("5f9b5e8e6f1b2c0012345678"),
            Some([0x5f, 0x9b, 0x5e, 0x8e, 0x6f, 0x1b, 0x2c, 0x00, 0x12, 0x34, 0x56, 0x78])
        );
        let mut seen = SeenIds::new();
        for id in ["5f9b5e8e6f1b2c0012345678", "530370b477ad7120001d", "usr_Ω", "ABC"] {
            assert!(seen.insert(id));
            assert!(!seen.insert(id));
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn drops_rows_seen_before_and_repeats_within_a_batch() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false), Field::new("n", DataType::Int64, true)]));
        let batch = |ids: &[&str]| {
            let n: Int64Array = (0..ids.len() as i64).collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(ids.to_vec())), Arc::new(n)]).unwrap()
        };
        let mut seen = SeenIds::new();
        assert_eq!(seen.retain_new(batch(&["a1", "b2", "a1"]), "id").unwrap().num_rows(), 2);
        let second = seen.retain_new(batch(&["b2", "c3"]), "id").unwrap();
        assert_eq!(second.column(0).as_string::<i32>().value(0), "c3");
        assert_eq!(second.column(1).as_primitive::<arrow::datatypes::Int64Type>().value(0), 1);
        assert_eq!(seen.dropped(), 2);
    }

    #[test]
    fn a_million_ids_cost_tens_of_megabytes() {
        let mut seen = SeenIds::new();
        for i in 0..1_000_000u64 {
            seen.insert(&format!("{:08x}{:016x}", 1_500_000_000 + i, intercom_sim::generator::mix64(i)));
        }
        let per_id = seen.heap_bytes() as f64 / 1e6;
        assert!((17.0..=40.0).contains(&per_id), "{per_id} bytes an id");
        // 24-digit ids take 12-byte keys: 2^21 buckets of 13 bytes at a million.
        assert!(per_id <= 28.0, "{per_id} bytes a 24-digit id");
    }
}
