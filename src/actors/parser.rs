//! The Parser actor: CPU work on a `SyncArbiter`, one per core. Each owns a [`PageDecoder`]
//! and turns groups of page bodies into one Arrow `RecordBatch`.

use actix::prelude::*;
use arrow::array::RecordBatch;

use crate::api::FetchedPage;
use crate::schema::{DecodeError, PageDecoder};

/// Decode these pages, in order, into one batch.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ParsePages {
    /// The Coordinator's sequence number, so batches are written in API order.
    pub seq: u64,
    pub pages: Vec<FetchedPage>,
    pub reply_to: Recipient<PagesParsed>,
}

/// A group of pages was decoded, or could not be.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PagesParsed {
    pub seq: u64,
    /// The page bytes this group held, now released.
    pub bytes: usize,
    pub result: Result<RecordBatch, DecodeError>,
    /// Custom attribute values that did not fit their declared type.
    pub misfits: u64,
    /// Values kept in `_extra` because they did not fit their column, and text replaced.
    pub repairs: crate::schema::Repairs,
}

pub(crate) struct Parser {
    decoder: PageDecoder,
}

impl Parser {
    pub(crate) fn new(decoder: PageDecoder) -> Parser {
        Parser { decoder }
    }
}

impl Actor for Parser {
    type Context = SyncContext<Self>;
}

/// Sent by the Coordinator when a group of pages is ready.
impl Handler<ParsePages> for Parser {
    type Result = ();

    fn handle(&mut self, msg: ParsePages, _ctx: &mut Self::Context) {
        let bytes = msg.pages.iter().map(FetchedPage::size).sum();
        let result = self.decoder.decode_pages(&msg.pages);
        drop(msg.pages);
        let misfits = self.decoder.take_misfits();
        let repairs = self.decoder.take_repairs();
        msg.reply_to.do_send(PagesParsed { seq: msg.seq, bytes, result, misfits, repairs });
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        super::stop_on_panic("parser");
    }
}
