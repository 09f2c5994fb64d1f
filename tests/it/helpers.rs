//! Shared by the integration tests: an in-process simulator on port 0, a config pointing at it,
//! temp dirs, and reading Parquet output back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use intercom_dump::config::{ApiConfig, Config, OutputConfig, Token};
use intercom_dump::progress::Progress;
use intercom_dump::sim::{SimConfig, SimHandle};
use intercom_dump::{DumpError, Summary, run_dump};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const TOKEN: &str = "it-token-5f2b";

/// A simulator of `contacts` contacts from `seed`, on a free loopback port.
pub fn simulator(seed: u64, contacts: u64) -> SimHandle {
    simulator_with(SimConfig::new(seed, contacts, TOKEN))
}

pub fn simulator_with(config: SimConfig) -> SimHandle {
    SimHandle::spawn(config, 0).expect("the simulator starts on port 0")
}

/// A config dumping from `sim` into `out`, with a token.
pub fn config_for(sim: &SimHandle, out: &Path, token: &str) -> Config {
    let api = ApiConfig::new(&sim.base_url(), Token::new(token).unwrap(), false).unwrap();
    let mut config = Config::new(api, OutputConfig::new(out));
    config.api.rate_limit_per_minute = 1_000_000;
    config
}

pub fn dump(config: Config) -> Result<Summary, DumpError> {
    run_dump(config, Arc::new(Progress::default()))
}

/// Every `.parquet` file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    files.sort();
    files
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
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
pub fn read_parquet(files: &[PathBuf]) -> RecordBatch {
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
