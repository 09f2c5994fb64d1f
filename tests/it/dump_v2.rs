//! v2 contacts through the cursor list, end to end: simulator, actors, Parquet, and back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, ListArray, StructArray};
use arrow::datatypes::Int64Type;
use arrow::datatypes::{DataType, TimeUnit};
use intercom_dump::api::ApiError;
use intercom_dump::config::Mode;
use intercom_dump::progress::Progress;
use intercom_dump::{DumpError, run_dump_with};
use intercom_sim::{SimConfig, Workspace};

use crate::helpers::*;

#[test]
fn dumps_every_contact_once_with_the_generators_values() {
    let (seed, n) = (20_240_611, 20_000);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.output.max_file_rows = 7_000;
    let summary = dump(config).unwrap();

    assert_eq!(summary.records, n);
    assert_eq!(summary.total_count, Some(n));
    assert_eq!(summary.pages, n.div_ceil(150));
    let files = parquet_files(&out.path().join("contacts"));
    assert_eq!(files.len(), 3, "20,000 rows roll into parts of 7,000: {files:?}");
    assert_eq!(summary.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), files);
    let mut others: Vec<_> = walk(out.path()).into_iter().filter(|p| p.extension().is_none_or(|e| e != "parquet")).collect();
    others.sort();
    let expected = ["contacts/_SUCCESS", "contacts/_manifest.json", "contacts/_state.json"].map(|p| out.path().join(p));
    assert_eq!(others, expected, "nothing but parts, the markers and the incremental state beside them");

    let batch = read_parquet(&files);
    let ws = Workspace::new(seed, n);
    let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
    let got: HashSet<&str> = ids.iter().map(|id| id.unwrap()).collect();
    assert_eq!(got.len(), n as usize, "no id appears twice");
    let expected: HashSet<String> = (0..n).map(|i| ws.contact_id(i)).collect();
    assert_eq!(got, expected.iter().map(String::as_str).collect::<HashSet<&str>>(), "the id set is the generator's");

    // Rows are in API order, so row i is contact i: compare a sample field by field.
    let names = batch.column_by_name("name").unwrap().as_string::<i32>();
    let emails = batch.column_by_name("email").unwrap().as_string::<i32>();
    // Parquet has no second unit: timestamps are UTC-adjusted milliseconds there.
    let utc_millis = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(batch.column_by_name("created_at").unwrap().data_type(), &utc_millis);
    let created = timestamp_seconds(&batch, "created_at");
    let last_seen = timestamp_seconds(&batch, "last_seen_at");
    let owners = batch.column_by_name("owner_id").unwrap().as_primitive::<Int64Type>();
    let custom = batch.column_by_name("custom_attributes").unwrap().as_string::<i32>();
    let tags = batch.column_by_name("tags").unwrap().as_any().downcast_ref::<StructArray>().unwrap();
    let tag_data = tags.column_by_name("data").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    let tag_total = tags.column_by_name("total_count").unwrap().as_primitive::<Int64Type>();
    let mut unicode_names = 0;
    for i in (0..n as usize).step_by(97) {
        let contact = ws.contact(i as u64);
        assert_eq!(ids.value(i), contact.id);
        assert_eq!(names.is_valid(i).then(|| names.value(i)), contact.name.as_deref(), "name of {i}");
        unicode_names += contact.name.as_deref().is_some_and(|n| !n.is_ascii()) as usize;
        assert_eq!(emails.is_valid(i).then(|| emails.value(i)), contact.email.as_deref());
        assert_eq!(created[i], Some(contact.created_at));
        assert_eq!(last_seen[i], contact.last_seen_at);
        assert_eq!(owners.is_valid(i).then(|| owners.value(i)), contact.owner_id.as_ref().map(|o| o.value()));
        let attributes: serde_json::Value = serde_json::from_str(custom.value(i)).unwrap();
        assert_eq!(attributes, serde_json::to_value(&contact.custom_attributes).unwrap(), "custom attributes of {i}");
        assert_eq!(tag_total.value(i), contact.tags.total_count);
        let tag_items = tag_data.value(i);
        let tag_items = tag_items.as_any().downcast_ref::<StructArray>().unwrap();
        let tag_ids = tag_items.column_by_name("id").unwrap().as_string::<i32>();
        let expected_tags: Vec<&str> = contact.tags.data.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(tag_ids.iter().map(|t| t.unwrap()).collect::<Vec<_>>(), expected_tags, "tags of {i}");
    }
    assert!(unicode_names > 0, "the sample holds unicode names");
}

