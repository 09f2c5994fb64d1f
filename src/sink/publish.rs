//! Staging and publication. A run writes into a hidden staging directory inside `--out` and, only
//! when everything is written, moves the result into place; a run that fails or is killed leaves
//! no part file where a reader would find it, and an earlier dump is replaced only by a run that
//! succeeds (and only with `--overwrite`): publication moves the earlier dump and its markers
//! aside, not away, and puts them back if anything fails before the new markers are written.
//!
//! [`OutputLock`] keeps one run at a time in an output directory: an advisory lock the kernel
//! releases when its process dies, so a crashed run's lock is never stale.

use std::path::{Path, PathBuf};

use super::SinkError;
use super::checkpoint::{Checkpoint, Layout};

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
        // First: a run killed while publishing may have left the earlier dump aside in its staging.
        remove_abandoned_staging(out);
        refuse_earlier_dump(&out.join(source), overwrite)?;
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
    /// A checkpoint whose layout is not `layout` is refused before anything moves.
    pub fn adopt(
        out: &Path,
        source: &str,
        overwrite: bool,
        run_id: &str,
        layout: &Layout,
    ) -> Result<Option<(Staging, Checkpoint)>, SinkError> {
        refuse_earlier_dump(&out.join(source), overwrite)?;
        let Ok(entries) = std::fs::read_dir(out) else { return Ok(None) };
        let best = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) && !is_live(&e.file_name().to_string_lossy()))
            .filter_map(|e| Some((e.path(), Checkpoint::read(&e.path())?)))
            .filter(|(_, checkpoint)| checkpoint.source == source)
            .max_by_key(|(_, checkpoint)| checkpoint.records);
        let Some((old_root, checkpoint)) = best else { return Ok(None) };
        let differences = match &checkpoint.layout {
            Some(earlier) => layout.differences(earlier),
            None => vec!["its checkpoint was written by an older intercom-dump that did not record its options".into()],
        };
        if !differences.is_empty() {
            return Err(SinkError::ResumeMismatch { path: out.to_path_buf(), differences });
        }
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
    /// then has `write_markers` write the manifest and `_SUCCESS`, and returns where the dump now
    /// is. Until the markers are written the earlier dump (data and markers) waits inside the
    /// staging directory; if anything fails it is put back as it was, and the new data goes.
    pub fn publish(
        mut self,
        source: &str,
        markers: &[&str],
        write_markers: impl FnOnce() -> Result<(), SinkError>,
    ) -> Result<PathBuf, SinkError> {
        let staged = self.root.join(source);
        let target = self.out.join(source);
        // Checked before anything moves: a run that may not replace the dump touches nothing.
        refuse_earlier_dump(&target, self.overwrite)?;
        let aside = self.root.join(".previous");
        std::fs::create_dir_all(&aside).map_err(|e| SinkError::write(&aside, e))?;
        let result = (|| {
            for name in markers.iter().copied().chain([source]) {
                let from = self.out.join(name);
                match std::fs::rename(&from, aside.join(name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SinkError::Publish { path: from, reason: e.to_string() }),
                }
            }
            std::fs::rename(&staged, &target).map_err(|e| SinkError::Publish { path: target.clone(), reason: e.to_string() })?;
            write_markers()
        })();
        if let Err(error) = result {
            // Undo: the new markers and data out, the earlier dump back in.
            for name in markers {
                let _ = std::fs::remove_file(self.out.join(name));
            }
            if !staged.exists() {
                let _ = std::fs::rename(&target, &staged);
            }
            if !put_back(&aside, &self.out) {
                // Keep the staging directory: it holds what could not go back.
                self.published = true;
            }
            return Err(error);
        }
        self.published = true;
        let _ = std::fs::remove_dir_all(&self.root);
        Ok(target)
    }
}

/// One run at a time in an output directory: an advisory lock on the directory itself, held for
/// the run's life and released by the kernel when the process ends, however it ends (a crashed
/// run's lock is never stale). While it holds the lock a run names itself (pid, host, run id) in
/// `OUT/.intercom-dump.lock`, for the message a second run gets; the file goes when the run does.
#[derive(Debug)]
pub struct OutputLock {
    dir: std::fs::File,
    info: PathBuf,
}

