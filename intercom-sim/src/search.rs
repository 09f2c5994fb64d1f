//! `POST /contacts/search`, as Intercom's OpenAPI (2.7 to 2.16) describes it: the request body
//! and its limits, the query language (a filter, or a group of at most 15 filters or groups, at
//! most two levels deep), the operators each field type takes, dates matched by whole days in the
//! workspace's time zone (the stable versions) or by exact seconds (the Preview docs), a sort,
//! `per_page` up to 150, and a stateless cursor.
//!
//! Pure: [`SearchRequest::parse`] validates a body into a plan, [`Search::page`] answers one page
//! of it from the generated workspace. `created_at` grows with the contact's index, so the parts
//! of a query on `created_at` become index ranges, found by bisection: a search of a time window
//! reads that window, not the workspace.

use serde_json::Value;

use crate::generator::{Role, Workspace, mix64};

/// The largest `per_page` search honours, and what it serves when none is given.
pub const MAX_PER_PAGE: u64 = 150;
pub const DEFAULT_PER_PAGE: u64 = 50;
/// Filters or groups in one group.
pub const MAX_GROUP_LEN: usize = 15;
/// Groups nested inside the top-level group: two levels (a group in a group in the top group);
/// a group any deeper is refused.
pub const MAX_NESTING: usize = 2;

/// How search matches dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum DateMatch {
    /// By calendar day in the workspace's time zone: `=` the whole day, `>` from the start of the
    /// next day, `<` everything before the start of that day (the stable versions' docs).
    #[default]
    Day,
    /// By the exact second (the Preview docs).
    Second,
}

/// The search's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchSettings {
    pub dates: DateMatch,
    /// The workspace's time zone, seconds east of UTC: where its days begin.
    pub utc_offset_secs: i32,
    /// The newest contacts not in the search index yet ("a new contact may take a few minutes
    /// to appear"): listed by `GET /contacts`, not found by search.
    pub index_lag: u64,
}

impl Default for SearchSettings {
    /// Day matching in UTC-5: a workspace on the US east coast, so that a client that assumes
    /// UTC days is caught out.
    fn default() -> Self {
        SearchSettings { dates: DateMatch::Day, utc_offset_secs: -5 * 3_600, index_lag: 0 }
    }
}

/// Parses a time zone offset: `UTC`, `+05:30`, `-08:00`, `UTC-5`.
pub fn parse_utc_offset(text: &str) -> Result<i32, String> {
    let bad = || format!("time zone {text:?}: use UTC, +HH:MM or -HH:MM");
    let rest = text.trim().strip_prefix("UTC").unwrap_or(text.trim());
    if rest.is_empty() {
        return Ok(0);
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (hours, minutes) = digits.split_once(':').unwrap_or((digits, "0"));
    let (hours, minutes): (i32, i32) = (hours.parse().map_err(|_| bad())?, minutes.parse().map_err(|_| bad())?);
    if hours > 14 || minutes >= 60 {
        return Err(bad());
    }
    Ok(sign * (hours * 3_600 + minutes * 60))
}

/// Why a search body was refused: a 400 with this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid { code: "parameter_invalid", message: message.into() }
}

/// The fields search knows, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Id,
    Role,
    Email,
    CreatedAt,
    UpdatedAt,
    SignedUpAt,
    LastSeenAt,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "id" => Field::Id,
            "role" => Field::Role,
            "email" => Field::Email,
            "created_at" => Field::CreatedAt,
            "updated_at" => Field::UpdatedAt,
            "signed_up_at" => Field::SignedUpAt,
            "last_seen_at" => Field::LastSeenAt,
            _ => return None,
        })
    }

    fn is_date(self) -> bool {
        matches!(self, Field::CreatedAt | Field::UpdatedAt | Field::SignedUpAt | Field::LastSeenAt)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Eq,
    Ne,
    In,
    Nin,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "IN" => Op::In,
            "NIN" => Op::Nin,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "~" => Op::Contains,
            "!~" => Op::NotContains,
            "^" => Op::StartsWith,
            "$" => Op::EndsWith,
            _ => return None,
        })
    }
}

