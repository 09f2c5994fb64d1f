//! `--reconcile`: the contacts a table holds that the API no longer has (deleted, or merged
//! into another contact), found and written as tombstones into an incremental run's change set.
//!
//! What the API has is every id search lists (its windows walked at once, as a search dump walks
//! them), checked against the count it announces: a listing that is not whole deletes nothing.
//! Search does not see a contact created in the last minutes (not indexed yet), which a full
//! dump by the plain list may hold already: an id the table holds and search does not list is
//! therefore asked for itself (`GET /contacts/{id}`), and only a 404 makes it a tombstone.
//! What the table holds is read back from its committed runs' files (`id`, `updated_at`,
//! `type`), the latest version of each id winning as in the lake's view. A tombstone is a row
//! of the table's schema with the id, `type` = [`TOMBSTONE_TYPE`] and an `updated_at` one
//! second past the version the table held, every other column null: it is the latest version
//! of its id in the view, whatever order a reader breaks ties in.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampSecondArray};
use arrow::datatypes::{DataType, SchemaRef, TimestampSecondType};

use crate::api::{ApiClient, ApiStats, RateLimiter};
use crate::config::{Config, Mode};
use crate::error::DumpError;
use crate::incremental::TableState;
use crate::sink::SinkError;
use crate::sink::destination::Destination;
use crate::sink::manifest::{MANIFEST, listed_files};

/// The `type` of a tombstone row: the name of Intercom's own webhook topic for a deletion.
pub const TOMBSTONE_TYPE: &str = "contact.deleted";

/// What a held version is read back from.
const VERSION_COLUMNS: [&str; 4] = ["id", "updated_at", "created_at", "type"];
/// The largest manifest read back: it lists a run's parts, a few hundred bytes each.
const MAX_MANIFEST_BYTES: usize = 64 << 20;

/// The latest version of each id a table holds.
pub(crate) type Held = HashMap<String, Version>;

/// What the reconcile needs of a held version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub updated_at: i64,
    pub created_at: Option<i64>,
    pub tombstone: bool,
}

/// A held id search did not list: gone, unless it is too new for search's index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Unlisted {
    pub id: String,
    /// The tombstone's `updated_at`: a second past the version held.
    pub tombstone_at: i64,
    pub created_at: Option<i64>,
}

/// Every contact id search lists, walked whole under the run's API settings, rate limiter and
/// counters.
pub(crate) fn listed_ids(
    config: &Config,
    limiter: &Arc<RateLimiter>,
    stats: &Arc<ApiStats>,
) -> Result<HashSet<String>, DumpError> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let mut listing = config.clone();
    listing.output.incremental = None;
    listing.listing.mode = Some(Mode::Search);
    listing.listing.changed_since = None;
    let mut ids = HashSet::new();
    let mut unreadable = None;
    let walked =
        crate::walk::walk_with(&listing, limiter, stats, |page| match serde_json::from_slice::<Vec<Id>>(page.records_json()) {
            Ok(records) => ids.extend(records.into_iter().map(|r| r.id)),
            Err(error) => unreadable = Some(error.to_string()),
        })?;
    if let Some(reason) = unreadable {
        return Err(DumpError::Reconcile(format!("a search page has records without a readable id ({reason})")));
    }
    match walked.announced {
        Some((low, high)) if (low..=high).contains(&(ids.len() as u64)) => Ok(ids),
        announced => Err(DumpError::Reconcile(format!(
            "search listed {} distinct ids where it announced {}",
            ids.len(),
            announced.map_or("no count".to_string(), |(low, high)| if low == high {
                low.to_string()
            } else {
                format!("{low} to {high}")
            })
        ))),
    }
}

