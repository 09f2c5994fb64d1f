//! The Coordinator actor: flow control. It alone holds the run's [`Listing`] (and so its
//! cursors and scroll param), asks it what to request and tells it what arrived; keeps pages
//! within the memory budget ([`PageBuffer`]: a listing that can pause waits for room, one that
//! cannot, a scroll, has its extra pages spill to disk); groups pages for the Parsers; drops
//! rows already written ([`SeenIds`]); and hands batches to the Writer in the order the listing
//! delivered them, each with the listing's resume token after it. It knows nothing of any
//! listing's style: what it needs to know, the listing says about itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::Instant;

use actix::prelude::*;
use arrow::array::RecordBatch;

use super::fetcher::{FetchPage, PageFetched};
use super::parser::{PagesParsed, ParsePages};
use super::relater::{FinishRelations, RelateContacts, RelationOutcome, RelationsFinished};
use super::writer::{BatchWritten, FilesFinished, FinishFiles, WriteBatch};
use crate::api::FetchedPage;
use crate::buffer::{Overflow, PageBuffer};
use crate::config::{Config, Mode};
use crate::dedupe::SeenIds;
use crate::error::DumpError;
use crate::listing::{Listing, ListingGuard, Step};
use crate::progress::Progress;
use crate::sink::{SinkError, WrittenFile};

/// How a run's pipeline ended, when it ended well.
#[derive(Debug)]
pub(crate) struct PipelineOutcome {
    pub files: Vec<WrittenFile>,
    pub total_count: Option<u64>,
    /// The listing walked (`auto` resolved).
    pub mode: Mode,
    pub restarts: u32,
    /// Rows dropped because their id had been written already.
    pub duplicates_dropped: u64,
    /// Ids remembered for deduplication, and the heap they took.
    pub ids_remembered: u64,
    pub dedupe_bytes: u64,
    /// Page bytes that waited in the spill file.
    pub spilled_bytes: u64,
    /// The most page bytes held in memory at once (buffered and being parsed), and the largest
    /// page.
    pub peak_buffered_bytes: u64,
    pub largest_page_bytes: u64,
    /// Custom attribute values that did not fit their declared type (kept in the JSON column).
    pub custom_attribute_misfits: u64,
    /// The listing's announced counts and loop checks, for the completeness verdict.
    pub guard: ListingGuard,
    /// Values kept in `_extra` because they did not fit their column, and text replaced.
    pub repairs: crate::schema::Repairs,
    /// The relation tables written beside the contacts, when asked for.
    pub relations: Vec<RelationOutcome>,
}

/// Where the Coordinator sends its work: recipients, so tests can stand in for any actor.
pub(crate) struct Peers {
    pub fetcher: Recipient<FetchPage>,
    pub parsers: Recipient<ParsePages>,
    pub writer: Recipient<WriteBatch>,
    pub finisher: Recipient<FinishFiles>,
    /// The Relater, when the run writes relation tables: it gets every batch the Writer gets.
    pub relater: Option<RelaterPeers>,
}

pub(crate) struct RelaterPeers {
    pub contacts: Recipient<RelateContacts>,
    pub finisher: Recipient<FinishRelations>,
}

pub(crate) struct Coordinator {
    config: Arc<Config>,
    peers: Peers,
    progress: Arc<Progress>,
    done: Option<Sender<Result<PipelineOutcome, DumpError>>>,
    listing: Box<dyn Listing>,
    /// The listing has delivered its last page.
    exhausted: bool,
    /// The run has ended, well or not: later messages are ignored.
    ended: bool,
    total_count: Option<u64>,
    /// Pages fetched and not yet handed to a parser.
    buffer: PageBuffer,
    /// Groups of pages inside parsers, and their bytes.
    parsing: usize,
    parsing_bytes: usize,
    peak_buffered_bytes: usize,
    largest_page_bytes: usize,
    next_seq: u64,
    /// Parsed batches waiting for their turn to be written.
    parsed: BTreeMap<u64, RecordBatch>,
    /// The listing's resume token after each dispatched group, by sequence number.
    resume_by_seq: BTreeMap<u64, Option<String>>,
    next_write_seq: u64,
    writing: usize,
    finishing: bool,
    /// Ids written so far: any listing can serve a record twice.
    seen: SeenIds,
    misfits: u64,
    repairs: crate::schema::Repairs,
    /// Reused for the pages a listing hands on.
    ready: Vec<FetchedPage>,
    /// What the Writer and the Relater finished with: the run ends when both are in.
    files: Option<Vec<WrittenFile>>,
    relations: Option<Vec<RelationOutcome>>,
}

