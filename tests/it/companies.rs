//! Companies end to end: the companies scroll (its own lock, its restarts and expiry), the page
//! list (companies with users only, the 10,000 cap), `auto`, and the typed columns, each
//! compared with the simulator's ground truth.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use intercom_dump::DumpError;
use intercom_dump::config::{Mode, PartitionBy, Source};
use intercom_dump::error::ConfigError;
use intercom_sim::companies::CompanyIndex;
use intercom_sim::{SimConfig, Workspace};

use crate::helpers::*;

fn companies_config(sim: &intercom_sim::SimHandle, out: &std::path::Path, mode: Option<Mode>) -> intercom_dump::Config {
    let mut config = config_for(sim, out, TOKEN);
    config.source = Source::Companies;
    config.listing.mode = mode;
    config
}

fn all_company_ids(ws: &Workspace) -> Vec<String> {
    (0..ws.companies).map(|k| ws.company_id(k)).collect()
}

#[test]
fn the_companies_scroll_dumps_every_company_with_its_values() {
    let (seed, n) = (601, 30_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(companies_config(&sim, out.path(), None)).unwrap();
    assert_eq!((summary.mode, summary.restarts, summary.duplicates_dropped), ("scroll", 0, 0));
    let ids = output_ids(out.path(), "companies");
    assert_exact_ids(&ids, all_company_ids(&ws));
    assert!(summary.typed_custom_attributes.contains(&"seats".to_string()), "{:?}", summary.typed_custom_attributes);

    let index = CompanyIndex::build(&ws);
    let by_id: HashMap<String, u64> = (0..ws.companies).map(|k| (ws.company_id(k), k)).collect();
    let batch = read_parquet(&parquet_files(&out.path().join("companies")));
    let users = batch.column_by_name("user_count").unwrap().as_primitive::<Int64Type>();
    let names = batch.column_by_name("name").unwrap().as_string::<i32>();
    let created = timestamp_seconds(&batch, "created_at");
    let seats = batch.column_by_name("custom_seats").unwrap().as_primitive::<Int64Type>();
    for (row, id) in ids.iter().enumerate() {
        let k = by_id[id];
        let company = ws.company(k, index.user_count(k));
        assert_eq!(users.value(row) as u64, company.user_count, "{id}");
        assert_eq!(names.value(row), company.name);
        assert_eq!(created[row], Some(company.created_at));
        let declared = match company.custom_attributes.get("seats") {
            Some(intercom_sim::generator::CustomValue::Integer(n)) => Some(*n),
            _ => None,
        };
        assert_eq!(seats.is_valid(row).then(|| seats.value(row)), declared);
    }
    let manifest = read_manifest(out.path(), "companies");
    assert_eq!((manifest["source"].as_str(), manifest["mode"].as_str()), (Some("companies"), Some("scroll")));
}

#[test]
fn the_page_list_holds_the_companies_with_users_and_auto_takes_the_scroll() {
    let (seed, n) = (602, 20_000);
    let ws = Workspace::new(seed, n);
    let index = CompanyIndex::build(&ws);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(companies_config(&sim, out.path(), Some(Mode::Pages))).unwrap();
    let with_users: Vec<String> = (0..ws.companies).filter(|&k| index.user_count(k) > 0).map(|k| ws.company_id(k)).collect();
    assert!(with_users.len() < ws.companies as usize, "some companies have no users");
    assert_exact_ids(&output_ids(out.path(), "companies"), with_users.clone());
    assert_eq!(summary.total_count, Some(with_users.len() as u64));
    // `POST /companies/list` is the same list.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (get, post) = runtime.block_on(async {
        let ask = |request: reqwest::RequestBuilder| async move {
            let answer = request.bearer_auth(TOKEN).header("Accept", "application/json").send().await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&answer.bytes().await.unwrap()).unwrap()
        };
        let url = sim.base_url();
        (
            ask(http_client().get(format!("{url}/companies?page=2&per_page=7"))).await,
            ask(http_client().post(format!("{url}/companies/list?page=2&per_page=7"))).await,
        )
    });
    assert_eq!(get, post);
    assert_eq!((get["data"].as_array().unwrap().len(), get["total_count"].as_u64()), (7, Some(with_users.len() as u64)));

    let mut config = companies_config(&sim, out.path(), Some(Mode::Auto));
    config.output.overwrite = true;
    let summary = dump(config).unwrap();
    assert_eq!(summary.mode, "scroll", "the page list misses companies without users");
    assert_exact_ids(&output_ids(out.path(), "companies"), all_company_ids(&ws));
}

