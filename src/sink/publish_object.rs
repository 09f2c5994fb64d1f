//! Staging and publication on object storage (S3, GCS, Azure), where nothing renames a folder.
//! Under `--out`'s prefix `P`:
//!
//! - `P/.intercom-dump-staging/<table>/<run>/<table>/...`: a run's parts, uploaded as they are
//!   written (multipart uploads, through [`ObjectStorage`]); its checkpoint beside them.
//! - `P/<table>/`: the published table: `_manifest.json`, the parts it lists (named after the run
//!   that wrote them, `part-00000-<run>.parquet`, so that no two dumps share a name), `_SUCCESS`.
//! - `P/.intercom-dump-<table>.lock`: the lock, a lease its run renews every
//!   [`LEASE_RENEW`]; a lease not renewed for [`LEASE_STALE`] (or whose process on this host is
//!   gone) belongs to a run that stopped, and the next run takes it over.
//!
//! Publishing a table: `_SUCCESS` goes first (a reader that waits for it waits), the staged parts
//! are copied into `P/<table>/` inside the store, the manifest is put **conditionally**, on
//! nothing being there (`If-None-Match: *`) or on the earlier manifest the run saw when it
//! started (`If-Match`): that put is the commit, and of two runs racing for one table exactly
//! one makes it. Then the earlier dump's parts go, `_SUCCESS` comes back, and the staging goes.
//! A manifest reader sees the earlier dump whole or the new one whole; a run that fails before
//! its commit removes what it copied and puts the earlier `_SUCCESS` back.
//!
//! A run killed on the way leaves its staging, perhaps copies beside the published dump, perhaps
//! no `_SUCCESS`. The next run of the table, once it holds the lock, settles that first: every
//! staging of the table goes (nobody else's can be live: the lock says so), every object in
//! `P/<table>/` that the manifest does not list goes, and `_SUCCESS` is put back beside a
//! manifest whose parts are all there. A killed run's unfinished multipart uploads are invisible
//! to readers and listings; on S3 they are aborted too (`crate::store::s3_uploads`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};

use super::SinkError;
use super::checkpoint::{CHECKPOINT, Checkpoint, Layout};
use super::destination::{Adopted, Destination, Held, Staged};
use super::manifest::{MANIFEST, Manifest, SUCCESS};
use crate::config::ObjectOut;
use crate::error::ConfigError;
use crate::store::Store;
use crate::store::object::ObjectStorage;

/// How often a run renews its lease.
pub(crate) const LEASE_RENEW: Duration = Duration::from_secs(15);
/// A lease not renewed for this long is a stopped run's (clocks a minute apart still agree).
pub(crate) const LEASE_STALE: Duration = Duration::from_secs(120);

const STAGING: &str = ".intercom-dump-staging";

/// Object storage under a prefix.
#[derive(Debug)]
pub(crate) struct ObjectDestination {
    storage: Arc<ObjectStorage>,
    /// Key prefix, without slashes at either end; empty for the bucket's top.
    prefix: String,
}

impl ObjectDestination {
    /// The store `out` names, its client configured from the environment and its options.
    pub(crate) fn open(out: &ObjectOut) -> Result<ObjectDestination, ConfigError> {
        let (storage, prefix) = crate::store::object::open(&out.url, &out.options)?;
        Ok(ObjectDestination { storage: Arc::new(storage), prefix })
    }

    /// `storage` under `prefix` (tests give an in-memory store).
    #[cfg(test)]
    pub(crate) fn new(storage: ObjectStorage, prefix: &str) -> ObjectDestination {
        ObjectDestination { storage: Arc::new(storage), prefix: prefix.trim_matches('/').to_string() }
    }

    /// The key of `relative` under the prefix, as a store path.
    fn key(&self, relative: &str) -> PathBuf {
        if self.prefix.is_empty() { PathBuf::from(relative) } else { PathBuf::from(format!("{}/{relative}", self.prefix)) }
    }

    fn stagings_of(&self, table: &str) -> PathBuf {
        self.key(&format!("{STAGING}/{table}"))
    }

