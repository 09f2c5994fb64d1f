//! Incremental loads: a table's state, and the change sets published beside it.
//!
//! A table (`OUT/contacts/`) holds a full dump's parts and, once incremental runs have gone on
//! from it, one change set each under `OUT/contacts/run=<run id>/` with a manifest of its own,
//! so that one glob (`OUT/contacts/**/*.parquet`) reads the dump and every change set. Beside
//! the manifest, `_state.json` ([`TableState`]) is the table's commit log: its runs in order,
//! the mark an incremental run goes on from (the newest `updated_at` the table holds), the API
//! version and the schema. It is written last, once the run's files are published: a change
//! set on disk that the state does not list is a run that stopped before its commit, and the
//! next run removes it (its records are in the next change set again).
//!
//! An incremental run asks search for the records updated after the mark less the lookback
//! (search may match dates by the whole day in the workspace's time zone, and a changed contact
//! takes minutes to reach its index): records seen again are in the change set again, and the
//! lake's view keeps the latest version of each id (README: "Incremental loads").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Incremental;
use crate::schema::{AttributeType, DeclaredAttribute};
use crate::sink::SinkError;
use crate::sink::WrittenFile;
use crate::sink::destination::Destination;
use crate::sink::manifest::{self, ManifestField};

/// The state's name in a table's folder.
pub const STATE: &str = "_state.json";
/// What names a change set's folder: `run=<run id>`.
pub const CHANGE_SET_PREFIX: &str = "run=";
/// The state's format, for readers that check it.
const FORMAT: &str = "intercom-dump-state/1";
/// The largest state read back: a state lists its runs, a few hundred bytes each.
const MAX_STATE_BYTES: usize = 16 << 20;

/// A table's commit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub format: String,
    pub source: String,
    pub api_version: String,
    /// The newest `updated_at` the table holds (Unix seconds); `None` while it holds no record.
    pub mark: Option<i64>,
    /// Every published run the table is made of, oldest first: its full dump, then its change sets.
    pub runs: Vec<StateRun>,
    /// The columns of the newest run: a reader that unions the runs by name sees one table.
    pub schema: Vec<ManifestField>,
    /// The custom attributes with typed columns, each with the type its column has had since
    /// it first appeared: a later change of the declared type keeps the column's.
    #[serde(default)]
    pub custom_attributes: Vec<StateAttribute>,
    /// The column the table's folders are partitioned by (`role`), if any: its change sets are
    /// laid out the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<String>,
}

/// A custom attribute's typed column, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateAttribute {
    pub name: String,
    pub data_type: String,
}

/// The workspace's declared attributes for a change set: an attribute the table already has a
/// column for keeps that column's type, whatever it is declared as now (its values that do not
/// fit go to the `custom_attributes` JSON, as any misfit does); a new one gets its column.
/// Returns what changed type, to report.
pub(crate) fn keep_column_types(declared: &mut [DeclaredAttribute], state: &TableState) -> Vec<String> {
    let mut changed = Vec::new();
    for attribute in declared.iter_mut() {
        let Some(kept) = state.custom_attributes.iter().find(|a| a.name == attribute.name) else { continue };
        let Some(kind) = AttributeType::parse(&kept.data_type) else { continue };
        if kind != attribute.kind {
            changed.push(format!(
                "{} (declared {} now, {} in the table)",
                attribute.name,
                attribute.kind.as_str(),
                kind.as_str()
            ));
            attribute.kind = kind;
        }
    }
    changed
}

/// One published run of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRun {
    pub run_id: String,
    pub kind: RunKind,
    /// Its folder, relative to the table's: empty for a full dump, `run=<id>` for a change set.
    pub path: String,
    pub records: u64,
    /// A change set's with `--reconcile`: tombstones for contacts gone from the API.
    #[serde(default)]
    pub tombstones: u64,
    /// A change set's: the records updated after this Unix time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<i64>,
    /// The newest `updated_at` among its records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_updated_at: Option<i64>,
    pub finished_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Full,
    Changes,
}

