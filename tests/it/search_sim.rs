//! The simulator's `POST /contacts/search` over HTTP, as any Intercom client meets it: the
//! envelope, the cursor in the body, and Intercom's error body for what it refuses.

use intercom_sim::search::{DateMatch, SearchSettings};
use intercom_sim::{SimConfig, Workspace};
use serde_json::{Value, json};

use crate::helpers::*;

fn post(url: &str, body: &Value) -> (u16, Value) {
    ask_sim(url, Some(body))
}

fn get(url: &str, path: &str) -> (u16, Value) {
    ask_sim(&format!("{url}{path}"), None)
}

#[test]
fn a_window_of_days_is_walked_through_the_body_cursor_and_refusals_carry_intercoms_error_body() {
    let (seed, n) = (140, 12_000);
    let mut config = SimConfig::new(seed, n, TOKEN);
    config.search = SearchSettings { dates: DateMatch::Day, utc_offset_secs: 3 * 3_600, index_lag: 0 };
    let sim = simulator_with(config);
    let ws = Workspace::new(seed, n);
    let (t, t2) = (ws.created_at(2_000), ws.created_at(9_000));
    let query = json!({"operator": "AND", "value": [
        {"operator": "OR", "value": [
            {"field": "created_at", "operator": "=", "value": t},
            {"field": "created_at", "operator": ">", "value": t}]},
        {"field": "created_at", "operator": "<", "value": t2}]});
    let day = |at: i64| (at + 3 * 3_600).div_euclid(86_400);
    let want: Vec<String> = (0..n)
        .filter(|&i| day(ws.created_at(i)) >= day(t) && day(ws.created_at(i)) < day(t2))
        .map(|i| ws.contact_id(i))
        .collect();
    let mut body =
        json!({"query": query, "sort": {"field": "created_at", "order": "ascending"}, "pagination": {"per_page": 150}});
    let mut got = Vec::new();
    loop {
        let (status, page) = post(&sim.base_url(), &body);
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total_count"].as_u64(), Some(want.len() as u64));
        got.extend(page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match page["pages"]["next"]["starting_after"].as_str() {
            Some(cursor) => body["pagination"]["starting_after"] = json!(cursor),
            None => break,
        }
    }
    assert!(got == want, "the window's {} contacts, whole days in UTC+3, in order; got {}", want.len(), got.len());

    let (status, error) = post(&sim.base_url(), &json!({"query": {"field": "created_at", "operator": ">=", "value": t}}));
    assert_eq!(status, 400);
    assert_eq!(error["type"], "error.list");
    assert!(error["errors"][0]["message"].as_str().unwrap().contains("not supported for date field"), "{error}");
    let forged = json!({"query": {"field": "created_at", "operator": ">", "value": t}, "pagination": {"starting_after": "czE6MTA6MTA6MTA6MDAwMDAwMDAwMDAwMDAwMA"}});
    let (status, error) = post(&sim.base_url(), &forged);
    assert_eq!((status, error["errors"][0]["code"].as_str()), (400, Some("client_error")), "{error}");
}

#[test]
fn what_other_clients_call_first_is_served() {
    let (seed, n) = (141, 500);
    let sim = simulator_with(SimConfig::new(seed, n, TOKEN));
    let ws = Workspace::new(seed, n);
    let (status, tags) = get(&sim.base_url(), "/tags");
    assert_eq!((status, tags["type"].as_str()), (200, Some("list")), "{tags}");
    assert!(tags["data"].as_array().unwrap().iter().all(|t| t["type"] == "tag" && t["name"].is_string()));
    let (status, contact) = get(&sim.base_url(), &format!("/contacts/{}", ws.contact_id(321)));
    assert_eq!((status, contact["id"].as_str()), (200, Some(ws.contact_id(321).as_str())), "{contact}");
    assert_eq!(contact["email"].as_str(), ws.contact(321).email.as_deref());
    let (status, missing) = get(&sim.base_url(), "/contacts/000000000000000000000000");
    assert_eq!((status, missing["errors"][0]["code"].as_str()), (404, Some("not_found")), "{missing}");
    // Two simulators' request ids differ, as two Intercom answers' do.
    let other = simulator_with(SimConfig::new(seed, n, TOKEN));
    let (_, a) = get(&sim.base_url(), "/nowhere");
    let (_, b) = get(&other.base_url(), "/nowhere");
    assert_ne!(a["request_id"], b["request_id"]);
}
