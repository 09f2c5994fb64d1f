//! `--mode search` against servers that lie: probes with absurd or wrong-typed times, a window
//! that repeats its cursor, windows that serve more than the probes announced, a token echoed in
//! the answers. A search dump either writes every record once or publishes nothing.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::hostile_server::*;

const SEARCH: [&str; 4] = ["--mode", "search", "--no-typed-custom-attributes", "--search-windows=8"];

/// Records `r000`..`r299`, created one second apart from 1,600,000,000.
fn record(k: i64) -> Value {
    json!({"type": "contact", "id": format!("r{k:03}"), "role": "user", "created_at": 1_600_000_000 + k})
}

/// The `[from, to)` of a window's query, as the client writes it (`= t OR > t` and `< t2`).
fn bounds(query: &Value) -> (Option<i64>, Option<i64>) {
    let (mut from, mut to) = (None, None);
    let mut stack = vec![query];
    while let Some(part) = stack.pop() {
        match (part["operator"].as_str(), part["value"].as_array()) {
            (Some("AND" | "OR"), Some(parts)) => stack.extend(parts),
            (Some(">"), _) => from = part["value"].as_i64(),
            (Some("<"), _) => to = part["value"].as_i64(),
            _ => {}
        }
    }
    (from, to)
}

/// A search server: probes (a page of one) answered by `probe(newest)`, windows by `window`
/// given the window's bounds and the cursor sent.
fn search_server(
    probe: impl Fn(bool) -> Value + Send + Sync + 'static,
    window: impl Fn((Option<i64>, Option<i64>), Option<&str>) -> Value + Send + Sync + 'static,
) -> HostileServer {
    HostileServer::start(move |request| {
        if request.path != "/contacts/search" || request.method != "POST" {
            return Reply::json(404, &error_body("not_found", "no such path"));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if body["pagination"]["per_page"] == 1 {
            return Reply::json(200, &probe(body["sort"]["order"] == "descending"));
        }
        Reply::json(200, &window(bounds(&body["query"]), body["pagination"]["starting_after"].as_str()))
    })
}

fn page(records: Vec<Value>, total: u64, next: Option<&str>) -> Value {
    let next = next.map(|cursor| json!({"page": 2, "starting_after": cursor}));
    json!({"type": "list", "data": records, "total_count": total, "pages": {"type": "pages", "next": next}})
}

/// The 300 records a window holds, on one page, as an honest server answers.
fn honest_window((from, to): (Option<i64>, Option<i64>)) -> Value {
    let inside = |at: i64| from.is_none_or(|f| at >= f) && to.is_none_or(|t| at < t);
    let records: Vec<Value> = (0..300).map(record).filter(|r| inside(r["created_at"].as_i64().unwrap())).collect();
    let total = records.len() as u64;
    page(records, total, None)
}

fn dump(server: &HostileServer, out: &Path) -> Output {
    dump_cli(&server.url(), out, &SEARCH)
}

#[test]
fn probes_that_lie_about_the_time_line_still_get_every_record_once() {
    // The oldest at the start of time, the newest at its end: windows of equal time over all of
    // i64, and every real record in one of them.
    let server = search_server(
        |newest| {
            let at = if newest { i64::MAX } else { i64::MIN };
            page(vec![json!({"type": "contact", "id": "r000", "created_at": at})], 300, None)
        },
        |window, _| honest_window(window),
    );
    let out = tempfile::tempdir().unwrap();
    let output = dump(&server, out.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_exact_ids(&output_ids(out.path(), "contacts"), (0..300).map(|k| format!("r{k:03}")));
}

#[test]
fn a_probe_without_a_time_publishes_nothing() {
    for created_at in [json!("yesterday"), json!(null), json!(1.5e300)] {
        let server = search_server(
            move |_| page(vec![json!({"type": "contact", "id": "r000", "created_at": created_at.clone()})], 300, None),
            |window, _| honest_window(window),
        );
        let out = tempfile::tempdir().unwrap();
        assert_refused(&dump(&server, out.path()), 4, &["no created_at"], out.path());
    }
}

#[test]
fn a_window_that_repeats_its_cursor_is_stopped_and_publishes_nothing() {
    let server = search_server(
        |newest| page(vec![record(if newest { 299 } else { 0 })], 300, None),
        |_, _| page((0..10).map(record).collect(), 300, Some("same-cursor")),
    );
    let out = tempfile::tempdir().unwrap();
    assert_refused(&dump(&server, out.path()), 4, &["cursor it had handed out before"], out.path());
}

#[test]
fn windows_that_serve_more_than_the_probes_announced_publish_nothing() {
    let server =
        search_server(|newest| page(vec![record(if newest { 299 } else { 0 })], 100, None), |window, _| honest_window(window));
    let out = tempfile::tempdir().unwrap();
    assert_refused(&dump(&server, out.path()), 4, &["at most 100"], out.path());
}

#[test]
fn a_token_echoed_in_search_answers_goes_nowhere() {
    let token = TOKEN;
    let server = search_server(
        |newest| page(vec![record(if newest { 299 } else { 0 })], 300, None),
        move |window, _| {
            let mut answer = honest_window(window);
            for record in answer["data"].as_array_mut().unwrap() {
                record["name"] = json!(format!("Bearer {token}"));
            }
            answer
        },
    );
    let out = tempfile::tempdir().unwrap();
    let output = dump(&server, out.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output_ids(out.path(), "contacts").len(), 300);
    for file in walk(out.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token in {file:?}");
    }
    let printed = [output.stdout, output.stderr].concat();
    assert!(!printed.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
}

#[test]
fn a_list_that_cannot_count_leaves_the_search_whole_but_strict_refuses() {
    // The server answers search only: the plain list's count, a cross-check, cannot be had.
    let server =
        search_server(|newest| page(vec![record(if newest { 299 } else { 0 })], 300, None), |window, _| honest_window(window));
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[&SEARCH[..], &["--max-retries", "0"]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output_ids(out.path(), "contacts").len(), 300);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[&SEARCH[..], &["--max-retries", "0", "--strict"]].concat());
    assert_refused(&output, 4, &["--strict", "GET /contacts"], out.path());
}
