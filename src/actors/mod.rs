//! The actors of a run, one file each, with their messages: [`coordinator`] (holds the listing,
//! paces everything), [`fetcher`] (HTTP), [`parser`] (JSON to Arrow, on a `SyncArbiter`) and
//! [`writer`] (Arrow to files), and [`relater`] (a contacts dump's relation tables, complete). They stay thin: the work is done by the plain types of
//! `listing`, `api`, `schema` and `sink`, which they own.

pub(crate) mod coordinator;
pub(crate) mod fetcher;
pub(crate) mod parser;
pub(crate) mod relater;
pub(crate) mod writer;
