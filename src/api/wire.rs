//! The wire format: list envelopes and error envelopes.
//!
//! A page body is kept as the bytes that arrived. Only its envelope is read here, borrowing the
//! record array as raw JSON, so the records are parsed once, by the page decoder, into Arrow.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ApiError;
use crate::source::Envelope;

/// A fetched page: the body as it arrived, and where in it the records are.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    pub body: Bytes,
    /// Byte range of the JSON array of records within `body`.
    pub records: Range<usize>,
    /// v2 cursor: where the listing goes on after this page, for checkpoints.
    pub resume_at: Option<String>,
    /// Where the page came from (`page 12, starting_after=...`), for messages about it.
    pub origin: std::sync::Arc<str>,
}

impl FetchedPage {
    /// The JSON array of records.
    pub fn records_json(&self) -> &[u8] {
        &self.body[self.records.clone()]
    }

    /// Bytes held in memory for this page.
    pub fn size(&self) -> usize {
        self.body.len()
    }

    /// True when the record array is empty.
    pub fn is_empty(&self) -> bool {
        let inner = &self.records_json()[1..self.records.len() - 1];
        inner.iter().all(|b| b.is_ascii_whitespace())
    }
}

/// A page of any listing, with what its envelope says about the rest.
#[derive(Debug, Clone)]
pub struct ListedPage {
    pub page: FetchedPage,
    /// v2: the cursor of the next page, `None` on the last. v1 scroll: the `scroll_param` to
    /// send next. v1 page list: the `pages.next` URL.
    pub next: Option<String>,
    pub total_count: Option<u64>,
    /// v1 page lists only.
    pub total_pages: Option<u64>,
    /// Invalid UTF-8 sequences and lone surrogate escapes replaced by U+FFFD in this page.
    pub replaced_text: u64,
    /// How long the server took to answer (search pages, whose listing paces itself on it):
    /// from sending to the last byte, the rate limiter's wait left out.
    pub round_trip: Option<std::time::Duration>,
}

/// Reads a page with `parse`; a page it refuses that holds text that is not text (see
/// [`super::sanitize`]) is read again with that text replaced, and the replacements counted.
fn parse_sanitized(body: Bytes, parse: impl Fn(Bytes) -> Result<ListedPage, ApiError>) -> Result<ListedPage, ApiError> {
    match parse(body.clone()) {
        Ok(page) => Ok(page),
        Err(error) => {
            let (clean, replaced) = super::sanitize::sanitize(&body);
            if replaced == 0 {
                return Err(error);
            }
            let mut page = parse(Bytes::from(clean.into_owned()))?;
            page.replaced_text = replaced;
            Ok(page)
        }
    }
}

#[derive(Deserialize)]
struct CursorEnvelope<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
    total_count: Option<u64>,
    pages: Option<CursorPages>,
}

#[derive(Deserialize)]
struct CursorPages {
    next: Option<NextCursor>,
}

/// `pages.next`: real answers carry `{page, starting_after}`, the schema says
/// `{per_page, starting_after}`; only the cursor matters.
#[derive(Deserialize)]
struct NextCursor {
    starting_after: Option<String>,
}

/// Reads a v2 list page's envelope. Anything unreadable (cut off, not JSON, no `data` array)
/// is a [`ApiError::BadPage`], which is worth fetching again.
pub fn parse_cursor_page(body: Bytes) -> Result<ListedPage, ApiError> {
    parse_sanitized(body, parse_cursor_envelope)
}

fn parse_cursor_envelope(body: Bytes) -> Result<ListedPage, ApiError> {
    let envelope: CursorEnvelope<'_> =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadPage { reason: format!("not a contact list: {e}") })?;
    let records = raw_array_range(&body, envelope.data)?;
    let next = envelope.pages.and_then(|p| p.next).and_then(|n| n.starting_after).filter(|c| !c.is_empty());
    let total_count = envelope.total_count;
    Ok(ListedPage {
        page: FetchedPage { body, records, resume_at: None, origin: "".into() },
        next,
        total_count,
        total_pages: None,
        replaced_text: 0,
        round_trip: None,
    })
}

