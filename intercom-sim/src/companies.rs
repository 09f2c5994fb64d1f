//! The simulator's companies (API 2.x): company `k` as a pure function of `(seed, k)` like a
//! contact; which companies each contact belongs to (drawn from a stream of the contact's own,
//! so the links are known without generating whole contacts); the index built once from those
//! links (each company's `user_count`, and the page list's order); and the page list
//! `GET /companies` (sorted by `last_request_at`, companies without users left out, capped like
//! every page list). The companies scroll is [`crate::scroll`]'s, with a lock of its own.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::generator::{CustomAttributes, CustomValue, Rng, Salt, Workspace, mix64};
use crate::page_list::{ListAnswer, PastCap};
use crate::scroll::{RESTART_MESSAGE, ScrollAnswer, Scrolled};
use crate::server::{Admitted, SimError, SimState, admit, json_response};

/// What `per_page` is when not sent, and the most it may be.
pub const DEFAULT_PER_PAGE: u64 = 15;
pub const MAX_PER_PAGE: u64 = 60;

/// The company custom attributes `GET /data_attributes?model=company` declares, with their types.
pub const COMPANY_ATTRIBUTES: &[(&str, &str)] =
    &[("tier", "string"), ("seats", "integer"), ("arr", "float"), ("churned", "boolean"), ("renewal_at", "date")];

/// The contact (by index) that belongs to [`CROWDED_COMPANIES`] companies: past the ten a
/// contact's inline list shows, so the complete list takes `GET /contacts/{id}/companies`.
pub const CROWDED_CONTACT: u64 = 1;
pub const CROWDED_COMPANIES: u64 = 25;

/// Seconds between consecutive companies' creation, so `created_at` grows with the index.
const COMPANY_STEP: i64 = 613;
const COMPANY_EPOCH: i64 = 1_499_000_000;

/// A company as `GET /companies/scroll` and `GET /companies` serve it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Company {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub company_id: String,
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub remote_created_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_request_at: Option<i64>,
    pub monthly_spend: f64,
    pub session_count: i64,
    pub user_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    pub tags: NamedList<CompanyTag>,
    pub segments: NamedList<CompanySegment>,
    /// `{}` when the company has no plan, as Intercom sends it.
    pub plan: Plan,
    pub custom_attributes: CustomAttributes,
}

/// `{type: "tag.list", tags: [...]}` and the like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedList<T> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub items: std::collections::BTreeMap<&'static str, Vec<T>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanyTag {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanySegment {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Plan {
    Some {
        #[serde(rename = "type")]
        kind: &'static str,
        id: String,
        name: &'static str,
    },
    None {},
}

const INDUSTRIES: [&str; 6] = ["Software", "Retail", "Finance", "Health", "Education", "Logistics"];
const PLANS: [&str; 3] = ["Starter", "Pro", "Enterprise"];
const NAME_PARTS: [&str; 8] = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"];

impl Workspace {
    /// The id of company `k`: 24 hex digits, unique for every `k` of a seed.
    pub fn company_id(&self, k: u64) -> String {
        let unique = mix64(k ^ self.seed.rotate_left(29) ^ 0xc0c0_a11e);
        format!("{:08x}{unique:016x}", self.company_created_at(k) as u32)
    }

    pub fn company_created_at(&self, k: u64) -> i64 {
        COMPANY_EPOCH + k as i64 * COMPANY_STEP
    }

    /// Whether company `k` can have contacts: every eighth has none (the page list leaves those
    /// out, the scroll does not).
    pub fn company_takes_contacts(&self, k: u64) -> bool {
        k % 8 != 7
    }

    /// The companies contact `i` belongs to, in the order its lists give them: most have a few,
    /// those with long lists eleven to fifteen, [`CROWDED_CONTACT`] has 25.
    pub fn contact_companies(&self, i: u64) -> Vec<u64> {
        let takers = self.companies - self.companies / 8;
        if takers == 0 {
            return Vec::new();
        }
        let mut rng = self.stream(i, Salt::Companies);
        let wanted = if i == CROWDED_CONTACT {
            CROWDED_COMPANIES
        } else if self.has_long_lists(i) {
            11 + rng.below(5)
        } else {
            rng.below(4)
        };
        // The m-th company that takes contacts: seven of every eight.
        crate::relations::distinct(&mut rng, takers, wanted, |m| m / 7 * 8 + m % 7)
    }

