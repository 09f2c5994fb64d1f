//! Live counters of a run, shared by the Coordinator (which writes them) and whoever shows
//! progress (the CLI's bar reads them from its own thread).

use std::sync::atomic::AtomicU64;

#[derive(Debug, Default)]
pub struct Progress {
    /// Records written to the output.
    pub records: AtomicU64,
    /// Pages fetched.
    pub pages: AtomicU64,
    /// Bytes of page bodies fetched.
    pub page_bytes: AtomicU64,
    /// What the API says the listing holds (`total_count`), 0 until known.
    pub total: AtomicU64,
}