/// A half-open span of Unix seconds, `[from, to)`.
type Span = (i64, i64);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Query {
    /// A date filter, as the seconds it matches.
    Date {
        field: Field,
        span: Span,
    },
    Text {
        field: Field,
        op: Op,
        values: Vec<String>,
    },
    And(Vec<Query>),
    Or(Vec<Query>),
}

/// The sort search applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
}

/// A validated search: what matches, in which order, a page at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    query: Query,
    sort: SortField,
    ascending: bool,
    pub per_page: u64,
    /// The cursor of the page to serve, as sent.
    pub starting_after: Option<String>,
    /// A fingerprint of the query and sort: a cursor serves only the search it came from.
    fingerprint: u64,
}

impl SearchRequest {
    /// Identifies the search (query and sort), whatever page is asked for.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether the search's matches never change: it filters on nothing but `created_at` and the
    /// id, which no update moves. Its count can then be kept between pages.
    pub fn stable(&self) -> bool {
        fn stable(query: &Query) -> bool {
            match query {
                Query::Date { field, .. } => *field == Field::CreatedAt,
                Query::Text { field, .. } => *field == Field::Id,
                Query::And(parts) | Query::Or(parts) => parts.iter().all(stable),
            }
        }
        stable(&self.query)
    }

    /// Validates a request body.
    pub fn parse(body: &[u8], settings: &SearchSettings) -> Result<SearchRequest, Invalid> {
        let body: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
        let query = body.get("query").ok_or_else(|| invalid("query is required"))?;
        let query = parse_query(query, 0, settings)?;
        let pagination = body.get("pagination").unwrap_or(&Value::Null);
        let per_page = match pagination.get("per_page") {
            None | Some(Value::Null) => DEFAULT_PER_PAGE,
            Some(value) => match value.as_u64() {
                Some(n @ 1..=MAX_PER_PAGE) => n,
                _ => return Err(invalid(format!("per_page must be an integer from 1 to {MAX_PER_PAGE}"))),
            },
        };
        let starting_after = match pagination.get("starting_after") {
            None | Some(Value::Null) => None,
            Some(Value::String(cursor)) => Some(cursor.clone()),
            Some(_) => return Err(invalid("starting_after must be a string")),
        };
        let sort = body.get("sort").unwrap_or(&Value::Null);
        let field = match sort.get("field").and_then(Value::as_str) {
            None => SortField::UpdatedAt,
            Some("created_at") => SortField::CreatedAt,
            Some("updated_at") => SortField::UpdatedAt,
            Some(other) => return Err(invalid(format!("cannot sort by {other}"))),
        };
        let ascending = match sort.get("order").and_then(Value::as_str) {
            None => field == SortField::CreatedAt,
            Some("ascending") => true,
            Some("descending") => false,
            Some(other) => return Err(invalid(format!("sort order {other} is not ascending or descending"))),
        };
        // The search a cursor belongs to. `DefaultHasher::new` is unseeded: the same search hashes
        // the same in every request (and process) of one build.
        let fingerprint = std::hash::BuildHasher::hash_one(
            &std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(),
            (&query, field as u8, ascending),
        );
        Ok(SearchRequest { query, sort: field, ascending, per_page, starting_after, fingerprint })
    }
}

