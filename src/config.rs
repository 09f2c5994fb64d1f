//! The validated run configuration. The CLI's arguments become a [`Config`] here, once, and
//! actors receive it as `Arc<Config>`: nothing deeper reads the environment or re-validates.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::error::ConfigError;
use crate::version::ApiVersion;

/// An Intercom access token. It never prints: not in Debug, Display, logs or errors; its memory is
/// wiped when dropped (`secrecy`).
#[derive(Clone)]
pub struct Token(secrecy::SecretString);

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Token {}

impl Token {
    pub fn new(token: impl Into<String>) -> Result<Token, ConfigError> {
        let token = token.into().trim().to_string();
        if token.is_empty() {
            return Err(ConfigError::MissingToken);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::MalformedToken);
        }
        Ok(Token(token.into()))
    }

    /// The secret itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where Intercom hosts a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Region {
    Us,
    Eu,
    Au,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }
}

/// What to list. Everything about a source is in its unit (`src/source/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// v2 contacts (users and leads), through the cursor list or the search.
    Contacts,
    /// v1 users (API version 1.x).
    Users,
    /// v1 leads (API version 1.x).
    Leads,
    /// Companies (API 2.x), through the companies scroll or the page list.
    Companies,
    /// The workspace's tags (`GET /tags`).
    Tags,
    /// Its segments (`GET /segments`).
    Segments,
    /// Its admins (`GET /admins`).
    Admins,
    /// Its teams (`GET /teams`).
    Teams,
    /// The contact data attributes, custom and built in (`GET /data_attributes?model=contact`).
    ContactAttributes,
    /// The company data attributes (`GET /data_attributes?model=company`).
    CompanyAttributes,
}

impl Source {
    /// The output directory's name for this source.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The Intercom-Version sent when none is asked for.
    pub fn default_version(self) -> ApiVersion {
        self.spec().default_version
    }
}

/// How a source is listed. Unset, contacts take the cursor, users, leads and companies the
/// scroll (or the page list when a filter asks for it), a reference list its one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// v2 contacts: the search past 20 pages (3,000 contacts), else the cursor. Users and
    /// leads: the page list when it reaches every record (at most 10,000), the scroll otherwise.
    /// Companies: the scroll.
    Auto,
    /// The v2 cursor list (contacts).
    Cursor,
    /// The scroll (v1 users and leads, 2.x companies).
    Scroll,
    /// The page list (v1 users and leads, 2.x companies), several pages at once.
    Pages,
    /// v2 contacts: `POST /contacts/search`, the workspace split into parts walked at once,
    /// as many as the rate limit keeps busy.
    Search,
    /// The reference lists (tags, segments, admins, teams, data attributes): one request, the
    /// whole list.
    List,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Cursor => "cursor",
            Mode::Scroll => "scroll",
            Mode::Pages => "pages",
            Mode::Search => "search",
            Mode::List => "list",
        }
    }
}

/// Sort field of the v1 page lists, named as the API's fields are (`*_at` included).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PageSort {
    CreatedAt,
    LastRequestAt,
    SignedUpAt,
    UpdatedAt,
}

impl PageSort {
    pub fn as_str(self) -> &'static str {
        match self {
            PageSort::CreatedAt => "created_at",
            PageSort::LastRequestAt => "last_request_at",
            PageSort::SignedUpAt => "signed_up_at",
            PageSort::UpdatedAt => "updated_at",
        }
    }
}

/// Sort order of the v1 page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How rows are split into Hive-style directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartitionBy {
    /// `role=user/` and `role=lead/`.
    Role,
}

impl PartitionBy {
    /// The column whose values name the folders.
    pub fn column(self) -> &'static str {
        match self {
            PartitionBy::Role => "role",
        }
    }
}

/// Parameters of the v1 page lists; unset ones are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    pub sort: Option<PageSort>,
    pub order: Option<SortOrder>,
    pub created_since_days: Option<u32>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl PageQuery {
    /// True when the query narrows the listing: then only the page list can serve it.
    pub fn filters(&self) -> bool {
        self.created_since_days.is_some() || self.email.is_some() || self.phone.is_some()
    }

    /// The query's pairs, in the order they are sent.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(sort) = self.sort {
            pairs.push(("sort", sort.as_str().to_string()));
        }
        if let Some(order) = self.order {
            pairs.push(("order", if order == SortOrder::Asc { "asc" } else { "desc" }.to_string()));
        }
        if let Some(days) = self.created_since_days {
            pairs.push(("created_since", days.to_string()));
        }
        if let Some(email) = &self.email {
            pairs.push(("email", email.clone()));
        }
        if let Some(phone) = &self.phone {
            pairs.push(("phone", phone.clone()));
        }
        pairs
    }
}

