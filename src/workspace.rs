//! `--source all`: every table of a workspace in one run, into one lake folder. Each table is a
//! run of its own ([`crate::run`]: its actor system, its lock, its staging, its manifest), all
//! side by side on threads sharing one rate limiter, so the companies scroll, the reference lists
//! and the contacts' follow-up calls fill the rate limit beside the contacts listing instead of
//! queueing after it. Each table publishes on its own as soon as it is whole (the contacts with
//! their relation tables, `contact_tags` and `contact_companies`); once every table is
//! published, `OUT/_workspace.json` records which runs belong together. It is written last, and
//! the record of an earlier run is removed first: a run that fails leaves no record claiming
//! tables it did not publish. One `--source all` run at a time holds an output folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, Mode, Source};
use crate::error::{ConfigError, DumpError};
use crate::progress::Progress;
use crate::run::{RunHooks, Sharing, Summary};
use crate::sink::manifest::{MANIFEST, rfc3339};

/// The tables' sources, in the order they are reported: the contacts (and their relations)
/// first, the slowest; the reference lists last, the smallest.
pub const TABLES: [Source; 8] = [
    Source::Contacts,
    Source::Companies,
    Source::Tags,
    Source::Segments,
    Source::Admins,
    Source::Teams,
    Source::ContactAttributes,
    Source::CompanyAttributes,
];

/// Every table's directory a `--source all` run writes, relation tables included.
pub fn table_names() -> Vec<&'static str> {
    TABLES
        .iter()
        .flat_map(|&source| {
            let relations = if source == Source::Contacts { &crate::source::relation::RELATIONS[..] } else { &[] };
            std::iter::once(source.name()).chain(relations.iter().map(|r| r.table))
        })
        .collect()
}

/// The run-level record, at the output folder's top.
pub const WORKSPACE_RECORD: &str = "_workspace.json";

/// What a `--source all` run did.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceSummary {
    pub run_id: String,
    pub output_dir: PathBuf,
    /// One per source, in the order of [`TABLES`]; the contacts' carries its relation tables.
    pub tables: Vec<Summary>,
    #[serde(skip)]
    pub elapsed: Duration,
    pub seconds: f64,
    /// Requests sent by every table (follow-up calls and retries included), and their pace over
    /// the whole run: what the rate limit allows is the bound.
    pub requests: u64,
    pub requests_per_second: f64,
    pub rate_limit_per_second: f64,
}

/// The record that ties the tables of one run together.
#[derive(Debug, Serialize)]
struct WorkspaceRecord<'a> {
    tool_version: &'static str,
    run_id: &'a str,
    base_url: String,
    started_at: String,
    finished_at: String,
    tables: Vec<RecordedTable>,
}

#[derive(Debug, Serialize)]
struct RecordedTable {
    table: &'static str,
    /// The table's own run, as its manifest names it.
    run_id: String,
    records: u64,
    complete: bool,
    /// The table's manifest, relative to the record.
    manifest: String,
}

/// The configuration of one table of a `--source all` run of `base`: `auto`'s listing, the contacts with their relations, and the options that do not apply to a table
/// left out for it (`--partition-by role` applies to the contacts alone).
pub fn table_config(base: &Config, source: Source) -> Result<Config, ConfigError> {
    let mut config = base.clone();
    config.source = source;
    let spec = source.spec();
    // `auto` where a source has a choice: the search for a big contacts list, the scroll for
    // companies; the one listing a source has otherwise.
    config.listing.mode = spec.serves(Mode::Auto).then_some(Mode::Auto);
    config.output.relations = source == Source::Contacts;
    if spec.role_partition == crate::source::RolePartition::None {
        config.output.partition_by = None;
    }
    if spec.attribute_model.is_none() {
        config.output.typed_custom_attributes = None;
    }
    config.validate()
}

/// Checks a `--source all` run's options before anything starts: every table must accept them.
pub fn validate(base: &Config) -> Result<(), ConfigError> {
    if base.listing.mode.is_some_and(|mode| mode != Mode::Auto) {
        return Err(ConfigError::ModeForAll);
    }
    if base.output.resume {
        return Err(ConfigError::RelationsResume);
    }
    if base.output.incremental.is_some() {
        return Err(ConfigError::IncrementalForAll);
    }
    for source in TABLES {
        table_config(base, source)?;
    }
    Ok(())
}

