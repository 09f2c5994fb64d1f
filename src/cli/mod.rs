//! The command line: its arguments (derived with clap; the config's own enums are the value
//! types) and how they become a validated [`Config`], once. The commands themselves are in
//! [`commands`]; the bench in [`bench`].

pub(crate) mod bench;
pub(crate) mod bench_all;
pub(crate) mod bench_store;
pub(crate) mod commands;
pub(crate) mod config_file;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use intercom_dump::config::{
    ApiConfig, Compression, Config, FileFormat, Incremental, ListingConfig, Mode, OutputConfig, PageQuery, PageSort, PartitionBy,
    PipelineConfig, Region, SortOrder, Source, Token,
};
use intercom_dump::error::ConfigError;
use intercom_sim::search::DateMatch;
use intercom_sim::{FaultRule, NextShape, ParamStyle, PastCap};

use bench::BenchMode;

/// A `bench --modes` entry: one listing, or the whole workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BenchTarget {
    Listing(BenchMode),
    All,
}

impl std::str::FromStr for BenchTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "all" => Ok(BenchTarget::All),
            listing => listing
                .parse()
                .map(BenchTarget::Listing)
                .map_err(|e: String| e.replace(" or companies-scroll", ", companies-scroll or all")),
        }
    }
}

#[derive(Parser)]
#[command(name = "intercom-dump", version, about = "Dump every contact of an Intercom workspace into Parquet, fast and whole.")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Logs (stderr) as plain lines, or as JSON lines for a scheduler (Airflow, Dagster,
    /// Kubernetes); the final error line too.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "INTERCOM_DUMP_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// A TOML file of options by flag name (`search-concurrency = 32`, `out = "lake"`), for the
    /// options a team keeps in a repository: a flag wins over the environment, the environment
    /// over the file, the file over the defaults.
    #[arg(long, global = true, value_name = "FILE", env = "INTERCOM_DUMP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Dump a workspace's contacts (token from INTERCOM_TOKEN or --token-file).
    #[command(after_help = DUMP_EXAMPLES)]
    Dump(DumpArgs),
    /// Check what a dump with these options would meet and do, in a few requests, without
    /// dumping: the token, region and API version, the declared custom attributes, --out, the
    /// count, the listing auto would choose and the time it would take at the rate limit.
    Check(DumpArgs),
    /// Start the embedded Intercom simulator and dump it: the whole pipeline, locally.
    Demo(DemoArgs),
    /// Run the Intercom simulator alone, for other tools or a separate `dump`.
    Sim(SimArgs),
    /// Measure throughput against the embedded simulator: each listing end to end, beside one
    /// thread decoding and writing the same pages, the simulator's own rate, and peak memory.
    Bench(BenchArgs),
    /// Print a shell completion script: `intercom-dump completions bash > /etc/bash_completion.d/intercom-dump`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `intercom-dump man > intercom-dump.1`.
    Man,
}

const DUMP_EXAMPLES: &str = "\
Examples:
  INTERCOM_TOKEN=... intercom-dump dump --out ./lake                      # every contact, the v2 cursor
  intercom-dump dump --out ./lake --mode search                           # at the rate limit's pace
  intercom-dump dump --out ./lake --mode auto --partition-by role --format both
  intercom-dump dump --out ./lake --source users                          # v1 users, the scroll
  intercom-dump dump --out ./lake --source leads --created-since 7        # the page list, filtered
  intercom-dump dump --out ./lake --source companies                      # every company, the scroll
  intercom-dump dump --out ./lake --source tags                           # a reference list, one request
  intercom-dump dump --out ./lake --resume                                # go on after a crash
  intercom-dump dump --out s3://lake/intercom --source all                # straight into a bucket (AWS_* credentials)

