//! The Writer actor: owns the rolling Parquet and Arrow writers of one output, on an arbiter thread of its
//! own (writing is blocking work and nothing else runs there).

use actix::prelude::*;
use arrow::array::RecordBatch;

use crate::sink::{Sink, SinkError, WrittenFile};

/// Append this batch to the output.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WriteBatch {
    pub seq: u64,
    pub batch: RecordBatch,
    pub reply_to: Recipient<BatchWritten>,
}

/// A batch is in the output (or could not be written).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BatchWritten {
    pub seq: u64,
    pub rows: usize,
    pub result: Result<(), SinkError>,
}

/// Close the open part: every batch has been sent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FinishFiles {
    pub reply_to: Recipient<FilesFinished>,
}

/// Every part is complete under its final name.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FilesFinished {
    pub result: Result<Vec<WrittenFile>, SinkError>,
}

pub struct Writer {
    sink: Option<Sink>,
}

impl Writer {
    pub fn new(sink: Sink) -> Writer {
        Writer { sink: Some(sink) }
    }
}

impl Actor for Writer {
    type Context = Context<Self>;
}

/// Sent by the Coordinator, in sequence order.
impl Handler<WriteBatch> for Writer {
    type Result = ();

    fn handle(&mut self, msg: WriteBatch, _ctx: &mut Self::Context) {
        let rows = msg.batch.num_rows();
        let result = match &mut self.sink {
            Some(sink) => sink.write(&msg.batch),
            None => Err(SinkError::Write { path: Default::default(), reason: "the writer was already finished".into() }),
        };
        msg.reply_to.do_send(BatchWritten { seq: msg.seq, rows, result });
    }
}

/// Sent by the Coordinator once, after the last `BatchWritten`.
impl Handler<FinishFiles> for Writer {
    type Result = ();

    fn handle(&mut self, msg: FinishFiles, _ctx: &mut Self::Context) {
        let result = match self.sink.take() {
            Some(sink) => sink.finish(),
            None => Ok(Vec::new()),
        };
        msg.reply_to.do_send(FilesFinished { result });
    }
}
