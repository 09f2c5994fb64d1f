//! Shared by the integration tests: an in-process simulator on port 0, a config pointing at it,
//! temp dirs, and reading Parquet output back.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use intercom_dump::config::{ApiConfig, Config, Mode, OutputConfig, Source, Token};
use intercom_dump::progress::Progress;
use intercom_dump::{DumpError, RunHooks, Summary, run_dump};
use intercom_sim::{Role, SimConfig, SimHandle, Workspace};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub(crate) const TOKEN: &str = "it-token-5f2b";

/// A simulator of `contacts` contacts from `seed`, on a free loopback port.
pub(crate) fn simulator(seed: u64, contacts: u64) -> SimHandle {
    simulator_with(SimConfig::new(seed, contacts, TOKEN))
}

pub(crate) fn simulator_with(config: SimConfig) -> SimHandle {
    SimHandle::spawn(config, 0).expect("the simulator starts on port 0")
}

/// A config dumping from `sim` into `out`, with a token.
pub(crate) fn config_for(sim: &SimHandle, out: &Path, token: &str) -> Config {
    let api = ApiConfig::new(&sim.base_url(), Token::new(token).unwrap(), false).unwrap();
    let mut config = Config::new(api, OutputConfig::new(out));
    config.api.rate_limit_per_minute = 1_000_000;
    config
}

pub(crate) fn dump(config: Config) -> Result<Summary, DumpError> {
    run_dump(config, Arc::new(Progress::default()))
}

/// Every `.parquet` file under `dir`, sorted.
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    files.sort();
    files
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// All rows of the given Parquet files, in file order, as one batch.
pub(crate) fn read_parquet(files: &[PathBuf]) -> RecordBatch {
    let mut batches = Vec::new();
    let mut schema = None;
    for file in files {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(file).unwrap()).unwrap();
        schema.get_or_insert_with(|| builder.schema().clone());
        for batch in builder.build().unwrap() {
            batches.push(batch.unwrap());
        }
    }
    let schema = schema.expect("at least one file");
    concat_batches(&schema, &batches).unwrap()
}

/// A config dumping v1 `source` from `sim` by `mode`, with the version it needs.
pub(crate) fn v1_config(sim: &SimHandle, out: &Path, source: Source, mode: Mode) -> Config {
    let mut config = config_for(sim, out, TOKEN);
    config.source = source;
    config.api.version = source.default_version();
    config.listing.mode = Some(mode);
    config
}

/// The ids of every row written for `source` under `out`, in file order.
pub(crate) fn output_ids(out: &Path, source: &str) -> Vec<String> {
    let files = parquet_files(&out.join(source));
    if files.is_empty() {
        return Vec::new();
    }
    let batch = read_parquet(&files);
    batch.column_by_name("id").unwrap().as_string::<i32>().iter().map(|id| id.unwrap().to_string()).collect()
}

/// Asserts `ids` holds each of `expected` exactly once, and nothing else.
pub(crate) fn assert_exact_ids(ids: &[String], expected: impl IntoIterator<Item = String>) {
    let got: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(got.len(), ids.len(), "no id appears twice");
    let expected: HashSet<String> = expected.into_iter().collect();
    let missing = expected.iter().filter(|id| !got.contains(id.as_str())).count();
    let extra = got.iter().filter(|id| !expected.contains(**id)).count();
    assert_eq!((missing, extra, ids.len()), (0, 0, expected.len()), "the id set is the generator's");
}

/// The ids of the workspace's records of `role`, in index order.
pub(crate) fn ids_of_role(ws: &Workspace, role: Role) -> Vec<String> {
    (0..ws.contacts).filter(|&i| ws.role(i) == role).map(|i| ws.contact_id(i)).collect()
}

/// Row `row` of `batch` rebuilt as the JSON object it came from: timestamps as Unix seconds,
/// JSON-text columns parsed, `_extra`'s fields put back at the top level.
pub(crate) fn rebuild_row(batch: &RecordBatch, row: usize) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.metadata().contains_key("intercom_dump.custom_attribute") {
            // Typed copies of custom attributes: derived, not fields of the record.
            continue;
        }
        let value = json_value(field, column.as_ref(), row);
        if field.name() == "_extra" {
            if let serde_json::Value::Object(extra) = value {
                object.extend(extra);
            }
        } else {
            object.insert(field.name().clone(), value);
        }
    }
    serde_json::Value::Object(object)
}

fn json_value(field: &arrow::datatypes::Field, array: &dyn arrow::array::Array, row: usize) -> serde_json::Value {
    use arrow::datatypes::{DataType, Float64Type, Int64Type};
    use serde_json::Value;
    if array.is_null(row) {
        return Value::Null;
    }
    // The JSON text columns: plain strings in the files (Parquet marks them JSON in its own schema).
    let json_text = matches!(field.name().as_str(), "_extra" | "custom_attributes");
    match field.data_type() {
        DataType::Utf8 if json_text => serde_json::from_str(array.as_string::<i32>().value(row)).unwrap(),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(row)),
        DataType::Timestamp(_, _) => Value::from(seconds_at(array, row)),
        DataType::Struct(fields) => {
            let array = array.as_struct();
            let object = fields.iter().zip(array.columns()).map(|(f, c)| (f.name().clone(), json_value(f, c.as_ref(), row)));
            Value::Object(object.collect())
        }
        DataType::List(item) => {
            let values = array.as_list::<i32>().value(row);
            Value::Array((0..values.len()).map(|i| json_value(item, values.as_ref(), i)).collect())
        }
        other => panic!("no JSON for {other}"),
    }
}