/// The newest `updated_at` of a run's files.
pub(crate) fn max_updated_at(files: &[WrittenFile]) -> Option<i64> {
    files.iter().filter_map(|f| f.max_updated_at).max()
}

/// An incremental run's place: the state it goes on from and the change set it writes.
#[derive(Debug)]
pub(crate) struct ChangeSet {
    pub state: TableState,
    /// `run=<run id>`: its folder in the table's.
    pub folder: String,
    /// `contacts/run=<run id>`: the change set's table name for its staging and publication.
    pub table: String,
    pub since: Option<i64>,
}

impl ChangeSet {
    /// Reads `source`'s state (the caller holds the table's lock), removes the change sets no
    /// committed run lists, and works out what to ask for. No state: refused, naming the fix.
    pub(crate) fn begin(
        destination: &dyn Destination,
        source: &str,
        run_id: &str,
        incremental: Incremental,
        partition_by: Option<&str>,
    ) -> Result<ChangeSet, SinkError> {
        let state = read_state(destination, source)?
            .ok_or_else(|| SinkError::NoState { path: destination.table_location(source).join(STATE) })?;
        if state.partition_by.as_deref() != partition_by {
            let reason = match &state.partition_by {
                Some(column) => format!("the table is partitioned by {column}: give --partition-by {column}"),
                None => "the table is not partitioned: leave out --partition-by".to_string(),
            };
            return Err(SinkError::IncrementalLayout { path: destination.table_location(source), reason });
        }
        let committed: Vec<&str> = state.runs.iter().map(|r| r.path.as_str()).collect();
        for name in destination.change_sets(source)? {
            if !committed.contains(&name.as_str()) {
                tracing::warn!(change_set = %name, "removing a change set whose run stopped before its commit");
                destination.remove_change_set(source, &name)?;
            }
        }
        let since = state.mark.map(|mark| mark.saturating_sub(lookback_secs(incremental.lookback)));
        let folder = format!("{CHANGE_SET_PREFIX}{run_id}");
        Ok(ChangeSet { state, table: format!("{source}/{folder}"), folder, since })
    }
}

fn lookback_secs(lookback: Duration) -> i64 {
    i64::try_from(lookback.as_secs()).unwrap_or(i64::MAX)
}

/// `source`'s state, `None` when it has none.
pub(crate) fn read_state(destination: &dyn Destination, source: &str) -> Result<Option<TableState>, SinkError> {
    let path = destination.table_location(source).join(STATE);
    let Some(body) = destination.read_table_file(source, STATE, MAX_STATE_BYTES)? else { return Ok(None) };
    let state: TableState =
        serde_json::from_slice(&body).map_err(|e| SinkError::BadState { path: path.clone(), reason: e.to_string() })?;
    if state.format != FORMAT || state.source != source {
        let reason = format!("it is a state of {:?} in format {:?}, not of {source} in {FORMAT}", state.source, state.format);
        return Err(SinkError::BadState { path, reason });
    }
    Ok(Some(state))
}

/// What a published run adds to its table's state.
pub(crate) struct Published<'a> {
    pub source: &'a str,
    pub run_id: &'a str,
    pub api_version: String,
    pub records: u64,
    pub tombstones: u64,
    pub files: &'a [WrittenFile],
    pub schema: &'a arrow::datatypes::Schema,
    pub declared: &'a [DeclaredAttribute],
    /// The change set's, for an incremental run; `None`: a full dump, which starts the state over.
    pub change_set: Option<&'a ChangeSet>,
    pub partition_by: Option<&'a str>,
}

