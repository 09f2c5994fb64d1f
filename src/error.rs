//! The library's error layers. Each layer has its own enum ([`ConfigError`] here,
//! [`crate::api::ApiError`], [`crate::schema::DecodeError`], [`crate::sink::SinkError`]);
//! [`DumpError`] is what a whole run ends with. Every message is one line naming the problem
//! and the fix, and none carries the token.

use crate::api::ApiError;
use crate::listing::{Call, ListingError, LoopError, Verdict};
use crate::schema::DecodeError;
use crate::sink::SinkError;
use crate::version::ApiVersion;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no access token: set INTERCOM_TOKEN to the workspace's access token, or pass --token-file FILE")]
    MissingToken,
    #[error("cannot read --token-file {path}: {reason}; give a readable file holding the token on its first line")]
    TokenFile { path: std::path::PathBuf, reason: String },
    #[error("the access token has spaces or control characters: set INTERCOM_TOKEN to the token alone")]
    MalformedToken,
    #[error("invalid base URL {url}: {reason}; pass --base-url https://HOST or --region us|eu|au")]
    BaseUrl { url: String, reason: String },
    #[error("refusing plain http:// to {host}: the token would travel unencrypted; use https:// or pass --allow-insecure-http")]
    InsecureHttp { host: String },
    #[error("--per-page {per_page} is out of range: use 1 to {max}")]
    PerPage { per_page: u32, max: u32 },
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("--compression zstd level {0} is out of range: use 1 to 22")]
    ZstdLevel(i32),
    #[error("--compression zstd level {0:?} is not a number: use zstd:LEVEL with LEVEL from 1 to 22")]
    ZstdLevelText(String),
    #[error("unknown --compression {0:?}: use zstd, zstd:LEVEL, snappy or none")]
    Compression(String),
    #[error("unknown --api-version {0:?}: use 1.0 to 1.4, 2.0 to 2.17, or Preview")]
    ApiVersion(String),
    #[error("API version {version} cannot list {listing}: pass --api-version {needed} (or leave it out)")]
    VersionForSource { version: ApiVersion, listing: &'static str, needed: ApiVersion },
    #[error(
        "--mode {mode} cannot list {listing}: contacts use the cursor or search, users, leads and companies the scroll or pages, a reference list its one list (or leave --mode out)"
    )]
    ModeForSource { mode: &'static str, listing: &'static str },
    #[error(
        "--email, --phone, --sort, --order and --created-since need the page list: use --source users|leads with --mode pages or auto"
    )]
    QueryNeedsPages,
    #[error("the companies' page list takes only --order: leave out --email, --phone, --sort and --created-since")]
    QueryForCompanies,
    #[error("--partition-by role does not apply to {listing}, which have no role: leave it out")]
    PartitionForSource { listing: &'static str },
    #[error("--typed-custom-attributes does not apply to {listing}, which have no custom attributes: leave it out")]
    TypedAttributesForSource { listing: &'static str },
    #[error(
        "--relations applies to --source contacts, whose contacts carry their tags and companies; {listing} have none: leave it out (--source all writes every table)"
    )]
    RelationsForSource { listing: &'static str },
    #[error("--resume does not apply with --relations (the relation tables are not checkpointed): drop --resume to start over")]
    RelationsResume,
    #[error(
        "--incremental applies to --source contacts (search asks for what changed); {listing} have no such listing: leave it out"
    )]
    IncrementalSource { listing: &'static str },
    #[error("--incremental reads the changes through search: leave --mode out (or give search), not {mode}")]
    IncrementalMode { mode: &'static str },
    #[error(
        "--incremental does not apply with {flag}: a change set is new every run and starts over from the table's mark; drop {flag}"
    )]
    IncrementalWith { flag: &'static str },
    #[error(
        "--incremental applies to --source contacts alone: run it with --source contacts (the other tables are small enough to dump whole)"
    )]
    IncrementalForAll,

    #[error("--source all lists each table its own way: leave --mode out (or give auto)")]
    ModeForAll,
    #[error("--out {url}: {reason}; give s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or a local folder")]
    OutUrl { url: String, reason: String },
    #[error("unknown --storage-option {key} for {scheme}://: use the store's own option names (aws_region, endpoint, ...)")]
    StorageOption { key: String, scheme: String },
    #[error("--storage-option applies to object storage (--out s3://, gs://, az://): leave it out for a local folder")]
    StorageOptionForLocal,
    #[error(
        "refusing plain http:// to {host} for --out: the data and credentials would travel unencrypted; use https, or set AWS_ALLOW_HTTP=true"
    )]
    InsecureStorage { host: String },
    #[error("cannot write --summary-json {path}: give a file in a writable directory")]
    SummaryPath { path: std::path::PathBuf },
    /// The demo replaces only a dump of a simulator on this machine.
    #[error(
        "--out {path} holds a dump of {base_url}, not one the demo wrote: give the demo another --out (it replaces only its own dumps)"
    )]
    DemoOut { path: std::path::PathBuf, base_url: String },
    /// A `--fault-plan` file that cannot be read or says something the simulator cannot do.
    #[error("{0}")]
    FaultPlan(String),
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the pipeline stopped before finishing: {0}")]
    Aborted(String),
    #[error(
        "the page list reaches only {cap} of the {total} {listing} (the API's paging cap): use --mode scroll, or leave --mode out"
    )]
    PastPageCap { listing: &'static str, total: u64, cap: u64 },
    #[error(
        "another scroll has held this workspace's scroll lock for {waited_secs} s (HTTP 400 scroll_exists): let it finish (an unused scroll expires after 60 s) or raise --scroll-lock-wait"
    )]
    ScrollLocked { waited_secs: u64 },
    #[error("the scroll broke {restarts} times, the most --max-restarts allows; the last time: {last}")]
    TooManyRestarts { restarts: u32, last: ApiError },
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// A page could not be had; `page` names it.
    #[error("{page}: {error}")]
    Fetch { page: String, error: ApiError },
    #[error(
        "cannot read the workspace's custom attribute types (GET /data_attributes): {0}; pass --no-typed-custom-attributes to dump without typed columns"
    )]
    DataAttributes(ApiError),
    #[error("the API refused the cursor the interrupted run stopped at ({0}): it may have expired; drop --resume to start over")]
    ResumeRefused(ApiError),
    #[error(
        "stopped by {}: nothing was published and the run's staging directory was removed; run the same command again to start over",
        crate::interrupt::name(*.signal)
    )]
    Interrupted { signal: i32 },
    #[error("cannot resume the interrupted run: {0}; drop --resume to start over")]
    BadCheckpoint(String),
    /// `--strict`: a search dump wrote another count than the plain list announced.
    #[error(
        "the search delivered {written} {source_name} where GET /{source_name} announces {listed} (search misses merged contacts and those created in the last minutes): nothing was published (--strict); run again later, or drop --strict to publish with both counts in the manifest"
    )]
    CountDiffers { listed: u64, written: u64, source_name: &'static str },
    /// `--strict`: the plain list's count could not be had to compare a search dump with.
    #[error(
        "--strict: GET /{source_name} did not give its count to compare the search with: nothing was published; run again, or drop --strict"
    )]
    CountUnavailable { source_name: &'static str },
    /// The contacts' complete relation lists did not all come out as the contacts announced.
    #[error(
        "the contacts announced {announced} links in {table} but {written} were read ({contacts_short} contacts' complete lists did not come out as announced: a contact gone or changed under the run, or entries without an id): nothing was published; run again, or pass --allow-incomplete to publish what was read (the manifest records both counts)"
    )]
    RelationsIncomplete { table: &'static str, announced: u64, written: u64, contacts_short: u64 },
    /// `--source all`: a table's run failed (the others went on, each published only whole).
    #[error("{table}: {error} ({})", published_message(.published))]
    Table { table: &'static str, published: Vec<&'static str>, error: Box<DumpError> },
    /// `--reconcile` could not prove which contacts are gone.
    #[error("--reconcile: {0}: no tombstone was written and nothing was published; run again")]
    Reconcile(String),
    /// The listing ended, but what it delivered is not what the API announced.
    #[error("{}", incomplete_message(*.verdict, .source_name))]
    Incomplete { verdict: Verdict, source_name: &'static str },
}

impl DumpError {
    /// What a listing's failure means for a run; `call` (the run's `number`-th page) names the
    /// page a request failed for, `source` what the listing lists.
    pub(crate) fn from_listing(error: ListingError, call: &Call, number: u64, source: &'static str) -> DumpError {
        match error {
            ListingError::Failed(error) => DumpError::Fetch { page: format!("fetching {}", call.describe(number)), error },
            ListingError::Loop(error) => DumpError::Loop(error),
            ListingError::ResumeRefused(error) => DumpError::ResumeRefused(error),
            ListingError::PastPageCap { total, cap } => DumpError::PastPageCap { listing: source, total, cap },
            ListingError::ScrollLocked { waited_secs } => DumpError::ScrollLocked { waited_secs },
            ListingError::TooManyRestarts { restarts, last } => DumpError::TooManyRestarts { restarts, last },
            ListingError::BadToken(reason) => DumpError::BadCheckpoint(reason),
        }
    }

    /// A listing that cannot be opened (only a resume can fail to).
    pub(crate) fn from_opening(error: ListingError, source: &'static str) -> DumpError {
        DumpError::from_listing(error, &Call::Cursor { starting_after: None }, 0, source)
    }
}

fn published_message(published: &[&str]) -> String {
    match published {
        [] => "no table was published".into(),
        tables => format!(
            "published on their own, each whole: {}; no _workspace.json ties them together, so run again for a consistent set",
            tables.join(", ")
        ),
    }
}

fn incomplete_message(verdict: Verdict, source: &str) -> String {
    let (what, expected, written) = match verdict {
        Verdict::Short { expected, written } => ("at least", expected, written),
        Verdict::Excess { expected, written } => ("at most", expected, written),
        Verdict::Unannounced | Verdict::Complete => return "the listing is whole".into(),
    };
    format!(
        "the API announced {what} {expected} {source} but the listing delivered {written} distinct ones: nothing was published; run again (the workspace may have changed under a long listing), or pass --allow-incomplete to publish what was read (the manifest records both counts)"
    )
}