    /// When company `k` was last seen, if ever.
    pub fn company_last_request_at(&self, k: u64) -> Option<i64> {
        let mut rng = self.stream(k, Salt::CompanySeen);
        rng.chance(85).then(|| self.company_created_at(k) + rng.below(500 * 86_400) as i64)
    }

    /// Company `k`, with its `user_count` (what the [`CompanyIndex`] counted).
    pub fn company(&self, k: u64, user_count: u64) -> Company {
        let id = self.company_id(k);
        let created_at = self.company_created_at(k);
        let last_request_at = self.company_last_request_at(k);
        let mut rng = self.stream(k, Salt::Company);
        let name = format!("{} {}", NAME_PARTS[rng.below(NAME_PARTS.len() as u64) as usize], k);
        let wanted = rng.below(3);
        let tags = crate::relations::distinct(&mut rng, crate::generator::TAG_NAMES.len() as u64, wanted, |t| t)
            .into_iter()
            .map(|t| {
                let (id, name) = self.tag(t);
                CompanyTag { kind: "tag", id, name }
            })
            .collect();
        let segments = (0..rng.below(2)).map(|s| CompanySegment { kind: "segment", id: self.segment_id(s) }).collect();
        let plan = if rng.chance(60) {
            let p = rng.below(PLANS.len() as u64);
            Plan::Some { kind: "plan", id: (1_000 + p).to_string(), name: PLANS[p as usize] }
        } else {
            Plan::None {}
        };
        Company {
            kind: "company",
            company_id: format!("cmp-{id}"),
            app_id: self.workspace_id(),
            name,
            remote_created_at: rng.chance(70).then(|| created_at - rng.below(400 * 86_400) as i64),
            created_at,
            updated_at: created_at + rng.below(90 * 86_400) as i64,
            last_request_at,
            monthly_spend: rng.below(1_000_000) as f64 / 100.0,
            session_count: rng.below(5_000) as i64,
            user_count,
            size: rng.chance(60).then(|| 1 + rng.below(5_000) as i64),
            website: rng.chance(50).then(|| format!("https://company-{k}.example.com")),
            industry: rng.chance(50).then(|| INDUSTRIES[rng.below(INDUSTRIES.len() as u64) as usize].to_string()),
            tags: NamedList { kind: "tag.list", items: [("tags", tags)].into() },
            segments: NamedList { kind: "segment.list", items: [("segments", segments)].into() },
            plan,
            custom_attributes: company_attributes(&mut rng, created_at),
            id,
        }
    }
}

fn company_attributes(rng: &mut Rng, created_at: i64) -> CustomAttributes {
    let mut attrs = Vec::new();
    if rng.chance(80) {
        attrs.push(("tier", CustomValue::Text(["bronze", "silver", "gold"][rng.below(3) as usize].to_string())));
    }
    if rng.chance(60) {
        attrs.push(("seats", CustomValue::Integer(1 + rng.below(2_000) as i64)));
    }
    if rng.chance(50) {
        attrs.push(("arr", CustomValue::Float(rng.below(10_000_000) as f64 / 100.0)));
    }
    if rng.chance(70) {
        attrs.push(("churned", CustomValue::Boolean(rng.chance(10))));
    }
    if rng.chance(40) {
        attrs.push(("renewal_at", CustomValue::Date(created_at + 365 * 86_400)));
    }
    CustomAttributes(attrs)
}

/// What the companies' answers need from every contact: each company's `user_count`, and the
/// page list's order. Built once, on the first companies request (a pass over the contacts'
/// company links, about 0.1 s a million contacts).
pub struct CompanyIndex {
    user_counts: Vec<u32>,
    /// Companies with users, most recently seen first (never seen last), as the page list
    /// orders them by default.
    by_last_request: Vec<u32>,
}

