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

/// A v1-style envelope: the records under the list's own key (`users`, `contacts`, `data`,
/// `segments`...), borrowed as raw JSON, and the paging fields.
struct V1Envelope<'a> {
    records: Option<&'a RawValue>,
    scroll_param: Option<String>,
    total_count: Option<u64>,
    pages: Option<V1Pages>,
}

/// Reads a [`V1Envelope`] whose records sit under `key`, in one pass; other fields are skipped.
struct V1EnvelopeSeed<'k> {
    key: &'k str,
}

/// An object key, borrowed unless it holds escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl<'de> serde::de::DeserializeSeed<'de> for V1EnvelopeSeed<'_> {
    type Value = V1Envelope<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for V1EnvelopeSeed<'_> {
    type Value = V1Envelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a list object with `{}`", self.key)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error as _;
        let mut envelope = V1Envelope { records: None, scroll_param: None, total_count: None, pages: None };
        while let Some(Key(name)) = map.next_key()? {
            match name.as_ref() {
                // Two record arrays: which one is the page cannot be told.
                key if key == self.key && envelope.records.is_some() => {
                    return Err(A::Error::custom(format!("duplicate field `{key}`")));
                }
                key if key == self.key => envelope.records = Some(map.next_value()?),
                "scroll_param" => envelope.scroll_param = map.next_value()?,
                "total_count" => envelope.total_count = map.next_value()?,
                "pages" => envelope.pages = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

#[derive(Deserialize)]
struct V1Pages {
    next: Option<String>,
    total_pages: Option<u64>,
}

/// Reads a page paged the v1 way, its records under `key` (`users`, `contacts` for v1 leads,
/// `data` for companies...): a scroll page (`next` is the `scroll_param`), a page-list page
/// (`next` is the `pages.next` URL) or a whole reference list.
pub fn parse_v1_page(body: Bytes, key: &str) -> Result<ListedPage, ApiError> {
    parse_sanitized(body, |body| parse_v1_envelope(body, key))
}

fn parse_v1_envelope(body: Bytes, key: &str) -> Result<ListedPage, ApiError> {
    let not_a_list = |e: serde_json::Error| ApiError::BadPage { reason: format!("not a v1 list: {e}") };
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let envelope = serde::de::DeserializeSeed::deserialize(V1EnvelopeSeed { key }, &mut deserializer).map_err(not_a_list)?;
    deserializer.end().map_err(not_a_list)?;
    let raw = envelope.records.ok_or_else(|| ApiError::BadPage { reason: format!("no `{key}` array") })?;
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
        let page = parse_v1_page(Bytes::from(scroll), "users").unwrap();
        assert_eq!((page.next.as_deref(), page.page.records_json()), (Some("25b649f7"), br#"[{"id":"a"}]"#.as_slice()));
        let list = r#"{"type":"contact.list","total_count":120,"contacts":[],"pages":{"type":"pages","next":null,"page":3,"per_page":60,"total_pages":2}}"#;
        let page = parse_v1_page(Bytes::from(list), "contacts").unwrap();
        assert_eq!((page.next, page.total_count, page.total_pages), (None, Some(120), Some(2)));
        assert!(page.page.is_empty());
        assert!(matches!(parse_v1_page(Bytes::from(scroll), "contacts"), Err(ApiError::BadPage { .. })));
    }

    #[test]
    fn a_v1_envelope_under_any_key_is_read_strictly() {
        // An escaped key is still the key; other fields of any shape are skipped.
        let escaped = r#"{"\u0064ata":[{"id":"a"}],"extra":{"deep":[1,2]},"scroll_param":"p1"}"#;
        let page = parse_v1_page(Bytes::from(escaped), "data").unwrap();
        assert_eq!((page.next.as_deref(), page.page.records_json()), (Some("p1"), br#"[{"id":"a"}]"#.as_slice()));
        for hostile in [
            r#"{"data":[{"id":"a"}],"data":[{"id":"b"}]}"#,
            r#"{"data":[{"id":"a"}]} trailing"#,
            r#"{"data":null}"#,
            r#"{"data":[],"scroll_param":42}"#,
            r#"{"data":[],"total_count":"many"}"#,
            r#"[{"data":[]}]"#,
        ] {
            assert!(matches!(parse_v1_page(Bytes::from(hostile), "data"), Err(ApiError::BadPage { .. })), "{hostile}");
        }
    }

    #[test]
    fn error_envelope_reads_code_and_message() {
        let body = br#"{"type":"error.list","request_id":"0008o082a2cnud4mmc00","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#;
        let envelope = ErrorEnvelope::parse(body);
        assert_eq!((envelope.code(), envelope.message()), ("unauthorized", "Access Token Invalid"));
        assert_eq!(ErrorEnvelope::parse(b"oops").code(), "");
    }
}