/// The latest version of each id `source`'s table holds, from the runs `state` lists, read
/// back through `destination` (only the columns a version needs).
pub(crate) fn held_ids(destination: &dyn Destination, source: &str, state: &TableState) -> Result<Held, SinkError> {
    let mut held = Held::new();
    let table = destination.table_location(source);
    for run in &state.runs {
        let folder = if run.path.is_empty() { String::new() } else { format!("{}/", run.path) };
        let manifest = format!("{folder}{MANIFEST}");
        let bad = |reason: &str| SinkError::BadState { path: table.join(&manifest), reason: reason.into() };
        let body = destination
            .read_table_file(source, &manifest, MAX_MANIFEST_BYTES)?
            .ok_or_else(|| bad("a run the state lists has no manifest"))?;
        let files = listed_files(&body).ok_or_else(|| bad("it is not a manifest of intercom-dump's"))?;
        // `--format both` holds every row twice: one format is enough.
        let parquet = files.iter().any(|file| file.format == "parquet");
        for file in files.iter().filter(|file| (file.format == "parquet") == parquet) {
            let relative = format!("{folder}{}", file.path);
            for batch in destination.read_columns(source, &relative, &file.format, &VERSION_COLUMNS)? {
                note_batch(&mut held, &batch, &table.join(&relative))?;
            }
        }
    }
    Ok(held)
}

/// Folds a batch of a later run (or a later part) into what the table holds.
fn note_batch(held: &mut Held, batch: &RecordBatch, path: &Path) -> Result<(), SinkError> {
    let missing = |column: &str| SinkError::BadState { path: path.to_path_buf(), reason: format!("it has no {column} column") };
    let ids = batch.column_by_name("id").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| missing("id"))?;
    // Parquet holds timestamps in milliseconds: read back as the file has them, seconds here.
    let seconds = |name: &str| -> Result<Option<ArrayRef>, SinkError> {
        let Some(column) = batch.column_by_name(name) else { return Ok(None) };
        arrow::compute::cast(column, &DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None))
            .map(Some)
            .map_err(|e| SinkError::BadState { path: path.to_path_buf(), reason: e.to_string() })
    };
    let updated = seconds("updated_at")?.ok_or_else(|| missing("updated_at"))?;
    let updated = updated.as_primitive::<TimestampSecondType>();
    let created = seconds("created_at")?;
    let created = created.as_ref().map(|c| c.as_primitive::<TimestampSecondType>());
    let kinds = batch.column_by_name("type").and_then(|c| c.as_string_opt::<i32>());
    for row in 0..batch.num_rows() {
        if ids.is_null(row) {
            continue;
        }
        let version = Version {
            updated_at: if updated.is_null(row) { i64::MIN } else { updated.value(row) },
            created_at: created.filter(|c| c.is_valid(row)).map(|c| c.value(row)),
            tombstone: kinds.is_some_and(|k| k.is_valid(row) && k.value(row) == TOMBSTONE_TYPE),
        };
        // Later runs come later: a tie goes to the later one, as the view breaks it.
        match held.get_mut(ids.value(row)) {
            Some(latest) if latest.updated_at > version.updated_at => {}
            Some(latest) => *latest = version,
            None => {
                held.insert(ids.value(row).to_string(), version);
            }
        }
    }
    Ok(())
}

/// The ids `held` (and not already tombstoned) that search does not list.
pub(crate) fn unlisted(held: &Held, listed: &HashSet<String>) -> Vec<Unlisted> {
    held.iter()
        .filter(|(id, version)| !version.tombstone && !listed.contains(id.as_str()))
        .map(|(id, version)| Unlisted {
            id: id.clone(),
            tombstone_at: version.updated_at.saturating_add(1),
            created_at: version.created_at,
        })
        .collect()
}