The token comes from INTERCOM_TOKEN (or --token-file); every option also from INTERCOM_DUMP_<FLAG>.
Exit codes: 0 published, 2 bad arguments, 3 token refused, 4 API failed or not whole, 5 output, 6 decode.";

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Contacts in the simulated workspace.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) contacts: u64,
    /// Seed of the generated workspace.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Listings to measure, comma-separated: contacts-cursor, contacts-search, users-scroll,
    /// leads-scroll, users-pages, companies-scroll (one company for every 20 contacts); and
    /// `all`: the whole workspace (--source all) under Intercom's rate limit, behind
    /// --latency-ms, against that limit.
    #[arg(long, value_delimiter = ',', default_value = "contacts-cursor,users-scroll,leads-scroll,users-pages")]
    pub(crate) modes: Vec<BenchTarget>,
    /// `all`: companies in the workspace (default: one for every 20 contacts).
    #[arg(long)]
    pub(crate) companies: Option<u64>,
    /// `all`: percent of the contacts whose tags and companies run past the ten a contact shows.
    #[arg(long, default_value_t = intercom_sim::generator::DEFAULT_LONG_LISTS_PERCENT, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) long_lists: u8,
    /// Also dump with this latency added to every request: one cursor, against per_page /
    /// latency; or, with contacts-search in --modes, the whole workspace's search under
    /// Intercom's rate limit, against min(limit x per_page, the search's rate without latency).
    #[arg(long, value_name = "MS")]
    pub(crate) latency_ms: Option<u64>,
    /// Pages of 150 the latency run's cursor walks.
    #[arg(long, default_value_t = 100)]
    pub(crate) latency_pages: u64,
    /// Percent of the latency run's contacts created by one import within an hour (a skewed
    /// workspace, as a CSV import leaves it).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) created_skew: u8,
    /// Records of each listing decoded and written on one thread, for the comparison.
    #[arg(long, default_value_t = 30_000)]
    pub(crate) sample_records: u64,
    /// Generate every page as it is asked for instead of pre-rendering the records to disk first.
    #[arg(long)]
    pub(crate) live_sim: bool,
    /// The simulator compresses its answers (gzip, which the client asks for), as Intercom does:
    /// the table then shows the bytes on the wire against the JSON they carried.
    #[arg(long)]
    pub(crate) gzip: bool,
    /// Where the dumps and the pre-rendered records go (replaced on each run).
    #[arg(long, default_value = "intercom-dump-bench")]
    pub(crate) out: PathBuf,
    /// Also dump each listing into this object storage (s3://BUCKET/PREFIX...), after the same
    /// dump to --out, and compare the two rates.
    #[arg(long, value_name = "URL")]
    pub(crate) store_out: Option<String>,
    /// An option of --store-out's client (as `dump --storage-option`).
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_storage_option)]
    pub(crate) storage_options: Vec<(String, String)>,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) files: FileArgs,
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
}

#[derive(Args)]
pub(crate) struct DumpArgs {
    /// Where to write: a local folder, or object storage (s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
    /// az://CONTAINER/PREFIX); the dump lands in OUT/<source>/.
    #[arg(long, env = "INTERCOM_DUMP_OUT")]
    pub(crate) out: String,
    /// Read the access token from this file (its first line) instead of INTERCOM_TOKEN. There is
    /// no flag taking the token itself: command lines end up in shell history and `ps`.
    #[arg(long, env = "INTERCOM_DUMP_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// API base URL (default: the region's).
    #[arg(long, env = "INTERCOM_DUMP_BASE_URL", conflicts_with = "region")]
    pub(crate) base_url: Option<String>,
    /// Where the workspace is hosted.
    #[arg(long, env = "INTERCOM_DUMP_REGION", value_enum, default_value_t = Region::Us)]
    pub(crate) region: Region,
    /// Allow plain http:// to a host other than loopback (the token travels unencrypted).
    #[arg(long, env = "INTERCOM_DUMP_ALLOW_INSECURE_HTTP")]
    pub(crate) allow_insecure_http: bool,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Contacts in the simulated workspace.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) contacts: u64,
    /// Seed of the simulated workspace.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Directory to write into (the demo replaces its own earlier output there).
    #[arg(long, default_value = "intercom-dump-demo")]
    pub(crate) out: PathBuf,
    /// Make the embedded simulator fail as this JSON plan file says (see `sim --fault-plan`).
    #[arg(long, value_name = "FILE")]
    pub(crate) fault_plan: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Args)]