/// Where the records of a list paged the v1 way (a `scroll_param`, or a `pages.next` URL) sit:
/// `users` or `contacts` (leads) in v1, `data` in the 2.x companies lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Key {
    Users,
    Contacts,
    Data,
    /// The reference lists: `GET /segments`, `/admins`, `/teams`.
    Segments,
    Admins,
    Teams,
}

/// Reads a page of `source`'s listing (its envelope; the records stay raw JSON).
pub fn parse_page_of(source: crate::config::Source, body: Bytes) -> Result<ListedPage, ApiError> {
    parse_page(source.spec().envelope, body)
}

/// Reads a page whose records sit where `envelope` says.
pub(crate) fn parse_page(envelope: Envelope, body: Bytes) -> Result<ListedPage, ApiError> {
    match envelope {
        Envelope::Data => parse_cursor_page(body),
        Envelope::V1(key) => parse_v1_page(body, key),
    }
}

#[derive(Deserialize)]
struct V1Envelope<'a> {
    #[serde(borrow, default)]
    users: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contacts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    segments: Option<&'a RawValue>,
    #[serde(borrow, default)]
    admins: Option<&'a RawValue>,
    #[serde(borrow, default)]
    teams: Option<&'a RawValue>,
    scroll_param: Option<String>,
    total_count: Option<u64>,
    pages: Option<V1Pages>,
}

#[derive(Deserialize)]
struct V1Pages {
    next: Option<String>,
    total_pages: Option<u64>,
}

/// Reads a v1 scroll page (`next` is the `scroll_param`) or page-list page (`next` is the
/// `pages.next` URL).
pub fn parse_v1_page(body: Bytes, key: V1Key) -> Result<ListedPage, ApiError> {
    parse_sanitized(body, |body| parse_v1_envelope(body, key))
}

fn parse_v1_envelope(body: Bytes, key: V1Key) -> Result<ListedPage, ApiError> {
    let envelope: V1Envelope<'_> =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadPage { reason: format!("not a v1 list: {e}") })?;
    let (raw, name) = match key {
        V1Key::Users => (envelope.users, "users"),
        V1Key::Contacts => (envelope.contacts, "contacts"),
        V1Key::Data => (envelope.data, "data"),
        V1Key::Segments => (envelope.segments, "segments"),
        V1Key::Admins => (envelope.admins, "admins"),
        V1Key::Teams => (envelope.teams, "teams"),
    };
    let raw = raw.ok_or_else(|| ApiError::BadPage { reason: format!("no `{name}` array") })?;
    let records = raw_array_range(&body, raw)?;
    let (next, total_pages) = match envelope.pages {
        Some(pages) => (pages.next, pages.total_pages),
        None => (envelope.scroll_param, None),
    };
    let next = next.filter(|n| !n.is_empty());
    let total_count = envelope.total_count;
    Ok(ListedPage {
        page: FetchedPage { body, records, resume_at: None, origin: "".into() },
        next,
        total_count,
        total_pages,
        replaced_text: 0,
        round_trip: None,
    })
}

fn raw_array_range(body: &[u8], raw: &RawValue) -> Result<Range<usize>, ApiError> {
    let text = raw.get();
    if !text.starts_with('[') {
        return Err(ApiError::BadPage { reason: "`data` is not an array".into() });
    }
    // RawValue borrows from `body`, so its position is an offset into it.
    let start = text.as_ptr() as usize - body.as_ptr() as usize;
    Ok(start..start + text.len())
}

/// One entry of `GET /data_attributes`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DataAttribute {
    pub name: String,
    pub data_type: String,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub archived: bool,
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct DataAttributeList {
    data: Vec<DataAttribute>,
}

