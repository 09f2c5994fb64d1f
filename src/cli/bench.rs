//! The `bench` command's measurements, all in one process against the embedded simulator: for
//! each listing mode, a whole dump end to end, the single-thread decode+write rate of the same
//! pages (measured in the same run, so the two are comparable on a noisy machine), the
//! simulator's own serving rate, and the peak resident memory; and, when asked, one cursor
//! behind a fixed latency, against the bound `per_page / latency`.
//!
//! The simulator serves pre-rendered records by default ([`intercom_sim::rendered`]): it then
//! takes a small share of the cores, as a remote API would take none.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use intercom_dump::api::ApiError;
use intercom_dump::api::wire::{self, ListedPage};
use intercom_dump::config::{ApiConfig, Config, Mode, OutputConfig, PipelineConfig, Source, Token};
use intercom_dump::error::DumpError;
use intercom_dump::progress::Progress;
use intercom_dump::schema::{DeclaredAttribute, PageDecoder};
use intercom_dump::sink::{Partitioning, Sink};
use intercom_sim::{FaultKind, FaultPlan, FaultRule, Prerender, RecordShape, Role, SimConfig, SimHandle, When, Workspace};

/// A listing the bench measures: a source and the listing that walks it, named
/// `SOURCE-MODE` (`contacts-cursor`). The page list runs 4 pages at once with the simulator's
/// paging cap lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BenchMode {
    source: Source,
    mode: Mode,
}

impl BenchMode {
    pub(crate) const CONTACTS_CURSOR: BenchMode = BenchMode { source: Source::Contacts, mode: Mode::Cursor };
    pub(crate) const ALL: [BenchMode; 4] = [
        BenchMode::CONTACTS_CURSOR,
        BenchMode { source: Source::Users, mode: Mode::Scroll },
        BenchMode { source: Source::Leads, mode: Mode::Scroll },
        BenchMode { source: Source::Users, mode: Mode::Pages },
    ];

    pub(crate) fn name(self) -> String {
        format!("{}-{}", self.source.name(), self.mode.name())
    }

    /// The records the simulator can render ahead for this listing (companies are generated as
    /// asked for: a few thousand).
    fn shape(self) -> Option<RecordShape> {
        match self.source {
            Source::Contacts => Some(RecordShape::ContactV2),
            Source::Users | Source::Leads => Some(RecordShape::V1),
            _ => None,
        }
    }

    /// Records a page of this listing holds.
    fn per_page(self) -> u64 {
        match self.mode {
            Mode::Cursor | Mode::Search => u64::from(intercom_dump::config::MAX_PER_PAGE_V2),
            Mode::Scroll | Mode::List => intercom_dump::config::SCROLL_PAGE_SIZE as u64,
            Mode::Pages | Mode::Auto => u64::from(intercom_dump::config::MAX_PER_PAGE_V1),
        }
    }

    /// The records this listing of `ws` holds: the simulator's roles are its v1 sources.
    fn expected_records(self, ws: &Workspace) -> u64 {
        let role = match self.source {
            Source::Contacts => return ws.contacts,
            Source::Companies => return ws.companies,
            Source::Users => Role::User,
            Source::Leads => Role::Lead,
            // Refused by `from_str`: a reference list is one small request.
            _ => return 0,
        };
        (0..ws.contacts).filter(|&i| ws.role(i) == role).count() as u64
    }
}

impl std::str::FromStr for BenchMode {
    type Err = String;