pub(crate) struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Contacts in the simulated workspace.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) contacts: u64,
    /// Seed of the generated workspace: the same seed and size give the same contacts.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Companies in the simulated workspace (default: one for every 20 contacts).
    #[arg(long)]
    pub(crate) companies: Option<u64>,
    /// The bearer token the simulator accepts.
    #[arg(long, default_value = "sim-token")]
    pub(crate) token: String,
    /// Requests allowed per 10-second window (Intercom's private-app limit is 1,666).
    #[arg(long, default_value_t = intercom_sim::DEFAULT_LIMIT_PER_WINDOW)]
    pub(crate) limit_per_window: u32,
    /// Intercom-Version applied to requests without the header.
    #[arg(long, default_value = intercom_sim::DEFAULT_API_VERSION)]
    pub(crate) default_version: String,
    /// Shape of `pages.next`: `page` (real answers) or `per-page` (the OpenAPI schema).
    #[arg(long, value_enum, default_value_t = NextShape::Page)]
    pub(crate) next_shape: NextShape,
    /// v1 scroll_param: the same on every page (`fixed`) or new each page (`rotating`).
    #[arg(long, value_enum, default_value_t = ParamStyle::Rotating)]
    pub(crate) scroll_param: ParamStyle,
    /// Seconds an unused v1 scroll lives.
    #[arg(long, default_value_t = 60)]
    pub(crate) scroll_expiry: u64,
    /// Answer these v1 scroll requests (1-based, comma-separated) with the restart 500.
    #[arg(long, value_delimiter = ',')]
    pub(crate) scroll_restart_at: Vec<u64>,
    /// Expire the open scroll at these v1 scroll requests (1-based, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) scroll_expire_at: Vec<u64>,
    /// Start with another client's scroll holding the lock until it expires.
    #[arg(long)]
    pub(crate) foreign_scroll: bool,
    /// Answer these companies scroll requests (1-based, comma-separated) with the restart 500.
    #[arg(long, value_delimiter = ',')]
    pub(crate) companies_scroll_restart_at: Vec<u64>,
    /// Expire the open companies scroll at these companies scroll requests (1-based, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) companies_scroll_expire_at: Vec<u64>,
    /// Start with another client's companies scroll holding its lock until it expires.
    #[arg(long)]
    pub(crate) foreign_companies_scroll: bool,
    /// Percent of the contacts whose tags and companies run past the ten an inline list shows.
    #[arg(long, default_value_t = intercom_sim::generator::DEFAULT_LONG_LISTS_PERCENT, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) long_lists: u8,
    /// Records v1 paging reaches.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) page_cap: u64,
    /// What a v1 page past the cap answers: `error` (400) or `empty`.
    #[arg(long, value_enum, default_value_t = PastCap::Error)]
    pub(crate) past_cap: PastCap,
    /// Inject a fault, repeatable: KIND:PROBABILITY or KIND@N,N (request numbers from 1), KIND
    /// one of 429, an HTTP status (500, 502, 503, 504, 408...), reset, truncate, notjson, noid,
    /// latency=MS or latency=MIN-MAX, slow=MS. E.g. `--fault 503:0.05 --fault truncate@10,20 --fault latency=100:1`.
    #[arg(long = "fault", value_name = "RULE")]
    pub(crate) faults: Vec<FaultRule>,
    /// Seed of the probabilistic faults: the same seed replays the same failures.
    #[arg(long, default_value_t = 1)]
    pub(crate) fault_seed: u64,
    /// Faults from a JSON plan file (rules, their seed, the scroll's faults), added to the flags'.
    #[arg(long, value_name = "FILE")]
    pub(crate) fault_plan: Option<PathBuf>,
    /// Declare this custom attribute with a type its values do not have.
    #[arg(long)]
    pub(crate) misdeclare_attribute: Option<String>,
    /// Do not compress answers, even for clients that ask for gzip (Intercom compresses them).
    #[arg(long)]
    pub(crate) no_gzip: bool,
    /// Render every record (v2 and v1 shapes) into this directory before serving, and serve
    /// pages from there: much faster than generating them (about 5 KB of disk a contact).
    #[arg(long, value_name = "DIR")]
    pub(crate) prerender_dir: Option<PathBuf>,
    /// How `POST /contacts/search` matches dates: `day` (whole days in --timezone, as the stable
    /// API versions document) or `second` (exact seconds, as the Preview docs say).
    #[arg(long, value_enum, default_value_t = DateMatch::Day)]
    pub(crate) search_dates: DateMatch,
    /// The workspace's time zone, where its days begin for search: UTC, +HH:MM or -HH:MM.
    #[arg(long, default_value = "-05:00", value_parser = intercom_sim::search::parse_utc_offset, allow_hyphen_values = true)]
    pub(crate) timezone: i32,
    /// Percent of the contacts created by one import within an hour, as a CSV import leaves a
    /// real workspace (search then finds a day holding that many).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) created_skew: u8,
    /// Contacts a second whose `updated_at` moves while the simulator serves.
    #[arg(long, default_value_t = 0)]
    pub(crate) live_updates: u32,
    /// The newest contacts search does not find yet (Intercom indexes new contacts after a few
    /// minutes); `GET /contacts` lists them.
    #[arg(long, default_value_t = 0)]
    pub(crate) search_index_lag: u64,
    /// Serve the workspace as it stands after STEPS days of change, each a pure function of
    /// the seed and the step: some contacts updated, created, deleted, leads merged, and one
    /// custom attribute added (run it again with a higher STEPS for the next day).
    #[arg(long, value_name = "STEPS", help_heading = "Change between runs")]
    pub(crate) evolve: Option<u32>,
    /// Percent of the contacts updated at each step.
    #[arg(long, default_value_t = 1.0, value_name = "PERCENT", help_heading = "Change between runs")]
    pub(crate) evolve_updated: f64,
    /// Percent of the base workspace's contacts created at each step.
    #[arg(long, default_value_t = 0.5, value_name = "PERCENT", help_heading = "Change between runs")]
    pub(crate) evolve_created: f64,
    /// Percent of the contacts deleted at each step.
    #[arg(long, default_value_t = 0.2, value_name = "PERCENT", help_heading = "Change between runs")]
    pub(crate) evolve_deleted: f64,
    /// Percent of the leads merged into users at each step.
    #[arg(long, default_value_t = 0.5, value_name = "PERCENT", help_heading = "Change between runs")]
    pub(crate) evolve_merged: f64,
}