/// A JSON value with every null-valued key removed, at every depth: to a reader, `"x": null` and
/// no `x` say the same.
pub(crate) fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// A timestamp column's values as Unix seconds, whatever its unit: Arrow parts keep seconds,
/// Parquet parts milliseconds (Parquet has no second unit).
pub(crate) fn timestamp_seconds(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch.column_by_name(name).unwrap();
    (0..column.len()).map(|row| (!column.is_null(row)).then(|| seconds_at(column.as_ref(), row))).collect()
}

fn seconds_at(array: &dyn arrow::array::Array, row: usize) -> i64 {
    use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType, TimestampSecondType};
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => array.as_primitive::<TimestampSecondType>().value(row),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let millis = array.as_primitive::<TimestampMillisecondType>().value(row);
            assert_eq!(millis % 1_000, 0, "whole seconds");
            millis / 1_000
        }
        other => panic!("{other} is not a timestamp of seconds or milliseconds"),
    }
}

/// Hooks that stall the run's Writer for `stall` at its first batch: every batch after it waits.
pub(crate) fn stalled_writer(stall: Duration) -> RunHooks {
    let mut stalled = false;
    RunHooks {
        before_write: Some(Box::new(move |_rows| {
            if !std::mem::replace(&mut stalled, true) {
                std::thread::sleep(stall);
            }
        })),
    }
}

/// Runs `intercom-dump dump` against `sim_url` into `out`, with the test token.
pub(crate) fn dump_cli(sim_url: &str, out: &Path, extra: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["dump", "--no-progress", "--base-url", sim_url, "--out"])
            .arg(out)
            .args(extra)
            .env("INTERCOM_TOKEN", TOKEN),
        Duration::from_secs(300),
    )
}

/// Exit `code`, one error line on stderr (last, after any warnings the retries logged) holding
/// `words`, no panic, and no dump published in `out`.
pub(crate) fn assert_refused(output: &Output, code: i32, words: &[&str], out: &Path) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert_eq!(stderr.lines().last(), Some(errors[0]), "the error comes last: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains('\x1b'), "no panic, no colour codes off a terminal: {stderr}");
    for word in words {
        assert!(errors[0].contains(word), "{word:?} in {stderr}");
    }
    let markers: Vec<PathBuf> =
        walk(out).into_iter().filter(|p| p.ends_with("_SUCCESS") || p.ends_with("_manifest.json")).collect();
    assert!(markers.is_empty(), "nothing published: {markers:?}");
    assert!(!out.join("contacts").join("part-00000.parquet").exists());
}

/// A plain HTTP client for talking to the simulator directly (reqwest is built without a crypto
/// provider: ring is installed first, as the dump's own client does).
pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The manifest of the dump of `source` published in `out`.
pub(crate) fn read_manifest(out: &Path, source: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join(source).join("_manifest.json")).unwrap()).unwrap()
}

/// Waits (up to `within`) until the dump `child` runs into `out` has checkpointed and staged at
/// least `parts` Parquet parts, then SIGKILLs it: no destructor, no cleanup.
pub(crate) fn kill_once_checkpointed(mut child: std::process::Child, out: &Path, parts: usize, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    let checkpointed = |dir: &Path| walk(dir).iter().any(|p| p.ends_with("checkpoint.json"));
    while !(checkpointed(out) && parquet_files(out).len() >= parts) {
        assert!(std::time::Instant::now() < deadline, "no checkpoint came");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `intercom-dump dump` against `sim_url` into `out` with `flags`, quiet, with `--resume` when
/// asked: a run to kill and resume.
pub(crate) fn resumable_dump(sim_url: &str, out: &Path, flags: &[&str], resume: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intercom-dump"));
    command
        .args(["dump", "--no-progress", "--base-url", sim_url, "--out"])
        .arg(out)
        .args(flags)
        .env("INTERCOM_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if resume {
        command.arg("--resume");
    }
    command
}

/// A simulator's answer (status, JSON) to `POST url/contacts/search` of `body`, or to `GET url`
/// without one.
pub(crate) fn ask_sim(url: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let request = match body {
            Some(body) => http_client()
                .post(format!("{url}/contacts/search"))
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap()),
            None => http_client().get(url),
        };
        let answer = request
            .bearer_auth(TOKEN)
            .header("Accept", "application/json")
            .header("Intercom-Version", if body.is_some() { "2.14" } else { "2.17" })
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap())
    })
}

/// Runs `command` to its end, or fails the test once it has run `limit`: a run that hangs must
/// fail its test, not use up the whole suite's time. Before the kill, its threads' stacks are
/// taken where gdb is installed, for the failure message.
pub(crate) fn output_within(command: &mut Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let stacks = Command::new("gdb")
                .args(["-p", &child.id().to_string(), "-batch", "-ex", "thread apply all bt"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).chars().take(30_000).collect::<String>())
                .unwrap_or_else(|e| format!("(no gdb: {e})"));
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("{command:?} still ran after {limit:?}; stderr: {stderr}\nthreads:\n{stacks}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}
