//! What becomes of records the fast path cannot decode. A page is decoded whole, straight into
//! Arrow; only when that fails does the slow path here take over, page by page and then record by
//! record, so that one odd value never loses a run:
//!
//! - (text that is not UTF-8, and escapes of half a surrogate pair, never get here: the envelope
//!   reader replaces them, see [`crate::api::sanitize`]);
//! - a field whose value does not fit its column (a boolean sent as `"true"`, a timestamp as a
//!   string, `location` as a string) leaves its column null and is kept, as it came, in the
//!   record's `_extra` object, which a reader merges back to rebuild the record; each is counted
//!   by field name ([`Repairs`]);
//! - an `id` sent as a number is written as its decimal text (and kept as it came in `_extra`):
//!   a record must stay identifiable.
//!
//! A record that is not a JSON object, or has no id at all, is still an error, naming its page.

use std::collections::BTreeMap;

/// What the slow path changed, since last taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Repairs {
    /// Values that did not fit their column, by field: kept in `_extra` instead.
    pub fields: BTreeMap<String, u64>,
    /// Invalid UTF-8 sequences and lone surrogate escapes replaced by U+FFFD.
    pub replaced_text: u64,
    /// Groups of pages the fast path could not decode whole (each then went page by page).
    pub slow_groups: u64,
}

impl Repairs {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.replaced_text == 0 && self.slow_groups == 0
    }

    pub fn add(&mut self, other: &Repairs) {
        for (field, count) in &other.fields {
            *self.fields.entry(field.clone()).or_default() += count;
        }
        self.replaced_text += other.replaced_text;
        self.slow_groups += other.slow_groups;
    }

    /// Values moved to `_extra`, all fields together.
    pub fn misfits(&self) -> u64 {
        self.fields.values().sum()
    }
}
