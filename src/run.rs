//! One dump, start to finish: stage the output, start the actor system, wait for the
//! Coordinator's verdict, publish, and summarise. With `--relations` the relation tables are
//! staged beside the contacts (each under its own lock), checked against what the contacts
//! announced before anything is published, and published after them, each with its manifest.
//! Runs side by side (`--source all`) share a rate limiter through [`run_sharing`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::coordinator::{Coordinator, Peers, RelaterPeers};
use crate::actors::fetcher::Fetcher;
use crate::actors::parser::Parser;
use crate::actors::relater::{Relater, RelationOutcome};
use crate::actors::writer::{Checkpoints, Writer};
use crate::api::ApiStatsSnapshot;
use crate::api::{ApiStats, new_rate_limiter};
use crate::buffer::PageBuffer;
use crate::config::{Config, Mode, PartitionBy};
use crate::error::DumpError;
use crate::incremental::ChangeSet;
use crate::progress::Progress;
use crate::schema::{AttributeType, DeclaredAttribute, PageDecoder};
use crate::sink::checkpoint::Layout;
use crate::sink::destination::{Destination, Held, Staged};
use crate::sink::manifest::{self, Announced, Manifest, ManifestFile};
use crate::sink::publish::new_run_id;
use crate::sink::{Partitioning, Sink, WrittenFile};
use crate::source::RolePartition;

/// What a finished run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub run_id: String,
    pub source: &'static str,
    /// The listing walked: cursor, scroll or pages.
    pub mode: &'static str,
    pub output_dir: PathBuf,
    pub records: u64,
    /// What the API said the listing held, when it said.
    pub total_count: Option<u64>,
    /// The lowest and highest `total_count` the listing announced: a whole dump writes a count
    /// inside (the workspace may change under a long listing).
    pub announced: Option<Announced>,
    /// What the plain list (`GET /contacts`) announced, for a search dump to be compared with.
    pub listed: Option<u64>,
    /// False only for a dump published with `--allow-incomplete` whose count is outside `announced`.
    pub complete: bool,
    pub pages: u64,
    pub page_bytes: u64,
    pub files: Vec<WrittenFile>,
    pub file_bytes: u64,
    #[serde(skip)]
    pub elapsed: Duration,
    pub seconds: f64,
    pub records_per_second: f64,
    pub api: ApiStatsSnapshot,
    /// Scrolls opened again after one broke.
    pub restarts: u32,
    /// Rows left out because their id had been written already.
    pub duplicates_dropped: u64,
    /// Ids remembered to deduplicate (v1 listings), and the memory they took.
    pub ids_remembered: u64,
    pub dedupe_bytes: u64,
    /// Page bytes that waited on disk because the memory budget was full.
    pub spilled_bytes: u64,
    /// The most page bytes held in memory at once (waiting or being parsed): the memory budget,
    /// passed by at most the pages already in flight when it filled.
    pub peak_buffered_bytes: u64,
    pub largest_page_bytes: u64,
    /// Custom attributes given typed columns, and values that did not fit their declared type
    /// (left out of the typed column, kept in `custom_attributes`).
    pub typed_custom_attributes: Vec<String>,
    pub custom_attribute_misfits: u64,
    /// Values that did not fit their column (kept as they came in `_extra`), by field, and text
    /// that was not valid UTF-8 (replaced by U+FFFD).
    pub repairs: crate::schema::Repairs,
    /// The relation tables written beside the contacts (`--relations`), each published with its
    /// own manifest.
    pub relations: Vec<RelationSummary>,
    /// An incremental run's: the records updated after this Unix time were asked for.
    pub changed_since: Option<i64>,
    /// The table's mark once this run is committed: the newest `updated_at` it holds, where
    /// the next incremental run goes on from.
    pub mark: Option<i64>,
    /// `--reconcile`: contacts the table held that the API no longer has, written as tombstones.
    pub tombstones: Option<u64>,
}

/// A relation table a run published.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelationSummary {
    pub table: &'static str,
    pub output_dir: PathBuf,
    /// Links written, each once.
    pub records: u64,
    pub counts: crate::RelationCount,
    pub files: Vec<WrittenFile>,
    pub file_bytes: u64,
}