/// How the listing is walked.
#[derive(Debug, Clone)]
pub struct ListingConfig {
    /// `None`: the source's default.
    pub mode: Option<Mode>,
    /// v1 page lists: filters and order.
    pub query: PageQuery,
    /// v1 page lists: records a page (at most 60).
    pub page_size: u32,
    /// v1 page lists: pages requested at once.
    pub page_concurrency: usize,
    /// The most records the v1 page list reaches; past it only the scroll lists everything.
    pub page_cap: u64,
    /// Search: requests in flight at most (the rate limit times the round trip sets how many).
    pub search_concurrency: usize,
    /// Search: windows the workspace's time line is first cut into, at most.
    pub search_windows: usize,
    /// Fresh scrolls opened after a scroll broke, before the run gives up.
    pub max_restarts: u32,
    /// How long to wait for another client's scroll to release the workspace's lock.
    pub scroll_lock_wait: Duration,
    /// How often to try opening the scroll while another holds the lock.
    pub scroll_lock_poll: Duration,
    /// Search: only the records updated after this Unix time. Not a flag: an incremental run
    /// sets it from the table's state (its mark less `--lookback`).
    pub changed_since: Option<i64>,
}

impl Default for ListingConfig {
    fn default() -> Self {
        ListingConfig {
            mode: None,
            query: PageQuery::default(),
            page_size: MAX_PER_PAGE_V1,
            page_concurrency: 4,
            page_cap: V1_PAGE_CAP,
            search_concurrency: 64,
            search_windows: 256,
            max_restarts: 5,
            scroll_lock_wait: Duration::from_secs(120),
            scroll_lock_poll: Duration::from_secs(5),
            changed_since: None,
        }
    }
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd at the given level (1 by default: fast, and most of the size win).
    Zstd(i32),
    Snappy,
    None,
}

/// Which files a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Parquet,
    /// Arrow IPC, file format (`pyarrow.ipc.open_file` reads it).
    Arrow,
    Both,
}

impl FileFormat {
    /// The part files' extension (Parquet's, for `Both`).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Arrow => "arrow",
            FileFormat::Parquet | FileFormat::Both => "parquet",
        }
    }
}

/// How the client talks to the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub base_url: Url,
    pub token: Token,
    pub version: ApiVersion,
    /// Records a page asks for (v2 cursor: at most 150).
    pub per_page: u32,
    /// Requests a minute the client allows itself.
    pub rate_limit_per_minute: u32,
    /// Retries of one request after transient failures (rate-limit waits do not count).
    pub max_retries: usize,
    /// The longest a request keeps retrying before the run gives up.
    pub max_retry_elapsed: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// The largest answer read (decompressed): a body past it fails the request.
    pub max_body_bytes: usize,
}

/// Where and how the files are written.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// A local folder; with `storage`, the URL it names (`s3://bucket/prefix`), for messages.
    pub dir: PathBuf,
    /// Object storage `--out` points at, when it does.
    pub storage: Option<ObjectOut>,
    pub format: FileFormat,
    pub compression: Compression,
    /// Rows in a Parquet row group.
    pub row_group_rows: usize,
    /// A part file rolls over to the next at this many rows,
    pub max_file_rows: usize,
    /// or once the writer estimates it at this many bytes.
    pub max_file_bytes: u64,
    /// Replace an earlier dump in the same place (only once this run has succeeded).
    pub overwrite: bool,
    /// A typed column per declared custom attribute; `None`: on for v2 contacts, off for v1.
    pub typed_custom_attributes: Option<bool>,
    /// Hive-style directories: by role, `role=user/`, `role=lead/`.
    pub partition_by: Option<PartitionBy>,
    /// v2 cursor: rows between checkpoints (each closes the open parts).
    pub checkpoint_rows: u64,
    /// Go on from the checkpoint of a run that did not finish.
    pub resume: bool,
    /// A search dump whose count differs from the plain list's publishes nothing.
    pub strict: bool,
    /// Publish a listing that delivered fewer (or more) records than the API announced, with
    /// both counts in the manifest, instead of failing the run.
    pub allow_incomplete: bool,
    /// A v2 contacts dump also writes the relation tables `contact_tags` and
    /// `contact_companies`, complete (the lists past ten entries fetched contact by contact).
    pub relations: bool,
    /// Only what changed since the table's last published run, as a change set beside it.
    pub incremental: Option<Incremental>,
}

