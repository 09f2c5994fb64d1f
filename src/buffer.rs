//! The queue of fetched pages waiting for a parser, in listing order. Up to a byte budget the
//! pages stay in memory. Past it, a page from a listing that can wait (a cursor, a page list)
//! stays in memory too, and its listing pauses until there is room again; a page from a scroll,
//! which expires when left idle and so cannot wait, goes to a spill file and comes back when its
//! turn comes. Either way memory stays bounded.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::api::FetchedPage;

/// What becomes of a page that does not fit the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Kept in memory: the caller pauses its listing while the budget is full, so the budget is
    /// passed by at most the pages that were already in flight.
    Hold,
    /// Written to the spill file: the listing (a scroll) cannot pause.
    Spill,
}

enum Entry {
    Memory(FetchedPage),
    Spilled { offset: u64, len: usize, records: Range<usize>, resume_at: Option<String>, origin: std::sync::Arc<str> },
}

pub(crate) struct PageBuffer {
    entries: VecDeque<Entry>,
    memory_bytes: usize,
    budget: usize,
    spill_path: PathBuf,
    spill: Option<File>,
    spill_end: u64,
    spilled_total: u64,
    /// Entries in the spill file not yet taken back.
    spilled_waiting: usize,
}

impl PageBuffer {
    /// Pages beyond `budget` bytes in memory go to `spill_path`, created on first need and
    /// removed when the buffer is dropped.
    pub(crate) fn new(budget: usize, spill_path: impl Into<PathBuf>) -> PageBuffer {
        PageBuffer {
            entries: VecDeque::new(),
            memory_bytes: 0,
            budget,
            spill_path: spill_path.into(),
            spill: None,
            spill_end: 0,
            spilled_total: 0,
            spilled_waiting: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Page bytes held in memory.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Page bytes written to the spill file over the buffer's life.
    pub(crate) fn spilled_bytes(&self) -> u64 {
        self.spilled_total
    }

    /// Queues a page at the back: in memory while `extra_in_memory` (bytes the caller holds
    /// elsewhere, e.g. inside parsers) plus the queue fit the budget; past it, as `overflow`
    /// says.
    pub(crate) fn push(&mut self, page: FetchedPage, extra_in_memory: usize, overflow: Overflow) -> io::Result<()> {
        let size = page.size();
        // Only what does not fit goes to disk: a page behind spilled ones still waits in memory
        // when there is room (the queue keeps the order either way).
        let fits = self.memory_bytes + extra_in_memory + size <= self.budget;
        if fits || overflow == Overflow::Hold {
            self.memory_bytes += size;
            self.entries.push_back(Entry::Memory(page));
            return Ok(());
        }
        let file = match &mut self.spill {
            Some(file) => file,
            None => self.spill.insert(File::options().create(true).truncate(true).read(true).write(true).open(&self.spill_path)?),
        };
        let offset = self.spill_end;
        file.write_all_at(&page.body, offset)?;
        self.spill_end += size as u64;
        self.spilled_total += size as u64;
        self.spilled_waiting += 1;
        self.entries.push_back(Entry::Spilled {
            offset,
            len: size,
            records: page.records,
            resume_at: page.resume_at,
            origin: page.origin,
        });
        Ok(())
    }

    /// Takes the page at the front, reading it back from the spill file if it went there.
    pub(crate) fn pop(&mut self) -> io::Result<Option<FetchedPage>> {
        let Some(entry) = self.entries.pop_front() else { return Ok(None) };
        let page = match entry {
            Entry::Memory(page) => {
                self.memory_bytes -= page.size();
                page
            }
            Entry::Spilled { offset, len, records, resume_at, origin } => {
                let file = self.spill.as_ref().expect("spilled pages have a file");
                let mut body = vec![0; len];
                file.read_exact_at(&mut body, offset)?;
                self.spilled_waiting -= 1;
                if self.spilled_waiting == 0 {
                    // Everything spilled has come back: start the file over.
                    self.spill_end = 0;
                    file.set_len(0)?;
                }
                FetchedPage { body: Bytes::from(body), records, resume_at, origin }
            }
        };
        Ok(Some(page))
    }

    pub(crate) fn spill_path(&self) -> &Path {
        &self.spill_path
    }
}

impl Drop for PageBuffer {
    fn drop(&mut self) {
        if self.spill.take().is_some() {
            let _ = std::fs::remove_file(&self.spill_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> FetchedPage {
        let body = format!(r#"{{"data":[{{"id":"{n:04}"}}]}}"#);
        let records = 8..body.len() - 1;
        FetchedPage { body: Bytes::from(body), records, resume_at: Some(format!("after-{n}")), origin: "".into() }
    }

    #[test]
    fn keeps_order_across_memory_and_spill() {
        let dir = tempfile::tempdir().unwrap();
        let size = page(0).size();
        let mut buffer = PageBuffer::new(size * 3, dir.path().join("spill"));
        for n in 0..10 {
            buffer.push(page(n), 0, Overflow::Spill).unwrap();
        }
        assert_eq!(buffer.memory_bytes(), size * 3);
        assert_eq!(buffer.spilled_bytes(), size as u64 * 7);
        for n in 0..5 {
            let got = buffer.pop().unwrap().unwrap();
            assert_eq!(got.records_json(), page(n).records_json());
            assert_eq!(got.resume_at, page(n).resume_at);
        }
        // Room again: the next page waits in memory, behind the five still on disk.
        buffer.push(page(10), 0, Overflow::Spill).unwrap();
        assert_eq!((buffer.memory_bytes(), buffer.spilled_bytes()), (size, size as u64 * 7));
        let rest: Vec<_> = std::iter::from_fn(|| buffer.pop().unwrap()).map(|p| p.records_json().to_vec()).collect();
        let expected: Vec<_> = (5..11).map(|n| page(n).records_json().to_vec()).collect();
        assert_eq!(rest, expected);
        let path = buffer.spill_path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "emptied once every spilled page came back");
        drop(buffer);
        assert!(!path.exists(), "the spill file goes with the buffer");
    }

    #[test]
    fn held_pages_stay_in_memory_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let size = page(0).size();
        let mut buffer = PageBuffer::new(size * 2, dir.path().join("spill"));
        for n in 0..4 {
            buffer.push(page(n), size, Overflow::Hold).unwrap();
        }
        assert_eq!(buffer.memory_bytes(), size * 4, "the caller pauses; the buffer does not spill");
        assert_eq!(buffer.spilled_bytes(), 0);
        assert!(!buffer.spill_path().exists(), "no spill file is made");
        let got: Vec<_> = std::iter::from_fn(|| buffer.pop().unwrap()).map(|p| p.records_json().to_vec()).collect();
        assert_eq!(got, (0..4).map(|n| page(n).records_json().to_vec()).collect::<Vec<_>>());
    }
}