impl SimArgs {
    /// The evolution `--evolve` and its shares ask for.
    pub(crate) fn evolution(&self) -> Result<Option<intercom_sim::EvolveSettings>, String> {
        let Some(steps) = self.evolve else { return Ok(None) };
        let bp = intercom_sim::EvolveSettings::percent_to_bp;
        Ok(Some(intercom_sim::EvolveSettings {
            steps,
            updated_bp: bp(self.evolve_updated)?,
            created_bp: bp(self.evolve_created)?,
            deleted_bp: bp(self.evolve_deleted)?,
            merged_bp: bp(self.evolve_merged)?,
        }))
    }
}

#[derive(Args)]
#[command(next_help_heading = "What to list")]
pub(crate) struct ListingArgs {
    /// What to dump: v2 contacts, v1 users or leads, companies, a reference list (tags,
    /// segments, admins, teams, contact or company data attributes), or `all`: every table
    /// (contacts with their relation tables, companies, every reference list) in one run.
    /// [default: contacts; the demo's: all]
    #[arg(long, env = "INTERCOM_DUMP_SOURCE", value_enum)]
    pub(crate) source: Option<SourceArg>,
    /// How to list it (default: the cursor for contacts; the scroll for users, leads and
    /// companies, or the page list when a filter is given; one request for a reference list).
    /// `search`: contacts through `POST /contacts/search`, cut into windows walked at once, as
    /// fast as the rate limit allows. `auto`: for contacts, the search when the list holds more
    /// than 20 pages (3,000 contacts), else the cursor; for users and leads, the page list when
    /// it reaches every record (at most 10,000), else the scroll; for companies, the scroll (the
    /// page list leaves out companies without users).
    #[arg(long, env = "INTERCOM_DUMP_MODE", value_enum)]
    pub(crate) mode: Option<Mode>,
    /// Page list only: the one record with this email.
    #[arg(long, env = "INTERCOM_DUMP_EMAIL")]
    pub(crate) email: Option<String>,
    /// Page list only: the one record with this phone number.
    #[arg(long, env = "INTERCOM_DUMP_PHONE")]
    pub(crate) phone: Option<String>,
    /// Page list only: sort field.
    #[arg(long, env = "INTERCOM_DUMP_SORT", value_enum)]
    pub(crate) sort: Option<PageSort>,
    /// Page list only: sort order.
    #[arg(long, env = "INTERCOM_DUMP_ORDER", value_enum)]
    pub(crate) order: Option<SortOrder>,
    /// Page list only: records created in the last DAYS days.
    #[arg(long, env = "INTERCOM_DUMP_CREATED_SINCE", value_name = "DAYS")]
    pub(crate) created_since: Option<u32>,
    /// Page list: pages fetched at once.
    #[arg(long, env = "INTERCOM_DUMP_PAGE_CONCURRENCY", default_value_t = 4)]
    pub(crate) page_concurrency: usize,
    /// Search: requests in flight at most. Within it, the listing keeps as many in flight as the
    /// rate limit (--rate-limit) times the server's round trip: the limit, not this, sets the pace.
    #[arg(long, env = "INTERCOM_DUMP_SEARCH_CONCURRENCY", default_value_t = 64)]
    pub(crate) search_concurrency: usize,
    /// Search: windows the creation time line is first cut into, at most; each aims at the total
    /// over this (at least 20 pages), and one found bigger is split further.
    #[arg(long, env = "INTERCOM_DUMP_SEARCH_WINDOWS", default_value_t = 256)]
    pub(crate) search_windows: usize,
    /// Scroll: fresh scrolls opened after one breaks (expiry, the restart 500) before giving up.
    #[arg(long, env = "INTERCOM_DUMP_MAX_RESTARTS", default_value_t = 5)]
    pub(crate) max_restarts: u32,
    /// Scroll: seconds to wait for another client's scroll to release the workspace's lock.
    #[arg(long, env = "INTERCOM_DUMP_SCROLL_LOCK_WAIT", default_value_t = 120)]
    pub(crate) scroll_lock_wait: u64,
}

