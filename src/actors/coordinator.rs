//! The Coordinator actor: alone holds the listing's position (the v2 cursor, the v1 scroll
//! param, the page numbers of a v1 page list), asks the Fetcher for pages, groups them for the
//! Parsers, hands batches to the Writer in listing order, and decides when the run is complete
//! or has failed.
//!
//! A scroll expires when left idle, so it is never paused: the next page is asked for the
//! moment the previous one arrives, and pages that do not fit the memory budget wait in the
//! [`PageBuffer`]'s spill file. A cursor and a page list do not expire; they pause instead.
//! A broken scroll is opened again from the start; [`SeenIds`] keeps the records it serves a
//! second time out of the output, whatever the listing (a cursor can repeat records too).
//! [`ListingGuard`] sees every page and every deduplicated batch: a repeated cursor, a run of
//! empty pages or of nothing but repeats stops the run, and its announced counts are what the
//! output is checked against at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use arrow::array::RecordBatch;

use super::fetcher::{FetchPage, PageFetched, PageRequest};
use super::parser::{PagesParsed, ParsePages};
use super::writer::{BatchWritten, FilesFinished, FinishFiles, WriteBatch};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::buffer::{Overflow, PageBuffer};
use crate::config::{Config, Mode, PageQuery};
use crate::dedupe::SeenIds;
use crate::error::DumpError;
use crate::listing::ListingGuard;
use crate::progress::Progress;
use crate::sink::{SinkError, WrittenFile};

/// Where the listing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingState {
    /// Nothing asked yet.
    Idle,
    /// v1 page list: page 1 is in flight; its `total_count` says whether paging reaches every
    /// record (else `auto` takes the scroll).
    Probing,
    /// v2 cursor: a page is in flight.
    Fetching,
    /// v2 cursor: the buffer is full; the next cursor waits here (a cursor does not expire).
    Paused { next: String },
    /// v1 scroll: the next page of the open scroll is in flight; `param` is `None` while the
    /// scroll is being opened.
    Scrolling { param: Option<String> },
    /// v1 scroll: another scroll holds the workspace's lock; opening is tried again until
    /// `deadline`.
    WaitingForLock { deadline: Instant },
    /// v1 scroll: the open scroll broke; a fresh one is being opened.
    Restarting,
    /// v1 page list: pages `next_page..=last_page` are still to be asked for.
    Paging { next_page: u64, last_page: u64 },
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
    /// Custom attribute values that did not fit their declared type (kept in the JSON column).
    pub custom_attribute_misfits: u64,
    /// The listing's announced counts and loop checks, for the completeness verdict.
    pub guard: Arc<ListingGuard>,
    /// Values kept in `_extra` because they did not fit their column, and text replaced.
    pub repairs: crate::schema::Repairs,
}

/// Where the Coordinator sends its work: recipients, so tests can stand in for any actor.
pub struct Peers {
    pub fetcher: Recipient<FetchPage>,
    pub parsers: Recipient<ParsePages>,
    pub writer: Recipient<WriteBatch>,
    pub finisher: Recipient<FinishFiles>,
}

/// A v1 page list being fetched several pages at a time.
#[derive(Default)]
struct PageWindow {
    in_flight: usize,
    /// Pages that arrived ahead of their turn.
    arrived: BTreeMap<u64, FetchedPage>,
    /// The next page number to move into the buffer.
    next_to_queue: u64,
}

pub struct Coordinator {
    config: Arc<Config>,
    peers: Peers,
    progress: Arc<Progress>,
    done: Option<Sender<Result<PipelineOutcome, DumpError>>>,
    state: ListingState,
    mode: Mode,
    total_count: Option<u64>,
    /// Pages fetched and not yet handed to a parser.
    buffer: PageBuffer,
    /// Groups of pages inside parsers, and their bytes.
    parsing: usize,
    parsing_bytes: usize,
    next_seq: u64,
    /// Parsed batches waiting for their turn to be written.
    parsed: BTreeMap<u64, RecordBatch>,
    next_write_seq: u64,
    writing: usize,
    finishing: bool,
    /// Ids written so far: any listing can serve a record twice.
    seen: SeenIds,
    guard: ListingGuard,
    restarts: u32,
    /// The latest scroll param, and whether this scroll has changed it between pages.
    last_param: Option<String>,
    params_rotate: bool,
    pages: PageWindow,
    query: Arc<PageQuery>,
    misfits: u64,
    repairs: crate::schema::Repairs,
    /// Where the listing goes on after each dispatched group (v2 cursor), by sequence number.
    resume_by_seq: BTreeMap<u64, Option<String>>,
    resume_cursor: Option<String>,
}