/// Commits a published run into its table's state: the last write of a run.
pub(crate) fn commit(destination: &dyn Destination, published: Published<'_>) -> Result<TableState, SinkError> {
    // An `updated_at` past the clock is no time a contact changed (a record that says year 3000
    // would stop every later run from seeing a change): the mark goes no further than now.
    let now = crate::run::unix_now();
    let max = max_updated_at(published.files);
    if max.is_some_and(|max| max > now) {
        tracing::warn!(newest = ?max, "records updated in the future: the table's mark stops at the clock");
    }
    let max = max.map(|max| max.min(now));
    let (mut state, kind, path, since) = match published.change_set {
        Some(change_set) => (change_set.state.clone(), RunKind::Changes, change_set.folder.clone(), change_set.since),
        None => {
            let state = TableState {
                format: FORMAT.into(),
                source: published.source.into(),
                api_version: String::new(),
                mark: None,
                runs: Vec::new(),
                schema: Vec::new(),
                custom_attributes: Vec::new(),
                partition_by: published.partition_by.map(str::to_string),
            };
            (state, RunKind::Full, String::new(), None)
        }
    };
    state.mark = state.mark.max(max);
    state.api_version = published.api_version;
    state.schema = manifest::describe_schema(published.schema);
    for attribute in published.declared {
        if !state.custom_attributes.iter().any(|a| a.name == attribute.name) {
            state
                .custom_attributes
                .push(StateAttribute { name: attribute.name.clone(), data_type: attribute.kind.as_str().into() });
        }
    }
    state.runs.push(StateRun {
        run_id: published.run_id.into(),
        kind,
        path,
        records: published.records,
        tombstones: published.tombstones,
        changed_since: since,
        max_updated_at: max,
        finished_at: manifest::rfc3339(now),
    });
    let body = serde_json::to_vec_pretty(&state).expect("a state serialises");
    destination.put_table_file(published.source, STATE, &body)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::destination::LocalDestination;

    fn file(max: Option<i64>) -> WrittenFile {
        WrittenFile { path: "p".into(), rows: 1, bytes: 1, sha256: String::new(), max_updated_at: max }
    }

    #[test]
    fn a_change_set_goes_on_from_the_mark_less_the_lookback_and_moves_the_mark_on() {
        let out = tempfile::tempdir().unwrap();
        let destination = LocalDestination { out: out.path().to_path_buf() };
        let schema = arrow::datatypes::Schema::empty();
        let begin = || {
            let incremental = Incremental { lookback: Duration::from_secs(100), reconcile: false };
            ChangeSet::begin(&destination, "contacts", "r1", incremental, None)
        };
        let refused = begin();
        assert!(matches!(refused, Err(SinkError::NoState { .. })), "{refused:?}");
        let full = Published {
            source: "contacts",
            run_id: "r0",
            api_version: "2.14".into(),
            records: 2,
            tombstones: 0,
            files: &[file(Some(1_000)), file(Some(900))],
            schema: &schema,
            declared: &[],
            change_set: None,
            partition_by: None,
        };
        commit(&destination, full).unwrap();
        // A change set a stopped run left, never committed: removed.
        std::fs::create_dir_all(out.path().join("contacts/run=stopped")).unwrap();
        let changes = begin().unwrap();
        assert!(!out.path().join("contacts/run=stopped").exists());
        assert_eq!((changes.since, changes.table.as_str()), (Some(900), "contacts/run=r1"));
        let published = Published { run_id: "r1", files: &[file(None)], change_set: Some(&changes), ..full_like(&schema) };
        let state = commit(&destination, published).unwrap();
        assert_eq!(state.mark, Some(1_000), "a change set with nothing newer keeps the mark");
        assert_eq!(state.runs.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["", "run=r1"]);
        assert_eq!(read_state(&destination, "contacts").unwrap(), Some(state));
        let future = Published { run_id: "r2", files: &[file(Some(i64::MAX))], change_set: Some(&changes), ..full_like(&schema) };
        let state = commit(&destination, future).unwrap();
        assert!(state.mark.unwrap() <= crate::run::unix_now(), "a record from the future does not move the mark past now");
        std::fs::write(out.path().join("contacts").join(STATE), b"{not json").unwrap();
        assert!(matches!(read_state(&destination, "contacts"), Err(SinkError::BadState { .. })));
    }

    fn full_like(schema: &arrow::datatypes::Schema) -> Published<'_> {
        Published {
            source: "contacts",
            run_id: "",
            api_version: "2.14".into(),
            records: 0,
            tombstones: 0,
            files: &[],
            schema,
            declared: &[],
            change_set: None,
            partition_by: None,
        }
    }
}
