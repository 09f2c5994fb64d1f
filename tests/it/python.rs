//! The output as its users read it: pyarrow, pandas, polars and DuckDB, from Python, for every
//! source in both formats, each layout read as a folder. Ignored by a plain `cargo test` (its
//! summary line counts them, so a skip shows): `cargo test -- --include-ignored` runs them, as CI
//! does. `.ci/run` installs them into `.ci/.venv`; elsewhere set `INTERCOM_DUMP_PYTHON` to
//! a Python that has them. Without one the test says so and passes, unless
//! `INTERCOM_DUMP_REQUIRE_PYTHON` is set (CI sets it).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use intercom_dump::config::{FileFormat, Mode, Source};
use intercom_sim::Workspace;
use sha2::{Digest, Sha256};

use crate::helpers::*;

pub(crate) fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("INTERCOM_DUMP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/.venv/bin/python"));
    let works = Command::new(&candidate)
        .args(["-c", "import pyarrow, duckdb, polars, pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let why = format!(
        "no Python with pyarrow, duckdb, polars and pandas at {} (run .ci/run, or set INTERCOM_DUMP_PYTHON)",
        candidate.display()
    );
    assert!(std::env::var_os("INTERCOM_DUMP_REQUIRE_PYTHON").is_none(), "{why}");
    eprintln!("skipping the pyarrow/DuckDB checks: {why}");
    None
}