#[derive(Args)]
#[command(next_help_heading = "API and network")]
pub(crate) struct ApiArgs {
    /// Intercom-Version to send (default: 2.16 for contacts, 1.4 for users and leads).
    #[arg(long, env = "INTERCOM_DUMP_API_VERSION")]
    pub(crate) api_version: Option<String>,
    /// Records a page (default and most: 150 for the v2 cursor, 60 for v1 page lists; the
    /// scroll's pages are always 100).
    #[arg(long, env = "INTERCOM_DUMP_PER_PAGE")]
    pub(crate) per_page: Option<u32>,
    /// Requests a minute (Intercom's private-app limit: 10,000).
    #[arg(long, env = "INTERCOM_DUMP_RATE_LIMIT", default_value_t = intercom_dump::config::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    pub(crate) rate_limit: u32,
    /// Retries of one request after transient failures.
    #[arg(long, env = "INTERCOM_DUMP_MAX_RETRIES", default_value_t = 8)]
    pub(crate) max_retries: usize,
    /// Longest time, in seconds, one request keeps retrying.
    #[arg(long, env = "INTERCOM_DUMP_MAX_RETRY_ELAPSED", default_value_t = 300)]
    pub(crate) max_retry_elapsed: u64,
    /// Timeout of one request, in seconds.
    #[arg(long, env = "INTERCOM_DUMP_REQUEST_TIMEOUT", default_value_t = 60)]
    pub(crate) request_timeout: u64,
    /// The largest answer read (decompressed), in bytes or with a unit (64MiB); a larger one
    /// fails the run.
    #[arg(long, env = "INTERCOM_DUMP_MAX_BODY_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub(crate) max_body_bytes: u64,
}