    /// Cleans what killed runs of `table` left (the caller holds its lock): their stagings, but
    /// `keep`'s; copies beside the published dump; a missing `_SUCCESS` beside a whole one.
    /// What stands at `table` then: its manifest's version, and whether anything is there.
    fn settle(&self, table: &str, keep: Option<&Path>) -> Result<Standing, SinkError> {
        let keep = keep.map(|k| ObjectPath::from(k.to_string_lossy().as_ref()));
        let abandoned: Vec<ObjectPath> = self
            .storage
            .list(&self.stagings_of(table))?
            .into_iter()
            .map(|m| m.location)
            .filter(|location| keep.as_ref().is_none_or(|keep| !location.prefix_matches(keep)))
            .collect();
        if !abandoned.is_empty() {
            tracing::info!(table, objects = abandoned.len(), "removing the staging of a run that did not finish");
            self.storage.delete_all(abandoned)?;
        }
        self.storage.abort_uploads(&self.stagings_of(table));
        let dir = self.key(table);
        let present = self.storage.list(&dir)?;
        let (listed, manifest) = match self.storage.get(&dir.join(MANIFEST))? {
            Some((body, meta)) => {
                let version = UpdateVersion { e_tag: meta.e_tag, version: meta.version };
                match super::manifest::listed_files(&body) {
                    Some(listed) => (listed.into_iter().map(|file| file.path).collect::<HashSet<String>>(), Some(version)),
                    // Not a manifest of ours: not ours to clean.
                    None => return Ok(Standing { manifest: Some(version), occupied: true }),
                }
            }
            None => (HashSet::new(), None),
        };
        let relative = |location: &ObjectPath| location.as_ref().strip_prefix(&format!("{}/", dir_key(&dir))).map(str::to_owned);
        let strays: Vec<ObjectPath> = present
            .iter()
            .filter(|m| {
                // Change sets (`run=<id>/`) are the incremental state's to keep or remove.
                relative(&m.location).is_some_and(|r| {
                    !listed.contains(&r)
                        && r != MANIFEST
                        && r != SUCCESS
                        && is_our_part(&r)
                        && !r.starts_with(crate::incremental::CHANGE_SET_PREFIX)
                })
            })
            .map(|m| m.location.clone())
            .collect();
        let occupied = present.len() > strays.len();
        if !strays.is_empty() {
            tracing::warn!(table, objects = strays.len(), "removing parts a stopped run copied beside the published dump");
            self.storage.delete_all(strays)?;
        }
        let names: HashSet<String> = present.iter().filter_map(|m| relative(&m.location)).collect();
        if !listed.is_empty() && !names.contains(SUCCESS) && listed.iter().all(|f| names.contains(f)) {
            tracing::warn!(table, "a run was stopped while publishing: the published dump is whole, its _SUCCESS is put back");
            self.storage.put(&dir.join(SUCCESS), b"")?;
        }
        Ok(Standing { manifest, occupied })
    }

    /// What stands at `table` now, as [`ObjectDestination::settle`] finds it, without cleaning.
    fn standing(&self, table: &str) -> Result<Standing, SinkError> {
        let dir = self.key(table);
        let manifest = self.storage.head(&dir.join(MANIFEST))?;
        let occupied = manifest.is_some() || !self.storage.list(&dir)?.is_empty();
        Ok(Standing { manifest: manifest.map(|m| UpdateVersion { e_tag: m.e_tag, version: m.version }), occupied })
    }

    /// The earlier dump's manifest version (`None`: no manifest); refused without `overwrite`
    /// when anything is there.
    fn earlier(&self, table: &str, standing: Standing, overwrite: bool) -> Result<Option<UpdateVersion>, SinkError> {
        if !overwrite && standing.occupied {
            return Err(SinkError::Exists { path: self.table_location(table) });
        }
        Ok(standing.manifest)
    }

    fn staged(
        &self,
        table: &str,
        root: PathBuf,
        token: String,
        earlier: Option<UpdateVersion>,
    ) -> Result<ObjectStaged, SinkError> {
        let scratch = std::env::temp_dir().join(format!("intercom-dump-{token}-{table}"));
        std::fs::create_dir_all(&scratch).map_err(|e| SinkError::CreateDir { path: scratch.clone(), reason: e.to_string() })?;
        Ok(ObjectStaged {
            storage: self.storage.clone(),
            table: table.to_string(),
            dir: root.join(table),
            root,
            token,
            published: self.key(table),
            location: self.table_location(table),
            earlier,
            scratch,
            done: false,
        })
    }
}

