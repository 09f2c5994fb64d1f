//! Contacts through `POST /contacts/search`, end to end: windows balanced on the counts the API
//! reports, an import day split on id suffixes, exact under day and second date matching in a
//! time zone that is not UTC, while the workspace moves, compared with the plain list's count,
//! and resumed after a SIGKILL.

use std::sync::Arc;
use std::time::Duration;

use intercom_dump::DumpError;
use intercom_dump::config::{Config, Mode};
use intercom_sim::search::{DateMatch, SearchSettings};
use intercom_sim::{SimConfig, SimHandle, Workspace};

use crate::helpers::*;

fn search_config(sim: &SimHandle, out: &std::path::Path) -> Config {
    let mut config = config_for(sim, out, TOKEN);
    config.listing.mode = Some(Mode::Search);
    config
}

fn all_ids(ws: &Workspace) -> impl Iterator<Item = String> + '_ {
    (0..ws.contacts).map(|i| ws.contact_id(i))
}

#[test]
fn a_skewed_workspace_is_split_on_its_import_day_and_dumped_exactly_under_days_and_seconds() {
    let (seed, n) = (160, 40_000);
    for search in [
        SearchSettings { dates: DateMatch::Day, utc_offset_secs: -7 * 3_600, index_lag: 0 },
        SearchSettings { dates: DateMatch::Second, utc_offset_secs: 0, index_lag: 0 },
    ] {
        let mut sim_config = SimConfig::new(seed, n, TOKEN);
        sim_config.search = search;
        // Half the workspace imported in one hour.
        sim_config.imported_percent = 50;
        let sim = simulator_with(sim_config);
        let out = tempfile::tempdir().unwrap();
        let mut config = search_config(&sim, out.path());
        config.listing.search_windows = 8;
        let summary = dump(config).unwrap();
        let ws = Workspace::new(seed, n).with_import(50);
        assert_exact_ids(&output_ids(out.path(), "contacts"), all_ids(&ws));
        assert_eq!(summary.listed, Some(n), "{search:?}: the plain list's count, compared");
        // 8 windows of 5,000 aimed at; the import's 20,000 in one of them is split. Splits cost
        // the first page of each window split, and each part's last page is partly empty.
        let pages = n.div_ceil(150);
        assert!(summary.api.requests < pages + 120, "{search:?}: {} requests for {pages} pages", summary.api.requests);
        assert_eq!(summary.duplicates_dropped, 0, "{search:?}: the parts are disjoint");
    }
}

#[test]
fn a_live_workspace_is_dumped_exactly_while_its_contacts_move() {
    let (seed, n) = (161, 12_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    // Every contact touched about once a second: a sort on updated_at would skip and repeat.
    sim_config.live_updates_per_sec = 12_000;
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=50:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = search_config(&sim, out.path());
    config.listing.search_windows = 4;
    let summary = dump(config).unwrap();
    assert!(summary.seconds > 1.0, "the dump ran while contacts moved: {} s", summary.seconds);
    assert_exact_ids(&output_ids(out.path(), "contacts"), all_ids(&Workspace::new(seed, n)));
}

#[test]
fn contacts_search_does_not_see_yet_are_reported_and_strict_refuses_to_publish() {
    let (seed, n, lag) = (162, 5_000, 40);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.search.index_lag = lag;
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(search_config(&sim, out.path())).unwrap();
    assert_eq!((summary.records, summary.listed), (n - lag, Some(n)));
    let manifest = read_manifest(out.path(), "contacts");
    assert_eq!((manifest["records"].as_u64(), manifest["listed"].as_u64()), (Some(n - lag), Some(n)));

    let out = tempfile::tempdir().unwrap();
    let mut config = search_config(&sim, out.path());
    config.output.strict = true;
    let error = intercom_dump::run_dump(config, Arc::new(intercom_dump::progress::Progress::default())).unwrap_err();
    assert!(matches!(error, DumpError::CountDiffers { listed: 5_000, written: 4_960, .. }), "{error}");
    let output = dump_cli(&sim.base_url(), out.path(), &["--mode", "search", "--strict"]);
    assert_refused(&output, 4, &["4960", "5000", "--strict"], out.path());
}

#[test]
fn a_killed_search_dump_resumes_each_window_from_its_checkpoint() {
    let (seed, n) = (163, 30_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    // Two pages in flight of 100 ms each: 200 pages take 10 s, the kill lands early.
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=100:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let flags = ["--mode", "search", "--search-windows", "6", "--search-concurrency", "2"];
    let flags = [&flags[..], &["--max-file-rows", "3000", "--checkpoint-rows", "3000"]].concat();
    let dump_command = |out: &std::path::Path, resume: bool| resumable_dump(&sim.base_url(), out, &flags, resume);
    kill_once_checkpointed(dump_command(out.path(), false).spawn().unwrap(), out.path(), 3, Duration::from_secs(60));
    assert!(!out.path().join("contacts/_SUCCESS").exists());
    let requests_before = sim.requests();
    assert!(requests_before < 150, "killed early: {requests_before} requests");

    let status = dump_command(out.path(), true).status().unwrap();
    assert!(status.success());
    let resumed_requests = sim.requests() - requests_before;
    assert!(resumed_requests < n.div_ceil(150), "each window went on from its cursor: {resumed_requests} requests");
    assert_exact_ids(&output_ids(out.path(), "contacts"), all_ids(&Workspace::new(seed, n)));
    let manifest = read_manifest(out.path(), "contacts");
    assert_eq!((manifest["records"].as_u64(), manifest["mode"].as_str()), (Some(n), Some("search")));

    // A checkpoint of another listing is refused, not misread.
    let other = tempfile::tempdir().unwrap();
    kill_once_checkpointed(dump_command(other.path(), false).spawn().unwrap(), other.path(), 0, Duration::from_secs(60));
    let output = dump_cli(&sim.base_url(), other.path(), &["--resume"]);
    assert_refused(&output, 5, &["--mode was search, now cursor"], other.path());
}

#[test]
fn auto_lists_a_small_workspace_with_the_cursor_and_a_big_one_with_the_search() {
    for (seed, n, chosen) in [(164, 3_000, "cursor"), (165, 3_001, "search")] {
        let sim = simulator(seed, n);
        let out = tempfile::tempdir().unwrap();
        let mut config = config_for(&sim, out.path(), TOKEN);
        config.listing.mode = Some(Mode::Auto);
        let summary = dump(config).unwrap();
        assert_eq!(summary.mode, chosen, "{n} contacts");
        assert_exact_ids(&output_ids(out.path(), "contacts"), all_ids(&Workspace::new(seed, n)));
        let manifest = read_manifest(out.path(), "contacts");
        assert_eq!(manifest["mode"], chosen);
    }
}
