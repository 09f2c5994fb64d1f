//! What every listing shares, whatever its style (cursor, scroll, page list): the checks that
//! keep it finite and prove it whole ([`guard`]).

pub mod guard;

pub use guard::{ListingGuard, LoopError, Verdict};
