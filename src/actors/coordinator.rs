//! The Coordinator actor: alone holds the cursor, asks the Fetcher for the next page the moment
//! one arrives, groups pages for the Parsers, hands batches to the Writer in API order, and
//! decides when the run is complete or has failed.
//!
//! Memory is bounded here, not by mailboxes: page bodies waiting or being parsed count against
//! `max_buffer_bytes`, parse groups in flight are capped at two per parser, and at most two
//! batches wait on the Writer.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;

use actix::prelude::*;
use arrow::array::RecordBatch;

use super::fetcher::{FetchPage, PageFetched, PageRequest};
use super::parser::{PagesParsed, ParsePages};
use super::writer::{BatchWritten, FilesFinished, FinishFiles, WriteBatch};
use crate::api::FetchedPage;
use crate::config::Config;
use crate::error::DumpError;
use crate::progress::Progress;
use crate::sink::WrittenFile;

/// Where the listing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorState {
    /// Nothing asked yet.
    Idle,
    /// A page request is in flight.
    Fetching,
    /// The buffer is full; the next page's cursor waits here. Only the v2 cursor, which does not
    /// expire, may pause.
    Paused { next: String },
    /// The last page has arrived.
    Exhausted,
    /// The run has ended, well or not.
    Done,
}

/// How a run's pipeline ended, when it ended well.
#[derive(Debug, Clone)]
pub struct PipelineOutcome {
    pub files: Vec<WrittenFile>,
    pub total_count: Option<u64>,
}

/// Where the Coordinator sends its work: recipients, so tests can stand in for any actor.
pub struct Peers {
    pub fetcher: Recipient<FetchPage>,
    pub parsers: Recipient<ParsePages>,
    pub writer: Recipient<WriteBatch>,
    pub finisher: Recipient<FinishFiles>,
}

pub struct Coordinator {
    config: Arc<Config>,
    peers: Peers,
    progress: Arc<Progress>,
    done: Option<Sender<Result<PipelineOutcome, DumpError>>>,
    state: CursorState,
    total_count: Option<u64>,
    /// Pages fetched and not yet handed to a parser.
    pending: VecDeque<FetchedPage>,
    pending_bytes: usize,
    /// Groups of pages inside parsers, and their bytes.
    parsing: usize,
    parsing_bytes: usize,
    next_seq: u64,
    /// Parsed batches waiting for their turn to be written.
    parsed: BTreeMap<u64, RecordBatch>,
    next_write_seq: u64,
    writing: usize,
    finishing: bool,
}

const WRITES_IN_FLIGHT: usize = 2;

impl Coordinator {
    pub fn new(
        config: Arc<Config>,
        peers: Peers,
        progress: Arc<Progress>,
        done: Sender<Result<PipelineOutcome, DumpError>>,
    ) -> Coordinator {
        Coordinator {
            config,
            peers,
            progress,
            done: Some(done),
            state: CursorState::Idle,
            total_count: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            parsing: 0,
            parsing_bytes: 0,
            next_seq: 0,
            parsed: BTreeMap::new(),
            next_write_seq: 0,
            writing: 0,
            finishing: false,
        }
    }

    pub fn state(&self) -> &CursorState {
        &self.state
    }

    fn fetch(&mut self, starting_after: Option<String>, ctx: &mut Context<Self>) {
        self.state = CursorState::Fetching;
        let request = PageRequest::ContactsCursor { starting_after };
        self.peers.fetcher.do_send(FetchPage { request, reply_to: ctx.address().recipient() });
    }

    fn buffered_bytes(&self) -> usize {
        self.pending_bytes + self.parsing_bytes
    }

    fn pages_per_group(&self) -> usize {
        (self.config.pipeline.batch_rows / self.config.api.per_page as usize).max(1)
    }

