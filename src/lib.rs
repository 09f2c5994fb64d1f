//! intercom-dump: every contact of an Intercom workspace, into Parquet, fast and whole.
//!
//! # The actors of a run
//!
//! ```text
//!                  FetchPage                      ParsePages (groups of pages)
//!   Coordinator ─────────────▶ Fetcher      Coordinator ─────────────▶ Parser × cores (SyncArbiter)
//!        ▲  ◀───────────────── (own arbiter)     ▲  ◀───────────────── PagesParsed (RecordBatch)
//!        │       PageFetched                     │
//!        │                                       │  WriteBatch (in API order), FinishFiles
//!        └───────────────────────────────────────┴─────────────▶ Writer (own arbiter)
//!                                                   ◀───────────── BatchWritten, FilesFinished
//! ```
//!
//! - [`actors::coordinator::Coordinator`] alone holds the listing's position: the v2 cursor, the
//!   v1 scroll param (an explicit state machine: open, waiting for the lock, restarting), or the
//!   v1 page numbers. It asks for the next page the moment a page arrives (a scroll is never left
//!   idle: pages past the memory budget wait in a [`buffer::PageBuffer`] spill file), groups
//!   pages into batches of thousands of rows for the parsers, drops rows already written
//!   ([`dedupe::SeenIds`], every listing), sends batches to the writer in listing order, and bounds
//!   the bytes in flight. Every page and every deduplicated batch passes its
//!   [`listing::ListingGuard`], which stops a listing that loops and keeps the counts the API
//!   announced, against which the run checks its output before publishing anything.
//! - [`actors::fetcher::Fetcher`] owns the [`api::ApiClient`]: reqwest over rustls, every request
//!   through one governor limiter, transient failures retried under a backon backoff.
//! - [`actors::parser::Parser`]s own a [`schema::PageDecoder`] each: page JSON straight to Arrow;
//!   a page that does not decode goes record by record, and a value that does not fit its column
//!   is kept in `_extra` ([`schema::repair`]).
//! - [`actors::writer::Writer`] owns a [`sink::Sink`]: rolling Parquet and/or Arrow IPC parts in
//!   the run's staging directory; in v2 cursor runs it also checkpoints (closes its parts at a
//!   batch boundary and records the cursor after them) so that `--resume` can go on.
//!
//! # Shutdown order
//!
//! The last page arrives (the listing state becomes `Exhausted`); the Coordinator waits until no
//! page is pending, parsing or being written, then sends `FinishFiles`; the Writer closes and
//! renames its last part and answers `FilesFinished`; the Coordinator hands its verdict to
//! [`run::run_dump`] and stops the system, which stops the arbiters. `run_dump` then compares
//! what was written with what the listing announced (a shortfall or an excess publishes nothing
//! unless `--allow-incomplete`), publishes the staging directory in one step, then
//! `_manifest.json`, then `_SUCCESS` (an earlier dump waits aside until then, and is put back if
//! anything fails), and lets go of the output's [`sink::OutputLock`]. On any fatal error the
//! Coordinator stops the system at once with the error, and the unpublished staging directory is
//! removed. SIGINT and SIGTERM stop the system the same way ([`interrupt`]), and the run returns
//! [`DumpError::Interrupted`].
//!
//! The actors are thin: [`api`], [`schema`], [`sink`] and [`sim`] are plain Rust, usable and
//! tested without actix. [`bench`] measures whole runs against the simulator, in process.

mod actors;
pub mod api;
mod buffer;
pub mod config;
mod dedupe;
pub mod error;
pub mod interrupt;
mod listing;
pub mod progress;
pub mod run;
pub mod schema;
pub mod sink;
mod source;
pub mod version;
pub mod walk;

pub use config::Config;
pub use error::DumpError;
pub use listing::{LoopError, Verdict};
pub use run::{RunHooks, Summary, declared_attributes, run_dump, run_dump_with};