fn parse_query(value: &Value, depth: usize, settings: &SearchSettings) -> Result<Query, Invalid> {
    let operator = value.get("operator").and_then(Value::as_str).ok_or_else(|| invalid("every query needs an operator"))?;
    if let Some(field) = value.get("field") {
        let name = field.as_str().ok_or_else(|| invalid("field must be a string"))?;
        let field = Field::parse(name).ok_or_else(|| invalid(format!("{name} is not a searchable field")))?;
        let op = Op::parse(operator).ok_or_else(|| invalid(format!("unknown operator {operator}")))?;
        let value = value.get("value").ok_or_else(|| invalid(format!("the filter on {name} has no value")))?;
        return parse_filter(field, name, op, operator, value, settings);
    }
    let parts = value.get("value").and_then(Value::as_array).ok_or_else(|| invalid("a group's value must be an array"))?;
    if depth > MAX_NESTING {
        return Err(invalid(format!("queries may nest at most {MAX_NESTING} levels")));
    }
    if parts.is_empty() || parts.len() > MAX_GROUP_LEN {
        return Err(invalid(format!("a group holds 1 to {MAX_GROUP_LEN} filters")));
    }
    let parts = parts.iter().map(|p| parse_query(p, depth + 1, settings)).collect::<Result<Vec<_>, _>>()?;
    match operator {
        "AND" => Ok(Query::And(parts)),
        "OR" => Ok(Query::Or(parts)),
        other => Err(invalid(format!("a group's operator must be AND or OR, not {other}"))),
    }
}

fn parse_filter(
    field: Field,
    name: &str,
    op: Op,
    text: &str,
    value: &Value,
    settings: &SearchSettings,
) -> Result<Query, Invalid> {
    if field.is_date() {
        let wrong_op = || invalid(format!("operator {text} is not supported for date field {name}: use =, < or >"));
        let at = value.as_i64().ok_or_else(|| invalid(format!("{name} takes a Unix timestamp")))?;
        let span = match settings.dates {
            DateMatch::Second => match op {
                Op::Eq => (at, at + 1),
                Op::Gt => (at + 1, i64::MAX),
                Op::Lt => (i64::MIN, at),
                _ => return Err(wrong_op()),
            },
            DateMatch::Day => {
                let offset = i64::from(settings.utc_offset_secs);
                let day_start = (at + offset).div_euclid(86_400) * 86_400 - offset;
                match op {
                    Op::Eq => (day_start, day_start + 86_400),
                    Op::Gt => (day_start + 86_400, i64::MAX),
                    Op::Lt => (i64::MIN, day_start),
                    _ => return Err(wrong_op()),
                }
            }
        };
        return Ok(Query::Date { field, span });
    }
    if matches!(op, Op::Lt | Op::Gt | Op::Le | Op::Ge) {
        return Err(invalid(format!("operator {text} is not supported for string field {name}")));
    }
    let values = match (op, value) {
        (Op::In | Op::Nin, Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()
        }
        (Op::In | Op::Nin, _) => None,
        (_, Value::String(s)) => Some(vec![s.clone()]),
        _ => None,
    };
    let values = values.ok_or_else(|| invalid(format!("the value of the filter on {name} does not fit operator {text}")))?;
    Ok(Query::Text { field, op, values })
}

/// A set of contact indices as sorted, disjoint, half-open ranges.
type Ranges = Vec<(u64, u64)>;

fn intersect(a: &Ranges, b: &Ranges) -> Ranges {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo < hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

fn union(mut all: Ranges) -> Ranges {
    all.sort_unstable();
    let mut out: Ranges = Vec::new();
    for (lo, hi) in all {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ if lo < hi => out.push((lo, hi)),
            _ => {}
        }
    }
    out
}

/// A search over one workspace.
pub struct Search<'a> {
    ws: &'a Workspace,
    request: &'a SearchRequest,
    settings: SearchSettings,
    /// The count of this search, known from an earlier page (see [`SearchRequest::stable`]).
    known_total: Option<u64>,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// The contacts of this page, in order.
    pub indices: Vec<u64>,
    pub total_count: u64,
    /// The page's number (from 1) and how many there are.
    pub page: u64,
    pub total_pages: u64,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