const WRITES_IN_FLIGHT: usize = 2;

impl Coordinator {
    pub fn new(
        config: Arc<Config>,
        peers: Peers,
        buffer: PageBuffer,
        progress: Arc<Progress>,
        done: Sender<Result<PipelineOutcome, DumpError>>,
    ) -> Coordinator {
        let mode = config.mode();
        let query = Arc::new(config.listing.query.clone());
        Coordinator {
            seen: SeenIds::new(),
            guard: ListingGuard::new(repeat_run_limit(&config)),
            config,
            peers,
            progress,
            done: Some(done),
            state: ListingState::Idle,
            mode,
            total_count: None,
            buffer,
            parsing: 0,
            parsing_bytes: 0,
            next_seq: 0,
            parsed: BTreeMap::new(),
            next_write_seq: 0,
            writing: 0,
            finishing: false,
            restarts: 0,
            last_param: None,
            params_rotate: false,
            pages: PageWindow::default(),
            query,
            misfits: 0,
            repairs: Default::default(),
            resume_by_seq: BTreeMap::new(),
            resume_cursor: None,
        }
    }

    /// Starts the v2 cursor at `cursor` (a resumed run) instead of the first page.
    pub fn resume_from(mut self, cursor: Option<String>) -> Self {
        self.resume_cursor = cursor;
        self
    }

    pub fn state(&self) -> &ListingState {
        &self.state
    }

    fn request(&mut self, request: PageRequest, ctx: &mut Context<Self>) {
        self.request_after(request, None, ctx);
    }

    fn request_after(&mut self, request: PageRequest, after: Option<Duration>, ctx: &mut Context<Self>) {
        self.peers.fetcher.do_send(FetchPage { request, after, reply_to: ctx.address().recipient() });
    }

    /// The request that opens a scroll.
    fn opening(&self) -> PageRequest {
        PageRequest::Scroll { source: self.config.source, scroll_param: None, params_rotate: false }
    }

    fn fetch_cursor(&mut self, starting_after: Option<String>, ctx: &mut Context<Self>) {
        self.state = ListingState::Fetching;
        self.request(PageRequest::ContactsCursor { starting_after }, ctx);
    }

    fn open_scroll(&mut self, ctx: &mut Context<Self>) {
        self.state = if self.restarts > 0 { ListingState::Restarting } else { ListingState::Scrolling { param: None } };
        self.last_param = None;
        self.params_rotate = false;
        self.request(self.opening(), ctx);
    }

    fn fetch_list_page(&mut self, page: u64, ctx: &mut Context<Self>) {
        self.pages.in_flight += 1;
        let request = PageRequest::ListPage {
            source: self.config.source,
            page,
            per_page: self.config.listing.page_size,
            query: self.query.clone(),
        };
        self.request(request, ctx);
    }

    fn buffered_bytes(&self) -> usize {
        self.buffer.memory_bytes() + self.parsing_bytes
    }

    fn has_room(&self) -> bool {
        self.buffered_bytes() < self.config.pipeline.max_buffer_bytes
    }

    fn records_per_page(&self) -> usize {
        match self.mode {
            Mode::Scroll => crate::sim::scroll::SCROLL_PAGE_SIZE,
            Mode::Pages | Mode::Auto => self.config.listing.page_size as usize,
            Mode::Cursor => self.config.api.per_page as usize,
        }
    }

    /// Hands full groups of pages to the parsers (and a partial one when no more can come soon).
    fn dispatch(&mut self, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        let max_parsing = self.config.pipeline.parsers * 2;
        let group = (self.config.pipeline.batch_rows / self.records_per_page().max(1)).max(1);
        // Parsed batches waiting on the writer count too: when it stalls, pages wait in the
        // buffer (and its spill file), not as batches in memory.
        while self.parsing + self.parsed.len() < max_parsing && !self.buffer.is_empty() {
            let more_coming = self.has_room()
                && matches!(
                    self.state,
                    ListingState::Probing
                        | ListingState::Fetching
                        | ListingState::Scrolling { .. }
                        | ListingState::WaitingForLock { .. }
                        | ListingState::Restarting
                        | ListingState::Paging { .. }
                );
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
            if self.mode == Mode::Cursor {
                self.resume_by_seq.insert(seq, pages.last().and_then(|p| p.resume_at.clone()));
            }
            self.peers.parsers.do_send(ParsePages { seq, pages, reply_to: ctx.address().recipient() });
        }
        self.resume_if_room(ctx);
        Ok(())
    }

