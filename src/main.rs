//! The `intercom-dump` command: `dump` (a real workspace), `demo` (the embedded simulator,
//! dumped), `sim` (the simulator alone), `bench` (throughput against the simulator). Arguments
//! become a validated `Config` here; errors become one line on stderr and a documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the dump is complete and published |
//! | 1 | the run stopped for an unexpected reason |
//! | 2 | bad arguments or configuration |
//! | 3 | the API refused the token or its permissions (401, 403) |
//! | 4 | the API failed otherwise (version, retries exhausted, unexpected answer) |
//! | 5 | the output could not be written or published |
//! | 6 | a page could not be decoded |

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
mod cli;

use cli::bench::{BenchMode, BenchOptions, run_bench};
use intercom_dump::config::{
    ApiConfig, Compression, Config, FileFormat, ListingConfig, Mode, OutputConfig, PageQuery, PageSort, PipelineConfig, Region,
    Source, Token,
};
use intercom_dump::error::ConfigError;
use intercom_dump::progress::Progress;
use intercom_dump::version::ApiVersion;
use intercom_dump::{DumpError, Summary, run_dump};
use intercom_sim::{
    FaultPlan, FaultPlanFile, FaultRule, NextShape, ParamStyle, PastCap, Prerender, RecordShape, SimConfig, SimHandle,
};

#[derive(Parser)]
#[command(name = "intercom-dump", version, about = "Dump every contact of an Intercom workspace into Parquet, fast and whole.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dump a workspace's contacts (token from INTERCOM_TOKEN or --token-file).
    Dump(DumpArgs),
    /// Start the embedded Intercom simulator and dump it: the whole pipeline, locally.
    Demo(DemoArgs),
    /// Run the Intercom simulator alone, for other tools or a separate `dump`.
    Sim(SimArgs),
    /// Measure throughput against the embedded simulator: each listing end to end, beside one
    /// thread decoding and writing the same pages, the simulator's own rate, and peak memory.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Contacts in the simulated workspace.
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Listings to measure, comma-separated: contacts-cursor, users-scroll, leads-scroll, users-pages.
    #[arg(long, value_delimiter = ',', default_value = "contacts-cursor,users-scroll,leads-scroll,users-pages")]
    modes: Vec<BenchMode>,
    /// Also walk one cursor with this latency added to every request, against per_page / latency.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    /// Pages of 150 the latency run walks.
    #[arg(long, default_value_t = 100)]
    latency_pages: u64,
    /// Records of each listing decoded and written on one thread, for the comparison.
    #[arg(long, default_value_t = 30_000)]
    sample_records: u64,
    /// Generate every page as it is asked for instead of pre-rendering the records to disk first.
    #[arg(long)]
    live_sim: bool,
    /// The simulator compresses its answers (gzip, which the client asks for), as Intercom does:
    /// the table then shows the bytes on the wire against the JSON they carried.
    #[arg(long)]
    gzip: bool,
    /// Where the dumps and the pre-rendered records go (replaced on each run).
    #[arg(long, default_value = "intercom-dump-bench")]
    out: PathBuf,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// File format of the dumps: parquet, arrow or both.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Args)]