#[test]
fn past_ten_thousand_the_page_list_refuses_before_it_bites_and_the_scroll_gets_them_all() {
    let (seed, n) = (603, 120_000);
    let sim_config = SimConfig { companies: 12_000, ..SimConfig::new(seed, n, TOKEN) };
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let error = dump(companies_config(&sim, out.path(), Some(Mode::Pages))).unwrap_err();
    assert!(matches!(error, DumpError::PastPageCap { cap: 10_000, .. }), "{error}");
    assert_eq!(sim.requests(), 2, "the declared attributes, then one page told it all");
    let summary = dump(companies_config(&sim, out.path(), None)).unwrap();
    assert_eq!(summary.records, 12_000);
    assert_exact_ids(&output_ids(out.path(), "companies"), all_company_ids(&ws));
}

#[test]
fn the_companies_scroll_restarts_after_the_500_and_reopens_after_expiry() {
    let (seed, n) = (604, 40_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.company_scroll.restart_at = BTreeSet::from([3, 9]);
    sim_config.company_scroll.expire_at = BTreeSet::from([15]);
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(companies_config(&sim, out.path(), None)).unwrap();
    assert_eq!(summary.restarts, 3);
    assert!(summary.duplicates_dropped > 0, "a fresh scroll serves the first companies again");
    assert_exact_ids(&output_ids(out.path(), "companies"), all_company_ids(&ws));
}

#[test]
fn the_companies_scroll_has_its_own_lock_and_waits_out_another_clients() {
    let (seed, n) = (605, 10_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    // Another client's users scroll does not hold the companies' lock...
    sim_config.scroll.foreign_scroll = true;
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(companies_config(&sim, out.path(), None)).unwrap();
    assert_eq!(sim.state().refused_scroll_opens(), 0);
    assert_exact_ids(&output_ids(out.path(), "companies"), all_company_ids(&ws));
    assert!(summary.elapsed < Duration::from_secs(30));

    // ...another client's companies scroll does, until it idles out.
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.company_scroll.foreign_scroll = true;
    sim_config.company_scroll.idle_expiry = Duration::from_secs(2);
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = companies_config(&sim, out.path(), None);
    config.listing.scroll_lock_poll = Duration::from_millis(250);
    config.listing.scroll_lock_wait = Duration::from_secs(20);
    let summary = dump(config).unwrap();
    assert!(summary.elapsed >= Duration::from_secs(1), "it waited for the other scroll to expire");
    assert_exact_ids(&output_ids(out.path(), "companies"), all_company_ids(&ws));
}

#[test]
fn options_that_do_not_apply_to_companies_are_refused_before_any_request() {
    let sim = simulator(606, 1_000);
    let out = tempfile::tempdir().unwrap();
    let mut config = companies_config(&sim, out.path(), None);
    config.output.partition_by = Some(PartitionBy::Role);
    let error = dump(config).unwrap_err();
    assert!(matches!(error, DumpError::Config(ConfigError::PartitionForSource { .. })), "{error}");
    let mut config = companies_config(&sim, out.path(), Some(Mode::Pages));
    config.listing.query.email = Some("a@b.c".into());
    let error = dump(config).unwrap_err();
    assert!(matches!(error, DumpError::Config(ConfigError::QueryForCompanies)), "{error}");
    let error = dump(companies_config(&sim, out.path(), Some(Mode::Cursor))).unwrap_err();
    assert!(matches!(error, DumpError::Config(ConfigError::ModeForSource { .. })), "{error}");
    assert_eq!(sim.requests(), 0);
}

#[test]
fn the_simulator_gives_each_contacts_complete_tags_and_companies() {
    use intercom_sim::companies::{CROWDED_COMPANIES, CROWDED_CONTACT};
    use intercom_sim::relations::CROWDED_TAGS;
    let (seed, n) = (607, 5_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let id = ws.contact_id(CROWDED_CONTACT);
    let (status, tags) = ask_sim(&format!("{}/contacts/{id}/tags", sim.base_url()), None);
    assert_eq!(status, 200);
    let tag_ids: Vec<&str> = tags["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(tag_ids.len() as u64, CROWDED_TAGS);
    let (_, listed) = ask_sim(&format!("{}/tags", sim.base_url()), None);
    let workspace_tags: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(tag_ids.iter().all(|t| workspace_tags.contains(t)), "a contact's tags are the workspace's");

    let mut companies = Vec::new();
    let mut url = Some(format!("{}/contacts/{id}/companies?per_page=10", sim.base_url()));
    while let Some(next) = url.take() {
        let (status, page) = ask_sim(&next, None);
        assert_eq!((status, page["total_count"].as_u64()), (200, Some(CROWDED_COMPANIES)));
        companies.extend(page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()));
        url = page["pages"]["next"].as_str().map(str::to_string);
    }
    let expected: Vec<String> = ws.contact_companies(CROWDED_CONTACT).into_iter().map(|k| ws.company_id(k)).collect();
    assert_eq!(companies, expected);
    let (status, missing) = ask_sim(&format!("{}/contacts/{}/tags", sim.base_url(), "0".repeat(24)), None);
    assert_eq!((status, missing["errors"][0]["code"].as_str()), (404, Some("not_found")));
}