#[derive(Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Replace an earlier dump in --out (only once this run has succeeded).
    #[arg(long, env = "INTERCOM_DUMP_OVERWRITE")]
    pub(crate) overwrite: bool,
    /// An option of the object store's client, by its own name (region, endpoint,
    /// virtual_hosted_style_request, google_service_account, azure_storage_account_name...);
    /// repeat the flag for more. Credentials are best left to the cloud's environment variables.
    #[arg(
        long = "storage-option",
        value_name = "KEY=VALUE",
        env = "INTERCOM_DUMP_STORAGE_OPTION",
        value_delimiter = ',',
        value_parser = parse_storage_option,
        hide_env_values = true
    )]
    pub(crate) storage_options: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) files: FileArgs,
    /// A typed column per declared custom attribute (the default for contacts).
    #[arg(long, env = "INTERCOM_DUMP_TYPED_CUSTOM_ATTRIBUTES", overrides_with = "no_typed_custom_attributes")]
    pub(crate) typed_custom_attributes: bool,
    /// Custom attributes as JSON text only (the default for users and leads).
    #[arg(long, env = "INTERCOM_DUMP_NO_TYPED_CUSTOM_ATTRIBUTES")]
    pub(crate) no_typed_custom_attributes: bool,
    /// Hive-style directories: `role` writes OUT/<source>/role=user/ and role=lead/.
    #[arg(long, env = "INTERCOM_DUMP_PARTITION_BY", value_enum)]
    pub(crate) partition_by: Option<PartitionBy>,
    /// v2 cursor: rows between checkpoints (each closes the open parts; --resume goes on from the last).
    #[arg(long, env = "INTERCOM_DUMP_CHECKPOINT_ROWS", default_value_t = 1_000_000)]
    pub(crate) checkpoint_rows: u64,
    /// Go on from the last checkpoint of a v2 cursor or search dump into --out that did not finish (else
    /// start from the beginning). Give the same options as the run it resumes.
    #[arg(long, env = "INTERCOM_DUMP_RESUME")]
    pub(crate) resume: bool,
    /// Contacts: also write the relation tables OUT/contact_tags and OUT/contact_companies
    /// (contact id, tag or company id, position), complete: a list past the ten entries a
    /// contact carries is fetched whole from GET /contacts/{id}/tags|companies while the
    /// listing goes on.
    #[arg(long, env = "INTERCOM_DUMP_RELATIONS")]
    pub(crate) relations: bool,
    /// Also write the run's summary as JSON to this file.
    #[arg(long, env = "INTERCOM_DUMP_SUMMARY_JSON")]
    pub(crate) summary_json: Option<PathBuf>,
    /// Publish even when the listing delivered fewer or more records than the API announced
    /// (both counts go in the manifest, which marks the dump incomplete).
    #[arg(long, env = "INTERCOM_DUMP_ALLOW_INCOMPLETE")]
    pub(crate) allow_incomplete: bool,
    /// A search dump publishes nothing when it wrote another count than `GET /contacts`
    /// announces (search misses merged contacts and those created in the last minutes; without
    /// --strict the difference is reported in the summary and the manifest).
    #[arg(long, env = "INTERCOM_DUMP_STRICT")]
    pub(crate) strict: bool,
    /// Contacts: only what changed since the table's last published run (its `_state.json`),
    /// asked of search and published as a change set, OUT/contacts/run=<run id>/, beside the
    /// full dump (run one first). `--reconcile` adds the deleted and merged contacts.
    #[arg(long, env = "INTERCOM_DUMP_INCREMENTAL")]
    pub(crate) incremental: bool,
    /// How far before the table's newest `updated_at` an incremental run starts: search may
    /// match dates by the whole day in the workspace's time zone, and a changed contact takes
    /// minutes to reach its index. A number with s, m, h or d.
    #[arg(long, env = "INTERCOM_DUMP_LOOKBACK", default_value = "25h", value_parser = parse_duration, requires = "incremental")]
    pub(crate) lookback: Duration,
    /// With --incremental: also list every contact id (through search: a full listing's
    /// requests) and add a tombstone (type `contact.deleted`) to the change set for each
    /// contact the table holds that the API no longer has (GET /contacts/{id} answers 404):
    /// deleted, or merged into another.
    #[arg(long, env = "INTERCOM_DUMP_RECONCILE", requires = "incremental")]
    pub(crate) reconcile: bool,
}