/// How an incremental run reads the changes (`--incremental`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incremental {
    /// How far before the table's mark (the newest `updated_at` it holds) the search starts:
    /// enough to cover dates matched by the whole day in the workspace's time zone and
    /// contacts that reached the search index late.
    pub lookback: Duration,
    /// Also list every contact id (through search, each id it misses asked for) and record those the table holds that the
    /// API no longer has (deleted, or merged into another) as tombstones in the change set.
    pub reconcile: bool,
}

/// [`Incremental::lookback`] unless told: a day (search may match dates by the whole day, in
/// a time zone the client does not know) and an hour (a changed contact takes minutes to
/// reach the search index).
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(25 * 3_600);

/// Object storage as `--out`: `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`
/// (and `s3a://`, `abfs(s)://`), with `--storage-option KEY=VALUE`s for the store's client. Its
/// Debug output names the option keys, never their values (they may be secrets).
#[derive(Clone)]
pub struct ObjectOut {
    pub url: url::Url,
    pub options: Vec<(String, String)>,
}

impl std::fmt::Debug for ObjectOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("ObjectOut").field("url", &self.url.as_str()).field("option_keys", &keys).finish()
    }
}

/// The schemes of object storage `--out` takes.
pub const STORAGE_SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "abfs", "abfss", "azure"];

impl OutputConfig {
    /// The output at `out`: a local folder (a path, or `file://`), or object storage
    /// (`s3://bucket/prefix`...) with `options`. A URL of any other scheme, or one carrying
    /// credentials, is refused; options apply to object storage only.
    pub fn at(out: &str, options: Vec<(String, String)>) -> Result<OutputConfig, ConfigError> {
        let bad = |url: &str, reason: &str| ConfigError::OutUrl { url: url.to_string(), reason: reason.to_string() };
        let Some((scheme, _)) =
            out.split_once("://").filter(|(scheme, _)| !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()))
        else {
            if !options.is_empty() {
                return Err(ConfigError::StorageOptionForLocal);
            }
            return Ok(OutputConfig::new(out));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            if !options.is_empty() {
                return Err(ConfigError::StorageOptionForLocal);
            }
            let url = url::Url::parse(out).map_err(|e| bad(out, &e.to_string()))?;
            let path = url.to_file_path().map_err(|()| bad(out, "it is not a local path"))?;
            return Ok(OutputConfig::new(path));
        }
        if !STORAGE_SCHEMES.contains(&scheme.as_str()) {
            return Err(bad(&format!("{scheme}://..."), &format!("{scheme}:// is not a store intercom-dump writes")));
        }
        let url = url::Url::parse(out).map_err(|e| bad(&format!("{scheme}://..."), &e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            let shown = format!("{scheme}://{}{}", url.host_str().unwrap_or(""), url.path());
            return Err(bad(&shown, "credentials and queries do not belong in the URL: use the environment or --storage-option"));
        }
        let shown = format!("{scheme}://{}/{}", url.host_str().unwrap_or(""), url.path().trim_matches('/'));
        let mut output = OutputConfig::new(shown.trim_end_matches('/'));
        output.storage = Some(ObjectOut { url, options });
        Ok(output)
    }
}

/// How much work is in flight at once.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Parser threads (page JSON to Arrow), one per core by default.
    pub parsers: usize,
    /// Rows a parser decodes into one batch (several pages; Parquet wants thousands).
    pub batch_rows: usize,
    /// Fetched page bodies held in memory before the fetching pauses.
    pub max_buffer_bytes: usize,
}

/// A whole run's configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub api: ApiConfig,
    pub source: Source,
    pub listing: ListingConfig,
    pub output: OutputConfig,
    pub pipeline: PipelineConfig,
}

/// The largest `per_page` the v2 cursor list accepts.
pub const MAX_PER_PAGE_V2: u32 = 150;
/// The largest `per_page` the v1 page lists accept.
pub const MAX_PER_PAGE_V1: u32 = 60;
/// The most records the v1 page lists reach.
pub const V1_PAGE_CAP: u64 = 10_000;
/// Records a v1 scroll page holds (fixed by the API).
pub const SCROLL_PAGE_SIZE: usize = 100;
/// Intercom's documented limit for a private app.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 10_000;

impl ApiConfig {
    /// Defaults for everything but where to go and who to be.
    pub fn new(base_url: &str, token: Token, allow_insecure_http: bool) -> Result<ApiConfig, ConfigError> {
        Ok(ApiConfig {
            base_url: parse_base_url(base_url, allow_insecure_http)?,
            token,
            version: ApiVersion::LATEST_V2,
            per_page: MAX_PER_PAGE_V2,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            max_retries: 8,
            max_retry_elapsed: Duration::from_secs(300),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 64 << 20,
        })
    }
}