const WRITES_IN_FLIGHT: usize = 2;

impl Coordinator {
    pub(crate) fn new(
        config: Arc<Config>,
        listing: Box<dyn Listing>,
        peers: Peers,
        buffer: PageBuffer,
        progress: Arc<Progress>,
        done: Sender<Result<PipelineOutcome, DumpError>>,
    ) -> Coordinator {
        Coordinator {
            seen: SeenIds::new(),
            config,
            peers,
            progress,
            done: Some(done),
            listing,
            exhausted: false,
            ended: false,
            total_count: None,
            buffer,
            parsing: 0,
            parsing_bytes: 0,
            peak_buffered_bytes: 0,
            largest_page_bytes: 0,
            next_seq: 0,
            parsed: BTreeMap::new(),
            resume_by_seq: BTreeMap::new(),
            next_write_seq: 0,
            writing: 0,
            finishing: false,
            misfits: 0,
            repairs: Default::default(),
            ready: Vec::new(),
            files: None,
            relations: None,
        }
    }

    fn buffered_bytes(&self) -> usize {
        self.buffer.memory_bytes() + self.parsing_bytes
    }

    fn has_room(&self) -> bool {
        self.buffered_bytes() < self.config.pipeline.max_buffer_bytes
    }

    /// Sends what the listing asks for, until it waits or is done.
    fn request_pages(&mut self, ctx: &mut Context<Self>) {
        loop {
            match self.listing.next(self.has_room(), Instant::now()) {
                Step::Send { call, after } => {
                    let after = (!after.is_zero()).then_some(after);
                    self.peers.fetcher.do_send(FetchPage { call, after, reply_to: ctx.address().recipient() });
                }
                Step::Wait => return,
                Step::Done => {
                    self.exhausted = true;
                    return;
                }
            }
        }
    }

    /// Hands full groups of pages to the parsers (and a partial one when no more can come soon).
    fn dispatch(&mut self, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        let max_parsing = self.config.pipeline.parsers * 2;
        let group = (self.config.pipeline.batch_rows / self.listing.records_per_page().max(1)).max(1);
        // Parsed batches waiting on the writer count too: when it stalls, pages wait in the
        // buffer (and its spill file), not as batches in memory.
        while self.parsing + self.parsed.len() < max_parsing && !self.buffer.is_empty() {
            let more_coming = self.has_room() && !self.exhausted;
            if self.buffer.len() < group && more_coming {
                break;
            }
            let take = group.min(self.buffer.len());
            let mut pages = Vec::with_capacity(take);
            for _ in 0..take {
                let page = self.buffer.pop().map_err(|e| spill_error(&self.buffer, e))?;
                pages.extend(page);
            }
            let bytes: usize = pages.iter().map(FetchedPage::size).sum();
            self.parsing += 1;
            self.parsing_bytes += bytes;
            let seq = self.next_seq;
            self.next_seq += 1;
            if self.listing.resumable() {
                self.resume_by_seq.insert(seq, pages.last().and_then(|p| p.resume_at.clone()));
            }
            self.peers.parsers.do_send(ParsePages { seq, pages, reply_to: ctx.address().recipient() });
        }
        Ok(())
    }