    /// `SOURCE-MODE` (`contacts-search` too, which the default set leaves out); a pair the source
    /// does not serve is refused when its run's configuration is validated.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use clap::ValueEnum as _;
        let unknown = || {
            format!(
                "unknown mode {text:?}: use contacts-cursor, contacts-search, users-scroll, leads-scroll, users-pages or companies-scroll"
            )
        };
        let (source, mode) = text.split_once('-').ok_or_else(unknown)?;
        let source = Source::from_str(source, false).map_err(|_| unknown())?;
        if !matches!(source, Source::Contacts | Source::Users | Source::Leads | Source::Companies) {
            return Err(unknown());
        }
        let mode = Mode::from_str(mode, false).map_err(|_| unknown())?;
        Ok(BenchMode { source, mode })
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub(crate) struct BenchOptions {
    pub contacts: u64,
    pub seed: u64,
    pub modes: Vec<BenchMode>,
    /// One cursor behind this latency on every request, when set.
    pub latency: Option<Duration>,
    /// Pages the latency run's cursor walks.
    pub latency_pages: u64,
    /// Percent of the contacts created by one import, in the latency run's workspace.
    pub created_skew: u8,
    /// Where the dumps (and the simulator's rendered records) go; each mode replaces its own.
    pub out: PathBuf,
    /// Object storage each listing is dumped into again, for the comparison with the local disk.
    pub store_out: Option<OutputConfig>,
    /// Serve pre-rendered records (else generate each page as it is asked for).
    pub prerender: bool,
    /// The simulator compresses its answers (gzip, which the client asks for), as Intercom does.
    pub gzip: bool,
    /// Records of each listing decoded and written on one thread for the comparison.
    pub sample_records: u64,
    /// The dumps' file settings (format, compression, sizes); the directory is the bench's.
    pub output: OutputConfig,
    pub pipeline: PipelineConfig,
}

impl BenchOptions {
    pub(crate) fn new(out: impl Into<PathBuf>) -> BenchOptions {
        BenchOptions {
            contacts: 1_000_000,
            seed: 42,
            modes: BenchMode::ALL.to_vec(),
            latency: None,
            latency_pages: 100,
            created_skew: 0,
            out: out.into(),
            store_out: None,
            prerender: true,
            gzip: false,
            sample_records: 30_000,
            output: OutputConfig::new(""),
            pipeline: PipelineConfig::default(),
        }
    }
}

/// One listing, end to end.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModeReport {
    pub mode: String,
    pub records: u64,
    pub pages: u64,
    pub json_bytes: u64,
    /// Bytes that crossed the wire for the dump: the JSON, or less with `--gzip`.
    pub wire_bytes: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub mb_per_second: f64,
    /// One thread decoding the same pages (envelope and records) and writing them, in records a
    /// second: the median of three passes.
    pub single_thread_records_per_second: f64,
    pub single_thread: SingleThreadSplit,
    /// End to end over the single-thread rate.
    pub vs_single_thread: f64,
    /// End to end over `cores` x the single-thread rate: the share of the cores' ideal reached.
    pub vs_all_cores: f64,
    /// The dump's own listing and client walking the same listing with nothing decoded or
    /// written (`intercom_dump::walk`: requests as the dump makes them, every answer read,
    /// scrubbed and its envelope parsed), in records a second: the most the fetching side
    /// allows, the simulator's serving included.
    pub walk_records_per_second: f64,
    /// The walk's rate over the end-to-end rate: near 1, fetching is what bounds the dump.
    pub walk_headroom: f64,
    /// CPU seconds the process (simulator included) spent a second of the dump: how many cores
    /// it kept busy.
    pub cores_busy: Option<f64>,
    /// The process's resident memory when the dump started (the simulator's included), and its
    /// peak during the dump.
    pub rss_at_start_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    /// The highest resident memory sampled (every 100 ms) in the first and in the second half of
    /// the dump: memory that grows with the workspace shows as a second half above the first.
    pub rss_halves_bytes: Option<(u64, u64)>,
    /// Page bytes that waited on disk: a scroll cannot pause, so when it outruns the parsers
    /// its pages past the memory budget go to the spill file (a cursor and a page list pause).
    pub spilled_bytes: u64,
    /// The most page bytes in memory at once, against the memory budget, and the largest page:
    /// a listing that pauses passes the budget by at most the pages it had in flight.
    pub peak_buffered_bytes: u64,
    pub max_buffer_bytes: u64,
    pub largest_page_bytes: u64,
}

