//! A contact's complete relation lists: which tags and companies each contact has (drawn from
//! streams of the contact's own, so they are known without generating whole contacts), the
//! inline lists a contact carries (the first ten, with `has_more`), and the endpoints that give
//! the rest: `GET /contacts/{id}/tags` (the whole list) and `GET /contacts/{id}/companies`
//! (paged).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::companies::CROWDED_CONTACT;
use crate::generator::{Addressable, AddressableList, Rng, Salt, Workspace};
use crate::server::{Admitted, SimError, SimState, admit, json_response};

/// Tags the workspace has (`GET /tags`).
pub const TAGS: u64 = 48;
/// Tags [`CROWDED_CONTACT`] has: past the ten an inline list shows.
pub const CROWDED_TAGS: u64 = 40;
/// What `GET /contacts/{id}/companies` serves a page unless told, and the most.
pub const DEFAULT_COMPANIES_PER_PAGE: u64 = 50;
pub const MAX_COMPANIES_PER_PAGE: u64 = 150;

/// `wanted` distinct draws from `0..choices`, mapped by `pick`, in the order drawn.
pub(crate) fn distinct(rng: &mut Rng, choices: u64, wanted: u64, pick: impl Fn(u64) -> u64) -> Vec<u64> {
    let wanted = wanted.min(choices);
    let mut picked: Vec<u64> = Vec::with_capacity(wanted as usize);
    while (picked.len() as u64) < wanted {
        let k = pick(rng.below(choices));
        if !picked.contains(&k) {
            picked.push(k);
        }
    }
    picked
}

/// The inline form of a complete list: the first ten, the total, and whether there are more.
pub(crate) fn inline_list(contact_id: &str, path: &str, kind: &'static str, ids: Vec<String>) -> AddressableList {
    let total = ids.len();
    let data = ids.into_iter().take(10).map(|id| Addressable { kind, url: format!("/{path}/{id}"), id }).collect();
    AddressableList {
        kind: "list",
        data,
        url: format!("/contacts/{contact_id}/{path}"),
        total_count: total as i64,
        has_more: total > 10,
    }
}

impl Workspace {
    /// The tags contact `i` has (indices into the workspace's [`TAGS`]), in the order listed:
    /// most a few, those with long lists eleven to twenty, [`CROWDED_CONTACT`] forty.
    pub fn contact_tags(&self, i: u64) -> Vec<u64> {
        let mut rng = self.stream(i, Salt::Tags);
        let wanted = if i == CROWDED_CONTACT {
            CROWDED_TAGS
        } else if self.has_long_lists(i) {
            11 + rng.below(10)
        } else {
            rng.below(8)
        };
        distinct(&mut rng, TAGS, wanted, |k| k)
    }

    /// Whether contact `i`'s tags and companies run past ten: [`Self::long_lists_percent`] of
    /// the contacts, drawn from a stream of their own so the lists' draws stay as they were.
    pub fn has_long_lists(&self, i: u64) -> bool {
        i != CROWDED_CONTACT && self.stream(i, Salt::LongLists).chance(u64::from(self.long_lists_percent))
    }

    pub(crate) fn tags_list(&self, i: u64, contact_id: &str) -> AddressableList {
        inline_list(contact_id, "tags", "tag", self.contact_tags(i).into_iter().map(|k| self.tag(k).0).collect())
    }

    /// Contact `i`'s inline `companies` list.
    pub(crate) fn companies_list(&self, i: u64, contact_id: &str) -> AddressableList {
        inline_list(
            contact_id,
            "companies",
            "company",
            self.contact_companies(i).into_iter().map(|k| self.company_id(k)).collect(),
        )
    }
}

/// The contact a path's id names, or the 404 Intercom answers.
fn contact_index(state: &SimState, id: &str, rate: crate::rate::RateVerdict) -> Result<u64, SimError> {
    state
        .workspace()
        .index_of_id(id)
        .ok_or_else(|| SimError::new(StatusCode::NOT_FOUND, "not_found", "User Not Found").with_rate(rate))
}

/// `GET /contacts/{id}/tags`: every tag of the contact, unpaged.
pub(crate) async fn contact_tags(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let ws = state.workspace();
    let i = contact_index(&state, &id, rate)?;
    let data: Vec<_> = ws
        .contact_tags(i)
        .into_iter()
        .map(|k| {
            let (id, name) = ws.tag(k);
            json!({"type": "tag", "id": id, "name": name})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"type": "list", "data": data})).expect("JSON values serialise");
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// `GET /contacts/{id}/companies?page=&per_page=`: the contact's companies, whole objects, paged.
pub(crate) async fn contact_companies(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let ws = state.workspace();
    let i = contact_index(&state, &id, rate)?;
    let (page, per_page) = crate::server::paging(&params, DEFAULT_COMPANIES_PER_PAGE, MAX_COMPANIES_PER_PAGE, rate)?;
    let all = ws.contact_companies(i);
    let total = all.len() as u64;
    let total_pages = total.div_ceil(per_page).max(1);
    let index = state.company_index.get(&ws);
    let data: Vec<_> = all
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|&k| serde_json::to_value(ws.company(k, index.user_count(k))).expect("a company serialises"))
        .collect();
    let next = (page < total_pages)
        .then(|| crate::server::next_page_url(&headers, &format!("/contacts/{id}/companies"), &params, page + 1));
    let pages = json!({"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages});
    let body = json!({"type": "list", "data": data, "total_count": total, "pages": pages});
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&body).expect("JSON values serialise"), Some(rate)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::companies::CROWDED_COMPANIES;

    #[test]
    fn inline_lists_show_ten_of_the_complete_ones() {
        let ws = Workspace::new(8, 3_000).with_long_lists(10);
        let crowded = ws.contact(CROWDED_CONTACT);
        assert_eq!((crowded.tags.data.len(), crowded.tags.total_count, crowded.tags.has_more), (10, CROWDED_TAGS as i64, true));
        let companies = ws.contact_companies(CROWDED_CONTACT);
        assert_eq!(companies.len() as u64, CROWDED_COMPANIES);
        assert_eq!(crowded.companies.data[3].id, ws.company_id(companies[3]));
        let mut more = 0;
        for i in 0..ws.contacts {
            let tags = ws.contact_tags(i);
            let shown: Vec<String> = ws.contact(i).tags.data.into_iter().map(|t| t.id).collect();
            let first: Vec<String> = tags.iter().take(10).map(|&k| ws.tag(k).0).collect();
            assert_eq!(shown, first, "contact {i}: the inline list is the complete one's start");
            more += usize::from(tags.len() > 10);
        }
        let long = (0..ws.contacts).filter(|&i| ws.has_long_lists(i)).count();
        assert!(long > 200, "a tenth of the contacts have long lists: {long}");
        assert_eq!(more, long + 1, "those and the crowded contact, and only them, have more tags than the inline list shows");
    }
}