    /// Sends parsed batches to the writer in sequence order, leaving out rows already written.
    fn write_ready(&mut self, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        while self.writing < WRITES_IN_FLIGHT {
            let Some(batch) = self.parsed.remove(&self.next_write_seq) else { break };
            let resume_at = self.resume_by_seq.remove(&self.next_write_seq).flatten();
            self.next_write_seq += 1;
            let served = batch.num_rows() as u64;
            let batch = self
                .seen
                .retain_new(batch, self.config.source.spec().key)
                .map_err(|e| DumpError::Aborted(format!("deduplicating a batch: {e}")))?;
            let fresh = batch.num_rows() as u64;
            self.listing.guard_mut().rows(fresh, served - fresh)?;
            if batch.num_rows() == 0 {
                continue;
            }
            self.writing += 1;
            if let Some(relater) = &self.peers.relater {
                relater.contacts.do_send(RelateContacts { batch: batch.clone(), reply_to: ctx.address().recipient() });
            }
            self.peers.writer.do_send(WriteBatch { batch, resume_at, reply_to: ctx.address().recipient() });
        }
        Ok(())
    }

    fn finish_if_complete(&mut self, ctx: &mut Context<Self>) {
        let drained = self.buffer.is_empty() && self.parsing == 0 && self.parsed.is_empty() && self.writing == 0;
        if self.exhausted && drained && !self.finishing {
            self.finishing = true;
            self.peers.finisher.do_send(FinishFiles { reply_to: ctx.address().recipient() });
            match &self.peers.relater {
                Some(relater) => relater.finisher.do_send(FinishRelations { reply_to: ctx.address().recipient() }),
                None => self.relations = Some(Vec::new()),
            }
        }
    }

    /// Ends the run well once the Writer's files and the Relater's tables are both in.
    fn end_when_finished(&mut self, ctx: &mut Context<Self>) {
        if self.files.is_some() && self.relations.is_some() {
            let files = self.files.take().unwrap_or_default();
            let mut outcome = self.outcome(files);
            outcome.relations = self.relations.take().unwrap_or_default();
            self.end(Ok(outcome), ctx);
        }
    }

    /// After any change: ask for pages there is room for, feed the parsers and the writer, and
    /// finish when all is done.
    fn advance(&mut self, ctx: &mut Context<Self>) {
        self.request_pages(ctx);
        let result = self.dispatch(ctx).and_then(|()| self.write_ready(ctx));
        match result {
            Ok(()) => self.finish_if_complete(ctx),
            Err(error) => self.end(Err(error), ctx),
        }
    }

    /// Queues the pages the listing handed on. Past the memory budget a listing that cannot
    /// pause has its pages wait on disk; the others' stay in memory while they pause.
    fn queue_ready(&mut self) -> Result<(), DumpError> {
        let overflow = if self.listing.can_pause() { Overflow::Hold } else { Overflow::Spill };
        for page in std::mem::take(&mut self.ready) {
            let parsing = self.parsing_bytes;
            self.buffer.push(page, parsing, overflow).map_err(|e| spill_error(&self.buffer, e))?;
        }
        self.peak_buffered_bytes = self.peak_buffered_bytes.max(self.buffered_bytes());
        Ok(())
    }

