//! `bench --store-out s3://...`: each listing dumped a second time, into object storage, in the
//! same run, so that the store's rate is read against the local disk's on the same machine at
//! the same moment. The store's dump is the same configuration but for `--out`; its parts
//! stream up as they are written (no local copy), and its peak memory is its own.

use serde::Serialize;

use intercom_dump::DumpError;
use intercom_dump::config::OutputConfig;

use super::bench::{MeasuredDump, measure_dump};

/// One listing, to the local disk and to the store.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoreReport {
    pub mode: String,
    /// Where it went (`s3://bucket/prefix/<mode>`).
    pub out: String,
    pub records: u64,
    pub file_bytes: u64,
    pub local_records_per_second: f64,
    pub store_records_per_second: f64,
    /// The store's rate over the local disk's.
    pub vs_local: f64,
    /// Resident memory when each dump started (what earlier dumps left the allocator holding
    /// included) and at its peak: the difference is the dump's own.
    pub local_rss_bytes: (Option<u64>, Option<u64>),
    pub store_rss_bytes: (Option<u64>, Option<u64>),
}

/// Dumps `local`'s listing again into `store` (a folder named after the mode under it), and
/// compares.
pub(super) fn compare(local: &MeasuredDump, store: &OutputConfig) -> Result<StoreReport, DumpError> {
    let mode = local.mode.name();
    let out = format!("{}/{mode}", store.dir.display());
    let mut output = OutputConfig::at(&out, store.storage.as_ref().map(|s| s.options.clone()).unwrap_or_default())?;
    output = OutputConfig { dir: output.dir, storage: output.storage, overwrite: true, ..local.config.output.clone() };
    let mut config = local.config.clone();
    config.output = output;
    let measured = measure_dump(local.mode, local.expected, config)?;
    Ok(StoreReport {
        mode,
        out,
        records: measured.summary.records,
        file_bytes: measured.summary.file_bytes,
        local_records_per_second: local.summary.records_per_second,
        store_records_per_second: measured.summary.records_per_second,
        vs_local: measured.summary.records_per_second / local.summary.records_per_second.max(1e-9),
        local_rss_bytes: (local.rss_at_start_bytes, local.peak_rss_bytes),
        store_rss_bytes: (measured.rss_at_start_bytes, measured.peak_rss_bytes),
    })
}

/// The comparison as lines of the bench's table.
pub(super) fn table(reports: &[StoreReport]) -> String {
    let mib = |(start, peak): (Option<u64>, Option<u64>)| match (start, peak) {
        (Some(start), Some(peak)) => format!("{:.0}->{:.0} MiB", start as f64 / 1048576.0, peak as f64 / 1048576.0),
        _ => "n/a".to_string(),
    };
    let mut out = format!(
        "\nto object storage, the same dumps again:\n{:<16} {:>9} {:>9} {:>12} {:>12} {:>7} {:>15} {:>15}  {}\n",
        "mode", "records", "MB", "local r/s", "store r/s", "x local", "RSS local", "RSS store", "into"
    );
    for r in reports {
        out.push_str(&format!(
            "{:<16} {:>9} {:>9.1} {:>12.0} {:>12.0} {:>7.2} {:>15} {:>15}  {}\n",
            r.mode,
            r.records,
            r.file_bytes as f64 / 1e6,
            r.local_records_per_second,
            r.store_records_per_second,
            r.vs_local,
            mib(r.local_rss_bytes),
            mib(r.store_rss_bytes),
            r.out
        ));
    }
    out
}
