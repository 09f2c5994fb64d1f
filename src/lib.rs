//! intercom-dump: every contact and company of an Intercom workspace, into Parquet, fast and whole.
//!
//! The public API is [`run_dump`] with a validated [`Config`], answering a [`Summary`] or a
//! [`DumpError`]; [`walk::walk`] walks a listing without writing; [`check::check`] says what a
//! dump would meet and do, in a few requests; [`schema::PageDecoder`] and
//! [`sink::RollingWriter`] are the two hot paths, usable alone.
//!
//! # The actors of a run
//!
//! ```text
//!                  FetchPage                      ParsePages (groups of pages)
//!   Coordinator ─────────────▶ Fetcher      Coordinator ─────────────▶ Parser × cores (SyncArbiter)
//!   (Listing)   ◀───────────── (own arbiter)     ▲  ◀───────────────── PagesParsed (RecordBatch)
//!        │       PageFetched                     │
//!        │                                       │  WriteBatch (in listing order), FinishFiles
//!        └───────────────────────────────────────┴─────────────▶ Writer (own arbiter)
//!        │                                          ◀───────────── BatchWritten, FilesFinished
//!        │  RelateContacts (each written batch), FinishRelations
//!        └──────────────────────────────────────────────────────▶ Relater (own arbiter, --relations)
//!                                                   ◀───────────── RelationsFinished
//!           Relater ── FetchPage (a contact's whole list) ──▶ Fetcher ── PageFetched ──▶ Relater
//! ```
//!
//! - The Coordinator (`actors/coordinator.rs`) is flow control only. It alone holds the run's
//!   listing (`listing/`: the v2 cursor, the search's parts walked at once, the scroll (v1
//!   users and leads, 2.x companies), the page list, the reference lists' one request, each a
//!   pure state machine with an injected clock) and asks it, after every event, what to
//!   request (a search: as many calls in flight as the rate limit keeps busy); sends those
//!   calls to the Fetcher; hands what the listing delivers to a bounded page buffer
//!   (a listing that can pause waits for room, a scroll spills to disk), groups pages for the
//!   Parsers, drops rows already written (by the source's key), and sends batches to the
//!   Writer in delivery order, each with the listing's resume token after it. The listing's
//!   guard sees every page and every deduplicated batch: it stops a listing that loops and
//!   keeps the counts the API announced, against which the output is checked before publishing.
//! - The Fetcher owns the API client (`api::client`): reqwest over rustls, every request through one
//!   governor limiter, failures classified and retried under a backon backoff. It sends a
//!   listing's `Call` to the endpoints of the run's source (`source/`: endpoints, envelope,
//!   schema, key, partition column, attribute model; one file a source, the small reference
//!   lists sharing one).
//! - The Parsers own a [`schema::PageDecoder`] each: page JSON straight to Arrow; a page that
//!   does not decode goes record by record, and a value that does not fit its column is kept
//!   in `_extra` ([`schema::repair`]).
//! - The Writer owns a [`sink::Sink`]: rolling Parquet and/or Arrow IPC parts in the run's
//!   staging area, through the output's store (`store/`: a local folder, or object storage
//!   where each part is a multipart upload streaming up as it is written, a slow store holding
//!   the Writer back); for a listing that can resume it also checkpoints (closes its parts at a
//!   batch boundary and records the resume token after them) so that `--resume` can go on.
//! - The Relater (a contacts dump with `--relations`) owns the relation tables' rows and sinks
//!   (`relations`, `source::relation`): it writes the contacts' whole inline lists and asks the
//!   Fetcher for the others, several at once through the same rate limiter as the listing.
//!
//! # Shutdown order
//!
//! The listing answers `Done`; the Coordinator waits until no page is buffered, parsing or
//! being written, then sends `FinishFiles`; the Writer closes its last part and answers
//! `FilesFinished` (the Relater, sent `FinishRelations` at the same time, answers
//! `RelationsFinished` once its last follow-up call is in and its files are closed); once both
//! are in, the Coordinator hands its outcome to [`run::run_dump`] and stops the
//! system, which stops the arbiters; `run_dump` joins the Writer's and Relater's threads, so that
//! nothing writes into the staging after that. It then compares what was written with what the
//! listing announced (a shortfall or an excess publishes nothing unless `--allow-incomplete`),
//! and publishes each table through the output's destination (`sink::destination`): on a disk,
//! `_manifest.json` and `_SUCCESS` into the staged directory, moved into place in one step (an
//! earlier dump waits aside until then, and is put back if anything fails); on object storage,
//! the parts copied beside the table and the manifest put conditionally, the commit two racing
//! runs cannot both make (`sink::publish_object`). Then it lets go of the table's lock. On any
//! fatal error the Coordinator stops the system at once with the error, and the unpublished
//! staging is removed. SIGINT and SIGTERM stop the system the same way ([`interrupt`]), and the
//! run returns [`DumpError::Interrupted`].
//!
//! An incremental run (`--incremental`, [`incremental`]) is the same system, its search narrowed to
//! the records updated since the table's mark (read from the table's `_state.json` before
//! anything is staged): it stages the change set as a table of its own, `contacts/run=<id>`,
//! publishes it the same way, and commits the new state last. With `--reconcile`
//! ([`reconcile`]) it first walks every id the API lists, without the pipeline, and stages
//! tombstones for the ids the table holds that are gone.
//!
//! `--source all` ([`workspace`]) runs one such system per table, side by side on threads
//! sharing one rate limiter, and writes `_workspace.json` once every table is published; a signal
//! stops every system.
//!
//! The actors are thin: listings, the API client, decoders, writers and stores are plain Rust,
//! tested without actix. The Intercom simulator is its own crate (`intercom-sim`), and the
//! `bench` command lives in the binary (`src/cli/`).

mod actors;
pub mod api;
mod buffer;
pub mod check;
pub mod config;
mod dedupe;
pub mod error;
pub mod incremental;
pub mod interrupt;
mod listing;
pub mod progress;
pub mod reconcile;
mod relations;
pub mod run;
pub mod schema;
pub mod sink;
mod source;
mod store;
pub mod version;
pub mod walk;
pub mod workspace;

pub use config::Config;
pub use error::DumpError;
pub use listing::{LoopError, Verdict};
pub use relations::RelationCount;
pub use run::{RunHooks, Summary, declared_attributes, run_dump, run_dump_with};
