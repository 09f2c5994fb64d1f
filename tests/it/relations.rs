//! The relation tables (`--relations`): every contact's tags and companies, complete, compared
//! link by link with the simulator's ground truth; and servers whose lists do not add up, which
//! publish nothing.

use std::collections::BTreeSet;

use arrow::array::AsArray;
use arrow::datatypes::Int32Type;
use intercom_dump::config::Mode;
use intercom_sim::{FaultPlan, FaultRule, SimConfig, Workspace};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::hostile_server::{HostileServer, Reply};

/// `(contact id, other id, position)` of every row of a relation table.
fn links(out: &std::path::Path, table: &str, column: &str) -> Vec<(String, String, i32)> {
    let batch = read_parquet(&parquet_files(&out.join(table)));
    let contacts = batch.column_by_name("contact_id").unwrap().as_string::<i32>();
    let others = batch.column_by_name(column).unwrap().as_string::<i32>();
    let positions = batch.column_by_name("position").unwrap().as_primitive::<Int32Type>();
    (0..batch.num_rows()).map(|i| (contacts.value(i).to_string(), others.value(i).to_string(), positions.value(i))).collect()
}

/// The links the simulator's workspace holds, as rows.
fn expected_links(ws: &Workspace, other: impl Fn(u64) -> Vec<String>) -> BTreeSet<(String, String, i32)> {
    (0..ws.contacts)
        .flat_map(|i| {
            let contact = ws.contact_id(i);
            other(i).into_iter().enumerate().map(move |(p, id)| (contact.clone(), id, p as i32))
        })
        .collect()
}

fn assert_same_links(got: Vec<(String, String, i32)>, expected: &BTreeSet<(String, String, i32)>, table: &str) {
    let count = got.len();
    let got: BTreeSet<_> = got.into_iter().collect();
    assert_eq!(got.len(), count, "{table}: no link twice");
    assert_eq!(got.len(), expected.len(), "{table}: as many links as the workspace holds");
    assert!(got == *expected, "{table}: the links differ, first missing: {:?}", expected.difference(&got).next());
}

#[test]
fn every_contacts_complete_tags_and_companies_land_once_under_the_cursor_and_the_search() {
    let (seed, n) = (811, 4_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.long_lists_percent = 6;
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let tags = expected_links(&ws, |i| ws.contact_tags(i).into_iter().map(|k| ws.tag(k).0).collect());
    let companies = expected_links(&ws, |i| ws.contact_companies(i).into_iter().map(|k| ws.company_id(k)).collect());
    let long = (0..n).filter(|&i| ws.contact_tags(i).len() > 10).count() as u64;
    assert!(long > 100, "the workspace has lists past ten to fetch: {long}");
    for mode in [Mode::Cursor, Mode::Search] {
        let out = tempfile::tempdir().unwrap();
        let mut config = config_for(&sim, out.path(), TOKEN);
        config.listing.mode = Some(mode);
        config.output.relations = true;
        let summary = dump(config).unwrap();
        assert_eq!(summary.records, n);
        assert_same_links(links(out.path(), "contact_tags", "tag_id"), &tags, "contact_tags");
        assert_same_links(links(out.path(), "contact_companies", "company_id"), &companies, "contact_companies");
        let [tag_summary, company_summary] = &summary.relations[..] else { panic!("two relation tables") };
        assert_eq!(tag_summary.counts.fetched_lists, long, "only the lists past ten are fetched");
        assert_eq!((tag_summary.records, tag_summary.counts.announced), (tags.len() as u64, tags.len() as u64));
        assert_eq!(company_summary.records, companies.len() as u64);
        for (table, key) in [("contact_tags", "contact_id, tag_id"), ("contact_companies", "contact_id, company_id")] {
            let manifest = read_manifest(out.path(), table);
            assert_eq!((manifest["key"].as_str(), manifest["complete"].as_bool()), (Some(key), Some(true)), "{table}");
            assert_eq!(manifest["run_id"], read_manifest(out.path(), "contacts")["run_id"], "{table} names the contacts' run");
            assert!(out.path().join(table).join("_SUCCESS").exists());
        }
    }
}

#[test]
fn the_follow_up_calls_come_through_every_kind_of_fault_and_the_links_stay_exact() {
    let (seed, n) = (97, 2_500);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.long_lists_percent = 10;
    let rules = ["429:0.02", "500:0.02", "503:0.03", "408:0.01", "reset:0.02", "truncate:0.02", "latency=3:0.3"];
    sim_config.faults = FaultPlan { seed, rules: rules.iter().map(|r| r.parse::<FaultRule>().unwrap()).collect() };
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.listing.mode = Some(Mode::Cursor);
    config.output.relations = true;
    config.api.request_timeout = std::time::Duration::from_millis(800);
    config.api.max_retries = 12;
    let summary = dump(config).unwrap();
    assert!(summary.relations[0].counts.fetched_lists > 200, "{:?}", summary.relations[0].counts);
    assert!(summary.api.retries > 20, "faults met and retried: {:?}", summary.api);
    let tags = expected_links(&ws, |i| ws.contact_tags(i).into_iter().map(|k| ws.tag(k).0).collect());
    let companies = expected_links(&ws, |i| ws.contact_companies(i).into_iter().map(|k| ws.company_id(k)).collect());
    assert_same_links(links(out.path(), "contact_tags", "tag_id"), &tags, "contact_tags");
    assert_same_links(links(out.path(), "contact_companies", "company_id"), &companies, "contact_companies");
}

#[test]
fn the_command_line_writes_the_relation_tables_and_refuses_them_where_they_do_not_apply() {
    let sim = simulator(23, 500);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--relations"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("contact_tags:") && printed.contains("contact_companies:"), "{printed}");
    assert!(out.path().join("contact_tags/_manifest.json").exists());

    let refused = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), refused.path(), &["--relations", "--source", "companies"]);
    assert_refused(&output, 2, &["--relations applies to --source contacts"], refused.path());
    let output = dump_cli(&sim.base_url(), refused.path(), &["--relations", "--resume"]);
    assert_refused(&output, 2, &["--resume does not apply with --relations"], refused.path());
}