struct DumpArgs {
    /// Directory to write into; the dump lands in OUT/<source>/.
    #[arg(long)]
    out: PathBuf,
    /// Read the access token from this file (its first line) instead of INTERCOM_TOKEN. There is
    /// no flag taking the token itself: command lines end up in shell history and `ps`.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// API base URL (default: the region's).
    #[arg(long, conflicts_with = "region")]
    base_url: Option<String>,
    /// Where the workspace is hosted.
    #[arg(long, value_enum, default_value_t = RegionArg::Us)]
    region: RegionArg,
    /// Allow plain http:// to a host other than loopback (the token travels unencrypted).
    #[arg(long)]
    allow_insecure_http: bool,
    #[command(flatten)]
    listing: ListingArgs,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Contacts in the simulated workspace.
    #[arg(long, default_value_t = 100_000)]
    contacts: u64,
    /// Seed of the simulated workspace.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory to write into (the demo replaces its own earlier output there).
    #[arg(long, default_value = "intercom-dump-demo")]
    out: PathBuf,
    /// Make the embedded simulator fail as this JSON plan file says (see `sim --fault-plan`).
    #[arg(long, value_name = "FILE")]
    fault_plan: Option<PathBuf>,
    #[command(flatten)]
    listing: ListingArgs,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    #[arg(long, default_value_t = 100_000)]
    contacts: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The bearer token the simulator accepts.
    #[arg(long, default_value = "sim-token")]
    token: String,
    /// Requests allowed per 10-second window (Intercom's private-app limit is 1,666).
    #[arg(long, default_value_t = intercom_sim::DEFAULT_LIMIT_PER_WINDOW)]
    limit_per_window: u32,
    /// Intercom-Version applied to requests without the header.
    #[arg(long, default_value = intercom_sim::DEFAULT_API_VERSION)]
    default_version: String,
    /// Shape of `pages.next`: `page` (real answers) or `per-page` (the OpenAPI schema).
    #[arg(long, value_enum, default_value_t = NextShapeArg::Page)]
    next_shape: NextShapeArg,
    /// v1 scroll_param: the same on every page (`fixed`) or new each page (`rotating`).
    #[arg(long, value_enum, default_value_t = ParamStyleArg::Rotating)]
    scroll_param: ParamStyleArg,
    /// Seconds an unused v1 scroll lives.
    #[arg(long, default_value_t = 60)]
    scroll_expiry: u64,
    /// Answer these v1 scroll requests (1-based, comma-separated) with the restart 500.
    #[arg(long, value_delimiter = ',')]
    scroll_restart_at: Vec<u64>,
    /// Expire the open scroll at these v1 scroll requests (1-based, comma-separated).
    #[arg(long, value_delimiter = ',')]
    scroll_expire_at: Vec<u64>,
    /// Start with another client's scroll holding the lock until it expires.
    #[arg(long)]
    foreign_scroll: bool,
    /// Records v1 paging reaches.
    #[arg(long, default_value_t = 10_000)]
    page_cap: u64,
    /// What a v1 page past the cap answers: `error` (400) or `empty`.
    #[arg(long, value_enum, default_value_t = PastCapArg::Error)]
    past_cap: PastCapArg,
    /// Inject a fault, repeatable: KIND:PROBABILITY or KIND@N,N (request numbers from 1), KIND
    /// one of 429, an HTTP status (500, 502, 503, 504, 408...), reset, truncate, notjson, noid,
    /// latency=MS or latency=MIN-MAX, slow=MS. E.g. `--fault 503:0.05 --fault truncate@10,20 --fault latency=100:1`.
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<FaultRule>,
    /// Seed of the probabilistic faults: the same seed replays the same failures.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Faults from a JSON plan file (rules, their seed, the scroll's faults), added to the flags'.
    #[arg(long, value_name = "FILE")]
    fault_plan: Option<PathBuf>,
    /// Declare this custom attribute with a type its values do not have.
    #[arg(long)]
    misdeclare_attribute: Option<String>,
    /// Do not compress answers, even for clients that ask for gzip (Intercom compresses them).
    #[arg(long)]
    no_gzip: bool,
    /// Render every record (v2 and v1 shapes) into this directory before serving, and serve
    /// pages from there: much faster than generating them (about 5 KB of disk a contact).
    #[arg(long, value_name = "DIR")]
    prerender_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ListingArgs {
    /// What to dump: v2 contacts, or v1 users or leads.
    #[arg(long, value_enum, default_value_t = SourceArg::Contacts)]
    source: SourceArg,
    /// How to list it (default: the cursor for contacts; the scroll for users and leads, or the
    /// page list when a filter is given). `auto`: for users and leads, the page list when it
    /// reaches every record (at most 10,000), else the scroll.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Page list only: the one record with this email.
    #[arg(long)]
    email: Option<String>,
    /// Page list only: the one record with this phone number.
    #[arg(long)]
    phone: Option<String>,
    /// Page list only: sort field.
    #[arg(long, value_enum)]
    sort: Option<SortArg>,
    /// Page list only: sort order.
    #[arg(long, value_enum)]
    order: Option<OrderArg>,
    /// Page list only: records created in the last DAYS days.
    #[arg(long, value_name = "DAYS")]
    created_since: Option<u32>,
    /// Page list: pages fetched at once.
    #[arg(long, default_value_t = 4)]
    page_concurrency: usize,
    /// Scroll: fresh scrolls opened after one breaks (expiry, the restart 500) before giving up.
    #[arg(long, default_value_t = 5)]
    max_restarts: u32,
    /// Scroll: seconds to wait for another client's scroll to release the workspace's lock.
    #[arg(long, default_value_t = 120)]
    scroll_lock_wait: u64,
}

#[derive(Args)]
struct ApiArgs {
    /// Intercom-Version to send (default: 2.16 for contacts, 1.4 for users and leads).
    #[arg(long)]
    api_version: Option<String>,
    /// Records a page (default and most: 150 for the v2 cursor, 60 for v1 page lists; the
    /// scroll's pages are always 100).
    #[arg(long)]
    per_page: Option<u32>,
    /// Requests a minute (Intercom's private-app limit: 10,000).
    #[arg(long, default_value_t = intercom_dump::config::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    rate_limit: u32,
    /// Retries of one request after transient failures.
    #[arg(long, default_value_t = 8)]
    max_retries: usize,
    /// Longest time, in seconds, one request keeps retrying.
    #[arg(long, default_value_t = 300)]
    max_retry_elapsed: u64,
    /// Timeout of one request, in seconds.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// The largest answer read, in bytes (decompressed); a larger one fails the run.
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: usize,
}

#[derive(Args)]
struct OutputArgs {
    /// Replace an earlier dump in --out (only once this run has succeeded).
    #[arg(long)]
    overwrite: bool,
    /// File format: parquet, arrow (Arrow IPC file format) or both.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    /// Bytes per part file (on the writer's estimate) before rolling to the next.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    max_file_bytes: u64,
    /// A typed column per declared custom attribute (the default for contacts).
    #[arg(long, overrides_with = "no_typed_custom_attributes")]
    typed_custom_attributes: bool,
    /// Custom attributes as JSON text only (the default for users and leads).
    #[arg(long)]
    no_typed_custom_attributes: bool,
    /// Hive-style directories: `role` writes OUT/<source>/role=user/ and role=lead/.
    #[arg(long, value_enum)]
    partition_by: Option<PartitionArg>,
    /// v2 cursor: rows between checkpoints (each closes the open parts; --resume goes on from the last).
    #[arg(long, default_value_t = 1_000_000)]
    checkpoint_rows: u64,
    /// Go on from the last checkpoint of a v2 cursor dump into --out that did not finish (else
    /// start from the beginning). Give the same options as the run it resumes.
    #[arg(long)]
    resume: bool,
    /// Also write the run's summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Publish even when the listing delivered fewer or more records than the API announced
    /// (both counts go in the manifest, which marks the dump incomplete).
    #[arg(long)]
    allow_incomplete: bool,
    /// Parquet compression: zstd, zstd:LEVEL (1-22), snappy or none.
    #[arg(long, default_value = "zstd:1")]
    compression: String,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = 100_000)]
    row_group_rows: usize,
    /// Rows per part file before rolling to the next.
    #[arg(long, default_value_t = 1_000_000)]
    max_file_rows: usize,
}

