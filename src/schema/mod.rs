//! Arrow schemas of the objects the API lists (the v2 contact in [`contact`], the v1 user and
//! lead in [`v1`], the company in [`company`], the reference objects in [`reference`]), the typed columns of declared custom attributes ([`custom`]), the custom
//! decoders that give Intercom's loose JSON its types ([`decoders`]), and the page decoder that
//! turns page bodies into `RecordBatch`es in one pass ([`decode`]), falling back record by
//! record for the pages that do not, and keeping what does not fit in `_extra` ([`repair`]).
//! Which schema a source uses is the source's to say (`source/`).

pub mod company;
pub mod contact;
pub mod custom;
pub mod decode;
pub mod decoders;
pub mod reference;
pub mod repair;
pub mod v1;

pub use custom::{AttributeType, DeclaredAttribute};
pub use decode::PageDecoder;
pub use repair::Repairs;

/// Why page JSON could not become a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{page}: the records do not fit the {schema} schema: {message}; re-run with RUST_LOG=debug and report it")]
    Json { schema: &'static str, page: String, message: String },
    #[error("{page}: {count} record(s) have no {key}: the API answered records that cannot be told apart; report it to Intercom")]
    MissingId { count: usize, key: &'static str, page: String },
}
