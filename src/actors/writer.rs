//! The Writer actor: owns the rolling Parquet and Arrow writers of one output, on an arbiter thread of its
//! own (writing is blocking work and nothing else runs there).

use actix::prelude::*;
use arrow::array::RecordBatch;

use std::path::PathBuf;

use crate::sink::checkpoint::Checkpoint;
use crate::sink::{Sink, SinkError, WrittenFile};

/// Append this batch to the output.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WriteBatch {
    pub batch: RecordBatch,
    /// v2 cursor: where the listing goes on after this batch's last page; the Writer
    /// checkpoints there.
    pub resume_at: Option<String>,
    pub reply_to: Recipient<BatchWritten>,
}

/// A batch is in the output (or could not be written).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct BatchWritten {
    pub rows: usize,
    pub result: Result<(), SinkError>,
}

/// Close the open part: every batch has been sent.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FinishFiles {
    pub reply_to: Recipient<FilesFinished>,
}

/// Every part is complete under its final name.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FilesFinished {
    pub result: Result<Vec<WrittenFile>, SinkError>,
}

pub(crate) struct Writer {
    sink: Option<Sink>,
    checkpoints: Option<Checkpoints>,
    /// The caller's hook, before each batch ([`crate::RunHooks::before_write`]).
    before_write: Option<Box<dyn FnMut(usize) + Send>>,
}

/// When and where the Writer checkpoints (v2 cursor runs).
pub(crate) struct Checkpoints {
    /// Where the checkpoint is written.
    pub store: std::sync::Arc<dyn crate::store::Store>,
    pub source: String,
    pub staging_root: PathBuf,
    pub staged_dir: PathBuf,
    /// Rows between checkpoints.
    pub every_rows: u64,
    /// Rows already in the output (a resumed run starts past zero).
    pub records: u64,
    pub rows_since: u64,
    /// What shapes the files, recorded so that a resume can check it has the same.
    pub layout: crate::sink::checkpoint::Layout,
}

impl Writer {
    pub(crate) fn new(
        sink: Sink,
        checkpoints: Option<Checkpoints>,
        before_write: Option<Box<dyn FnMut(usize) + Send>>,
    ) -> Writer {
        Writer { sink: Some(sink), checkpoints, before_write }
    }

    /// Counts the batch; at the interval, closes the open parts and records where to resume.
    fn checkpoint_after(&mut self, rows: usize, resume_at: Option<String>) -> Result<(), SinkError> {
        let (Some(plan), Some(sink)) = (&mut self.checkpoints, &mut self.sink) else { return Ok(()) };
        plan.records += rows as u64;
        plan.rows_since += rows as u64;
        let Some(resume_at) = resume_at else { return Ok(()) };
        if plan.rows_since < plan.every_rows {
            return Ok(());
        }
        let files = sink.checkpoint()?;
        Checkpoint { source: plan.source.clone(), resume_at, records: plan.records, files, layout: Some(plan.layout.clone()) }
            .save(plan.store.as_ref(), &plan.staging_root, &plan.staged_dir)?;
        plan.rows_since = 0;
        Ok(())
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
        if let Some(hook) = &mut self.before_write {
            hook(rows);
        }
        let result = match &mut self.sink {
            Some(sink) => sink.write(&msg.batch),
            None => Err(SinkError::Write { path: Default::default(), reason: "the writer was already finished".into() }),
        };
        let result = result.and_then(|()| self.checkpoint_after(rows, msg.resume_at));
        msg.reply_to.do_send(BatchWritten { rows, result });
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

impl Drop for Writer {
    fn drop(&mut self) {
        super::stop_on_panic("writer");
    }
}