/// Ways for a caller to watch a run from inside.
#[derive(Default)]
pub struct RunHooks {
    /// Called on the Writer's thread before each batch is written, with its rows. Blocking here
    /// stalls the writer: the tests do, to prove that a full memory budget pauses the listing
    /// (or spills a scroll) instead of growing.
    #[allow(clippy::type_complexity)]
    pub before_write: Option<Box<dyn FnMut(usize) + Send>>,
}

/// Dumps the configured listing into `config.output.dir`. Blocks until done; starts (and ends)
/// its own actor system, so call it from a thread that is not already running one.
pub fn run_dump(config: Config, progress: Arc<Progress>) -> Result<Summary, DumpError> {
    run_dump_with(config, progress, RunHooks::default())
}

/// [`run_dump`], with hooks.
pub fn run_dump_with(config: Config, progress: Arc<Progress>, hooks: RunHooks) -> Result<Summary, DumpError> {
    run_sharing(config, progress, hooks, Sharing::default())
}

/// What runs side by side (`--source all`) share; a run alone has its own of each.
#[derive(Default)]
pub(crate) struct Sharing {
    /// One rate limit for every run's requests.
    pub limiter: Option<Arc<crate::api::RateLimiter>>,
    /// One client (and runtime) for object storage.
    pub destination: Option<Arc<dyn Destination>>,
}