/// Reads `GET /data_attributes`: a small answer, read once a run, so serde's typed path is fine.
pub fn parse_data_attributes(body: &[u8]) -> Result<Vec<DataAttribute>, ApiError> {
    serde_json::from_slice::<DataAttributeList>(body)
        .map(|list| list.data)
        .map_err(|e| ApiError::BadPage { reason: format!("not a data attribute list: {e}") })
}

/// Intercom's error envelope: `{"type":"error.list","request_id":..,"errors":[{code,message}]}`.
#[derive(Debug, Deserialize, Default)]
pub struct ErrorEnvelope {
    pub request_id: Option<String>,
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorEnvelope {
    /// The first error's code and message; an unreadable body gives empty ones.
    pub fn parse(body: &[u8]) -> ErrorEnvelope {
        serde_json::from_slice(body).unwrap_or_default()
    }

    pub fn code(&self) -> &str {
        self.errors.first().map(|e| e.code.as_str()).unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.errors.first().and_then(|e| e.message.as_deref()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cursor_in_either_documented_shape() {
        for next in [r#"{"page":2,"starting_after":"YWJj+/=="}"#, r#"{"per_page":150,"starting_after":"YWJj+/=="}"#] {
            let body =
                format!(r#"{{"type":"list","data":[{{"id":"a"}},{{"id":"b"}}],"total_count":5,"pages":{{"next":{next}}}}}"#);
            let page = parse_cursor_page(Bytes::from(body)).unwrap();
            assert_eq!(page.next.as_deref(), Some("YWJj+/=="));
            assert_eq!(page.total_count, Some(5));
            assert_eq!(page.page.records_json(), br#"[{"id":"a"},{"id":"b"}]"#);
            assert!(!page.page.is_empty());
        }
    }

    #[test]
    fn last_page_has_no_cursor_whatever_the_shape() {
        for pages in [r#"{"type":"pages"}"#, r#"{"next":null}"#, r#"{"next":{"starting_after":null}}"#, "null"] {
            let body = format!(r#"{{"type":"list","data":[ ],"pages":{pages}}}"#);
            let page = parse_cursor_page(Bytes::from(body)).unwrap();
            assert_eq!(page.next, None, "{pages}");
            assert!(page.page.is_empty());
        }
    }

    #[test]
    fn truncated_or_foreign_bodies_are_bad_pages() {
        for body in [r#"{"type":"list","data":[{"id":"a"}"#, "<html>502</html>", r#"{"type":"list","data":{}}"#, ""] {
            assert!(matches!(parse_cursor_page(Bytes::from(body)), Err(ApiError::BadPage { .. })), "{body}");
        }
    }

    #[test]
    fn reads_v1_scroll_and_page_list_envelopes() {
        let scroll = r#"{"type":"user.list","users":[{"id":"a"}],"scroll_param":"25b649f7"}"#;
        let page = parse_v1_page(Bytes::from(scroll), V1Key::Users).unwrap();
        assert_eq!((page.next.as_deref(), page.page.records_json()), (Some("25b649f7"), br#"[{"id":"a"}]"#.as_slice()));
        let list = r#"{"type":"contact.list","total_count":120,"contacts":[],"pages":{"type":"pages","next":null,"page":3,"per_page":60,"total_pages":2}}"#;
        let page = parse_v1_page(Bytes::from(list), V1Key::Contacts).unwrap();
        assert_eq!((page.next, page.total_count, page.total_pages), (None, Some(120), Some(2)));
        assert!(page.page.is_empty());
        assert!(matches!(parse_v1_page(Bytes::from(scroll), V1Key::Contacts), Err(ApiError::BadPage { .. })));
    }

    #[test]
    fn error_envelope_reads_code_and_message() {
        let body = br#"{"type":"error.list","request_id":"0008o082a2cnud4mmc00","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#;
        let envelope = ErrorEnvelope::parse(body);
        assert_eq!((envelope.code(), envelope.message()), ("unauthorized", "Access Token Invalid"));
        assert_eq!(ErrorEnvelope::parse(b"oops").code(), "");
    }
}