    /// Restarts what pauses for memory: the cursor, and the page list's next requests.
    fn resume_if_room(&mut self, ctx: &mut Context<Self>) {
        if let ListingState::Paused { next } = &self.state
            && self.has_room()
        {
            let next = next.clone();
            self.fetch_cursor(Some(next), ctx);
        }
        self.pump_pages(ctx);
    }

    /// Keeps up to `page_concurrency` page-list requests in flight while memory allows.
    fn pump_pages(&mut self, ctx: &mut Context<Self>) {
        while let ListingState::Paging { next_page, last_page } = self.state {
            if next_page > last_page {
                if self.pages.in_flight == 0 && self.pages.arrived.is_empty() {
                    self.state = ListingState::Exhausted;
                }
                return;
            }
            if self.pages.in_flight >= self.config.listing.page_concurrency || !self.has_room() {
                return;
            }
            self.state = ListingState::Paging { next_page: next_page + 1, last_page };
            self.fetch_list_page(next_page, ctx);
        }
    }

    /// Sends parsed batches to the writer in sequence order, leaving out rows already written.
    fn write_ready(&mut self, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        while self.writing < WRITES_IN_FLIGHT {
            let Some(batch) = self.parsed.remove(&self.next_write_seq) else { break };
            let seq = self.next_write_seq;
            self.next_write_seq += 1;
            let resume_at = self.resume_by_seq.remove(&seq).flatten();
            let served = batch.num_rows() as u64;
            let batch = self.seen.retain_new(batch).map_err(|e| DumpError::Aborted(format!("deduplicating a batch: {e}")))?;
            let fresh = batch.num_rows() as u64;
            self.guard.rows(fresh, served - fresh)?;
            if batch.num_rows() == 0 {
                continue;
            }
            self.writing += 1;
            self.peers.writer.do_send(WriteBatch { seq, batch, resume_at, reply_to: ctx.address().recipient() });
        }
        Ok(())
    }

    fn finish_if_complete(&mut self, ctx: &mut Context<Self>) {
        let drained = self.buffer.is_empty() && self.parsing == 0 && self.parsed.is_empty() && self.writing == 0;
        if self.state == ListingState::Exhausted && drained && !self.finishing {
            self.finishing = true;
            self.peers.finisher.do_send(FinishFiles { reply_to: ctx.address().recipient() });
        }
    }

    /// After any change: feed the parsers and the writer, and finish when all is done.
    fn advance(&mut self, ctx: &mut Context<Self>) {
        let result = self.dispatch(ctx).and_then(|()| self.write_ready(ctx));
        match result {
            Ok(()) => self.finish_if_complete(ctx),
            Err(error) => self.end(Err(error), ctx),
        }
    }

    /// Queues a page for the parsers. Past the memory budget a scroll's page waits on disk;
    /// the cursor's and the page list's stay in memory while their listing pauses.
    fn queue(&mut self, page: FetchedPage, overflow: Overflow) -> Result<(), DumpError> {
        if page.is_empty() {
            return Ok(());
        }
        let parsing = self.parsing_bytes;
        self.buffer.push(page, parsing, overflow).map_err(|e| spill_error(&self.buffer, e))
    }