/// [`run_dump_with`], sharing what `sharing` gives.
pub(crate) fn run_sharing(
    config: Config,
    progress: Arc<Progress>,
    hooks: RunHooks,
    sharing: Sharing,
) -> Result<Summary, DumpError> {
    let mut config = config.validate()?;
    let started = Instant::now();
    let run_id = new_run_id();
    let source = config.source.name();
    let destination = match sharing.destination {
        Some(destination) => destination,
        None => crate::sink::destination::open(&config.output)?,
    };
    let limiter = sharing.limiter;
    let lock = destination.lock(source, &run_id)?;
    // An incremental run writes a change set, a table of its own inside the source's.
    let change_set = match config.output.incremental {
        Some(incremental) => {
            let partition_by = config.output.partition_by.map(PartitionBy::column);
            Some(ChangeSet::begin(destination.as_ref(), source, &run_id, incremental, partition_by)?)
        }
        None => None,
    };
    if let Some(change_set) = &change_set {
        config.listing.changed_since = change_set.since;
        tracing::info!(since = ?change_set.since, mark = ?change_set.state.mark, "asking for what changed since the table's mark, less the lookback");
    }
    let table = change_set.as_ref().map_or_else(|| source.to_string(), |c| c.table.clone());
    let config = Arc::new(config);
    let data_source = config.source;
    let stats = Arc::new(ApiStats::default());
    let limiter = limiter.unwrap_or_else(|| new_rate_limiter(config.api.rate_limit_per_minute));
    let fetch_declared =
        || if config.typed_custom_attributes() { fetch_declared_attributes(&config, &limiter, &stats) } else { Ok(Vec::new()) };
    let layout_of = |declared: &[DeclaredAttribute]| layout(&config, &PageDecoder::output_schema(data_source, declared));
    let prepare = || destination.stage(&table, &run_id, config.output.overwrite);
    // What the output directory refuses is found before anything is asked of the API; only a
    // resume needs the declared attributes first, to compare its layout with the checkpoint's.
    let resumable = crate::listing::open(&config, None).is_ok_and(|listing| listing.resumable());
    let (staging, checkpoint, declared) = if config.output.resume && resumable {
        let declared = fetch_declared()?;
        match destination.adopt(source, &run_id, config.output.overwrite, &layout_of(&declared))? {
            Some((staging, checkpoint)) => {
                tracing::warn!(records = checkpoint.records, "resuming a run that did not finish, from its last checkpoint");
                (staging, Some(checkpoint), declared)
            }
            None => {
                tracing::warn!("no checkpoint to resume from here: starting from the beginning");
                (prepare()?, None, declared)
            }
        }
    } else {
        let staging = prepare()?;
        (staging, None, fetch_declared()?)
    };
    let mut declared = declared;
    if let Some(change_set) = &change_set {
        let changed = crate::incremental::keep_column_types(&mut declared, &change_set.state);
        if !changed.is_empty() {
            tracing::warn!(
                attributes = changed.join(", "),
                "custom attributes declared with another type than their column has: the column keeps its type, the values that do not fit it stay in custom_attributes"
            );
        }
    }
    let schema = PageDecoder::output_schema(data_source, &declared);
    let layout = layout(&config, &schema);
    let decoder_batch_rows = config.decoder_batch_rows();
    let buffer = PageBuffer::new(config.pipeline.max_buffer_bytes, staging.scratch_path("spilled-pages"));
    let partitioning = match (config.output.partition_by, data_source.spec().role_partition) {
        (None, _) | (_, RolePartition::None) => Partitioning::None,
        (Some(by), RolePartition::Column) => Partitioning::ByColumn(by.column().into()),
        (Some(by), RolePartition::Fixed(role)) => Partitioning::Fixed { name: by.column().into(), value: role.into() },
    };
    let staged_dir = staging.dir();
    let store = destination.store();
    let relation_tables =
        if config.output.relations { stage_relations(&config, destination.as_ref(), &run_id)? } else { Vec::new() };
    let gone = match (&change_set, config.output.incremental) {
        (Some(change_set), Some(incremental)) if incremental.reconcile => {
            Some(find_gone(&config, destination.as_ref(), change_set, &limiter, &stats)?)
        }
        _ => None,
    };
    let tombstone_files = match &gone {
        Some(gone) if !gone.is_empty() => write_tombstones(&config, &store, &staged_dir, &schema, &partitioning, gone)?,
        _ => Vec::new(),
    };
    let tombstones = gone.map(|gone| gone.len() as u64);
    let mut sink = Sink::with_store(store.clone(), &staged_dir, schema.clone(), &config.output, partitioning);
    let resumed_records = checkpoint.as_ref().map_or(0, |c| c.records);
    progress.records.store(resumed_records, Ordering::Relaxed);
    let listing = crate::listing::open(&config, checkpoint.as_ref().map(|c| c.resume_at.clone()))
        .map_err(|e| DumpError::from_opening(e, source))?;
    if let Some(checkpoint) = checkpoint {
        sink.resume(checkpoint.files);
    }
    // The relation tables are not checkpointed: a run that writes them starts over.
    let checkpoints = (listing.resumable() && !config.output.relations).then(|| Checkpoints {
        store: store.clone(),
        source: source.to_string(),
        staging_root: staging.root(),
        staged_dir: staged_dir.clone(),
        every_rows: config.output.checkpoint_rows.max(1),
        records: resumed_records,
        rows_since: 0,
        layout,
    });
    let started_at = unix_now();
    let (done, verdict) = std::sync::mpsc::channel();

    let parser_declared = declared.clone();
    let (relation_stagings, relation_sinks): (Vec<StagedRelation>, Vec<Sink>) = relation_tables.into_iter().unzip();
    let system = System::new();
    let (system_id, writing) = system.block_on({
        let (config, stats, progress) = (config.clone(), stats.clone(), progress.clone());
        async move {
            let current = System::current();
            crate::interrupt::started(current.clone());
            let fetcher_config = config.clone();
            let fetcher =
                Fetcher::start_in_arbiter(&Arbiter::new().handle(), move |_| Fetcher::new(&fetcher_config, limiter, stats));
            let parsers = SyncArbiter::start(config.pipeline.parsers, move || {
                Parser::new(PageDecoder::for_source(data_source, decoder_batch_rows, &parser_declared))
            });
            // The arbiters that write: joined once the system stops, so that nothing is written
            // into the staging after the run has let go of it.
            let mut writing = Vec::new();
            let relater = (!relation_sinks.is_empty()).then(|| {
                let (fetcher, batch_rows) = (fetcher.clone().recipient(), config.pipeline.batch_rows);
                let arbiter = Arbiter::new();
                let relater =
                    Relater::start_in_arbiter(&arbiter.handle(), move |_| Relater::new(relation_sinks, fetcher, batch_rows));
                writing.push(arbiter);
                RelaterPeers { contacts: relater.clone().recipient(), finisher: relater.recipient() }
            });
            let before_write = hooks.before_write;
            let arbiter = Arbiter::new();
            let writer = Writer::start_in_arbiter(&arbiter.handle(), move |_| Writer::new(sink, checkpoints, before_write));
            writing.push(arbiter);
            let peers = Peers {
                fetcher: fetcher.recipient(),
                parsers: parsers.recipient(),
                writer: writer.clone().recipient(),
                finisher: writer.recipient(),
                relater,
            };
            Coordinator::new(config, listing, peers, buffer, progress, done).start();
            (current.id(), writing)
        }
    });
    let join = |writing: Vec<Arbiter>| {
        for arbiter in writing {
            arbiter.stop();
            let _ = arbiter.join();
        }
    };
    if let Some(signal) = crate::interrupt::received() {
        join(writing);
        crate::interrupt::ended(system_id);
        return Err(DumpError::Interrupted { signal });
    }
    let ran = system.run();
    join(writing);
    crate::interrupt::ended(system_id);
    if let Some(signal) = crate::interrupt::received() {
        return Err(DumpError::Interrupted { signal });
    }
    ran.map_err(|e| DumpError::Aborted(format!("the actor system failed: {e}")))?;
    let outcome = verdict.try_recv().map_err(|_| DumpError::Aborted("the coordinator ended without a verdict".into()))??;

    let records = progress.records.load(Ordering::Relaxed);
    let verdict = outcome.guard.verdict(records);
    if !verdict.is_whole() {
        if !config.output.allow_incomplete {
            return Err(DumpError::Incomplete { verdict, source_name: source });
        }
        tracing::warn!(?verdict, "publishing a listing that is not what the API announced (--allow-incomplete)");
    }
    for relation in &outcome.relations {
        if !relation.count.is_whole() {
            let RelationOutcome { spec, count, .. } = relation;
            if !config.output.allow_incomplete {
                return Err(DumpError::RelationsIncomplete {
                    table: spec.table,
                    announced: count.announced,
                    written: count.written,
                    contacts_short: count.contacts_short,
                });
            }
            tracing::warn!(
                table = spec.table,
                ?count,
                "publishing a relation table that is not what the contacts announced (--allow-incomplete)"
            );
        }
    }
    let listed = outcome.guard.listed_count();
    // A change set has no plain list to compare with (that counts every contact, not the changed).
    if config.output.strict && outcome.mode == Mode::Search && listed.is_none() && change_set.is_none() {
        return Err(DumpError::CountUnavailable { source_name: source });
    }
    if let Some(listed) = listed.filter(|&listed| listed != records) {
        if config.output.strict {
            return Err(DumpError::CountDiffers { listed, written: records, source_name: source });
        }
        tracing::warn!(listed, written = records, "the search delivered another count than the plain list announces");
    }
    let published = destination.table_location(&table);
    let files: Vec<WrittenFile> = outcome
        .files
        .into_iter()
        .chain(tombstone_files)
        .map(|f| WrittenFile { path: staging.published_path(&f.path), ..f })
        .collect();
    let elapsed = started.elapsed();
    let summary = Summary {
        run_id,
        source,
        mode: outcome.mode.name(),
        output_dir: published.clone(),
        // Rows written once, whichever formats they went to.
        records,
        total_count: outcome.total_count,
        announced: outcome.guard.announced().map(|(min, max)| Announced { min, max }),
        complete: verdict.is_whole(),
        listed,
        pages: progress.pages.load(Ordering::Relaxed),
        page_bytes: progress.page_bytes.load(Ordering::Relaxed),
        file_bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        elapsed,
        seconds: elapsed.as_secs_f64(),
        records_per_second: records as f64 / elapsed.as_secs_f64().max(1e-9),
        api: stats.snapshot(),
        restarts: outcome.restarts,
        duplicates_dropped: outcome.duplicates_dropped,
        ids_remembered: outcome.ids_remembered,
        dedupe_bytes: outcome.dedupe_bytes,
        spilled_bytes: outcome.spilled_bytes,
        peak_buffered_bytes: outcome.peak_buffered_bytes,
        largest_page_bytes: outcome.largest_page_bytes,
        typed_custom_attributes: declared.iter().map(|d| d.name.clone()).collect(),
        custom_attribute_misfits: outcome.custom_attribute_misfits,
        repairs: outcome.repairs,
        relations: Vec::new(),
        changed_since: change_set.as_ref().and_then(|c| c.since),
        mark: None,
        tombstones,
    };
    let manifest = Manifest {
        tool_version: env!("CARGO_PKG_VERSION"),
        run_id: summary.run_id.clone(),
        source,
        key: data_source.spec().key,
        mode: summary.mode,
        api_version: config.api.version.to_string(),
        base_url: crate::config::redact_url(&config.api.base_url),
        started_at: manifest::rfc3339(started_at),
        finished_at: manifest::rfc3339(unix_now()),
        records: summary.records,
        announced: summary.announced,
        complete: summary.complete,
        listed: summary.listed,
        duplicates_dropped: summary.duplicates_dropped,
        changed_since: summary.changed_since.map(manifest::rfc3339),
        tombstones: summary.tombstones,
        repairs: summary.repairs.clone(),
        files: summary.files.iter().map(|f| ManifestFile::new(&published, f)).collect(),
        schema: manifest::describe_schema(&schema),
        arrow_schema: manifest::arrow_schema_ipc(&schema),
    };
    staging.publish(&manifest)?;
    let mut summary = summary;
    // The state goes last: a change set it does not list is removed by the next run.
    if data_source.spec().incremental {
        let state = crate::incremental::commit(
            destination.as_ref(),
            crate::incremental::Published {
                source,
                run_id: &summary.run_id,
                api_version: config.api.version.to_string(),
                records: summary.records,
                tombstones: summary.tombstones.unwrap_or(0),
                files: &summary.files,
                schema: &schema,
                declared: &declared,
                change_set: change_set.as_ref(),
                partition_by: config.output.partition_by.map(PartitionBy::column),
            },
        )?;
        summary.mark = state.mark;
    }
    for (relation, (staging, _lock)) in outcome.relations.into_iter().zip(relation_stagings) {
        summary.relations.push(publish_relation(relation, staging, &manifest, destination.as_ref())?);
    }
    drop(lock);
    Ok(summary)
}