    /// Hands full groups of pages to the parsers (and the last, partial one at the end).
    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        let max_parsing = self.config.pipeline.parsers * 2;
        let group = self.pages_per_group();
        while self.parsing < max_parsing && !self.pending.is_empty() {
            // A partial group goes when no more pages can come until the buffer drains.
            let more_coming = matches!(self.state, CursorState::Fetching);
            if self.pending.len() < group && more_coming {
                break;
            }
            let take = group.min(self.pending.len());
            let pages: Vec<FetchedPage> = self.pending.drain(..take).collect();
            let bytes: usize = pages.iter().map(FetchedPage::size).sum();
            self.pending_bytes -= bytes;
            self.parsing += 1;
            self.parsing_bytes += bytes;
            let seq = self.next_seq;
            self.next_seq += 1;
            self.peers.parsers.do_send(ParsePages { seq, pages, reply_to: ctx.address().recipient() });
        }
        self.resume_if_room(ctx);
    }

    fn resume_if_room(&mut self, ctx: &mut Context<Self>) {
        if let CursorState::Paused { next } = &self.state
            && self.buffered_bytes() < self.config.pipeline.max_buffer_bytes
        {
            let next = next.clone();
            self.fetch(Some(next), ctx);
        }
    }

    /// Sends parsed batches to the writer in sequence order.
    fn write_ready(&mut self, ctx: &mut Context<Self>) {
        while self.writing < WRITES_IN_FLIGHT {
            let Some(batch) = self.parsed.remove(&self.next_write_seq) else { break };
            let seq = self.next_write_seq;
            self.next_write_seq += 1;
            self.writing += 1;
            self.peers.writer.do_send(WriteBatch { seq, batch, reply_to: ctx.address().recipient() });
        }
    }

    fn finish_if_complete(&mut self, ctx: &mut Context<Self>) {
        let drained = self.pending.is_empty() && self.parsing == 0 && self.parsed.is_empty() && self.writing == 0;
        if self.state == CursorState::Exhausted && drained && !self.finishing {
            self.finishing = true;
            self.peers.finisher.do_send(FinishFiles { reply_to: ctx.address().recipient() });
        }
    }

    fn end(&mut self, result: Result<PipelineOutcome, DumpError>, ctx: &mut Context<Self>) {
        self.state = CursorState::Done;
        if let Err(error) = &result {
            tracing::debug!(%error, "the run failed");
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        self.pending.clear();
        self.parsed.clear();
        ctx.stop();
        System::current().stop();
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.fetch(None, ctx);
    }
}

/// Sent by the Fetcher for every `FetchPage`.
impl Handler<PageFetched> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: PageFetched, ctx: &mut Self::Context) {
        if self.state == CursorState::Done {
            return;
        }
        let page = match msg.result {
            Ok(page) => page,
            Err(error) => return self.end(Err(error.into()), ctx),
        };
        if let Some(total) = page.total_count {
            self.total_count = Some(total);
            self.progress.total.store(total, Ordering::Relaxed);
        }
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        self.progress.page_bytes.fetch_add(page.page.size() as u64, Ordering::Relaxed);
        let has_records = !page.page.is_empty();
        if has_records {
            self.pending_bytes += page.page.size();
            self.pending.push_back(page.page);
        }
        // Ask for the next page before anything else happens.
        match page.next {
            Some(next) if has_records && self.buffered_bytes() < self.config.pipeline.max_buffer_bytes => {
                self.fetch(Some(next), ctx)
            }
            Some(next) if has_records => self.state = CursorState::Paused { next },
            _ => self.state = CursorState::Exhausted,
        }
        self.dispatch(ctx);
        self.finish_if_complete(ctx);
    }
}

/// Sent by a Parser for every `ParsePages`.
impl Handler<PagesParsed> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: PagesParsed, ctx: &mut Self::Context) {
        if self.state == CursorState::Done {
            return;
        }
        self.parsing -= 1;
        self.parsing_bytes -= msg.bytes;
        match msg.result {
            Ok(batch) => {
                self.parsed.insert(msg.seq, batch);
            }
            Err(error) => return self.end(Err(error.into()), ctx),
        }
        self.write_ready(ctx);
        self.dispatch(ctx);
    }
}

/// Sent by the Writer for every `WriteBatch`.
impl Handler<BatchWritten> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: BatchWritten, ctx: &mut Self::Context) {
        if self.state == CursorState::Done {
            return;
        }
        self.writing -= 1;
        if let Err(error) = msg.result {
            return self.end(Err(error.into()), ctx);
        }
        self.progress.records.fetch_add(msg.rows as u64, Ordering::Relaxed);
        self.write_ready(ctx);
        self.finish_if_complete(ctx);
    }
}

/// Sent by the Writer once, after `FinishFiles`.
impl Handler<FilesFinished> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: FilesFinished, ctx: &mut Self::Context) {
        let result = msg.result.map(|files| PipelineOutcome { files, total_count: self.total_count }).map_err(DumpError::from);
        self.end(result, ctx);
    }
}