/// How the part files are shaped: `dump`, `demo` and `bench` share these.
#[derive(Args)]
#[command(next_help_heading = "Files")]
pub(crate) struct FileArgs {
    /// File format: parquet, arrow (Arrow IPC file format) or both.
    #[arg(long, env = "INTERCOM_DUMP_FORMAT", value_enum, default_value_t = FileFormat::Parquet)]
    pub(crate) format: FileFormat,
    /// Parquet compression: zstd, zstd:LEVEL (1-22), snappy or none.
    #[arg(long, env = "INTERCOM_DUMP_COMPRESSION", default_value = "zstd:1")]
    pub(crate) compression: String,
    /// Rows per Parquet row group.
    #[arg(long, env = "INTERCOM_DUMP_ROW_GROUP_ROWS", default_value_t = 100_000)]
    pub(crate) row_group_rows: usize,
    /// Rows per part file before rolling to the next.
    #[arg(long, env = "INTERCOM_DUMP_MAX_FILE_ROWS", default_value_t = 1_000_000)]
    pub(crate) max_file_rows: usize,
    /// Size of a part file (on the writer's estimate) before rolling to the next, in bytes or
    /// with a unit (512MiB, 1GB).
    #[arg(long, env = "INTERCOM_DUMP_MAX_FILE_BYTES", default_value = "512MiB", value_parser = parse_bytes)]
    pub(crate) max_file_bytes: u64,
}

#[derive(Args)]
#[command(next_help_heading = "Tuning")]
pub(crate) struct PipelineArgs {
    /// Parser threads (default: one per core).
    #[arg(long, env = "INTERCOM_DUMP_PARSERS")]
    pub(crate) parsers: Option<usize>,
    /// Rows decoded into one batch.
    #[arg(long, env = "INTERCOM_DUMP_BATCH_ROWS", default_value_t = intercom_dump::config::DEFAULT_BATCH_ROWS)]
    pub(crate) batch_rows: usize,
    /// Page bytes held in memory before fetching pauses, in bytes or with a unit (16MiB).
    #[arg(long, env = "INTERCOM_DUMP_MAX_BUFFER_BYTES", default_value = "16MiB", value_parser = parse_bytes)]
    pub(crate) max_buffer_bytes: u64,
}

/// The flags of a run, shared by `dump` and `demo`: what to list and how, how to talk to the
/// API, where and how to write, and how much work is in flight.
#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) listing: ListingArgs,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) pipeline: PipelineArgs,
    /// No progress bar.
    #[arg(long, env = "INTERCOM_DUMP_NO_PROGRESS")]
    pub(crate) no_progress: bool,
}

impl ListingArgs {
    /// `--source`, the contacts unless given.
    pub(crate) fn source(&self) -> SourceArg {
        self.source.unwrap_or(SourceArg::One(Source::Contacts))
    }
}

/// `--source`: one source, or every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceArg {
    One(Source),
    All,
}

impl SourceArg {
    /// The source, or the first table of `all` (the contacts): what a run's configuration is
    /// built for before `all` makes one a table.
    pub(crate) fn first(self) -> Source {
        match self {
            SourceArg::One(source) => source,
            SourceArg::All => intercom_dump::workspace::TABLES[0],
        }
    }
}

impl clap::ValueEnum for SourceArg {
    fn value_variants<'a>() -> &'a [Self] {
        const VARIANTS: [SourceArg; 11] = [
            SourceArg::One(Source::Contacts),
            SourceArg::One(Source::Users),
            SourceArg::One(Source::Leads),
            SourceArg::One(Source::Companies),
            SourceArg::One(Source::Tags),
            SourceArg::One(Source::Segments),
            SourceArg::One(Source::Admins),
            SourceArg::One(Source::Teams),
            SourceArg::One(Source::ContactAttributes),
            SourceArg::One(Source::CompanyAttributes),
            SourceArg::All,
        ];
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            SourceArg::One(source) => source.to_possible_value(),
            SourceArg::All => Some(clap::builder::PossibleValue::new("all")),
        }
    }
}

impl FileArgs {
    /// `template`'s file settings, set from these flags.
    pub(crate) fn apply(&self, output: &mut OutputConfig) -> Result<(), ConfigError> {
        output.format = self.format;
        output.compression = parse_compression(&self.compression)?;
        output.row_group_rows = self.row_group_rows;
        output.max_file_rows = self.max_file_rows;
        output.max_file_bytes = self.max_file_bytes;
        Ok(())
    }
}

impl RunArgs {
    /// The validated configuration of a run against `base_url` as `token`, into `out`.
    pub(crate) fn config(
        &self,
        base_url: &str,
        token: Token,
        allow_insecure_http: bool,
        out: &str,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::new(self.api_config(base_url, token, allow_insecure_http)?, self.output.config(out)?);
        config.source = self.listing.source().first();
        config.listing = self.listing_config();
        config.pipeline = self.pipeline.config();
        config.validate()
    }