/// Of the ids search does not list, those that are gone: created before `indexed_since` (search
/// has indexed them, were they there), or answered 404 when asked for (created since, and
/// perhaps not indexed yet), asked several at once through the run's rate limiter. With the
/// tombstones' times, in id order.
pub(crate) fn confirm_gone(
    config: &Config,
    limiter: &Arc<RateLimiter>,
    stats: &Arc<ApiStats>,
    unlisted: Vec<Unlisted>,
    indexed_since: Option<i64>,
) -> Result<Vec<(String, i64)>, DumpError> {
    let (settled, ask): (Vec<Unlisted>, Vec<Unlisted>) =
        unlisted.into_iter().partition(|u| u.created_at.zip(indexed_since).is_some_and(|(created, since)| created < since));
    let mut gone: Vec<(String, i64)> = settled.into_iter().map(|u| (u.id, u.tombstone_at)).collect();
    if !ask.is_empty() {
        ask_for(config, limiter, stats, ask, &mut gone)?;
    }
    gone.sort();
    Ok(gone)
}

/// Asks for each of `ask`; the ones answered 404 join `gone`.
fn ask_for(
    config: &Config,
    limiter: &Arc<RateLimiter>,
    stats: &Arc<ApiStats>,
    ask: Vec<Unlisted>,
    gone: &mut Vec<(String, i64)>,
) -> Result<(), DumpError> {
    use futures_util::StreamExt;
    crate::run::own_runtime()?.block_on(async {
        let client = ApiClient::new(config.api.clone(), limiter.clone(), stats.clone())?;
        let client = &client;
        let answers = futures_util::stream::iter(ask.into_iter().map(|u| async move {
            let exists = client.contact_exists(&u.id).await;
            exists.map(|exists| (!exists).then_some((u.id, u.tombstone_at)))
        }))
        .buffer_unordered(config.listing.search_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for answer in answers {
            let page = "asking for a contact search does not list".to_string();
            gone.extend(answer.map_err(|error| DumpError::Fetch { page, error })?);
        }
        Ok(())
    })
}

/// Tombstone rows for `gone`, in `schema`.
pub(crate) fn tombstones(schema: &SchemaRef, gone: &[(String, i64)]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match field.name().as_str() {
                "id" => Arc::new(StringArray::from_iter_values(gone.iter().map(|(id, _)| id))),
                "type" => Arc::new(StringArray::from_iter_values(gone.iter().map(|_| TOMBSTONE_TYPE))),
                "updated_at" => {
                    let zone = match field.data_type() {
                        DataType::Timestamp(_, zone) => zone.clone(),
                        _ => None,
                    };
                    Arc::new(TimestampSecondArray::from_iter_values(gone.iter().map(|(_, at)| *at)).with_timezone_opt(zone))
                }
                _ => arrow::array::new_null_array(field.data_type(), gone.len()),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_go_to_the_ids_held_and_no_longer_listed_one_second_past_their_version() {
        let version = |updated_at, tombstone| Version { updated_at, created_at: Some(10), tombstone };
        let mut held = Held::new();
        held.insert("a".into(), version(100, false));
        held.insert("b".into(), version(200, false));
        held.insert("c".into(), version(300, true));
        let listed: HashSet<String> = ["a".to_string()].into();
        let unlisted = unlisted(&held, &listed);
        assert_eq!(unlisted, [Unlisted { id: "b".into(), tombstone_at: 201, created_at: Some(10) }], "c is a tombstone already");
        // Created before search's index is sure to hold it: gone without asking.
        let config = crate::Config::new(
            crate::config::ApiConfig::new("http://127.0.0.1:9", crate::config::Token::new("t").unwrap(), false).unwrap(),
            crate::config::OutputConfig::new("unused"),
        );
        let (limiter, stats) = (crate::api::new_rate_limiter(600), Arc::new(ApiStats::default()));
        let gone = confirm_gone(&config, &limiter, &stats, unlisted, Some(11)).unwrap();
        assert_eq!((gone, stats.snapshot().requests), (vec![("b".to_string(), 201)], 0));
        let schema = crate::schema::PageDecoder::output_schema(crate::config::Source::Contacts, &[]);
        let batch = tombstones(&schema, &[("b".to_string(), 201)]).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column_by_name("type").unwrap().as_string::<i32>().value(0), TOMBSTONE_TYPE);
        assert!(batch.column_by_name("email").unwrap().is_null(0));
    }
}