/// `--reconcile`: the contacts the table holds that the API no longer has, with the time each
/// tombstone takes. Its requests count among the run's.
fn find_gone(
    config: &Config,
    destination: &dyn Destination,
    change_set: &ChangeSet,
    limiter: &Arc<crate::api::RateLimiter>,
    stats: &Arc<ApiStats>,
) -> Result<Vec<(String, i64)>, DumpError> {
    let requests = || stats.snapshot().requests;
    let before = requests();
    let listed = crate::reconcile::listed_ids(config, limiter, stats)?;
    let listing_requests = requests() - before;
    let held = crate::reconcile::held_ids(destination, config.source.name(), &change_set.state)?;
    let unlisted = crate::reconcile::unlisted(&held, &listed);
    // Search has indexed whatever was created before the change set's window: only the newer
    // ids it misses are asked for.
    let gone = crate::reconcile::confirm_gone(config, limiter, stats, unlisted, change_set.since)?;
    tracing::info!(
        listed = listed.len(),
        listing_requests,
        held = held.len(),
        asked = requests() - before - listing_requests,
        gone = gone.len(),
        "reconciled the table's ids with the API's"
    );
    Ok(gone)
}

/// Tombstones for `gone`, written into the change set's `deleted/` folder before the listing
/// starts, partitioned as the run's rows are (a tombstone's role is unknown: Hive's default).
fn write_tombstones(
    config: &Config,
    store: &Arc<dyn crate::store::Store>,
    staged_dir: &std::path::Path,
    schema: &arrow::datatypes::SchemaRef,
    partitioning: &Partitioning,
    gone: &[(String, i64)],
) -> Result<Vec<WrittenFile>, DumpError> {
    let batch = crate::reconcile::tombstones(schema, gone).map_err(|e| DumpError::Reconcile(e.to_string()))?;
    let mut sink =
        Sink::with_store(store.clone(), &staged_dir.join("deleted"), schema.clone(), &config.output, partitioning.clone());
    sink.write(&batch)?;
    // A tombstone's time is made up (a second past the version held): not a mark to go on from.
    Ok(sink.finish()?.into_iter().map(|f| WrittenFile { max_updated_at: None, ..f }).collect())
}

