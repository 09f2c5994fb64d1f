//! Incremental loads against a workspace that changes between runs (`SimConfig::evolve`): a
//! full dump, then change sets, merged as the README's view merges them, equal a fresh full
//! dump of the changed workspace, ids and values; a run that fails changes nothing; what an
//! incremental run cannot go on from is refused by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit, TimestampSecondType};
use intercom_dump::config::{ApiConfig, DEFAULT_LOOKBACK, Incremental, Mode, OutputConfig, PartitionBy, Token};
use intercom_dump::error::ConfigError;
use intercom_dump::incremental::{STATE, TableState};
use intercom_dump::reconcile::TOMBSTONE_TYPE;
use intercom_dump::sink::SinkError;
use intercom_dump::{Config, DumpError};
use intercom_sim::{EvolveSettings, FaultPlan, FaultRule, SimConfig, SimHandle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::helpers::*;
use crate::hostile_server::{Reply, Request, proxy};

/// The workspace `seed` of `contacts` after `steps` steps of change, served.
pub(crate) fn evolved(seed: u64, contacts: u64, steps: u32) -> SimHandle {
    let mut config = SimConfig::new(seed, contacts, TOKEN);
    config.evolve = Some(EvolveSettings::new(steps));
    simulator_with(config)
}

/// [`evolved`], failing as `rule` says.
fn evolved_with_fault(seed: u64, contacts: u64, steps: u32, rule: &str) -> SimHandle {
    let mut config = SimConfig::new(seed, contacts, TOKEN);
    config.evolve = Some(EvolveSettings::new(steps));
    config.faults = FaultPlan { seed: 1, rules: vec![rule.parse::<FaultRule>().unwrap()] };
    simulator_with(config)
}

/// A full dump of the base workspace in a fresh folder, and the state it wrote.
fn dumped_whole(seed: u64, contacts: u64) -> (tempfile::TempDir, Vec<u8>) {
    let out = tempfile::tempdir().unwrap();
    dump(config_for(&evolved(seed, contacts, 0), out.path(), TOKEN)).unwrap();
    let state = std::fs::read(out.path().join("contacts").join(STATE)).unwrap();
    (out, state)
}

/// A failed run left the table as `before` (its state) says: no change set, published or
/// staged, nothing beside the table.
fn assert_left_as_it_was(out: &Path, before: &[u8]) {
    assert_eq!(std::fs::read(out.join("contacts").join(STATE)).unwrap(), before, "the state is as it was");
    let left: Vec<PathBuf> = walk(out).into_iter().filter(|p| p.to_string_lossy().contains("run=")).collect();
    assert_eq!(left, Vec::<PathBuf>::new(), "no change set, published or staged");
    assert_eq!(std::fs::read_dir(out).unwrap().count(), 1, "nothing beside the table");
}

fn incremental(sim: &SimHandle, out: &Path, reconcile: bool) -> Config {
    incremental_at(&sim.base_url(), out, reconcile)
}

/// An incremental run against the API at `url` (a simulator, or a server before one).
fn incremental_at(url: &str, out: &Path, reconcile: bool) -> Config {
    let api = ApiConfig::new(url, Token::new(TOKEN).unwrap(), false).unwrap();
    let mut config = Config::new(api, OutputConfig::new(out));
    config.api.rate_limit_per_minute = 1_000_000;
    config.output.incremental = Some(Incremental { lookback: DEFAULT_LOOKBACK, reconcile });
    config
}

/// Whether `request` is a search for the changed contacts (a change set's), not for every one
/// (the probes and pages of `--reconcile`'s id listing).
fn asks_for_changes(request: &Request) -> bool {
    request.path == "/contacts/search" && String::from_utf8_lossy(&request.body).contains("updated_at")
}

fn state(out: &Path) -> TableState {
    serde_json::from_slice(&std::fs::read(out.join("contacts").join(STATE)).unwrap()).unwrap()
}

/// Every row of a table's committed runs, in run order (the full dump first), each run's files
/// in order: the order the lake's view breaks ties in.
fn rows_in_run_order(out: &Path) -> Vec<RecordBatch> {
    let table = out.join("contacts");
    let mut batches = Vec::new();
    for run in state(out).runs {
        let dir = if run.path.is_empty() { table.clone() } else { table.join(&run.path) };
        let files: Vec<PathBuf> = parquet_files(&dir)
            .into_iter()
            // The full dump's own files: not those of the change sets inside its folder.
            .filter(|f| !run.path.is_empty() || !f.strip_prefix(&table).unwrap().starts_with("run="))
            .collect();
        for file in files {
            for batch in ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap().build().unwrap() {
                batches.push(batch.unwrap());
            }
        }
    }
    batches
}

/// The lake's view, as the README's query makes it: the latest version of each id by
/// `updated_at` (a tie to the later run), tombstones dropped; each row rebuilt as JSON.
pub(crate) fn merged_view(out: &Path) -> HashMap<String, serde_json::Value> {
    let mut latest: HashMap<String, (i64, serde_json::Value)> = HashMap::new();
    for batch in rows_in_run_order(out) {
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>().clone();
        let updated =
            arrow::compute::cast(batch.column_by_name("updated_at").unwrap(), &DataType::Timestamp(TimeUnit::Second, None))
                .unwrap();
        let updated = updated.as_primitive::<TimestampSecondType>();
        for row in 0..batch.num_rows() {
            let at = updated.value(row);
            if latest.get(ids.value(row)).is_none_or(|(held, _)| *held <= at) {
                latest.insert(ids.value(row).to_string(), (at, rebuild_row(&batch, row)));
            }
        }
    }
    latest.into_iter().filter(|(_, (_, row))| row["type"] != TOMBSTONE_TYPE).map(|(id, (_, row))| (id, row)).collect()
}

/// A fresh full dump's rows, rebuilt as JSON, by id.
pub(crate) fn fresh_rows(sim: &SimHandle) -> HashMap<String, serde_json::Value> {
    let fresh = tempfile::tempdir().unwrap();
    dump(config_for(sim, fresh.path(), TOKEN)).unwrap();
    let batch = read_parquet(&parquet_files(&fresh.path().join("contacts")));
    let ids = batch.column_by_name("id").unwrap().as_string::<i32>().clone();
    (0..batch.num_rows()).map(|row| (ids.value(row).to_string(), rebuild_row(&batch, row))).collect()
}

/// Rows that differ between two views, by id (the first few, for the message).
pub(crate) fn differences(view: &HashMap<String, serde_json::Value>, fresh: &HashMap<String, serde_json::Value>) -> Vec<String> {
    let mut differ: Vec<String> = fresh.keys().filter(|id| view.get(*id) != fresh.get(*id)).cloned().collect();
    differ.extend(view.keys().filter(|id| !fresh.contains_key(*id)).cloned());
    differ.sort();
    differ.truncate(5);
    differ
}

#[test]
fn three_incremental_runs_merge_into_exactly_a_fresh_full_dump() {
    let (seed, n) = (81, 6_000);
    let out = tempfile::tempdir().unwrap();
    let full = dump(config_for(&evolved(seed, n, 0), out.path(), TOKEN)).unwrap();
    assert_eq!(full.records, n);
    let mut marks = vec![full.mark.expect("a full dump of contacts records its mark")];
    for step in 1..=3 {
        let sim = evolved(seed, n, step);
        let mut config = incremental(&sim, out.path(), true);
        // --strict compares a search with the plain list's count: a change set has none to compare.
        config.output.strict = step == 2;
        let summary = dump(config).unwrap();
        let ws = sim.state().workspace();
        let state = state(out.path());
        assert_eq!(state.runs.len(), step as usize + 1);
        assert!(summary.changed_since.unwrap() < *marks.last().unwrap(), "the lookback reaches before the mark");
        assert!(summary.records < ws.count() / 4, "step {step}: a change set, not a dump: {} records", summary.records);
        assert!(summary.tombstones.unwrap() > 0, "step {step}: the deleted and merged contacts are tombstoned");
        marks.push(summary.mark.unwrap());
        assert_eq!(state.mark, summary.mark);
        assert!(marks[step as usize] > marks[step as usize - 1], "the mark moves on with the changes");
        let view = merged_view(out.path());
        let fresh = fresh_rows(&sim);
        assert_eq!(view.len(), fresh.len(), "step {step}: the view holds every contact there is, once");
        assert_eq!(differences(&view, &fresh), Vec::<String>::new(), "step {step}: the view is the workspace, values and all");
    }
    let health = out.path().join("contacts").join(&state(out.path()).runs[1].path);
    let batch = read_parquet(
        &parquet_files(&health).into_iter().filter(|f| !f.to_string_lossy().contains("deleted")).collect::<Vec<_>>(),
    );
    assert!(batch.column_by_name("custom_health_score").is_some(), "an attribute added since the full dump is a new column");
}

#[test]
fn an_incremental_run_without_reconcile_leaves_the_deleted_in_the_view_and_the_next_reconcile_removes_them() {
    let (seed, n) = (82, 3_000);
    let out = tempfile::tempdir().unwrap();
    dump(config_for(&evolved(seed, n, 0), out.path(), TOKEN)).unwrap();
    let sim = evolved(seed, n, 1);
    let changes = dump(incremental(&sim, out.path(), false)).unwrap();
    assert_eq!(changes.tombstones, None);
    let ws = sim.state().workspace();
    assert!(merged_view(out.path()).len() as u64 > ws.count(), "the deleted contacts are still in the view");
    let reconciled = dump(incremental(&sim, out.path(), true)).unwrap();
    assert_eq!(reconciled.tombstones, Some(ws.contacts - ws.count()), "every contact gone since the full dump");
    assert_eq!(differences(&merged_view(out.path()), &fresh_rows(&sim)), Vec::<String>::new());
}

#[test]
fn a_contact_search_has_not_indexed_yet_is_asked_for_and_not_tombstoned() {
    let (seed, n) = (88, 2_000);
    let out = tempfile::tempdir().unwrap();
    // The full dump by the plain list holds the newest contacts; search does not see them yet.
    dump(config_for(&simulator(seed, n), out.path(), TOKEN)).unwrap();
    let mut lagging = SimConfig::new(seed, n, TOKEN);
    lagging.search.index_lag = 40;
    let sim = simulator_with(lagging);
    let summary = dump(incremental(&sim, out.path(), true)).unwrap();
    assert_eq!(summary.tombstones, Some(0), "each of the 40 was asked for, and is there");
    assert!(summary.api.requests >= 40 + (n - 40).div_ceil(150), "{:?}", summary.api);
    assert_eq!(merged_view(out.path()).len() as u64, n);
}

#[test]
fn a_failed_incremental_run_changes_nothing_and_the_next_one_goes_on() {
    let (seed, n) = (83, 3_000);
    let (out, before) = dumped_whole(seed, n);
    // The fifth request (a search page past the attributes and the two probes) answers what no
    // retry mends.
    let sim = evolved_with_fault(seed, n, 1, "404@5");
    let error = dump(incremental(&sim, out.path(), false)).unwrap_err();
    assert!(matches!(error, DumpError::Fetch { .. }), "{error}");
    assert_left_as_it_was(out.path(), &before);
    let sim = evolved(seed, n, 1);
    dump(incremental(&sim, out.path(), true)).unwrap();
    assert_eq!(differences(&merged_view(out.path()), &fresh_rows(&sim)), Vec::<String>::new());
}

#[test]
fn a_reconcile_whose_id_listing_cannot_be_read_whole_tombstones_nothing_and_publishes_nothing() {
    let (seed, n) = (90, 2_000);
    let (out, before) = dumped_whole(seed, n);
    // Pages of the id listing whose first record has no id: which ids are gone cannot be known.
    let sim = evolved_with_fault(seed, n, 1, "noid@6,7,8,9,10");
    let error = dump(incremental(&sim, out.path(), true)).unwrap_err();
    assert!(matches!(error, DumpError::Reconcile(_)), "{error}");
    assert!(error.to_string().contains("no tombstone was written and nothing was published"), "{error}");
    assert_left_as_it_was(out.path(), &before);
}

#[test]
fn a_change_set_or_an_id_listing_cut_short_publishes_nothing() {
    let (seed, n) = (91, 3_000);
    for reconcile in [false, true] {
        let (out, before) = dumped_whole(seed, n);
        let sim = evolved(seed, n, 1);
        // Each page of the change set's search (or, with --reconcile, of the id listing) loses its
        // last record, the count it announces unchanged.
        let cut = proxy(sim.base_url(), move |request, status, mut body| {
            let bent = if reconcile { !asks_for_changes(request) } else { asks_for_changes(request) };
            if request.path == "/contacts/search"
                && bent
                && let Some(records) = body["data"].as_array_mut().filter(|records| records.len() > 1)
            {
                records.pop();
            }
            Reply::json(status, &body)
        });
        let error = dump(incremental_at(&cut.url(), out.path(), reconcile)).unwrap_err();
        match reconcile {
            false => assert!(matches!(error, DumpError::Incomplete { .. }), "{error}"),
            true => assert!(matches!(error, DumpError::Reconcile(_)), "{error}"),
        }
        assert_left_as_it_was(out.path(), &before);
    }
}

#[test]
fn repeated_wrong_typed_future_and_echoed_values_in_a_change_set_lose_no_record_and_leak_no_token() {
    let (seed, n) = (92, 3_000);
    let (out, _) = dumped_whole(seed, n);
    let sim = evolved(seed, n, 1);
    let bent = proxy(sim.base_url(), |request, status, mut body| {
        if asks_for_changes(request)
            && let Some(records) = body["data"].as_array_mut().filter(|records| records.len() > 3)
        {
            records[0]["updated_at"] = serde_json::json!("yesterday");
            records[1]["email"] = serde_json::json!(12_345);
            records[1]["name"] = serde_json::json!(format!("Bearer {TOKEN}"));
            // The year 3000.
            records[2]["updated_at"] = serde_json::json!(32_503_680_000_i64);
            let again = records[3].clone();
            records.push(again);
        }
        Reply::json(status, &body)
    });
    let summary = dump(incremental_at(&bent.url(), out.path(), true)).unwrap();
    assert!(summary.complete && summary.records > 0, "{summary:?}");
    assert!(summary.duplicates_dropped > 0, "a record served twice is written once");
    assert!(!summary.repairs.is_empty(), "values of the wrong type are kept in _extra, their records written");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(summary.mark.unwrap() <= now, "a record from the year 3000 moves the mark no further than the clock");
    assert_eq!(state(out.path()).mark, summary.mark);
    for file in walk(out.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "{} holds the token", file.display());
    }
}

