//! The relation tables' rows, complete (`source::relation`: which relations there are). Plain
//! Rust, no actix: the Relater actor feeds it the contacts a dump writes and the pages of the
//! follow-up calls, and asks it what to request next.
//!
//! A contact's inline list is taken as it is when it is whole: `has_more` is not set, its
//! `total_count` (when given) is the number of distinct ids it holds, and every entry has an id.
//! Any other list (more than ten, a missing or unreadable list, an entry without an id, a count
//! that disagrees) is fetched whole from the contact's own endpoint, page after page for a
//! paged one, and checked against the count the contact announced. A contact whose complete
//! list does not come out as announced (the contact vanished, the list changed, an entry could
//! not be read) is counted, and the table is then not whole: [`RelationCount::is_whole`].
//! Nothing loops: a paged list is read to the smaller of its own page count and what its
//! announced length needs, and stops at a page that brings nothing new.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, ArrayBuilder, AsArray, Int32Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{Int64Type, SchemaRef};

use crate::api::{ApiError, ListedPage};
use crate::listing::Call;
use crate::source::relation::{RELATIONS, RelationSpec};

/// The most pages of one contact's list read, whatever the list says of itself.
const MAX_PAGES_PER_LIST: u64 = 1_000;

/// What a relation table holds against what the contacts announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelationCount {
    /// Links the contacts announced (their lists' `total_count`, or the entries of a whole list).
    pub announced: u64,
    /// Rows written: distinct links.
    pub written: u64,
    /// Contacts whose list was fetched whole from their own endpoint.
    pub fetched_lists: u64,
    /// Contacts whose complete list did not come out as announced.
    pub contacts_short: u64,
    /// Entries a list gave twice, written once.
    pub duplicates_dropped: u64,
}

impl RelationCount {
    /// Every contact's list came out as announced.
    pub fn is_whole(&self) -> bool {
        self.contacts_short == 0 && self.announced == self.written
    }
}

/// One relation table being filled.
struct Table {
    spec: &'static RelationSpec,
    schema: SchemaRef,
    contact_ids: StringBuilder,
    item_ids: StringBuilder,
    positions: Int32Builder,
    count: RelationCount,
}

impl Table {
    fn new(spec: &'static RelationSpec) -> Table {
        Table {
            spec,
            schema: spec.schema(),
            contact_ids: StringBuilder::new(),
            item_ids: StringBuilder::new(),
            positions: Int32Builder::new(),
            count: RelationCount::default(),
        }
    }

    fn push(&mut self, contact_id: &str, item_id: &str, position: usize) {
        self.contact_ids.append_value(contact_id);
        self.item_ids.append_value(item_id);
        self.positions.append_value(i32::try_from(position).unwrap_or(i32::MAX));
        self.count.written += 1;
    }

    fn rows(&self) -> usize {
        self.positions.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(self.contact_ids.finish()), Arc::new(self.item_ids.finish()), Arc::new(self.positions.finish())],
        )
        .expect("the builders fill the relation schema's three columns alike")
    }
}

/// A contact's list being fetched whole.
struct Following {
    /// What the contact's inline list announced (`total_count`), when it said.
    announced: Option<u64>,
    seen: HashSet<String>,
    /// Entries read, bad ones included: the next entry's position.
    position: usize,
    /// Entries without an id: links that cannot be written.
    unreadable: u64,
    /// The last page this list may ask for.
    last_page: u64,
}

/// The relation tables of one contacts dump.
pub(crate) struct Relations {
    tables: Vec<Table>,
    /// Lists (table, contact id) to fetch, and the page: next pages of lists already started
    /// go first, so a started list ends soon.
    queue: VecDeque<(usize, String, u64)>,
    following: HashMap<(usize, String), Following>,
    in_flight: usize,
}

impl Default for Relations {
    fn default() -> Self {
        Relations::new()
    }
}

impl Relations {
    pub(crate) fn new() -> Relations {
        Relations {
            tables: RELATIONS.iter().map(|spec| Table::new(spec)).collect(),
            queue: VecDeque::new(),
            following: HashMap::new(),
            in_flight: 0,
        }
    }

