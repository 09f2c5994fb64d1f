//! Where a dump's files go, behind one small trait: a part is created, appended to, then
//! committed (seen whole under its final name) or aborted (gone); small files (the manifest,
//! `_SUCCESS`, checkpoints) are put whole. The rolling writers and the markers write through a
//! [`Store`] and nothing else; each destination is one implementation: the local filesystem
//! ([`local`]) and object storage (S3, GCS, Azure, through `object_store`: [`object`], a
//! multipart upload a part; on S3, [`s3_uploads`] aborts the uploads a killed run left; a
//! published Parquet part is read back by ranges through [`parquet_ranges`]).
//!
//! # Publishing without directory renames
//!
//! What makes a dump visible is the manifest written last, beside the data, listing every part
//! with its checksum: it is the commit. On the local filesystem the staged source directory,
//! markers inside, is moved into place in one rename, so that even a reader that globs the
//! folder sees the earlier dump or the new one, whole. Object storage has no rename: there the
//! staged parts are copied beside the table under names no earlier dump used, and the manifest is
//! put only over the version the run saw (`If-None-Match`/`If-Match`); the protocol is
//! `crate::sink`'s (`destination`, `publish_object`). A store writes, lists and deletes; it reads
//! back only small files of its own and, for `--reconcile`, a few columns of published parts.

pub(crate) mod local;
pub(crate) mod object;
pub(crate) mod parquet_ranges;
pub(crate) mod s3_uploads;

use std::io::Write;
use std::path::Path;

pub(crate) use local::LocalStore;

use crate::sink::SinkError;

/// A destination for a dump's files. Paths are as the store names them: on the local
/// filesystem, paths; on object storage, keys under the store's prefix.
pub(crate) trait Store: Send + Sync + std::fmt::Debug {
    /// Starts a part at `path`. Until committed it is not under that name: a reader never
    /// takes it for a part.
    fn create(&self, path: &Path) -> Result<Box<dyn Part>, SinkError>;

    /// Writes a small file whole: a reader sees it complete or not at all.
    fn put(&self, path: &Path, body: &[u8]) -> Result<(), SinkError>;
}

/// A part being written. Every byte passes a SHA-256 on the way, so the manifest's checksums
/// cost no second read. Dropped without a commit, it is aborted.
pub(crate) trait Part: Write + Send {
    /// Bytes written so far.
    fn bytes(&self) -> u64;

    /// Makes the part whole under its final name; its size and SHA-256 (hex).
    fn commit(self: Box<Self>) -> Result<Committed, SinkError>;
}

/// A part, once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub bytes: u64,
    pub sha256: String,
}