    fn end(&mut self, result: Result<PipelineOutcome, DumpError>, ctx: &mut Context<Self>) {
        self.state = ListingState::Done;
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

    fn on_cursor_page(&mut self, mut page: ListedPage, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        self.guard.page(!page.page.is_empty(), page.total_count, page.next.as_deref())?;
        page.page.resume_at = page.next.clone();
        // Ask for the next page before anything else happens. An empty page that hands out a
        // cursor is followed: only a page without one ends the listing (the guard stops a run of
        // empty pages, and the count check catches an end that comes too early).
        match page.next {
            Some(next) if self.has_room() => self.fetch_cursor(Some(next), ctx),
            Some(next) => self.state = ListingState::Paused { next },
            None => self.state = ListingState::Exhausted,
        }
        self.queue(page.page, Overflow::Hold)
    }

    fn on_scroll_page(&mut self, page: ListedPage, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        if page.page.is_empty() {
            // The end: the API has let the scroll go.
            self.state = ListingState::Exhausted;
            return Ok(());
        }
        let param = page.next.clone().ok_or_else(|| ApiError::BadPage { reason: "a scroll page without scroll_param".into() })?;
        if self.last_param.as_ref().is_some_and(|last| *last != param) {
            self.params_rotate = true;
        }
        // A param that stays the same on every page is the API's way; one that rotates must not
        // come back.
        self.guard.page(true, None, self.params_rotate.then_some(param.as_str()))?;
        self.last_param = Some(param.clone());
        // Ask for the next page before anything else: the scroll must not idle.
        self.state = ListingState::Scrolling { param: Some(param.clone()) };
        let request =
            PageRequest::Scroll { source: self.config.source, scroll_param: Some(param), params_rotate: self.params_rotate };
        self.request(request, ctx);
        self.queue(page.page, Overflow::Spill)
    }

    fn on_scroll_error(&mut self, error: ApiError, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        match error {
            ApiError::ScrollExists { .. } => {
                let now = Instant::now();
                let deadline = match self.state {
                    ListingState::WaitingForLock { deadline } => deadline,
                    _ => now + self.config.listing.scroll_lock_wait,
                };
                if now >= deadline {
                    let waited_secs = self.config.listing.scroll_lock_wait.as_secs();
                    return Err(DumpError::ScrollLocked { waited_secs });
                }
                tracing::warn!(
                    "another scroll holds this workspace's scroll lock; waiting for it to finish or expire (up to {} s more)",
                    deadline.duration_since(now).as_secs()
                );
                self.state = ListingState::WaitingForLock { deadline };
                let poll = self.config.listing.scroll_lock_poll.min(deadline.duration_since(now));
                // The Fetcher waits out the poll interval in the request's own task: with a
                // `run_later` here, the reply to the request it sent was seen to never wake this
                // actor on a loaded machine (actix 0.13), hanging the run.
                self.request_after(self.opening(), Some(poll), ctx);
                Ok(())
            }
            ApiError::ScrollBroken { .. } => {
                self.restarts += 1;
                if self.restarts > self.config.listing.max_restarts {
                    return Err(DumpError::TooManyRestarts { restarts: self.restarts - 1, last: error });
                }
                tracing::warn!(%error, restart = self.restarts, "opening a fresh scroll; records already written are skipped");
                self.guard.restarted();
                self.open_scroll(ctx);
                Ok(())
            }
            error => Err(error.into()),
        }
    }

    fn on_list_page(&mut self, number: u64, page: ListedPage, ctx: &mut Context<Self>) -> Result<(), DumpError> {
        if self.state == ListingState::Probing {
            let total = page.total_count.unwrap_or(0);
            let cap = self.config.listing.page_cap;
            if total > cap {
                if self.config.listing.mode == Some(Mode::Auto) && !self.query.filters() {
                    tracing::info!(total, cap, "the page list cannot reach every record; scrolling instead");
                    self.mode = Mode::Scroll;
                    self.open_scroll(ctx);
                    return Ok(());
                }
                return Err(DumpError::PastPageCap { listing: self.config.source.name(), total, cap });
            }
            self.mode = Mode::Pages;
            let per_page = u64::from(self.config.listing.page_size);
            let last_page = page.total_pages.unwrap_or_else(|| total.div_ceil(per_page)).max(1);
            self.pages.next_to_queue = 1;
            self.state = ListingState::Paging { next_page: 2, last_page };
        }
        self.guard.page(!page.page.is_empty(), page.total_count, None)?;
        // The last page the count announced still says there is a next one: follow it, page by
        // page, as far as the page list reaches at all (its cap); the count check at the end
        // says whether the count or the pages were wrong.
        if let ListingState::Paging { next_page, last_page } = self.state
            && number == last_page
            && page.next.is_some()
            && last_page < self.config.listing.page_cap.div_ceil(u64::from(self.config.listing.page_size))
        {
            tracing::warn!(page = number, "the page list goes on past the pages its count announced; following it");
            self.state = ListingState::Paging { next_page, last_page: last_page + 1 };
        }
        self.pages.arrived.insert(number, page.page);
        while let Some(page) = self.pages.arrived.remove(&self.pages.next_to_queue) {
            self.pages.next_to_queue += 1;
            self.queue(page, Overflow::Hold)?;
        }
        self.pump_pages(ctx);
        Ok(())
    }

    fn outcome(&mut self, files: Vec<WrittenFile>) -> PipelineOutcome {
        PipelineOutcome {
            files,
            total_count: self.total_count,
            mode: self.mode,
            restarts: self.restarts,
            duplicates_dropped: self.seen.dropped(),
            ids_remembered: self.seen.len() as u64,
            dedupe_bytes: self.seen.heap_bytes() as u64,
            spilled_bytes: self.buffer.spilled_bytes(),
            custom_attribute_misfits: self.misfits,
            guard: Arc::new(std::mem::replace(&mut self.guard, ListingGuard::new(1))),
            repairs: std::mem::take(&mut self.repairs),
        }
    }
}

/// Names a page in messages: its number in the run and what asked for it.
fn origin(number: u64, request: &PageRequest) -> String {
    match request {
        PageRequest::ContactsCursor { starting_after: None } => format!("page {number} (the first)"),
        PageRequest::ContactsCursor { starting_after: Some(cursor) } => format!("page {number} (starting_after={cursor})"),
        PageRequest::Scroll { scroll_param: None, .. } => format!("page {number} (a scroll's first)"),
        PageRequest::Scroll { scroll_param: Some(param), .. } => format!("page {number} (scroll_param={param})"),
        PageRequest::ListPage { page, .. } => format!("page {number} (page={page} of the page list)"),
    }
}

/// Rows of nothing but repeats that mean the listing loops: a few batches' worth, and never fewer
/// than ten pages.
fn repeat_run_limit(config: &Config) -> u64 {
    let page = u64::from(config.api.per_page.max(config.listing.page_size)).max(100);
    (3 * config.pipeline.batch_rows as u64).max(10 * page)
}

fn spill_error(buffer: &PageBuffer, error: std::io::Error) -> DumpError {
    SinkError::write(buffer.spill_path(), error).into()
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        match self.mode {
            Mode::Cursor => {
                let start = self.resume_cursor.take();
                self.fetch_cursor(start, ctx)
            }
            Mode::Scroll => self.open_scroll(ctx),
            Mode::Pages | Mode::Auto => {
                self.state = ListingState::Probing;
                self.fetch_list_page(1, ctx);
            }
        }
    }
}

