//! The simulator's v1 page lists (`GET /users`, and `GET /contacts` for leads under 1.x): which
//! records a page holds under `sort`, `order`, `created_since`, `email` and `phone`, and the
//! 10,000-record cap of deep paging.
//!
//! Sorted index lists are built on first use and cached: a workspace of millions sorts once,
//! not once a page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::generator::{Role, Workspace};

/// What `per_page` is when not sent, and the most it may be.
pub const DEFAULT_PER_PAGE_V1: u64 = 50;
pub const MAX_PER_PAGE_V1: u64 = 60;
/// The most records paging can reach.
pub const DEFAULT_PAGE_CAP: u64 = 10_000;

/// What a page past the cap answers: Intercom's behaviour there is unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PastCap {
    /// 400 `parameter_invalid`.
    #[default]
    Error,
    /// 200 with no records and no next page.
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sort {
    #[default]
    CreatedAt,
    LastRequestAt,
    SignedUpAt,
    UpdatedAt,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Sort> {
        Some(match text {
            "created_at" => Sort::CreatedAt,
            "last_request_at" => Sort::LastRequestAt,
            "signed_up_at" => Sort::SignedUpAt,
            "updated_at" => Sort::UpdatedAt,
            _ => return None,
        })
    }

    /// The sort key of record `i`; a missing value sorts before every present one.
    pub fn key(self, ws: &Workspace, i: u64) -> i64 {
        match self {
            Sort::CreatedAt => ws.created_at(i),
            Sort::LastRequestAt => ws.last_seen_at(i).unwrap_or(i64::MIN),
            Sort::SignedUpAt => ws.signed_up_at(i).unwrap_or(i64::MIN),
            Sort::UpdatedAt => ws.updated_at(i),
        }
    }
}

