//! The listings: how a source's records are walked, page by page. Each style (the v2 cursor,
//! the search's windows, `auto`'s choice between those two for contacts, the scroll, the page
//! list, `auto`'s choice between the last two, and a reference list's one request) is a pure
//! state machine: it is told what arrived, what failed and what time it is, and answers with the next
//! request to send (or to wait, or that it is done) and with the pages to write, in order, each
//! carrying the listing's resume token once it is written. No actix, no HTTP, no sleeps inside:
//! the Coordinator drives a [`Listing`], unit tests drive one with an injected clock.
//!
//! A partitioned listing (many cursors walked at once, the search endpoint's ranges) fits the
//! same shape as a listing of listings: [`Listing::next`] asks each child in turn, as many calls
//! in flight as the rate limit keeps busy; each child's [`Call`] carries its own query, so an
//! answer is routed back to the child that asked; pages are handed on as they arrive, whichever
//! child's; and the token a page carries is the set of every child's token at that point
//! (the pages handed on before it are written before it, so that set is where a resumed run goes
//! on). A child done is recorded as done. Its guard adds up its children's announced counts.
//!
//! [`guard`] holds the checks every listing shares: it keeps a listing finite and proves it whole.

mod contacts_auto;
mod cursor;
pub(crate) mod guard;
mod page_list;
mod reference;
mod scroll;
mod search;

use std::time::{Duration, Instant};

pub(crate) use contacts_auto::searches as auto_searches;
pub(crate) use cursor::CursorListing;
pub(crate) use guard::ListingGuard;
pub use guard::{LoopError, Verdict};
pub(crate) use page_list::PageListing;
pub(crate) use scroll::ScrollListing;
pub(crate) use search::SearchListing;

use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::{Config, Mode};
use crate::source::relation::RelationSpec;

/// One API call a listing asks for. The source says which endpoint serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// A page of a v2 cursor list: the first when `starting_after` is `None`.
    Cursor { starting_after: Option<String> },
    /// A page of a v1 scroll; `None` opens one. `params_rotate`: this scroll has been seen to
    /// hand out a new param every page (then a stale param answers 404 instead of skipping).
    Scroll { param: Option<String>, params_rotate: bool },
    /// Page `number` (from 1) of a v1 page list.
    Page { number: u64 },
    /// A page of a search for the records created in `window`, oldest first.
    Search { window: Window, starting_after: Option<String> },
    /// One record of a search for every record (changed since `changed_since`, when given): the
    /// oldest (or the newest), and how many there are.
    Probe { newest: bool, changed_since: Option<i64> },
    /// One record of the plain list (`GET /contacts`), for the count it announces: what a search
    /// dump is compared with.
    Count,
    /// A whole reference list (`GET /tags`...), unpaged.
    List,
    /// A contact's own list of `relation` (its tags, its companies): page `page` (from 1) when
    /// the list is paged.
    Related { relation: &'static RelationSpec, contact_id: String, page: u64 },
}

/// A part of a search: a span of `created_at`, `[from, to)`, either end open, narrowed to the
/// ids ending in `id_suffix` when it has one; `index` names it in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub index: u32,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub id_suffix: Option<String>,
    /// An incremental run's: only the records updated after this time (`updated_at >`).
    pub changed_since: Option<i64>,
}

impl Window {
    /// The window as a search query. `(F = t OR F > t) AND F < t2` means `[t, t2)` where dates
    /// match by the second and `[day(t), day(t2))` where they match by the day (in whatever time
    /// zone): windows that share their cuts cover the time line exactly either way. Ids are
    /// narrowed with `$` (ends with), a string operator every version takes.
    pub(crate) fn query(&self) -> serde_json::Value {
        let filter = |operator: &str, t: i64| serde_json::json!({"field": "created_at", "operator": operator, "value": t});
        let at_or_after = |t: i64| serde_json::json!({"operator": "OR", "value": [filter("=", t), filter(">", t)]});
        let mut parts = match (self.from, self.to) {
            (Some(from), Some(to)) => vec![at_or_after(from), filter("<", to)],
            (Some(from), None) => vec![at_or_after(from)],
            (None, Some(to)) => vec![filter("<", to)],
            // The probes' query (a plan's windows are never open at both ends): every contact of
            // a real workspace, created since 1970.
            (None, None) => vec![at_or_after(0)],
        };
        if let Some(suffix) = &self.id_suffix {
            parts.push(serde_json::json!({"field": "id", "operator": "$", "value": suffix}));
        }
        if let Some(since) = self.changed_since {
            parts.push(serde_json::json!({"field": "updated_at", "operator": ">", "value": since}));
        }
        match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => serde_json::json!({"operator": "AND", "value": parts}),
        }
    }
}