/// A listing behind a fixed latency: one cursor, or a search under the rate limit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencyReport {
    pub mode: String,
    pub latency_ms: u64,
    pub per_page: u64,
    /// Percent of the contacts created by one import (a skewed workspace).
    pub created_skew: u8,
    /// A search: the simulator's rate limit, requests a second.
    pub rate_limit_per_sec: Option<f64>,
    /// A search: the same listing's end-to-end rate without latency.
    pub pipeline_records_per_second: Option<f64>,
    pub pages: u64,
    pub records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    /// One cursor: `per_page / latency`, what one request at a time can reach. A search:
    /// `min(rate limit x per_page, the pipeline's rate)`.
    pub bound_records_per_second: f64,
    pub vs_bound: f64,
    /// Requests sent, and answers that were 429.
    pub requests: u64,
    pub rate_limited: u64,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BenchReport {
    pub cores: usize,
    pub contacts: u64,
    pub seed: u64,
    /// `prerendered` or `live`.
    pub simulator: &'static str,
    pub prerender_seconds: f64,
    pub prerendered_bytes: u64,
    pub modes: Vec<ModeReport>,
    pub latency: Option<LatencyReport>,
    /// The whole bench's peak resident memory.
    pub peak_rss_bytes: Option<u64>,
    /// Each listing to object storage against the same to the local disk (`--store-out`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub store: Vec<super::bench_store::StoreReport>,
}

const TOKEN: &str = "bench-token";
const SINGLE_THREAD_PASSES: usize = 3;

