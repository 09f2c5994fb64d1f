//! Checkpoints of a v2 cursor or search dump, so that `--resume` goes on after a crash instead of
//! starting over. The Writer closes its open parts at a batch boundary and records, in the run's
//! staging directory, the parts finished so far and the listing's resume token after the last
//! row in them (a cursor; a search's parts not done, each with its cursor). A resumed run adopts
//! that staging directory, drops any part not in the checkpoint, and lists on from the token:
//! nothing written twice, nothing skipped.
//!
//! A checkpoint records the run's [`Layout`] too: where it listed from and everything that shapes
//! its files and the listing that wrote it. A resume whose layout differs (other `--format`,
//! `--mode`, `--partition-by`, typed-attribute options, another workspace, or custom attributes
//! declared since) is refused before anything is touched, with what differs: one dump never
//! mixes two layouts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{SinkError, WrittenFile};
use crate::store::Store;

pub(crate) const CHECKPOINT: &str = "checkpoint.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub source: String,
    /// The `starting_after` cursor of the first page not in `files`.
    pub resume_at: String,
    /// Rows in `files` (counted once, whatever the formats).
    pub records: u64,
    /// Paths relative to the staged source directory.
    pub files: Vec<WrittenFile>,
    /// What shaped the files; `None` in checkpoints of versions before it was recorded.
    #[serde(default)]
    pub layout: Option<Layout>,
}

/// Everything that shapes a dump's files: a resumed run must have the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    /// Without credentials.
    pub base_url: String,
    pub api_version: String,
    pub format: String,
    pub compression: String,
    pub partition_by: Option<String>,
    /// Column names and types, the typed custom attribute columns included.
    pub schema: Vec<String>,
    /// The listing walked: a resume goes on with the same (its token means nothing to another).
    #[serde(default)]
    pub mode: Option<String>,
}

impl Layout {
    /// What differs from `earlier`, one phrase each (`--format was parquet, now both`).
    pub(crate) fn differences(&self, earlier: &Layout) -> Vec<String> {
        let mut out = Vec::new();
        let mut compare = |what: &str, before: &str, now: &str| {
            if before != now {
                out.push(format!("{what} was {before}, now {now}"));
            }
        };
        compare("--base-url", &earlier.base_url, &self.base_url);
        compare("--api-version", &earlier.api_version, &self.api_version);
        compare("--format", &earlier.format, &self.format);
        compare("--compression", &earlier.compression, &self.compression);
        let none = "none".to_string();
        compare("--partition-by", earlier.partition_by.as_ref().unwrap_or(&none), self.partition_by.as_ref().unwrap_or(&none));
        if let (Some(before), Some(now)) = (&earlier.mode, &self.mode) {
            compare("--mode", before, now);
        }
        let added: Vec<&str> = self.schema.iter().filter(|c| !earlier.schema.contains(c)).map(String::as_str).collect();
        let gone: Vec<&str> = earlier.schema.iter().filter(|c| !self.schema.contains(c)).map(String::as_str).collect();
        if !added.is_empty() || !gone.is_empty() {
            out.push(format!(
                "the columns differ (now also: {}; no longer: {}): the workspace's custom attributes or --typed-custom-attributes changed",
                if added.is_empty() { "-".into() } else { added.join(", ") },
                if gone.is_empty() { "-".into() } else { gone.join(", ") }
            ));
        }
        out
    }
}

impl Checkpoint {
    /// Writes the checkpoint into `staging_root` through `store`, whole; `files` are made
    /// relative to `staged_dir`.
    pub(crate) fn save(mut self, store: &dyn Store, staging_root: &Path, staged_dir: &Path) -> Result<(), SinkError> {
        for file in &mut self.files {
            file.path = file.path.strip_prefix(staged_dir).unwrap_or(&file.path).to_path_buf();
        }
        let body = serde_json::to_vec(&self).expect("a checkpoint serialises");
        store.put(&staging_root.join(CHECKPOINT), &body)
    }

    /// The checkpoint in `staging_root`, its files' paths relative; `None` when there is none or
    /// it cannot be read.
    pub(crate) fn read(staging_root: &Path) -> Option<Checkpoint> {
        serde_json::from_slice(&std::fs::read(staging_root.join(CHECKPOINT)).ok()?).ok()
    }

    /// The checkpoint with its files' paths under `staged_dir`, where a resumed run finds them.
    pub(crate) fn rooted(mut self, staged_dir: &Path) -> Checkpoint {
        for file in &mut self.files {
            file.path = staged_dir.join(&file.path);
        }
        self
    }

    /// Files under `staged_dir` that are not in the checkpoint: written after it, or unfinished.
    pub(crate) fn strays(&self, staged_dir: &Path) -> Vec<PathBuf> {
        let mut strays = Vec::new();
        let mut stack = vec![staged_dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if !self.files.iter().any(|f| f.path == path) {
                    strays.push(path);
                }
            }
        }
        strays
    }
}
