//! Staging and publication on the local filesystem. A run writes into a hidden staging directory
//! inside `--out` and, only when everything is written, writes the markers beside its data and
//! moves the source's directory into place in one step; a run that fails or is killed leaves no
//! part file where a reader would find it, and an earlier dump is replaced only by a run that
//! succeeds (and only with `--overwrite`): publication moves the earlier dump aside, not away,
//! and puts it back if anything fails before the new one is in place.
//!
//! [`OutputLock`] keeps one run at a time per source in an output directory: an advisory lock
//! the kernel releases when its process dies, so a crashed run's lock is never stale.

use std::path::{Path, PathBuf};

use super::SinkError;
use super::checkpoint::{Checkpoint, Layout};

const STAGING_PREFIX: &str = ".intercom-dump-staging-";

pub(crate) struct Staging {
    out: PathBuf,
    root: PathBuf,
    overwrite: bool,
    published: bool,
    /// `root/.live`, locked while the run lives: another run finds the staging abandoned only
    /// once this lock is gone (the process ended, however), on any platform with file locks.
    _live: std::fs::File,
}

/// The lock file in a staging directory that its run holds.
const LIVE_LOCK: &str = ".live";

/// Locks `root/.live` for this run. The file is locked under a name of its own first and then
/// renamed into place (the lock goes with it): a `.live` another run finds is always held
/// already. Found unlocked between its creation and its lock, it would be taken for an
/// abandoned staging's, by a run of another table starting beside this one, and removed.
fn hold_live(root: &Path) -> Result<std::fs::File, SinkError> {
    let path = root.join(LIVE_LOCK);
    let fresh = root.join(format!("{LIVE_LOCK}.{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&fresh)
        .map_err(|e| SinkError::write(&fresh, e))?;
    file.try_lock().map_err(|e| SinkError::write(&fresh, e))?;
    std::fs::rename(&fresh, &path).map_err(|e| SinkError::write(&path, e))?;
    Ok(file)
}

/// Makes `--out` where it is missing; a file there is refused by name.
pub(crate) fn create_out(out: &Path) -> Result<(), SinkError> {
    if out.exists() && !out.is_dir() {
        return Err(SinkError::OutIsFile { path: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(|e| SinkError::CreateDir { path: out.to_path_buf(), reason: e.to_string() })
}

impl Staging {
    /// Checks `out` can take a dump of `source`, and makes the run's staging directory.
    pub(crate) fn prepare(out: &Path, source: &str, overwrite: bool, run_id: &str) -> Result<Staging, SinkError> {
        create_out(out)?;
        // First: a run killed while publishing may have left the earlier dump aside in its staging.
        remove_abandoned_staging(out);
        refuse_earlier_dump(&out.join(source), overwrite)?;
        let root = out.join(format!("{STAGING_PREFIX}{run_id}"));
        std::fs::create_dir_all(&root).map_err(|e| SinkError::CreateDir { path: root.clone(), reason: e.to_string() })?;
        let live = hold_live(&root)?;
        std::fs::create_dir_all(root.join(source))
            .map_err(|e| SinkError::CreateDir { path: root.clone(), reason: e.to_string() })?;
        Ok(Staging { out: out.to_path_buf(), root, overwrite, published: false, _live: live })
    }

    /// Where the writer of `source` puts its parts during the run.
    pub(crate) fn dir_for(&self, source: &str) -> PathBuf {
        self.root.join(source)
    }

    /// Like [`Staging::prepare`], but adopting the staging directory of a run that did not
    /// finish and left a checkpoint for `source`: the one with the most records. Its stray files
    /// (written after the checkpoint, or unfinished) are removed. `None` when there is none.
    /// A checkpoint whose layout is not `layout` is refused before anything moves.
    pub(crate) fn adopt(
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
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) && !is_live(&e.path()))
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
        // The dead run's unlocked `.live` goes first: under our name, the staging is then ours by
        // its pid until our own `.live` is in place.
        let _ = std::fs::remove_file(old_root.join(LIVE_LOCK));
        std::fs::rename(&old_root, &root).map_err(|e| SinkError::CreateDir { path: root.clone(), reason: e.to_string() })?;
        // Ours from now on, before anything looks for abandoned staging.
        let live = hold_live(&root)?;
        let staged = root.join(source);
        let checkpoint = checkpoint.rooted(&staged);
        for stray in checkpoint.strays(&staged) {
            std::fs::remove_file(&stray).map_err(|e| SinkError::write(&stray, e))?;
        }
        remove_abandoned_staging(out);
        Ok(Some((Staging { out: out.to_path_buf(), root, overwrite, published: false, _live: live }, checkpoint)))
    }

    /// The output directory the staging publishes into.
    pub(crate) fn out(&self) -> &Path {
        &self.out
    }

    /// The run's staging directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// A file of the run's own (a spill file, say): inside staging, gone with it.
    pub(crate) fn scratch_path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Publishes the staged `source` directory as `out/source`, replacing an earlier dump if
    /// allowed. `write_markers` first writes the manifest and `_SUCCESS` into the staged
    /// directory, so that the directory's move into place is the one step that publishes: a
    /// reader sees the earlier dump whole, or the new one whole. Until then the earlier dump
    /// waits inside the staging directory; if anything fails it is put back as it was, and the
    /// new data goes. Returns where the dump now is.
    pub(crate) fn publish(
        mut self,
        source: &str,
        write_markers: impl FnOnce(&Path) -> Result<(), SinkError>,
    ) -> Result<PathBuf, SinkError> {
        let staged = self.root.join(source);
        let target = self.out.join(source);
        // Checked before anything moves: a run that may not replace the dump touches nothing.
        refuse_earlier_dump(&target, self.overwrite)?;
        write_markers(&staged)?;
        let aside = self.root.join(".previous");
        std::fs::create_dir_all(&aside).map_err(|e| SinkError::write(&aside, e))?;
        let result = (|| {
            // Markers an older intercom-dump left at OUT's top describe the dump being replaced:
            // they go aside with it. The data goes last, so a dump aside means its markers are too.
            for name in legacy_markers(&self.out, source).into_iter().chain([source]) {
                let from = self.out.join(name);
                match std::fs::rename(&from, aside.join(name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SinkError::Publish { path: from, reason: e.to_string() }),
                }
            }
            std::fs::rename(&staged, &target).map_err(|e| SinkError::Publish { path: target.clone(), reason: e.to_string() })
        })();
        if let Err(error) = result {
            // Undo: the earlier dump back in (the new one never went in: its move was the last step).
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

/// The markers at `out`'s top that an older intercom-dump wrote for a dump of `source` (it kept
/// them there, not in the source's directory).
fn legacy_markers(out: &Path, source: &str) -> Vec<&'static str> {
    let Ok(text) = std::fs::read(out.join(super::manifest::MANIFEST)) else { return Vec::new() };
    let described = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|m| m["source"].as_str().map(str::to_owned));
    if described.as_deref() == Some(source) { super::manifest::MARKERS.to_vec() } else { Vec::new() }
}

/// One run at a time for a source in an output directory: an advisory lock on
/// `OUT/.intercom-dump-<source>.lock`, held for the run's life and released by the kernel when
/// the process ends, however it ends (a crashed run's lock is never stale). Runs of other sources
/// into the same lake folder go on side by side. While it holds the lock a run names itself (pid,
/// host, run id) in the file, for the message a second run gets.
///
/// The file is removed by its holder, before it lets go: a run that opened the old file meanwhile
/// finds, once it holds the lock, that the name no longer leads to what it locked, and opens it
/// again (else two runs would hold locks on two files of the same name).
#[derive(Debug)]
pub(crate) struct OutputLock {
    file: std::fs::File,
    path: PathBuf,
}

impl OutputLock {
    pub(crate) fn acquire(out: &Path, source: &str, run_id: &str) -> Result<OutputLock, SinkError> {
        use std::os::unix::fs::MetadataExt;
        create_out(out)?;
        let path = out.join(format!(".intercom-dump-{source}.lock"));
        // Each retry means a holder let go in between: a few are plenty.
        for _ in 0..16 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| SinkError::write(&path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder =
                        if holder.trim().is_empty() { "its pid is not known yet".into() } else { holder.trim().to_string() };
                    return Err(SinkError::Locked { path: out.to_path_buf(), holder });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(SinkError::write(&path, e)),
            }
            let locked = file.metadata().map_err(|e| SinkError::write(&path, e))?;
            let current = std::fs::metadata(&path).ok();
            if current.is_none_or(|m| (m.dev(), m.ino()) != (locked.dev(), locked.ino())) {
                continue;
            }
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let holder = format!("pid {} on {} (run {run_id}, dumping {source})", std::process::id(), host.trim());
            let named = file.set_len(0).and_then(|()| std::io::Write::write_all(&mut file, holder.as_bytes()));
            named.map_err(|e| SinkError::write(&path, e))?;
            return Ok(OutputLock { file, path });
        }
        Err(SinkError::Locked { path: out.to_path_buf(), holder: "runs that keep taking and leaving it".into() })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held: see the type's note.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
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
        if !is_live(&entry.path()) {
            restore_earlier_dump(out, &entry.path());
            tracing::info!(path = %entry.path().display(), "removing the staging directory of a run that did not finish");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A run killed while publishing left the earlier dump aside in its staging's `.previous`: put
/// it back, unless that run had finished publishing. The new dump's directory moves in last,
/// carrying its markers; so a source directory aside whose counterpart in `out` holds `_SUCCESS`
/// means the new dump was published whole, and the earlier one is rightly gone.
fn restore_earlier_dump(out: &Path, root: &Path) {
    let aside = root.join(".previous");
    let Ok(entries) = std::fs::read_dir(&aside) else { return };
    let entries: Vec<std::fs::DirEntry> = entries.flatten().collect();
    let published =
        entries.iter().filter(|e| e.path().is_dir()).any(|e| out.join(e.file_name()).join(super::manifest::SUCCESS).exists());
    if published || entries.is_empty() {
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

/// Whether the run that owns the staging directory `root` is still running: it holds the lock
/// on `root/.live`. Staging from before that lock existed is judged by its process id (run ids
/// end in it), where `/proc` tells.
fn is_live(root: &Path) -> bool {
    match std::fs::File::open(root.join(LIVE_LOCK)) {
        Ok(file) => match file.try_lock_shared() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            // Cannot tell: leave it be.
            Err(std::fs::TryLockError::Error(_)) => true,
        },
        Err(_) => {
            let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let pid = name.strip_prefix(STAGING_PREFIX).and_then(|id| id.rsplit('-').next()).and_then(|p| p.parse::<u32>().ok());
            pid.is_some_and(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
        }
    }
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
pub(crate) fn new_run_id() -> String {
    // Runs of one process started in the same millisecond (the tables of `--source all`) are
    // told apart by their order; the pid stays last, where a staging's name is read for it.
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    match STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
        0 => format!("{}-{}", now.as_millis(), std::process::id()),
        n => format!("{}.{n}-{}", now.as_millis(), std::process::id()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_staging_is_live_while_its_run_holds_its_lock_whatever_its_name_says() {
        let out = tempfile::tempdir().unwrap();
        // A pid that is not this process's, alive or not: the lock decides.
        let root = out.path().join(format!("{STAGING_PREFIX}r1-1"));
        std::fs::create_dir_all(&root).unwrap();
        let held = hold_live(&root).unwrap();
        assert!(is_live(&root), "its run holds the lock");
        drop(held);
        assert!(!is_live(&root), "the lock went with its run");
        remove_abandoned_staging(out.path());
        assert!(!root.exists(), "an abandoned staging is removed");
    }

    use super::*;

    #[test]
    fn publishes_in_one_step_and_cleans_up() {
        let out = tempfile::tempdir().unwrap();
        let staging = Staging::prepare(out.path(), "contacts", false, "r1").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"x").unwrap();
        assert!(!out.path().join("contacts").exists());
        let target = staging
            .publish("contacts", |staged| std::fs::write(staged.join("_SUCCESS"), b"").map_err(|e| SinkError::write(staged, e)))
            .unwrap();
        assert!(
            target.join("part-00000.parquet").exists() && target.join("_SUCCESS").exists(),
            "the markers move in with the data"
        );
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
        staging.publish("contacts", |_| Ok(())).unwrap();
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"new");
    }

    #[test]
    fn a_failed_publish_puts_the_earlier_dump_back_whole() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join("contacts")).unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"old").unwrap();
        std::fs::write(out.path().join("contacts/_SUCCESS"), b"").unwrap();
        std::fs::write(out.path().join("contacts/_manifest.json"), b"old manifest").unwrap();
        // Failing to write the markers: nothing has moved yet.
        let staging = Staging::prepare(out.path(), "contacts", true, "r5").unwrap();
        std::fs::write(staging.dir_for("contacts").join("part-00000.parquet"), b"new").unwrap();
        let failed =
            staging.publish("contacts", |_| Err(SinkError::Publish { path: out.path().into(), reason: "disk full".into() }));
        assert!(failed.is_err());
        // Failing to move the new dump in, once the earlier one is aside: it comes back.
        let staging = Staging::prepare(out.path(), "contacts", true, "r6").unwrap();
        let staged = staging.dir_for("contacts");
        let failed =
            staging.publish("contacts", |staged| std::fs::remove_dir_all(staged).map_err(|e| SinkError::write(staged, e)));
        assert!(failed.is_err() && !staged.exists());
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"old");
        assert_eq!(std::fs::read(out.path().join("contacts/_manifest.json")).unwrap(), b"old manifest");
        assert!(out.path().join("contacts/_SUCCESS").exists());
        let names: Vec<String> =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["contacts"], "no staging left");
    }

    #[test]
    fn the_markers_an_older_version_left_at_the_top_go_with_the_dump_they_describe() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join("contacts")).unwrap();
        std::fs::write(out.path().join("contacts/part-00000.parquet"), b"old").unwrap();
        std::fs::write(out.path().join("_manifest.json"), br#"{"source": "users"}"#).unwrap();
        std::fs::write(out.path().join("_SUCCESS"), b"").unwrap();
        let staging = Staging::prepare(out.path(), "contacts", true, "r13").unwrap();
        staging.publish("contacts", |_| Ok(())).unwrap();
        assert!(out.path().join("_manifest.json").exists(), "they describe another source's dump: left alone");
        std::fs::write(out.path().join("_manifest.json"), br#"{"source": "contacts"}"#).unwrap();
        let staging = Staging::prepare(out.path(), "contacts", true, "r14").unwrap();
        staging.publish("contacts", |_| Ok(())).unwrap();
        assert!(!out.path().join("_manifest.json").exists() && !out.path().join("_SUCCESS").exists(), "replaced with their dump");
    }

    #[test]
    fn an_earlier_dump_left_aside_by_a_killed_publish_is_put_back() {
        // Killed after the earlier dump went aside and before the new one moved in.
        let out = tempfile::tempdir().unwrap();
        let dead = out.path().join(format!("{STAGING_PREFIX}1-999999998"));
        let aside = dead.join(".previous");
        std::fs::create_dir_all(aside.join("contacts")).unwrap();
        std::fs::write(aside.join("contacts/part-00000.parquet"), b"old").unwrap();
        std::fs::write(aside.join("contacts/_manifest.json"), b"old manifest").unwrap();
        std::fs::write(aside.join("contacts/_SUCCESS"), b"").unwrap();
        // Without --overwrite: the earlier dump is back, so the run is refused, having put it back.
        assert!(matches!(Staging::prepare(out.path(), "contacts", false, "r10"), Err(SinkError::Exists { .. })));
        let staging = Staging::prepare(out.path(), "contacts", true, "r11").unwrap();
        assert_eq!(std::fs::read(out.path().join("contacts/part-00000.parquet")).unwrap(), b"old");
        assert_eq!(std::fs::read(out.path().join("contacts/_manifest.json")).unwrap(), b"old manifest");
        assert!(out.path().join("contacts/_SUCCESS").exists() && !dead.exists());
        drop(staging);

        // Killed after the new dump moved in: it stands, the old one goes with the staging.
        let dead = out.path().join(format!("{STAGING_PREFIX}2-999999998"));
        std::fs::create_dir_all(dead.join(".previous/contacts")).unwrap();
        std::fs::write(dead.join(".previous/contacts/part-00000.parquet"), b"old").unwrap();
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
            mode: Some("cursor".into()),
        };
        let checkpoint = Checkpoint {
            source: "contacts".into(),
            resume_at: "c1".into(),
            records: 10,
            files: vec![],
            layout: Some(layout.clone()),
        };
        checkpoint.save(&crate::store::LocalStore, &old, &old.join("contacts")).unwrap();
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
    fn a_second_run_of_a_source_is_refused_while_the_first_holds_the_lock() {
        let out = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(out.path(), "contacts", "r6").unwrap();
        // Another open file description of the same file: flock locks are per description, so
        // this stands in for another process.
        let SinkError::Locked { holder, .. } = OutputLock::acquire(out.path(), "contacts", "r7").unwrap_err() else { panic!() };
        assert!(holder.contains(&format!("pid {}", std::process::id())) && holder.contains("r6"), "{holder}");
        let other = OutputLock::acquire(out.path(), "users", "r9").expect("another source's run goes on beside it");
        drop(first);
        OutputLock::acquire(out.path(), "contacts", "r8").expect("free once the holder is gone");
        drop(other);
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
