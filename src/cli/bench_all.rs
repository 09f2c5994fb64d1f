//! `bench --modes all`: the whole workspace (`--source all`) against the embedded simulator as
//! Intercom would serve it, behind a latency on every request and under Intercom's rate limit
//! (1,666 requests a 10 s window, which the client keeps to as well): how much of the rate limit
//! the run keeps busy from start to end, the contacts' search, the companies scroll, the
//! reference lists and the follow-up calls for lists past ten all sharing it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use intercom_dump::config::{ApiConfig, Config, OutputConfig, PipelineConfig, Token};
use intercom_dump::error::DumpError;
use intercom_dump::progress::Progress;
use intercom_sim::{FaultKind, FaultPlan, FaultRule, Prerender, RecordShape, SimConfig, SimHandle, When};
use serde::Serialize;

const TOKEN: &str = "bench-all-token";

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TableReport {
    pub table: String,
    pub records: u64,
    pub seconds: f64,
    pub requests: u64,
}

/// What the workspace run is measured against.
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceBench {
    pub contacts: u64,
    /// One for every 20 contacts unless given.
    pub companies: Option<u64>,
    /// Percent of the contacts whose tags and companies run past ten.
    pub long_lists_percent: u8,
    /// Added to every request (0: none).
    pub latency: Duration,
}

/// One `--source all` run, measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkspaceReport {
    pub contacts: u64,
    pub companies: u64,
    pub long_lists_percent: u8,
    pub latency_ms: u64,
    /// Each table's records, seconds and requests (a relation table's are its contacts' run's).
    pub tables: Vec<TableReport>,
    pub seconds: f64,
    pub requests: u64,
    pub rate_limited: u64,
    pub requests_per_second: f64,
    pub rate_limit_per_second: f64,
    /// Requests a second over the rate limit, over the whole run.
    pub vs_rate_limit: f64,
    /// Requests over all the limit allowed in the run's time: one window's burst at the start,
    /// then the rate (a stricter measure of idle time than `vs_rate_limit` for a short run).
    pub vs_allowed: f64,
}

/// Runs the workspace dump into `out/all` and reports its pace. `prerender`: the simulator
/// renders the contacts ahead (scratch under `out`).
pub(crate) fn workspace_run(
    bench: &WorkspaceBench,
    seed: u64,
    prerender: bool,
    output: &OutputConfig,
    pipeline: &PipelineConfig,
    out: &Path,
) -> Result<WorkspaceReport, DumpError> {
    // Bad options fail now, before the records are rendered.
    let rate_limit_per_minute = intercom_sim::DEFAULT_LIMIT_PER_WINDOW * 6;
    let config = |base_url: &str| -> Result<Config, DumpError> {
        let mut api = ApiConfig::new(base_url, Token::new(TOKEN)?, false)?;
        // The client keeps to the limit the simulator enforces (10,000 a minute).
        api.rate_limit_per_minute = rate_limit_per_minute;
        let mut config = Config::new(api, OutputConfig { dir: out.join("all"), overwrite: true, ..output.clone() });
        config.pipeline = pipeline.clone();
        intercom_dump::workspace::validate(&config)?;
        Ok(config)
    };
    config("http://127.0.0.1:1")?;
    let mut sim_config = SimConfig::new(seed, bench.contacts, TOKEN);
    if let Some(companies) = bench.companies {
        sim_config.companies = companies;
    }
    sim_config.long_lists_percent = bench.long_lists_percent;
    // Intercom's limit, enforced by the simulator in its 10 s windows.
    sim_config.limit_per_window = intercom_sim::DEFAULT_LIMIT_PER_WINDOW;
    let rate_limit_per_second = f64::from(sim_config.limit_per_window) / sim_config.window_secs as f64;
    if !bench.latency.is_zero() {
        sim_config.faults = FaultPlan {
            seed: 1,
            rules: vec![FaultRule { kind: FaultKind::Latency(bench.latency, bench.latency), when: When::Probability(1.0) }],
        };
    }
    let scratch = out.join(".bench-all-scratch");
    if prerender {
        sim_config.prerender = Some(Prerender::new(scratch.join("simulator"), vec![RecordShape::ContactV2]));
    }
    let companies = sim_config.companies;
    let sim = SimHandle::spawn(sim_config, 0).map_err(|e| DumpError::Aborted(format!("cannot start the simulator: {e}")))?;
    let summary = intercom_dump::workspace::run_workspace(config(&sim.base_url())?, Arc::new(Progress::default()));
    drop(sim);
    let _ = std::fs::remove_dir_all(&scratch);
    let summary = summary?;
    let tables = summary
        .tables
        .iter()
        .flat_map(|t| {
            let report =
                |table: &str, records| TableReport { table: table.into(), records, seconds: t.seconds, requests: t.api.requests };
            std::iter::once(report(t.source, t.records)).chain(t.relations.iter().map(move |r| report(r.table, r.records)))
        })
        .collect();
    Ok(WorkspaceReport {
        contacts: bench.contacts,
        companies,
        long_lists_percent: bench.long_lists_percent,
        latency_ms: bench.latency.as_millis() as u64,
        tables,
        seconds: summary.seconds,
        requests: summary.requests,
        rate_limited: summary.tables.iter().map(|t| t.api.rate_limited).sum(),
        requests_per_second: summary.requests_per_second,
        rate_limit_per_second,
        vs_rate_limit: summary.requests_per_second / rate_limit_per_second,
        vs_allowed: summary.requests as f64 / (rate_limit_per_second * (10.0 + summary.seconds)),
    })
}

impl WorkspaceReport {
    /// The report as text.
    pub(crate) fn table(&self) -> String {
        let mut out = format!(
            "\nall (--source all): {} contacts, {} companies, {}% with lists past ten, {} ms a request, rate limit {:.1}/s\n",
            self.contacts, self.companies, self.long_lists_percent, self.latency_ms, self.rate_limit_per_second
        );
        out.push_str(&format!("  {:<20} {:>9} {:>8} {:>9}\n", "table", "records", "seconds", "requests"));
        for t in &self.tables {
            out.push_str(&format!("  {:<20} {:>9} {:>8.2} {:>9}\n", t.table, t.records, t.seconds, t.requests));
        }
        out.push_str(&format!(
            "  {} requests ({} answered 429) in {:.2} s: {:.1} a second, {:.2} x the rate limit; {:.2} of what the limit allowed in that time (a window's burst, then the rate)\n",
            self.requests, self.rate_limited, self.seconds, self.requests_per_second, self.vs_rate_limit, self.vs_allowed
        ));
        out
    }
}
