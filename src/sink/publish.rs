//! Staging and publication. A run writes into a hidden staging directory inside `--out` and, only
//! when everything is written, moves the result into place; a run that fails or is killed leaves
//! no part file where a reader would find it, and an earlier dump is replaced only by a run that
//! succeeds (and only with `--overwrite`).

use std::path::{Path, PathBuf};

use super::SinkError;
use super::checkpoint::Checkpoint;

const STAGING_PREFIX: &str = ".intercom-dump-staging-";

pub struct Staging {
    out: PathBuf,
    root: PathBuf,
    overwrite: bool,
    published: bool,
}

impl Staging {
    /// Checks `out` can take a dump of `source`, and makes the run's staging directory.
    pub fn prepare(out: &Path, source: &str, overwrite: bool, run_id: &str) -> Result<Staging, SinkError> {
        std::fs::create_dir_all(out).map_err(|e| SinkError::CreateDir { path: out.to_path_buf(), reason: e.to_string() })?;
        refuse_earlier_dump(&out.join(source), overwrite)?;
        remove_abandoned_staging(out);
        let root = out.join(format!("{STAGING_PREFIX}{run_id}"));
        std::fs::create_dir_all(root.join(source))
            .map_err(|e| SinkError::CreateDir { path: root.clone(), reason: e.to_string() })?;
        Ok(Staging { out: out.to_path_buf(), root, overwrite, published: false })
    }

    /// Where the writer of `source` puts its parts during the run.
    pub fn dir_for(&self, source: &str) -> PathBuf {
        self.root.join(source)
    }

    /// Like [`Staging::prepare`], but adopting the staging directory of a run that did not
    /// finish and left a checkpoint for `source`: the one with the most records. Its stray files
    /// (written after the checkpoint, or unfinished) are removed. `None` when there is none.
    pub fn adopt(out: &Path, source: &str, overwrite: bool, run_id: &str) -> Result<Option<(Staging, Checkpoint)>, SinkError> {
        refuse_earlier_dump(&out.join(source), overwrite)?;
        let Ok(entries) = std::fs::read_dir(out) else { return Ok(None) };
        let best = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) && !is_live(&e.file_name().to_string_lossy()))
            .filter_map(|e| Some((e.path(), Checkpoint::read(&e.path())?)))
            .filter(|(_, checkpoint)| checkpoint.source == source)
            .max_by_key(|(_, checkpoint)| checkpoint.records);
        let Some((old_root, checkpoint)) = best else { return Ok(None) };
        let root = out.join(format!("{STAGING_PREFIX}{run_id}"));
        std::fs::rename(&old_root, &root).map_err(|e| SinkError::CreateDir { path: root.clone(), reason: e.to_string() })?;
        let staged = root.join(source);
        let checkpoint = checkpoint.rooted(&staged);
        for stray in checkpoint.strays(&staged) {
            std::fs::remove_file(&stray).map_err(|e| SinkError::write(&stray, e))?;
        }
        remove_abandoned_staging(out);
        Ok(Some((Staging { out: out.to_path_buf(), root, overwrite, published: false }, checkpoint)))
    }

    /// The run's staging directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file of the run's own (a spill file, say): inside staging, gone with it.
    pub fn scratch_path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Moves the staged `source` directory to `out/source`, replacing an earlier dump if allowed,
    /// and returns where it now is.
    pub fn publish(mut self, source: &str) -> Result<PathBuf, SinkError> {
        let staged = self.root.join(source);
        let target = self.out.join(source);
        let publish_error = |e: std::io::Error| SinkError::Publish { path: target.clone(), reason: e.to_string() };
        let previous = self.root.join(format!(".previous-{source}"));
        if target.exists() {
            refuse_earlier_dump(&target, self.overwrite)?;
            std::fs::rename(&target, &previous).map_err(publish_error)?;
        }
        std::fs::rename(&staged, &target).map_err(publish_error)?;
        self.published = true;
        let _ = std::fs::remove_dir_all(&self.root);
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Removes staging directories of runs that were killed: their run id ends in the process id,
/// and that process is gone. A live run's staging (another dump into the same place) is left.
fn remove_abandoned_staging(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(STAGING_PREFIX) {
            continue;
        }
        if !is_live(&name) {
            tracing::info!(path = %entry.path().display(), "removing the staging directory of a run that did not finish");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether the run that owns the staging directory `name` is still running: run ids end in the
/// process id.
fn is_live(name: &str) -> bool {
    let pid = name.strip_prefix(STAGING_PREFIX).and_then(|id| id.rsplit('-').next()).and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
}

/// An earlier dump at `target` is replaced only with `--overwrite`.
fn refuse_earlier_dump(target: &Path, overwrite: bool) -> Result<(), SinkError> {
    if !overwrite && is_non_empty_dir(target) {
        return Err(SinkError::Exists { path: target.to_path_buf() });
    }
    Ok(())
}

fn is_non_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map(|mut entries| entries.next().is_some()).unwrap_or(false)
}

/// A run id unique on this machine: start time and process id.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}-{}", now.as_millis(), std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_in_one_step_and_cleans_up() {
        let out = tempfile::tempdir().unwrap();
        let staging = Staging::prepare(out.path(), "contacts", false, "r1").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"x").unwrap();
        assert!(!out.path().join("contacts").exists());
        let target = staging.publish("contacts").unwrap();
        assert!(target.join("part-00000.parquet").exists());
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "only the published directory remains");
    }

    #[test]
    fn refuses_to_replace_without_overwrite_and_replaces_with_it() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join("contacts")).unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"old").unwrap();
        assert!(matches!(Staging::prepare(out.path(), "contacts", false, "r2"), Err(SinkError::Exists { .. })));
        let staging = Staging::prepare(out.path(), "contacts", true, "r3").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"new").unwrap();
        staging.publish("contacts").unwrap();
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"new");
    }

    #[test]
    fn an_abandoned_run_leaves_nothing() {
        let out = tempfile::tempdir().unwrap();
        let staging = Staging::prepare(out.path(), "contacts", false, "r4").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"x").unwrap();
        drop(staging);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }
}