/// Runs every measurement `options` asks for. Blocks; starts actor systems of its own, so call
/// it from a thread that is not running one.
pub(crate) fn run_bench(options: &BenchOptions) -> Result<BenchReport, DumpError> {
    // Bad options fail now, not after the records are rendered.
    for &mode in &options.modes {
        dump_config("http://127.0.0.1:1", mode, options, &options.out)?;
    }
    if options.contacts == 0 {
        return Err(intercom_dump::error::ConfigError::Zero("--contacts").into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workspace = Workspace::new(options.seed, options.contacts);
    let scratch = options.out.join(".bench-scratch");
    let mut sim_config = simulator_config(options.seed, options.contacts);
    // The page list is measured over the whole workspace, not just the 10,000 the API reaches.
    sim_config.page_cap = u64::MAX;
    sim_config.gzip = options.gzip;
    if options.prerender {
        let shapes = [RecordShape::ContactV2, RecordShape::V1]
            .into_iter()
            .filter(|s| options.modes.iter().any(|m| m.shape() == Some(*s)))
            .collect();
        sim_config.prerender = Some(Prerender::new(scratch.join("simulator"), shapes));
    }
    let started = Instant::now();
    let sim = SimHandle::spawn(sim_config, 0).map_err(|e| aborted("cannot start the simulator", e))?;
    let prerender_seconds = if options.prerender { started.elapsed().as_secs_f64() } else { 0.0 };
    let prerendered_bytes = sim.state().prerendered_bytes();
    let mut peak = peak_rss();

    // Every dump first, then the measurements beside them: a dump's peak memory is then its own
    // (and the dumps before it), not what a measurement held and the allocator kept.
    let mut dumps = Vec::new();
    for &mode in &options.modes {
        let expected = mode.expected_records(&workspace);
        let config = dump_config(&sim.base_url(), mode, options, &options.out.join(mode.name()))?;
        let sent = sim.state().sent_bytes();
        let mut dump = measure_dump(mode, expected, config)?;
        dump.wire_bytes = sim.state().sent_bytes() - sent;
        dumps.push(dump);
    }
    peak = peak.max(dumps.iter().filter_map(|d| d.peak_rss_bytes).max());
    let mut store = Vec::new();
    if let Some(out) = &options.store_out {
        for dump in &dumps {
            store.push(super::bench_store::compare(dump, out)?);
        }
    }
    let mut modes = Vec::new();
    for dump in dumps {
        modes.push(measure_beside(dump, options, &scratch.join("single-thread"), cores)?);
        peak = peak.max(peak_rss());
    }
    drop(sim);
    let search = options.modes.iter().find(|m| m.mode == Mode::Search).map(|m| m.name());
    let pipeline_rate = modes.iter().find(|m| Some(&m.mode) == search.as_ref()).map(|m| m.records_per_second);
    let latency = options.latency.map(|latency| latency_run(options, latency, &scratch, pipeline_rate)).transpose()?;
    let _ = std::fs::remove_dir_all(&scratch);
    let peak_rss_bytes = peak.max(peak_rss());
    Ok(BenchReport {
        cores,
        contacts: options.contacts,
        seed: options.seed,
        simulator: if options.prerender { "prerendered" } else { "live" },
        prerender_seconds,
        prerendered_bytes,
        modes,
        latency,
        peak_rss_bytes,
        store,
    })
}

/// A listing dumped, with what was measured around the dump.
pub(super) struct MeasuredDump {
    pub(super) mode: BenchMode,
    pub(super) expected: u64,
    pub(super) config: Config,
    pub(super) summary: intercom_dump::Summary,
    cores_busy: Option<f64>,
    pub(super) rss_at_start_bytes: Option<u64>,
    pub(super) peak_rss_bytes: Option<u64>,
    rss_halves_bytes: Option<(u64, u64)>,
    wire_bytes: u64,
}

/// Dumps one listing, measuring CPU and memory around it, and checks it holds every record.
pub(super) fn measure_dump(mode: BenchMode, expected: u64, config: Config) -> Result<MeasuredDump, DumpError> {
    let rss_reset = reset_peak_rss();
    let rss_at_start_bytes = current_rss();
    let cpu_at_start = cpu_seconds();
    let sampler = RssSampler::start();
    let summary = intercom_dump::run_dump(config.clone(), Arc::new(Progress::default()));
    let rss_halves_bytes = sampler.stop();
    let summary = summary?;
    let cores_busy = cpu_seconds().zip(cpu_at_start).map(|(end, start)| (end - start) / summary.seconds.max(1e-9));
    let peak_rss_bytes = if rss_reset { peak_rss() } else { None };
    if summary.records != expected {
        return Err(DumpError::Aborted(format!("the dump wrote {} records of {expected}", summary.records)));
    }
    Ok(MeasuredDump {
        mode,
        expected,
        config,
        summary,
        cores_busy,
        rss_at_start_bytes,
        peak_rss_bytes,
        rss_halves_bytes,
        wire_bytes: 0,
    })
}

/// Measures what a dump is compared with: the dump's listing and client alone over the same
/// listing (the walk), and one
/// thread decoding and writing its first pages (three passes, the median kept: one pass is at
/// the mercy of a noisy machine).
fn measure_beside(dump: MeasuredDump, options: &BenchOptions, sample_dir: &Path, cores: usize) -> Result<ModeReport, DumpError> {
    let MeasuredDump { mode, expected, config, summary, .. } = &dump;
    let drained = drain(*mode, config, *expected, options.sample_records)?;
    let declared = if config.typed_custom_attributes() { intercom_dump::run::declared_attributes(config)? } else { Vec::new() };
    let mut splits = Vec::with_capacity(SINGLE_THREAD_PASSES);
    for _ in 0..SINGLE_THREAD_PASSES {
        splits.push(decode_and_write(&drained.sample, *mode, config, &declared, sample_dir)?);
        let _ = std::fs::remove_dir_all(sample_dir);
    }
    splits.sort_by(|a, b| a.records_per_second().total_cmp(&b.records_per_second()));
    let split = splits[SINGLE_THREAD_PASSES / 2];
    let single = split.records_per_second();
    let rate = summary.records_per_second;
    Ok(ModeReport {
        mode: mode.name(),
        records: summary.records,
        pages: summary.pages,
        json_bytes: summary.page_bytes,
        wire_bytes: dump.wire_bytes,
        seconds: summary.seconds,
        records_per_second: rate,
        mb_per_second: summary.page_bytes as f64 / 1e6 / summary.seconds.max(1e-9),
        single_thread_records_per_second: single,
        single_thread: split,
        vs_single_thread: rate / single,
        vs_all_cores: rate / (single * cores as f64),
        walk_records_per_second: drained.records_per_second,
        walk_headroom: drained.records_per_second / rate,
        cores_busy: dump.cores_busy,
        rss_at_start_bytes: dump.rss_at_start_bytes,
        peak_rss_bytes: dump.peak_rss_bytes,
        rss_halves_bytes: dump.rss_halves_bytes,
        spilled_bytes: dump.summary.spilled_bytes,
        peak_buffered_bytes: dump.summary.peak_buffered_bytes,
        max_buffer_bytes: config.pipeline.max_buffer_bytes as u64,
        largest_page_bytes: dump.summary.largest_page_bytes,
    })
}

/// The bench's simulator: no rate limit (the bench measures the client, not the API's cap).
fn simulator_config(seed: u64, contacts: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, contacts, TOKEN);
    config.limit_per_window = u32::MAX;
    config
}

impl BenchReport {
    /// The report as a plain-text table.
    pub(crate) fn table(&self) -> String {
        let mut out = format!(
            "intercom-dump bench: {} contacts (seed {}), {} cores, simulator in process ({}{})\n\n",
            self.contacts,
            self.seed,
            self.cores,
            self.simulator,
            if self.simulator == "prerendered" {
                format!(": {:.0} MB rendered in {:.1} s", self.prerendered_bytes as f64 / 1e6, self.prerender_seconds)
            } else {
                String::new()
            }
        );
        out.push_str(&format!(
            "{:<16} {:>9} {:>8} {:>10} {:>7} {:>12} {:>7} {:>8} {:>10} {:>6} {:>5} {:>9} {:>9}\n",
            "mode",
            "records",
            "seconds",
            "records/s",
            "MB/s",
            "1-thread r/s",
            "x1-thr",
            "x-cores",
            "walk r/s",
            "walk x",
            "busy",
            "RSS start",
            "peak RSS"
        ));
        for m in &self.modes {
            out.push_str(&format!(
                "{:<16} {:>9} {:>8.2} {:>10.0} {:>7.1} {:>12.0} {:>7.2} {:>8.2} {:>10.0} {:>6.1} {:>5} {:>9} {:>9}\n",
                m.mode,
                m.records,
                m.seconds,
                m.records_per_second,
                m.mb_per_second,
                m.single_thread_records_per_second,
                m.vs_single_thread,
                m.vs_all_cores,
                m.walk_records_per_second,
                m.walk_headroom,
                m.cores_busy.map_or_else(|| "n/a".to_string(), |c| format!("{c:.2}")),
                m.rss_at_start_bytes.map_or_else(|| "n/a".to_string(), mib),
                m.peak_rss_bytes.map_or_else(|| "n/a".to_string(), mib),
            ));
        }
        out.push_str("\none thread's time per 1,000 records (envelope / decode / write, ms):");
        for m in &self.modes {
            let per = |seconds: f64| seconds * 1e6 / m.single_thread.records.max(1) as f64;
            let t = &m.single_thread;
            out.push_str(&format!(
                " {} {:.1} / {:.1} / {:.1};",
                m.mode,
                per(t.envelope_seconds),
                per(t.decode_seconds),
                per(t.write_seconds)
            ));
        }
        out.push('\n');
        out.push_str("highest memory sampled in the first / second half of each dump:");
        for m in &self.modes {
            if let Some((first, second)) = m.rss_halves_bytes {
                out.push_str(&format!(" {} {} / {};", m.mode, mib(first), mib(second)));
            }
        }
        out.push('\n');
        out.push_str("bytes on the wire against the JSON they carried:");
        for m in &self.modes {
            out.push_str(&format!(" {} {:.0} of {:.0} MB;", m.mode, m.wire_bytes as f64 / 1e6, m.json_bytes as f64 / 1e6));
        }
        out.push('\n');
        out.push_str("page bytes spilled to disk (a scroll that outruns the parsers cannot pause):");
        for m in &self.modes {
            out.push_str(&format!(" {} {:.0} MB;", m.mode, m.spilled_bytes as f64 / 1e6));
        }
        out.push('\n');
        out.push_str(
            "\nx1-thr: end to end over one thread decoding and writing the same pages; x-cores: over cores x that rate;\n\
             walk r/s: the dump's listing and client alone, nothing decoded or written; walk x: that over the end-to-end rate;\n\
             busy: CPU seconds a second during the dump (cores kept busy, the simulator's share included).\n",
        );
        if !self.store.is_empty() {
            out.push_str(&super::bench_store::table(&self.store));
        }
        if let Some(l) = &self.latency {
            let what = match l.rate_limit_per_sec {
                Some(rate) => format!(
                    "{} under a limit of {rate:.0} requests/s{}, {} records",
                    l.mode,
                    if l.created_skew > 0 { format!(", {}% created on one day", l.created_skew) } else { String::new() },
                    l.records
                ),
                None => format!("one cursor of {} pages x {}", l.pages, l.per_page),
            };
            out.push_str(&format!(
                "\nlatency {} ms a request, {what}: {:.0} records/s in {:.2} s, bound {:.0}/s: {:.3} of the bound; {} requests, {} answered 429; peak RSS {}\n",
                l.latency_ms,
                l.records_per_second,
                l.seconds,
                l.bound_records_per_second,
                l.vs_bound,
                l.requests,
                l.rate_limited,
                l.peak_rss_bytes.map_or("-".into(), mib),
            ));
        }
        if let Some(peak) = self.peak_rss_bytes {
            out.push_str(&format!("\npeak RSS of the whole bench: {}\n", mib(peak)));
        }
        out
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn aborted(what: &str, error: impl std::fmt::Display) -> DumpError {
    DumpError::Aborted(format!("{what}: {error}"))
}

/// The configuration a `dump` of this listing would have, against the simulator.
fn dump_config(base_url: &str, mode: BenchMode, options: &BenchOptions, out: &Path) -> Result<Config, DumpError> {
    let mut api = ApiConfig::new(base_url, Token::new(TOKEN)?, false)?;
    api.version = mode.source.default_version();
    // The simulator enforces no limit here: the bench measures the client, not the API's cap.
    api.rate_limit_per_minute = u32::MAX / 2;
    let output = OutputConfig { dir: out.to_path_buf(), overwrite: true, ..options.output.clone() };
    let mut config = Config::new(api, output);
    config.source = mode.source;
    config.listing.mode = Some(mode.mode);
    config.listing.page_cap = u64::MAX;
    config.pipeline = options.pipeline.clone();
    Ok(config.validate()?)
}

/// A listing drained by the dump's own listing and client, nothing decoded or written.
struct Drained {
    records_per_second: f64,
    /// The first pages' bodies, as they arrived.
    sample: Vec<Bytes>,
}

/// Walks the listing as the dump does (one request at a time, or several pages of a page list
/// at once), keeping the bodies of the first `keep` records.
fn drain(mode: BenchMode, config: &Config, expected: u64, keep: u64) -> Result<Drained, DumpError> {
    let per_page = mode.per_page();
    let mut sample = Vec::new();
    let walked = intercom_dump::walk::walk(config, |page| {
        if (sample.len() as u64) * per_page < keep.max(per_page) {
            sample.push(page.body.clone());
        }
    })?;
    Ok(Drained { records_per_second: expected as f64 / walked.seconds.max(1e-9), sample })
}

/// Where one thread's decode+write time goes, in seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct SingleThreadSplit {
    pub records: u64,
    /// Reading each page's envelope (the record array's place, the next cursor).
    pub envelope_seconds: f64,
    /// The record arrays into Arrow.
    pub decode_seconds: f64,
    /// Batches into the files, closing them included.
    pub write_seconds: f64,
}

impl SingleThreadSplit {
    pub(crate) fn records_per_second(&self) -> f64 {
        self.records as f64 / (self.envelope_seconds + self.decode_seconds + self.write_seconds).max(1e-9)
    }
}

/// Decodes `bodies` (envelope, then records, in groups as the parsers get them) and writes them
/// as the dump would, on this thread alone.
fn decode_and_write(
    bodies: &[Bytes],
    mode: BenchMode,
    config: &Config,
    declared: &[DeclaredAttribute],
    dir: &Path,
) -> Result<SingleThreadSplit, DumpError> {
    let source = mode.source;
    let per_group = (config.pipeline.batch_rows as u64 / mode.per_page()).max(1) as usize;
    let mut split = SingleThreadSplit::default();
    let mut decoder = PageDecoder::for_source(source, config.decoder_batch_rows(), declared);
    let mut sink = Sink::new(dir, decoder.schema().clone(), &config.output, Partitioning::None)?;
    for group in bodies.chunks(per_group) {
        let started = Instant::now();
        let pages =
            group.iter().map(|body| wire::parse_page_of(source, body.clone())).collect::<Result<Vec<ListedPage>, ApiError>>()?;
        let parsed = Instant::now();
        let batch = decoder.decode(pages.iter().map(|p| p.page.records_json()))?;
        let decoded = Instant::now();
        sink.write(&batch)?;
        split.records += batch.num_rows() as u64;
        split.envelope_seconds += (parsed - started).as_secs_f64();
        split.decode_seconds += (decoded - parsed).as_secs_f64();
        split.write_seconds += decoded.elapsed().as_secs_f64();
    }
    let closing = Instant::now();
    sink.finish()?;
    split.write_seconds += closing.elapsed().as_secs_f64();
    Ok(split)
}

/// A listing behind a simulator that answers every request after `latency`. One cursor of
/// `latency_pages` pages, against `per_page / latency`; or, when the modes hold a search, a
/// search of the whole workspace under Intercom's rate limit (1,666 requests a 10 s window),
/// against `min(the limit x per_page, the pipeline's rate)` (the pipeline's rate: the same
/// listing's dump without latency, when it was measured).
fn latency_run(
    options: &BenchOptions,
    latency: Duration,
    scratch: &Path,
    pipeline_rate: Option<f64>,
) -> Result<LatencyReport, DumpError> {
    let search = options.modes.iter().copied().find(|m| m.mode == Mode::Search);
    let mode = search.unwrap_or(BenchMode::CONTACTS_CURSOR);
    let per_page = mode.per_page();
    let contacts = if search.is_some() { options.contacts } else { options.latency_pages.max(1) * per_page };
    let mut sim_config = simulator_config(options.seed, contacts);
    sim_config.imported_percent = options.created_skew;
    let rate_limit = search.map(|_| {
        sim_config.limit_per_window = intercom_sim::DEFAULT_LIMIT_PER_WINDOW;
        f64::from(sim_config.limit_per_window) / sim_config.window_secs as f64
    });
    sim_config.faults = FaultPlan {
        seed: 1,
        rules: vec![FaultRule { kind: FaultKind::Latency(latency, latency), when: When::Probability(1.0) }],
    };
    if options.prerender {
        sim_config.prerender = Some(Prerender::new(scratch.join("latency-simulator"), vec![RecordShape::ContactV2]));
    }
    let sim = SimHandle::spawn(sim_config, 0).map_err(|e| aborted("cannot start the simulator", e))?;
    let config = dump_config(&sim.base_url(), mode, options, &options.out.join("latency"))?;
    let dump = measure_dump(mode, contacts, config)?;
    let summary = &dump.summary;
    let one_cursor = per_page as f64 / latency.as_secs_f64();
    let bound = match rate_limit {
        Some(rate) => (rate * per_page as f64).min(pipeline_rate.unwrap_or(f64::INFINITY)),
        None => one_cursor,
    };
    Ok(LatencyReport {
        mode: mode.name(),
        latency_ms: latency.as_millis() as u64,
        per_page,
        created_skew: options.created_skew,
        rate_limit_per_sec: rate_limit,
        pipeline_records_per_second: pipeline_rate.filter(|_| rate_limit.is_some()),
        pages: summary.pages,
        records: summary.records,
        seconds: summary.seconds,
        records_per_second: summary.records_per_second,
        bound_records_per_second: bound,
        vs_bound: summary.records_per_second / bound,
        requests: summary.api.requests,
        rate_limited: summary.api.rate_limited,
        peak_rss_bytes: dump.peak_rss_bytes,
    })
}

/// Samples this process's resident memory on a thread of its own while a dump runs.
struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                samples.extend(current_rss());
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        RssSampler { stop, thread }
    }

    /// The highest sample of each half of the run, when there were samples in both.
    fn stop(self) -> Option<(u64, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = self.thread.join().ok()?;
        let (first, second) = samples.split_at(samples.len() / 2);
        Some((*first.iter().max()?, *second.iter().max()?))
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux: `clear_refs` 5); false where that
/// cannot be done.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// This process's peak resident memory since start or the last reset (Linux `VmHWM`).
pub(crate) fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// CPU seconds this process has used, all threads, user and system (Linux `/proc/self/stat`,
/// in the kernel's 100 Hz ticks).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// This process's resident memory now (Linux `VmRSS`).
pub(crate) fn current_rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_name() {
        for mode in BenchMode::ALL {
            assert_eq!(mode.name().parse::<BenchMode>(), Ok(mode));
        }
        assert!("cursor".parse::<BenchMode>().is_err());
        assert_eq!("contacts-search".parse::<BenchMode>().map(BenchMode::name), Ok("contacts-search".to_string()));
        assert!("contacts-everything".parse::<BenchMode>().is_err());
    }
}
