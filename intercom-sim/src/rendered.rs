//! Pre-rendered records: every record of a workspace rendered to JSON once, before serving, into
//! a file on disk with an offset index beside it. A page is then a few positioned reads instead
//! of generating and serialising each contact, so a simulator in the same process as the client
//! (the `bench` command) takes a small share of the machine's cores and is never the bottleneck.
//!
//! The bytes are those the live generator writes, record for record (a test checks it), so the
//! simulator answers the same either way. Files live on disk, not in memory: the process's
//! resident memory stays the same whatever the workspace's size; the kernel's page cache holds
//! what it can of them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::generator::{RecordShape, Workspace};

/// Where a shape's files are named.
fn file_stem(shape: RecordShape) -> &'static str {
    match shape {
        RecordShape::ContactV2 => "contacts-v2",
        RecordShape::V1 => "records-v1",
    }
}

/// Records pre-rendered to `<dir>/<shape>.json`, indexed by `<dir>/<shape>.index` (one
/// little-endian u64 offset per record, and the file's length last). The files are removed when
/// the store is dropped.
pub struct RenderedRecords {
    shape: RecordShape,
    count: u64,
    data: File,
    index: File,
    paths: [PathBuf; 2],
}

impl std::fmt::Debug for RenderedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedRecords").field("shape", &self.shape).field("count", &self.count).finish()
    }
}

/// Records rendered a chunk at a time by each thread: big enough to amortise the hand-over,
/// small enough to keep memory flat.
const CHUNK: u64 = 4_096;

