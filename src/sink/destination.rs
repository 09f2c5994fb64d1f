//! Where `--out` points, behind one trait: a local folder ([`LocalDestination`], the staging and
//! lock of [`super::publish`]) or object storage (`super::publish_object`). A run asks its
//! destination for a lock per table, a staging area its writers fill through the destination's
//! [`Store`], and, once everything is written and proven whole, publishes each table with its
//! manifest: in one directory move on a disk, by a conditional put of the manifest on object
//! storage. Each implementation cleans what a killed run left before it stages.

use std::any::Any;

use arrow::array::RecordBatch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::SinkError;
use super::checkpoint::{Checkpoint, Layout};
use super::manifest::Manifest;
use super::publish::{OutputLock, Staging, create_out};
use crate::config::OutputConfig;
use crate::error::DumpError;
use crate::store::{LocalStore, Store};

/// A lock a run holds until it drops it.
pub(crate) type Held = Box<dyn Any + Send>;

/// A staging area taken over, with the checkpoint its run goes on from.
pub(crate) type Adopted = (Box<dyn Staged>, Checkpoint);

/// Where a run's tables go.
pub(crate) trait Destination: Send + Sync + std::fmt::Debug {
    /// What the writers write through.
    fn store(&self) -> Arc<dyn Store>;

    /// Where `table` is published: `OUT/<table>`, or `s3://bucket/prefix/<table>`.
    fn table_location(&self, table: &str) -> PathBuf;

    /// One run at a time for `name` (a table, or the whole workspace): held until dropped; a
    /// second run is refused with [`SinkError::Locked`], naming the holder.
    fn lock(&self, name: &str, run_id: &str) -> Result<Held, SinkError>;

    /// A fresh staging area for `table`; the caller holds its lock. An earlier dump is refused
    /// without `overwrite`; what killed runs left is cleaned first.
    fn stage(&self, table: &str, run_id: &str, overwrite: bool) -> Result<Box<dyn Staged>, SinkError>;

    /// The staging area a run that did not finish left for `table` with a checkpoint, taken
    /// over, its parts past the checkpoint removed; `None` when there is none. A checkpoint of
    /// another layout is refused before anything moves.
    fn adopt(&self, table: &str, run_id: &str, overwrite: bool, layout: &Layout) -> Result<Option<Adopted>, SinkError>;

    /// Puts a small file at `--out`'s top whole (`_workspace.json`), or removes it (`None`).
    fn put_top(&self, name: &str, body: Option<&[u8]>) -> Result<(), SinkError>;

    /// Proves `--out` takes files: a probe written and removed.
    fn probe(&self) -> Result<(), SinkError>;

    /// A small file of `table`'s folder (its incremental state), whole; `None` when absent. A
    /// file past `max_bytes` is refused before it is read.
    fn read_table_file(&self, table: &str, name: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, SinkError>;

    /// Puts a small file into `table`'s folder whole, replacing what was there.
    fn put_table_file(&self, table: &str, name: &str, body: &[u8]) -> Result<(), SinkError>;

    /// The change sets in `table`'s folder (`run=<id>`), committed or not.
    fn change_sets(&self, table: &str) -> Result<Vec<String>, SinkError>;

    /// Removes change set `name` of `table`, whatever is in it.
    fn remove_change_set(&self, table: &str, name: &str) -> Result<(), SinkError>;

    /// The columns named `columns` (those it has) of a published part of `table`, at
    /// `relative` to the table's folder, in `format` (`parquet` or `arrow`).
    fn read_columns(&self, table: &str, relative: &str, format: &str, columns: &[&str]) -> Result<Vec<RecordBatch>, SinkError>;
}

/// A table's staging area.
pub(crate) trait Staged: Send {
    /// Where the table's parts go, in the destination's store.
    fn dir(&self) -> PathBuf;

    /// Where the run's checkpoint goes, in the destination's store.
    fn root(&self) -> PathBuf;

    /// A local file of the run's own (the spill file), gone with the staging.
    fn scratch_path(&self, name: &str) -> PathBuf;

    /// Where a part written at `staged` (under [`Staged::dir`]) is once published.
    fn published_path(&self, staged: &Path) -> PathBuf;