impl Call {
    /// Names the `run_page`-th page of the run in messages, with what asked for it.
    pub(crate) fn describe(&self, run_page: u64) -> String {
        match self {
            Call::Cursor { starting_after: None } => format!("page {run_page} (the first)"),
            Call::Cursor { starting_after: Some(cursor) } => format!("page {run_page} (starting_after={cursor})"),
            Call::Scroll { param: None, .. } => format!("page {run_page} (a scroll's first)"),
            Call::Scroll { param: Some(param), .. } => format!("page {run_page} (scroll_param={param})"),
            Call::Page { number } => format!("page {run_page} (page={number} of the page list)"),
            Call::Search { window, starting_after: None } => format!("page {run_page} (search window {}'s first)", window.index),
            Call::Search { window, starting_after: Some(cursor) } => {
                format!("page {run_page} (search window {}, starting_after={cursor})", window.index)
            }
            Call::Probe { newest, .. } => {
                format!("page {run_page} (the search's {} record)", if *newest { "newest" } else { "oldest" })
            }
            Call::Count => format!("page {run_page} (the list's count)"),
            Call::List => format!("page {run_page} (the whole list)"),
            Call::Related { relation, contact_id, page } => {
                format!("contact {contact_id}'s {} (page {page})", relation.path)
            }
        }
    }

    /// The body of a search call, `per_page` records a page; `None` for the others.
    pub(crate) fn search_body(&self, per_page: u32) -> Option<serde_json::Value> {
        let (query, per_page, order, cursor) = match self {
            Call::Search { window, starting_after } => (window.query(), per_page, "ascending", starting_after.as_deref()),
            Call::Probe { newest, changed_since } => {
                let window = Window { index: 0, from: None, to: None, id_suffix: None, changed_since: *changed_since };
                (window.query(), 1, if *newest { "descending" } else { "ascending" }, None)
            }
            _ => return None,
        };
        let mut pagination = serde_json::json!({"per_page": per_page});
        if let Some(cursor) = cursor {
            pagination["starting_after"] = cursor.into();
        }
        Some(serde_json::json!({"query": query, "pagination": pagination, "sort": {"field": "created_at", "order": order}}))
    }
}

/// What a listing wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this call, after `after` (zero: now). The wait runs in the request's own task.
    Send { call: Call, after: Duration },
    /// Nothing to send now: pages are in flight, or the listing pauses for room.
    Wait,
    /// Every page has arrived.
    Done,
}

/// Why a listing cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListingError {
    /// A request failed for good (the client has retried what can succeed).
    #[error(transparent)]
    Failed(ApiError),
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// The first page of a resumed listing refused its resume token.
    #[error("the API refused the resume token: {0}")]
    ResumeRefused(ApiError),
    #[error("the page list reaches only {cap} of the {total} records")]
    PastPageCap { total: u64, cap: u64 },
    #[error("another scroll held the lock for {waited_secs} s")]
    ScrollLocked { waited_secs: u64 },
    #[error("the scroll broke {restarts} times: {last}")]
    TooManyRestarts { restarts: u32, last: ApiError },
    /// A checkpoint's resume token this listing cannot go on from.
    #[error("{0}")]
    BadToken(String),
}

/// A way of walking a source's records, as a state machine. The Coordinator asks
/// [`Listing::next`] after every event until it answers [`Step::Wait`] or [`Step::Done`].
pub(crate) trait Listing: Send {
    /// The next call to send. `room`: whether the memory budget takes more pages; a listing that
    /// can pause does not ask for more without it.
    fn next(&mut self, room: bool, now: Instant) -> Step;

