//! What a published dump holds: Parquet and Arrow IPC parts, the manifest that describes them,
//! `_SUCCESS`, and the summary as JSON.

use std::collections::HashSet;
use std::fs::File;

use arrow::array::AsArray;
use intercom_dump::config::FileFormat;
use intercom_sim::{SimConfig, Workspace};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn arrow_ids(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut ids = Vec::new();
    for file in files {
        for batch in arrow::ipc::reader::FileReader::try_new(File::open(file).unwrap(), None).unwrap() {
            let batch = batch.unwrap();
            ids.extend(batch.column_by_name("id").unwrap().as_string::<i32>().iter().map(|id| id.unwrap().to_string()));
        }
    }
    ids
}

#[test]
fn both_formats_hold_every_record_and_the_manifest_vouches_for_each_file() {
    let (seed, n) = (50, 5_000);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.output.format = FileFormat::Both;
    config.output.max_file_rows = 2_000;
    let summary = dump(config).unwrap();
    assert_eq!(summary.records, n, "rows count once, whatever the formats");

    let dir = out.path().join("contacts");
    let arrow_files: Vec<_> = walk(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "arrow")).collect();
    let mut arrow_files = arrow_files;
    arrow_files.sort();
    assert_eq!((parquet_files(&dir).len(), arrow_files.len()), (3, 3));
    let ws = Workspace::new(seed, n);
    let expected: Vec<String> = (0..n).map(|i| ws.contact_id(i)).collect();
    assert_eq!(arrow_ids(&arrow_files), expected, "Arrow parts hold every contact in API order");
    assert_eq!(output_ids(out.path(), "contacts"), expected, "so do the Parquet parts");

    assert!(out.path().join("contacts/_SUCCESS").exists());
    let manifest: serde_json::Value =
        serde_json::from_reader(File::open(out.path().join("contacts/_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["records"], n);
    assert_eq!(manifest["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["source"], "contacts");
    assert_eq!(manifest["mode"], "cursor");
    assert_eq!(manifest["run_id"], summary.run_id.as_str());
    assert!(manifest["base_url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    let mut rows_by_format = std::collections::HashMap::<String, u64>::new();
    for file in files {
        let path = dir.join(file["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(file["bytes"], bytes.len() as u64, "{path:?}");
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(file["sha256"], digest.as_str(), "{path:?}");
        *rows_by_format.entry(file["format"].as_str().unwrap().to_string()).or_default() += file["rows"].as_u64().unwrap();
    }
    assert_eq!(rows_by_format["parquet"], n);
    assert_eq!(rows_by_format["arrow"], n);
    let fields: HashSet<&str> = manifest["schema"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(fields.contains("id") && fields.contains("custom_attributes") && fields.contains("tags"));
    let text = std::fs::read_to_string(out.path().join("contacts/_manifest.json")).unwrap();
    assert!(!text.contains(TOKEN), "the manifest never holds the token");
}

#[test]
fn a_failed_rerun_leaves_the_earlier_dump_and_its_markers_alone() {
    let sim = simulator(51, 1_000);
    let out = tempfile::tempdir().unwrap();
    dump(config_for(&sim, out.path(), TOKEN)).unwrap();
    let manifest = std::fs::read(out.path().join("contacts/_manifest.json")).unwrap();
    // Without --overwrite the second run is refused before anything changes.
    assert!(dump(config_for(&sim, out.path(), TOKEN)).is_err());
    assert_eq!(std::fs::read(out.path().join("contacts/_manifest.json")).unwrap(), manifest);
    assert!(out.path().join("contacts/_SUCCESS").exists());
    // A run that fails part way (a wrong token) leaves it alone too.
    let mut config = config_for(&sim, out.path(), "wrong-token");
    config.output.overwrite = true;
    assert!(dump(config).is_err());
    assert_eq!(std::fs::read(out.path().join("contacts/_manifest.json")).unwrap(), manifest);
    assert!(out.path().join("contacts/_SUCCESS").exists());
    assert_eq!(output_ids(out.path(), "contacts").len(), 1_000);
}

#[test]
fn the_cli_writes_arrow_files_and_the_summary_as_json() {
    let out = tempfile::tempdir().unwrap();
    let summary_path = out.path().join("summary.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["demo", "--contacts", "1500", "--no-progress", "--format", "arrow", "--source", "users", "--out"])
        .arg(out.path().join("dump"))
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_reader(File::open(&summary_path).unwrap()).unwrap();
    let users = (0..1_500).filter(|&i| Workspace::new(42, 1_500).role(i) == intercom_sim::Role::User).count();
    assert_eq!(summary["records"], users as u64);
    assert_eq!(summary["mode"], "scroll");
    for key in ["seconds", "records_per_second", "pages", "restarts", "duplicates_dropped"] {
        assert!(summary.get(key).is_some(), "{key}");
    }
    assert!(summary["api"].get("rate_limited").is_some() && summary["api"].get("retries").is_some());
    let files: Vec<_> =
        walk(&out.path().join("dump/users")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "arrow")).collect();
    assert_eq!(arrow_ids(&files).len(), users);
}

/// Every record rebuilt from its row equals what the simulator served, as JSON values, whether
/// the simulator generates its pages as asked or serves records it rendered beforehand (as the
/// bench does). Two documented normalisations: a null and a missing key are the same, and
/// `owner_id` is a number whether it was sent as one or as a string of digits.
#[test]
fn every_record_rebuilds_from_its_row() {
    use intercom_dump::config::{Mode, Source};
    use intercom_sim::{Prerender, RecordShape};
    let (seed, n) = (52, 3_000);
    let ws = Workspace::new(seed, n);
    let index: std::collections::HashMap<String, u64> = (0..n).map(|i| (ws.contact_id(i), i)).collect();
    let rendered = tempfile::tempdir().unwrap();
    for (prerender, source) in
        [false, true].into_iter().flat_map(|p| [Source::Contacts, Source::Users, Source::Leads].map(|s| (p, s)))
    {
        let mut sim_config = SimConfig::new(seed, n, TOKEN);
        if prerender {
            let shapes = vec![RecordShape::ContactV2, RecordShape::V1];
            sim_config.prerender = Some(Prerender::new(rendered.path(), shapes));
        }
        let sim = simulator_with(sim_config);
        let out = tempfile::tempdir().unwrap();
        let config = match source {
            Source::Contacts => config_for(&sim, out.path(), TOKEN),
            _ => v1_config(&sim, out.path(), source, Mode::Scroll),
        };
        let summary = dump(config).unwrap();
        assert_eq!(summary.repairs, Default::default(), "the simulator's records all take the fast path");
        let batch = read_parquet(&parquet_files(&out.path().join(source.name())));
        let mut with_extra = 0;
        for row in 0..batch.num_rows() {
            let rebuilt = without_nulls(rebuild_row(&batch, row));
            let id = rebuilt["id"].as_str().unwrap().to_string();
            let i = index[&id];
            let mut served = match source {
                Source::Contacts => serde_json::to_value(ws.contact(i)).unwrap(),
                _ => serde_json::to_value(ws.v1_record(i)).unwrap(),
            };
            if let Some(owner) = served.get("owner_id").and_then(|o| o.as_str()).map(|o| o.parse::<i64>().unwrap()) {
                served["owner_id"] = owner.into();
            }
            with_extra += served.get("marketing_preferences").is_some() as usize;
            assert_eq!(rebuilt, without_nulls(served), "{} record {i}, pre-rendered: {prerender}", source.name());
        }
        assert!(with_extra > 0, "some records carried fields no schema knows");
    }
}

#[test]
fn custom_attributes_get_typed_columns_and_misfits_are_counted() {
    use arrow::array::Array;
    use arrow::datatypes::{DataType, Float64Type, Int64Type};
    use intercom_sim::SimConfig;
    use intercom_sim::generator::CustomValue;

    let (seed, n) = (53, 3_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(config_for(&sim, out.path(), TOKEN)).unwrap();
    assert_eq!(summary.typed_custom_attributes.len(), 7, "{:?}", summary.typed_custom_attributes);
    assert_eq!(summary.custom_attribute_misfits, 0);
    let batch = read_parquet(&parquet_files(&out.path().join("contacts")));
    let plan = batch.column_by_name("custom_plan").unwrap().as_string::<i32>();
    let seats = batch.column_by_name("custom_seats").unwrap().as_primitive::<Int64Type>();
    let spend = batch.column_by_name("custom_monthly_spend").unwrap().as_primitive::<Float64Type>();
    let paid = batch.column_by_name("custom_paid_subscriber").unwrap().as_boolean();
    let trial = timestamp_seconds(&batch, "custom_trial_ends_at");
    assert_eq!(batch.column_by_name("custom_team_mates").unwrap().data_type(), &DataType::Int64);
    for (i, trial_at) in trial.iter().enumerate() {
        let attributes = ws.contact(i as u64).custom_attributes;
        let text = |name| match attributes.get(name) {
            Some(CustomValue::Text(t)) => Some(t.as_str()),
            _ => None,
        };
        assert_eq!(plan.is_valid(i).then(|| plan.value(i)), text("plan"), "plan of {i}");
        let integer = match attributes.get("seats") {
            Some(CustomValue::Integer(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(seats.is_valid(i).then(|| seats.value(i)), integer, "seats of {i}");
        let float = match attributes.get("monthly_spend") {
            Some(CustomValue::Float(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(spend.is_valid(i).then(|| spend.value(i)), float, "monthly_spend of {i}");
        let flag = match attributes.get("paid_subscriber") {
            Some(CustomValue::Boolean(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(paid.is_valid(i).then(|| paid.value(i)), flag, "paid_subscriber of {i}");
        let date = match attributes.get("trial_ends_at") {
            Some(CustomValue::Date(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(*trial_at, date, "trial_ends_at of {i}");
    }

    // One attribute declared with a type its values do not have: counted, never an error, and
    // the values stay in the JSON column.
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.misdeclared_attribute = Some("plan".into());
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary = dump(config_for(&sim, out.path(), TOKEN)).unwrap();
    let with_plan = (0..n).filter(|&i| ws.contact(i).custom_attributes.get("plan").is_some()).count() as u64;
    assert_eq!(summary.custom_attribute_misfits, with_plan);
    let batch = read_parquet(&parquet_files(&out.path().join("contacts")));
    let plan = batch.column_by_name("custom_plan").unwrap();
    assert_eq!((plan.data_type(), plan.null_count()), (&DataType::Int64, n as usize));
    let json = batch.column_by_name("custom_attributes").unwrap().as_string::<i32>();
    let kept = (0..n as usize).filter(|&i| json.value(i).contains("\"plan\"")).count() as u64;
    assert_eq!(kept, with_plan);
}

#[test]
fn partition_by_role_writes_hive_style_directories() {
    use intercom_dump::config::{Mode, Source};
    use intercom_sim::Role;
    let (seed, n) = (54, 4_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.output.partition_by = Some(intercom_dump::config::PartitionBy::Role);
    config.output.format = FileFormat::Both;
    let summary = dump(config).unwrap();
    assert_eq!(summary.records, n);
    // Both formats: a folder each, partitioned alike.
    for (role, value) in [(Role::User, "user"), (Role::Lead, "lead")] {
        let dir = out.path().join("contacts/parquet").join(format!("role={value}"));
        let batch = read_parquet(&parquet_files(&dir));
        let ids: Vec<String> = batch.column_by_name("id").unwrap().as_string::<i32>().iter().map(|v| v.unwrap().into()).collect();
        assert_exact_ids(&ids, ids_of_role(&ws, role));
        assert!(batch.column_by_name("role").is_none(), "role={value}: the partition column is in the path only");
        assert!(out.path().join("contacts/arrow").join(format!("role={value}")).join("part-00000.arrow").exists());
    }
    let manifest: serde_json::Value =
        serde_json::from_reader(File::open(out.path().join("contacts/_manifest.json")).unwrap()).unwrap();
    let paths: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&"parquet/role=lead/part-00000.parquet") && paths.contains(&"arrow/role=user/part-00000.arrow"),
        "{paths:?}"
    );

    // v1 leads hold one role: one directory.
    let out = tempfile::tempdir().unwrap();
    let mut config = v1_config(&sim, out.path(), Source::Leads, Mode::Scroll);
    config.output.partition_by = Some(intercom_dump::config::PartitionBy::Role);
    dump(config).unwrap();
    assert_exact_ids(&output_ids(&out.path().join("leads"), "role=lead"), ids_of_role(&ws, Role::Lead));
}

#[test]
fn several_sources_share_one_lake_folder_each_published_on_its_own() {
    let (seed, n) = (54, 3_000);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    // Slow enough that the three runs overlap.
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=20:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["dump", "--no-progress", "--base-url", &sim.base_url(), "--out"])
            .arg(out.path())
            .args(extra)
            .env("INTERCOM_TOKEN", TOKEN)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Three sources at once into one folder: each has its own lock, staging and markers.
    let runs = [run(&[]), run(&["--source", "users"]), run(&["--source", "leads", "--mode", "pages"])];
    for child in runs {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let ws = Workspace::new(seed, n);
    assert_exact_ids(&output_ids(out.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));
    assert_exact_ids(&output_ids(out.path(), "users"), ids_of_role(&ws, intercom_sim::Role::User));
    assert_exact_ids(&output_ids(out.path(), "leads"), ids_of_role(&ws, intercom_sim::Role::Lead));
    for source in ["contacts", "users", "leads"] {
        let manifest: serde_json::Value =
            serde_json::from_reader(File::open(out.path().join(source).join("_manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["source"], source);
        assert!(out.path().join(source).join("_SUCCESS").exists(), "{source}");
    }
    // Replacing one source's dump leaves the others' files and markers as they were.
    let contacts_before: Vec<_> = walk(&out.path().join("contacts")).into_iter().map(|p| std::fs::read(p).unwrap()).collect();
    let users_manifest = std::fs::read(out.path().join("users/_manifest.json")).unwrap();
    let output = run(&["--source", "users", "--overwrite"]).wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_ne!(std::fs::read(out.path().join("users/_manifest.json")).unwrap(), users_manifest, "users republished");
    let contacts_after: Vec<_> = walk(&out.path().join("contacts")).into_iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(contacts_before, contacts_after, "contacts untouched");
    let top: Vec<String> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    let mut top = top;
    top.sort();
    assert_eq!(top, ["contacts", "leads", "users"], "nothing else in the lake folder");
}