impl RenderedRecords {
    /// Renders every record of `ws` into `dir`, on `threads` threads.
    pub fn render(ws: &Workspace, shape: RecordShape, dir: &Path, threads: usize) -> std::io::Result<RenderedRecords> {
        std::fs::create_dir_all(dir)?;
        let paths = [dir.join(format!("{}.json", file_stem(shape))), dir.join(format!("{}.index", file_stem(shape)))];
        let mut data = BufWriter::with_capacity(1 << 20, File::create(&paths[0])?);
        let mut index = BufWriter::with_capacity(1 << 16, File::create(&paths[1])?);
        let chunks = ws.contacts.div_ceil(CHUNK);
        let next_chunk = AtomicU64::new(0);
        let threads = threads.max(1);
        let mut offset = 0u64;
        // Threads render chunks in any order; this thread writes them in record order, holding
        // at most a few chunks per thread.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>, Vec<u32>)>(threads * 2);
        std::thread::scope(|scope| -> std::io::Result<()> {
            for _ in 0..threads {
                let sender = sender.clone();
                let next_chunk = &next_chunk;
                scope.spawn(move || {
                    loop {
                        let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                        if chunk >= chunks {
                            return;
                        }
                        let (start, end) = (chunk * CHUNK, ((chunk + 1) * CHUNK).min(ws.contacts));
                        let mut bytes = Vec::with_capacity(((end - start) * 2_700) as usize);
                        let mut lengths = Vec::with_capacity((end - start) as usize);
                        for i in start..end {
                            let before = bytes.len();
                            ws.write_record_json(shape, i, &mut bytes);
                            lengths.push((bytes.len() - before) as u32);
                        }
                        if sender.send((chunk, bytes, lengths)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(sender);
            let mut waiting = std::collections::BTreeMap::new();
            let mut next = 0;
            for (chunk, bytes, lengths) in receiver {
                waiting.insert(chunk, (bytes, lengths));
                while let Some((bytes, lengths)) = waiting.remove(&next) {
                    data.write_all(&bytes)?;
                    for length in lengths {
                        index.write_all(&offset.to_le_bytes())?;
                        offset += u64::from(length);
                    }
                    next += 1;
                }
            }
            Ok(())
        })?;
        index.write_all(&offset.to_le_bytes())?;
        let data = data.into_inner().map_err(|e| e.into_error())?;
        let index = index.into_inner().map_err(|e| e.into_error())?;
        data.sync_data().ok();
        drop((data, index));
        Ok(RenderedRecords { shape, count: ws.contacts, data: File::open(&paths[0])?, index: File::open(&paths[1])?, paths })
    }

    pub fn shape(&self) -> RecordShape {
        self.shape
    }

    /// Bytes of JSON on disk.
    pub fn bytes(&self) -> std::io::Result<u64> {
        self.offset(self.count)
    }

    fn offset(&self, i: u64) -> std::io::Result<u64> {
        let mut raw = [0u8; 8];
        self.index.read_exact_at(&mut raw, i * 8)?;
        Ok(u64::from_le_bytes(raw))
    }

    /// Appends the records at `indices` (those below the workspace's size) as a JSON array, as
    /// the generator would write them. Listings ask for records close together (a scroll of
    /// users skips the leads between them): those are read in one piece with the records
    /// between them, scattered ones one by one.
    pub fn write_json(&self, indices: impl IntoIterator<Item = u64>, out: &mut Vec<u8>) -> std::io::Result<()> {
        let indices: Vec<u64> = indices.into_iter().filter(|&i| i < self.count).collect();
        out.push(b'[');
        if let (Some(&lo), Some(&hi)) = (indices.iter().min(), indices.iter().max()) {
            if hi - lo < indices.len() as u64 * 4 {
                self.copy_from_span(lo, hi + 1, &indices, out)?;
            } else {
                for (n, &i) in indices.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    self.copy_from_span(i, i + 1, &[i], out)?;
                }
            }
        }
        out.push(b']');
        Ok(())
    }

    /// Reads records `lo..hi` and appends those at `indices` (all in that span), in order,
    /// comma-separated.
    fn copy_from_span(&self, lo: u64, hi: u64, indices: &[u64], out: &mut Vec<u8>) -> std::io::Result<()> {
        let mut bounds = vec![0u8; ((hi - lo + 1) * 8) as usize];
        self.index.read_exact_at(&mut bounds, lo * 8)?;
        let bound = |i: u64| {
            let k = ((i - lo) * 8) as usize;
            u64::from_le_bytes(bounds[k..k + 8].try_into().expect("8 bytes"))
        };
        let from = bound(lo);
        let mut span = vec![0u8; (bound(hi) - from) as usize];
        self.data.read_exact_at(&mut span, from)?;
        for (n, &i) in indices.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&span[(bound(i) - from) as usize..(bound(i + 1) - from) as usize]);
        }
        Ok(())
    }
}

impl Drop for RenderedRecords {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_bytes_the_generator_writes() {
        let ws = Workspace::new(9, 10_000);
        let dir = tempfile::tempdir().unwrap();
        for shape in [RecordShape::ContactV2, RecordShape::V1] {
            let store = RenderedRecords::render(&ws, shape, dir.path(), 2).unwrap();
            let live = |indices: &[u64]| {
                let mut out = Vec::new();
                ws.write_json_array(shape, indices.iter().copied(), &mut out);
                out
            };
            for range in [0..150u64, 4_000..4_200, 9_950..10_000, 17..18] {
                let indices: Vec<u64> = range.collect();
                let mut served = Vec::new();
                store.write_json(indices.iter().copied(), &mut served).unwrap();
                assert_eq!(served, live(&indices), "{shape:?} {:?}", indices.first());
            }
            if shape == RecordShape::V1 {
                // Far apart (read one by one), and close together newest first (one read).
                for picked in [vec![3u64, 4, 5, 90, 91, 4_097, 12, 9_999], (100..160).rev().step_by(2).collect()] {
                    let mut served = Vec::new();
                    store.write_json(picked.iter().copied(), &mut served).unwrap();
                    assert_eq!(served, live(&picked));
                }
            }
            let mut empty = Vec::new();
            store.write_json([], &mut empty).unwrap();
            assert_eq!(empty, b"[]");
            let _: serde_json::Value = serde_json::from_slice(&{
                let mut all = Vec::new();
                store.write_json(0..10_000, &mut all).unwrap();
                all
            })
            .unwrap();
            drop(store);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the files go with the store");
    }
}