    /// `call` answered `page`. Pages ready to be written are pushed to `ready` in the order their
    /// records are to be written, each with its `resume_at` set (where a resumed run goes on once
    /// it is written; `None` where the listing cannot resume).
    fn page_arrived(
        &mut self,
        call: &Call,
        page: ListedPage,
        now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError>;

    /// `call` failed after the client's retries.
    fn request_failed(&mut self, call: &Call, error: ApiError, now: Instant) -> Result<(), ListingError>;

    /// False for a listing that expires when left idle (a scroll): its pages are never paused
    /// for, they wait on disk instead.
    fn can_pause(&self) -> bool;

    /// Whether its pages carry resume tokens (checkpoints are worth taking).
    fn resumable(&self) -> bool;

    /// Records a page holds, to group pages into batches of thousands of rows.
    fn records_per_page(&self) -> usize;

    /// The listing being walked (`auto` resolved once it has chosen).
    fn mode(&self) -> Mode;

    /// Times the listing had to start over (a broken scroll).
    fn restarts(&self) -> u32 {
        0
    }

    /// Its loop checks and announced counts.
    fn guard_mut(&mut self) -> &mut ListingGuard;
}

/// The listing `config` asks for, going on from `resume_at` (a checkpoint's token) when given.
pub(crate) fn open(config: &Config, resume_at: Option<String>) -> Result<Box<dyn Listing>, ListingError> {
    let guard = ListingGuard::new(repeat_run_limit(config));
    let listing = &config.listing;
    Ok(match config.mode() {
        Mode::Cursor => Box::new(CursorListing::new(config.api.per_page as usize, resume_at, guard)),
        Mode::List => Box::new(reference::ReferenceListing::new(guard)),
        Mode::Scroll => Box::new(ScrollListing::new(scroll_rules(config), guard)),
        Mode::Search => match resume_at {
            Some(token) => Box::new(SearchListing::resume(search_rules(config), &token, guard)?),
            None => Box::new(SearchListing::new(search_rules(config), guard)),
        },
        // A resumed `auto` goes on with whichever listing wrote the checkpoint.
        Mode::Auto if config.source.spec().modes.contains(&Mode::Search) => match resume_at {
            Some(token) if search::is_token(&token) => Box::new(SearchListing::resume(search_rules(config), &token, guard)?),
            Some(token) => Box::new(CursorListing::new(config.api.per_page as usize, Some(token), guard)),
            None => Box::new(contacts_auto::ContactsAuto::new(config.api.per_page as usize, search_rules(config), guard)),
        },
        mode @ (Mode::Pages | Mode::Auto) => {
            let fallback = (mode == Mode::Auto && !listing.query.filters()).then(|| scroll_rules(config));
            let rules = page_list::PageRules {
                per_page: listing.page_size,
                concurrency: listing.page_concurrency,
                cap: listing.page_cap,
            };
            Box::new(PageListing::new(rules, fallback, guard))
        }
    })
}

fn search_rules(config: &Config) -> search::SearchRules {
    search::SearchRules {
        per_page: config.api.per_page as usize,
        windows: config.listing.search_windows,
        max_concurrency: config.listing.search_concurrency,
        requests_per_sec: f64::from(config.api.rate_limit_per_minute) / 60.0,
        changed_since: config.listing.changed_since,
    }
}

fn scroll_rules(config: &Config) -> scroll::ScrollRules {
    scroll::ScrollRules {
        max_restarts: config.listing.max_restarts,
        lock_wait: config.listing.scroll_lock_wait,
        lock_poll: config.listing.scroll_lock_poll,
    }
}

/// Rows of nothing but repeats that mean the listing loops: a few batches' worth, and never fewer
/// than ten pages.
fn repeat_run_limit(config: &Config) -> u64 {
    let page = u64::from(config.api.per_page.max(config.listing.page_size)).max(100);
    (3 * config.pipeline.batch_rows as u64).max(10 * page)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Pages made up for the listings' unit tests.

    use bytes::Bytes;

    use crate::api::{FetchedPage, ListedPage};

    /// A page of `records` records, announcing `total`, handing out `next`.
    pub(crate) fn page(records: usize, next: Option<&str>, total: Option<u64>) -> ListedPage {
        let items: Vec<String> = (0..records).map(|i| format!("{{\"id\":\"{i}\"}}")).collect();
        let body = format!("[{}]", items.join(","));
        let len = body.len();
        ListedPage {
            page: FetchedPage { body: Bytes::from(body), records: 0..len, resume_at: None, origin: "".into() },
            next: next.map(str::to_string),
            total_count: total,
            total_pages: None,
            replaced_text: 0,
            round_trip: None,
        }
    }
}
