//! The Relater actor: fills the relation tables of a contacts dump (`contact_tags`,
//! `contact_companies`) on an arbiter thread of its own. It owns the [`Relations`] (the rows,
//! the lists still to fetch, the counts) and one [`Sink`] per table. The contacts come from the
//! Coordinator as they are written; the lists a contact's inline entries leave short are asked
//! of the Fetcher, several at once, sharing the run's rate limiter with the listing, so the
//! follow-up calls overlap the listing instead of queueing after it.

use actix::prelude::*;
use arrow::array::RecordBatch;

use super::fetcher::{FetchPage, PageFetched};
use crate::error::DumpError;
use crate::relations::{RelationCount, Relations};
use crate::sink::{Sink, WrittenFile};
use crate::source::relation::RelationSpec;

/// Follow-up calls in flight at once: enough to keep Intercom's 166 requests a second busy at
/// up to 350 ms a request (as many as a search keeps in flight); the limiter decides when each
/// goes.
const FOLLOW_UPS_IN_FLIGHT: usize = 64;

/// Relate these contacts: they are written (deduplicated, each contact once).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RelateContacts {
    pub batch: RecordBatch,
    /// Where the verdict goes, and a failure at once.
    pub reply_to: Recipient<RelationsFinished>,
}

/// Every contact has been sent: finish the lists still being fetched, then the files.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FinishRelations {
    pub reply_to: Recipient<RelationsFinished>,
}

/// The relation tables are written (or the run must stop).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RelationsFinished {
    pub result: Result<Vec<RelationOutcome>, DumpError>,
}

/// One relation table, written.
#[derive(Debug)]
pub(crate) struct RelationOutcome {
    pub spec: &'static RelationSpec,
    pub files: Vec<WrittenFile>,
    pub count: RelationCount,
}

pub(crate) struct Relater {
    relations: Relations,
    /// One per relation, in the order of `relations.specs()`; taken when finished.
    sinks: Vec<Option<Sink>>,
    fetcher: Recipient<FetchPage>,
    /// Rows a written batch holds (the last may hold fewer).
    batch_rows: usize,
    reply_to: Option<Recipient<RelationsFinished>>,
    finishing: bool,
    ended: bool,
}

impl Relater {
    pub(crate) fn new(sinks: Vec<Sink>, fetcher: Recipient<FetchPage>, batch_rows: usize) -> Relater {
        Relater {
            relations: Relations::new(),
            sinks: sinks.into_iter().map(Some).collect(),
            fetcher,
            batch_rows: batch_rows.max(1),
            reply_to: None,
            finishing: false,
            ended: false,
        }
    }

    /// Sends what is queued, writes full batches, and finishes when asked and all is in.
    fn advance(&mut self, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        while self.relations.in_flight() < FOLLOW_UPS_IN_FLIGHT {
            let Some(call) = self.relations.next_call() else { break };
            self.fetcher.do_send(FetchPage { call, after: None, reply_to: ctx.address().recipient() });
        }
        let finish = self.finishing && self.relations.is_idle();
        self.write(finish)?;
        if finish {
            let mut outcomes = Vec::new();
            for ((spec, sink), count) in self.relations.specs().zip(&mut self.sinks).zip(self.relations.counts()) {
                let files = match sink.take() {
                    Some(sink) => sink.finish()?,
                    None => Vec::new(),
                };
                outcomes.push(RelationOutcome { spec, files, count });
            }
            self.end(Ok(outcomes));
        }
        Ok(())
    }

    fn write(&mut self, all: bool) -> Result<(), DumpError> {
        for (index, batch) in self.relations.batches(self.batch_rows, all) {
            if let Some(sink) = self.sinks.get_mut(index).and_then(Option::as_mut) {
                sink.write(&batch)?;
            }
        }
        Ok(())
    }

    fn end(&mut self, result: Result<Vec<RelationOutcome>, DumpError>) {
        self.ended = true;
        if let Some(reply_to) = self.reply_to.take() {
            reply_to.do_send(RelationsFinished { result });
        }
    }

    fn step(&mut self, ctx: &mut Context<Self>, result: Result<(), DumpError>) {
        if let Err(error) = result.and_then(|()| self.advance(ctx)) {
            self.end(Err(error));
        }
    }
}

impl Actor for Relater {
    type Context = Context<Self>;
}

/// Sent by the Coordinator with every batch of contacts it sends the Writer.
impl Handler<RelateContacts> for Relater {
    type Result = ();

    fn handle(&mut self, msg: RelateContacts, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        self.reply_to.get_or_insert(msg.reply_to);
        let result = self.relations.contacts(&msg.batch).map_err(DumpError::Aborted);
        self.step(ctx, result);
    }
}

/// Sent by the Fetcher for every follow-up call.
impl Handler<PageFetched> for Relater {
    type Result = ();

    fn handle(&mut self, msg: PageFetched, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        let result = self
            .relations
            .arrived(&msg.call, msg.result)
            .map_err(|error| DumpError::Fetch { page: format!("fetching {}", msg.call.describe(0)), error });
        self.step(ctx, result);
    }
}

/// Sent by the Coordinator once, when every contact is written.
impl Handler<FinishRelations> for Relater {
    type Result = ();

    fn handle(&mut self, msg: FinishRelations, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        self.reply_to.get_or_insert(msg.reply_to);
        self.finishing = true;
        self.step(ctx, Ok(()));
    }
}

impl Drop for Relater {
    fn drop(&mut self) {
        super::stop_on_panic("relater");
    }
}