#[test]
fn an_empty_change_set_is_published_as_a_run_of_nothing_and_keeps_the_mark() {
    let (seed, n) = (93, 2_000);
    let (out, _) = dumped_whole(seed, n);
    let mark = state(out.path()).mark;
    let sim = evolved(seed, n, 1);
    // Nothing changed, as the search tells it: no record, a count of none.
    let empty = proxy(sim.base_url(), |request, status, body| match asks_for_changes(request) {
        true => Reply::json(
            status,
            &serde_json::json!({"type": "list", "data": [], "total_count": 0, "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 0}}),
        ),
        false => Reply::json(status, &body),
    });
    let summary = dump(incremental_at(&empty.url(), out.path(), false)).unwrap();
    assert_eq!((summary.records, summary.files.len()), (0, 0));
    let state = state(out.path());
    assert_eq!((state.runs.len(), state.runs[1].records, state.mark), (2, 0, mark));
}

#[test]
fn a_killed_incremental_run_changes_nothing_and_the_next_one_cleans_up_after_it() {
    let (seed, n) = (89, 4_000);
    let (out, before) = dumped_whole(seed, n);
    let slow = evolved_with_fault(seed, n, 1, "latency=40:1");
    let mut child = resumable_dump(&slow.base_url(), out.path(), &["--incremental", "--reconcile"], false).spawn().unwrap();
    // Killed once its tombstones are staged, while the change set is being listed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !walk(out.path()).iter().any(|p| p.to_string_lossy().contains("/deleted/part-")) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(std::time::Instant::now() < deadline, "no tombstones were staged");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(out.path().join("contacts").join(STATE)).unwrap(), before, "the state is as it was");
    let published: Vec<PathBuf> =
        walk(&out.path().join("contacts")).into_iter().filter(|p| p.to_string_lossy().contains("run=")).collect();
    assert_eq!(published, Vec::<PathBuf>::new(), "no change set published");
    let sim = evolved(seed, n, 1);
    dump(incremental(&sim, out.path(), true)).unwrap();
    let left: Vec<String> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["contacts"], "the killed run's staging is gone");
    assert_eq!(differences(&merged_view(out.path()), &fresh_rows(&sim)), Vec::<String>::new());
}

#[test]
fn a_custom_attribute_declared_with_another_type_keeps_its_column_and_the_run_goes_on() {
    let (seed, n) = (84, 2_000);
    let out = tempfile::tempdir().unwrap();
    dump(config_for(&evolved(seed, n, 0), out.path(), TOKEN)).unwrap();
    let mut config = SimConfig::new(seed, n, TOKEN);
    config.evolve = Some(EvolveSettings::new(1));
    config.misdeclared_attribute = Some("seats".into());
    let sim = simulator_with(config);
    let summary = dump(incremental(&sim, out.path(), false)).unwrap();
    assert!(summary.records > 0);
    let state = state(out.path());
    let seats = state.custom_attributes.iter().find(|a| a.name == "seats").unwrap();
    assert_eq!(seats.data_type, "integer", "the column's type, not the new declaration");
    let change_set = out.path().join("contacts").join(&state.runs[1].path);
    let batch = read_parquet(&parquet_files(&change_set));
    assert_eq!(batch.schema().field_with_name("custom_seats").unwrap().data_type(), &DataType::Int64);
    assert!(state.custom_attributes.iter().any(|a| a.name == "health_score"), "the new attribute joins the state");
}

#[test]
fn what_an_incremental_run_cannot_go_on_from_is_refused_by_name() {
    let sim = evolved(85, 500, 1);
    let out = tempfile::tempdir().unwrap();
    let error = dump(incremental(&sim, out.path(), false)).unwrap_err();
    assert!(matches!(error, DumpError::Sink(SinkError::NoState { .. })), "{error}");
    assert!(error.to_string().contains("run once without --incremental"), "{error}");

    let mut cursor = incremental(&sim, out.path(), false);
    cursor.listing.mode = Some(Mode::Cursor);
    assert!(matches!(dump(cursor), Err(DumpError::Config(ConfigError::IncrementalMode { .. }))));
    let mut overwrite = incremental(&sim, out.path(), false);
    overwrite.output.overwrite = true;
    assert!(matches!(dump(overwrite), Err(DumpError::Config(ConfigError::IncrementalWith { .. }))));

    dump(config_for(&sim, out.path(), TOKEN)).unwrap();
    let mut partitioned = incremental(&sim, out.path(), false);
    partitioned.output.partition_by = Some(PartitionBy::Role);
    let error = dump(partitioned).unwrap_err();
    assert!(matches!(error, DumpError::Sink(SinkError::IncrementalLayout { .. })), "{error}");
    assert!(error.to_string().contains("leave out --partition-by"), "{error}");
    std::fs::write(out.path().join("contacts").join(STATE), b"{\"format\": 7").unwrap();
    let error = dump(incremental(&sim, out.path(), false)).unwrap_err();
    assert!(matches!(error, DumpError::Sink(SinkError::BadState { .. })), "{error}");

    // From the command line: one line naming the fix, and the sink's exit code.
    let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--incremental", "--base-url", &sim.base_url(), "--out"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("INTERCOM_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no incremental state") && !stderr.contains(TOKEN), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--reconcile", "--base-url", &sim.base_url(), "--out", "x"])
        .env("INTERCOM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "--reconcile needs --incremental");
}