#[derive(Args)]
struct PipelineArgs {
    /// Parser threads (default: one per core).
    #[arg(long)]
    parsers: Option<usize>,
    /// Rows decoded into one batch.
    #[arg(long, default_value_t = intercom_dump::config::DEFAULT_BATCH_ROWS)]
    batch_rows: usize,
    /// Page bytes held in memory before fetching pauses.
    #[arg(long, default_value_t = intercom_dump::config::DEFAULT_MAX_BUFFER_BYTES)]
    max_buffer_bytes: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum RegionArg {
    Us,
    Eu,
    Au,
}

#[derive(Clone, Copy, ValueEnum)]
enum NextShapeArg {
    Page,
    PerPage,
}

#[derive(Clone, Copy, ValueEnum)]
enum PartitionArg {
    Role,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Parquet,
    Arrow,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum ParamStyleArg {
    Fixed,
    Rotating,
}

#[derive(Clone, Copy, ValueEnum)]
enum PastCapArg {
    Error,
    Empty,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    Contacts,
    Users,
    Leads,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Auto,
    Cursor,
    Scroll,
    Pages,
}

/// Named as the API's fields are, `*_at` included.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum SortArg {
    CreatedAt,
    LastRequestAt,
    SignedUpAt,
    UpdatedAt,
}

#[derive(Clone, Copy, ValueEnum)]
enum OrderArg {
    Asc,
    Desc,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Dump(_) | Command::Demo(_))
        && let Err(error) = intercom_dump::interrupt::install()
    {
        eprintln!("error: cannot install the signal handlers: {error}");
        return ExitCode::from(1);
    }
    let result = match cli.command {
        Command::Dump(args) => dump(args),
        Command::Demo(args) => demo(args),
        Command::Sim(args) => sim(args),
        Command::Bench(args) => bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(error) = error.downcast_ref::<DumpError>() {
        return match error {
            DumpError::Config(_) => 2,
            DumpError::Api(api) | DumpError::Fetch { error: api, .. } | DumpError::DataAttributes(api) if api.is_auth() => 3,
            DumpError::Fetch { .. } | DumpError::DataAttributes(_) | DumpError::ResumeRefused(_) => 4,
            DumpError::Api(_) => 4,
            DumpError::Sink(_) => 5,
            DumpError::Decode(_) => 6,
            DumpError::Aborted(_) => 1,
            DumpError::Interrupted { signal } => intercom_dump::interrupt::exit_code(*signal) as u8,
            DumpError::PastPageCap { .. } => 2,
            DumpError::ScrollLocked { .. }
            | DumpError::TooManyRestarts { .. }
            | DumpError::Loop(_)
            | DumpError::Incomplete { .. } => 4,
        };
    }
    if error.downcast_ref::<ConfigError>().is_some() {
        return 2;
    }
    1
}

/// The error and its causes on one line.
fn one_line(error: &anyhow::Error) -> String {
    error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ").replace('\n', " ")
}

fn dump(args: DumpArgs) -> anyhow::Result<()> {
    let token = match &args.token_file {
        Some(path) => token_from_file(path)?,
        None => Token::new(std::env::var("INTERCOM_TOKEN").unwrap_or_default())?,
    };
    check_summary_path(&args.output)?;
    let base_url = args.base_url.clone().unwrap_or_else(|| region(args.region).base_url().to_string());
    let api = api_config(&base_url, token, args.allow_insecure_http, &args.api, &args.listing)?;
    let config = config(api, args.out, &args.listing, &args.api, &args.output, &args.pipeline)?;
    let summary = run_with_progress(config, args.no_progress)?;
    report(&summary, &args.output)
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let token = format!("demo-{:016x}", intercom_sim::generator::mix64(std::process::id() as u64 ^ args.seed));
    let mut sim_config = SimConfig::new(args.seed, args.contacts, token.clone());
    // The simulator enforces the same limit the client keeps to.
    sim_config.limit_per_window = (args.api.rate_limit / 6).max(1);
    apply_fault_plan(args.fault_plan.as_deref(), &mut sim_config)?;
    let sim = SimHandle::spawn(sim_config, 0).context("cannot start the simulator on 127.0.0.1")?;
    eprintln!("simulator: {} contacts (seed {}) at {}", args.contacts, args.seed, sim.base_url());
    let api = api_config(&sim.base_url(), Token::new(token)?, false, &args.api, &args.listing)?;
    let mut output = args.output;
    output.overwrite = true;
    let config = config(api, args.out, &args.listing, &args.api, &output, &args.pipeline)?;
    let summary = run_with_progress(config, args.no_progress)?;
    report(&summary, &output)
}

/// Prints the summary, and writes it as JSON where asked.
fn report(summary: &Summary, output: &OutputArgs) -> anyhow::Result<()> {
    print_summary(summary);
    if let Some(path) = &output.summary_json {
        let json = serde_json::to_vec_pretty(summary).context("cannot serialise the summary")?;
        // The dump is whole and published: a summary that cannot be written is worth a warning,
        // not a failed run (its place was checked before the run started).
        if let Err(error) = std::fs::write(path, json) {
            tracing::warn!("the dump is published, but --summary-json {} could not be written: {error}", path.display());
        }
    }
    Ok(())
}

/// Refuses, before anything is fetched, a `--summary-json` that could not be written.
fn check_summary_path(output: &OutputArgs) -> Result<(), ConfigError> {
    let Some(path) = &output.summary_json else { return Ok(()) };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let probe = dir.join(format!(".intercom-dump-summary-probe-{}", std::process::id()));
    let writable = std::fs::write(&probe, b"").is_ok() && !path.is_dir();
    let _ = std::fs::remove_file(&probe);
    if writable {
        return Ok(());
    }
    Err(ConfigError::SummaryPath { path: path.clone() })
}

/// The token from `--token-file`: the first line that is not blank, without a byte-order mark;
/// its errors name the file, not `INTERCOM_TOKEN`.
fn token_from_file(path: &std::path::Path) -> Result<Token, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile { path: path.to_path_buf(), reason: e.to_string() })?;
    let line = text.trim_start_matches('\u{feff}').lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    Token::new(line).map_err(|e| {
        let reason = match e {
            ConfigError::MissingToken => "it holds no token".to_string(),
            ConfigError::MalformedToken => "its first line has spaces or control characters besides the token".to_string(),
            other => other.to_string(),
        };
        ConfigError::TokenFile { path: path.to_path_buf(), reason }
    })
}

