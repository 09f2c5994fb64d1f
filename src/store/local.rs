//! The local filesystem as a [`Store`]: a part is written to a hidden `.NAME.inprogress` beside
//! its final name (buffered, counted and hashed), synced and renamed on commit, removed on abort;
//! small files go the same way, so a file under its final name is always whole. The folder is
//! synced after each rename, so that the new name survives a power cut too.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Committed, Part, Store};
use crate::sink::SinkError;

/// The local filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocalStore;

/// Where `path` is written until it is whole.
fn in_progress(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    path.with_file_name(format!(".{name}.inprogress"))
}

fn create_parent(path: &Path) -> Result<(), SinkError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::CreateDir { path: dir.to_path_buf(), reason: e.to_string() })
        }
        _ => Ok(()),
    }
}

/// Syncs the folder holding `path`: a rename is durable once its directory is.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

impl Store for LocalStore {
    fn create(&self, path: &Path) -> Result<Box<dyn Part>, SinkError> {
        create_parent(path)?;
        let temp = in_progress(path);
        let file = File::create(&temp).map_err(|e| SinkError::write(&temp, e))?;
        Ok(Box::new(LocalPart {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            bytes: 0,
            temp,
            path: path.to_path_buf(),
        }))
    }

    fn put(&self, path: &Path, body: &[u8]) -> Result<(), SinkError> {
        create_parent(path)?;
        let temp = in_progress(path);
        let write = || -> io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(body)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            sync_parent(path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            SinkError::write(path, e)
        })
    }
}

struct LocalPart {
    /// `None` once committed.
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    bytes: u64,
    temp: PathBuf,
    path: PathBuf,
}

impl Write for LocalPart {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("the part is committed"))?;
        let written = file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Part for LocalPart {
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn commit(mut self: Box<Self>) -> Result<Committed, SinkError> {
        let file = self.file.take().expect("committed once");
        let close = || -> io::Result<()> {
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.temp, &self.path)?;
            sync_parent(&self.path)
        };
        close().map_err(|e| SinkError::write(&self.temp, e))?;
        let digest = std::mem::take(&mut self.hasher).finalize();
        Ok(Committed { bytes: self.bytes, sha256: digest.iter().map(|b| format!("{b:02x}")).collect() })
    }
}

impl Drop for LocalPart {
    /// Not committed: aborted, nothing of it stays.
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_seen_only_once_committed_and_an_aborted_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/part-00000.parquet");
        let mut part = LocalStore.create(&path).unwrap();
        part.write_all(b"hello").unwrap();
        assert!(!path.exists(), "not under its name before the commit");
        assert_eq!(part.bytes(), 5);
        let committed = part.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(committed.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let aborted = dir.path().join("a/part-00001.parquet");
        let mut part = LocalStore.create(&aborted).unwrap();
        part.write_all(b"half").unwrap();
        drop(part);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["part-00000.parquet"], "the aborted part is gone");
    }

    #[test]
    fn a_small_file_is_put_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_manifest.json");
        LocalStore.put(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
    }
}