    /// The relations, in the order of [`RELATIONS`].
    pub(crate) fn specs(&self) -> impl Iterator<Item = &'static RelationSpec> + '_ {
        self.tables.iter().map(|t| t.spec)
    }

    /// Takes the inline lists of contacts that were written (each contact once: the batch is
    /// deduplicated), and queues the lists that must be fetched whole.
    pub(crate) fn contacts(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let ids = batch.column_by_name("id").ok_or("a contacts batch without an id column")?;
        let ids = ids.as_string_opt::<i32>().ok_or("a contacts batch whose ids are not text")?;
        for (index, table) in self.tables.iter_mut().enumerate() {
            let lists = batch.column_by_name(table.spec.inline_column).and_then(|c| c.as_struct_opt());
            for row in 0..batch.num_rows() {
                if ids.is_null(row) {
                    continue;
                }
                let contact_id = ids.value(row);
                match lists.and_then(|lists| inline_whole(lists, row)) {
                    Some(items) => {
                        table.count.announced += items.len() as u64;
                        for (position, item) in items.iter().flatten().enumerate() {
                            table.push(contact_id, item, position);
                        }
                    }
                    None => {
                        let announced = lists.and_then(|lists| announced_count(lists, row));
                        let last_page = match table.spec.per_page {
                            None => 1,
                            // What the announced length needs, and one more page to see that
                            // the list ends there; the list's own page count may say less.
                            Some(per_page) => announced.map_or(MAX_PAGES_PER_LIST, |n| n.div_ceil(u64::from(per_page)) + 1),
                        };
                        let following = Following {
                            announced,
                            seen: HashSet::new(),
                            position: 0,
                            unreadable: 0,
                            last_page: last_page.clamp(1, MAX_PAGES_PER_LIST),
                        };
                        self.following.insert((index, contact_id.to_string()), following);
                        self.queue.push_back((index, contact_id.to_string(), 1));
                        table.count.fetched_lists += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The next follow-up call, if one waits.
    pub(crate) fn next_call(&mut self) -> Option<Call> {
        let (table, contact_id, page) = self.queue.pop_front()?;
        self.in_flight += 1;
        Some(Call::Related { relation: self.tables[table].spec, contact_id, page })
    }

    /// Calls sent and not answered yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Nothing queued, nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight == 0
    }

    /// A follow-up call's answer. A contact that is gone (404) leaves its list short; any other
    /// failure (after the client's retries) ends the run, as a listing's would.
    pub(crate) fn arrived(&mut self, call: &Call, result: Result<ListedPage, ApiError>) -> Result<(), ApiError> {
        let Call::Related { relation, contact_id, page } = call else { return Ok(()) };
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(index) = self.tables.iter().position(|t| std::ptr::eq(t.spec, *relation)) else { return Ok(()) };
        let key = (index, contact_id.clone());
        let listed = match result {
            Ok(listed) => listed,
            Err(ApiError::Status { status: 404, .. }) => {
                tracing::warn!(contact = %contact_id, relation = relation.table, "the contact is gone: its complete list cannot be read");
                self.end_list(&key, None);
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let Some(following) = self.following.get_mut(&key) else { return Ok(()) };
        // A page whose records are not an array of values reads as no entries: the list then
        // comes out short, and says so.
        let items: Vec<serde_json::Value> = serde_json::from_slice(listed.page.records_json()).unwrap_or_default();
        let table = &mut self.tables[index];
        let mut fresh = 0;
        for item in &items {
            let position = following.position;
            following.position += 1;
            let Some(id) = item_id(item) else {
                following.unreadable += 1;
                continue;
            };
            if following.seen.insert(id.clone()) {
                table.push(contact_id, &id, position);
                fresh += 1;
            } else {
                table.count.duplicates_dropped += 1;
            }
        }
        let more = match relation.per_page {
            None => false,
            Some(_) => {
                let pages = listed.total_pages.unwrap_or(if listed.next.is_some() { u64::MAX } else { *page });
                fresh > 0 && *page < pages.min(following.last_page)
            }
        };
        if more {
            self.queue.push_front((index, contact_id.clone(), page + 1));
        } else {
            let listed_count = listed.total_count;
            self.end_list(&key, listed_count);
        }
        Ok(())
    }

    /// A list fetched as far as it goes: checked against what the contact announced (or, when
    /// it announced nothing, what the list itself did).
    fn end_list(&mut self, key: &(usize, String), listed_count: Option<u64>) {
        let Some(following) = self.following.remove(key) else { return };
        let table = &mut self.tables[key.0];
        let got = following.seen.len() as u64;
        let announced = following.announced.or(listed_count).unwrap_or(got);
        table.count.announced += announced;
        if got != announced || following.unreadable > 0 {
            table.count.contacts_short += 1;
            tracing::warn!(
                contact = %key.1,
                relation = table.spec.table,
                announced,
                got,
                "a contact's complete list did not come out as announced"
            );
        }
    }

    /// Batches of at least `rows` rows, or every row left when `all`, by table index.
    pub(crate) fn batches(&mut self, rows: usize, all: bool) -> Vec<(usize, RecordBatch)> {
        let mut out = Vec::new();
        for (index, table) in self.tables.iter_mut().enumerate() {
            let have = table.rows();
            if have > 0 && (all || have >= rows) {
                out.push((index, table.take_batch()));
            }
        }
        out
    }

    /// What each table holds against what was announced, in the order of [`RELATIONS`].
    pub(crate) fn counts(&self) -> Vec<RelationCount> {
        self.tables.iter().map(|t| t.count).collect()
    }
}

/// The ids of row `row`'s inline list when the list is whole as it stands, in order (a view
/// of the batch's own array: nothing is copied).
fn inline_whole(lists: &arrow::array::StructArray, row: usize) -> Option<arrow::array::StringArray> {
    if lists.is_null(row) {
        return None;
    }
    let has_more = lists.column_by_name("has_more")?.as_boolean_opt()?;
    if !has_more.is_null(row) && has_more.value(row) {
        return None;
    }
    let data = lists.column_by_name("data")?.as_list_opt::<i32>()?;
    if data.is_null(row) {
        return None;
    }
    let entries = data.value(row);
    let ids = entries.as_struct_opt()?.column_by_name("id")?.as_string_opt::<i32>()?.clone();
    // At most ten entries: a pairwise look for a repeat costs less than a set.
    let repeated = (0..ids.len()).any(|i| (0..i).any(|j| ids.value(i) == ids.value(j)));
    if ids.null_count() > 0 || repeated {
        return None;
    }
    match announced_count(lists, row) {
        Some(total) if total != ids.len() as u64 => None,
        _ => Some(ids),
    }
}

/// Row `row`'s `total_count`, when it has one that is a count.
fn announced_count(lists: &arrow::array::StructArray, row: usize) -> Option<u64> {
    if lists.is_null(row) {
        return None;
    }
    let totals = lists.column_by_name("total_count")?.as_primitive_opt::<Int64Type>()?;
    (!totals.is_null(row)).then(|| u64::try_from(totals.value(row)).ok()).flatten()
}

/// An entry's id: text, or a number written as text.
fn item_id(item: &serde_json::Value) -> Option<String> {
    match item.get("id")? {
        serde_json::Value::String(id) if !id.is_empty() => Some(id.clone()),
        serde_json::Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FetchedPage;
    use crate::config::Source;
    use crate::schema::PageDecoder;
    use crate::source::relation::{CONTACT_COMPANIES, CONTACT_TAGS};

    fn list(path: &str, ids: &[&str], total: Option<u64>, has_more: bool) -> serde_json::Value {
        let data: Vec<_> =
            ids.iter().map(|id| serde_json::json!({"type": "x", "id": id, "url": format!("/{path}/{id}")})).collect();
        serde_json::json!({"type": "list", "data": data, "url": "/u", "total_count": total, "has_more": has_more})
    }

    fn contacts(records: serde_json::Value) -> RecordBatch {
        let body = serde_json::to_vec(&records).unwrap();
        PageDecoder::for_source(Source::Contacts, 100, &[]).decode([&body[..]]).unwrap()
    }

    fn page(items: &[&str], total_pages: Option<u64>) -> ListedPage {
        let body = serde_json::to_vec(&items.iter().map(|id| serde_json::json!({"id": id})).collect::<Vec<_>>()).unwrap();
        let records = 0..body.len();
        ListedPage {
            page: FetchedPage { body: body.into(), records, resume_at: None, origin: "test".into() },
            next: None,
            total_count: None,
            total_pages,
            replaced_text: 0,
            round_trip: None,
        }
    }

    #[test]
    fn whole_inline_lists_are_written_and_the_others_fetched() {
        let mut relations = Relations::new();
        let batch = contacts(serde_json::json!([
            {"type": "contact", "id": "a", "tags": list("tags", &["t1", "t2"], Some(2), false), "companies": list("companies", &[], Some(0), false)},
            // More than it shows; a count that disagrees; a repeated id; no list at all.
            {"type": "contact", "id": "b", "tags": list("tags", &["t1"], Some(12), true), "companies": list("companies", &["k1"], Some(3), false)},
            {"type": "contact", "id": "c", "tags": list("tags", &["t1", "t1"], Some(2), false)},
        ]));
        relations.contacts(&batch).unwrap();
        let counts = relations.counts();
        assert_eq!((counts[0].written, counts[0].fetched_lists), (2, 2), "a's tags written; b's and c's fetched");
        assert_eq!((counts[1].written, counts[1].fetched_lists), (0, 2), "b's disagree, c has no list");
        let mut calls = Vec::new();
        while let Some(call) = relations.next_call() {
            calls.push(call);
        }
        assert_eq!(calls.len(), 4);
        assert!(calls.contains(&Call::Related { relation: &CONTACT_TAGS, contact_id: "b".into(), page: 1 }));
        assert!(calls.contains(&Call::Related { relation: &CONTACT_COMPANIES, contact_id: "c".into(), page: 1 }));
    }

    #[test]
    fn a_paged_list_is_read_to_what_its_count_needs_and_no_further() {
        let mut relations = Relations::new();
        let ids: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let batch = contacts(serde_json::json!([
            {"type": "contact", "id": "b", "tags": list("tags", &[], Some(0), false), "companies": list("companies", &ids, Some(160), true)},
        ]));
        relations.contacts(&batch).unwrap();
        let first = relations.next_call().unwrap();
        let full: Vec<String> = (0..150).map(|i| format!("k{i}")).collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        // A list that says it has a million pages, the same one each time.
        relations.arrived(&first, Ok(page(&full, Some(1_000_000)))).unwrap();
        let second = relations.next_call().unwrap();
        assert_eq!(second, Call::Related { relation: &CONTACT_COMPANIES, contact_id: "b".into(), page: 2 });
        relations.arrived(&second, Ok(page(&full, Some(1_000_000)))).unwrap();
        assert!(relations.next_call().is_none(), "a page with nothing new ends the list");
        assert!(relations.is_idle());
        let count = relations.counts()[1];
        assert_eq!((count.announced, count.written, count.contacts_short, count.duplicates_dropped), (160, 150, 1, 150));
        assert!(!count.is_whole());
    }

    #[test]
    fn a_gone_contact_leaves_its_list_short_and_other_failures_end_the_run() {
        let mut relations = Relations::new();
        let batch = contacts(serde_json::json!([
            {"type": "contact", "id": "b", "tags": list("tags", &["t1"], Some(11), true), "companies": list("companies", &[], Some(0), false)},
        ]));
        relations.contacts(&batch).unwrap();
        let call = relations.next_call().unwrap();
        let gone = ApiError::Status { status: 404, code: "not_found".into(), message: "User Not Found".into(), request_id: None };
        relations.arrived(&call, Err(gone)).unwrap();
        assert_eq!((relations.counts()[0].announced, relations.counts()[0].contacts_short), (11, 1));

        let mut relations = Relations::new();
        relations.contacts(&batch).unwrap();
        let call = relations.next_call().unwrap();
        let refused = ApiError::Forbidden { code: "forbidden".into(), message: "no".into() };
        assert!(relations.arrived(&call, Err(refused)).is_err());
    }
}