#[test]
#[ignore = "reads the output from Python: cargo test -- --include-ignored, with .ci/.venv or INTERCOM_DUMP_PYTHON"]
fn pyarrow_and_duckdb_read_every_source_in_both_formats() {
    let Some(python) = python() else { return };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_output.py");
    let (seed, n) = (60, 4_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    for source in [Source::Contacts, Source::Users, Source::Leads] {
        let out = tempfile::tempdir().unwrap();
        let mut config = match source {
            Source::Contacts => config_for(&sim, out.path(), TOKEN),
            _ => v1_config(&sim, out.path(), source, Mode::Scroll),
        };
        config.output.format = FileFormat::Both;
        config.output.max_file_rows = 1_500;
        dump(config).unwrap();

        let indices: Vec<u64> = (0..n)
            .filter(|&i| match source {
                Source::Contacts => true,
                Source::Users => ws.role(i) == intercom_sim::Role::User,
                Source::Leads => ws.role(i) == intercom_sim::Role::Lead,
                _ => unreachable!("the other sources are read as folders below"),
            })
            .collect();
        let mut ids: Vec<String> = indices.iter().map(|&i| ws.contact_id(i)).collect();
        ids.sort();
        let ids_sha256: String = Sha256::digest(ids.join("\n").as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let sample: Vec<serde_json::Value> = indices
            .iter()
            .step_by(97)
            .map(|&i| {
                let contact = ws.contact(i);
                serde_json::json!({
                    "id": contact.id,
                    "email": contact.email,
                    "created_at": contact.created_at,
                    "tag_count": contact.tags.data.len(),
                    "custom_attributes": contact.custom_attributes,
                })
            })
            .collect();
        let expect = serde_json::json!({"rows": indices.len(), "ids_sha256": ids_sha256, "sample": sample});
        let expect_path = out.path().join("expect.json");
        std::fs::write(&expect_path, serde_json::to_vec(&expect).unwrap()).unwrap();

        let output = Command::new(&python).arg(&script).arg(out.path()).arg(source.name()).arg(&expect_path).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{}: {stdout}{stderr}", source.name());
    }
}

#[test]
#[ignore = "reads the output from Python: cargo test -- --include-ignored, with .ci/.venv or INTERCOM_DUMP_PYTHON"]
fn colliding_custom_attribute_names_read_apart_in_pyarrow_duckdb_and_polars() {
    use serde_json::json;

    use crate::hostile_server::{HostileServer, Reply, cursor_page};
    // Names that collide by case, with a column of the schema, by spelling, and declared twice.
    let declared =
        [("plan", "string"), ("Plan", "string"), ("attributes", "integer"), ("Plan Name", "string"), ("plan", "string")];
    let server = HostileServer::start(move |request| match request.path.as_str() {
        "/data_attributes" => {
            let data: Vec<_> = declared
                .iter()
                .map(|(name, kind)| json!({"type": "data_attribute", "name": name, "data_type": kind, "custom": true, "model": "contact"}))
                .collect();
            Reply::json(200, &json!({"type": "list", "data": data}))
        }
        _ => {
            let mut page = cursor_page(&["a".to_string(), "b".to_string()], 2, None);
            page["data"][0]["custom_attributes"] = json!({"plan": "pro", "Plan": "PRO", "attributes": 7, "Plan Name": "Pro"});
            page["data"][1]["custom_attributes"] = json!({"plan": "free"});
            Reply::json(200, &page)
        }
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let batch = read_parquet(&parquet_files(&out.path().join("contacts")));
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().to_lowercase()).collect();
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let expect = json!({
        "ids": ["a", "b"],
        "columns": {
            "custom_plan": ["PRO", null],
            "custom_plan_2": ["pro", "free"],
            "custom_plan_name": ["Pro", null],
            "custom_attributes_2": [7, null],
        }
    });
    let Some(python) = python() else { return };
    let expect_path = out.path().join("expect.json");
    std::fs::write(&expect_path, expect.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_columns.py");
    let result = Command::new(python).arg(script).arg(out.path().join("contacts")).arg(&expect_path).output().unwrap();
    assert!(result.status.success(), "{}{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
}

/// A dumped folder read as a folder by pyarrow, pandas, polars and DuckDB (`check_folders.py`).
fn read_as_folder(python: &std::path::Path, folder: &std::path::Path, rows: u64, format: &str, partition: Option<&str>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_folders.py");
    let mut command = Command::new(python);
    command.arg(script).arg(folder).arg(rows.to_string()).arg(format);
    if let Some(partition) = partition {
        command.arg(partition);
    }
    let output = command.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{folder:?} ({format}, {partition:?}): {stdout}{stderr}");
}

#[test]
#[ignore = "reads the output from Python: cargo test -- --include-ignored, with .ci/.venv or INTERCOM_DUMP_PYTHON"]
fn every_reader_reads_each_layout_as_a_folder() {
    let (seed, n) = (61, 3_000);
    let ws = Workspace::new(seed, n);
    let sim = simulator(seed, n);
    let users = (0..n).filter(|&i| ws.role(i) == intercom_sim::Role::User).count() as u64;
    // Contacts partitioned by role, in both formats, with their relation tables (keyed on two
    // columns); users (one role) partitioned; leads plain.
    let out = tempfile::tempdir().unwrap();
    let mut config = config_for(&sim, out.path(), TOKEN);
    config.output.format = FileFormat::Both;
    config.output.max_file_rows = 1_000;
    config.output.partition_by = Some(intercom_dump::config::PartitionBy::Role);
    config.output.relations = true;
    let relations = dump(config).unwrap().relations;
    let mut config = v1_config(&sim, out.path(), Source::Users, Mode::Scroll);
    config.output.partition_by = Some(intercom_dump::config::PartitionBy::Role);
    dump(config).unwrap();
    dump(v1_config(&sim, out.path(), Source::Leads, Mode::Scroll)).unwrap();
    let references =
        [Source::Tags, Source::Segments, Source::Admins, Source::Teams, Source::ContactAttributes, Source::CompanyAttributes];
    let mut reference_rows = Vec::new();
    for source in [Source::Companies].into_iter().chain(references) {
        let mut config = config_for(&sim, out.path(), TOKEN);
        config.source = source;
        reference_rows.push((source.name(), dump(config).unwrap().records));
    }
    // The partition column is in the path only: a column in the files too would clash.
    let batch = read_parquet(&parquet_files(&out.path().join("contacts/parquet/role=user")));
    assert!(batch.column_by_name("role").is_none(), "role is the path's, not the files'");

    let Some(python) = python() else { return };
    let contacts = out.path().join("contacts");
    read_as_folder(&python, &contacts.join("parquet"), n, "parquet", Some("role=lead,user"));
    read_as_folder(&python, &contacts.join("arrow"), n, "arrow", Some("role=lead,user"));
    let tags: u64 = (0..n).map(|i| ws.contact_tags(i).len() as u64).sum();
    assert_eq!(relations[0].records, tags);
    for relation in &relations {
        for format in ["parquet", "arrow"] {
            read_as_folder(&python, &out.path().join(relation.table).join(format), relation.records, format, None);
        }
    }
    read_as_folder(&python, &out.path().join("users"), users, "parquet", Some("role=user"));
    read_as_folder(&python, &out.path().join("leads"), n - users, "parquet", None);
    assert_eq!(reference_rows[0], ("companies", ws.companies));
    for (table, rows) in reference_rows {
        read_as_folder(&python, &out.path().join(table), rows, "parquet", None);
    }
}

#[test]
#[ignore = "reads the output from Python, off SeaweedFS: cargo test -- --include-ignored, with .ci/.venv"]
fn pyarrow_and_polars_read_a_dump_straight_from_s3_by_its_manifests() {
    let Some(python) = python() else { return };
    let Some(bucket) = crate::seaweed::bucket("readers") else { return };
    let sim = simulator(86, 3_000);
    let flags = ["--source", "all", "--format", "both", "--partition-by", "role", "--max-file-rows", "1000"];
    let output = output_within(
        &mut crate::object_store::dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &flags),
        Duration::from_secs(300),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_s3.py");
    let tables = intercom_dump::workspace::table_names();
    let mut check = Command::new(python);
    check.arg(script).arg(format!("http://127.0.0.1:{}", crate::seaweed::S3_PORT)).arg(&bucket.name).arg("lake").args(&tables);
    let read = bucket.env(&mut check).output().unwrap();
    let stdout = String::from_utf8_lossy(&read.stdout);
    assert!(read.status.success(), "{stdout}{}", String::from_utf8_lossy(&read.stderr));
    assert_eq!(stdout.lines().filter(|l| l.ends_with("read whole")).count(), tables.len(), "{stdout}");
}