/// One page-list request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub role: Role,
    pub page: u64,
    pub per_page: u64,
    pub sort: Sort,
    pub descending: bool,
    pub created_since_days: Option<u64>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl ListQuery {
    pub fn new(role: Role) -> ListQuery {
        ListQuery {
            role,
            page: 1,
            per_page: DEFAULT_PER_PAGE_V1,
            sort: Sort::CreatedAt,
            descending: true,
            created_since_days: None,
            email: None,
            phone: None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ListAnswer {
    Page { indices: Vec<u64>, total_count: u64, total_pages: u64, has_next: bool },
    PastCap { cap: u64 },
}

/// Which records a list without `email` or `phone` holds: role, sort, `created_since`.
type ListKey = (Role, Sort, Option<u64>);

pub struct PageLists {
    cap: u64,
    past_cap: PastCap,
    sorted: Mutex<HashMap<ListKey, Arc<Vec<u32>>>>,
}

impl PageLists {
    pub fn new(cap: u64, past_cap: PastCap) -> PageLists {
        PageLists { cap, past_cap, sorted: Mutex::new(HashMap::new()) }
    }

    pub fn answer(&self, ws: &Workspace, query: &ListQuery) -> ListAnswer {
        let matching = self.matching(ws, query);
        let total = matching.len() as u64;
        let per_page = query.per_page.clamp(1, MAX_PER_PAGE_V1);
        let total_pages = total.div_ceil(per_page);
        let reachable = total.min(self.cap);
        let offset = query.page.max(1).saturating_sub(1).saturating_mul(per_page);
        if offset >= self.cap && offset < total && self.past_cap == PastCap::Error {
            return ListAnswer::PastCap { cap: self.cap };
        }
        let end = (offset + per_page).min(reachable);
        let at = |k: u64| {
            let k = if query.descending { total - 1 - k } else { k } as usize;
            u64::from(matching[k])
        };
        let indices = (offset..end.max(offset)).map(at).collect();
        ListAnswer::Page { indices, total_count: total, total_pages, has_next: offset + per_page < reachable }
    }

    /// The records the query's filters select, in ascending sort order.
    fn matching(&self, ws: &Workspace, query: &ListQuery) -> Arc<Vec<u32>> {
        let belongs = |i: u64| ws.present(i) && ws.role(i) == query.role && self.created_since(ws, query, i);
        if let Some(email) = &query.email {
            let found = Workspace::index_of_email(email).filter(|&i| belongs(i) && ws.contact(i).email.as_ref() == Some(email));
            return Arc::new(found.map(|i| i as u32).into_iter().collect());
        }
        if let Some(phone) = &query.phone {
            let found = Workspace::index_of_phone(phone).filter(|&i| belongs(i) && ws.phone(i).as_ref() == Some(phone));
            return Arc::new(found.map(|i| i as u32).into_iter().collect());
        }
        let key = (query.role, query.sort, query.created_since_days);
        if let Some(list) = self.sorted.lock().expect("never poisoned").get(&key) {
            return list.clone();
        }
        let mut list: Vec<u32> = (0..ws.contacts).filter(|&i| belongs(i)).map(|i| i as u32).collect();
        if query.sort != Sort::CreatedAt {
            list.sort_by_cached_key(|&i| (query.sort.key(ws, u64::from(i)), i));
        }
        let list = Arc::new(list);
        let mut cache = self.sorted.lock().expect("never poisoned");
        if cache.len() >= 16 {
            cache.clear();
        }
        cache.insert(key, list.clone());
        list
    }

    fn created_since(&self, ws: &Workspace, query: &ListQuery, i: u64) -> bool {
        query.created_since_days.is_none_or(|days| ws.created_at(i) >= ws.now() - days as i64 * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(answer: ListAnswer) -> (Vec<u64>, u64, bool) {
        match answer {
            ListAnswer::Page { indices, total_count, has_next, .. } => (indices, total_count, has_next),
            other => panic!("expected a page, got {other:?}"),
        }
    }

    #[test]
    fn pages_cover_every_lead_newest_first() {
        let ws = Workspace::new(8, 700);
        let lists = PageLists::new(DEFAULT_PAGE_CAP, PastCap::Error);
        let mut all = Vec::new();
        let mut query = ListQuery::new(Role::Lead);
        loop {
            let (indices, total, has_next) = page(lists.answer(&ws, &query));
            all.extend(indices);
            assert_eq!(total as usize, (0..700).filter(|&i| ws.role(i) == Role::Lead).count());
            if !has_next {
                break;
            }
            query.page += 1;
        }
        let mut expected: Vec<u64> = (0..700).filter(|&i| ws.role(i) == Role::Lead).collect();
        expected.reverse();
        assert_eq!(all, expected);
    }

    #[test]
    fn sorts_and_filters() {
        let ws = Workspace::new(8, 2_000);
        let lists = PageLists::new(DEFAULT_PAGE_CAP, PastCap::Error);
        let query = ListQuery { sort: Sort::UpdatedAt, descending: false, per_page: 60, ..ListQuery::new(Role::User) };
        let (indices, _, _) = page(lists.answer(&ws, &query));
        assert!(indices.windows(2).all(|w| ws.updated_at(w[0]) <= ws.updated_at(w[1])));

        let query = ListQuery { created_since_days: Some(3), ..ListQuery::new(Role::User) };
        let (indices, total, _) = page(lists.answer(&ws, &query));
        let expected = (0..2_000).filter(|&i| ws.role(i) == Role::User && ws.created_at(i) >= ws.now() - 3 * 86_400).count();
        assert_eq!(total as usize, expected);
        assert!(indices.iter().all(|&i| ws.created_at(i) >= ws.now() - 3 * 86_400));

        let user = (0..2_000).find(|&i| ws.role(i) == Role::User && ws.phone(i).is_some()).unwrap();
        let query = ListQuery { email: ws.contact(user).email, ..ListQuery::new(Role::User) };
        assert_eq!(page(lists.answer(&ws, &query)).0, vec![user]);
        let query = ListQuery { phone: ws.phone(user), ..ListQuery::new(Role::User) };
        assert_eq!(page(lists.answer(&ws, &query)).0, vec![user]);
        let query = ListQuery { phone: ws.phone(user), ..ListQuery::new(Role::Lead) };
        assert_eq!(page(lists.answer(&ws, &query)).1, 0, "a user is not a lead");
    }

    #[test]
    fn paging_stops_at_the_cap() {
        let ws = Workspace::new(8, 1_000);
        for past_cap in [PastCap::Error, PastCap::Empty] {
            let lists = PageLists::new(120, past_cap);
            let query = |page| ListQuery { page, per_page: 60, ..ListQuery::new(Role::User) };
            let (indices, total, has_next) = page(lists.answer(&ws, &query(2)));
            assert!(total > 120);
            assert_eq!((indices.len(), has_next), (60, false));
            match lists.answer(&ws, &query(3)) {
                ListAnswer::PastCap { cap } => assert_eq!((cap, past_cap), (120, PastCap::Error)),
                ListAnswer::Page { indices, .. } => assert!(indices.is_empty() && past_cap == PastCap::Empty),
            }
        }
    }
}