/// A relation table's staging, with its lock held for the run: the relation's sink writes there.
type StagedRelation = (Box<dyn Staged>, Held);

/// Locks and stages every relation table, each under its own name in `--out`.
fn stage_relations(
    config: &Config,
    destination: &dyn Destination,
    run_id: &str,
) -> Result<Vec<(StagedRelation, Sink)>, DumpError> {
    let mut staged = Vec::new();
    for spec in crate::source::relation::RELATIONS {
        let lock = destination.lock(spec.table, run_id)?;
        let staging = destination.stage(spec.table, run_id, config.output.overwrite)?;
        let sink = Sink::with_store(destination.store(), &staging.dir(), spec.schema(), &config.output, Partitioning::None);
        staged.push(((staging, lock), sink));
    }
    Ok(staged)
}

/// Publishes one relation table with its own manifest: the contacts' run, its own counts.
fn publish_relation(
    relation: RelationOutcome,
    staging: Box<dyn Staged>,
    contacts: &Manifest,
    destination: &dyn Destination,
) -> Result<RelationSummary, DumpError> {
    let RelationOutcome { spec, files, count } = relation;
    let out = destination.table_location(spec.table);
    let files: Vec<WrittenFile> = files.into_iter().map(|f| WrittenFile { path: staging.published_path(&f.path), ..f }).collect();
    let schema = spec.schema();
    let manifest = Manifest {
        source: spec.table,
        key: spec.key,
        mode: "relation",
        records: count.written,
        announced: Some(Announced { min: count.announced, max: count.announced }),
        complete: count.is_whole(),
        listed: None,
        duplicates_dropped: count.duplicates_dropped,
        changed_since: None,
        tombstones: None,
        repairs: Default::default(),
        files: files.iter().map(|f| ManifestFile::new(&out, f)).collect(),
        schema: manifest::describe_schema(&schema),
        arrow_schema: manifest::arrow_schema_ipc(&schema),
        finished_at: manifest::rfc3339(unix_now()),
        ..contacts.clone()
    };
    staging.publish(&manifest)?;
    Ok(RelationSummary {
        table: spec.table,
        output_dir: out,
        records: count.written,
        counts: count,
        file_bytes: files.iter().map(|f| f.bytes).sum(),
        files,
    })
}

