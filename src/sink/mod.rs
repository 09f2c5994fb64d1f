//! Where batches become files: the rolling Parquet and Arrow IPC writers, fanned out by
//! partition and format, which write every part through a store (`crate::store`: a local folder
//! or object storage) ([`rolling`]); the output a run stages into and publishes from, behind one
//! trait (`destination`): a local folder (`publish`: a hidden staging directory moved into place
//! in one step, the earlier dump kept aside until the new one is whole, an advisory lock per
//! source) or object storage (`publish_object`: a staging prefix, copies and a conditional
//! manifest put as the commit, a lease per table, a killed run's leftovers settled by the next);
//! the manifest that says what a published dump holds ([`manifest`]); the checkpoints a
//! resumable listing's dump goes on from, with the layout they must match (`checkpoint`); and a
//! few columns of published parts read back (`read_back`).

pub(crate) mod checkpoint;
pub(crate) mod destination;
pub mod manifest;
pub(crate) mod publish;
pub(crate) mod publish_object;
pub(crate) mod read_back;
pub mod rolling;

use std::path::{Path, PathBuf};

pub use rolling::{Partitioning, RollingWriter, Sink};

/// A finished part file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// The newest `updated_at` among its rows (Unix seconds), when the table has one: what an
    /// incremental run goes on from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create {path}: {reason}; check that --out is writable")]
    CreateDir { path: PathBuf, reason: String },
    #[error("--out {path} is a file, not a folder: give a folder (it is created when missing)")]
    OutIsFile { path: PathBuf },
    #[error("cannot write {path}: {reason}; check free space and permissions under --out")]
    Write { path: PathBuf, reason: String },
    #[error("{path} already holds a dump: pass --overwrite to replace it, or choose another --out")]
    Exists { path: PathBuf },
    #[error("cannot publish into {path}: {reason}; the earlier dump there, if any, is left as it was")]
    Publish { path: PathBuf, reason: String },
    #[error(
        "another intercom-dump run is dumping this source into {path} ({holder}): wait for it to finish, or choose another --out"
    )]
    Locked { path: PathBuf, holder: String },
    #[error(
        "another run published into {path} while this one ran: nothing of this run was published; run again with --overwrite to replace it"
    )]
    Raced { path: PathBuf },
    #[error(
        "{store} refused the credentials ({reason}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the cloud's own), their permissions on the bucket, and --storage-option"
    )]
    StoreDenied { store: String, reason: String },
    #[error("{store} does not exist: create the bucket (or container) first, or fix the name in --out")]
    NoBucket { store: String },
    #[error(
        "no incremental state at {path}: an incremental run goes on from a full dump's; run once without --incremental (with --overwrite to replace a dump made before states were written)"
    )]
    NoState { path: PathBuf },
    #[error("the incremental state {path} is unreadable ({reason}): run a full dump with --overwrite to start the table over")]
    BadState { path: PathBuf, reason: String },
    #[error("cannot add a change set to {path}: {reason}")]
    IncrementalLayout { path: PathBuf, reason: String },
    #[error(
        "cannot resume the run in {path}: {}; give the options it ran with, or drop --resume to start over (its staging is then removed)",
        .differences.join("; ")
    )]
    ResumeMismatch { path: PathBuf, differences: Vec<String> },
}

impl SinkError {
    pub(crate) fn write(path: &Path, reason: impl ToString) -> SinkError {
        SinkError::Write { path: path.to_path_buf(), reason: reason.to_string() }
    }
}