impl<'a> Search<'a> {
    pub fn new(ws: &'a Workspace, request: &'a SearchRequest, settings: &SearchSettings) -> Search<'a> {
        Search { ws, request, settings: *settings, known_total: None }
    }

    /// The search's count is known already: pages past the first skip counting it.
    pub fn with_total(self, known_total: Option<u64>) -> Search<'a> {
        Search { known_total, ..self }
    }

    /// The first index whose `created_at` is at least `at` (`created_at` grows with the index).
    fn first_created_at_or_after(&self, at: i64) -> u64 {
        let (mut lo, mut hi) = (0, self.ws.contacts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.ws.created_at(mid) < at { lo = mid + 1 } else { hi = mid }
        }
        lo
    }

    /// Indices that may match `query`: exact for `created_at` filters and groups of them, all
    /// contacts for anything else (checked one by one afterwards).
    fn candidates(&self, query: &Query) -> Ranges {
        let all = || vec![(0, self.ws.contacts)];
        match query {
            Query::Date { field: Field::CreatedAt, span: (from, to) } => {
                let (lo, hi) = (self.first_created_at_or_after(*from), self.first_created_at_or_after(*to));
                if lo < hi { vec![(lo, hi)] } else { Vec::new() }
            }
            Query::Date { .. } | Query::Text { .. } => all(),
            Query::And(parts) => parts.iter().fold(all(), |acc, part| intersect(&acc, &self.candidates(part))),
            Query::Or(parts) => union(parts.iter().flat_map(|part| self.candidates(part)).collect()),
        }
    }

    fn matches(&self, query: &Query, i: u64) -> bool {
        match query {
            Query::Date { field, span: (from, to) } => {
                let at = match field {
                    Field::CreatedAt => Some(self.ws.created_at(i)),
                    Field::UpdatedAt => Some(self.ws.updated_at(i)),
                    Field::SignedUpAt => self.ws.signed_up_at(i),
                    _ => self.ws.last_seen_at(i),
                };
                at.is_some_and(|at| *from <= at && at < *to)
            }
            Query::Text { field, op, values } => {
                if let (Field::Id, Op::EndsWith) = (field, op) {
                    return self.ws.id_ends_with(i, &values[0]);
                }
                let text = match field {
                    Field::Id => Some(self.ws.contact_id(i)),
                    Field::Role => Some(if self.ws.role(i) == Role::User { "user" } else { "lead" }.to_string()),
                    _ => self.ws.contact(i).email,
                };
                let Some(text) = text else { return matches!(op, Op::Ne | Op::Nin | Op::NotContains) };
                let first = values[0].as_str();
                match op {
                    Op::Eq => text == first,
                    Op::Ne => text != first,
                    Op::In => values.contains(&text),
                    Op::Nin => !values.contains(&text),
                    Op::Contains => text.contains(first),
                    Op::NotContains => !text.contains(first),
                    Op::StartsWith => text.starts_with(first),
                    Op::EndsWith => text.ends_with(first),
                    Op::Lt | Op::Gt | Op::Le | Op::Ge => false,
                }
            }
            Query::And(parts) => parts.iter().all(|p| self.matches(p, i)),
            Query::Or(parts) => parts.iter().any(|p| self.matches(p, i)),
        }
    }

    /// What a candidate must still be checked against: the query without its `created_at`
    /// parts of a top-level AND (the candidates' ranges already hold them); `None` when nothing.
    fn residual(query: &Query) -> Option<Query> {
        match query {
            _ if Search::exact(query) => None,
            Query::And(parts) => {
                let rest: Vec<Query> = parts.iter().filter(|p| !Search::exact(p)).cloned().collect();
                Some(if rest.len() == 1 { rest.into_iter().next().expect("one") } else { Query::And(rest) })
            }
            other => Some(other.clone()),
        }
    }

    /// Whether every candidate matches: a query made of `created_at` filters alone.
    fn exact(query: &Query) -> bool {
        match query {
            Query::Date { field, .. } => *field == Field::CreatedAt,
            Query::Text { .. } => false,
            Query::And(parts) | Query::Or(parts) => parts.iter().all(Search::exact),
        }
    }

    /// The key a contact sorts by, ties broken by index.
    fn key(&self, i: u64) -> (i64, u64) {
        match self.request.sort {
            SortField::CreatedAt => (self.ws.created_at(i), i),
            SortField::UpdatedAt => (self.ws.updated_at(i), i),
        }
    }

    /// The page after the cursor (the first without one). A cursor that this search did not hand
    /// out, garbled or forged, is refused.
    pub fn page(&self) -> Result<SearchPage, Invalid> {
        let request = self.request;
        let after = match &request.starting_after {
            None => None,
            Some(cursor) => Some(
                decode(cursor, request.fingerprint)
                    .ok_or_else(|| Invalid { code: "client_error", message: "Invalid starting_after value".into() })?,
            ),
        };
        // The newest contacts are not indexed yet: search does not see them.
        let searchable = self.ws.contacts.saturating_sub(self.settings.index_lag);
        let ranges = intersect(&self.candidates(&request.query), &vec![(0, searchable)]);
        // Deleted and merged contacts are in no range: with gaps, every candidate is checked.
        let gaps = self.ws.has_gaps();
        let exact = Search::exact(&request.query) && !gaps;
        let residual = Search::residual(&request.query);
        let matching = |i: u64| self.ws.present(i) && residual.as_ref().is_none_or(|q| self.matches(q, i));
        let per_page = request.per_page as usize;
        let served_before = after.map_or(0, |(served, _)| served);
        // Keyset pagination: the page is the next `per_page` matches past the cursor's key, in
        // the sort's order (ties broken by index). Stateless, as Intercom's: a contact whose key
        // moves between pages can be skipped or served twice.
        let (indices, total) = if request.sort == SortField::CreatedAt {
            // Index order is created_at order: the page starts right past the cursor's index, so a
            // page costs its own records (and the candidates it skips), however deep it is.
            let total: u64 = match (exact, self.known_total) {
                (true, _) => ranges.iter().map(|(lo, hi)| hi - lo).sum(),
                (false, Some(total)) => total,
                (false, None) => ranges.iter().map(|&(lo, hi)| (lo..hi).filter(|&i| matching(i)).count() as u64).sum(),
            };
            let last = after.map(|(_, (_, index))| index);
            let ordered: Box<dyn Iterator<Item = u64>> = if request.ascending {
                let from = last.map_or(0, |i| i + 1);
                Box::new(ranges.iter().filter(move |r| r.1 > from).flat_map(move |&(lo, hi)| lo.max(from)..hi))
            } else {
                let below = last.unwrap_or(u64::MAX);
                Box::new(ranges.iter().rev().filter(move |r| r.0 < below).flat_map(move |&(lo, hi)| (lo..hi.min(below)).rev()))
            };
            (ordered.filter(|&i| matching(i)).take(per_page).collect::<Vec<u64>>(), total)
        } else {
            let past = |key: (i64, u64)| match after {
                None => true,
                Some((_, k)) if request.ascending => key > k,
                Some((_, k)) => key < k,
            };
            let mut matched: Vec<(i64, u64)> =
                ranges.iter().flat_map(|&(lo, hi)| lo..hi).filter(|&i| matching(i)).map(|i| self.key(i)).collect();
            let total = matched.len() as u64;
            matched.retain(|&key| past(key));
            if request.ascending {
                matched.sort_unstable()
            } else {
                matched.sort_unstable_by(|a, b| b.cmp(a))
            }
            matched.truncate(per_page);
            (matched.into_iter().map(|(_, i)| i).collect(), total)
        };
        let served = served_before + indices.len() as u64;
        let total_pages = total.div_ceil(request.per_page).max(1);
        let page = served_before / request.per_page + 1;
        let next = match indices.last() {
            Some(&last) if served < total => Some(encode(served, self.key(last), request.fingerprint)),
            _ => None,
        };
        Ok(SearchPage { indices, total_count: total, page, total_pages, next })
    }
}