/// What a table's folder holds when a run stages it.
struct Standing {
    /// The published manifest's version: the one a replacing run's commit must find.
    manifest: Option<UpdateVersion>,
    /// Anything at all is there (a dump, or what is not ours).
    occupied: bool,
}

/// The key of a store path, as a string.
fn dir_key(dir: &Path) -> String {
    ObjectPath::from(dir.to_string_lossy().as_ref()).to_string()
}

/// Whether `relative` is named as this tool names a published part (`part-NNNNN-<run>.ext`,
/// perhaps under a partition's folder): what a stopped publish may have left.
fn is_our_part(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    name.starts_with("part-") && (name.ends_with(".parquet") || name.ends_with(".arrow"))
}

/// `part-00000.parquet` as published by run `token`: `part-00000-<token>.parquet`.
fn published_name(relative: &Path, token: &str) -> PathBuf {
    let name = relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let renamed = match name.split_once('.') {
        Some((stem, extension)) => format!("{stem}-{token}.{extension}"),
        None => format!("{name}-{token}"),
    };
    relative.with_file_name(renamed)
}

impl Destination for ObjectDestination {
    fn store(&self) -> Arc<dyn Store> {
        self.storage.clone()
    }

    fn table_location(&self, table: &str) -> PathBuf {
        self.storage.display(&self.key(table))
    }

    fn lock(&self, name: &str, run_id: &str) -> Result<Held, SinkError> {
        let key = self.key(&format!(".intercom-dump-{name}.lock"));
        let shown = self.storage.display(Path::new(&self.prefix));
        Ok(Box::new(Lease::acquire(self.storage.clone(), key, shown, name, run_id, LEASE_RENEW)?))
    }

    fn stage(&self, table: &str, run_id: &str, overwrite: bool) -> Result<Box<dyn Staged>, SinkError> {
        let standing = self.settle(table, None)?;
        let earlier = self.earlier(table, standing, overwrite)?;
        let root = self.stagings_of(table).join(run_id);
        Ok(Box::new(self.staged(table, root, run_id.to_string(), earlier)?))
    }

    fn adopt(&self, table: &str, _run_id: &str, overwrite: bool, layout: &Layout) -> Result<Option<Adopted>, SinkError> {
        // Refused before anything is cleaned or taken over.
        let earlier = self.earlier(table, self.standing(table)?, overwrite)?;
        let stagings = self.stagings_of(table);
        let checkpoints: Vec<ObjectPath> =
            self.storage.list(&stagings)?.into_iter().map(|m| m.location).filter(|l| l.filename() == Some(CHECKPOINT)).collect();
        let mut best: Option<(PathBuf, Checkpoint)> = None;
        for location in checkpoints {
            let path = PathBuf::from(location.as_ref());
            let Some((body, _)) = self.storage.get(&path)? else { continue };
            let Ok(checkpoint) = serde_json::from_slice::<Checkpoint>(&body) else { continue };
            let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if checkpoint.source == table && best.as_ref().is_none_or(|(_, b)| checkpoint.records > b.records) {
                best = Some((root, checkpoint));
            }
        }
        let Some((root, checkpoint)) = best else {
            return Ok(None);
        };
        let differences = match &checkpoint.layout {
            Some(before) => layout.differences(before),
            None => vec!["its checkpoint was written by an older intercom-dump that did not record its options".into()],
        };
        if !differences.is_empty() {
            return Err(SinkError::ResumeMismatch { path: self.storage.display(&stagings), differences });
        }
        self.settle(table, Some(&root))?;
        // The staging's name is its run's: the parts it publishes keep it.
        let token = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staged = self.staged(table, root, token, earlier)?;
        let checkpoint = checkpoint.rooted(&staged.dir);
        let kept: HashSet<String> = checkpoint.files.iter().map(|f| dir_key(&f.path)).collect();
        let strays: Vec<ObjectPath> =
            self.storage.list(&staged.dir)?.into_iter().map(|m| m.location).filter(|l| !kept.contains(l.as_ref())).collect();
        self.storage.delete_all(strays)?;
        Ok(Some((Box::new(staged), checkpoint)))
    }