#[test]
fn a_wrong_token_stops_after_one_request() {
    let sim = simulator(1, 1_000);
    let out = tempfile::tempdir().unwrap();
    let error = dump(config_for(&sim, out.path(), "not-the-token")).unwrap_err();
    assert!(matches!(error, DumpError::Api(ApiError::Unauthorized { .. })), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("INTERCOM_TOKEN") && !message.contains('\n'), "{message}");
    assert!(!message.contains("not-the-token"), "the token is never printed");
    assert_eq!(sim.requests(), 1);
    assert!(parquet_files(out.path()).is_empty());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing is left behind");
}

#[test]
fn an_empty_workspace_dumps_nothing_cleanly() {
    let sim = simulator(5, 0);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(config_for(&sim, out.path(), TOKEN)).unwrap();
    assert_eq!((summary.records, summary.files.len()), (0, 0));
    assert_eq!(sim.requests(), 2, "the declared custom attributes, then the one empty page");
}

#[test]
fn the_client_slows_down_before_the_window_runs_out() {
    let (seed, n) = (9, 4_000);
    let mut sim_config = intercom_sim::SimConfig::new(seed, n, TOKEN);
    sim_config.limit_per_window = 15;
    sim_config.window_secs = 1;
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.api.per_page = 100;
    let summary = dump(config).unwrap();
    assert_eq!(summary.records, n);
    assert_eq!(summary.api.rate_limited, 0, "X-RateLimit-Remaining said when to wait: no 429 was needed");
    assert!(summary.api.waited_ms > 0, "it did wait for windows");
    assert_eq!(summary.api.requests, 41, "the declared attributes and 40 pages, none repeated");
}

#[test]
fn a_stalled_writer_pauses_the_cursor_instead_of_spilling() {
    let (seed, n) = (41, 8_000);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    // 54 pages of about 380 KB against a budget of 1 MiB: the cursor must wait for the writer.
    config.pipeline.max_buffer_bytes = 1024 * 1024;
    config.pipeline.batch_rows = 300;
    let summary = run_dump_with(config, Arc::new(Progress::default()), stalled_writer(Duration::from_secs(2))).unwrap();
    assert_eq!(summary.spilled_bytes, 0, "a cursor does not expire: it pauses, nothing goes to disk");
    // Asked for only while there is room, one page at a time: the budget is passed by one page
    // at most. An unbounded buffer would hold most of the 20 MB.
    assert!(summary.largest_page_bytes > 0);
    assert!(
        summary.peak_buffered_bytes <= 1024 * 1024 + summary.largest_page_bytes,
        "held {} bytes of pages at once against a budget of 1 MiB and pages of at most {}",
        summary.peak_buffered_bytes,
        summary.largest_page_bytes
    );
    assert_eq!(summary.api.requests, 1 + n.div_ceil(150), "every page asked for once");
    let ws = Workspace::new(seed, n);
    assert_exact_ids(&output_ids(out.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));
}

#[test]
fn a_search_dump_walks_windows_at_once_and_holds_every_contact_once_under_days_and_seconds() {
    use intercom_sim::search::{DateMatch, SearchSettings};
    let (seed, n) = (150, 9_000);
    for search in [
        SearchSettings::default(),
        SearchSettings { dates: DateMatch::Second, utc_offset_secs: 0, index_lag: 0 },
        SearchSettings { dates: DateMatch::Day, utc_offset_secs: 9 * 3_600 + 1_800, index_lag: 0 },
    ] {
        let mut sim_config = SimConfig::new(seed, n, TOKEN);
        sim_config.search = search;
        let sim = simulator_with(sim_config);
        let out = tempfile::tempdir().unwrap();
        let mut config = config_for(&sim, out.path(), TOKEN);
        config.listing.mode = Some(Mode::Search);
        config.listing.search_windows = 12;
        config.listing.search_concurrency = 4;
        let summary = dump(config).unwrap();
        assert_eq!(summary.mode, "search");
        assert_eq!(summary.announced.map(|a| (a.min, a.max)), Some((n, n)), "{search:?}: the probes' count");
        let ws = Workspace::new(seed, n);
        assert_exact_ids(&output_ids(out.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));
        // Two probes, each window's pages (about n / 150, one more a window at most), the two
        // closing counts.
        assert!(summary.api.requests <= 1 + 2 + n.div_ceil(150) + 12 + 2, "{search:?}: {} requests", summary.api.requests);
    }
}