    /// Publishes the table with `manifest` (its files as [`Staged::published_path`] names
    /// them), replacing an earlier dump if allowed; where it now is.
    fn publish(self: Box<Self>, manifest: &Manifest) -> Result<PathBuf, SinkError>;
}

/// The destination `output` points at. Object storage's options are checked here: a bad one
/// stops the run before anything is asked of the API.
pub(crate) fn open(output: &OutputConfig) -> Result<Arc<dyn Destination>, DumpError> {
    match &output.storage {
        None => Ok(Arc::new(LocalDestination { out: output.dir.clone() })),
        Some(storage) => Ok(Arc::new(super::publish_object::ObjectDestination::open(storage)?)),
    }
}

/// A folder on a local filesystem.
#[derive(Debug)]
pub(crate) struct LocalDestination {
    pub out: PathBuf,
}

impl Destination for LocalDestination {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(LocalStore)
    }

    fn table_location(&self, table: &str) -> PathBuf {
        self.out.join(table)
    }

    fn lock(&self, name: &str, run_id: &str) -> Result<Held, SinkError> {
        Ok(Box::new(OutputLock::acquire(&self.out, name, run_id)?))
    }

    fn stage(&self, table: &str, run_id: &str, overwrite: bool) -> Result<Box<dyn Staged>, SinkError> {
        // Each table stages apart (and publishes apart): its staging is named after it (a change
        // set's, `contacts/run=ID`, in one folder name).
        let name = format!("{}-{run_id}", table.replace('/', "~"));
        let staging = Staging::prepare(&self.out, table, overwrite, &name)?;
        Ok(Box::new(LocalStaged { staging, table: table.to_string() }))
    }

    fn adopt(&self, table: &str, run_id: &str, overwrite: bool, layout: &Layout) -> Result<Option<Adopted>, SinkError> {
        let adopted = Staging::adopt(&self.out, table, overwrite, &format!("{table}-{run_id}"), layout)?;
        Ok(adopted.map(|(staging, checkpoint)| {
            (Box::new(LocalStaged { staging, table: table.to_string() }) as Box<dyn Staged>, checkpoint)
        }))
    }

    fn put_top(&self, name: &str, body: Option<&[u8]>) -> Result<(), SinkError> {
        let path = self.out.join(name);
        match body {
            Some(body) => LocalStore.put(&path, body),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SinkError::write(&path, e)),
                _ => Ok(()),
            },
        }
    }

    fn read_table_file(&self, table: &str, name: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, SinkError> {
        let path = self.out.join(table).join(name);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SinkError::write(&path, e)),
        };
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, max_bytes as u64 + 1), &mut body)
            .map_err(|e| SinkError::write(&path, e))?;
        if body.len() > max_bytes {
            return Err(SinkError::write(&path, format!("it is larger than {max_bytes} bytes")));
        }
        Ok(Some(body))
    }

    fn put_table_file(&self, table: &str, name: &str, body: &[u8]) -> Result<(), SinkError> {
        LocalStore.put(&self.out.join(table).join(name), body)
    }

    fn change_sets(&self, table: &str) -> Result<Vec<String>, SinkError> {
        let dir = self.out.join(table);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SinkError::write(&dir, e)),
        };
        let names = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned());
        Ok(names.filter(|name| name.starts_with(crate::incremental::CHANGE_SET_PREFIX)).collect())
    }

    fn remove_change_set(&self, table: &str, name: &str) -> Result<(), SinkError> {
        let path = self.out.join(table).join(name);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SinkError::write(&path, e)),
            _ => Ok(()),
        }
    }

    fn read_columns(&self, table: &str, relative: &str, format: &str, columns: &[&str]) -> Result<Vec<RecordBatch>, SinkError> {
        super::read_back::local_columns(&self.out.join(table).join(relative), format == "parquet", columns)
    }

    fn probe(&self) -> Result<(), SinkError> {
        create_out(&self.out)?;
        let probe = self.out.join(format!(".intercom-dump-check-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| SinkError::write(&probe, e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

/// A table staged in a hidden directory of `--out`.
struct LocalStaged {
    staging: Staging,
    table: String,
}

impl Staged for LocalStaged {
    fn dir(&self) -> PathBuf {
        self.staging.dir_for(&self.table)
    }

    fn root(&self) -> PathBuf {
        self.staging.root().to_path_buf()
    }

    fn scratch_path(&self, name: &str) -> PathBuf {
        self.staging.scratch_path(name)
    }

    fn published_path(&self, staged: &Path) -> PathBuf {
        let relative = staged.strip_prefix(self.dir()).expect("parts are staged");
        self.staging.out().join(&self.table).join(relative)
    }

    fn publish(self: Box<Self>, manifest: &Manifest) -> Result<PathBuf, SinkError> {
        let LocalStaged { staging, table } = *self;
        staging.publish(&table, |staged| super::manifest::write_markers(&LocalStore, staged, manifest))
    }
}