/// A contact whose inline list holds `inline` of `total` entries.
fn inline(path: &str, contact: &str, kind: &str, ids: &[String], total: usize) -> Value {
    let data: Vec<Value> = ids.iter().map(|id| json!({"type": kind, "id": id, "url": format!("/{path}/{id}")})).collect();
    json!({"type": "list", "data": data, "url": format!("/contacts/{contact}/{path}"), "total_count": total, "has_more": total > ids.len()})
}

fn named(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// How the hostile server's lists go wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lie {
    /// Every list adds up: the run publishes.
    None,
    /// A contact's complete tags hold fewer than its inline list announced.
    FewerThanAnnounced,
    /// A contact is gone when its list is asked for.
    Gone,
    /// A contact's companies say they have pages without end, each the same.
    EndlessPages,
    /// An entry of a complete list has no id.
    EntryWithoutId,
    /// A complete list whose records are not an array.
    WrongType,
    /// A complete list that echoes the token, as an id and in a name.
    EchoedToken,
}

/// Three contacts: one whose lists are whole inline, two whose lists go past ten.
fn hostile(lie: Lie) -> HostileServer {
    HostileServer::start(move |request| {
        let path = request.path.as_str();
        match path {
            "/data_attributes" => Reply::json(200, &json!({"type": "list", "data": []})),
            "/contacts" => {
                let contact = |id: &str, tags: Value, companies: Value| json!({"type": "contact", "id": id, "role": "user", "tags": tags, "companies": companies});
                let data = vec![
                    contact("c0", inline("tags", "c0", "tag", &named("t", 2), 2), inline("companies", "c0", "company", &[], 0)),
                    contact(
                        "c1",
                        inline("tags", "c1", "tag", &named("t", 10), 12),
                        inline("companies", "c1", "company", &named("k", 10), 160),
                    ),
                    contact(
                        "c2",
                        inline("tags", "c2", "tag", &named("u", 10), 15),
                        inline("companies", "c2", "company", &named("k", 1), 1),
                    ),
                ];
                Reply::json(
                    200,
                    &json!({"type": "list", "data": data, "total_count": 3, "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1}}),
                )
            }
            "/contacts/c1/tags" => {
                let mut tags: Vec<Value> = named("t", 12).iter().map(|id| json!({"type": "tag", "id": id, "name": id})).collect();
                if lie == Lie::EchoedToken {
                    let echo = request.headers.get("authorization").cloned().unwrap_or_default();
                    let token = echo.trim_start_matches("Bearer ").to_string();
                    tags[11] = json!({"type": "tag", "id": format!("t11{token}"), "name": echo});
                }
                Reply::json(200, &json!({"type": "list", "data": tags}))
            }
            "/contacts/c2/tags" if lie == Lie::WrongType => Reply::json(200, &json!({"type": "list", "data": "u0,u1"})),
            "/contacts/c2/tags" if lie == Lie::Gone => {
                Reply::json(404, &json!({"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]}))
            }
            "/contacts/c2/tags" => {
                let count = if lie == Lie::FewerThanAnnounced { 11 } else { 15 };
                let mut tags: Vec<Value> = named("u", count).iter().map(|id| json!({"type": "tag", "id": id})).collect();
                if lie == Lie::EntryWithoutId {
                    tags[3] = json!({"type": "tag", "name": "no id"});
                }
                Reply::json(200, &json!({"type": "list", "data": tags}))
            }
            "/contacts/c1/companies" => {
                let page: usize = request.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per_page: usize = request.param("per_page").and_then(|p| p.parse().ok()).unwrap_or(50);
                let (ids, total_pages) = if lie == Lie::EndlessPages {
                    (named("k", per_page), 1_000_000)
                } else {
                    let all = named("k", 160);
                    (all.iter().skip((page - 1) * per_page).take(per_page).cloned().collect(), 160usize.div_ceil(per_page))
                };
                let data: Vec<Value> = ids.iter().map(|id| json!({"type": "company", "id": id, "name": id})).collect();
                Reply::json(
                    200,
                    &json!({"type": "list", "data": data, "total_count": 160,
                    "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages}}),
                )
            }
            _ => Reply::json(404, &json!({"type": "error.list", "errors": [{"code": "not_found", "message": "no such path"}]})),
        }
    })
}

#[test]
fn lists_that_add_up_publish_and_lists_that_do_not_publish_nothing() {
    let server = hostile(Lie::None);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--relations", "--mode", "cursor"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tags: BTreeSet<_> = links(out.path(), "contact_tags", "tag_id").into_iter().collect();
    let mut expected = BTreeSet::new();
    for (contact, prefix, n) in [("c0", "t", 2), ("c1", "t", 12), ("c2", "u", 15)] {
        expected.extend(named(prefix, n).into_iter().enumerate().map(|(p, id)| (contact.to_string(), id, p as i32)));
    }
    assert_eq!(tags, expected);
    let companies = links(out.path(), "contact_companies", "company_id");
    assert_eq!(companies.len(), 161, "c1's 160 over two pages of 150, and c2's one");

    // A token the server echoes in a complete list is written nowhere; the list is still whole.
    let server = hostile(Lie::EchoedToken);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--relations", "--mode", "cursor"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(links(out.path(), "contact_tags", "tag_id").len(), 2 + 12 + 15);
    for file in walk(out.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(memchr::memmem::find(&bytes, TOKEN.as_bytes()).is_none(), "{}", file.display());
    }
    assert!(!String::from_utf8_lossy(&output.stderr).contains(TOKEN));

    // A complete list that is not a list is retried, then stops the run: nothing is published.
    let server = hostile(Lie::WrongType);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--relations", "--mode", "cursor", "--max-retries", "1"]);
    assert_refused(&output, 4, &["contact c2's tags", "not a valid page"], out.path());

    for (lie, words) in [
        (Lie::FewerThanAnnounced, vec!["contact_tags", "1 contacts' complete lists"]),
        (Lie::Gone, vec!["contact_tags", "1 contacts' complete lists"]),
        (Lie::EndlessPages, vec!["contact_companies", "1 contacts' complete lists"]),
        (Lie::EntryWithoutId, vec!["contact_tags", "1 contacts' complete lists"]),
    ] {
        let server = hostile(lie);
        let out = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let output = dump_cli(&server.url(), out.path(), &["--relations", "--mode", "cursor"]);
        let words: Vec<&str> = words.iter().map(|w| &**w).collect();
        assert_refused(&output, 4, &words, out.path());
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{lie:?} ends");
        if lie == Lie::EndlessPages {
            assert!(server.requests() < 20, "an endless list is read to what its count needs: {}", server.requests());
        }
        // What can be read is published on request, marked incomplete.
        let output = dump_cli(&server.url(), out.path(), &["--relations", "--mode", "cursor", "--allow-incomplete"]);
        assert!(output.status.success(), "{lie:?}: {}", String::from_utf8_lossy(&output.stderr));
        let incomplete = if lie == Lie::EndlessPages { "contact_companies" } else { "contact_tags" };
        assert_eq!(read_manifest(out.path(), incomplete)["complete"], json!(false), "{lie:?}");
    }
}