impl CompanyIndex {
    pub fn build(ws: &Workspace) -> CompanyIndex {
        let mut user_counts = vec![0u32; ws.companies as usize];
        for i in (0..ws.contacts).filter(|&i| ws.present(i)) {
            for k in ws.contact_companies(i) {
                user_counts[k as usize] += 1;
            }
        }
        let mut by_last_request: Vec<u32> = (0..ws.companies as u32).filter(|&k| user_counts[k as usize] > 0).collect();
        by_last_request.sort_by_key(|&k| (std::cmp::Reverse(ws.company_last_request_at(u64::from(k))), k));
        CompanyIndex { user_counts, by_last_request }
    }

    pub fn user_count(&self, k: u64) -> u64 {
        self.user_counts.get(k as usize).map_or(0, |&n| u64::from(n))
    }

    /// Companies with at least one contact: what the page list counts.
    pub fn listed(&self) -> u64 {
        self.by_last_request.len() as u64
    }

    /// Page `page` (from 1) of `GET /companies`, newest `last_request_at` first unless
    /// `ascending`, reaching at most `cap` companies.
    pub fn page(&self, page: u64, per_page: u64, ascending: bool, cap: u64, past_cap: PastCap) -> ListAnswer {
        let total = self.listed();
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let total_pages = total.div_ceil(per_page);
        let reachable = total.min(cap);
        let offset = page.max(1).saturating_sub(1).saturating_mul(per_page);
        if offset >= cap && offset < total && past_cap == PastCap::Error {
            return ListAnswer::PastCap { cap };
        }
        let end = (offset + per_page).min(reachable);
        let at = |n: u64| {
            let n = if ascending { total - 1 - n } else { n };
            u64::from(self.by_last_request[n as usize])
        };
        let indices = (offset..end.max(offset)).map(at).collect();
        ListAnswer::Page { indices, total_count: total, total_pages, has_next: end < reachable }
    }
}

/// `GET /companies/scroll`: every company, 100 a page, through the companies' own lock; the
/// end is a page with empty `data`, `pages` and `total_count` null.
pub(crate) async fn scroll_companies(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let param = params.get("scroll_param").map(String::as_str);
    let ws = state.workspace();
    let refuse = |status, code, message: &str| SimError::new(status, code, message).with_rate(rate);
    match state.company_scrolls.request(&ws, Scrolled::Companies, param, std::time::Instant::now()) {
        ScrollAnswer::Exists => Err(refuse(StatusCode::BAD_REQUEST, "scroll_exists", "scroll already exists for this app")),
        ScrollAnswer::NotFound => Err(refuse(StatusCode::NOT_FOUND, "not_found", "scroll parameter not found")),
        ScrollAnswer::Restart => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "server_error", RESTART_MESSAGE)),
        ScrollAnswer::Page { indices, scroll_param } => {
            let mut body = br#"{"type":"list","data":"#.to_vec();
            write_companies(&state, &ws, indices, &mut body);
            body.extend_from_slice(br#","pages":null,"total_count":null,"scroll_param":"#);
            serde_json::to_writer(&mut body, &scroll_param).expect("writing JSON to a Vec cannot fail");
            body.push(b'}');
            Ok(json_response(StatusCode::OK, body, Some(rate)))
        }
    }
}