/// A cursor: how many were served, the last key served, and a tag tying it to its search.
fn encode(served: u64, (at, index): (i64, u64), fingerprint: u64) -> String {
    let tag = mix64(fingerprint ^ served.rotate_left(17) ^ (at as u64).rotate_left(33) ^ index);
    let text = format!("s1:{served}:{at}:{index}:{tag:016x}");
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text)
}

fn decode(cursor: &str, fingerprint: u64) -> Option<(u64, (i64, u64))> {
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != "s1" {
        return None;
    }
    let served: u64 = parts.next()?.parse().ok()?;
    let at: i64 = parts.next()?.parse().ok()?;
    let index: u64 = parts.next()?.parse().ok()?;
    let tag = u64::from_str_radix(parts.next()?, 16).ok()?;
    let expected = mix64(fingerprint ^ served.rotate_left(17) ^ (at as u64).rotate_left(33) ^ index);
    (tag == expected && parts.next().is_none()).then_some((served, (at, index)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn request(body: serde_json::Value, settings: &SearchSettings) -> Result<SearchRequest, Invalid> {
        SearchRequest::parse(&serde_json::to_vec(&body).unwrap(), settings)
    }

    /// Every page of `body`'s search (sorted by `created_at` unless it says), its indices in
    /// order, checking the envelope on the way.
    fn walk(ws: &Workspace, mut body: serde_json::Value, settings: &SearchSettings) -> Vec<u64> {
        if body.get("sort").is_none() {
            body["sort"] = serde_json::json!({"field": "created_at", "order": "ascending"});
        }
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            let req = request(body.clone(), settings).unwrap();
            let page = Search::new(ws, &req, settings).page().unwrap();
            pages += 1;
            assert_eq!(page.page, pages, "pages are numbered from 1");
            all.extend(&page.indices);
            match page.next {
                Some(next) => body["pagination"] = serde_json::json!({"per_page": req.per_page, "starting_after": next}),
                None => {
                    assert_eq!(all.len() as u64, page.total_count, "every match served once");
                    assert_eq!(page.total_pages, page.total_count.div_ceil(req.per_page).max(1));
                    return all;
                }
            }
        }
    }

    /// The Airbyte form of a window: `[t, t2)` by seconds, `[day(t), day(t2))` by days.
    fn window(t: i64, t2: i64) -> serde_json::Value {
        serde_json::json!({"operator": "AND", "value": [
            {"operator": "OR", "value": [
                {"field": "created_at", "operator": "=", "value": t},
                {"field": "created_at", "operator": ">", "value": t}]},
            {"field": "created_at", "operator": "<", "value": t2}]})
    }

    #[test]
    fn refuses_what_intercom_refuses() {
        let settings = SearchSettings::default();
        let filter = |op: &str| serde_json::json!({"field": "created_at", "operator": op, "value": 1_500_000_000});
        for op in [">=", "<=", "!=", "IN", "~"] {
            let error = request(serde_json::json!({"query": filter(op)}), &settings).unwrap_err();
            assert!(error.message.contains("not supported for date field"), "{op}: {error:?}");
        }
        let group = |inner: serde_json::Value| serde_json::json!({"operator": "AND", "value": [inner]});
        let three_levels = group(group(group(filter("="))));
        assert!(
            request(serde_json::json!({"query": three_levels.clone()}), &settings).is_ok(),
            "two groups nested in the top one"
        );
        let deeper = serde_json::json!({"query": group(three_levels)});
        assert!(request(deeper, &settings).unwrap_err().message.contains("nest"));
        let wide = serde_json::json!({"operator": "OR", "value": vec![filter("="); 16]});
        assert!(request(serde_json::json!({"query": wide}), &settings).unwrap_err().message.contains("1 to 15"));
        let fifteen = serde_json::json!({"operator": "OR", "value": vec![filter("="); 15]});
        assert!(request(serde_json::json!({"query": fifteen}), &settings).is_ok());
        for per_page in [0, 151] {
            let body = serde_json::json!({"query": filter("="), "pagination": {"per_page": per_page}});
            assert!(request(body, &settings).unwrap_err().message.contains("per_page"), "{per_page}");
        }
        assert!(request(serde_json::json!({"pagination": {}}), &settings).unwrap_err().message.contains("query"));
        let unknown = serde_json::json!({"query": {"field": "shoe_size", "operator": "=", "value": "9"}});
        assert!(request(unknown, &settings).unwrap_err().message.contains("not a searchable field"));
    }

    #[test]
    fn days_begin_at_midnight_in_the_workspace_time_zone() {
        let ws = Workspace::new(5, 20_000);
        let settings = SearchSettings::default();
        let t = ws.created_at(9_000);
        let local_day = |at: i64| (at - 5 * 3_600).div_euclid(DAY);
        let body =
            serde_json::json!({"query": {"field": "created_at", "operator": "=", "value": t}, "pagination": {"per_page": 150}});
        let got = walk(&ws, body, &settings);
        let want: Vec<u64> = (0..ws.contacts).filter(|&i| local_day(ws.created_at(i)) == local_day(t)).collect();
        assert!(want.len() > 1_000, "a whole day: {}", want.len());
        assert!(got == want, "the day's {} contacts, got {}", want.len(), got.len());
        let after = serde_json::json!({"query": {"field": "created_at", "operator": ">", "value": t}});
        let got = walk(&ws, after, &settings);
        let want: Vec<u64> = (0..ws.contacts).filter(|&i| local_day(ws.created_at(i)) > local_day(t)).collect();
        assert!(got == want, "the {} contacts of the days after, got {}", want.len(), got.len());
    }

    #[test]
    fn a_chain_of_windows_covers_the_workspace_exactly_under_days_and_seconds() {
        let ws = Workspace::new(6, 30_000);
        let start = ws.created_at(0);
        let cuts: Vec<i64> = (0..=8).map(|k| start + k * 4 * 3_600 + 1_234).collect();
        for settings in [
            SearchSettings { dates: DateMatch::Second, utc_offset_secs: 0, index_lag: 0 },
            SearchSettings { dates: DateMatch::Day, utc_offset_secs: 5 * 3_600 + 1_800, index_lag: 0 },
            SearchSettings::default(),
        ] {
            let mut seen = Vec::new();
            // The first window open below, the last open above, so that the chain covers everything.
            seen.extend(walk(
                &ws,
                serde_json::json!({"query": {"field": "created_at", "operator": "<", "value": cuts[0]}}),
                &settings,
            ));
            for pair in cuts.windows(2) {
                seen.extend(walk(&ws, serde_json::json!({"query": window(pair[0], pair[1])}), &settings));
            }
            let last = cuts[cuts.len() - 1];
            let tail = serde_json::json!({"operator": "OR", "value": [
                {"field": "created_at", "operator": "=", "value": last},
                {"field": "created_at", "operator": ">", "value": last}]});
            seen.extend(walk(&ws, serde_json::json!({"query": tail}), &settings));
            assert!(
                seen == (0..ws.contacts).collect::<Vec<_>>(),
                "{settings:?}: every contact once, in order; got {}",
                seen.len()
            );
        }
    }

    #[test]
    fn other_fields_and_sorts_are_filtered_one_by_one() {
        let ws = Workspace::new(7, 3_000);
        let settings = SearchSettings { dates: DateMatch::Second, utc_offset_secs: 0, index_lag: 0 };
        let (t, t2) = (ws.created_at(500), ws.created_at(2_500));
        let query = serde_json::json!({"operator": "AND", "value": [
            {"field": "role", "operator": "=", "value": "lead"}, window(t, t2)]});
        let body = serde_json::json!({"query": query, "sort": {"field": "updated_at", "order": "descending"}, "pagination": {"per_page": 70}});
        let got = walk(&ws, body, &settings);
        let mut want: Vec<u64> = (500..2_500).filter(|&i| ws.role(i) == Role::Lead).collect();
        want.sort_by_key(|&i| std::cmp::Reverse((ws.updated_at(i), i)));
        assert!(got == want, "{} leads by updated_at, descending; got {}", want.len(), got.len());
    }

    #[test]
    fn a_window_walks_newest_first_too() {
        let ws = Workspace::new(9, 5_000);
        let settings = SearchSettings { dates: DateMatch::Second, utc_offset_secs: 0, index_lag: 0 };
        let body = serde_json::json!({"query": window(ws.created_at(1_000), ws.created_at(4_000)),
            "sort": {"field": "created_at", "order": "descending"}, "pagination": {"per_page": 150}});
        let got = walk(&ws, body, &settings);
        assert!(got == (1_000..4_000).rev().collect::<Vec<u64>>(), "3,000 contacts newest first; got {}", got.len());
    }

    #[test]
    fn a_cursor_serves_only_its_own_search_and_a_forged_one_is_refused() {
        let ws = Workspace::new(8, 1_000);
        let settings = SearchSettings::default();
        let first = request(
            serde_json::json!({"query": window(ws.created_at(0), ws.created_at(999)), "pagination": {"per_page": 10}}),
            &settings,
        )
        .unwrap();
        let next = Search::new(&ws, &first, &settings).page().unwrap().next.unwrap();
        let other = serde_json::json!({"query": {"field": "role", "operator": "=", "value": "user"},
            "pagination": {"per_page": 10, "starting_after": next}});
        let error = Search::new(&ws, &request(other, &settings).unwrap(), &settings).page().unwrap_err();
        assert_eq!(error.code, "client_error");
        let forged =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "s1:10:1500000000:10:0123456789abcdef");
        for cursor in [forged.as_str(), "not-a-cursor", ""] {
            let body = serde_json::json!({"query": window(ws.created_at(0), ws.created_at(999)), "pagination": {"starting_after": cursor}});
            assert!(Search::new(&ws, &request(body, &settings).unwrap(), &settings).page().is_err(), "{cursor}");
        }
    }

    #[test]
    fn time_zones_parse() {
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert_eq!(parse_utc_offset("+05:30"), Ok(19_800));
        assert_eq!(parse_utc_offset("UTC-5"), Ok(-18_000));
        assert!(parse_utc_offset("Mars/Olympus").is_err());
    }

    #[test]
    fn a_skewed_day_splits_exactly_on_id_suffixes_and_unindexed_contacts_are_not_found() {
        let ws = Workspace::new(10, 20_000).with_import(60);
        let settings = SearchSettings { index_lag: 500, ..SearchSettings::default() };
        let (t, t2) = (ws.created_at(0), ws.created_at(ws.contacts - 1) + 1);
        let mut seen = Vec::new();
        for digit in "0123456789abcdef".chars() {
            let query = serde_json::json!({"operator": "AND", "value": [
                window(t, t2), {"field": "id", "operator": "$", "value": digit.to_string()}]});
            let part = walk(&ws, serde_json::json!({"query": query, "pagination": {"per_page": 150}}), &settings);
            assert!(part.windows(2).all(|p| p[0] < p[1]), "in creation order");
            seen.extend(part);
        }
        seen.sort_unstable();
        let day = |at: i64| (at - 5 * 3_600).div_euclid(DAY);
        let want: Vec<u64> = (0..ws.contacts - 500).filter(|&i| day(ws.created_at(i)) < day(t2)).collect();
        assert!(seen == want, "every indexed contact of the window once: {} of {}", seen.len(), want.len());
    }
}