/// Who holds the lock: informational, the lock is on the directory.
pub const LOCK_INFO: &str = ".intercom-dump.lock";

impl OutputLock {
    pub fn acquire(out: &Path, run_id: &str) -> Result<OutputLock, SinkError> {
        std::fs::create_dir_all(out).map_err(|e| SinkError::CreateDir { path: out.to_path_buf(), reason: e.to_string() })?;
        let dir =
            std::fs::File::open(out).map_err(|e| SinkError::CreateDir { path: out.to_path_buf(), reason: e.to_string() })?;
        let info = out.join(LOCK_INFO);
        match dir.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&info).unwrap_or_else(|_| "its pid is not known yet".into());
                return Err(SinkError::Locked { path: out.to_path_buf(), holder: holder.trim().to_string() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(SinkError::write(out, e)),
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let holder = format!("pid {} on {} (run {run_id})", std::process::id(), host.trim());
        std::fs::write(&info, holder).map_err(|e| SinkError::write(&info, e))?;
        Ok(OutputLock { dir, info })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Before the lock goes: a run that takes it next writes its own.
        let _ = std::fs::remove_file(&self.info);
        let _ = self.dir.unlock();
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
            restore_earlier_dump(out, &entry.path());
            tracing::info!(path = %entry.path().display(), "removing the staging directory of a run that did not finish");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A run killed while publishing left the earlier dump (data and markers) aside in its staging's
/// `.previous`: put it back, with the killed run's unpublished output out of its way, unless that
/// run had finished publishing. Publication moves the manifest aside first, then `_SUCCESS`, then the
/// data, and writes the new markers last; so `_SUCCESS` in `out` with anything but the manifest
/// aside means the new dump was published whole, and the earlier one is rightly gone.
fn restore_earlier_dump(out: &Path, root: &Path) {
    let aside = root.join(".previous");
    let Ok(entries) = std::fs::read_dir(&aside) else { return };
    let names: Vec<std::ffi::OsString> = entries.flatten().map(|e| e.file_name()).collect();
    let published = out.join(super::manifest::SUCCESS).exists() && names.iter().any(|n| n != super::manifest::MANIFEST);
    if published || names.is_empty() {
        return;
    }
    tracing::warn!(path = %out.display(), "a run was stopped while publishing: putting the earlier dump back");
    put_back(&aside, out);
}

/// Moves everything in `aside` back into `out`, over what stands there under the same name (a
/// publication's unfinished output); false when something could not go back.
fn put_back(aside: &Path, out: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(aside) else { return true };
    let mut whole = true;
    for entry in entries.flatten() {
        let target = out.join(entry.file_name());
        let _ = std::fs::remove_dir_all(&target).or_else(|_| std::fs::remove_file(&target));
        if let Err(e) = std::fs::rename(entry.path(), &target) {
            tracing::error!(path = %target.display(), kept = %entry.path().display(), "cannot put the earlier dump back: {e}");
            whole = false;
        }
    }
    whole
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
        let target = staging.publish("contacts", &[], || Ok(())).unwrap();
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
        staging.publish("contacts", &[], || Ok(())).unwrap();
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"new");
    }

    #[test]
    fn a_failed_publish_puts_the_earlier_dump_back_whole() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join("contacts")).unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"old").unwrap();
        std::fs::write(out.path().join("_SUCCESS"), b"").unwrap();
        std::fs::write(out.path().join("_manifest.json"), b"old manifest").unwrap();
        let staging = Staging::prepare(out.path(), "contacts", true, "r5").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"new").unwrap();
        let failed = staging.publish("contacts", &["_manifest.json", "_SUCCESS"], || {
            std::fs::write(out.path().join("_manifest.json"), b"half").unwrap();
            Err(SinkError::Publish { path: out.path().into(), reason: "disk full".into() })
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"old");
        assert_eq!(std::fs::read(out.path().join("_manifest.json")).unwrap(), b"old manifest");
        assert!(out.path().join("_SUCCESS").exists());
        let names: Vec<String> =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 3, "no staging left: {names:?}");
    }

    #[test]
    fn an_earlier_dump_left_aside_by_a_killed_publish_is_put_back() {
        // Killed after the new data went in and before its markers: the old dump waits aside.
        let out = tempfile::tempdir().unwrap();
        let dead = out.path().join(format!("{STAGING_PREFIX}1-999999998"));
        let aside = dead.join(".previous");
        std::fs::create_dir_all(aside.join("contacts")).unwrap();
        std::fs::write(aside.join("contacts/part-00000.parquet"), b"old").unwrap();
        std::fs::write(aside.join("_manifest.json"), b"old manifest").unwrap();
        std::fs::write(aside.join("_SUCCESS"), b"").unwrap();
        std::fs::create_dir_all(out.path().join("contacts")).unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"new, unpublished").unwrap();
        // Without --overwrite: the earlier dump is back, so the run is refused, having put it back.
        assert!(matches!(Staging::prepare(out.path(), "contacts", false, "r10"), Err(SinkError::Exists { .. })));
        let staging = Staging::prepare(out.path(), "contacts", true, "r11").unwrap();
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"old");
        assert_eq!(std::fs::read(out.path().join("_manifest.json")).unwrap(), b"old manifest");
        assert!(out.path().join("_SUCCESS").exists() && !dead.exists());
        drop(staging);

        // Killed after the new markers: the new dump stands, the old one goes with the staging.
        let dead = out.path().join(format!("{STAGING_PREFIX}2-999999998"));
        std::fs::create_dir_all(dead.join(".previous/contacts")).unwrap();
        std::fs::write(dead.join(".previous/_SUCCESS"), b"").unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"new").unwrap();
        drop(Staging::prepare(out.path(), "contacts", true, "r12").unwrap());
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"new");
        assert!(!dead.exists());
    }

    #[test]
    fn a_resume_with_another_layout_is_refused_and_touches_nothing() {
        let out = tempfile::tempdir().unwrap();
        // The staging of a killed run (no such pid), with a checkpoint.
        let old = out.path().join(format!("{STAGING_PREFIX}1-999999999"));
        std::fs::create_dir_all(old.join("contacts")).unwrap();
        let layout = Layout {
            base_url: "https://api.intercom.io/".into(),
            api_version: "2.16".into(),
            format: "parquet".into(),
            compression: "zstd(1)".into(),
            partition_by: None,
            schema: vec!["id Utf8".into(), "custom_plan Utf8".into()],
        };
        let checkpoint = Checkpoint {
            source: "contacts".into(),
            resume_at: "c1".into(),
            records: 10,
            files: vec![],
            layout: Some(layout.clone()),
        };
        checkpoint.save(&old, &old.join("contacts")).unwrap();
        let mut now = layout.clone();
        now.format = "both".into();
        now.schema.push("custom_seats Int64".into());
        let Err(SinkError::ResumeMismatch { differences, .. }) = Staging::adopt(out.path(), "contacts", false, "r9", &now) else {
            panic!("refused")
        };
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].contains("--format was parquet, now both"), "{differences:?}");
        assert!(differences[1].contains("custom_seats Int64"), "{differences:?}");
        assert!(old.join(super::super::checkpoint::CHECKPOINT).exists(), "the staging to resume is left as it was");
        let (_, resumed) =
            Staging::adopt(out.path(), "contacts", false, "r10", &layout).unwrap().expect("the same layout resumes");
        assert_eq!(resumed.records, 10);
    }

    #[test]
    fn a_second_run_into_the_same_out_is_refused_while_the_first_holds_the_lock() {
        let out = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(out.path(), "r6").unwrap();
        // Another open file description of the same file: flock locks are per description, so
        // this stands in for another process.
        let SinkError::Locked { holder, .. } = OutputLock::acquire(out.path(), "r7").unwrap_err() else { panic!() };
        assert!(holder.contains(&format!("pid {}", std::process::id())) && holder.contains("r6"), "{holder}");
        drop(first);
        OutputLock::acquire(out.path(), "r8").expect("free once the holder is gone");
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
