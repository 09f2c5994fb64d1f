//! A dry run: what a dump with this configuration would meet and do, in a few requests and
//! without writing a record. The first page of the source's list (one record) proves the token,
//! the region and the API version and says how many records there are; the declared custom
//! attributes are read as a dump reads them; `--out` is checked writable. From the count and the
//! round trips measured, the listing `auto` would choose and the time a dump would take at the
//! rate limit. (The v1 scroll's lock is not probed: opening a scroll would take it.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{ApiClient, ApiStats, Endpoints, new_rate_limiter};
use crate::config::{Config, MAX_PER_PAGE_V1, Mode, SCROLL_PAGE_SIZE};
use crate::error::DumpError;
use crate::listing::Call;

/// What a check found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    pub source: &'static str,
    pub api_version: String,
    /// What the source's list announced.
    pub records: u64,
    /// The list counts only some of the records (the companies' page list: those with users), so
    /// `records` is a floor.
    pub records_at_least: bool,
    /// Custom attributes the workspace declares for the source (typed columns a dump adds).
    pub declared_attributes: usize,
    /// The listing a dump would walk (`auto` resolved from the count).
    pub mode: &'static str,
    /// Requests the dump would make, about.
    pub requests: u64,
    /// The round trip of the check's requests.
    pub round_trip_ms: u64,
    /// The dump's time, about: its requests at the pace its listing allows, within the rate limit.
    pub estimated_seconds: f64,
}

/// Checks `config`'s source, token and output without dumping. Blocks.
pub fn check(config: &Config) -> Result<CheckReport, DumpError> {
    let config = config.clone().validate()?;
    check_out_writable(&config)?;
    let declared = if config.typed_custom_attributes() { crate::run::declared_attributes(&config)? } else { Vec::new() };
    let runtime = crate::run::own_runtime()?;
    let (records, round_trip) = runtime.block_on(async {
        let client = ApiClient::new(
            config.api.clone(),
            new_rate_limiter(config.api.rate_limit_per_minute),
            Arc::new(ApiStats::default()),
        )?;
        let endpoints = Endpoints::new(&config);
        // The list's first page: the cursor list's or the page list's, whose count covers the
        // scroll's records too (the companies' counts only those with users: a floor).
        // A reference list is read whole, and its records counted.
        let modes = config.source.spec().modes;
        let call = if modes.contains(&Mode::Pages) {
            Call::Page { number: 1 }
        } else if modes.contains(&Mode::List) {
            Call::List
        } else {
            Call::Count
        };
        let started = Instant::now();
        let page = client.fetch(&endpoints, &call).await.map_err(DumpError::Api)?;
        let counted = || {
            serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(page.page.records_json())
                .map_or(0, |records| records.len() as u64)
        };
        let records = if call == Call::List { counted() } else { page.total_count.unwrap_or(0) };
        Ok::<_, DumpError>((records, started.elapsed()))
    })?;
    let mode = chosen_mode(&config, records);
    let per_page = match mode {
        Mode::Cursor | Mode::Search => u64::from(config.api.per_page),
        Mode::Scroll => SCROLL_PAGE_SIZE as u64,
        Mode::List => records.max(1),
        Mode::Pages | Mode::Auto => u64::from(config.listing.page_size.min(MAX_PER_PAGE_V1)),
    };
    let requests = records.div_ceil(per_page.max(1)).max(1);
    let rate = f64::from(config.api.rate_limit_per_minute) / 60.0;
    // One request at a time for a cursor or a scroll; a search keeps the rate limit busy; a page
    // list keeps its concurrency going.
    let in_flight = match mode {
        Mode::Cursor | Mode::Scroll | Mode::List => 1.0,
        Mode::Search => config.listing.search_concurrency as f64,
        Mode::Pages | Mode::Auto => config.listing.page_concurrency as f64,
    };
    let pace = (in_flight / round_trip.as_secs_f64().max(1e-3)).min(rate);
    Ok(CheckReport {
        source: config.source.name(),
        api_version: config.api.version.to_string(),
        records,
        records_at_least: !config.source.spec().page_list_whole,
        declared_attributes: declared.len(),
        mode: mode.name(),
        requests,
        round_trip_ms: round_trip.as_millis() as u64,
        estimated_seconds: requests as f64 / pace.max(1e-9),
    })
}

/// The listing a dump of `records` would walk: `auto` settled as the dump settles it.
fn chosen_mode(config: &Config, records: u64) -> Mode {
    match config.mode() {
        Mode::Auto if config.source.spec().modes.contains(&Mode::Search) => {
            if crate::listing::auto_searches(records, config.api.per_page as usize) { Mode::Search } else { Mode::Cursor }
        }
        Mode::Auto => {
            if records <= config.listing.page_cap {
                Mode::Pages
            } else {
                Mode::Scroll
            }
        }
        mode => mode,
    }
}

/// `--out` takes files: made when missing (as a dump makes it), a probe file written and removed.
fn check_out_writable(config: &Config) -> Result<(), DumpError> {
    Ok(crate::sink::destination::open(&config.output)?.probe()?)
}

impl CheckReport {
    /// The estimate as minutes and seconds.
    pub fn estimate(&self) -> String {
        let seconds = Duration::from_secs_f64(self.estimated_seconds.max(0.0)).as_secs();
        if seconds >= 60 {
            format!("{} min {} s", seconds / 60, seconds % 60)
        } else {
            format!("{:.1} s", self.estimated_seconds.max(0.0))
        }
    }
}