impl OutputConfig {
    pub fn new(dir: impl Into<PathBuf>) -> OutputConfig {
        OutputConfig {
            dir: dir.into(),
            storage: None,
            format: FileFormat::Parquet,
            compression: Compression::Zstd(1),
            row_group_rows: 100_000,
            max_file_rows: 1_000_000,
            max_file_bytes: 512 * 1024 * 1024,
            overwrite: false,
            allow_incomplete: false,
            relations: false,
            strict: false,
            typed_custom_attributes: None,
            partition_by: None,
            checkpoint_rows: 1_000_000,
            resume: false,
            incremental: None,
        }
    }
}

/// Page bytes held in memory by default, the pages being parsed included: about 40 pages of
/// 150 contacts, three groups for the parsers: as fast as twice as much, and enough that the
/// parsers do not wait for pages (the figures are in BENCHMARKS.md).
pub const DEFAULT_MAX_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Rows a parser decodes into one batch: thousands, as Parquet wants, and few enough that each
/// parser's JSON tape stays small (it grows to hold a whole batch).
pub const DEFAULT_BATCH_ROWS: usize = 2_048;

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            parsers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            batch_rows: DEFAULT_BATCH_ROWS,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
        }
    }
}

impl Config {
    pub fn new(api: ApiConfig, output: OutputConfig) -> Config {
        Config { api, source: Source::Contacts, listing: ListingConfig::default(), output, pipeline: PipelineConfig::default() }
    }

    /// Rows a parser's decoder holds: a batch, and the page that runs past it (groups of pages
    /// end on a page boundary).
    pub fn decoder_batch_rows(&self) -> usize {
        self.pipeline.batch_rows + self.api.per_page.max(100) as usize
    }

    /// Whether custom attributes get typed columns.
    pub fn typed_custom_attributes(&self) -> bool {
        self.output.typed_custom_attributes.unwrap_or(self.source.spec().typed_custom_attributes)
    }

    /// The listing this run walks first. `Auto` stays `Auto` for users and leads: it is settled
    /// by the first page list's `total_count`.
    pub fn mode(&self) -> Mode {
        let spec = self.source.spec();
        match self.listing.mode {
            // Only search can ask for what changed.
            Some(Mode::Auto) | None if self.output.incremental.is_some() && spec.serves(Mode::Search) => Mode::Search,
            Some(Mode::Auto) | None if !spec.serves(Mode::Auto) => spec.modes[0],
            // Where the page list may miss records, the scroll is the only whole listing.
            Some(Mode::Auto) if !spec.page_list_whole && spec.modes.contains(&Mode::Scroll) => Mode::Scroll,
            None if self.listing.query != PageQuery::default() && spec.serves(Mode::Pages) => Mode::Pages,
            None => spec.modes[0],
            Some(mode) => mode,
        }
    }

    /// Checks what the types cannot: ranges, and combinations that cannot work.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let positive = |name: &'static str, value: usize| if value == 0 { Err(ConfigError::Zero(name)) } else { Ok(()) };
        if !(1..=MAX_PER_PAGE_V2).contains(&self.api.per_page) {
            return Err(ConfigError::PerPage { per_page: self.api.per_page, max: MAX_PER_PAGE_V2 });
        }
        positive("--rate-limit", self.api.rate_limit_per_minute as usize)?;
        positive("--parsers", self.pipeline.parsers)?;
        positive("--batch-rows", self.pipeline.batch_rows)?;
        positive("--row-group-rows", self.output.row_group_rows)?;
        positive("--max-file-rows", self.output.max_file_rows)?;
        positive("--max-file-bytes", self.output.max_file_bytes as usize)?;
        positive("--max-buffer-bytes", self.pipeline.max_buffer_bytes)?;
        positive("--page-concurrency", self.listing.page_concurrency)?;
        positive("--search-concurrency", self.listing.search_concurrency)?;
        positive("--search-windows", self.listing.search_windows)?;
        let mode = self.mode();
        let spec = self.source.spec();
        if !spec.serves(mode) {
            return Err(ConfigError::ModeForSource { mode: mode.name(), listing: self.source.name() });
        }
        if self.api.version.is_v1() != spec.default_version.is_v1() {
            return Err(ConfigError::VersionForSource {
                version: self.api.version,
                listing: self.source.name(),
                needed: self.source.default_version(),
            });
        }
        let pages = mode == Mode::Pages || (mode == Mode::Auto && spec.modes.contains(&Mode::Pages));
        if pages && !(1..=MAX_PER_PAGE_V1).contains(&self.listing.page_size) {
            return Err(ConfigError::PerPage { per_page: self.listing.page_size, max: MAX_PER_PAGE_V1 });
        }
        if self.listing.query != PageQuery::default() && !pages {
            return Err(ConfigError::QueryNeedsPages);
        }
        if !spec.list_filters && (self.listing.query.filters() || self.listing.query.sort.is_some()) {
            return Err(ConfigError::QueryForCompanies);
        }
        if self.output.partition_by.is_some() && spec.role_partition == crate::source::RolePartition::None {
            return Err(ConfigError::PartitionForSource { listing: spec.name });
        }
        if self.output.typed_custom_attributes == Some(true) && spec.attribute_model.is_none() {
            return Err(ConfigError::TypedAttributesForSource { listing: spec.name });
        }
        if self.output.relations && self.source != Source::Contacts {
            return Err(ConfigError::RelationsForSource { listing: spec.name });
        }
        if self.output.relations && self.output.resume {
            return Err(ConfigError::RelationsResume);
        }
        if self.output.incremental.is_some() {
            if !spec.incremental {
                return Err(ConfigError::IncrementalSource { listing: spec.name });
            }
            if mode != Mode::Search {
                return Err(ConfigError::IncrementalMode { mode: mode.name() });
            }
            if self.output.resume || self.output.relations || self.output.overwrite {
                return Err(ConfigError::IncrementalWith {
                    flag: if self.output.resume {
                        "--resume"
                    } else if self.output.relations {
                        "--relations"
                    } else {
                        "--overwrite"
                    },
                });
            }
        }
        if let Compression::Zstd(level) = self.output.compression
            && !(1..=22).contains(&level)
        {
            return Err(ConfigError::ZstdLevel(level));
        }
        Ok(self)
    }
}