/// Sent by the Fetcher for every `FetchPage`.
impl Handler<PageFetched> for Coordinator {
    type Result = ();

    fn handle(&mut self, mut msg: PageFetched, ctx: &mut Self::Context) {
        if self.state == ListingState::Done {
            return;
        }
        if let Ok(page) = &mut msg.result {
            page.page.origin = origin(self.progress.pages.load(Ordering::Relaxed) + 1, &msg.request).into();
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
        }
        let result = match (msg.request, msg.result) {
            (PageRequest::ContactsCursor { .. }, Ok(page)) => self.on_cursor_page(page, ctx),
            (PageRequest::Scroll { .. }, Ok(page)) => self.on_scroll_page(page, ctx),
            (PageRequest::Scroll { .. }, Err(error)) => self.on_scroll_error(error, ctx),
            (PageRequest::ListPage { page: number, .. }, Ok(page)) => {
                self.pages.in_flight -= 1;
                self.on_list_page(number, page, ctx)
            }
            // A cursor on the run's first page is a resumed run's checkpoint.
            (PageRequest::ContactsCursor { starting_after: Some(_) }, Err(error))
                if self.progress.pages.load(Ordering::Relaxed) == 0 && matches!(error.status(), Some(400 | 404)) =>
            {
                Err(DumpError::ResumeRefused(error))
            }
            (request, Err(error)) => {
                let page = origin(self.progress.pages.load(Ordering::Relaxed) + 1, &request);
                Err(DumpError::Fetch { page: format!("fetching {page}"), error })
            }
        };
        match result {
            Ok(()) => self.advance(ctx),
            Err(error) => self.end(Err(error), ctx),
        }
    }
}

/// Sent by a Parser for every `ParsePages`.
impl Handler<PagesParsed> for Coordinator {
    type Result = ();

    fn handle(&mut self, msg: PagesParsed, ctx: &mut Self::Context) {
        if self.state == ListingState::Done {
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
        if self.state == ListingState::Done {
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
        let result = msg.result.map(|files| self.outcome(files)).map_err(DumpError::from);
        self.end(result, ctx);
    }
}