#[test]
#[ignore = "reads the output from Python: cargo test -- --include-ignored, with .ci/.venv or INTERCOM_DUMP_PYTHON"]
fn the_readmes_duckdb_views_of_a_table_and_its_change_sets_equal_a_fresh_full_dump() {
    let Some(python) = crate::python::python() else { return };
    let (seed, n) = (86, 4_000);
    for partitioned in [false, true] {
        let layout = |mut config: Config| {
            config.output.partition_by = partitioned.then_some(PartitionBy::Role);
            config
        };
        let out = tempfile::tempdir().unwrap();
        dump(layout(config_for(&evolved(seed, n, 0), out.path(), TOKEN))).unwrap();
        for step in 1..=3 {
            dump(layout(incremental(&evolved(seed, n, step), out.path(), step > 1))).unwrap();
        }
        let sim = evolved(seed, n, 3);
        let fresh = tempfile::tempdir().unwrap();
        dump(layout(config_for(&sim, fresh.path(), TOKEN))).unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(&python);
        command.arg(root.join("tests/python/merged_view.py")).arg(root.join("README.md")).arg(out.path()).arg(fresh.path());
        if partitioned {
            command.arg("partitioned");
        }
        let output = command.output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "partitioned: {partitioned}: {stdout}{stderr}");
        assert!(stdout.contains(&format!("view rows {}", sim.state().workspace().count())), "{stdout}");
    }
}