/// Adds a `--fault-plan` file's faults to a simulator's configuration.
fn apply_fault_plan(path: Option<&std::path::Path>, config: &mut SimConfig) -> Result<(), ConfigError> {
    let Some(path) = path else { return Ok(()) };
    FaultPlanFile::load(path).map_err(ConfigError::FaultPlan)?.apply(config);
    Ok(())
}

fn sim(args: SimArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::new(args.seed, args.contacts, args.token);
    config.limit_per_window = args.limit_per_window;
    config.default_version = args.default_version.parse::<ApiVersion>()?.to_string();
    config.next_shape = match args.next_shape {
        NextShapeArg::Page => NextShape::Page,
        NextShapeArg::PerPage => NextShape::PerPage,
    };
    config.scroll.param_style = match args.scroll_param {
        ParamStyleArg::Fixed => ParamStyle::Fixed,
        ParamStyleArg::Rotating => ParamStyle::Rotating,
    };
    config.scroll.idle_expiry = Duration::from_secs(args.scroll_expiry);
    config.scroll.restart_at = args.scroll_restart_at.into_iter().collect();
    config.scroll.expire_at = args.scroll_expire_at.into_iter().collect();
    config.scroll.foreign_scroll = args.foreign_scroll;
    config.page_cap = args.page_cap;
    config.faults = FaultPlan { seed: args.fault_seed, rules: args.faults };
    apply_fault_plan(args.fault_plan.as_deref(), &mut config)?;
    config.misdeclared_attribute = args.misdeclare_attribute;
    config.gzip = !args.no_gzip;
    config.prerender = args.prerender_dir.map(|dir| Prerender::new(dir, vec![RecordShape::ContactV2, RecordShape::V1]));
    config.past_cap = match args.past_cap {
        PastCapArg::Error => PastCap::Error,
        PastCapArg::Empty => PastCap::Empty,
    };
    let handle = SimHandle::spawn(config, args.port).with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    eprintln!("simulator: {} contacts (seed {}) at {} — Ctrl-C stops it", args.contacts, args.seed, handle.base_url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(tokio::signal::ctrl_c())?;
    drop(handle);
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let mut options = BenchOptions::new(args.out);
    options.contacts = args.contacts;
    options.seed = args.seed;
    options.modes = args.modes;
    options.latency = args.latency_ms.map(Duration::from_millis);
    options.latency_pages = args.latency_pages;
    options.sample_records = args.sample_records;
    options.prerender = !args.live_sim;
    options.gzip = args.gzip;
    options.format = file_format(args.format);
    options.pipeline = pipeline_config(&args.pipeline);
    let report = run_bench(&options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("cannot serialise the report")?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn file_format(format: FormatArg) -> FileFormat {
    match format {
        FormatArg::Parquet => FileFormat::Parquet,
        FormatArg::Arrow => FileFormat::Arrow,
        FormatArg::Both => FileFormat::Both,
    }
}

fn region(region: RegionArg) -> Region {
    match region {
        RegionArg::Us => Region::Us,
        RegionArg::Eu => Region::Eu,
        RegionArg::Au => Region::Au,
    }
}

fn source(listing: &ListingArgs) -> Source {
    match listing.source {
        SourceArg::Contacts => Source::Contacts,
        SourceArg::Users => Source::Users,
        SourceArg::Leads => Source::Leads,
    }
}

fn api_config(
    base_url: &str,
    token: Token,
    allow_insecure_http: bool,
    args: &ApiArgs,
    listing: &ListingArgs,
) -> Result<ApiConfig, ConfigError> {
    let mut api = ApiConfig::new(base_url, token, allow_insecure_http)?;
    api.version = match &args.api_version {
        Some(version) => version.parse().map_err(|_| ConfigError::ApiVersion(version.clone()))?,
        None => source(listing).default_version(),
    };
    if let Some(per_page) = args.per_page {
        api.per_page = per_page;
    }
    api.rate_limit_per_minute = args.rate_limit;
    api.max_retries = args.max_retries;
    api.max_retry_elapsed = Duration::from_secs(args.max_retry_elapsed);
    api.request_timeout = Duration::from_secs(args.request_timeout.max(1));
    api.max_body_bytes = args.max_body_bytes.max(1);
    Ok(api)
}

fn listing_config(args: &ListingArgs, api: &ApiArgs) -> ListingConfig {
    let defaults = ListingConfig::default();
    ListingConfig {
        mode: args.mode.map(|mode| match mode {
            ModeArg::Auto => Mode::Auto,
            ModeArg::Cursor => Mode::Cursor,
            ModeArg::Scroll => Mode::Scroll,
            ModeArg::Pages => Mode::Pages,
        }),
        query: PageQuery {
            sort: args.sort.map(|sort| match sort {
                SortArg::CreatedAt => PageSort::CreatedAt,
                SortArg::LastRequestAt => PageSort::LastRequestAt,
                SortArg::SignedUpAt => PageSort::SignedUpAt,
                SortArg::UpdatedAt => PageSort::UpdatedAt,
            }),
            ascending: args.order.map(|order| matches!(order, OrderArg::Asc)),
            created_since_days: args.created_since,
            email: args.email.clone(),
            phone: args.phone.clone(),
        },
        page_size: api.per_page.unwrap_or(defaults.page_size),
        page_concurrency: args.page_concurrency,
        max_restarts: args.max_restarts,
        scroll_lock_wait: Duration::from_secs(args.scroll_lock_wait),
        ..defaults
    }
}

fn config(
    api: ApiConfig,
    out: PathBuf,
    listing: &ListingArgs,
    api_args: &ApiArgs,
    output: &OutputArgs,
    pipeline: &PipelineArgs,
) -> Result<Config, ConfigError> {
    let mut output_config = OutputConfig::new(out);
    output_config.compression = parse_compression(&output.compression)?;
    output_config.row_group_rows = output.row_group_rows;
    output_config.max_file_rows = output.max_file_rows;
    output_config.max_file_bytes = output.max_file_bytes;
    output_config.partition_by_role = matches!(output.partition_by, Some(PartitionArg::Role));
    output_config.checkpoint_rows = output.checkpoint_rows;
    output_config.resume = output.resume;
    output_config.typed_custom_attributes = match (output.typed_custom_attributes, output.no_typed_custom_attributes) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    output_config.format = file_format(output.format);
    output_config.overwrite = output.overwrite;
    output_config.allow_incomplete = output.allow_incomplete;
    let mut config = Config::new(api, output_config);
    config.source = source(listing);
    config.listing = listing_config(listing, api_args);
    config.pipeline = pipeline_config(pipeline);
    config.validate()
}

fn pipeline_config(args: &PipelineArgs) -> PipelineConfig {
    PipelineConfig {
        parsers: args.parsers.unwrap_or(PipelineConfig::default().parsers),
        batch_rows: args.batch_rows,
        max_buffer_bytes: args.max_buffer_bytes,
    }
}

fn parse_compression(text: &str) -> Result<Compression, ConfigError> {
    match text.split_once(':') {
        None if text == "zstd" => Ok(Compression::Zstd(1)),
        None if text == "snappy" => Ok(Compression::Snappy),
        None if text == "none" => Ok(Compression::None),
        Some(("zstd", level)) => match level.parse() {
            Ok(level) => Ok(Compression::Zstd(level)),
            Err(_) => Err(ConfigError::ZstdLevelText(level.to_string())),
        },
        _ => Err(ConfigError::Compression(text.to_string())),
    }
}

/// Runs the dump with a progress bar on stderr when it is a terminal.
fn run_with_progress(config: Config, no_progress: bool) -> Result<Summary, DumpError> {
    let progress = Arc::new(Progress::default());
    let show = !no_progress && std::io::stderr().is_terminal();
    let finished = Arc::new(AtomicBool::new(false));
    let bar_thread = show.then(|| {
        let (progress, finished) = (progress.clone(), finished.clone());
        std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {human_pos}/{human_len} contacts [{bar:30}] {per_sec} eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            while !finished.load(Ordering::Relaxed) {
                bar.set_length(progress.total.load(Ordering::Relaxed));
                bar.set_position(progress.records.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        })
    });
    let result = run_dump(config, progress);
    finished.store(true, Ordering::Relaxed);
    if let Some(thread) = bar_thread {
        let _ = thread.join();
    }
    result
}

fn print_summary(summary: &Summary) {
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    println!(
        "dumped {} {} ({}) in {:.2} s: {:.0} records/s",
        summary.records,
        summary.source,
        summary.mode,
        summary.elapsed.as_secs_f64(),
        summary.records_per_second
    );
    println!("  pages:   {} ({:.1} MB of JSON)", summary.pages, mb(summary.page_bytes));
    println!("  files:   {} ({:.1} MB) in {}", summary.files.len(), mb(summary.file_bytes), summary.output_dir.display());
    println!(
        "  api:     {} requests, {} retries, {} rate-limited ({:.1} s waited)",
        summary.api.requests,
        summary.api.retries,
        summary.api.rate_limited,
        summary.api.waited_ms as f64 / 1000.0
    );
    if !summary.typed_custom_attributes.is_empty() {
        println!(
            "  custom attributes: {} typed columns, {} values did not fit their declared type (kept in custom_attributes)",
            summary.typed_custom_attributes.len(),
            summary.custom_attribute_misfits
        );
    }
    let whole = match (summary.announced, summary.complete) {
        (Some(a), true) if a.min == a.max => format!("{} written of {} announced", summary.records, a.min),
        (Some(a), true) => format!("{} written, {} to {} announced", summary.records, a.min, a.max),
        (Some(a), false) => {
            format!("INCOMPLETE: {} written, {} to {} announced (--allow-incomplete)", summary.records, a.min, a.max)
        }
        (None, _) => format!("{} written to the listing's end (it announces no count)", summary.records),
    };
    println!("  whole:   {whole}");
    println!(
        "  exactly-once: {} repeats dropped, {} ids remembered ({:.1} MB), {} scroll restarts, {:.1} MB spilled to disk",
        summary.duplicates_dropped,
        summary.ids_remembered,
        mb(summary.dedupe_bytes),
        summary.restarts,
        mb(summary.spilled_bytes)
    );
    if !summary.repairs.is_empty() {
        let fields: Vec<String> = summary.repairs.fields.iter().map(|(field, n)| format!("{field} {n}")).collect();
        println!(
            "  repairs: values kept in _extra (not fitting their column): {}; text replaced by U+FFFD: {}",
            if fields.is_empty() { "none".to_string() } else { fields.join(", ") },
            summary.repairs.replaced_text
        );
    }
}