/// `GET /companies?page=&per_page=&order=` (and `POST /companies/list`, the same in the
/// current docs): the page list, 15 a page unless told, companies with users only, at most the
/// page cap.
pub(crate) async fn list_companies(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let invalid = |message: String| SimError::new(StatusCode::BAD_REQUEST, "parameter_invalid", message).with_rate(rate);
    let (page, per_page) = crate::server::paging(&params, DEFAULT_PER_PAGE, MAX_PER_PAGE, rate)?;
    let ascending = match params.get("order").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            let message = format!("order {other:?} is not asc or desc");
            return Err(SimError::new(StatusCode::BAD_REQUEST, "invalid_sort_order", message).with_rate(rate));
        }
    };
    let ws = state.workspace();
    let config = state.config();
    let (indices, total_count, total_pages, has_next) =
        match state.company_index.get(&ws).page(page, per_page, ascending, config.page_cap, config.past_cap) {
            ListAnswer::PastCap { cap } => {
                return Err(invalid(format!("at most {cap} companies can be reached by paging: use the scroll API")));
            }
            ListAnswer::Page { indices, total_count, total_pages, has_next } => (indices, total_count, total_pages, has_next),
        };
    let next = has_next.then(|| crate::server::next_page_url(&headers, "/companies", &params, page + 1));
    let mut body = format!(r#"{{"type":"list","total_count":{total_count},"data":"#).into_bytes();
    write_companies(&state, &ws, indices, &mut body);
    let pages =
        serde_json::json!({"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages});
    body.extend_from_slice(br#","pages":"#);
    serde_json::to_writer(&mut body, &pages).expect("writing JSON to a Vec cannot fail");
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// A JSON array of the companies at `indices`.
fn write_companies(state: &SimState, ws: &Workspace, indices: Vec<u64>, out: &mut Vec<u8>) {
    let index = state.company_index.get(ws);
    out.push(b'[');
    for (n, k) in indices.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &ws.company(k, index.user_count(k))).expect("writing JSON to a Vec cannot fail");
    }
    out.push(b']');
}

/// A [`CompanyIndex`] built on first use.
#[derive(Default)]
pub struct LazyCompanyIndex(OnceLock<CompanyIndex>);

impl LazyCompanyIndex {
    pub fn get(&self, ws: &Workspace) -> &CompanyIndex {
        self.0.get_or_init(|| CompanyIndex::build(ws))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_point_at_companies_that_take_contacts_and_the_counts_add_up() {
        let ws = Workspace::new(3, 4_000);
        assert_eq!(ws.companies, 200);
        let index = CompanyIndex::build(&ws);
        let mut links = 0;
        for i in 0..ws.contacts {
            let companies = ws.contact_companies(i);
            let mut distinct = companies.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), companies.len(), "contact {i} lists a company twice");
            assert!(companies.iter().all(|&k| k < ws.companies && ws.company_takes_contacts(k)));
            links += companies.len() as u64;
        }
        assert_eq!((0..ws.companies).map(|k| index.user_count(k)).sum::<u64>(), links);
        assert_eq!(ws.contact_companies(CROWDED_CONTACT).len() as u64, CROWDED_COMPANIES);
        let list = ws.companies_list(CROWDED_CONTACT, &ws.contact_id(CROWDED_CONTACT));
        assert_eq!((list.data.len(), list.total_count, list.has_more), (10, 25, true));
        assert!(index.listed() < ws.companies, "companies without contacts are left out of the page list");
    }

    #[test]
    fn the_page_list_walks_companies_with_users_by_last_request_and_stops_at_the_cap() {
        let ws = Workspace::new(4, 2_000).with_companies(300);
        let index = CompanyIndex::build(&ws);
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let ListAnswer::Page { indices, has_next, total_count, .. } = index.page(page, 60, false, 10_000, PastCap::Error)
            else {
                panic!("under the cap")
            };
            assert_eq!(total_count, index.listed());
            seen.extend(indices);
            if !has_next {
                break;
            }
            page += 1;
        }
        assert_eq!(seen.len() as u64, index.listed());
        let seen_at: Vec<_> = seen.iter().map(|&k| ws.company_last_request_at(k)).collect();
        assert!(seen_at.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert_eq!(index.page(3, 60, false, 100, PastCap::Error), ListAnswer::PastCap { cap: 100 });
    }

    #[test]
    fn a_company_serialises_as_intercom_sends_it() {
        let ws = Workspace::new(5, 100);
        let json = serde_json::to_value(ws.company(0, 7)).unwrap();
        assert_eq!(json["type"], "company");
        assert_eq!(json["id"].as_str().unwrap().len(), 24);
        assert_eq!(json["user_count"], 7);
        assert_eq!(json["tags"]["type"], "tag.list");
        assert!(json["tags"]["tags"].is_array());
        assert!(json["segments"]["segments"].is_array());
        assert!(json["plan"].is_object());
        assert!(json["custom_attributes"].is_object());
    }
}