/// The custom attributes the workspace declares for `config`'s source, with their types: the
/// typed columns a dump would add. Blocks; asks the API once.
pub fn declared_attributes(config: &Config) -> Result<Vec<DeclaredAttribute>, DumpError> {
    let stats = Arc::new(ApiStats::default());
    fetch_declared_attributes(config, &new_rate_limiter(config.api.rate_limit_per_minute), &stats)
}

/// The workspace's custom attributes and their declared types, asked once before the listing
/// starts (on a runtime of its own: the Fetcher's client belongs to its arbiter). An attribute
/// of a type without a column (an unknown `data_type`) stays in the JSON column only.
fn fetch_declared_attributes(
    config: &Config,
    limiter: &Arc<crate::api::RateLimiter>,
    stats: &Arc<ApiStats>,
) -> Result<Vec<DeclaredAttribute>, DumpError> {
    // A source without custom attributes declares none.
    let Some(model) = config.source.spec().attribute_model else { return Ok(Vec::new()) };
    let runtime = own_runtime()?;
    let attributes = runtime
        .block_on(async {
            let client = crate::api::ApiClient::new(config.api.clone(), limiter.clone(), stats.clone())?;
            client.data_attributes(model).await
        })
        .map_err(|error| match error {
            // A refused token is the token's fault, whatever it was reading.
            error @ crate::api::ApiError::Unauthorized { .. } => DumpError::Api(error),
            error => DumpError::DataAttributes(error),
        })?;
    Ok(attributes
        .into_iter()
        .filter(|a| a.custom && !a.archived && a.model.as_deref().is_none_or(|m| m == model))
        .filter_map(|a| Some(DeclaredAttribute { kind: AttributeType::parse(&a.data_type)?, name: a.name }))
        .collect())
}

/// What shapes this run's files, for its checkpoints.
fn layout(config: &Config, schema: &arrow::datatypes::Schema) -> Layout {
    Layout {
        base_url: crate::config::redact_url(&config.api.base_url),
        api_version: config.api.version.to_string(),
        format: format!("{:?}", config.output.format).to_lowercase(),
        compression: format!("{:?}", config.output.compression).to_lowercase(),
        partition_by: config.output.partition_by.map(|_| "role".to_string()),
        schema: manifest::describe_schema(schema).into_iter().map(|f| format!("{} {}", f.name, f.data_type)).collect(),
        mode: Some(config.mode().name().to_string()),
    }
}

/// Seconds since the Unix epoch, now.
/// A single-thread runtime for the API calls a run makes outside its actors (the declared
/// attributes, `--reconcile`'s walk, `check`).
pub(crate) fn own_runtime() -> Result<tokio::runtime::Runtime, DumpError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DumpError::Aborted(format!("cannot start a runtime: {e}")))
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
