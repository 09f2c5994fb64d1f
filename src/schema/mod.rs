//! Arrow schemas of the objects the API lists ([`contact`]), the custom decoders that give
//! Intercom's loose JSON its types ([`decoders`]), and the page decoder that turns page bodies
//! into `RecordBatch`es in one pass ([`decode`]).

pub mod contact;
pub mod custom;
pub mod decode;
pub mod decoders;
pub mod v1;

pub use custom::{AttributeType, DeclaredAttribute};
pub use decode::PageDecoder;

/// Why page JSON could not become a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("a page's records do not fit the {schema} schema: {message}; re-run with RUST_LOG=debug and report it")]
    Json { schema: &'static str, message: String },
    #[error("{count} record(s) in a page have no id: the API answered records that cannot be told apart; report it to Intercom")]
    MissingId { count: usize },
}
