//! The manifest a published dump carries, `OUT/<source>/_manifest.json`: what was listed, how,
//! when, and every file (its path relative to the manifest) with its rows, bytes and SHA-256,
//! plus the Arrow schema. Each source has its own, so several sources share one lake folder and
//! each is published on its own. Written once every part is finished, then `_SUCCESS`, each
//! under a temporary name first, into the staged directory whose move publishes them all.

use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Schema};
use serde::Serialize;

use super::{SinkError, WrittenFile};
use crate::store::Store;

pub const MANIFEST: &str = "_manifest.json";
pub const SUCCESS: &str = "_SUCCESS";

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The version of intercom-dump that wrote it.
    pub tool_version: &'static str,
    pub run_id: String,
    pub source: &'static str,
    /// The column that tells records apart: unique in the table, never null (a merge key).
    pub key: &'static str,
    pub mode: &'static str,
    pub api_version: String,
    /// Without credentials.
    pub base_url: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub records: u64,
    /// The lowest and highest record count the API announced while listing (none for a scroll).
    pub announced: Option<Announced>,
    /// A search dump: the count the plain list (`GET /contacts`) announced at its end. Search
    /// misses merged contacts and those created in the last minutes: a small difference is
    /// expected, and an error only with `--strict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<u64>,
    /// Whether `records` falls inside `announced`: false only with `--allow-incomplete`.
    pub complete: bool,
    /// Records the API served more than once, written once.
    pub duplicates_dropped: u64,
    /// A change set's (`--incremental`): it holds the records updated after this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<String>,
    /// A change set's with `--reconcile`: tombstone rows (in `deleted/`) for contacts gone from
    /// the API, beside `records`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tombstones: Option<u64>,
    /// Values kept in `_extra` because they did not fit their column, by field; text replaced.
    pub repairs: crate::schema::Repairs,
    pub files: Vec<ManifestFile>,
    pub schema: Vec<ManifestField>,
    /// The same schema for Arrow's libraries: [`arrow_schema_ipc`] (a partition column included,
    /// as in `schema`).
    pub arrow_schema: String,
}

/// The range of `total_count`s a listing announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Announced {
    pub min: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    /// Relative to the manifest's directory, `OUT/<source>/`.
    pub path: PathBuf,
    pub format: &'static str,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ManifestField {
    pub name: String,
    /// Arrow's notation, as the Arrow parts hold it.
    #[serde(rename = "type")]
    pub data_type: String,
    /// As the Parquet parts hold it, where it differs (timestamps in milliseconds: Parquet has no
    /// seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet_type: Option<String>,
    pub nullable: bool,
}

impl ManifestFile {
    /// `file`, written under `dir`, described relative to `dir`.
    pub fn new(dir: &Path, file: &WrittenFile) -> ManifestFile {
        let format = if file.path.extension().is_some_and(|e| e == "arrow") { "arrow" } else { "parquet" };
        ManifestFile {
            path: file.path.strip_prefix(dir).unwrap_or(&file.path).to_path_buf(),
            format,
            rows: file.rows,
            bytes: file.bytes,
            sha256: file.sha256.clone(),
        }
    }
}

/// The schema's top-level fields, types in Arrow's own notation (nested types spelled out), and
/// the Parquet parts' where they differ.
pub fn describe_schema(schema: &Schema) -> Vec<ManifestField> {
    let in_parquet = super::rolling::parquet_schema(&std::sync::Arc::new(schema.clone()));
    schema
        .fields()
        .iter()
        .zip(in_parquet.fields())
        .map(|(f, p)| ManifestField {
            name: f.name().clone(),
            data_type: type_name(f.data_type()),
            parquet_type: (p.data_type() != f.data_type()).then(|| type_name(p.data_type())),
            nullable: f.is_nullable(),
        })
        .collect()
}

/// `schema` (as the Arrow parts hold it: no extension types) as Arrow's IPC stream of that schema
/// alone, in base64: the form Arrow's libraries read a schema from
/// (`pyarrow.ipc.open_stream(base64.b64decode(s)).schema`), exact where the notation above is for
/// people.
pub fn arrow_schema_ipc(schema: &Schema) -> String {
    let schema = super::rolling::without_extensions(&std::sync::Arc::new(schema.clone()));
    let mut bytes = Vec::new();
    let written = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, &schema).and_then(|mut w| w.finish());
    written.expect("writing a schema to memory cannot fail");
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

fn type_name(data_type: &DataType) -> String {
    data_type.to_string()
}

/// A part a manifest lists, as a reader of the manifest needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct ListedFile {
    /// Relative to the manifest's folder.
    pub path: String,
    /// `parquet` or `arrow`.
    pub format: String,
}

/// The parts the manifest `body` lists; `None` when it is not a manifest of ours.
pub(crate) fn listed_files(body: &[u8]) -> Option<Vec<ListedFile>> {
    #[derive(serde::Deserialize)]
    struct Listing {
        files: Vec<ListedFile>,
    }
    serde_json::from_slice::<Listing>(body).ok().map(|listing| listing.files)
}

/// The markers a published dump carries, in the order they are written.
pub const MARKERS: [&str; 2] = [MANIFEST, SUCCESS];

/// Writes the manifest, then `_SUCCESS`, into `dir` through `store`, each whole.
pub(crate) fn write_markers(store: &dyn Store, dir: &Path, manifest: &Manifest) -> Result<(), SinkError> {
    let body = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let publish_error = |e: SinkError| match e {
        SinkError::Write { path, reason } | SinkError::CreateDir { path, reason } => SinkError::Publish { path, reason },
        e => e,
    };
    store.put(&dir.join(MANIFEST), &body).map_err(publish_error)?;
    store.put(&dir.join(SUCCESS), b"").map_err(publish_error)
}

/// `secs` since the Unix epoch as RFC 3339 UTC (`2026-11-24T18:47:05Z`).
pub fn rfc3339(secs: i64) -> String {
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => format!("{secs} (seconds since 1970, outside the calendar)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500_000_000), "2017-07-14T02:40:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_478_400 + 86_399), "2026-11-24T23:59:59Z");
    }
}