    fn put_top(&self, name: &str, body: Option<&[u8]>) -> Result<(), SinkError> {
        let key = self.key(name);
        match body {
            Some(body) => self.storage.put(&key, body),
            None => self.storage.delete_all(vec![ObjectPath::from(dir_key(&key))]),
        }
    }

    fn read_table_file(&self, table: &str, name: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, SinkError> {
        let key = self.key(table).join(name);
        let Some((body, _)) = self.storage.get(&key)? else { return Ok(None) };
        if body.len() > max_bytes {
            return Err(SinkError::write(&self.table_location(table).join(name), format!("it is larger than {max_bytes} bytes")));
        }
        Ok(Some(body.to_vec()))
    }

    fn put_table_file(&self, table: &str, name: &str, body: &[u8]) -> Result<(), SinkError> {
        self.storage.put(&self.key(table).join(name), body)
    }

    fn change_sets(&self, table: &str) -> Result<Vec<String>, SinkError> {
        let dir = dir_key(&self.key(table));
        let mut names: Vec<String> = self
            .storage
            .list(&self.key(table))?
            .into_iter()
            .filter_map(|m| {
                let relative = m.location.as_ref().strip_prefix(&format!("{dir}/"))?.to_owned();
                let (first, _) = relative.split_once('/')?;
                first.starts_with(crate::incremental::CHANGE_SET_PREFIX).then(|| first.to_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn remove_change_set(&self, table: &str, name: &str) -> Result<(), SinkError> {
        let objects = self.storage.list(&self.key(table).join(name))?;
        self.storage.delete_all(objects.into_iter().map(|m| m.location).collect())
    }

    fn read_columns(
        &self,
        table: &str,
        relative: &str,
        format: &str,
        columns: &[&str],
    ) -> Result<Vec<arrow::array::RecordBatch>, SinkError> {
        let path = self.key(table).join(relative);
        if format != "parquet" {
            let reason = "only Parquet parts are read back from object storage (by ranges): dump with --format parquet or both";
            return Err(SinkError::write(&self.table_location(table).join(relative), reason));
        }
        self.storage.read_parquet_columns(&path, columns)
    }

    fn probe(&self) -> Result<(), SinkError> {
        let key = self.key(&format!(".intercom-dump-check-{}", std::process::id()));
        self.storage.put(&key, b"")?;
        self.storage.delete_all(vec![ObjectPath::from(dir_key(&key))])
    }
}

/// A table staged under `P/.intercom-dump-staging/<table>/<run>/`.
struct ObjectStaged {
    storage: Arc<ObjectStorage>,
    table: String,
    root: PathBuf,
    dir: PathBuf,
    /// What the published parts' names carry: the run that staged them.
    token: String,
    /// `P/<table>`, a store path.
    published: PathBuf,
    /// `s3://bucket/P/<table>`.
    location: PathBuf,
    /// The version of the manifest this run replaces, seen when it staged.
    earlier: Option<UpdateVersion>,
    /// A local folder for the spill file.
    scratch: PathBuf,
    done: bool,
}

impl ObjectStaged {
    fn commit(&self, manifest: &Manifest) -> Result<(), SinkError> {
        let dir = &self.published;
        let copies: Vec<(ObjectPath, ObjectPath)> = manifest
            .files
            .iter()
            .map(|file| {
                let staged = strip_token(&file.path, &self.token);
                (ObjectPath::from(dir_key(&self.dir.join(staged))), ObjectPath::from(dir_key(&dir.join(&file.path))))
            })
            .collect();
        let copied: Vec<ObjectPath> = copies.iter().map(|(_, to)| to.clone()).collect();
        let had_success = self.storage.head(&dir.join(SUCCESS))?.is_some();
        // A reader that waits for `_SUCCESS` must not take the copies for part of the dump.
        self.storage.delete_all(vec![ObjectPath::from(dir_key(&dir.join(SUCCESS)))])?;
        let body = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
        let mode = match &self.earlier {
            None => PutMode::Create,
            Some(version) => PutMode::Update(version.clone()),
        };
        let committed = self.storage.copy_all(copies).and_then(|()| self.storage.put_with(&dir.join(MANIFEST), &body, mode));
        if let Err(error) = committed {
            let _ = self.storage.delete_all(copied);
            if had_success {
                let _ = self.storage.put(&dir.join(SUCCESS), b"");
            }
            return Err(match error {
                SinkError::Exists { .. } | SinkError::Raced { .. } => SinkError::Raced { path: self.location.clone() },
                SinkError::Write { path, reason } => SinkError::Publish { path, reason },
                error => error,
            });
        }
        // Committed: the earlier dump's parts (and anything else not listed) go, then `_SUCCESS`.
        let listed: HashSet<String> = copied.iter().map(|c| c.to_string()).collect();
        let markers = [dir_key(&dir.join(MANIFEST)), dir_key(&dir.join(SUCCESS))];
        let earlier: Vec<ObjectPath> = self
            .storage
            .list(dir)?
            .into_iter()
            .map(|m| m.location)
            .filter(|l| !listed.contains(l.as_ref()) && !markers.iter().any(|m| m == l.as_ref()))
            .collect();
        self.storage.delete_all(earlier)?;
        self.storage.put(&dir.join(SUCCESS), b"")
    }

    /// Removes the staging, whatever is in it.
    fn remove_staging(&self) {
        let objects = self.storage.list(&self.root).map(|all| all.into_iter().map(|m| m.location).collect());
        if let Err(error) = objects.and_then(|objects| self.storage.delete_all(objects)) {
            tracing::warn!(table = %self.table, "cannot remove the run's staging ({error}); the next run of the table will");
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The staged name of the published `relative`: without the run's token.
fn strip_token(relative: &Path, token: &str) -> PathBuf {
    let name = relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    relative.with_file_name(name.replacen(&format!("-{token}"), "", 1))
}

impl Staged for ObjectStaged {
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    fn scratch_path(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    fn published_path(&self, staged: &Path) -> PathBuf {
        let relative = staged.strip_prefix(&self.dir).expect("parts are staged");
        self.location.join(published_name(relative, &self.token))
    }

    fn publish(mut self: Box<Self>, manifest: &Manifest) -> Result<PathBuf, SinkError> {
        self.commit(manifest)?;
        self.done = true;
        self.remove_staging();
        Ok(self.location.clone())
    }
}

impl Drop for ObjectStaged {
    /// Not published: the staging goes (its unfinished uploads were aborted by their parts).
    fn drop(&mut self) {
        if !self.done {
            self.remove_staging();
        }
    }
}

/// Who holds a lease, in its object.
#[derive(serde::Serialize, serde::Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    run_id: String,
    name: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!("pid {} on {} (run {}, dumping {})", self.pid, self.host, self.run_id, self.name)
    }

    /// Whether its run stopped: its process on this host is gone.
    fn gone(&self) -> bool {
        self.host == host_name() && self.pid != std::process::id() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
}

/// A run's hold on `P/.intercom-dump-<name>.lock`, renewed in the background until dropped
/// (then deleted, unless another run took it over meanwhile).
struct Lease {
    storage: Arc<ObjectStorage>,
    key: PathBuf,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Lease {
    /// Takes the lease at `key`, renewed every `renew_every` ([`LEASE_RENEW`]).
    fn acquire(
        storage: Arc<ObjectStorage>,
        key: PathBuf,
        shown: PathBuf,
        name: &str,
        run_id: &str,
        renew_every: Duration,
    ) -> Result<Lease, SinkError> {
        let holder = Holder { pid: std::process::id(), host: host_name(), run_id: run_id.to_string(), name: name.to_string() };
        let body = serde_json::to_vec(&holder).expect("a holder serialises");
        let locked = |holder: String| SinkError::Locked { path: shown.clone(), holder };
        let mut version = None;
        // Each retry means the holder let go in between: a few are plenty.
        for _ in 0..8 {
            match storage.put_with(&key, &body, PutMode::Create) {
                Ok(written) => {
                    version = Some(written);
                    break;
                }
                Err(SinkError::Exists { .. }) => {}
                Err(error) => return Err(error),
            }
            let Some((current, meta)) = storage.get(&key)? else { continue };
            let other: Option<Holder> = serde_json::from_slice(&current).ok();
            let age = chrono::Utc::now().signed_duration_since(meta.last_modified).to_std().unwrap_or_default();
            let stopped = other.as_ref().is_some_and(Holder::gone) || age > LEASE_STALE;
            if !stopped {
                return Err(locked(other.map_or_else(|| "its holder is not known".into(), |h| h.describe())));
            }
            tracing::warn!(lock = %storage.display(&key).display(), "taking over the lock of a run that stopped");
            let mode = PutMode::Update(UpdateVersion { e_tag: meta.e_tag.clone(), version: meta.version.clone() });
            match storage.put_with(&key, &body, mode) {
                Ok(written) => {
                    version = Some(written);
                    break;
                }
                Err(SinkError::Raced { .. }) => return Err(locked("another run took it over first".into())),
                Err(error) => return Err(error),
            }
        }
        let Some(version) = version else { return Err(locked("runs that keep taking and leaving it".into())) };
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = storage.spawn(renew(storage.inner(), key.clone(), body, version, renew_every, lost.clone()));
        Ok(Lease { storage, key, renewer, lost })
    }
}

/// Renews the lease every `renew_every`, on the version it last wrote: a run that took it over
/// (this one having been taken for stopped) makes the renewal fail, and this run stops renewing.
async fn renew(
    store: Arc<dyn object_store::ObjectStore>,
    key: PathBuf,
    body: Vec<u8>,
    mut version: UpdateVersion,
    renew_every: Duration,
    lost: Arc<AtomicBool>,
) {
    let location = ObjectPath::from(dir_key(&key));
    loop {
        tokio::time::sleep(renew_every).await;
        let options = PutOptions { mode: PutMode::Update(version.clone()), ..Default::default() };
        match store.put_opts(&location, PutPayload::from(body.clone()), options).await {
            Ok(put) => version = UpdateVersion { e_tag: put.e_tag, version: put.version },
            Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                tracing::error!("another run took this run's lock over: it will not be able to publish");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // Renewed at the next turn: a lease is stale only after several.
            Err(error) => tracing::warn!("cannot renew the run's lock: {error}"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        if !self.lost.load(Ordering::Relaxed) {
            let _ = self.storage.delete_all(vec![ObjectPath::from(dir_key(&self.key))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::WrittenFile;
    use crate::sink::manifest::ManifestFile;
    use object_store::ObjectStore;
    use object_store::memory::InMemory;

    fn destination() -> (ObjectDestination, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        (ObjectDestination::new(ObjectStorage::new(memory.clone(), "memory").unwrap(), "lake"), memory)
    }

    fn keys(memory: &Arc<InMemory>) -> Vec<String> {
        use futures_util::StreamExt;
        let memory = memory.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut keys: Vec<String> =
            runtime.block_on(async move { memory.list(None).map(|m| m.unwrap().location.to_string()).collect().await });
        keys.sort();
        keys
    }

    /// The table holds `run`'s one part and its markers, nothing else.
    fn assert_published_alone(memory: &Arc<InMemory>, run: &str) {
        let part = format!("lake/contacts/part-00000-{run}.parquet");
        assert_eq!(keys(memory), ["lake/contacts/_SUCCESS", "lake/contacts/_manifest.json", part.as_str()]);
    }

    /// Stages `parts` (names under the table's folder) for `run`, written whole.
    fn stage(destination: &ObjectDestination, run: &str, overwrite: bool, parts: &[&str]) -> (Box<dyn Staged>, Manifest) {
        write(destination, destination.stage("contacts", run, overwrite).unwrap(), run, parts)
    }

    /// [`stage`], without settling first: a run that does not hold the lock (its lease went
    /// stale under it and another run took it over).
    fn stage_unlocked(
        destination: &ObjectDestination,
        run: &str,
        overwrite: bool,
        parts: &[&str],
    ) -> (Box<dyn Staged>, Manifest) {
        let earlier = destination.earlier("contacts", destination.standing("contacts").unwrap(), overwrite).unwrap();
        let root = destination.stagings_of("contacts").join(run);
        write(destination, Box::new(destination.staged("contacts", root, run.into(), earlier).unwrap()), run, parts)
    }

    fn write(destination: &ObjectDestination, staged: Box<dyn Staged>, run: &str, parts: &[&str]) -> (Box<dyn Staged>, Manifest) {
        let mut files = Vec::new();
        for name in parts {
            let path = staged.dir().join(name);
            let mut part = destination.store().create(&path).unwrap();
            std::io::Write::write_all(&mut part, run.as_bytes()).unwrap();
            let committed = part.commit().unwrap();
            let file = WrittenFile {
                path: staged.published_path(&path),
                rows: 1,
                bytes: committed.bytes,
                sha256: committed.sha256,
                max_updated_at: None,
            };
            files.push(ManifestFile::new(&destination.table_location("contacts"), &file));
        }
        let manifest = Manifest {
            tool_version: "test",
            run_id: run.into(),
            source: "contacts",
            key: "id",
            mode: "cursor",
            api_version: "2.16".into(),
            base_url: "http://127.0.0.1/".into(),
            started_at: String::new(),
            finished_at: String::new(),
            records: parts.len() as u64,
            announced: None,
            listed: None,
            complete: true,
            duplicates_dropped: 0,
            changed_since: None,
            tombstones: None,
            repairs: Default::default(),
            files,
            schema: Vec::new(),
            arrow_schema: String::new(),
        };
        (staged, manifest)
    }

    #[test]
    fn published_names_carry_the_run_and_come_back_to_the_staged_ones() {
        let published = published_name(Path::new("role=user/part-00003.parquet"), "1733-42");
        assert_eq!(published, Path::new("role=user/part-00003-1733-42.parquet"));
        assert_eq!(strip_token(&published, "1733-42"), Path::new("role=user/part-00003.parquet"));
        assert!(is_our_part("role=lead/part-00001-99.arrow") && !is_our_part("notes.txt"));
    }

    #[test]
    fn a_publish_replaces_the_earlier_dump_whole_and_leaves_nothing_of_the_run() {
        let (destination, memory) = destination();
        let (staged, manifest) = stage(&destination, "r1", false, &["part-00000.parquet", "part-00001.parquet"]);
        assert_eq!(staged.publish(&manifest).unwrap(), Path::new("memory/lake/contacts"));
        assert_eq!(
            keys(&memory),
            [
                "lake/contacts/_SUCCESS",
                "lake/contacts/_manifest.json",
                "lake/contacts/part-00000-r1.parquet",
                "lake/contacts/part-00001-r1.parquet"
            ]
        );
        assert!(matches!(destination.stage("contacts", "r2", false), Err(SinkError::Exists { .. })), "not without --overwrite");
        let (staged, manifest) = stage(&destination, "r3", true, &["part-00000.parquet"]);
        assert!(keys(&memory).iter().any(|k| k.contains("part-00001-r1")), "the earlier dump stands until the new one is whole");
        staged.publish(&manifest).unwrap();
        assert_published_alone(&memory, "r3");
    }

    #[test]
    fn of_two_runs_racing_for_a_table_exactly_one_publishes() {
        let (destination, memory) = destination();
        // Both staged before either published (as if a stalled run's lock had been taken over).
        let (first, first_manifest) = stage(&destination, "a", false, &["part-00000.parquet"]);
        let (second, second_manifest) = stage_unlocked(&destination, "b", false, &["part-00000.parquet"]);
        first.publish(&first_manifest).unwrap();
        assert!(matches!(second.publish(&second_manifest), Err(SinkError::Raced { .. })));
        assert_published_alone(&memory, "a");
        // The same over an earlier dump: both replace the version they saw; one does.
        let (first, first_manifest) = stage(&destination, "c", true, &["part-00000.parquet"]);
        let (second, second_manifest) = stage_unlocked(&destination, "d", true, &["part-00000.parquet"]);
        second.publish(&second_manifest).unwrap();
        assert!(matches!(first.publish(&first_manifest), Err(SinkError::Raced { .. })));
        assert_published_alone(&memory, "d");
    }

    #[test]
    fn a_publish_stopped_half_way_is_settled_by_the_next_run() {
        let (destination, memory) = destination();
        let (staged, manifest) = stage(&destination, "r1", false, &["part-00000.parquet"]);
        staged.publish(&manifest).unwrap();
        let store = destination.store();
        // Stopped after copying its parts, before its manifest: `_SUCCESS` gone, copies beside
        // the dump, its staging left.
        store.put(Path::new("lake/.intercom-dump-staging/contacts/r2/contacts/part-00000.parquet"), b"r2").unwrap();
        store.put(Path::new("lake/contacts/part-00000-r2.parquet"), b"r2").unwrap();
        destination.storage.delete_all(vec![ObjectPath::from("lake/contacts/_SUCCESS")]).unwrap();
        drop(destination.stage("contacts", "r3", true).unwrap());
        assert_published_alone(&memory, "r1");

        // Stopped after its manifest, before the earlier parts went and `_SUCCESS` came back.
        let mut manifest = manifest;
        manifest.files[0].path = PathBuf::from("part-00000-r4.parquet");
        store.put(Path::new("lake/contacts/part-00000-r4.parquet"), b"r1").unwrap();
        store.put(Path::new("lake/contacts/_manifest.json"), &serde_json::to_vec(&manifest).unwrap()).unwrap();
        destination.storage.delete_all(vec![ObjectPath::from("lake/contacts/_SUCCESS")]).unwrap();
        drop(destination.stage("contacts", "r5", true).unwrap());
        assert_published_alone(&memory, "r4");
    }

    #[test]
    fn a_lease_is_renewed_and_a_run_whose_lease_was_taken_over_leaves_the_new_one_alone() {
        let (destination, _memory) = destination();
        let key = PathBuf::from("lake/.intercom-dump-contacts.lock");
        let version = || destination.storage.head(&key).unwrap().map(|m| (m.e_tag, m.last_modified));
        let lease =
            Lease::acquire(destination.storage.clone(), key.clone(), "lake".into(), "contacts", "r1", Duration::from_millis(20))
                .unwrap();
        let first = version();
        std::thread::sleep(Duration::from_millis(300));
        assert_ne!(version(), first, "renewed");
        assert!(!lease.lost.load(Ordering::Relaxed));
        // Another run took it for stopped, and took it over: the next renewal finds out.
        let other = Holder { pid: 1, host: "another-host".into(), run_id: "r2".into(), name: "contacts".into() };
        destination.storage.put(&key, &serde_json::to_vec(&other).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(lease.lost.load(Ordering::Relaxed), "the renewal failed on the other run's version");
        drop(lease);
        let (body, _) = destination.storage.get(&key).unwrap().expect("the other run's lock stays");
        assert!(String::from_utf8_lossy(&body).contains("another-host"));
    }

    #[test]
    fn a_lock_is_refused_while_held_and_taken_over_from_a_run_that_is_gone() {
        let (destination, memory) = destination();
        let held = destination.lock("contacts", "r1").unwrap();
        let Err(SinkError::Locked { holder, .. }) = destination.lock("contacts", "r2") else { panic!("refused") };
        assert!(holder.contains(&format!("pid {}", std::process::id())) && holder.contains("r1"), "{holder}");
        destination.lock("users", "r3").expect("another table's lock is another lock");
        drop(held);
        assert!(keys(&memory).is_empty(), "a lock goes with its run");
        drop(destination.lock("contacts", "r4").unwrap());

        let store = destination.store();
        let gone = Holder { pid: 999_999_999, host: host_name(), run_id: "r5".into(), name: "contacts".into() };
        store.put(Path::new("lake/.intercom-dump-contacts.lock"), &serde_json::to_vec(&gone).unwrap()).unwrap();
        drop(destination.lock("contacts", "r6").expect("its process is gone: taken over"));
        let elsewhere = Holder { pid: 1, host: "another-host".into(), run_id: "r7".into(), name: "contacts".into() };
        store.put(Path::new("lake/.intercom-dump-contacts.lock"), &serde_json::to_vec(&elsewhere).unwrap()).unwrap();
        let Err(SinkError::Locked { holder, .. }) = destination.lock("contacts", "r8") else { panic!("a fresh lease stands") };
        assert!(holder.contains("another-host"), "{holder}");
    }
}
