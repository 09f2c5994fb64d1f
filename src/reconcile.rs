//! `--reconcile`: the contacts a table holds that the API no longer has (deleted, or merged
//! into another contact), found and written as tombstones into an incremental run's change set.
//!
//! What the API has is every id of the plain list (`GET /contacts`), which lists what exists
//! (new contacts not yet in search's index included; deleted and merged ones not), walked whole
//! and checked against the count it announces: a listing that is not whole deletes nothing.
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

use crate::config::{Config, Mode};
use crate::error::DumpError;
use crate::incremental::TableState;
use crate::sink::SinkError;
use crate::sink::manifest::MANIFEST;

/// The `type` of a tombstone row: the name of Intercom's own webhook topic for a deletion.
pub const TOMBSTONE_TYPE: &str = "contact.deleted";

/// The latest version of each id a table holds: its `updated_at`, and whether it is a tombstone.
pub(crate) type Held = HashMap<String, (i64, bool)>;

/// Every contact id the API lists, walked whole: `GET /contacts` under the run's API settings;
/// and the requests that took.
pub(crate) fn listed_ids(config: &Config) -> Result<(HashSet<String>, u64), DumpError> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let mut listing = config.clone();
    listing.output.incremental = None;
    listing.listing.mode = Some(Mode::Cursor);
    listing.listing.changed_since = None;
    let mut ids = HashSet::new();
    let mut unreadable = None;
    let walked = crate::walk::walk(&listing, |page| match serde_json::from_slice::<Vec<Id>>(page.records_json()) {
        Ok(records) => ids.extend(records.into_iter().map(|r| r.id)),
        Err(error) => unreadable = Some(error.to_string()),
    })?;
    if let Some(reason) = unreadable {
        return Err(DumpError::Reconcile(format!("a page of GET /contacts has records without a readable id ({reason})")));
    }
    match walked.announced {
        Some((low, high)) if (low..=high).contains(&(ids.len() as u64)) => Ok((ids, walked.requests)),
        announced => Err(DumpError::Reconcile(format!(
            "GET /contacts listed {} distinct ids where it announced {}",
            ids.len(),
            announced.map_or("no count".to_string(), |(low, high)| if low == high {
                low.to_string()
            } else {
                format!("{low} to {high}")
            })
        ))),
    }
}

/// The latest version of each id in the table at `table_dir`, from the runs `state` lists.
pub(crate) fn held_ids(table_dir: &Path, state: &TableState) -> Result<Held, SinkError> {
    let mut held = Held::new();
    for run in &state.runs {
        let dir = if run.path.is_empty() { table_dir.to_path_buf() } else { table_dir.join(&run.path) };
        let manifest_path = dir.join(MANIFEST);
        let bad = |reason: String| SinkError::BadState { path: manifest_path.clone(), reason };
        let body = std::fs::read(&manifest_path).map_err(|e| bad(format!("a run the state lists has no manifest: {e}")))?;
        let manifest: serde_json::Value = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        let files: Vec<(String, String)> = manifest["files"]
            .as_array()
            .ok_or_else(|| bad("it lists no files".into()))?
            .iter()
            .filter_map(|f| Some((f["path"].as_str()?.to_string(), f["format"].as_str()?.to_string())))
            .collect();
        // `--format both` holds every row twice: one format is enough.
        let parquet = files.iter().any(|(_, format)| format == "parquet");
        for (path, format) in files.iter().filter(|(_, format)| (format == "parquet") == parquet) {
            let path = dir.join(path);
            for batch in read_columns(&path, format == "parquet")? {
                note_batch(&mut held, &batch, &path)?;
            }
        }
    }
    Ok(held)
}

/// The `id`, `updated_at` and `type` columns of a part.
fn read_columns(path: &Path, parquet: bool) -> Result<Vec<RecordBatch>, SinkError> {
    let failed =
        |e: &dyn std::fmt::Display| SinkError::BadState { path: path.to_path_buf(), reason: format!("cannot read it back: {e}") };
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    let wanted = ["id", "updated_at", "type"];
    if parquet {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| failed(&e))?;
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| wanted.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder.with_projection(mask).build().map_err(|e| failed(&e))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))
    } else {
        let reader = arrow::ipc::reader::FileReader::try_new(file, None).map_err(|e| failed(&e))?;
        let schema = reader.schema();
        let projection: Vec<usize> =
            schema.fields().iter().enumerate().filter(|(_, f)| wanted.contains(&f.name().as_str())).map(|(i, _)| i).collect();
        let reader =
            arrow::ipc::reader::FileReader::try_new(std::fs::File::open(path).map_err(|e| failed(&e))?, Some(projection))
                .map_err(|e| failed(&e))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))
    }
}

/// Folds a batch of a later run (or a later part) into what the table holds.
fn note_batch(held: &mut Held, batch: &RecordBatch, path: &Path) -> Result<(), SinkError> {
    let missing = |column: &str| SinkError::BadState { path: path.to_path_buf(), reason: format!("it has no {column} column") };
    let ids = batch.column_by_name("id").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| missing("id"))?;
    let updated = batch.column_by_name("updated_at").ok_or_else(|| missing("updated_at"))?;
    // Parquet holds timestamps in milliseconds: read back as the file has them, seconds here.
    let updated = arrow::compute::cast(updated, &DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None))
        .map_err(|e| SinkError::BadState { path: path.to_path_buf(), reason: e.to_string() })?;
    let updated = updated.as_primitive::<TimestampSecondType>();
    let kinds = batch.column_by_name("type").and_then(|c| c.as_string_opt::<i32>());
    for row in 0..batch.num_rows() {
        if ids.is_null(row) {
            continue;
        }
        let at = if updated.is_null(row) { i64::MIN } else { updated.value(row) };
        let tombstone = kinds.is_some_and(|k| k.is_valid(row) && k.value(row) == TOMBSTONE_TYPE);
        // Later runs come later: a tie goes to the later one, as the view breaks it.
        match held.get_mut(ids.value(row)) {
            Some(latest) if latest.0 > at => {}
            Some(latest) => *latest = (at, tombstone),
            None => {
                held.insert(ids.value(row).to_string(), (at, tombstone));
            }
        }
    }
    Ok(())
}

/// The ids `held` (and not already tombstoned) that the API no longer lists, with the
/// `updated_at` each tombstone takes, in id order.
pub(crate) fn gone(held: &Held, listed: &HashSet<String>) -> Vec<(String, i64)> {
    let mut gone: Vec<(String, i64)> = held
        .iter()
        .filter(|(id, (_, tombstone))| !tombstone && !listed.contains(id.as_str()))
        .map(|(id, (at, _))| (id.clone(), at.saturating_add(1)))
        .collect();
    gone.sort();
    gone
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
        let mut held = Held::new();
        held.insert("a".into(), (100, false));
        held.insert("b".into(), (200, false));
        held.insert("c".into(), (300, true));
        let listed: HashSet<String> = ["a".to_string()].into();
        assert_eq!(gone(&held, &listed), [("b".to_string(), 201)], "c is a tombstone already");
        let schema = crate::schema::PageDecoder::output_schema(crate::config::Source::Contacts, &[]);
        let batch = tombstones(&schema, &gone(&held, &listed)).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column_by_name("type").unwrap().as_string::<i32>().value(0), TOMBSTONE_TYPE);
        assert!(batch.column_by_name("email").unwrap().is_null(0));
    }
}