/// Dumps every table of the workspace `base` points at into `base.output.dir`. Blocks; `progress`
/// follows the contacts, the longest table. A table that fails does not stop the others (each
/// is published only whole, on its own); the run then ends with the first failure, in the order
/// of [`TABLES`], and writes no record.
pub fn run_workspace(base: Config, progress: Arc<Progress>) -> Result<WorkspaceSummary, DumpError> {
    validate(&base)?;
    let started = Instant::now();
    let started_at = crate::run::unix_now();
    let run_id = crate::sink::publish::new_run_id();
    let out = base.output.dir.clone();
    let destination = crate::sink::destination::open(&base.output)?;
    let _lock = destination.lock("workspace", &run_id)?;
    destination.put_top(WORKSPACE_RECORD, None)?;
    let limiter = crate::api::new_rate_limiter(base.api.rate_limit_per_minute);
    let configs: Vec<Config> = TABLES.iter().map(|&source| table_config(&base, source)).collect::<Result<_, _>>()?;
    let results: Vec<Result<Summary, DumpError>> = std::thread::scope(|scope| {
        let runs: Vec<_> = configs
            .into_iter()
            .map(|config| {
                let progress = if config.source == Source::Contacts { progress.clone() } else { Arc::new(Progress::default()) };
                let sharing = Sharing { limiter: Some(limiter.clone()), destination: Some(destination.clone()) };
                scope.spawn(move || crate::run::run_sharing(config, progress, RunHooks::default(), sharing))
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|_| Err(DumpError::Aborted("a table's run panicked".into()))))
            .collect()
    });
    let published: Vec<&'static str> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|s| std::iter::once(s.source).chain(s.relations.iter().map(|r| r.table)))
        .collect();
    // The first table that failed, in the order of TABLES; a signal before any other failure.
    let interrupted = |r: &Result<Summary, DumpError>| matches!(r, Err(DumpError::Interrupted { .. }));
    let failed = results.iter().position(interrupted).or_else(|| results.iter().position(Result::is_err));
    if let Some(index) = failed {
        let error = results.into_iter().nth(index).and_then(Result::err).expect("the failed table's error");
        return Err(DumpError::Table { table: TABLES[index].name(), published, error: Box::new(error) });
    }
    let tables: Vec<Summary> = results.into_iter().filter_map(Result::ok).collect();
    let recorded = tables
        .iter()
        .flat_map(|s| {
            let main = RecordedTable {
                table: s.source,
                run_id: s.run_id.clone(),
                records: s.records,
                complete: s.complete,
                manifest: format!("{}/{MANIFEST}", s.source),
            };
            let relations = s.relations.iter().map(|r| RecordedTable {
                table: r.table,
                run_id: s.run_id.clone(),
                records: r.records,
                complete: r.counts.is_whole(),
                manifest: format!("{}/{MANIFEST}", r.table),
            });
            std::iter::once(main).chain(relations).collect::<Vec<_>>()
        })
        .collect();
    let body = WorkspaceRecord {
        tool_version: env!("CARGO_PKG_VERSION"),
        run_id: &run_id,
        base_url: crate::config::redact_url(&base.api.base_url),
        started_at: rfc3339(started_at),
        finished_at: rfc3339(crate::run::unix_now()),
        tables: recorded,
    };
    destination.put_top(WORKSPACE_RECORD, Some(&serde_json::to_vec_pretty(&body).expect("a record serialises")))?;
    let elapsed = started.elapsed();
    let requests: u64 = tables.iter().map(|t| t.api.requests).sum();
    Ok(WorkspaceSummary {
        run_id,
        output_dir: out,
        tables,
        elapsed,
        seconds: elapsed.as_secs_f64(),
        requests,
        requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        rate_limit_per_second: f64::from(base.api.rate_limit_per_minute) / 60.0,
    })
}