    fn api_config(&self, base_url: &str, token: Token, allow_insecure_http: bool) -> Result<ApiConfig, ConfigError> {
        let args = &self.api;
        let mut api = ApiConfig::new(base_url, token, allow_insecure_http)?;
        api.version = match &args.api_version {
            Some(version) => version.parse().map_err(|_| ConfigError::ApiVersion(version.clone()))?,
            None => self.listing.source().first().default_version(),
        };
        if let Some(per_page) = args.per_page {
            api.per_page = per_page;
        }
        api.rate_limit_per_minute = args.rate_limit;
        api.max_retries = args.max_retries;
        api.max_retry_elapsed = Duration::from_secs(args.max_retry_elapsed);
        api.request_timeout = Duration::from_secs(args.request_timeout.max(1));
        api.max_body_bytes = usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX).max(1);
        Ok(api)
    }

    fn listing_config(&self) -> ListingConfig {
        let (args, defaults) = (&self.listing, ListingConfig::default());
        ListingConfig {
            mode: args.mode,
            query: PageQuery {
                sort: args.sort,
                order: args.order,
                created_since_days: args.created_since,
                email: args.email.clone(),
                phone: args.phone.clone(),
            },
            page_size: self.api.per_page.unwrap_or(defaults.page_size),
            page_concurrency: args.page_concurrency,
            search_concurrency: args.search_concurrency,
            search_windows: args.search_windows,
            max_restarts: args.max_restarts,
            scroll_lock_wait: Duration::from_secs(args.scroll_lock_wait),
            ..defaults
        }
    }
}

impl OutputArgs {
    fn config(&self, out: &str) -> Result<OutputConfig, ConfigError> {
        let mut output = OutputConfig::at(out, self.storage_options.clone())?;
        self.files.apply(&mut output)?;
        output.partition_by = self.partition_by;
        output.checkpoint_rows = self.checkpoint_rows;
        output.resume = self.resume;
        output.typed_custom_attributes = match (self.typed_custom_attributes, self.no_typed_custom_attributes) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        output.overwrite = self.overwrite;
        output.allow_incomplete = self.allow_incomplete;
        output.strict = self.strict;
        output.relations = self.relations;
        output.incremental = self.incremental.then_some(Incremental { lookback: self.lookback, reconcile: self.reconcile });
        Ok(output)
    }
}

impl PipelineArgs {
    pub(crate) fn config(&self) -> PipelineConfig {
        PipelineConfig {
            parsers: self.parsers.unwrap_or(PipelineConfig::default().parsers),
            batch_rows: self.batch_rows,
            max_buffer_bytes: usize::try_from(self.max_buffer_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// `25h`, `90m`, `2d`, `3600s` (or `3600`): a duration in whole units.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration: give a number with s, m, h or d (25h)")),
    };
    let count: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration: give a number with s, m, h or d (25h)"))?;
    count.checked_mul(secs).map(Duration::from_secs).ok_or_else(|| format!("{text:?} is too long a duration"))
}

/// `KEY=VALUE`, for `--storage-option`; the value is never quoted back (it may be a secret).
fn parse_storage_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err("give KEY=VALUE (region=eu-west-1, endpoint=http://127.0.0.1:9000)".into()),
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

/// A size: bytes (`1048576`), or a number with a unit: `KB`, `MB`, `GB` (powers of 1,000) or
/// `KiB`, `MiB`, `GiB` (powers of 1,024), `B` for bytes; a space between is allowed.
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size: use bytes (1048576) or a number with KB, MB, GB, KiB, MiB or GiB (16MiB)");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.replace('_', "").parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, parse_duration};
    use std::time::Duration;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("25h"), Ok(Duration::from_secs(25 * 3_600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3_600)));
        for bad in ["", "h", "1.5h", "-1h", "3 weeks", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("64_000B"), Ok(64_000));
        for bad in ["", "MiB", "12 parsecs", "1.5GB", "99999999999GiB"] {
            assert!(parse_bytes(bad).unwrap_err().contains("not a size"), "{bad}");
        }
    }
}