    fn end(&mut self, result: Result<PipelineOutcome, DumpError>, ctx: &mut Context<Self>) {
        self.ended = true;
        if let Err(error) = &result {
            tracing::debug!(%error, "the run failed");
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        self.parsed.clear();
        ctx.stop();
        System::current().stop();
    }

    /// A page (or a failure) for `call`: to the listing, and its ready pages to the buffer.
    fn arrived(&mut self, msg: PageFetched, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        let number = self.progress.pages.load(Ordering::Relaxed) + 1;
        let now = Instant::now();
        let mut page = match msg.result {
            Ok(page) => page,
            Err(error) => {
                let failed = self.listing.request_failed(&msg.call, error, now);
                return failed.map_err(|e| DumpError::from_listing(e, &msg.call, number, self.config.source.name()));
            }
        };
        page.page.origin = msg.call.describe(number).into();
        if page.replaced_text > 0 {
            tracing::warn!(page = %page.page.origin, replaced = page.replaced_text, "text that was not UTF-8 (or half a surrogate pair) replaced by U+FFFD");
            self.repairs.replaced_text += page.replaced_text;
        }
        if let Some(total) = page.total_count {
            self.seen.expect(total);
            self.total_count = Some(total);
            self.progress.total.store(total, Ordering::Relaxed);
        }
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        self.progress.page_bytes.fetch_add(page.page.size() as u64, Ordering::Relaxed);
        self.largest_page_bytes = self.largest_page_bytes.max(page.page.size());
        let mut ready = std::mem::take(&mut self.ready);
        let result = self.listing.page_arrived(&msg.call, page, now, &mut ready);
        self.ready = ready;
        result.map_err(|e| DumpError::from_listing(e, &msg.call, number, self.config.source.name()))?;
        // A scroll asks for its next page before anything else: it must not idle. A listing
        // that pauses asks once its pages are counted against the budget (`advance`).
        if !self.listing.can_pause() {
            self.request_pages(ctx);
        }
        self.queue_ready()
    }

    fn outcome(&mut self, files: Vec<WrittenFile>) -> PipelineOutcome {
        PipelineOutcome {
            files,
            total_count: self.total_count,
            mode: self.listing.mode(),
            restarts: self.listing.restarts(),
            duplicates_dropped: self.seen.dropped(),
            ids_remembered: self.seen.len() as u64,
            dedupe_bytes: self.seen.heap_bytes() as u64,
            spilled_bytes: self.buffer.spilled_bytes(),
            peak_buffered_bytes: self.peak_buffered_bytes as u64,
            largest_page_bytes: self.largest_page_bytes as u64,
            custom_attribute_misfits: self.misfits,
            guard: std::mem::replace(self.listing.guard_mut(), ListingGuard::new(1)),
            repairs: std::mem::take(&mut self.repairs),
            relations: Vec::new(),
        }
    }
}

fn spill_error(buffer: &PageBuffer, error: std::io::Error) -> DumpError {
    SinkError::write(buffer.spill_path(), error).into()
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.request_pages(ctx);
    }
}

/// Sent by the Fetcher for every `FetchPage`.
impl Handler<PageFetched> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: PageFetched, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        match self.arrived(msg, ctx) {
            Ok(()) => self.advance(ctx),
            Err(error) => self.end(Err(error), ctx),
        }
    }
}

/// Sent by a Parser for every `ParsePages`.
impl Handler<PagesParsed> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: PagesParsed, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        self.parsing -= 1;
        self.parsing_bytes -= msg.bytes;
        self.misfits += msg.misfits;
        self.repairs.add(&msg.repairs);
        match msg.result {
            Ok(batch) => {
                self.parsed.insert(msg.seq, batch);
            }
            Err(error) => return self.end(Err(error.into()), ctx),
        }
        self.advance(ctx);
    }
}

/// Sent by the Writer for every `WriteBatch`.
impl Handler<BatchWritten> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: BatchWritten, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        self.writing -= 1;
        if let Err(error) = msg.result {
            return self.end(Err(error.into()), ctx);
        }
        self.progress.records.fetch_add(msg.rows as u64, Ordering::Relaxed);
        self.advance(ctx);
    }
}

/// Sent by the Writer once, after `FinishFiles`.
impl Handler<FilesFinished> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: FilesFinished, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        match msg.result {
            Ok(files) => {
                self.files = Some(files);
                self.end_when_finished(ctx);
            }
            Err(error) => self.end(Err(error.into()), ctx),
        }
    }
}

/// Sent by the Relater once, after `FinishRelations`, or at once when a follow-up call or a
/// relation file fails.
impl Handler<RelationsFinished> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: RelationsFinished, ctx: &mut Self::Context) {
        if self.ended {
            return;
        }
        match msg.result {
            Ok(relations) => {
                self.relations = Some(relations);
                self.end_when_finished(ctx);
            }
            Err(error) => self.end(Err(error), ctx),
        }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        super::stop_on_panic("coordinator");
    }
}