/// Parses `--base-url`, refusing plain `http://` to anything but loopback unless allowed: the
/// token travels in a header.
pub fn parse_base_url(raw: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::BaseUrl { url: raw.to_string(), reason: e.to_string() })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::BaseUrl { url: redact_url(&url), reason: "credentials do not belong in the URL".into() });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::BaseUrl { url: raw.to_string(), reason: "it must not carry a query or fragment".into() });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureHttp { host: url.host_str().unwrap_or("").to_string() }),
        other => Err(ConfigError::BaseUrl { url: raw.to_string(), reason: format!("scheme {other:?} is not http or https") }),
    }
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, ::1).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A URL with any credentials removed, for messages and the manifest.
pub fn redact_url(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints() {
        let token = Token::new("tok_secret_123").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(Token::new("  "), Err(ConfigError::MissingToken));
    }

    #[test]
    fn base_url_rules() {
        assert!(parse_base_url("https://api.intercom.io", false).is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080", false).is_ok());
        assert!(parse_base_url("http://localhost:8080", false).is_ok());
        assert_eq!(
            parse_base_url("http://api.example.com", false).unwrap_err(),
            ConfigError::InsecureHttp { host: "api.example.com".into() }
        );
        assert!(parse_base_url("http://api.example.com", true).is_ok());
        let err = parse_base_url("https://user:pw@api.intercom.io", false).unwrap_err();
        assert!(!err.to_string().contains("pw"));
        assert!(parse_base_url("ftp://x", false).is_err());
        assert!(parse_base_url("not a url", false).is_err());
    }

    #[test]
    fn validation_names_the_flag() {
        let api = ApiConfig::new("https://api.intercom.io", Token::new("t").unwrap(), false).unwrap();
        let mut config = Config::new(api, OutputConfig::new("out"));
        config.api.per_page = 151;
        assert!(config.clone().validate().unwrap_err().to_string().contains("--per-page"));
        config.api.per_page = 150;
        config.pipeline.parsers = 0;
        assert!(config.clone().validate().unwrap_err().to_string().contains("--parsers"));
        config.pipeline.parsers = 2;
        config.listing.mode = Some(Mode::Scroll);
        assert!(config.clone().validate().unwrap_err().to_string().contains("--mode scroll"));
        config.source = Source::Users;
        assert!(config.clone().validate().unwrap_err().to_string().contains("1.4"));
        config.api.version = Source::Users.default_version();
        config.listing.query.email = Some("a@b.c".into());
        assert_eq!(config.clone().validate().unwrap_err(), ConfigError::QueryNeedsPages);
        config.listing.mode = Some(Mode::Pages);
        assert!(config.clone().validate().is_ok());
        config.listing.mode = None;
        assert_eq!(config.mode(), Mode::Pages, "a filter asks for the page list");
        config.listing.query.email = None;
        assert_eq!(config.mode(), Mode::Scroll, "users scroll by default");
    }
}
